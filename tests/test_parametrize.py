"""tinytorch.nn.utils.parametrize / parametrizations compared with torch.nn.utils's."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tinytorch.nn.utils as tu
from tinytorch.core.tensor import Tensor
from tinytorch.nn.modules import Linear, Module, Parameter
from tinytorch.nn.utils import parametrizations, parametrize


def _pair(out_f=3, in_f=3, seed=0):
    rng = np.random.default_rng(seed)
    w, b = rng.standard_normal((out_f, in_f)), rng.standard_normal(out_f)
    tiny = Linear(in_f, out_f)
    tiny.weight, tiny.bias = Parameter(w.copy()), Parameter(b.copy())
    ref = torch.nn.Linear(in_f, out_f).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(w)), ref.bias.copy_(torch.tensor(b))
    x = rng.standard_normal((4, in_f))
    return tiny, ref, x


def _run(tiny, ref, x, original="parametrizations.weight.original"):
    """Forward both, backward sum(y**2), compare outputs and the gradient of `original`."""
    yt, yr = tiny(Tensor(x)), ref(torch.tensor(x))
    assert np.allclose(yt.data, yr.detach().numpy(), atol=1e-6)
    (yt * yt).sum().backward()
    (yr * yr).sum().backward()
    gt = dict(tiny.named_parameters())[original].grad.data
    gr = dict(ref.named_parameters())[original].grad.numpy()
    assert np.allclose(gt, gr, atol=1e-6)


class Symmetric:
    @staticmethod
    def make(base):
        class S(base):
            def forward(self, X):
                return X.triu() + X.triu(1).T
        return S()


class Scale:
    """x * c, with right_inverse x / c."""

    @staticmethod
    def make(base, c):
        class S(base):
            def forward(self, X):
                return X * c

            def right_inverse(self, X):
                return X / c
        return S()


def test_namespaces():
    import tinytorch.nn.utils.parametrize as P  # registered in sys.modules
    assert P is parametrize is tu.parametrize
    assert parametrize.register_parametrization is tu.register_parametrization
    assert callable(parametrizations.weight_norm) and callable(parametrizations.spectral_norm)


def test_symmetric_forward_gradient_state_dict():
    tiny, ref, x = _pair()
    parametrize.register_parametrization(tiny, "weight", Symmetric.make(Module))
    torch.nn.utils.parametrize.register_parametrization(ref, "weight", Symmetric.make(torch.nn.Module))
    assert np.allclose(tiny.weight.data, ref.weight.detach().numpy())
    assert np.allclose(tiny.weight.data, tiny.weight.data.T)
    assert list(tiny.state_dict()) == list(ref.state_dict())
    assert [n for n, _ in tiny.named_parameters()] == [n for n, _ in ref.named_parameters()]
    _run(tiny, ref, x)
    assert type(tiny).__name__ == type(ref).__name__ == "ParametrizedLinear"
    assert parametrize.type_before_parametrizations(tiny) is Linear


def test_property_recomputes_after_original_changes():
    tiny, ref, x = _pair()
    parametrize.register_parametrization(tiny, "weight", Symmetric.make(Module))
    tiny.parametrizations.weight.original.data[...] = np.arange(9.0).reshape(3, 3)
    assert tiny.weight.data.tolist() == [[0, 1, 2], [1, 4, 5], [2, 5, 8]]


def test_right_inverse_and_assignment():
    tiny, ref, x = _pair()
    original = tiny.weight
    parametrize.register_parametrization(tiny, "weight", Scale.make(Module, 3.0))
    torch.nn.utils.parametrize.register_parametrization(ref, "weight", Scale.make(torch.nn.Module, 3.0))
    assert tiny.parametrizations.weight.original is original  # the same Parameter, new value
    assert np.allclose(tiny.parametrizations.weight.original.data, ref.parametrizations.weight.original.detach().numpy())
    assert np.allclose(tiny.weight.data, ref.weight.detach().numpy())
    _run(tiny, ref, x)
    tiny.weight = Tensor(np.full((3, 3), 6.0))
    ref.weight = torch.full((3, 3), 6.0, dtype=torch.float64)
    assert np.allclose(tiny.parametrizations.weight.original.data, ref.parametrizations.weight.original.detach().numpy())
    assert np.allclose(tiny.parametrizations.weight.original.data, 2.0)


def test_chaining():
    tiny, ref, x = _pair()
    for lib, m, base in ((parametrize, tiny, Module), (torch.nn.utils.parametrize, ref, torch.nn.Module)):
        lib.register_parametrization(m, "weight", Scale.make(base, 2.0))
        lib.register_parametrization(m, "weight", Symmetric.make(base))
    assert len(tiny.parametrizations.weight) == len(ref.parametrizations.weight) == 2
    assert np.allclose(tiny.weight.data, ref.weight.detach().numpy())
    assert list(tiny.state_dict()) == list(ref.state_dict())
    _run(tiny, ref, x)


@pytest.mark.parametrize("leave", [True, False])
def test_remove(leave):
    tiny, ref, x = _pair()
    for lib, m, base in ((parametrize, tiny, Module), (torch.nn.utils.parametrize, ref, torch.nn.Module)):
        lib.register_parametrization(m, "weight", Scale.make(base, 2.0))
        lib.register_parametrization(m, "weight", Symmetric.make(base))
        assert lib.is_parametrized(m) and lib.is_parametrized(m, "weight") and not lib.is_parametrized(m, "bias")
        lib.remove_parametrizations(m, "weight", leave_parametrized=leave)
        assert not lib.is_parametrized(m) and not hasattr(m, "parametrizations")
    assert type(tiny) is Linear and isinstance(vars(tiny)["weight"], Parameter)
    assert np.allclose(tiny.weight.data, ref.weight.detach().numpy())
    assert list(tiny.state_dict()) == list(ref.state_dict()) == ["bias", "weight"]  # re-registered last, as PyTorch
    _run(tiny, ref, x, original="weight")


def test_errors():
    tiny, _, _ = _pair()
    with pytest.raises(ValueError):
        parametrize.register_parametrization(tiny, "nothing", Symmetric.make(Module))
    with pytest.raises(ValueError):
        parametrize.remove_parametrizations(tiny, "weight")

    class Shrink(Module):
        def forward(self, X):
            return X[:1]
    with pytest.raises(ValueError):
        parametrize.register_parametrization(tiny, "weight", Shrink())
    assert isinstance(vars(tiny)["weight"], Parameter), "a refused parametrization leaves the module as it was"


def test_cached_computes_once():
    tiny, _, _ = _pair()
    calls = []

    class Counting(Module):
        def forward(self, X):
            calls.append(1)
            return X * 1.0
    parametrize.register_parametrization(tiny, "weight", Counting())
    calls.clear()
    with parametrize.cached():
        a, b = tiny.weight, tiny.weight
    assert a is b and len(calls) == 1
    tiny.weight, tiny.weight
    assert len(calls) == 3


@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_parametrization(dim):
    tiny, ref, x = _pair(4, 3, seed=1)
    parametrizations.weight_norm(tiny, dim=dim)
    torch.nn.utils.parametrizations.weight_norm(ref, dim=dim)
    assert list(tiny.state_dict()) == list(ref.state_dict())
    for key in ("parametrizations.weight.original0", "parametrizations.weight.original1"):
        assert np.allclose(tiny.state_dict()[key], ref.state_dict()[key].numpy())
    _run(tiny, ref, x, "parametrizations.weight.original0")
    _run(*_fresh_weight_norm(dim), "parametrizations.weight.original1")


def _fresh_weight_norm(dim):
    tiny, ref, x = _pair(4, 3, seed=2)
    parametrizations.weight_norm(tiny, dim=dim)
    torch.nn.utils.parametrizations.weight_norm(ref, dim=dim)
    return tiny, ref, x


@pytest.mark.parametrize("training", [True, False])
def test_spectral_norm_parametrization(training):
    tiny, ref, x = _pair(4, 3, seed=3)
    parametrizations.spectral_norm(tiny)
    torch.nn.utils.parametrizations.spectral_norm(ref)
    assert list(tiny.state_dict()) == list(ref.state_dict())
    for name in ("_u", "_v"):  # the random start differs: use torch's
        getattr(tiny.parametrizations.weight[0], name).data[...] = getattr(ref.parametrizations.weight[0], name).numpy()
    tiny.train(training), ref.train(training)
    _run(tiny, ref, x)
    sigma = np.linalg.svd(tiny.parametrizations.weight.original.data, compute_uv=False)[0]
    assert np.allclose(tiny.weight.data, tiny.parametrizations.weight.original.data / sigma, atol=1e-4)
    assert np.allclose(tiny.parametrizations.weight[0]._u.data, ref.parametrizations.weight[0]._u.numpy())
