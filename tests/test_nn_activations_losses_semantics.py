"""PyTorch's remaining activations, losses and layers in tinytorch.nn (module 03, given): PReLU,
SELU, CELU, Softsign, Tanhshrink, Hardshrink, Softshrink, RReLU; SoftMarginLoss,
MultiLabelSoftMarginLoss, MultiMarginLoss, MultiLabelMarginLoss, PoissonNLLLoss, GaussianNLLLoss;
Bilinear, gumbel_softmax, ChannelShuffle.

Each case is written once against the shared names of ``nn`` and ``F`` and run with both
libraries: the values (float64 and float32), the gradients of every input and parameter, the
kinks, the reprs and the errors must be PyTorch's; finite differences check every gradient in
float64 as well. Random draws (RReLU in training, Gumbel noise) are checked by their range and
by the gradient identities, not against PyTorch's random numbers.
"""

import math
import warnings

import numpy as np
import pytest

import tinytorch
import tinytorch.nn as nn
import tinytorch.nn.functional as F
from gradcheck import assert_gradients_match, assert_matches_torch, normal, torch
from tinytorch.core.tensor import Tensor


def _libraries(th):
    return (nn, F), (th.nn, th.nn.functional)


def _run_both(case, arrays, dtype=np.float64, atol=1e-10, rtol=1e-7):
    """``case(nn, F, *tensors)`` with tinytorch and with PyTorch: same values, and tinytorch keeps the dtype."""
    th = torch()
    arrays = [np.asarray(a) for a in arrays]
    arrays = [a.astype(dtype) if np.issubdtype(a.dtype, np.floating) else a for a in arrays]
    mine = case(nn, F, *[Tensor(a, dtype=a.dtype) for a in arrays])
    theirs = case(th.nn, th.nn.functional, *[th.tensor(a) for a in arrays])
    assert mine.dtype == dtype, f"{dtype.__name__} in, {mine.dtype} out"
    assert mine.shape == tuple(theirs.shape)
    np.testing.assert_allclose(mine.data, theirs.detach().numpy(), atol=atol, rtol=rtol)
    return mine


def _check_case(case, arrays, finite_differences=True, atol=1e-8):
    """float64 values and gradients against PyTorch, float32 values, and finite differences."""
    assert_matches_torch(lambda *t: case(nn, F, *t), lambda *t: case(torch().nn, torch().nn.functional, *t),
                         *arrays, atol=atol, rtol=1e-7)
    _run_both(case, arrays, np.float32, atol=1e-5, rtol=1e-5)
    if finite_differences:
        assert_gradients_match(lambda *t: case(nn, F, *t), *arrays, atol=1e-5)


def _both_raise(error, case, *arrays):
    """PyTorch and tinytorch refuse the same call with the same exception type."""
    th = torch()
    for (n, f), wrap in zip(_libraries(th), (lambda a: Tensor(a, dtype=np.asarray(a).dtype), th.tensor)):
        with pytest.raises(error):
            case(n, f, *[wrap(np.asarray(a)) for a in arrays])


# ---------------------------------------------------------------- activations

KINKS = np.array([-2.0, -0.5, -0.3, -0.0, 0.0, 0.3, 0.5, 2.0])

