"""PyTorch's linear algebra (tinytorch.linalg's decompositions) and the torch.* functions given in
module 02, against PyTorch 2.13 and finite differences.

Eigenvectors and singular vectors are unique only up to sign, so they are compared through
quantities that do not depend on it: reconstructions, |U|, projections U Uᵀ, and the gradients
of losses built from those.
"""

import numpy as np
import pytest

import tinytorch
from gradcheck import assert_gradients_match, assert_matches_torch, normal, torch
from tinytorch import Tensor
from tinytorch import linalg as LA


def T(array, **options):
    """A Tensor of a NumPy array in the array's own dtype (Tensor() alone makes float64 float32, as torch.tensor
    of a Python list does)."""
    array = np.asarray(array)
    return Tensor(array, dtype=array.dtype, **options)


def spd(*batch, n=4):
    """A well-conditioned symmetric positive-definite matrix (or batch): X Xᵀ + n I."""
    x = normal(*batch, n, n)
    return x @ np.swapaxes(x, -1, -2) + n * np.eye(n)


def joined(th_or_tiny, pieces):
    """The pieces of a decomposition, flattened into one vector (one output to compare and differentiate)."""
    return th_or_tiny.cat([p.reshape(-1) for p in pieces])


def symmetric(x):
    """A symmetric matrix made from any x, so that finite differences move A symmetrically."""
    return x + x.mT


def check_dtypes(tiny_fn, torch_fn, array):
    """float32 in, float32 out (and float64 for float64), with PyTorch's shapes."""
    th = torch()
    for dtype in (np.float32, np.float64):
        got, want = tiny_fn(Tensor(array.astype(dtype), dtype=dtype)), torch_fn(th.tensor(array.astype(dtype)))
        got, want = (got, want) if isinstance(got, tuple) else ((got,), (want,))
        assert [g.shape for g in got] == [tuple(w.shape) for w in want]
        assert [g.dtype for g in got] == [w.numpy().dtype for w in want]


# ------------------------------------------------------------------------------------------------
# Decompositions


@pytest.mark.filterwarnings("ignore:torch.cholesky is deprecated")
def test_cholesky_matches_torch():
    th = torch()
    a = spd(2, 3, n=4)
    for upper in (False, True):
        assert_matches_torch(lambda m: LA.cholesky(m, upper=upper), lambda m: th.linalg.cholesky(m, upper=upper), a)
    assert_matches_torch(lambda m: m.cholesky(True), lambda m: m.cholesky(True), a[0, 0])
    assert_matches_torch(lambda m: tinytorch.cholesky(m), lambda m: th.cholesky(m), a[0])
    check_dtypes(LA.cholesky, th.linalg.cholesky, a)
    assert_gradients_match(lambda x: LA.cholesky(x @ x.mT + T(4 * np.eye(4))), normal(2, 4, 4))
    with pytest.raises(RuntimeError, match="positive-definite"):
        LA.cholesky(T(-np.eye(3)))
    with pytest.raises(RuntimeError, match="square"):
        LA.cholesky(T(normal(3, 2)))


@pytest.mark.parametrize("shape", [(2, 5, 3), (3, 3), (2, 3, 5)])
def test_qr_matches_torch(shape):
    th = torch()
    a = normal(*shape)
    assert_matches_torch(lambda m: joined(tinytorch, LA.qr(m)), lambda m: joined(th, th.linalg.qr(m)), a)
    assert_gradients_match(lambda m: joined(tinytorch, LA.qr(m)), a)
    check_dtypes(LA.qr, th.linalg.qr, a)
    q, r = LA.qr(T(a), mode="complete")
    want = th.linalg.qr(th.tensor(a), mode="complete")
    assert q.shape == tuple(want.Q.shape) and r.shape == tuple(want.R.shape)
    np.testing.assert_allclose((q @ r).data, a, atol=1e-12)
    np.testing.assert_allclose(np.abs(r.data), np.abs(want.R.numpy()), atol=1e-12)
    q, r = LA.qr(T(a), mode="r")
    assert q.shape == (0,) and np.allclose(np.abs(r.data), np.abs(want.R.numpy()[..., :min(shape[-2:]), :]))


def test_qr_refuses_what_has_no_gradient():
    tall = T(normal(5, 3), requires_grad=True)
    with pytest.raises(RuntimeError, match="mode='complete' and nrows > ncols"):
        LA.qr(tall, mode="complete").Q.sum().backward()
    with pytest.raises(RuntimeError, match="mode='r'"):
        LA.qr(tall, mode="r").R.sum().backward()
    wide = T(normal(3, 5), requires_grad=True)
    LA.qr(wide, mode="complete").Q.sum().backward()  # a wide matrix's complete QR is its reduced one
    assert wide.grad.shape == (3, 5)
    with pytest.raises(RuntimeError, match="unrecognized mode"):
        LA.qr(tall, mode="full")


