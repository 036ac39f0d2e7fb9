"""reset_parameters() / reset_running_stats() and the module backward hooks, compared with PyTorch.

reset_parameters: every layer class that PyTorch gives one has one (and no other); it draws
PyTorch's distribution for that layer (bounds and spread compared with a PyTorch layer of the same
shape, constants compared exactly) *into* the existing Parameters, which keep their identity and
dtype; the norms' running statistics go back to PyTorch's fresh values.

Backward hooks: register_full_backward_pre_hook / register_full_backward_hook run the same
scenarios in both libraries (one builder that receives the library) and compare what the hooks
saw, in which order, and the gradients that reached the leaves: Linear, a module with two inputs
(one needing no gradient, one a number), replacement of grad_input and of grad_output, removal,
a tuple output, a module called twice, and a first layer whose input needs no gradient.
"""

import inspect
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tinytorch.nn as tnn  # noqa: E402
from tinytorch.core.tensor import Tensor  # noqa: E402
from tinytorch.optim import SGD  # noqa: E402


# -- reset_parameters --------------------------------------------------------------------------

def _module_classes():
    """(name, tinytorch class, torch class) for every Module class both `nn`s define."""
    for name, ours in vars(tnn).items():
        theirs = getattr(torch.nn, name, None)
        if inspect.isclass(ours) and issubclass(ours, tnn.Module) and inspect.isclass(theirs):
            yield name, ours, theirs


@pytest.mark.parametrize("method", ["reset_parameters", "reset_running_stats", "_reset_parameters"])
def test_reset_methods_exist_exactly_where_torch_has_them(method):
    pairs = list(_module_classes())
    assert len(pairs) > 100
    differ = [name for name, ours, theirs in pairs if hasattr(ours, method) != hasattr(theirs, method)]
    assert differ == []


# Same constructor text in both libraries. Sizes are large enough that every randomly initialized
# Parameter has ~1000 values or more, for its spread and largest value to be compared.
LAYERS = [
    "Linear(50, 4000)",
    "Linear(3, 1000, bias=False)",
    "Bilinear(25, 10, 4000)",
    "PReLU(num_parameters=5, init=0.3)",
    "BatchNorm1d(6)",
    "BatchNorm2d(6, affine=False)",
    "BatchNorm3d(4)",
    "InstanceNorm1d(5, affine=True, track_running_stats=True)",
    "InstanceNorm2d(5, affine=True)",
    "InstanceNorm3d(5, track_running_stats=True)",
    "GroupNorm(2, 6)",
    "LayerNorm((3, 4))",
    "LayerNorm(5, bias=False)",
    "RMSNorm(5)",
    "Conv1d(8, 4000, 3)",
    "Conv2d(4, 4000, 3, groups=2)",
    "Conv3d(2, 4000, 2)",
    "ConvTranspose1d(6, 4000, 3)",
    "ConvTranspose2d(3, 4000, 2)",
    "Embedding(4000, 8, padding_idx=3)",
    "EmbeddingBag(4000, 8, padding_idx=1)",
    "RNN(8, 1000)",
    "LSTM(8, 250, num_layers=2, bidirectional=True)",
    "GRU(8, 340)",
    "RNNCell(8, 1000)",
    "LSTMCell(8, 250)",
    "GRUCell(8, 340)",
]


def _tensors(module):
    """name -> array of every Parameter and buffer (None-valued ones left out)."""
    out = {n: p for n, p in module.named_parameters()}
    out.update((n, b) for n, b in module.named_buffers() if b is not None)
    return out


def _same_distribution(name, ours, theirs):
    """Constants exactly; random values: same mean and spread (within sampling error) and the same
    largest magnitude (a uniform's bound; for ~1000+ values both maxima sit within 1% of it)."""
    if theirs.std() == 0 or theirs.dtype.kind != "f":
        np.testing.assert_array_equal(ours, theirs, err_msg=name)
        return
    n = theirs.size
    spread = max(0.05, 4 / np.sqrt(n))
    assert abs(ours.std() / theirs.std() - 1) < spread, (name, ours.std(), theirs.std())
    assert abs(ours.mean() - theirs.mean()) < 6 * theirs.std() / np.sqrt(n), name
    if abs(np.abs(theirs).max() / theirs.std() - np.sqrt(3)) < 0.05:  # a uniform: compare the bound
        assert abs(np.abs(ours).max() / np.abs(theirs).max() - 1) < 10 / n + 1e-3, name