ACTIVATIONS = {  # name: (case(nn, F, *inputs), input arrays)
    "prelu_one_weight": (lambda nn, F, x, w: F.prelu(x, w), lambda x: (x, np.array([0.3]))),
    "prelu_per_channel": (lambda nn, F, x, w: F.prelu(x.reshape(2, 4, 1), w) * 1.5,
                          lambda x: (x, np.array([0.3, -0.2, 1.5, 0.05]))),
    "prelu_unbatched": (lambda nn, F, x, w: F.prelu(x, w), lambda x: (x, np.array(-0.4))),
    "selu": (lambda nn, F, x: nn.SELU()(x * 2) + F.selu(x), lambda x: (x,)),
    "celu": (lambda nn, F, x: nn.CELU(0.7)(x * 2) + F.celu(x, 2.0), lambda x: (x,)),
    "softsign": (lambda nn, F, x: nn.Softsign()(x * 3) + F.softsign(x), lambda x: (x,)),
    "tanhshrink": (lambda nn, F, x: nn.Tanhshrink()(x * 2) + F.tanhshrink(x), lambda x: (x,)),
    "hardshrink": (lambda nn, F, x: nn.Hardshrink()(x) + F.hardshrink(x, 0.3) * 2, lambda x: (x,)),
    "softshrink": (lambda nn, F, x: nn.Softshrink(0.3)(x) + F.softshrink(x) * 2, lambda x: (x,)),
    "rrelu_eval": (lambda nn, F, x: nn.RReLU(0.1, 0.4).eval()(x) + F.rrelu(x * 2, 0.2, 0.3), lambda x: (x,)),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activations_match_torch_float64_float32_and_finite_differences(name):
    case, inputs = ACTIVATIONS[name]
    _check_case(case, inputs(normal(8)))


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activations_match_torch_at_their_kinks(name):
    """Exactly at 0 and at |x| == lambd: PyTorch's value and PyTorch's choice of gradient (rtol 1e-7: PyTorch's
    CELU gradient carries a rounding of 1/alpha, 1.00000002 at 0 for alpha = 0.7)."""
    case, inputs = ACTIVATIONS[name]
    assert_matches_torch(lambda *t: case(nn, F, *t), lambda *t: case(torch().nn, torch().nn.functional, *t),
                         *inputs(KINKS), atol=1e-12, rtol=1e-7)


def test_shrink_kinks_by_hand():
    x = Tensor(np.array([-0.5, 0.5, 0.50001, 0.0]), dtype=np.float64, requires_grad=True)
    out = F.hardshrink(x) + F.softshrink(x)
    np.testing.assert_allclose(out.data, [0.0, 0.0, 0.50001 + 0.00001, 0.0])
    out.sum().backward()
    np.testing.assert_allclose(x.grad.data, [0.0, 0.0, 2.0, 0.0])


def test_prelu_layer_weights_state_dict_repr_and_gradients_match_torch():
    th = torch()
    ours, theirs = nn.PReLU(3, init=0.1), th.nn.PReLU(3, init=0.1)
    assert list(ours.state_dict()) == ["weight"] == list(theirs.state_dict())
    assert ours.weight.shape == (3,) and ours.weight.dtype == np.float32 and np.allclose(ours.weight.data, 0.1)
    assert repr(ours) == repr(theirs) and repr(nn.PReLU()) == repr(th.nn.PReLU())
    assert [n for n, _ in ours.named_parameters()] == ["weight"]
    ours.double()
    theirs.double()
    with th.no_grad():
        ours.weight.data = np.array([0.1, -0.3, 0.7])
        theirs.weight.copy_(th.tensor(ours.weight.data))
    x = normal(2, 3, 4, 5)
    mine, ref = Tensor(x, dtype=np.float64, requires_grad=True), th.tensor(x, requires_grad=True)
    w = np.random.default_rng(1).normal(size=x.shape)
    (ours(mine) * Tensor(w, dtype=np.float64)).sum().backward()
    (theirs(ref) * th.tensor(w)).sum().backward()
    np.testing.assert_allclose(mine.grad.data, ref.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), atol=1e-12)
    one = nn.PReLU()
    out = one(Tensor(np.float32([[-1.0, 2.0]])))
    assert out.dtype == np.float32 and np.allclose(out.data, [[-0.25, 2.0]])


def test_activation_reprs_match_torch():
    th = torch()
    for make in (lambda n: n.SELU(), lambda n: n.SELU(inplace=True), lambda n: n.CELU(0.7),
                 lambda n: n.CELU(inplace=True), lambda n: n.Softsign(), lambda n: n.Tanhshrink(),
                 lambda n: n.Hardshrink(), lambda n: n.Softshrink(0.3),
                 lambda n: n.RReLU(), lambda n: n.RReLU(0.1, 0.4, inplace=True), lambda n: n.PReLU(4)):
        assert repr(make(nn)) == repr(make(th.nn))


