"""tinytorch.linalg's triangular solves, LU, matrix_exp, cond, the `_ex` forms and tensorinv/tensorsolve,
and the top-level torch.* functional forms (F's, linalg's, windows, range, ...), against PyTorch 2.13.

Values, dtypes, shapes and the gradients of a random weighted sum, on well-conditioned float64 batches;
LU is compared through gauge-invariant quantities (P L U = A) as well as LAPACK's exact pivots.
"""

import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tinytorch  # noqa: E402
from tinytorch import Tensor  # noqa: E402
from tinytorch import linalg as LA  # noqa: E402
import tinytorch.nn.functional as F  # noqa: E402

RNG = np.random.default_rng(20261207)


def T(array, **options):
    array = np.asarray(array)
    return Tensor(array, dtype=array.dtype, **options)


def well_conditioned(*batch, n=4):
    return RNG.standard_normal((*batch, n, n)) + n * np.eye(n)


def spd(*batch):
    x = RNG.standard_normal((*batch, 4, 4))
    return x @ np.swapaxes(x, -1, -2) + 4 * np.eye(4)


def compare(tiny_fn, torch_fn, *arrays, grad=True, atol=1e-8):
    """tiny_fn and torch_fn on the same float64 arrays: values, dtype, shape and (grad) input gradients."""
    tiny_in = [T(a, requires_grad=grad) for a in arrays]
    torch_in = [torch.tensor(a, requires_grad=grad) for a in arrays]
    got, want = tiny_fn(*tiny_in), torch_fn(*torch_in)
    assert got.shape == tuple(want.shape) and got.dtype == want.detach().numpy().dtype
    np.testing.assert_allclose(got.data, want.detach().numpy(), rtol=1e-7, atol=atol)
    if grad:
        weights = RNG.standard_normal(want.shape)
        (got * T(weights)).sum().backward()
        (want * torch.tensor(weights)).sum().backward()
        for a, b in zip(tiny_in, torch_in):
            np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("left", [False, True])
@pytest.mark.parametrize("unitriangular", [False, True])
def test_solve_triangular(upper, left, unitriangular):
    a, b = well_conditioned(2, 3), RNG.standard_normal((3, 4, 2) if left else (3, 2, 4))  # batch broadcast
    compare(lambda x, y: LA.solve_triangular(x, y, upper=upper, left=left, unitriangular=unitriangular),
            lambda x, y: torch.linalg.solve_triangular(x, y, upper=upper, left=left, unitriangular=unitriangular),
            a, b)


def test_lu_factor_pivots_and_gradient():
    a = RNG.standard_normal((3, 5, 5))  # no diagonal boost: real row swaps
    lu, pivots = LA.lu_factor(T(a))
    want = torch.linalg.lu_factor(torch.tensor(a))
    assert pivots.dtype == np.int32 and pivots.data.tolist() == want.pivots.tolist()
    compare(lambda x: LA.lu_factor(x).LU, lambda x: torch.linalg.lu_factor(x).LU, a)
    p, low, up = LA.lu(T(a))
    np.testing.assert_allclose((p @ low @ up).data, a, atol=1e-12)
    for got, ref in zip((p, low, up), torch.linalg.lu(torch.tensor(a))):
        np.testing.assert_allclose(got.data, ref.numpy(), atol=1e-12)
    compare(lambda x: joined(LA.lu(x)[1:]), lambda x: joined(torch.linalg.lu(x)[1:]), a)


def joined(pieces):
    module = tinytorch if isinstance(pieces[0], Tensor) else torch
    return module.cat([p.reshape(-1) for p in pieces])


def test_lu_rectangular_values_and_gradients():
    for shape in ((4, 6), (6, 4)):
        a = RNG.standard_normal(shape)
        p, low, up = LA.lu(T(a))
        for got, ref in zip((p, low, up), torch.linalg.lu(torch.tensor(a))):
            assert got.shape == tuple(ref.shape)
            np.testing.assert_allclose(got.data, ref.numpy(), atol=1e-12)
        compare(lambda x: LA.lu_factor(x).LU, lambda x: torch.linalg.lu_factor(x).LU, RNG.standard_normal((2, *shape)))
        compare(lambda x: joined(LA.lu(x)[1:]), lambda x: joined(torch.linalg.lu(x)[1:]), a)