@pytest.mark.parametrize("text", LAYERS)
def test_reset_parameters_redraws_torchs_distribution_in_place(text):
    torch.manual_seed(0)
    np.random.seed(0)
    theirs, ours = eval("torch.nn." + text), eval("tnn." + text)
    mine = _tensors(ours)
    held = {n: (t, t.data.dtype) for n, t in mine.items()}
    for n, t in mine.items():  # spoil everything: the reset must undo it all
        t.data[...] = 3 if t.data.dtype.kind != "f" else 7.0
    ours.reset_parameters()
    reference = {n: t.detach().numpy() for n, t in _tensors(theirs).items()}
    assert sorted(_tensors(ours)) == sorted(reference)
    for n, t in _tensors(ours).items():
        assert t is held[n][0] and t.data.dtype == held[n][1], f"{n}: the same tensor, the same dtype"
        _same_distribution(n, t.data, reference[n])


def test_embedding_padding_row_is_zero_after_reset():
    for layer in (tnn.Embedding(10, 4, padding_idx=-2), tnn.EmbeddingBag(10, 4, padding_idx=0)):
        layer.weight.data[...] = 5.0
        layer.reset_parameters()
        assert np.all(layer.weight.data[layer.padding_idx] == 0)
        assert np.count_nonzero(layer.weight.data.any(axis=1)) == 9


def test_reset_keeps_float64_and_the_optimizers_parameters():
    """A double() model re-initialized through model.modules() keeps float64, and the optimizer
    built before still trains the same Parameters."""
    model = tnn.Sequential(tnn.Linear(4, 30), tnn.BatchNorm1d(30), tnn.Embedding(5, 30), tnn.LSTM(30, 20)).double()
    optimizer = SGD(model.parameters(), lr=0.1)
    before = [p.data.copy() for p in model.parameters()]
    model[1].running_mean.data[...] = 2.0
    for m in model.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    params = model.parameters()
    assert all(p is q for p, q in zip(params, optimizer.param_groups[0]["params"]))
    assert all(p.dtype == np.float64 for p in params) and model[1].running_mean.dtype == np.float64
    assert not np.allclose(params[0].data, before[0]) and np.all(model[1].running_mean.data == 0)
    for p in params:
        p.grad = Tensor(np.ones(p.shape), dtype=np.float64)
    after_reset = params[0].data.copy()
    optimizer.step()
    assert np.allclose(model[0].weight.data, after_reset - 0.1)


def test_reset_running_stats_keeps_the_affine_parameters():
    th, mine = torch.nn.BatchNorm2d(3), tnn.BatchNorm2d(3)
    x = np.random.default_rng(0).normal(2.0, 3.0, (4, 3, 2, 2)).astype(np.float32)
    for bn, T in ((th, torch.tensor), (mine, Tensor)):
        bn(T(x))
        bn(T(x))
        bn.reset_running_stats()
    mine.weight.data[...] = 2.0
    with torch.no_grad():
        th.weight.fill_(2.0)
    mine.reset_running_stats()
    th.reset_running_stats()
    for name in ("running_mean", "running_var", "num_batches_tracked", "weight"):
        np.testing.assert_array_equal(getattr(mine, name).data, getattr(th, name).detach().numpy(), err_msg=name)


def test_multihead_attention_private_reset_is_torchs():
    """PyTorch's MultiheadAttention has only `_reset_parameters` (Xavier q/k/v, zero biases)."""
    torch.manual_seed(0)
    np.random.seed(0)
    theirs, ours = torch.nn.MultiheadAttention(400, 4), tnn.MultiheadAttention(400, 4)
    q = ours.q_proj.weight
    for p in ours.parameters():
        p.data[...] = 1.0
    ours._reset_parameters()
    assert ours.q_proj.weight is q
    qkv = np.concatenate([m.weight.data for m in (ours.q_proj, ours.k_proj, ours.v_proj)])
    _same_distribution("in_proj_weight", qkv, theirs.in_proj_weight.detach().numpy())
    assert np.all(ours.q_proj.bias.data == 0) and np.all(ours.out_proj.bias.data == 0)


