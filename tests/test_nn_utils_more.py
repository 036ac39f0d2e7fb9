"""torch.nn.utils' weight_norm, spectral_norm, norms, BatchNorm fusion, init.dirac_/sparse_ and the
Module's extra state, state-dict hooks and device stubs, compared with PyTorch from the same weights."""

import numpy as np
import pytest

import tinytorch.nn as tnn
from tinytorch.core.tensor import Tensor
from tinytorch.nn import init as tinit
from tinytorch.nn import utils as tutils

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:.*weight_norm. is deprecated:FutureWarning", "ignore:.*script_method. is deprecated:DeprecationWarning")


def _t(values):
    return Tensor(np.asarray(values, dtype=np.float64), dtype=np.float64)


def _pair(in_f=4, out_f=3, seed=0):
    torch.manual_seed(seed)
    th = torch.nn.Linear(in_f, out_f).double()
    tt = tnn.Linear(in_f, out_f).double()
    tt.weight.data[...] = th.weight.detach().numpy()
    tt.bias.data[...] = th.bias.detach().numpy()
    return th, tt


def _same_state(th_module, tt_module):
    th_state, tt_state = th_module.state_dict(), tt_module.state_dict()
    assert list(tt_state) == list(th_state)
    for key, value in th_state.items():
        np.testing.assert_allclose(tt_state[key], value.detach().numpy(), atol=1e-10, err_msg=key)


@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_outputs_gradients_state_and_removal_match_torch(dim):
    th, tt = _pair()
    th = torch.nn.utils.weight_norm(th, dim=dim)
    tt = tutils.weight_norm(tt, dim=dim)
    _same_state(th, tt)
    x = np.random.default_rng(1).normal(size=(5, 4))
    th_out, tt_out = th(torch.tensor(x)), tt(_t(x))
    np.testing.assert_allclose(tt_out.data, th_out.detach().numpy(), atol=1e-10)
    (th_out ** 2).sum().backward()
    (tt_out ** 2).sum().backward()
    for name in ("weight_g", "weight_v", "bias"):
        np.testing.assert_allclose(getattr(tt, name).grad.data, getattr(th, name).grad.numpy(), atol=1e-9,
                                   err_msg=name)
    with torch.no_grad():  # a changed g shows up in the next forward's weight
        th.weight_g.mul_(2)
    tt.weight_g.data *= 2
    np.testing.assert_allclose(tt(_t(x)).data, th(torch.tensor(x)).detach().numpy(), atol=1e-10)
    torch.nn.utils.remove_weight_norm(th)
    tutils.remove_weight_norm(tt)
    assert isinstance(tt.weight, tnn.Parameter)
    _same_state(th, tt)
    with pytest.raises(ValueError):
        tutils.remove_weight_norm(tt)