@pytest.mark.parametrize("left, adjoint", [(True, False), (True, True), (False, False), (False, True)])
def test_lu_solve(left, adjoint):
    a, b = well_conditioned(3), RNG.standard_normal((3, 4, 2) if left else (3, 2, 4))
    compare(lambda x, y: LA.lu_solve(*LA.lu_factor(x), y, left=left, adjoint=adjoint),
            lambda x, y: torch.linalg.lu_solve(*torch.linalg.lu_factor(x), y, left=left, adjoint=adjoint), a, b)


def test_matrix_exp():
    a = RNG.standard_normal((3, 4, 4)) * np.array([0.1, 1.0, 6.0])[:, None, None]  # no, one and several squarings
    compare(LA.matrix_exp, torch.linalg.matrix_exp, a)
    compare(tinytorch.matrix_exp, torch.matrix_exp, a[1])
    assert LA.matrix_exp(Tensor([[1.0, 2.0], [0.0, 1.0]])).dtype == np.float32


@pytest.mark.parametrize("p", [None, 2, -2, "fro", "nuc", 1, -1, math.inf, -math.inf])
def test_cond(p):
    a = well_conditioned(2, 3)
    assert np.allclose(LA.cond(T(a), p).data, torch.linalg.cond(torch.tensor(a), p).numpy(), rtol=1e-10)
    if p in (None, 2):
        compare(lambda x: LA.cond(x, p), lambda x: torch.linalg.cond(x, p), a)
    else:  # PyTorch 2.13's cond backward fails (an in-place inv_ex); its definition ‖A‖ ‖A⁻¹‖ differentiates
        def reference(x):
            if p == -2:
                s = torch.linalg.svdvals(x)
                return s.amin(-1) / s.amax(-1)
            return torch.linalg.matrix_norm(x, p) * torch.linalg.matrix_norm(torch.linalg.inv(x), p)
        compare(lambda x: LA.cond(x, p), reference, a)


def test_vander_diagonal_matmul():
    x = RNG.standard_normal((2, 5))
    compare(LA.vander, torch.linalg.vander, x)
    compare(lambda t: LA.vander(t, N=3), lambda t: torch.linalg.vander(t, N=3), x)
    assert LA.vander(Tensor([1, 2, 3])).data.tolist() == torch.linalg.vander(torch.tensor([1, 2, 3])).tolist()
    a, b = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((4, 2))
    compare(lambda t: LA.diagonal(t, offset=1), lambda t: torch.linalg.diagonal(t, offset=1), a)
    compare(LA.matmul, torch.linalg.matmul, a, b)


def test_tensorinv_and_tensorsolve():
    m = (RNG.standard_normal((8, 8)) + 4 * np.eye(8)).reshape(2, 4, 2, 4)
    compare(LA.tensorinv, torch.linalg.tensorinv, m)
    compare(lambda t: LA.tensorinv(t, ind=1), lambda t: torch.linalg.tensorinv(t, ind=1), m.reshape(8, 2, 4))
    compare(LA.tensorsolve, torch.linalg.tensorsolve, m, RNG.standard_normal((2, 4)))
    compare(lambda x, y: LA.tensorsolve(x, y, dims=(0,)), lambda x, y: torch.linalg.tensorsolve(x, y, dims=(0,)),
            m, RNG.standard_normal((4, 2)))


def test_ex_forms_match_and_report_info():
    a, b = well_conditioned(2, 3), RNG.standard_normal((2, 3, 4, 2))
    compare(lambda x: LA.inv_ex(x).result, lambda x: torch.linalg.inv_ex(x).inverse, a)
    compare(lambda x: LA.cholesky_ex(x @ x.mT, upper=True).result,
            lambda x: torch.linalg.cholesky_ex(x @ x.mT, upper=True).L, a)
    compare(lambda x, y: LA.solve_ex(x, y).result, lambda x, y: torch.linalg.solve_ex(x, y).result, a, b)
    compare(lambda x, y: LA.solve_ex(x, y, left=False).result,
            lambda x, y: torch.linalg.solve_ex(x, y, left=False).result, a, np.swapaxes(b, -1, -2))
    bad = np.array([[[1.0, 2.0], [2.0, 4.0]], [[1.0, 0.0], [0.0, 1.0]], [[1.0, 2.0], [2.0, 1.0]]])
    for got, want in [(LA.inv_ex(T(bad)).info, torch.linalg.inv_ex(torch.tensor(bad)).info),
                      (LA.cholesky_ex(T(bad)).info, torch.linalg.cholesky_ex(torch.tensor(bad)).info),
                      (LA.solve_ex(T(bad), T(np.ones((3, 2)))).info,
                       torch.linalg.solve_ex(torch.tensor(bad), torch.tensor(np.ones((3, 2)))).info),
                      (LA.lu_factor_ex(T(bad)).info, torch.linalg.lu_factor_ex(torch.tensor(bad)).info)]:
        assert got.dtype == np.int32 and got.data.tolist() == want.tolist()
    assert np.isnan(LA.inv_ex(T(bad)).result.data[0]).all() and np.isfinite(LA.inv_ex(T(bad)).result.data[1]).all()
    for fn in (lambda: LA.inv_ex(T(bad), check_errors=True), lambda: LA.cholesky_ex(T(bad), check_errors=True),
               lambda: LA.solve_ex(T(bad), T(np.ones((3, 2))), check_errors=True)):
        with pytest.raises(RuntimeError):
            fn()