# -- backward hooks ----------------------------------------------------------------------------

def _lib(name):
    if name == "torch":
        return SimpleNamespace(nn=torch.nn, T=lambda v, rg=False: torch.tensor(np.asarray(v, np.float32),
                                                                             requires_grad=rg))
    return SimpleNamespace(nn=tnn, T=lambda v, rg=False: Tensor(np.asarray(v, np.float32), requires_grad=rg))


def _np(value):
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        return tuple(_np(v) for v in value)
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    return value.data if isinstance(value, Tensor) else value


def _assert_same(a, b, where=""):
    if isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), (where, a, b)
        for k, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{k}]")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), (where, a, b)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=where)
    else:
        assert a == b, (where, a, b)


def same(build):
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        ours, theirs = build(_lib("tiny")), build(_lib("torch"))
    _assert_same(ours, theirs)


def _linear(lib, i, o, seed):
    layer = lib.nn.Linear(i, o)
    rng = np.random.default_rng(seed)
    w, b = rng.normal(size=(o, i)).astype(np.float32), rng.normal(size=o).astype(np.float32)
    if isinstance(layer.weight, torch.Tensor):
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(w))
            layer.bias.copy_(torch.tensor(b))
    else:
        layer.weight.data[...], layer.bias.data[...] = w, b
    return layer


X = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
UP = np.arange(8, dtype=np.float32).reshape(4, 2) - 3  # the upstream gradient of a (4, 2) output


def test_linear_pre_hooks_then_hooks_in_registration_order_with_torchs_values():
    def build(lib):
        layer, log = _linear(lib, 3, 2, 0), []
        for k in (1, 2):
            layer.register_full_backward_pre_hook(lambda m, g_out, k=k: log.append((f"pre{k}", m is layer, _np(g_out))))
            layer.register_full_backward_hook(lambda m, g_in, g_out, k=k: log.append((f"hook{k}", _np(g_in), _np(g_out))))
        x = lib.T(X, True)
        (layer(x) * lib.T(UP)).sum().backward()
        return log, _np(x.grad), _np(layer.weight.grad), _np(layer.bias.grad)

    same(build)


def test_two_inputs_one_needing_no_gradient_and_a_number():
    def build(lib):
        log = []

        class Scale(lib.nn.Module):
            def forward(self, a, b, s):
                return a * b * s

        m = Scale()
        m.register_full_backward_hook(lambda mod, g_in, g_out: log.append((_np(g_in), _np(g_out))))
        a, b = lib.T([1.0, 2.0], True), lib.T([3.0, 4.0])
        (m(a, b, 3.0) * lib.T([1.0, 10.0])).sum().backward()
        return log, _np(a.grad)

    same(build)


def test_replaced_grad_input_reaches_the_layers_before():
    def build(lib):
        first, second = _linear(lib, 3, 3, 1), _linear(lib, 3, 2, 2)
        second.register_full_backward_hook(lambda m, g_in, g_out: (g_in[0] * 2 + 1,))
        x = lib.T(X, True)
        (second(first(x)) * lib.T(UP)).sum().backward()
        return _np(first.weight.grad), _np(x.grad), _np(second.weight.grad)

    same(build)


def test_replaced_grad_output_changes_the_hook_and_every_gradient_below():
    def build(lib):
        layer, log = _linear(lib, 3, 2, 3), []
        layer.register_full_backward_pre_hook(lambda m, g_out: (g_out[0] * 3,))
        layer.register_full_backward_pre_hook(lambda m, g_out: log.append(("pre", _np(g_out))))
        layer.register_full_backward_hook(lambda m, g_in, g_out: log.append(("hook", _np(g_in), _np(g_out))))
        x = lib.T(X, True)
        (layer(x) * lib.T(UP)).sum().backward()
        return log, _np(x.grad), _np(layer.weight.grad), _np(layer.bias.grad)

    same(build)


def test_removed_hooks_stop_firing():
    def build(lib):
        layer, log = _linear(lib, 3, 2, 4), []
        pre = layer.register_full_backward_pre_hook(lambda m, g_out: log.append("pre"))
        hook = layer.register_full_backward_hook(lambda m, g_in, g_out: (g_in[0] * 0,))
        layer.register_full_backward_hook(lambda m, g_in, g_out: log.append(("kept", _np(g_in))))
        x = lib.T(X, True)
        layer(x).sum().backward()
        pre.remove()
        hook.remove()
        hook.remove()  # twice: nothing more
        x.grad = None
        layer(x).sum().backward()
        return log, _np(x.grad)

    same(build)