@pytest.mark.parametrize("training", [True, False])
def test_spectral_norm_from_the_same_u_v_matches_torch(training):
    th, tt = _pair(6, 4)
    th = torch.nn.utils.spectral_norm(th, n_power_iterations=2)
    tt = tutils.spectral_norm(tt, n_power_iterations=2)
    tt.weight_u.data[...] = th.weight_u.numpy()
    tt.weight_v.data[...] = th.weight_v.numpy()
    th.train(training), tt.train(training)
    assert list(tt.state_dict()) == list(th.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    x = np.random.default_rng(2).normal(size=(3, 6))
    for _ in range(2):  # the second forward starts from the first's u and v
        th_out, tt_out = th(torch.tensor(x)), tt(_t(x))
        np.testing.assert_allclose(tt_out.data, th_out.detach().numpy(), atol=1e-9)
    _same_state(th, tt)
    (th_out ** 2).sum().backward()
    (tt_out ** 2).sum().backward()
    np.testing.assert_allclose(tt.weight_orig.grad.data, th.weight_orig.grad.numpy(), atol=1e-9)
    torch.nn.utils.remove_spectral_norm(th)
    tutils.remove_spectral_norm(tt)
    assert isinstance(tt.weight, tnn.Parameter) and not hasattr(tt, "weight_orig")
    _same_state(th, tt)


def test_get_total_norm_and_clip_grads_with_norm_match_torch():
    rng = np.random.default_rng(3)
    grads = [rng.normal(size=(3, 2)), rng.normal(size=4)]
    for norm_type in (2.0, 1.0, 3.0, float("inf"), 0.0):
        expected = torch.nn.utils.get_total_norm([torch.tensor(g) for g in grads], norm_type).item()
        got = tutils.get_total_norm([_t(g) for g in grads], norm_type).item()
        assert np.isclose(got, expected), norm_type
    for max_norm in (0.5, 100.0):
        th_params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
        tt_params = [tnn.Parameter(np.zeros(g.shape), dtype=np.float64) for g in grads]
        for tp, ttp, g in zip(th_params, tt_params, grads):
            tp.grad, ttp.grad = torch.tensor(g), _t(g.copy())
        total = torch.nn.utils.get_total_norm([p.grad for p in th_params])
        torch.nn.utils.clip_grads_with_norm_(th_params, max_norm, total)
        tutils.clip_grads_with_norm_(tt_params, max_norm, tutils.get_total_norm([p.grad for p in tt_params]))
        for tp, ttp in zip(th_params, tt_params):
            np.testing.assert_allclose(ttp.grad.data, tp.grad.numpy(), atol=1e-12)
    with pytest.raises(RuntimeError):
        tutils.get_total_norm([Tensor(np.array([np.inf]))], error_if_nonfinite=True)


def _eval_bn(th_bn, tt_bn, channels, seed):
    rng = np.random.default_rng(seed)
    stats = dict(running_mean=rng.normal(size=channels), running_var=rng.uniform(0.5, 2, channels),
                 weight=rng.normal(size=channels), bias=rng.normal(size=channels))
    for name, value in stats.items():
        getattr(th_bn, name).data.copy_(torch.tensor(value))
        getattr(tt_bn, name).data[...] = value
    return th_bn.eval(), tt_bn.eval()


@pytest.mark.parametrize("bias", [True, False])
def test_fuse_conv_bn_eval_matches_conv_then_bn_and_torch(bias):
    torch.manual_seed(4)
    th_conv = torch.nn.Conv2d(2, 3, 3, padding=1, bias=bias).double().eval()
    tt_conv = tnn.Conv2d(2, 3, 3, padding=1, bias=bias).double().eval()
    tt_conv.weight.data[...] = th_conv.weight.detach().numpy()
    if bias:
        tt_conv.bias.data[...] = th_conv.bias.detach().numpy()
    th_bn, tt_bn = _eval_bn(torch.nn.BatchNorm2d(3).double(), tnn.BatchNorm2d(3).double(), 3, 5)
    x = np.random.default_rng(6).normal(size=(2, 2, 5, 5))
    fused = tutils.fuse_conv_bn_eval(tt_conv, tt_bn)
    th_fused = torch.nn.utils.fuse_conv_bn_eval(th_conv, th_bn)
    expected = th_bn(th_conv(torch.tensor(x))).detach().numpy()
    np.testing.assert_allclose(fused(_t(x)).data, expected, atol=1e-9)
    np.testing.assert_allclose(fused.weight.data, th_fused.weight.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(fused.bias.data, th_fused.bias.detach().numpy(), atol=1e-12)
    assert fused is not tt_conv and np.allclose(tt_conv.weight.data, th_conv.weight.detach().numpy())
    with pytest.raises(AssertionError):
        tutils.fuse_conv_bn_eval(tt_conv.train(), tt_bn)


def test_fuse_linear_bn_eval_matches_linear_then_bn():
    th, tt = _pair(4, 3)
    th.eval(), tt.eval()
    th_bn, tt_bn = _eval_bn(torch.nn.BatchNorm1d(3).double(), tnn.BatchNorm1d(3).double(), 3, 7)
    x = np.random.default_rng(8).normal(size=(5, 4))
    fused = tutils.fuse_linear_bn_eval(tt, tt_bn)
    np.testing.assert_allclose(fused(_t(x)).data, th_bn(th(torch.tensor(x))).detach().numpy(), atol=1e-9)
    w, b = tutils.fuse_linear_bn_weights(tt.weight, tt.bias, tt_bn.running_mean, tt_bn.running_var, tt_bn.eps,
                                         tt_bn.weight, tt_bn.bias)
    th_w, th_b = torch.nn.utils.fuse_linear_bn_weights(th.weight, th.bias, th_bn.running_mean, th_bn.running_var,
                                                       th_bn.eps, th_bn.weight, th_bn.bias)
    np.testing.assert_allclose(w.data, th_w.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(b.data, th_b.detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("shape,groups", [((4, 2, 3), 2), ((6, 3, 3, 5), 1), ((4, 4, 3, 3, 3), 2)])
def test_dirac_matches_torch(shape, groups):
    expected = torch.nn.init.dirac_(torch.empty(shape), groups).numpy()
    np.testing.assert_array_equal(tinit.dirac_(tnn.Parameter(np.full(shape, 7.0)), groups).data, expected)
    with pytest.raises(ValueError):
        tinit.dirac_(tnn.Parameter(np.zeros((3, 3))))


def test_sparse_zeroes_the_fraction_of_each_column_torch_does():
    np.random.seed(9)
    got = tinit.sparse_(tnn.Parameter(np.zeros((10, 6))), sparsity=0.3, std=0.5).data
    expected = torch.nn.init.sparse_(torch.empty(10, 6), sparsity=0.3, std=0.5).numpy()
    np.testing.assert_array_equal((got == 0).sum(0), (expected == 0).sum(0))
    assert np.all((got == 0).sum(0) == 3) and 0.2 < got[got != 0].std() < 1.0
    with pytest.raises(ValueError):
        tinit.sparse_(tnn.Parameter(np.zeros(3)), 0.5)


def _with_extra(nn):
    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)
            self.seen = 0

        def get_extra_state(self):
            return {"seen": self.seen}

        def set_extra_state(self, state):
            self.seen = state["seen"]

    return Counter()


def test_extra_state_round_trip_and_keys_match_torch():
    th, tt = _with_extra(torch.nn), _with_extra(tnn)
    th.seen = tt.seen = 5
    assert list(tt.state_dict()) == list(th.state_dict()) == ["_extra_state", "lin.weight", "lin.bias"]
    state = tt.state_dict()
    fresh = _with_extra(tnn)
    fresh.load_state_dict(state)
    assert fresh.seen == 5
    state.pop("_extra_state")
    result = fresh.load_state_dict(state, strict=False)
    th_result = _with_extra(torch.nn).load_state_dict({k: v for k, v in th.state_dict().items()
                                                       if k != "_extra_state"}, strict=False)
    assert result.missing_keys == th_result.missing_keys == ["_extra_state"]
    with pytest.raises(RuntimeError):
        fresh.load_state_dict(state)
    with pytest.raises(RuntimeError):
        tnn.Linear(2, 2).get_extra_state()


def _hooked(nn, calls):
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    model.register_state_dict_pre_hook(lambda m, prefix, keep_vars: calls.append(("pre", prefix, keep_vars)))
    model[1].register_state_dict_pre_hook(lambda m, prefix, keep_vars: calls.append(("pre", prefix, keep_vars)))
    model[1].register_state_dict_post_hook(lambda m, sd, prefix, meta: calls.append(("post", prefix, sorted(sd))))

    def rename(m, sd, prefix, meta, strict, missing, unexpected, errors):
        calls.append(("load_pre", prefix, strict))
        if "old.weight" in sd:
            sd["1.weight"] = sd.pop("old.weight")

    model.register_load_state_dict_pre_hook(rename)

    def forgive(m, keys):
        calls.append(("load_post", list(keys.missing_keys), list(keys.unexpected_keys)))
        keys.unexpected_keys.clear()

    model.register_load_state_dict_post_hook(forgive)
    return model


def test_state_dict_hooks_order_arguments_and_effects_match_torch():
    th_calls, tt_calls = [], []
    th, tt = _hooked(torch.nn, th_calls), _hooked(tnn, tt_calls)
    th_state, tt_state = th.state_dict(), tt.state_dict()
    assert tt_calls == th_calls and list(tt_state) == list(th_state)
    th_calls.clear(), tt_calls.clear()
    th_state["old.weight"] = th_state.pop("1.weight")
    th_state["junk"] = torch.zeros(1)
    tt_state["old.weight"] = tt_state.pop("1.weight")
    tt_state["junk"] = np.zeros(1)
    th_result, tt_result = th.load_state_dict(th_state), tt.load_state_dict(tt_state)
    assert tt_calls == th_calls and tuple(tt_result) == tuple(th_result) == ([], [])
    assert "old.weight" in tt_state, "the hooks see a copy: the caller's dict is left alone"


def test_device_stubs_and_no_ops():
    layer = tnn.Linear(3, 2)
    for name in ("cuda", "xpu", "ipu", "mtia", "bfloat16"):
        with pytest.raises(RuntimeError, match="CPU"):
            getattr(layer, name)()
    assert layer.compile() is None and torch.nn.Linear(1, 1).compile() is None
    assert layer.share_memory() is layer
    shapes = [p.shape for p in layer.parameters()]
    assert layer.to_empty(device="cpu") is layer and [p.shape for p in layer.parameters()] == shapes
    with pytest.raises(RuntimeError):
        layer.to_empty(device="cuda")


def test_skip_init_builds_the_module():
    layer = tutils.skip_init(tnn.Linear, 3, 2)
    assert isinstance(layer, tnn.Linear) and layer.weight.shape == (2, 3)