# ------------------------------------------------------------------------------------------------
# Top-level functional forms

x3, w3 = RNG.standard_normal((2, 3, 8)), RNG.standard_normal((4, 3, 3))
x4 = RNG.standard_normal((2, 4, 6, 6))
g3, b3, m3, v3 = RNG.standard_normal(3), RNG.standard_normal(3), RNG.standard_normal(3), RNG.random(3) + 0.5
p45, q45 = RNG.standard_normal((4, 5)), RNG.random((4, 5))
sign4 = np.array([1.0, -1.0, 1.0, -1.0])
FORWARDED = {  # name: (positional args (arrays become tensors), keyword args)
    "conv1d": ((x3, w3, None, 1, 1), {}),
    "conv2d": ((x4, RNG.standard_normal((2, 4, 3, 3))), {"padding": 1}),
    "conv_transpose1d": ((x3, RNG.standard_normal((3, 2, 3)), None, 2), {}),
    "avg_pool1d": ((x3, 2), {}),
    "max_pool1d": ((x3, 3, 2), {}),
    "max_pool2d": ((x4, 2), {}),
    "max_pool1d_with_indices": ((x3, 2), {}),
    "adaptive_avg_pool1d": ((x3, 3), {}),
    "adaptive_max_pool1d": ((x3, 3), {}),
    "batch_norm": ((x3, g3, b3, m3, v3, False, 0.1, 1e-5, False), {}),
    "instance_norm": ((x3, g3, b3, None, None, True, 0.1, 1e-5, False), {}),
    "layer_norm": ((x3, (8,)), {}),
    "group_norm": ((x4, 2), {}),
    "dropout": ((p45, 0.3, False), {}),
    "alpha_dropout": ((p45, 0.3, False), {}),
    "feature_alpha_dropout": ((x3, 0.3, False), {}),
    "embedding": ((RNG.standard_normal((10, 3)), np.array([[1, 2], [3, 0]])), {}),
    "pixel_shuffle": ((x4, 2), {}),
    "pixel_unshuffle": ((x4, 3), {}),
    "channel_shuffle": ((x4, 2), {}),
    "pdist": ((p45,), {}),
    "cosine_similarity": ((p45, q45), {"dim": 1}),
    "pairwise_distance": ((p45, q45), {}),
    "kl_div": ((p45, q45, 2), {}),
    "bilinear": ((p45, q45, RNG.standard_normal((2, 5, 5)), RNG.standard_normal(2)), {}),
    "celu": ((p45, 0.7), {}),
    "selu": ((p45,), {}),
    "rrelu": ((p45,), {}),
    "threshold": ((p45, 0.1, -2.0), {}),
    "binary_cross_entropy_with_logits": ((p45, q45, None, None, 0), {}),
    "cosine_embedding_loss": ((p45, q45, sign4, 0.1, 2), {}),
    "hinge_embedding_loss": ((p45, np.sign(p45), 1.0, 1), {}),
    "margin_ranking_loss": ((p45[:, 0], q45[:, 0], sign4, 0.2, 0), {}),
    "poisson_nll_loss": ((p45, q45, True, False, 1e-8, 1), {}),
    "triplet_margin_loss": ((p45, q45, p45[::-1].copy(), 1.0, 2.0, 1e-6, False, 1), {}),
    "matrix_exp": ((well_conditioned(2) * 0.3,), {}),
    "cholesky_inverse": ((np.linalg.cholesky(spd()),), {}),
    "nuclear_norm": ((RNG.standard_normal((2, 5, 3)), (0, 2), True), {}),
    "frobenius_norm": ((RNG.standard_normal((2, 5, 3)), (1, 2)), {}),
    "rsub": ((p45, q45), {"alpha": 3}),
    "cumulative_trapezoid": ((p45,), {"dx": 0.5, "dim": 0}),
}
IN_PLACE = ["celu_", "selu_", "rrelu_", "threshold_"]