def test_eigh_matches_torch():
    th = torch()
    a = spd(2, n=4)

    def invariant(lib, eigh):  # eigenvalues, |V| and the projection on the two largest eigenvectors
        def fn(m):
            values, vectors = eigh(m)
            top = vectors[..., 2:]
            return joined(lib, [values, vectors.abs(), top @ top.mT])
        return fn

    assert_matches_torch(invariant(tinytorch, LA.eigh), invariant(th, th.linalg.eigh), a)
    assert_gradients_match(lambda m: invariant(tinytorch, LA.eigh)(symmetric(m)), a)
    check_dtypes(LA.eigh, th.linalg.eigh, a)
    assert_matches_torch(LA.eigvalsh, th.linalg.eigvalsh, a)
    lopsided = normal(4, 4)  # only the lower (or upper) triangle is read
    for uplo in ("L", "U"):
        np.testing.assert_allclose(LA.eigvalsh(T(lopsided), UPLO=uplo).data,
                                   th.linalg.eigvalsh(th.tensor(lopsided), UPLO=uplo).numpy(), atol=1e-12)
    same = T(np.eye(3), requires_grad=True)  # repeated eigenvalues: eigvalsh's gradient still exists
    LA.eigvalsh(same).sum().backward()
    np.testing.assert_allclose(same.grad.data, np.eye(3))
    with pytest.raises(RuntimeError, match="UPLO"):
        LA.eigh(T(a), UPLO="X")
    with pytest.raises(RuntimeError, match="square"):
        LA.eigh(T(normal(2, 3)))


@pytest.mark.parametrize("shape", [(2, 5, 3), (3, 3), (2, 3, 5)])
def test_svd_matches_torch(shape):
    th = torch()
    a = normal(*shape)

    def invariant(lib, svd):  # S, |U|, |Vh|, the reconstruction, and U Uᵀ, Vhᵀ Vh of the first two
        def fn(m):
            u, s, vh = svd(m, full_matrices=False)
            return joined(lib, [s, u.abs(), vh.abs(), (u * s[..., None, :]) @ vh,
                                u[..., :2] @ u[..., :2].mT, vh[..., :2, :].mT @ vh[..., :2, :]])
        return fn

    assert_matches_torch(invariant(tinytorch, LA.svd), invariant(th, th.linalg.svd), a)
    assert_gradients_match(invariant(tinytorch, LA.svd), a)
    assert_matches_torch(LA.svdvals, th.linalg.svdvals, a)
    for full in (False, True):
        check_dtypes(lambda m: LA.svd(m, full_matrices=full), lambda m: th.linalg.svd(m, full_matrices=full), a)
    assert_matches_torch(lambda m: LA.svd(m).S, lambda m: th.linalg.svd(m).S, a)  # full_matrices=True, S only
    assert_matches_torch(lambda m: LA.svd(m).U[..., :2].abs(), lambda m: th.linalg.svd(m).U[..., :2].abs(), a)


def test_svd_refuses_the_gradient_of_the_extra_columns():
    for shape, extra in [((4, 2), lambda r: r.U[:, 3]), ((2, 4), lambda r: r.Vh[2])]:
        a = T(normal(*shape), requires_grad=True)
        with pytest.raises(RuntimeError, match="full_matrices=False"):
            extra(LA.svd(a)).sum().backward()
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        LA.svd(T(normal(3)))
    same = T(np.eye(3), requires_grad=True)  # repeated singular values: svdvals' gradient still exists
    LA.svdvals(same).sum().backward()
    np.testing.assert_allclose(same.grad.data, np.eye(3))


def test_slogdet_and_logdet_match_torch():
    th = torch()
    a = normal(3, 4, 4)
    assert_matches_torch(lambda m: LA.slogdet(m).logabsdet, lambda m: th.linalg.slogdet(m).logabsdet, a)
    assert_matches_torch(lambda m: m.slogdet()[1] * tinytorch.slogdet(m).sign,
                         lambda m: m.slogdet()[1] * th.slogdet(m).sign, a)
    assert_gradients_match(lambda m: LA.slogdet(m).logabsdet, a)
    assert_matches_torch(tinytorch.logdet, th.logdet, spd(2, n=3))
    assert_matches_torch(lambda m: m.logdet(), lambda m: m.logdet(), spd(n=3))
    check_dtypes(LA.slogdet, th.linalg.slogdet, a)
    check_dtypes(tinytorch.logdet, th.logdet, a)
    mixed = np.stack([np.diag([-1.0, 2.0]), np.diag([1.0, 2.0]), np.zeros((2, 2))])
    np.testing.assert_array_equal(LA.slogdet(T(mixed)).sign.data, [-1.0, 1.0, 0.0])
    np.testing.assert_array_equal(tinytorch.logdet(T(mixed)).data, th.logdet(th.tensor(mixed)).numpy())
    assert not LA.slogdet(T(a, requires_grad=True)).sign.requires_grad


