"""Module 05 (spatial): Conv2d, MaxPool2d, AvgPool2d and Flatten against finite differences
(float64) and, where installed, PyTorch — forward values and every gradient — plus the
layers' contract (shapes, dtypes, parameters, errors)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck import F, assert_gradients_match, assert_matches_torch, normal, rng, torch
import tinytorch.nn.functional as tiny_F
from tinytorch.core.tensor import Tensor
from tinytorch.nn.modules import Linear, ReLU, Sequential
from tinytorch.nn.spatial import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    AvgPool2dOp,
    Conv2d,
    Conv2dOp,
    Flatten,
    MaxPool2d,
    MaxPool2dOp,
)

# (input shape, weight shape, stride, padding): non-square inputs and kernels, strides that
# do not divide the input evenly, asymmetric padding, a 1x1 kernel.
CONV_CASES = [
    ((2, 3, 6, 5), (4, 3, 3, 3), (1, 1), (0, 0)),
    ((2, 3, 6, 5), (4, 3, 3, 3), (1, 1), (1, 1)),
    ((2, 2, 7, 6), (3, 2, 3, 2), (2, 1), (1, 0)),
    ((1, 2, 9, 7), (2, 2, 3, 3), (2, 3), (2, 1)),
    ((3, 4, 5, 5), (2, 4, 1, 1), (2, 2), (0, 0)),
    ((2, 1, 8, 8), (3, 1, 5, 5), (1, 1), (2, 2)),
]

# (input shape, kernel_size, stride): non-overlapping, overlapping, non-square, leftover rows.
POOL_CASES = [
    ((2, 3, 4, 6), (2, 2), (2, 2)),
    ((2, 2, 5, 5), (2, 2), (2, 2)),
    ((1, 2, 7, 6), (3, 2), (2, 1)),
    ((2, 1, 5, 7), (3, 3), (1, 2)),
]


def conv(stride, padding, bias=True):
    if bias:
        return lambda x, w, b: Conv2dOp.apply(x, w, b, stride=stride, padding=padding)
    return lambda x, w: Conv2dOp.apply(x, w, stride=stride, padding=padding)


# -- finite differences --------------------------------------------------------------


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", CONV_CASES)
def test_conv2d_gradients_match_finite_differences(x_shape, w_shape, stride, padding):
    x, w, b = normal(*x_shape), normal(*w_shape), normal(w_shape[0])
    assert_gradients_match(conv(stride, padding), x, w, b)


def test_conv2d_without_bias_gradients_match_finite_differences():
    assert_gradients_match(conv((2, 1), (1, 2), bias=False), normal(2, 3, 5, 6), normal(2, 3, 2, 3))


@pytest.mark.parametrize("x_shape, kernel_size, stride", POOL_CASES)
def test_max_pool_gradients_match_finite_differences(x_shape, kernel_size, stride):
    # distinct values: no ties, so the maximum of every window is unique and differentiable
    x = rng.permutation(math.prod(x_shape)).reshape(x_shape) / 10.0
    assert_gradients_match(lambda t: MaxPool2dOp.apply(t, kernel_size=kernel_size, stride=stride), x)


@pytest.mark.parametrize("x_shape, kernel_size, stride", POOL_CASES)
def test_avg_pool_gradients_match_finite_differences(x_shape, kernel_size, stride):
    assert_gradients_match(lambda t: AvgPool2dOp.apply(t, kernel_size=kernel_size, stride=stride), normal(*x_shape))


@pytest.mark.parametrize("start_dim, end_dim", [(1, -1), (0, -1), (1, 2), (2, 3)])
def test_flatten_gradients_match_finite_differences(start_dim, end_dim):
    assert_gradients_match(lambda t: Flatten(start_dim, end_dim)(t), normal(2, 3, 2, 4))


def test_a_small_cnn_gradients_match_finite_differences():
    """Conv → ReLU → MaxPool → Conv → AvgPool → Flatten end to end: the ops compose (each
    one hands the next a batch-last view, not a contiguous array)."""
    x, w1, b1, w2, b2 = normal(2, 2, 6, 6), normal(3, 2, 3, 3), normal(3), normal(4, 3, 2, 2), normal(4)

    def net(x, w1, b1, w2, b2):
        h = Conv2dOp.apply(x, w1, b1, stride=(1, 1), padding=(1, 1)).relu()
        h = MaxPool2dOp.apply(h, kernel_size=(2, 2), stride=(2, 2))
        h = Conv2dOp.apply(h, w2, b2, stride=(1, 1), padding=(1, 0))
        return Flatten()(AvgPool2dOp.apply(h, kernel_size=(2, 2), stride=(1, 1)))

    assert_gradients_match(net, x, w1, b1, w2, b2)


# -- PyTorch ------------------------------------------------------------------------


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", CONV_CASES)
def test_conv2d_matches_torch(x_shape, w_shape, stride, padding):
    x, w, b = normal(*x_shape), normal(*w_shape), normal(w_shape[0])
    assert_matches_torch(conv(stride, padding),
                         lambda x, w, b: F().conv2d(x, w, b, stride=stride, padding=padding), x, w, b)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3), c=st.integers(1, 3), o=st.integers(1, 3),
    kh=st.integers(1, 4), kw=st.integers(1, 4), extra_h=st.integers(0, 5), extra_w=st.integers(0, 5),
    sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
    bias=st.booleans(), seed=st.integers(0, 2**16),
)
def test_conv2d_matches_torch_on_random_shapes(n, c, o, kh, kw, extra_h, extra_w, sh, sw, ph, pw, bias, seed):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, c, max(kh - 2 * ph, 1) + extra_h, max(kw - 2 * pw, 1) + extra_w))
    w = r.normal(size=(o, c, kh, kw))
    arrays = (x, w, r.normal(size=o)) if bias else (x, w)
    assert_matches_torch(conv((sh, sw), (ph, pw), bias),
                         lambda *t: F().conv2d(*t, stride=(sh, sw), padding=(ph, pw)), *arrays)


@pytest.mark.parametrize("x_shape, kernel_size, stride", POOL_CASES)
def test_pooling_matches_torch(x_shape, kernel_size, stride):
    x = normal(*x_shape)
    assert_matches_torch(lambda t: MaxPool2d(kernel_size, stride)(t),
                         lambda t: F().max_pool2d(t, kernel_size, stride), x)
    assert_matches_torch(lambda t: AvgPool2d(kernel_size, stride)(t),
                         lambda t: F().avg_pool2d(t, kernel_size, stride), x)


# (input shape, kernel_size, stride, padding): ResNet's stem pool, a non-square kernel, padding on one side.
PADDED_POOL_CASES = [
    ((2, 3, 7, 6), (3, 3), (2, 2), (1, 1)),
    ((1, 2, 6, 5), (2, 3), (1, 2), (1, 1)),
    ((2, 1, 5, 5), (2, 2), (2, 2), (1, 0)),
]


@pytest.mark.parametrize("x_shape, kernel_size, stride, padding", PADDED_POOL_CASES)
def test_padded_pooling_matches_torch_and_finite_differences(x_shape, kernel_size, stride, padding):
    x = normal(*x_shape)
    assert_matches_torch(lambda t: MaxPool2d(kernel_size, stride, padding)(t),
                         lambda t: F().max_pool2d(t, kernel_size, stride, padding), x)
    assert_matches_torch(lambda t: AvgPool2d(kernel_size, stride, padding)(t),
                         lambda t: F().avg_pool2d(t, kernel_size, stride, padding), x)
    assert_gradients_match(lambda t: MaxPool2d(kernel_size, stride, padding)(t), x)
    assert_gradients_match(lambda t: AvgPool2d(kernel_size, stride, padding)(t), x)


@pytest.mark.parametrize("kernel_size", [3, (3, 5), 1, (5, 1)])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv_padding_words_match_torch(kernel_size, padding):
    x, w = normal(2, 3, 7, 6), normal(4, 3, *Conv2d(3, 4, kernel_size).kernel_size)
    assert_matches_torch(lambda t, k: Conv2dOp.apply(t, k, padding=Conv2d(3, 4, kernel_size, padding=padding).padding),
                         lambda t, k: F().conv2d(t, k, padding=padding), x, w)
    assert_matches_torch(lambda t, k: tiny_F.conv1d(t, k, padding=padding),
                         lambda t, k: F().conv1d(t, k, padding=padding), x[:, :, 0], w[:, :, 0])
    if padding == "same":
        assert Conv2d(3, 4, kernel_size, padding="same")(Tensor(x)).shape == x.shape[:1] + (4,) + x.shape[2:]


@pytest.mark.parametrize("options, message", [({"kernel_size": 2, "padding": "same"}, "odd kernel"),
                                              ({"kernel_size": 3, "stride": 2, "padding": "same"}, "strided"),
                                              ({"kernel_size": 3, "padding": "full"}, "'valid', 'same'")])
def test_conv_padding_words_refused_where_torch_refuses_or_pads_unevenly(options, message):
    with pytest.raises(ValueError, match=message):
        Conv2d(3, 4, **options)


@pytest.mark.parametrize("c_in, c_out, groups, kernel_size, stride, padding",
                         [(4, 8, 4, 3, 1, 1), (6, 4, 2, 3, 2, 0), (4, 4, 4, (3, 1), 1, "same"), (3, 6, 3, 1, 1, 0)])
def test_grouped_conv2d_matches_torch(c_in, c_out, groups, kernel_size, stride, padding):
    th = torch()
    ours = Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, groups=groups)
    theirs = th.nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, groups=groups)
    assert ours.weight.shape == tuple(theirs.weight.shape)
    w, b = normal(*ours.weight.shape), normal(c_out)
    assert_matches_torch(lambda t, k, c: tiny_F.conv2d(t, k, c, stride=stride, padding=padding, groups=groups),
                         lambda t, k, c: F().conv2d(t, k, c, stride=stride, padding=padding, groups=groups),
                         normal(2, c_in, 7, 6), w, b)
    ours.weight.data, ours.bias.data = w.astype(np.float32), b.astype(np.float32)
    with th.no_grad():
        theirs.weight.copy_(th.tensor(w))
        theirs.bias.copy_(th.tensor(b))
    x = normal(2, c_in, 7, 6).astype(np.float32)
    np.testing.assert_allclose(ours(Tensor(x)).data, theirs(th.tensor(x)).detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("groups", [3, 0, 2.0])
def test_conv2d_groups_that_do_not_divide_the_channels_are_refused(groups):
    with pytest.raises(ValueError, match="groups"):
        Conv2d(4, 8, 3, groups=groups)


def test_pool_padding_over_half_the_kernel_is_refused():
    for layer in (MaxPool2d, AvgPool2d):
        with pytest.raises(ValueError, match="at most half"):
            layer(2, padding=2)


@pytest.mark.parametrize("x_shape, output_size", [((2, 3, 6, 6), 1), ((2, 3, 6, 6), 3), ((1, 2, 5, 7), (3, 4)),
                                                   ((2, 1, 7, 5), (2, None)), ((1, 2, 3, 3), 5)])
def test_adaptive_avg_pool_matches_torch(x_shape, output_size):
    assert_matches_torch(lambda t: AdaptiveAvgPool2d(output_size)(t),
                         lambda t: F().adaptive_avg_pool2d(t, output_size), normal(*x_shape))


def test_max_pool_ties_send_the_gradient_to_the_first_maximum_like_torch():
    x = np.array([[[[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [2.0, 3.0, 3.0, 3.0], [3.0, 1.0, 3.0, 3.0]]]])
    assert_matches_torch(lambda t: MaxPool2d(2)(t), lambda t: F().max_pool2d(t, 2), x)
    t = Tensor(x, requires_grad=True)
    MaxPool2d(2)(t).sum().backward()
    assert t.grad.data.sum() == 4.0  # one winner per window, never a shared gradient


def test_layers_match_torch_modules():
    th = torch()
    th.manual_seed(0)
    ref = th.nn.Sequential(
        th.nn.Conv2d(2, 4, 3, padding=1), th.nn.ReLU(), th.nn.MaxPool2d(2),
        th.nn.Conv2d(4, 6, (2, 3), stride=(1, 2), padding=(1, 1)), th.nn.ReLU(), th.nn.AvgPool2d(2, stride=1),
        th.nn.Flatten(), th.nn.Linear(6 * 3 * 1, 5),
    ).double()
    ours = Sequential(
        Conv2d(2, 4, 3, padding=1), ReLU(), MaxPool2d(2),
        Conv2d(4, 6, (2, 3), stride=(1, 2), padding=(1, 1)), ReLU(), AvgPool2d(2, stride=1),
        Flatten(), Linear(6 * 3 * 1, 5),
    )
    ref_params = dict(ref.named_parameters())
    assert [name for name, _ in ours.named_parameters()] == list(ref_params)
    for name, p in ours.named_parameters():
        assert p.shape == tuple(ref_params[name].shape), name
        p.data = ref_params[name].detach().numpy().copy()  # float64, to compare closely
    x = normal(3, 2, 6, 6)
    out, ref_out = ours(Tensor(x, dtype=np.float64)), ref(th.tensor(x))
    assert out.shape == (3, 5)
    np.testing.assert_allclose(out.data, ref_out.detach().numpy(), atol=1e-10)
    weights = normal(3, 5)
    (out * Tensor(weights, dtype=np.float64)).sum().backward()
    (ref_out * th.tensor(weights)).sum().backward()
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.data, ref_params[name].grad.numpy(), atol=1e-10, err_msg=name)


# -- the layers' contract ---------------------------------------------------------


def test_conv2d_parameters_and_init():
    np.random.seed(0)
    layer = Conv2d(3, 8, (3, 5))
    assert layer.kernel_size == (3, 5) and layer.stride == (1, 1) and layer.padding == (0, 0)
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [("weight", (8, 3, 3, 5)), ("bias", (8,))]
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    fan_in = 3 * 3 * 5  # PyTorch's default: weight and bias uniform on ±1/√fan_in
    assert np.abs(layer.weight.data).max() <= 1 / math.sqrt(fan_in)
    assert np.abs(layer.weight.data).max() > 0.95 / math.sqrt(fan_in)  # the full range, not tiny
    assert np.abs(layer.bias.data).max() <= 1 / math.sqrt(fan_in)
    assert Conv2d(3, 8, 3, bias=False).bias is None
    assert [n for n, _ in Conv2d(3, 8, 3, bias=False).named_parameters()] == ["weight"]
    np.random.seed(1)
    a = Conv2d(2, 2, 3).weight.data.copy()
    np.random.seed(1)
    assert np.array_equal(Conv2d(2, 2, 3).weight.data, a)  # seeded like Linear


def test_float32_in_float32_out():
    np.random.seed(0)
    x = Tensor(np.random.rand(2, 1, 8, 8), requires_grad=True)
    model = Sequential(Conv2d(1, 4, 3, padding=1), ReLU(), MaxPool2d(2), AvgPool2d(2), Flatten())
    y = model(x)
    assert y.shape == (2, 16) and y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.shape == x.shape
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


def test_non_contiguous_input():
    """A permuted (non-contiguous) input gives the same result as a contiguous one."""
    x = normal(2, 5, 6, 3)  # (N, H, W, C): permute to (N, C, H, W)
    w, b = normal(4, 3, 3, 3), normal(4)
    t = Tensor(x, dtype=np.float64, requires_grad=True)
    out = Conv2dOp.apply(t.permute(0, 3, 1, 2), Tensor(w, dtype=np.float64), Tensor(b, dtype=np.float64),
                         stride=(1, 1), padding=(1, 1))
    same = Conv2dOp.apply(Tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), dtype=np.float64),
                          Tensor(w, dtype=np.float64), Tensor(b, dtype=np.float64), stride=(1, 1), padding=(1, 1))
    np.testing.assert_allclose(out.data, same.data, atol=1e-12)
    out.sum().backward()
    assert t.grad.shape == x.shape


def test_output_sizes():
    x = Tensor(np.zeros((1, 2, 9, 7)))
    assert Conv2d(2, 3, 3)(x).shape == (1, 3, 7, 5)
    assert Conv2d(2, 3, 3, padding=1)(x).shape == (1, 3, 9, 7)
    assert Conv2d(2, 3, (3, 1), stride=2, padding=(1, 0))(x).shape == (1, 3, 5, 4)
    assert MaxPool2d(2)(x).shape == (1, 2, 4, 3)  # leftover row and column dropped, as in PyTorch
    assert AvgPool2d(3, stride=2)(x).shape == (1, 2, 4, 3)
    assert Flatten()(x).shape == (1, 126)


@pytest.mark.parametrize("make, message", [
    (lambda: Conv2d(3, 4, 3)(Tensor(np.zeros((1, 2, 5, 5)))), "3 input channels"),
    (lambda: Conv2d(1, 4, 3)(Tensor(np.zeros((5, 5)))), "(N, C, H, W)"),
    (lambda: Conv2d(1, 4, 5)(Tensor(np.zeros((1, 1, 3, 3)))), "larger than the padded input"),
    (lambda: MaxPool2d(2)(Tensor(np.zeros((4, 4)))), "(N, C, H, W)"),
    (lambda: AvgPool2d(2)(Tensor(np.zeros((4,)))), "(N, C, H, W)"),  # (C, H, W), one image, is taken
    (lambda: Conv2d(1, 4, 0), "kernel_size"),
    (lambda: Conv2d(1, 4, 3, stride=(1, 2, 3)), "stride"),
    (lambda: Conv2d(1, 4, 3, padding=-1), "padding"),
    (lambda: MaxPool2d(2, stride=0), "stride"),
])
def test_clear_errors(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_reprs():
    assert repr(Conv2d(1, 8, 3, padding=1)) == "Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    assert repr(Conv2d(1, 8, 3, bias=False)) == "Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), bias=False)"
    assert repr(MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    assert repr(AvgPool2d(3, 1, 1)) == "AvgPool2d(kernel_size=3, stride=1, padding=1)"
    assert repr(Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


def test_public_names():
    import tinytorch
    import tinytorch.nn

    for name in ("Conv2d", "MaxPool2d", "AvgPool2d", "Flatten"):
        assert getattr(tinytorch.nn, name) is getattr(tinytorch, name)