def as_tiny(value):
    if isinstance(value, np.ndarray):
        return T(value)
    return value


def as_torch(value):
    return torch.tensor(value) if isinstance(value, np.ndarray) else value


def outputs(result):
    return list(result) if isinstance(result, tuple) else [result]


@pytest.mark.parametrize("name", sorted(FORWARDED))
def test_top_level_forms_match_torch(name):
    args, kwargs = FORWARDED[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = outputs(getattr(torch, name)(*map(as_torch, args), **kwargs))
    got = outputs(getattr(tinytorch, name)(*map(as_tiny, args), **kwargs))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == tuple(w.shape) and g.dtype == w.numpy().dtype, name
        np.testing.assert_allclose(g.data, w.numpy(), rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("name", IN_PLACE)
def test_in_place_forms(name):
    args = {"celu_": (0.5,), "selu_": (), "rrelu_": (), "threshold_": (0.1, 5.0)}[name]
    tiny, ref = T(p45.copy()), torch.tensor(p45.copy())
    assert getattr(tinytorch, name)(tiny, *args) is tiny
    getattr(torch, name)(ref, *args)
    np.testing.assert_allclose(tiny.data, ref.numpy(), rtol=1e-12)


def test_forwarders_differentiate_and_import_lazily():
    x = T(x3, requires_grad=True)
    ref = torch.tensor(x3, requires_grad=True)
    tinytorch.conv1d(x, T(w3)).sum().backward()
    torch.conv1d(ref, torch.tensor(w3)).sum().backward()
    np.testing.assert_allclose(x.grad.data, ref.grad.numpy(), rtol=1e-10)
    kept = tinytorch.dropout(T(p45), p=0.3, train=False)  # torch's keyword names too
    np.testing.assert_allclose(kept.data, p45)
    np.testing.assert_allclose(tinytorch.kl_div(T(p45), T(q45), reduction=0).data,
                               torch.kl_div(torch.tensor(p45), torch.tensor(q45), reduction=0).numpy())
    assert tinytorch.layer_norm.__name__ == "layer_norm" and "tinytorch.nn.functional" in tinytorch.layer_norm.__doc__


def test_linear_algebra_forms():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        low = np.linalg.cholesky(spd(2))
        b = RNG.standard_normal((2, 4, 3))
        for upper in (False, True):
            factor = np.ascontiguousarray(np.swapaxes(low, -1, -2)) if upper else low
            compare(lambda f, y: tinytorch.cholesky_solve(y, f, upper), lambda f, y: torch.cholesky_solve(y, f, upper),
                    factor, b)
            compare(lambda f: tinytorch.cholesky_inverse(f, upper), lambda f: torch.cholesky_inverse(f, upper),
                    factor)  # PyTorch's gradient reaches L's zero triangle too (A = L Lᵀ of all of L)
        a = well_conditioned(2)
        for upper, transpose, unit in [(True, False, False), (False, True, True)]:
            got = tinytorch.triangular_solve(T(b), T(a), upper, transpose, unit)
            want = torch.triangular_solve(torch.tensor(b), torch.tensor(a), upper, transpose, unit)
            np.testing.assert_allclose(got.solution.data, want.solution.numpy(), rtol=1e-10)
            np.testing.assert_allclose(got.cloned_coefficient.data, want.cloned_coefficient.numpy())
        m = RNG.standard_normal((2, 5, 3))
        for some in (True, False):
            u, s, v = tinytorch.svd(T(m), some=some)
            ref = torch.svd(torch.tensor(m), some=some)
            assert [u.shape, s.shape, v.shape] == [tuple(t.shape) for t in ref]
            np.testing.assert_allclose(((u[..., :3] * s.unsqueeze(-2)) @ v[..., :3].mT).data, m, atol=1e-12)
            np.testing.assert_allclose(s.data, ref.S.numpy(), rtol=1e-12)
            q, r = tinytorch.qr(T(m), some)
            assert (q.shape, r.shape) == tuple(tuple(t.shape) for t in torch.qr(torch.tensor(m), some))
        u, s, v = tinytorch.svd(T(m), compute_uv=False)
        assert not u.data.any() and u.shape == (2, 5, 5) and v.shape == (2, 3, 3)
        lu, pivots, infos = tinytorch.lu(T(a), get_infos=True)
        ref = torch.lu(torch.tensor(a), get_infos=True)
        np.testing.assert_allclose(lu.data, ref[0].numpy(), rtol=1e-12)
        assert pivots.data.tolist() == ref[1].tolist() and infos.data.tolist() == ref[2].tolist()
        assert len(tinytorch.lu(T(a))) == 2


@pytest.mark.parametrize("name", ["hann", "hamming", "blackman", "bartlett", "kaiser"])
def test_windows(name):
    """float64 exactly as PyTorch (kaiser to the last bit of its i0); float32 within an ulp or two (PyTorch's
    vectorized cos, and its float32 i0)."""
    for length in (0, 1, 2, 5, 8, 33):
        for periodic in (True, False):
            got = getattr(tinytorch, f"{name}_window")(length, periodic, dtype=np.float64).data
            want = getattr(torch, f"{name}_window")(length, periodic, dtype=torch.float64).numpy()
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-15 if name == "kaiser" else 0)
            got32 = getattr(tinytorch, f"{name}_window")(length, periodic)
            want32 = getattr(torch, f"{name}_window")(length, periodic).numpy()
            assert got32.dtype == np.float32
            np.testing.assert_allclose(got32.data, want32, rtol=0, atol=1e-6 if name == "kaiser" else 1.2e-7)
    extra = {"hamming": (0.5, 0.3), "kaiser": (5.0,)}.get(name)
    if extra:
        np.testing.assert_allclose(getattr(tinytorch, f"{name}_window")(7, False, *extra, dtype=np.float64).data,
                                   getattr(torch, f"{name}_window")(7, False, *extra, dtype=torch.float64).numpy(),
                                   rtol=1e-15)


def test_small_factories_and_default_dtype():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for args in [(1, 4), (0, 1, 0.3), (5, 1, -1.5)]:
            got, want = tinytorch.range(*args), torch.range(*args)
            assert got.dtype == np.float32 and got.data.tolist() == want.tolist()
    assert tinytorch.scalar_tensor(3).dtype == np.float32 and tinytorch.scalar_tensor(3).shape == ()
    assert tinytorch.scalar_tensor(3, dtype=tinytorch.int64).item() == 3
    y, x = RNG.standard_normal((3, 5)), np.cumsum(RNG.random(5))
    np.testing.assert_allclose(tinytorch.cumulative_trapezoid(T(y), T(x)).data,
                               torch.cumulative_trapezoid(torch.tensor(y), torch.tensor(x)).numpy(), rtol=1e-12)
    tinytorch.set_default_dtype(tinytorch.float32)
    assert tinytorch.get_default_dtype() == np.float32
    with pytest.raises(NotImplementedError, match="float32"):
        tinytorch.set_default_dtype(tinytorch.float64)


def test_every_listed_name_exists():
    names = [*FORWARDED, *IN_PLACE, "conv3d", "conv_transpose2d", "conv_transpose3d", "max_pool3d", "rms_norm",
             "cholesky_solve", "triangular_solve", "svd", "qr", "lu", "hann_window", "hamming_window",
             "blackman_window", "bartlett_window", "kaiser_window", "range", "scalar_tensor", "set_default_dtype"]
    missing = [n for n in names if not callable(getattr(tinytorch, n, None))]
    assert not missing
    linalg = ["solve_triangular", "lu_factor", "lu_factor_ex", "lu", "lu_solve", "matrix_exp", "cond", "vander",
              "diagonal", "matmul", "tensorinv", "tensorsolve", "inv_ex", "cholesky_ex", "solve_ex"]
    assert not [n for n in linalg if not callable(getattr(LA, n, None))]
    x = T(RNG.standard_normal((2, 3, 4)))
    np.testing.assert_allclose(tinytorch.conv3d(T(RNG.standard_normal((1, 2, 3, 3, 3))),
                                                T(np.ones((1, 2, 1, 1, 1)))).shape, (1, 1, 3, 3, 3))
    np.testing.assert_allclose(tinytorch.rms_norm(x, (4,)).data, F.rms_norm(x, (4,)).data)