@pytest.mark.parametrize("shape", [(2, 5, 3), (4, 4), (3, 5)])
def test_pinv_matches_torch(shape):
    th = torch()
    a = normal(*shape)
    assert_matches_torch(LA.pinv, th.linalg.pinv, a)
    assert_gradients_match(LA.pinv, a)
    assert_matches_torch(lambda m: m.pinverse(), lambda m: m.pinverse(), a)
    assert_matches_torch(tinytorch.pinverse, th.pinverse, a)
    check_dtypes(LA.pinv, th.linalg.pinv, a)


def test_pinv_options_match_torch():
    th = torch()
    low_rank = normal(5, 2) @ normal(2, 4)  # rank 2: the gradient holds while the rank does not change
    assert_matches_torch(LA.pinv, th.linalg.pinv, low_rank)
    sym = symmetric(T(normal(4, 4))).data
    assert_matches_torch(lambda m: LA.pinv(m, hermitian=True), lambda m: th.linalg.pinv(m, hermitian=True), sym)
    scaled = np.diag([4.0, 1.0, 0.01])
    for options in ({"atol": 0.5}, {"rtol": 0.1}, {"atol": 0.005, "rtol": 0.1}, {"atol": 2.0, "rtol": 0.0}):
        np.testing.assert_allclose(LA.pinv(T(scaled), **options).data,
                                   th.linalg.pinv(th.tensor(scaled), **options).numpy(), atol=1e-12)
        assert (LA.matrix_rank(T(scaled), **options).item()
                == th.linalg.matrix_rank(th.tensor(scaled), **options).item())
    np.testing.assert_allclose(T(scaled).pinverse(rcond=0.1).data,
                               th.tensor(scaled).pinverse(rcond=0.1).numpy(), atol=1e-12)


def test_matrix_power_matches_torch():
    th = torch()
    a = normal(2, 3, 3) + 2 * np.eye(3)
    for n in (0, 1, 2, 5, -1, -3):
        assert_matches_torch(lambda m: LA.matrix_power(m, n), lambda m: th.linalg.matrix_power(m, n), a)
        assert_matches_torch(lambda m: m.matrix_power(n), lambda m: m.matrix_power(n), a[0])
    assert_gradients_match(lambda m: tinytorch.matrix_power(m, 3), a)
    check_dtypes(lambda m: LA.matrix_power(m, 3), lambda m: th.linalg.matrix_power(m, 3), a)
    ints = np.array([[1, 1], [0, 1]])
    got = LA.matrix_power(T(ints), 3)
    assert got.dtype == np.int64 and got.tolist() == th.linalg.matrix_power(th.tensor(ints), 3).tolist()
    with pytest.raises(TypeError, match="must be int"):
        LA.matrix_power(T(a), 1.5)
    with pytest.raises(RuntimeError, match="square"):
        LA.matrix_power(T(normal(2, 3)), 2)


def test_matrix_rank_matches_torch():
    th = torch()
    stack = np.stack([normal(4, 2) @ normal(2, 5), normal(4, 5), np.zeros((4, 5))])
    got = LA.matrix_rank(T(stack))
    assert got.dtype == np.int64 and got.tolist() == th.linalg.matrix_rank(th.tensor(stack)).tolist() == [2, 4, 0]
    low = normal(4, 2)
    sym = low @ np.diag([2.0, -1.0]) @ low.T  # an eigenvalue < 0 counts by its size
    assert LA.matrix_rank(T(sym), hermitian=True).item() == th.linalg.matrix_rank(th.tensor(sym),
                                                                                       hermitian=True).item() == 2
    f32 = (normal(6, 3) @ normal(3, 6)).astype(np.float32)
    assert LA.matrix_rank(T(f32)).item() == th.linalg.matrix_rank(th.tensor(f32)).item() == 3
    tiny = np.diag([1.0, 1.0, 2e-7]).astype(np.float32)  # between eps and the default rtol = 3 eps (float32)
    for options, rank in [({}, 2), ({"atol": 1e-20}, 3), ({"rtol": 1e-7}, 3), ({"hermitian": True}, 2)]:
        want = th.linalg.matrix_rank(th.tensor(tiny), **options).item()
        assert LA.matrix_rank(T(tiny), **options).item() == want == rank
        np.testing.assert_allclose(LA.pinv(T(tiny), **options).data, th.linalg.pinv(th.tensor(tiny), **options).numpy())