def test_rrelu_training_draws_one_slope_per_negative_element_from_tinytorchs_generator():
    x = -np.abs(normal(4000)) - 0.1
    x[::2] *= -1.0  # half positive
    layer = nn.RReLU(0.1, 0.3)
    assert layer.training
    tinytorch.manual_seed(3)
    inputs = Tensor(x, dtype=np.float64, requires_grad=True)
    out = layer(inputs)
    out.sum().backward()
    slopes = out.data / x
    negative = x < 0
    assert np.all(slopes[~negative] == 1.0) and np.all(inputs.grad.data[~negative] == 1.0)
    assert np.all((slopes[negative] >= 0.1) & (slopes[negative] <= 0.3))
    assert abs(slopes[negative].mean() - 0.2) < 0.01 and slopes[negative].std() > 0.05, "uniform on [0.1, 0.3]"
    np.testing.assert_allclose(inputs.grad.data, slopes, rtol=1e-12), "the gradient is each element's slope"
    tinytorch.manual_seed(3)
    np.testing.assert_array_equal(F.rrelu(Tensor(x, dtype=np.float64), 0.1, 0.3, training=True).data, out.data)
    assert layer(Tensor(np.float32(x))).dtype == np.float32
    layer.eval()
    np.testing.assert_allclose(layer(Tensor(x, dtype=np.float64)).data, np.where(negative, 0.2 * x, x))


@pytest.mark.parametrize("error, case, arrays", [
    (RuntimeError, lambda nn, F, x, w: F.prelu(x, w), (np.ones((2, 3)), np.ones(4))),
    (RuntimeError, lambda nn, F, x, w: F.prelu(x, w), (np.ones(3), np.ones(3))),
    (RuntimeError, lambda nn, F, x, w: F.prelu(x, w), (np.ones((2, 3)), np.ones((1, 3)))),
    (RuntimeError, lambda nn, F, x: F.softshrink(x, -1.0), (np.ones(3),)),
    (RuntimeError, lambda nn, F, x: F.celu(x, 0.0), (np.ones(3),)),
    (RuntimeError, lambda nn, F, x: F.rrelu(x, 0.5, 0.1), (np.ones(3),)),
    (RuntimeError, lambda nn, F, x: nn.RReLU(0.5, 0.1)(x), (np.ones(3),)),
])
def test_activation_errors_match_torch(error, case, arrays):
    _both_raise(error, case, *arrays)


# ---------------------------------------------------------------- losses

def _const(n, array):
    """A constant (no gradient) in the library that ``n`` (tinytorch's or PyTorch's nn) belongs to."""
    array = np.asarray(array)
    return Tensor(array, dtype=array.dtype) if n is nn else torch().tensor(array)


def _like(n, array, x):
    """A constant of ``x``'s floating dtype, in ``x``'s library."""
    return Tensor(np.asarray(array), dtype=x.dtype) if n is nn else torch().tensor(np.asarray(array), dtype=x.dtype)


_rng = np.random.default_rng(7)
_LABELS = np.array([2, 0, 4, 4])
_MULTI_LABELS = np.array([[3, 0, -1, 2, 2], [1, 1, 4, -1, -1], [-1, 0, 1, 2, 3], [0, 1, 2, 3, 4]])
_SIGNS = np.sign(normal(4, 3))
_COUNTS = np.array([[0.0, 1.0, 2.0], [5.0, 3.0, 0.0], [1.0, 7.0, 2.0], [0.0, 0.0, 4.0]])

