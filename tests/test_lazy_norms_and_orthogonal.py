"""LazyBatchNorm1d (and the shared _LazyNormMixin) and nn.utils.parametrizations.orthogonal, against PyTorch."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tinytorch.nn as nn
from tinytorch.core.tensor import Tensor
from tinytorch.nn.batchnorm import _LazyNormMixin
from tinytorch.nn.utils import parametrizations


def _t(array, grad=False):
    return Tensor(np.array(array, dtype=np.float64), dtype=np.float64, requires_grad=grad)


def _compare_norm(ours, theirs, x0):
    for train in (True, False):
        ours.train(train), theirs.train(train)
        x, tx = _t(x0, True), torch.tensor(x0, requires_grad=True)
        y, ty = ours(x), theirs(tx)
        assert np.allclose(y.data, ty.detach().numpy(), atol=1e-6)
        up = np.random.default_rng(5).normal(size=x0.shape)
        (y * _t(up)).sum().backward(), (ty * torch.tensor(up)).sum().backward()
        assert np.allclose(x.grad.data, tx.grad.numpy(), atol=1e-6)
        if ours.weight is not None:
            assert np.allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), atol=1e-6)
            ours.weight.grad = None
            theirs.weight.grad = None
        if ours.running_mean is not None:
            assert np.allclose(ours.running_mean.data, theirs.running_mean.numpy(), atol=1e-6)
            assert np.allclose(ours.running_var.data, theirs.running_var.numpy(), atol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"affine": False}, {"momentum": None, "eps": 1e-3}])
def test_lazy_batch_norm1d_matches_torch(kwargs):
    ours, theirs = nn.LazyBatchNorm1d(**kwargs), torch.nn.LazyBatchNorm1d(**kwargs).double()
    assert repr(ours) == repr(theirs) and type(ours) is nn.LazyBatchNorm1d
    weight, mean = ours.weight, ours.running_mean
    assert mean.shape == (0,) and (weight is None or weight.shape == (0,))
    x0 = np.random.default_rng(0).normal(1.0, 2.0, size=(6, 4, 3))
    _compare_norm(ours, theirs, x0)
    assert type(ours) is nn.BatchNorm1d and type(theirs) is torch.nn.BatchNorm1d
    assert ours.num_features == 4 and repr(ours) == repr(theirs)
    assert ours.weight is weight and ours.running_mean is mean  # resized in place
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_lazy_parameters_are_the_ones_an_optimizer_holds():
    from tinytorch.optim import SGD
    layer = nn.LazyBatchNorm1d()
    opt = SGD(layer.parameters(), lr=0.5)
    layer(_t(np.random.default_rng(1).normal(size=(5, 2)))).sum().backward()
    layer.bias.grad = np.array([1.0, 2.0], dtype=np.float32)
    opt.step()
    assert layer.bias.data.tolist() == [-0.5, -1.0]


def test_mixin_gives_instance_and_2d_lazy_norms():
    class LazyInstanceNorm1d(_LazyNormMixin, nn.InstanceNorm1d):
        cls_to_become = nn.InstanceNorm1d

    class LazyBatchNorm2d(_LazyNormMixin, nn.BatchNorm2d):
        cls_to_become = nn.BatchNorm2d

    rng = np.random.default_rng(2)
    ours = LazyInstanceNorm1d(affine=True, track_running_stats=True)
    theirs = torch.nn.LazyInstanceNorm1d(affine=True, track_running_stats=True).double()
    assert repr(ours).replace("LazyInstanceNorm1d", "") == repr(theirs).replace("LazyInstanceNorm1d", "")
    _compare_norm(ours, theirs, rng.normal(size=(2, 3, 5)))
    assert type(ours) is nn.InstanceNorm1d and ours.num_features == 3
    unbatched = LazyInstanceNorm1d(affine=True)
    assert unbatched(_t(rng.normal(size=(3, 5)))).shape == (3, 5) and unbatched.num_features == 3
    ours, theirs = LazyBatchNorm2d(), torch.nn.LazyBatchNorm2d().double()
    _compare_norm(ours, theirs, rng.normal(size=(2, 3, 4, 4)))
    assert type(ours) is nn.BatchNorm2d and repr(ours) == repr(theirs)


@pytest.mark.parametrize("shape,orthogonal_map", [
    ((4, 4), None), ((4, 4), "cayley"), ((5, 3), None), ((3, 5), "householder"),
    ((5, 3), "matrix_exp"), ((3, 5), "cayley")])
def test_orthogonal_matches_torch(shape, orthogonal_map):
    rng = np.random.default_rng(3)
    ours, theirs = nn.Linear(shape[1], shape[0]), torch.nn.Linear(shape[1], shape[0]).double()
    parametrizations.orthogonal(ours, orthogonal_map=orthogonal_map)
    torch.nn.utils.parametrizations.orthogonal(theirs, orthogonal_map=orthogonal_map)
    assert type(ours).__name__ == "ParametrizedLinear"
    assert [name for name, _ in ours.named_buffers()] == [name for name, _ in theirs.named_buffers()]
    original = rng.normal(scale=0.3, size=shape)
    idx = np.arange(min(shape))
    original[idx, idx] = np.resize([-1.0, 1.0], min(shape))  # householder: X's diagonal holds the signs (±1)
    base = np.asarray(ours.parametrizations.weight[0].base.data, dtype=np.float64)
    ours.parametrizations.weight.original.data = original.copy()
    with torch.no_grad():
        theirs.parametrizations.weight.original.copy_(torch.tensor(original))
        theirs.parametrizations.weight[0].base.copy_(torch.tensor(base))
    w, tw = ours.weight, theirs.weight
    assert np.allclose(w.data, tw.detach().numpy(), atol=1e-6)
    gram = w.data.T @ w.data if shape[0] >= shape[1] else w.data @ w.data.T
    assert np.allclose(gram, np.eye(min(shape)), atol=1e-5)
    up = rng.normal(size=shape)
    (w * _t(up)).sum().backward(), (tw * torch.tensor(up)).sum().backward()
    assert np.allclose(ours.parametrizations.weight.original.grad.data,
                       theirs.parametrizations.weight.original.grad.numpy(), atol=1e-5)


def test_orthogonal_initial_weight_and_options():
    layer = nn.Linear(3, 3)
    before = layer.weight.data.copy()
    parametrizations.orthogonal(layer)
    q = layer.weight.data
    assert np.allclose(q.T @ q, np.eye(3), atol=1e-5)
    expected = torch.nn.utils.parametrizations._make_orthogonal(torch.tensor(before, dtype=torch.float64)).numpy()
    assert np.allclose(q, expected, atol=1e-5)  # the initial weight's QR Q
    plain = nn.Linear(2, 4)
    reference = torch.nn.Linear(2, 4).double()
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(np.asarray(plain.weight.data, np.float64)))
    parametrizations.orthogonal(plain, orthogonal_map="householder", use_trivialization=False)
    torch.nn.utils.parametrizations.orthogonal(reference, orthogonal_map="householder", use_trivialization=False)
    assert np.allclose(plain.parametrizations.weight.original.data,
                       reference.parametrizations.weight.original.detach().numpy(), atol=1e-5)
    assert np.allclose(plain.weight.data, reference.weight.detach().numpy(), atol=1e-5)
    with pytest.raises(NotImplementedError):
        parametrizations.orthogonal(nn.Linear(2, 2), use_trivialization=False)
    with pytest.raises(ValueError):
        parametrizations.orthogonal(nn.Linear(2, 2), orthogonal_map="qr")
    with pytest.raises(ValueError):
        parametrizations.orthogonal(nn.Linear(2, 2), name="bias")


@pytest.mark.parametrize("name, shape", [("LazyBatchNorm2d", (4, 3, 5, 5)), ("LazyBatchNorm3d", (2, 3, 4, 4, 4)),
                                         ("LazyInstanceNorm1d", (2, 3, 7)), ("LazyInstanceNorm2d", (2, 3, 5, 5)),
                                         ("LazyInstanceNorm3d", (2, 3, 4, 4, 4))])
def test_module_05s_lazy_norms_match_torch(name, shape):
    # module 05 defines them with module 04's _LazyNormMixin (PyTorch's lazy instance norms: affine, tracking)
    rng = np.random.default_rng(3)
    mine, theirs = getattr(nn, name)(), getattr(torch.nn, name)().double()
    assert repr(mine) == repr(theirs)
    x, g = rng.normal(size=shape), rng.normal(size=shape)
    xt, xr = Tensor(x, dtype=np.float64, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = mine(xt), theirs(xr)
    (out * Tensor(g, dtype=np.float64)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    assert type(mine).__name__ == type(theirs).__name__ == name.replace("Lazy", "")
    np.testing.assert_allclose(out.data, ref.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(xt.grad.data, xr.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(mine.running_var.data, theirs.running_var.numpy(), atol=1e-12)
    assert repr(mine) == repr(theirs)