def test_cross_vecdot_and_multi_dot_match_torch():
    th = torch()
    x, y = normal(2, 4, 3), normal(1, 4, 3)
    assert_matches_torch(LA.cross, th.linalg.cross, x, y)
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        LA.cross(T(x), T(y[0]))
    assert_matches_torch(lambda a, b: LA.cross(a, b, dim=0), lambda a, b: th.linalg.cross(a, b, dim=0),
                         normal(3, 2), normal(3, 2))
    with pytest.raises(RuntimeError, match="length 3"):
        LA.cross(T(normal(4)), T(normal(4)))
    assert_matches_torch(LA.vecdot, th.linalg.vecdot, x, y)
    assert_matches_torch(lambda a, b: LA.vecdot(a, b, dim=0), lambda a, b: th.linalg.vecdot(a, b, dim=0),
                         normal(3, 2), normal(3, 2))
    shapes = [(5,), (5, 2), (2, 6), (6, 3), (3,)]
    arrays = [normal(*s) for s in shapes]
    for first, last in [(0, 5), (1, 4), (0, 4), (1, 5), (1, 3)]:
        part = arrays[first:last]
        assert_matches_torch(lambda *m: LA.multi_dot(list(m)), lambda *m: th.linalg.multi_dot(list(m)), *part)
        got = LA.multi_dot([T(p) for p in part])
        assert got.shape == tuple(th.linalg.multi_dot([th.tensor(p) for p in part]).shape)
    with pytest.raises(RuntimeError, match="at least 2 tensors"):
        LA.multi_dot([T(normal(2, 2))])
    with pytest.raises(RuntimeError, match="2D"):
        LA.multi_dot([T(normal(2, 2)), T(normal(2, 2, 2)), T(normal(2, 2))])


def test_multi_dot_takes_the_cheapest_order():
    a, b, c = T(normal(1, 300)), T(normal(300, 300)), T(normal(300, 1))
    product = LA.multi_dot([a, b, c])
    np.testing.assert_allclose(product.data, a.data @ b.data @ c.data, rtol=1e-10)
    order = []
    original = Tensor.__matmul__

    def spy(self, other):
        order.append((self.shape, other.shape))
        return original(self, other)

    Tensor.__matmul__ = spy
    try:
        LA.multi_dot([T(normal(10, 100)), T(normal(100, 5)), T(normal(5, 50))])
    finally:
        Tensor.__matmul__ = original
    assert order == [((10, 100), (100, 5)), ((10, 5), (5, 50))]  # 5000 + 2500, not 25000 + 50000


@pytest.mark.parametrize("driver", [None, "gels", "gelsy", "gelsd", "gelss"])
def test_lstsq_matches_torch(driver):
    th = torch()
    a, b = normal(2, 5, 3), normal(2, 5, 2)
    got, want = LA.lstsq(T(a), T(b), driver=driver), th.linalg.lstsq(th.tensor(a), th.tensor(b), driver=driver)
    for g, w in zip(got, want):
        assert g.shape == tuple(w.shape) and g.dtype == w.numpy().dtype
        np.testing.assert_allclose(g.data, w.numpy(), atol=1e-10)
    assert_matches_torch(lambda m, r: LA.lstsq(m, r, driver=driver).solution,
                         lambda m, r: th.linalg.lstsq(m, r, driver=driver).solution, a, b)


def test_lstsq_details():
    th = torch()
    rank2 = normal(5, 2) @ normal(2, 3)
    b = normal(5, 2)
    for driver in ("gelsd", "gelsy"):
        got, want = LA.lstsq(T(rank2), T(b), driver=driver), th.linalg.lstsq(th.tensor(rank2),
                                                                                       th.tensor(b), driver=driver)
        assert got.rank.item() == want.rank.item() == 2 and got.residuals.shape == tuple(want.residuals.shape)
    assert_gradients_match(lambda m, r: LA.lstsq(m, r).solution, normal(5, 3), normal(5, 2))
    vector = normal(5)
    np.testing.assert_allclose(LA.lstsq(T(rank2 + np.eye(5, 3)), T(vector)).solution.data,
                               th.linalg.lstsq(th.tensor(rank2 + np.eye(5, 3)), th.tensor(vector)).solution.numpy())
    with pytest.raises(RuntimeError, match="driver"):
        LA.lstsq(T(rank2), T(b), driver="magic")
    with pytest.raises(RuntimeError, match="size"):
        LA.lstsq(T(rank2), T(normal(4, 2)))