def test_tuple_output_with_an_unused_output_and_an_unused_input():
    def build(lib):
        log = []

        class Split(lib.nn.Module):
            def forward(self, a, c):
                return a * 2, a * 3, 5

        m = Split()
        m.register_full_backward_pre_hook(lambda mod, g_out: log.append(("pre", _np(g_out))))
        m.register_full_backward_hook(lambda mod, g_in, g_out: log.append(("hook", _np(g_in), _np(g_out))))
        a, c = lib.T([1.0, 2.0], True), lib.T([1.0], True)
        first, _, number = m(a, c)
        (first * lib.T([1.0, 5.0])).sum().backward()
        return log, number, _np(a.grad), _np(c.grad)

    same(build)


def test_module_called_twice_fires_once_per_call_latest_first():
    def build(lib):
        layer, log = _linear(lib, 2, 2, 5), []
        layer.register_full_backward_pre_hook(lambda m, g_out: log.append(("pre", _np(g_out))))
        layer.register_full_backward_hook(lambda m, g_in, g_out: log.append(("hook", _np(g_in), _np(g_out))))
        x = lib.T([[0.5, -1.0], [2.0, 1.0]], True)
        (layer(layer(x)) * lib.T([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
        return log, _np(x.grad), _np(layer.weight.grad)

    same(build)


def test_input_needing_no_gradient_fires_at_the_outputs_with_a_warning():
    def build(lib):
        layer, log = _linear(lib, 3, 2, 6), []
        layer.register_full_backward_hook(lambda m, g_in, g_out: log.append((_np(g_in), _np(g_out))))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            (layer(lib.T(X)) * lib.T(UP)).sum().backward()
        log.append(any("no inputs require gradients" in str(w.message) for w in caught))
        return log, _np(layer.weight.grad)

    same(build)


def test_wrong_number_of_gradients_is_an_error_in_both():
    for hook_kind, bad in (("register_full_backward_hook", lambda m, g_in, g_out: (g_in[0], g_in[0])),
                           ("register_full_backward_pre_hook", lambda m, g_out: (g_out[0], g_out[0]))):
        for lib in (_lib("tiny"), _lib("torch")):
            layer = _linear(lib, 3, 2, 7)
            getattr(layer, hook_kind)(bad)
            with pytest.raises(RuntimeError, match="invalid number of grad_"):
                layer(lib.T(X, True)).sum().backward()


def test_no_hooks_no_cost_and_no_nodes_under_no_grad():
    layer = tnn.Linear(3, 2)
    x = Tensor(X, requires_grad=True)
    assert "_forward_hooks" not in vars(layer) and layer(x)._ctx.function.__name__ == "LinearOp"
    layer.register_forward_hook(lambda m, args, out: None)
    assert layer(x)._ctx.function.__name__ == "LinearOp", "forward hooks add no backward node"
    calls = []
    layer.register_full_backward_hook(lambda m, g_in, g_out: calls.append(1))
    from tinytorch.core.autograd import no_grad

    with no_grad():
        assert not layer(x).requires_grad
    out = layer(x)
    assert out._ctx.function.__name__ != "LinearOp"
    out.sum().backward()
    assert calls == [1]


def test_deprecated_register_backward_hook_is_the_full_one():
    layer, seen = tnn.Linear(3, 2), []
    layer.register_backward_hook(lambda m, g_in, g_out: seen.append(len(g_in)))
    layer(Tensor(X, requires_grad=True)).sum().backward()
    assert seen == [1]


@pytest.mark.xfail(strict=True, reason="known difference: register_backward_hook is an alias of the full hook; "
                                       "PyTorch's deprecated hook sees the gradients of the last operation's inputs")
def test_deprecated_backward_hook_sees_what_torchs_sees():
    def build(lib):
        layer, seen = _linear(lib, 3, 2, 8), []
        layer.register_backward_hook(lambda m, g_in, g_out: seen.append(len(g_in)))
        layer(lib.T(X, True)).sum().backward()
        return seen

    same(build)
