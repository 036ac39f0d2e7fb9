"""linalg.matrix_norm's ords, linalg.norm's matrix/vector rules and scatter(reduce=...) against PyTorch."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tinytorch as tt  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter:UserWarning")  # torch's deprecation

ORDS = ["fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf]


def _pair(shape, seed):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal(shape)
    return data, tt.Tensor(data, dtype=tt.float64, requires_grad=True), torch.tensor(data, requires_grad=True)


def _check(ours, theirs, a, t, seed=0):
    """Same values, dtype and shape; then the same gradient of a random weighted sum."""
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert str(ours.dtype).replace("torch.", "") == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-9, atol=1e-12)
    weights = np.random.default_rng(seed + 100).standard_normal(tuple(theirs.shape))
    (ours * tt.Tensor(weights, dtype=tt.float64)).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("ord", ORDS)
@pytest.mark.parametrize("shape,dim,keepdim", [((3, 4), (-2, -1), False), ((2, 5, 3), (-2, -1), True),
                                               ((4, 2, 3), (0, 2), False), ((3, 2, 4), (2, 0), True)])
def test_matrix_norm_matches_torch(ord, shape, dim, keepdim):
    _, a, t = _pair(shape, seed=len(shape) + dim[0])
    _check(tt.linalg.matrix_norm(a, ord=ord, dim=dim, keepdim=keepdim),
           torch.linalg.matrix_norm(t, ord=ord, dim=dim, keepdim=keepdim), a, t)


@pytest.mark.parametrize("ord", [1, -1, math.inf, -math.inf, 2, "nuc"])
def test_matrix_norm_gradient_at_ties(ord):
    data = np.array([[1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0]])  # equal column/row sums, zeros
    a, t = tt.Tensor(data, dtype=tt.float64, requires_grad=True), torch.tensor(data, requires_grad=True)
    tt.linalg.matrix_norm(a, ord=ord).backward()
    torch.linalg.matrix_norm(t, ord=ord).backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), atol=1e-12)


def test_matrix_norm_dtype_argument_and_float32():
    data = np.random.default_rng(3).standard_normal((2, 3, 3)).astype(np.float32)
    for ord in (2, 1, "nuc"):
        ours = tt.linalg.matrix_norm(tt.Tensor(data, dtype=tt.float32), ord=ord, dtype=tt.float64)
        theirs = torch.linalg.matrix_norm(torch.tensor(data), ord=ord, dtype=torch.float64)
        assert ours.dtype == np.float64
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
        plain = tt.linalg.matrix_norm(tt.Tensor(data, dtype=tt.float32), ord=ord)
        assert plain.dtype == np.float32
        np.testing.assert_allclose(plain.numpy(), torch.linalg.matrix_norm(torch.tensor(data), ord=ord).numpy(),
                                   rtol=1e-5)


@pytest.mark.parametrize("call", [
    lambda m, x: m.linalg.matrix_norm(x(np.ones((2, 2))), ord=3),
    lambda m, x: m.linalg.matrix_norm(x(np.ones((2, 2))), ord=0),
    lambda m, x: m.linalg.matrix_norm(x(np.ones((2, 2))), ord="abc"),
    lambda m, x: m.linalg.matrix_norm(x(np.ones(3)), ord=2),
    lambda m, x: m.linalg.matrix_norm(x(np.ones((2, 2), dtype=np.int64)), ord=2),
    lambda m, x: m.linalg.matrix_norm(x(np.ones((2, 2))), ord=2, dim=(0, 0)),
    lambda m, x: m.linalg.matrix_norm(x(np.ones((2, 2))), ord=2, dim=(0,)),
    lambda m, x: m.linalg.matrix_norm(x(np.ones((2, 2))), ord=2, dtype=m.float32),
    lambda m, x: m.linalg.norm(x(np.ones((2, 2, 2))), ord=2),
    lambda m, x: m.linalg.norm(x(np.ones((2, 2))), ord="nuc", dim=0),
    lambda m, x: m.linalg.norm(x(np.ones(3)), ord="fro"),
])
def test_matrix_norm_errors_match_torch(call):
    with pytest.raises(Exception) as theirs:
        call(torch, torch.tensor)
    with pytest.raises(theirs.type):
        call(tt, lambda data: tt.Tensor(data, dtype=data.dtype))  # float64 as torch's


@pytest.mark.parametrize("ord,dim,shape", [
    (None, None, (3, 4)), (2, None, (3, 4)), ("nuc", None, (3, 4)), (-math.inf, None, (3, 4)),
    (2, None, (5,)), (math.inf, None, (5,)), (None, (0, 2), (2, 3, 4)), (-1, (2, 1), (2, 3, 4)),
    (2, (1,), (2, 3, 4)), (3, 1, (2, 3, 4)), ("fro", None, (2, 3)), (-2, (0, 1), (3, 3)),
])
def test_linalg_norm_picks_matrix_or_vector_like_torch(ord, dim, shape):
    _, a, t = _pair(shape, seed=7)
    _check(tt.linalg.norm(a, ord=ord, dim=dim), torch.linalg.norm(t, ord=ord, dim=dim), a, t)


@pytest.mark.parametrize("ord", ORDS)
@pytest.mark.parametrize("shape", [(0, 2), (2, 0), (3, 0, 0)])
def test_matrix_norm_of_empty_matrices(ord, shape):
    data = np.zeros(shape)
    try:
        theirs = torch.linalg.matrix_norm(torch.tensor(data), ord=ord)
    except IndexError:
        with pytest.raises(IndexError):
            tt.linalg.matrix_norm(tt.Tensor(data, dtype=tt.float64), ord=ord)
        return
    ours = tt.linalg.matrix_norm(tt.Tensor(data, dtype=tt.float64), ord=ord)
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def _scatter_inputs(seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((4, 5)).astype(dtype)
    src = rng.standard_normal((3, 5)).astype(dtype)
    index = rng.integers(0, 4, size=(3, 4))  # repeats: they combine
    return base, src, index


@pytest.mark.parametrize("reduce", ["add", "multiply"])
@pytest.mark.parametrize("dim", [0, -2])
def test_scatter_reduce_mode_matches_torch(reduce, dim):
    base, src, index = _scatter_inputs(11)
    ours = tt.Tensor(base, dtype=tt.float64).scatter(dim, tt.tensor(index), tt.Tensor(src, dtype=tt.float64), reduce=reduce)
    theirs = torch.tensor(base).scatter(dim, torch.tensor(index), torch.tensor(src), reduce=reduce)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    ours = tt.Tensor(base, dtype=tt.float64).scatter(dim, tt.tensor(index), 1.5, reduce=reduce)
    theirs = torch.tensor(base).scatter(dim, torch.tensor(index), 1.5, reduce=reduce)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


@pytest.mark.parametrize("reduce", ["add", "multiply"])
def test_scatter_reduce_mode_in_place(reduce):
    base, src, index = _scatter_inputs(12)
    ours, theirs = tt.Tensor(base, dtype=tt.float64), torch.tensor(base)
    ours.scatter_(1, tt.tensor(index), tt.Tensor(src, dtype=tt.float64), reduce=reduce)
    theirs.scatter_(1, torch.tensor(index), torch.tensor(src), reduce=reduce)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    ours.scatter_(0, tt.tensor(index), 2.0, reduce=reduce)
    theirs.scatter_(0, torch.tensor(index), 2.0, reduce=reduce)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


def test_scatter_reduce_mode_integer_dtype():
    base = np.arange(12, dtype=np.int64).reshape(3, 4)
    index = np.array([[0, 1, 0, 2], [0, 0, 1, 1]])
    for reduce in ("add", "multiply"):
        ours = tt.tensor(base).scatter(0, tt.tensor(index), 3, reduce=reduce)
        theirs = torch.tensor(base).scatter(0, torch.tensor(index), 3, reduce=reduce)
        assert ours.dtype == np.int64
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("reduce", ["add", "multiply"])
def test_scatter_reduce_mode_backward_raises_like_torch(reduce):
    base, src, index = _scatter_inputs(13)
    t = torch.tensor(src, requires_grad=True)
    with pytest.raises(RuntimeError):
        torch.zeros(4, 5, dtype=torch.float64).scatter(0, torch.tensor(index), t, reduce=reduce).sum().backward()
    a = tt.Tensor(src, dtype=tt.float64, requires_grad=True)
    out = tt.zeros(4, 5, dtype=tt.float64).scatter(0, tt.tensor(index), a, reduce=reduce)
    assert out.requires_grad
    with pytest.raises(RuntimeError):
        out.sum().backward()


def test_scatter_bad_reduce_raises_like_torch():
    _, src, index = _scatter_inputs(14)
    with pytest.raises(RuntimeError):
        torch.zeros(4, 5, dtype=torch.float64).scatter(0, torch.tensor(index), 2.0, reduce="mean")
    with pytest.raises(RuntimeError):
        tt.zeros(4, 5, dtype=tt.float64).scatter(0, tt.tensor(index), 2.0, reduce="mean")