# ------------------------------------------------------------------------------------------------
# torch.* functions and Tensor methods


def test_products_match_torch():
    th = torch()
    assert_matches_torch(tinytorch.vdot, th.vdot, normal(4), normal(4))
    assert_matches_torch(lambda a, b: a.vdot(b), lambda a, b: a.vdot(b), normal(4), normal(4))
    assert_matches_torch(tinytorch.ger, th.ger, normal(3), normal(4))
    assert_matches_torch(lambda a, b: a.ger(b), lambda a, b: a.ger(b), normal(3), normal(2))
    for options in ({}, {"beta": 0.5, "alpha": -2.0}):
        assert_matches_torch(lambda m, a, b: tinytorch.addbmm(m, a, b, **options),
                             lambda m, a, b: th.addbmm(m, a, b, **options),
                             normal(3, 2), normal(4, 3, 5), normal(4, 5, 2))
        assert_matches_torch(lambda m, a, b: m.addbmm(a, b, **options), lambda m, a, b: m.addbmm(a, b, **options),
                             normal(1, 2), normal(4, 3, 5), normal(4, 5, 2))
    with pytest.warns(UserWarning):
        assert_matches_torch(lambda *m: tinytorch.chain_matmul(*m), lambda *m: th.chain_matmul(*m),
                             normal(2, 3), normal(3, 4), normal(4, 2))
    assert tinytorch.chain_matmul(T(normal(2, 3))).shape == (2, 3)
    with pytest.raises(RuntimeError, match="2D"):
        tinytorch.chain_matmul(T(normal(2, 3)), T(normal(3)))
    check_dtypes(lambda a: tinytorch.vdot(a, a), lambda a: th.vdot(a, a), normal(3))


@pytest.mark.parametrize("offset, dim1, dim2", [(0, -2, -1), (1, -2, -1), (-2, 0, 2), (1, 2, 0), (0, 1, 0)])
def test_diag_embed_matches_torch(offset, dim1, dim2):
    th = torch()
    x = normal(2, 3)
    assert_matches_torch(lambda a: tinytorch.diag_embed(a, offset, dim1, dim2),
                         lambda a: th.diag_embed(a, offset, dim1, dim2), x)
    got, want = T(x).diag_embed(offset, dim1, dim2), th.tensor(x).diag_embed(offset, dim1, dim2)
    assert got.shape == tuple(want.shape) and got.dtype == np.float64


def test_diag_embed_edges_and_diagflat():
    th = torch()
    assert T(np.zeros((2, 0))).diag_embed(offset=1).shape == tuple(th.zeros(2, 0).diag_embed(offset=1).shape)
    with pytest.raises(RuntimeError, match="identical"):
        T(normal(3)).diag_embed(dim1=0, dim2=0)
    for offset in (0, 2, -1):
        assert_matches_torch(lambda a: tinytorch.diagflat(a, offset), lambda a: th.diagflat(a, offset), normal(2, 2))
        assert_matches_torch(lambda a: a.diagflat(offset), lambda a: a.diagflat(offset), normal(3))
    check_dtypes(tinytorch.diag_embed, th.diag_embed, normal(2, 3))


def test_vander_matches_torch():
    th = torch()
    x = normal(4)
    for n, increasing in [(None, False), (3, True), (6, False), (0, False), (1, True)]:  # PyTorch's own vander
        got, want = tinytorch.vander(T(x), n, increasing), th.vander(th.tensor(x), n, increasing)  # has no backward
        assert got.shape == tuple(want.shape)
        np.testing.assert_allclose(got.data, want.numpy(), rtol=1e-12)
        assert_gradients_match(lambda a: tinytorch.vander(a, n, increasing), x)
    assert_gradients_match(tinytorch.vander, np.array([0.0, 1.5, -2.0]))
    ints = np.array([1, 2, 3])
    got, want = tinytorch.vander(T(ints), 4), th.vander(th.tensor(ints), 4)
    assert got.dtype == np.int64 and got.tolist() == want.tolist()
    check_dtypes(tinytorch.vander, th.vander, x)
    with pytest.raises(RuntimeError, match="one-dimensional"):
        tinytorch.vander(T(normal(2, 2)))
    with pytest.raises(RuntimeError, match="non-negative"):
        tinytorch.vander(T(x), -1)