LOSSES = {  # name: (case(nn, F, reduction, *inputs), input arrays, finite differences?)
    "soft_margin": (lambda nn, F, r, x: nn.SoftMarginLoss(reduction=r)(x * 3, _like(nn, _SIGNS, x))
                    + F.soft_margin_loss(x, _like(nn, _SIGNS, x), reduction=r), (normal(4, 3),), True),
    "multilabel_soft_margin": (lambda nn, F, r, x, y, w: nn.MultiLabelSoftMarginLoss(reduction=r)(x * 3, y)
                               + F.multilabel_soft_margin_loss(x, y, weight=w, reduction=r),
                               (normal(4, 3), _rng.uniform(size=(4, 3)), _rng.uniform(0.5, 2, size=3)), True),
    "multilabel_soft_margin_unbatched": (lambda nn, F, r, x, y: nn.MultiLabelSoftMarginLoss(reduction=r)(x, y),
                                         (normal(5), (normal(5) > 0).astype(float)), True),
    "multi_margin": (lambda nn, F, r, x: nn.MultiMarginLoss(reduction=r)(x, _const(nn, _LABELS))
                     + F.multi_margin_loss(x * 2, _const(nn, _LABELS), p=2, margin=0.7,
                                           weight=_like(nn, [0.5, 1.0, 2.0, 1.5, 3.0], x), reduction=r),
                     (normal(4, 5),), True),
    "multi_margin_unbatched": (lambda nn, F, r, x: nn.MultiMarginLoss(margin=2.0, reduction=r)(
                               x, _const(nn, np.int64(3))) + F.multi_margin_loss(x, _const(nn, [1]), reduction=r),
                               (normal(5),), True),
    "multilabel_margin": (lambda nn, F, r, x: nn.MultiLabelMarginLoss(reduction=r)(x, _const(nn, _MULTI_LABELS))
                          + F.multilabel_margin_loss(x * 0.3, _const(nn, _MULTI_LABELS), reduction=r),
                          (normal(4, 5),), True),
    "multilabel_margin_unbatched": (
        lambda nn, F, r, x: F.multilabel_margin_loss(x, _const(nn, [2, 0, -1, 1]), reduction=r), (normal(4),), True),
    # the counts are constants: PyTorch's gradient of a count of 0 is nan with full=True (log 0 · 0), ours 0
    "poisson_log_input": (lambda nn, F, r, x: nn.PoissonNLLLoss(reduction=r)(x, _like(nn, _COUNTS, x))
                          + F.poisson_nll_loss(x * 0.5, _like(nn, _COUNTS, x), full=True, reduction=r),
                          (normal(4, 3),), True),
    "poisson_rates": (lambda nn, F, r, x: nn.PoissonNLLLoss(log_input=False, full=True, eps=1e-3, reduction=r)(
                      x, _like(nn, _COUNTS, x)) + F.poisson_nll_loss(x * 2, _like(nn, _COUNTS, x), log_input=False,
                                                                    reduction=r),
                      (_rng.uniform(0.1, 3, size=(4, 3)),), True),
    "poisson_count_gradients": (lambda nn, F, r, x, y: F.poisson_nll_loss(x, y, full=True, reduction=r),
                                (normal(4, 3), _COUNTS + 0.5), True),
    "gaussian": (lambda nn, F, r, x, y, v: nn.GaussianNLLLoss(reduction=r)(x, y, v)
                 + F.gaussian_nll_loss(x * 2, y, v * 3, full=True, reduction=r),
                 (normal(4, 3), normal(4, 3), _rng.uniform(0.2, 2, size=(4, 3))), True),
    "gaussian_one_variance_per_row": (lambda nn, F, r, x, y, v: F.gaussian_nll_loss(x, y, v, reduction=r),
                                      (normal(4, 3), normal(4, 3), _rng.uniform(0.2, 2, size=4)), True),
    "gaussian_variance_broadcast_on_one_dim": (
        lambda nn, F, r, x, y, v, u: F.gaussian_nll_loss(x, y, v, reduction=r)
        + F.gaussian_nll_loss(x, y, u, reduction=r),
        (normal(4, 3), normal(4, 3), _rng.uniform(0.2, 2, size=(4, 1)), _rng.uniform(0.2, 2, size=(1, 3))), True),
    "gaussian_target_broadcast_and_float_variance": (
        lambda nn, F, r, x, y: nn.GaussianNLLLoss(full=True, reduction=r)(x, y, 0.7),
        (normal(4, 3), normal(1, 3)), True),
    "gaussian_variance_clamped_keeps_its_gradient": (
        lambda nn, F, r, x, y, v: F.gaussian_nll_loss(x, y, v, eps=0.3, reduction=r),
        (normal(4, 3), normal(4, 3), np.r_[0.0, 1e-9, 0.05, 0.29, 0.31, _rng.uniform(0.01, 1, size=7)].reshape(4, 3)),
        False),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", LOSSES)
def test_losses_match_torch_float64_float32_and_finite_differences(name, reduction):
    case, arrays, finite_differences = LOSSES[name]
    _check_case(lambda n, f, *t: case(n, f, reduction, *t), arrays, finite_differences)


def test_loss_kinks_match_torch():
    """Exactly at the hinge (margin - x_y + x_i = 0) the gradient is 0, as PyTorch's."""
    x = np.array([[1.0, 0.0, 0.5], [0.0, 2.0, 1.0]])
    case = lambda n, f, x: (f.multi_margin_loss(x, _const(n, [0, 1]), reduction="none")  # noqa: E731
                            + f.multilabel_margin_loss(x, _const(n, [[0, -1, 0], [1, 2, -1]]), reduction="none"))
    assert_matches_torch(lambda t: case(nn, F, t), lambda t: case(torch().nn, torch().nn.functional, t), x,
                         atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("loss", ["multi_margin", "multilabel_margin", "multilabel_soft_margin"])
@pytest.mark.parametrize("target_shape", [(), (1,)])
def test_unbatched_losses_without_reduction_have_torchs_shape(loss, target_shape):
    th = torch()
    x = normal(3)
    if loss == "multi_margin":
        target = np.full(target_shape, 1, dtype=np.int64)
    else:
        target = np.array([1, -1, 0]) if loss == "multilabel_margin" else np.array([1.0, 0.0, 1.0])
        x = x[None] if target_shape else x
        target = target[None] if target_shape else target
    mine = getattr(F, loss + "_loss")(Tensor(x, dtype=np.float64), _const(nn, target), reduction="none")
    theirs = getattr(th.nn.functional, loss + "_loss")(th.tensor(x), th.tensor(target), reduction="none")
    assert mine.shape == tuple(theirs.shape)
    np.testing.assert_allclose(mine.data, theirs.numpy(), atol=1e-12)


def test_losses_by_hand_where_torch_would_overflow():
    big = F.soft_margin_loss(Tensor(np.float32([-200.0, 100.0])), np.float32([1.0, -1.0]), reduction="none")
    assert big.dtype == np.float32 and np.allclose(big.data, [200.0, 100.0]), "softplus: finite, no exp(200)"


def test_loss_modules_keep_weight_buffers_and_reprs_like_torch():
    th = torch()
    for make in (lambda n: n.MultiMarginLoss(weight=_const(n, np.float32([1.0, 2.0]))),
                 lambda n: n.MultiLabelSoftMarginLoss(weight=_const(n, np.float32([1.0, 2.0])))):
        ours, theirs = make(nn), make(th.nn)
        assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
        assert ours.state_dict()["weight"].shape == tuple(theirs.state_dict()["weight"].shape)
    for make in (lambda n: n.SoftMarginLoss(), lambda n: n.MultiLabelMarginLoss(), lambda n: n.PoissonNLLLoss(),
                 lambda n: n.GaussianNLLLoss(), lambda n: n.MultiMarginLoss()):
        assert repr(make(nn)) == repr(make(th.nn))
        assert make(nn).reduction == "mean"
    assert nn.PoissonNLLLoss().log_input and not nn.PoissonNLLLoss().full and nn.PoissonNLLLoss().eps == 1e-8
    assert nn.GaussianNLLLoss().eps == 1e-6 and nn.MultiMarginLoss().p == 1 and nn.MultiMarginLoss().margin == 1.0
    with pytest.raises(TypeError):
        nn.GaussianNLLLoss(True)  # keyword-only, as PyTorch's


_X, _Y = normal(2, 3), np.ones((2, 3))


@pytest.mark.parametrize("error, case, arrays", [
    (ValueError, lambda nn, F, x: F.multi_margin_loss(x, _const(nn, [0, 1]), p=3), (_X,)),
    (ValueError, lambda nn, F, x: nn.MultiMarginLoss(p=3), (_X,)),
    (ValueError, lambda nn, F, x: F.multi_margin_loss(x, _const(nn, [0, 1]), weight=_const(nn, np.ones((1, 3)))),
     (_X,)),
    (RuntimeError, lambda nn, F, x: F.multi_margin_loss(x.reshape(2, 3, 1), _const(nn, [0, 1])), (_X,)),
    (RuntimeError, lambda nn, F, x: F.multilabel_margin_loss(x, _const(nn, [[0, 3, -1], [0, -1, 0]])), (_X,)),
    (RuntimeError, lambda nn, F, x: F.multilabel_margin_loss(x, _const(nn, [[0, -2, -1], [0, -1, 0]])), (_X,)),
    (RuntimeError, lambda nn, F, x: F.multilabel_margin_loss(x, _const(nn, [[0, -1], [0, -1]])), (_X,)),
    (ValueError, lambda nn, F, x, y: F.gaussian_nll_loss(x, y, -_const(nn, np.ones((2, 3)))), (_X, _Y)),
    (ValueError, lambda nn, F, x, y: F.gaussian_nll_loss(x, y, -1.0), (_X, _Y)),
    (ValueError, lambda nn, F, x, y: F.gaussian_nll_loss(x, y, _const(nn, np.ones(3))), (_X, _Y)),
    (ValueError, lambda nn, F, x, y: F.gaussian_nll_loss(x, y, _const(nn, np.ones((2, 3, 1)))), (_X, _Y)),
    (ValueError, lambda nn, F, x, y: F.gaussian_nll_loss(x, y, _const(nn, np.ones((1, 1)))), (_X, _Y)),
    (ValueError, lambda nn, F, x, y: F.gaussian_nll_loss(x, y, _const(nn, np.ones((2, 3))), reduction="batchmean"),
     (_X, _Y)),
    (ValueError, lambda nn, F, x, y: F.soft_margin_loss(x, y, reduction="average"), (_X, _Y)),
])
def test_loss_errors_match_torch(error, case, arrays):
    _both_raise(error, case, *arrays)


def test_loss_errors_of_our_own():
    """Where PyTorch broadcasts a target silently or raises a different type, the module's rules."""
    x = Tensor(np.zeros((3, 1)))
    for loss in (F.soft_margin_loss, F.multilabel_soft_margin_loss, F.poisson_nll_loss):
        with pytest.raises(ValueError, match="shape"):
            loss(x, np.zeros(3))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        F.multi_margin_loss(Tensor(np.zeros((2, 3))), np.array([0, 3]))
    with pytest.raises(NotImplementedError, match="deprecated"):
        F.multi_margin_loss(Tensor(np.zeros((2, 3))), np.array([0, 2]), size_average=True)


# ---------------------------------------------------------------- Bilinear, gumbel_softmax, ChannelShuffle

BILINEAR = {  # name: (case, arrays)
    "batch": (lambda nn, F, a, b, w, c: F.bilinear(a, b, w, c),
              (normal(4, 3), normal(4, 2), normal(5, 3, 2), normal(5))),
    "more_dims_without_bias": (lambda nn, F, a, b, w: F.bilinear(a, b, w),
                               (normal(2, 3, 3), normal(2, 3, 4), normal(2, 3, 4))),
    "unbatched": (lambda nn, F, a, b, w, c: F.bilinear(a, b, w, c), (normal(3), normal(2), normal(4, 3, 2), normal(4))),
}


@pytest.mark.parametrize("name", BILINEAR)
def test_bilinear_matches_torch_float64_float32_and_finite_differences(name):
    case, arrays = BILINEAR[name]
    _check_case(case, arrays)


def test_bilinear_layer_init_parameters_and_gradients_like_torch():
    th = torch()
    np.random.seed(0)  # the statistics below hold for any draw within ~4 standard errors; fixed for repeatability
    ours, theirs = nn.Bilinear(16, 3, 200), th.nn.Bilinear(16, 3, 200)
    assert repr(ours) == repr(theirs)
    shapes = [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert [(n, p.shape) for n, p in ours.named_parameters()] == shapes
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    assert ours.weight.dtype == np.float32 and ours.bias.dtype == np.float32
    for p in (ours.weight.data, ours.bias.data):  # uniform(-1/sqrt(in1), 1/sqrt(in1)) = uniform(-0.25, 0.25)
        tolerance = 4 * 0.25 / math.sqrt(3) * math.sqrt(0.8 / (4 * p.size))  # 4 standard errors of a uniform's std
        assert np.all(np.abs(p) <= 0.25) and np.abs(p).max() > 0.24 and abs(p.std() - 0.25 / math.sqrt(3)) < tolerance
    no_bias = nn.Bilinear(2, 3, 4, bias=False)
    assert no_bias.bias is None
    assert list(no_bias.state_dict()) == ["weight"] == list(th.nn.Bilinear(2, 3, 4, bias=False).state_dict())
    small_ours, small_theirs = nn.Bilinear(3, 2, 4).double(), th.nn.Bilinear(3, 2, 4).double()
    with th.no_grad():
        for (_, mine), (_, ref) in zip(small_ours.named_parameters(), small_theirs.named_parameters()):
            ref.copy_(th.tensor(mine.data))
    a, b = normal(5, 3), normal(5, 2)
    ta, tb = Tensor(a, dtype=np.float64, requires_grad=True), Tensor(b, dtype=np.float64, requires_grad=True)
    ra, rb = th.tensor(a, requires_grad=True), th.tensor(b, requires_grad=True)
    out, ref_out = small_ours(ta, tb), small_theirs(ra, rb)
    np.testing.assert_allclose(out.data, ref_out.detach().numpy(), atol=1e-12)
    w = np.random.default_rng(2).normal(size=out.shape)
    (out * Tensor(w, dtype=np.float64)).sum().backward()
    (ref_out * th.tensor(w)).sum().backward()
    for mine, ref in [(ta, ra), (tb, rb)] + [(p, q) for (_, p), (_, q) in zip(small_ours.named_parameters(),
                                                                             small_theirs.named_parameters())]:
        np.testing.assert_allclose(mine.grad.data, ref.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("error, case, arrays", [
    (RuntimeError, lambda nn, F, a, b, w: F.bilinear(a, b, w), (np.ones((2, 3)), np.ones((3, 2)), np.ones((4, 3, 2)))),
    (RuntimeError, lambda nn, F, a, b, w: F.bilinear(a, b, w), (np.ones((2, 2)), np.ones((2, 2)), np.ones((4, 3, 2)))),
    (RuntimeError, lambda nn, F, a, b, w: F.bilinear(a, b, w), (np.ones((2, 3)), np.ones((2, 3)), np.ones((4, 3, 2)))),
    (RuntimeError, lambda nn, F, a, b, w: F.bilinear(a, b, w),
     (np.ones((2, 3)), np.ones((1, 2, 2)), np.ones((4, 3, 2)))),
    (RuntimeError, lambda nn, F, a, b, w, c: F.bilinear(a, b, w, c),
     (np.ones((2, 3)), np.ones((2, 2)), np.ones((4, 3, 2)), np.ones(3))),
    (ValueError, lambda nn, F, a: nn.Bilinear(0, 2, 3), (np.ones(1),)),
])
def test_bilinear_errors_match_torch(error, case, arrays):
    _both_raise(error, case, *arrays)


def _softmax_rows(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gumbel_softmax_soft_sample_and_its_gradient(dtype):
    logits_array = normal(6, 5).astype(dtype)
    logits = Tensor(logits_array, dtype=dtype, requires_grad=True)
    tinytorch.manual_seed(4)
    y = F.gumbel_softmax(logits, tau=0.7)
    assert y.dtype == dtype and y.shape == (6, 5)
    np.testing.assert_allclose(y.data.sum(axis=-1), 1.0, rtol=1e-6)
    tinytorch.manual_seed(4)
    np.testing.assert_array_equal(F.gumbel_softmax(Tensor(logits_array, dtype=dtype), tau=0.7).data, y.data)
    assert not np.allclose(F.gumbel_softmax(Tensor(logits_array, dtype=dtype), tau=0.7).data, y.data), "new noise"
    assert not np.allclose(y.data, _softmax_rows(logits_array / 0.7)), "noise was added"
    weights = np.random.default_rng(5).normal(size=y.shape)
    (y * Tensor(weights, dtype=dtype)).sum().backward()
    s = y.data.astype(np.float64)  # d/dz Σ w·softmax(z/τ) = s·(w - Σ w·s) / τ, whatever the noise
    expected = s * (weights - (weights * s).sum(axis=-1, keepdims=True)) / 0.7
    np.testing.assert_allclose(logits.grad.data, expected, atol=1e-5 if dtype == np.float32 else 1e-12)


def test_gumbel_softmax_hard_is_one_hot_forward_and_soft_backward():
    th = torch()
    logits_array = normal(4, 6)
    weights = np.random.default_rng(6).normal(size=logits_array.shape)
    samples, gradients = {}, {}
    for hard in (False, True):
        logits = Tensor(logits_array, dtype=np.float64, requires_grad=True)
        tinytorch.manual_seed(9)
        samples[hard] = F.gumbel_softmax(logits, tau=2.0, hard=hard)
        (samples[hard] * Tensor(weights, dtype=np.float64)).sum().backward()
        gradients[hard] = logits.grad.data
    soft = samples[False]
    np.testing.assert_allclose(samples[True].data, np.eye(6)[soft.data.argmax(axis=-1)], atol=1e-15)
    np.testing.assert_allclose(gradients[True], gradients[False], atol=1e-15), "straight through: the soft gradient"
    # the soft gradient is PyTorch's softmax gradient at the same noisy logits (noise = τ·log y_soft - logits + const)
    noisy = th.tensor(np.log(soft.data) * 2.0, requires_grad=True)
    (th.softmax(noisy / 2.0, dim=-1) * th.tensor(weights)).sum().backward()
    np.testing.assert_allclose(gradients[False], noisy.grad.numpy(), atol=1e-10)
    columns = F.gumbel_softmax(Tensor(logits_array.T, dtype=np.float64), hard=True, dim=0)
    np.testing.assert_array_equal(columns.data.sum(axis=0), 1.0)


def test_gumbel_softmax_samples_the_softmax_distribution_and_warns_on_eps():
    probabilities = np.array([0.1, 0.2, 0.3, 0.4])
    logits = Tensor(np.tile(np.log(probabilities), (20000, 1)), dtype=np.float64)
    tinytorch.manual_seed(0)
    frequencies = F.gumbel_softmax(logits, tau=0.3, hard=True).data.mean(axis=0)
    np.testing.assert_allclose(frequencies, probabilities, atol=0.015), "argmax of logits + Gumbel ~ softmax(logits)"
    with pytest.warns(UserWarning, match="deprecated"):
        F.gumbel_softmax(logits, eps=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.gumbel_softmax(logits)


CHANNEL_SHUFFLE = {
    "4d": (lambda nn, F, x: nn.ChannelShuffle(3)(x) * 2 + F.channel_shuffle(x, 2), (normal(2, 6, 2, 3),)),
    "3d": (lambda nn, F, x: F.channel_shuffle(x, 4), (normal(2, 8, 3),)),
    "5d_one_group": (lambda nn, F, x: F.channel_shuffle(x, 1), (normal(1, 3, 2, 2, 2),)),
}


@pytest.mark.parametrize("name", CHANNEL_SHUFFLE)
def test_channel_shuffle_matches_torch(name):
    case, arrays = CHANNEL_SHUFFLE[name]
    _check_case(case, arrays, atol=0)


def test_channel_shuffle_repr_and_errors_match_torch():
    th = torch()
    assert repr(nn.ChannelShuffle(3)) == repr(th.nn.ChannelShuffle(3))
    for case, shape in [(lambda nn, F, x: F.channel_shuffle(x, 2), (2, 4)),
                        (lambda nn, F, x: F.channel_shuffle(x, 2), (1, 5, 2)),
                        (lambda nn, F, x: F.channel_shuffle(x, 0), (1, 4, 2)),
                        (lambda nn, F, x: nn.ChannelShuffle(-1)(x), (1, 4, 2))]:
        _both_raise(RuntimeError, case, np.ones(shape))