def test_cov_and_corrcoef_match_torch():
    th = torch()
    x = normal(3, 6)
    frequency = np.array([1, 2, 0, 3, 1, 1])
    weight = np.abs(normal(6)) + 0.1
    for options in ({}, {"correction": 0}, {"correction": 2}):
        assert_matches_torch(lambda a: tinytorch.cov(a, **options), lambda a: th.cov(a, **options), x)
    for correction in (0, 1):
        assert_matches_torch(lambda a, w: a.cov(correction=correction, aweights=w),
                             lambda a, w: a.cov(correction=correction, aweights=w), x, weight)
        got = T(x).cov(correction=correction, fweights=T(frequency), aweights=T(weight))
        want = th.tensor(x).cov(correction=correction, fweights=th.tensor(frequency), aweights=th.tensor(weight))
        np.testing.assert_allclose(got.data, want.numpy(), rtol=1e-12)
    assert_matches_torch(lambda a: tinytorch.cov(a, fweights=T(frequency)),
                         lambda a: th.cov(a, fweights=th.tensor(frequency)), x)
    assert_matches_torch(tinytorch.cov, th.cov, normal(5))
    assert tinytorch.cov(T(normal(5))).shape == ()
    assert_matches_torch(tinytorch.corrcoef, th.corrcoef, x)
    assert_matches_torch(lambda a: a.corrcoef(), lambda a: a.corrcoef(), normal(2, 5))
    check_dtypes(tinytorch.cov, th.cov, x)
    check_dtypes(tinytorch.corrcoef, th.corrcoef, x)
    ints = np.array([[1, 2, 4], [0, 1, 1]])
    assert tinytorch.cov(T(ints)).dtype == th.cov(th.tensor(ints)).numpy().dtype == np.float32
    with pytest.raises(RuntimeError, match="integral"):
        tinytorch.cov(T(x), fweights=T(weight))
    with pytest.raises(RuntimeError, match="negative"):
        tinytorch.cov(T(x), aweights=T(-weight))
    with pytest.warns(RuntimeWarning):  # correction > observations: a factor below 0 becomes 0, as PyTorch's
        assert np.all(np.isinf(tinytorch.cov(T(normal(2, 2)), correction=3).data))
    with pytest.raises(ValueError, match="two or fewer"):
        tinytorch.cov(T(normal(2, 2, 2)))


def test_trapezoid_matches_torch():
    th = torch()
    y = normal(3, 5)
    points = np.sort(normal(5))
    assert_matches_torch(tinytorch.trapezoid, th.trapezoid, y)
    assert_matches_torch(tinytorch.trapezoid, th.trapezoid, y, points)  # the gradient of x too
    assert_matches_torch(lambda a, b: tinytorch.trapz(a, b, dim=0), lambda a, b: th.trapz(a, b, dim=0), y, normal(3, 5))
    assert_matches_torch(lambda a: tinytorch.trapezoid(a, dx=0.5, dim=0), lambda a: th.trapezoid(a, dx=0.5, dim=0), y)
    assert_matches_torch(lambda a: tinytorch.trapz(a, dx=2.0), lambda a: th.trapz(a, dx=2.0), y)
    assert_matches_torch(lambda a, b: tinytorch.trapezoid(a, b, dim=0), lambda a, b: th.trapezoid(a, b, dim=0),
                         y, np.sort(normal(3)))
    check_dtypes(tinytorch.trapezoid, th.trapezoid, y)
    ints = np.array([1, 2, 3])
    assert tinytorch.trapezoid(T(ints)).item() == th.trapezoid(th.tensor(ints)).item() == 4.0
    for shape in [(0,), (3, 0), (3, 1)]:
        for dtype in (np.float64, np.int64):
            got, want = tinytorch.trapezoid(T(np.ones(shape, dtype))), th.trapezoid(th.tensor(np.ones(shape, dtype)))
            assert got.shape == tuple(want.shape) and got.dtype == want.numpy().dtype
            np.testing.assert_array_equal(got.data, want.numpy())
    with pytest.raises(RuntimeError, match="one `x` value"):
        tinytorch.trapezoid(T(y), T(normal(4)))


def test_take_along_dim_matches_torch():
    th = torch()
    x = normal(3, 4)
    order = np.argsort(x, axis=1)
    assert_matches_torch(lambda a, i: tinytorch.take_along_dim(a, i, dim=1),
                         lambda a, i: th.take_along_dim(a, i, dim=1), x, order)
    assert_matches_torch(lambda a, i: a.take_along_dim(i), lambda a, i: a.take_along_dim(i), x, np.array([[0, 5, 11]]))
    picks = np.array([[[2], [0]]])  # (1, 2, 1) against (3, 1, 4): broadcast to (3, 2, 4) but for dim 1
    assert_matches_torch(lambda a, i: a.take_along_dim(i, dim=1), lambda a, i: a.take_along_dim(i, dim=1),
                         normal(3, 3, 4), picks)
    assert_matches_torch(lambda a, i: a.take_along_dim(i, dim=1), lambda a, i: a.take_along_dim(i, dim=1),
                         normal(1, 4), np.array([[0, 1], [2, 3], [3, 3]]))  # self's size-1 dim broadcast
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        T(x).take_along_dim(T(np.array([0, 1])), dim=1)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_matches_torch(reduce, include_self):
    th = torch()
    x, src = normal(3, 4), normal(3, 5)
    index = np.array([[0, 2, 0, 0], [1, 1, 1, 3], [2, 2, 0, 2]])  # along dim 1; column 3 of row 0 untouched
    assert_matches_torch(lambda a, s, i: a.scatter_reduce(1, i, s, reduce, include_self=include_self),
                         lambda a, s, i: a.scatter_reduce(1, i, s, reduce, include_self=include_self),
                         x, src[:, :4], index)
    assert_matches_torch(lambda a, s, i: tinytorch.scatter_reduce(a, 0, i, s, reduce, include_self=include_self),
                         lambda a, s, i: th.scatter_reduce(a, 0, i, s, reduce, include_self=include_self),
                         x, src[:2, :4], np.array([[2, 0, 1, 0], [2, 2, 1, 0]]))
    # a src larger than index (only its corner is used): PyTorch's backward fails on it, so its values, and
    # finite differences for the gradient
    got = T(x).scatter_reduce(1, T(index), T(src), reduce, include_self=include_self)
    want = th.tensor(x).scatter_reduce(1, th.tensor(index), th.tensor(src), reduce, include_self=include_self)
    np.testing.assert_allclose(got.data, want.numpy(), rtol=1e-12)
    assert_gradients_match(lambda a, s: a.scatter_reduce(1, T(index), s, reduce, include_self=include_self), x, src)
    ties = np.array([1.0, 5.0, 0.0, 2.0])  # a tie with self, zeros in a product, a position hit twice
    tie_src, tie_index = np.array([5.0, 0.0, 5.0, 3.0, 0.0]), np.array([1, 1, 1, 2, 2])
    if include_self or reduce not in ("amax", "amin"):
        assert_matches_torch(lambda a, s, i: a.scatter_reduce(0, i, s, reduce, include_self=include_self),
                             lambda a, s, i: a.scatter_reduce(0, i, s, reduce, include_self=include_self),
                             ties, tie_src, tie_index)
    else:  # PyTorch counts an excluded self that equals the extreme among the ties: its shares then miss 1/3, 1/2
        a, s = T(ties, requires_grad=True), T(tie_src, requires_grad=True)
        out = a.scatter_reduce(0, T(tie_index), s, reduce, include_self=False)
        want = th.tensor(ties).scatter_reduce(0, th.tensor(tie_index), th.tensor(tie_src), reduce, include_self=False)
        np.testing.assert_array_equal(out.data, want.numpy())
        out.sum().backward()
        assert a.grad.tolist() == [1.0, 0.0, 0.0, 1.0]
        assert s.grad.tolist() == ([0.5, 0.0, 0.5, 1.0, 0.0] if reduce == "amax" else [0.0, 1.0, 0.0, 0.0, 1.0])
    for dtype in (np.float32, np.int64):
        a, s = (x * 3).astype(dtype), (src * 3).astype(dtype)
        got = T(a).scatter_reduce(1, T(index), T(s), reduce, include_self=include_self)
        want = th.tensor(a).scatter_reduce(1, th.tensor(index), th.tensor(s), reduce, include_self=include_self)
        assert got.dtype == want.numpy().dtype and np.allclose(got.data, want.numpy(), rtol=1e-6)


def test_scatter_reduce_integers_start_from_the_extremes():
    th = torch()
    for reduce in ("amax", "amin", "prod", "mean", "sum"):
        x, src, index = np.array([5, 7]), np.array([-3, -2, 9]), np.array([0, 0, 1])
        got = T(x).scatter_reduce(0, T(index), T(src), reduce, include_self=False)
        want = th.tensor(x).scatter_reduce(0, th.tensor(index), th.tensor(src), reduce, include_self=False)
        assert got.dtype == np.int64 and got.tolist() == want.tolist()


def test_scatter_reduce_errors():
    x = T(normal(3))
    with pytest.raises(RuntimeError, match="reduce argument"):
        x.scatter_reduce(0, T(np.array([0])), T(normal(1)), "max")
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        x.scatter_reduce(0, T(np.array([[0]])), T(normal(1)), "sum")
    with pytest.raises(IndexError):
        x.scatter_reduce(0, T(np.array([3])), T(normal(1)), "sum")
    with pytest.raises(RuntimeError, match="Size does not match"):
        x.scatter_reduce(0, T(np.array([0, 1])), T(normal(1)), "sum")


def test_msort_ravel_and_randint_like_match_torch():
    th = torch()
    x = normal(4, 3)
    assert_matches_torch(tinytorch.msort, th.msort, x)
    assert_matches_torch(lambda a: a.msort(), lambda a: a.msort(), x)
    assert_matches_torch(tinytorch.ravel, th.ravel, normal(2, 3, 2))
    assert_matches_torch(lambda a: a.mT.ravel(), lambda a: a.mT.ravel(), x)
    tinytorch.manual_seed(0)
    draws = tinytorch.randint_like(T(np.zeros((200,), np.float32)), 3, 7)
    assert draws.shape == (200,) and draws.dtype == np.float32 and set(draws.tolist()) == {3, 4, 5, 6}
    just_high = tinytorch.randint_like(T(np.zeros((2, 50), np.int32)), 2)
    assert just_high.dtype == np.int32 and set(just_high.data.ravel().tolist()) == {0, 1}
    assert tinytorch.randint_like(T(np.zeros(3)), 5, dtype=np.int64).dtype == th.randint_like(
        th.zeros(3), 5, dtype=th.int64).numpy().dtype


def test_generator_state_and_seeds():
    state = tinytorch.get_rng_state()
    assert state.dtype == np.uint8 and state.ndim == 1
    first = tinytorch.rand(5).data.copy()
    np.random.normal()  # leaves a cached normal in NumPy's state
    cached = tinytorch.get_rng_state()
    after = np.random.normal(size=3)
    tinytorch.set_rng_state(state)
    np.testing.assert_array_equal(tinytorch.rand(5).data, first)
    tinytorch.set_rng_state(cached)
    np.testing.assert_array_equal(np.random.normal(size=3), after)
    with pytest.raises(RuntimeError, match="get_rng_state"):
        tinytorch.set_rng_state(T(np.zeros(3, np.uint8)))
    chosen = tinytorch.seed()
    assert isinstance(chosen, int) and tinytorch.initial_seed() == chosen
    run = tinytorch.rand(4).data.copy()
    tinytorch.manual_seed(tinytorch.initial_seed())
    np.testing.assert_array_equal(tinytorch.rand(4).data, run)
    assert tinytorch.seed() != chosen
    tinytorch.manual_seed(1234)
    assert tinytorch.initial_seed() == 1234, "manual_seed's number, as torch.initial_seed after torch.manual_seed"


def test_dtype_rules_match_torch():
    th = torch()
    names = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
    for a in names:
        for b in names:
            want = str(th.promote_types(getattr(th, a), getattr(th, b))).removeprefix("torch.")
            assert tinytorch.promote_types(np.dtype(a), np.dtype(b)) == np.dtype(want), (a, b)
            assert tinytorch.can_cast(np.dtype(a), np.dtype(b)) == th.can_cast(getattr(th, a), getattr(th, b)), (a, b)


def test_logcumsumexp_matches_torch():
    th = torch()
    for dim in (0, 1, -1):
        assert_matches_torch(lambda a: tinytorch.logcumsumexp(a, dim), lambda a: th.logcumsumexp(a, dim), normal(3, 4))
    assert_gradients_match(lambda a: a.logcumsumexp(1), normal(3, 4))
    check_dtypes(lambda a: a.logcumsumexp(0), lambda a: a.logcumsumexp(0), normal(3, 4))
    spread = np.array([[-300.0, 200.0, 500.0, -700.0, 480.0], [800.0, -800.0, 0.0, 799.0, 10.0]])  # exp overflows
    assert_matches_torch(lambda a: a.logcumsumexp(1), lambda a: a.logcumsumexp(1), spread, atol=1e-9, rtol=1e-9)
    for dtype in (np.float32, np.float64):
        x = T(spread.astype(dtype), requires_grad=True)
        x.logcumsumexp(1).sum().backward()
        assert np.all(np.isfinite(x.grad.data)) and x.grad.dtype == dtype
    with_minus_inf = np.array([-np.inf, 0.0, -np.inf, 1.0])  # NaN at the leading -inf, 0 at the later one
    assert_matches_torch(lambda a: a.logcumsumexp(0), lambda a: a.logcumsumexp(0), with_minus_inf)
    assert T(np.zeros((0, 3))).logcumsumexp(0).shape == (0, 3)
    with pytest.raises(NotImplementedError):
        T(np.array([1, 2])).logcumsumexp(0)
    with pytest.raises(NotImplementedError):
        th.tensor([1, 2]).logcumsumexp(0)
