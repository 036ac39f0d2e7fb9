"""Module 05's given PyTorch layers: ConvTranspose2d/1d, F.fold/F.unfold (nn.Fold/Unfold),
AdaptiveMaxPool2d/1d and InstanceNorm1d/2d — values, every gradient (finite differences in
float64, and PyTorch where installed), PyTorch's shapes, parameter layout, initialization,
state_dict keys, running statistics and errors. Hand-computed values keep the checks alive
without PyTorch."""

import math
import warnings

import numpy as np
import pytest

import tinytorch.nn as nn
import tinytorch.nn.functional as F
from gradcheck import assert_gradients_match, assert_matches_torch, normal, rng, torch
from tinytorch.core.tensor import Tensor


def as_array(value):
    """A state_dict entry (a Tensor or an array) as a float64 array."""
    return np.asarray(value.data if isinstance(value, Tensor) else value, dtype=np.float64)


def T(array):
    return Tensor(np.asarray(array, dtype=np.float64), dtype=np.float64)


def conv2d_reference(z, w, stride, padding, dilation):
    """A plain loop convolution (cross-correlation) with dilation: out[n, o, i, j]."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    z = np.pad(z, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    O, C, kh, kw = w.shape
    Ho, Wo = (z.shape[2] - dh * (kh - 1) - 1) // sh + 1, (z.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((z.shape[0], O, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            window = z[:, :, i * sh:i * sh + dh * (kh - 1) + 1:dh, j * sw:j * sw + dw * (kw - 1) + 1:dw]
            out[:, :, i, j] = np.einsum("ncpq,ocpq->no", window, w)
    return out


# (input shape, weight shape, stride, padding, output_padding, groups, dilation)
TRANSPOSED_CASES = [
    ((2, 4, 5, 6), (4, 3, 3, 3), 1, 0, 0, 1, 1),
    ((2, 4, 5, 6), (4, 3, 3, 2), 2, 1, 1, 1, 1),
    ((1, 4, 4, 3), (4, 2, 2, 3), (2, 3), (1, 0), (1, 2), 2, 1),
    ((2, 4, 5, 5), (4, 1, 3, 3), 2, 1, 1, 4, 1),  # depthwise
    ((2, 2, 5, 4), (2, 3, 3, 2), (2, 1), (2, 1), (1, 0), 1, (2, 3)),  # dilation
    ((2, 2, 3, 4), (2, 3, 3, 3), 3, 1, (2, 1), 1, 2),
    ((1, 6, 3, 3), (6, 2, 2, 2), 2, 0, 1, 3, (1, 2)),  # output_padding < dilation, not < stride
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# -- ConvTranspose2d / 1d ---------------------------------------------------------------------


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, output_padding, groups, dilation", TRANSPOSED_CASES)
def test_conv_transpose2d_is_the_adjoint_of_conv2d(x_shape, w_shape, stride, padding, output_padding, groups,
                                                    dilation):
    """<conv(z), x> == <z, conv_transpose(x)> for every z of the output's size, group by group,
    and the output size is PyTorch's (H - 1)s - 2p + d(k - 1) + 1 + output_padding."""
    x, w = normal(*x_shape), normal(*w_shape)
    y = F.conv_transpose2d(T(x), T(w), None, stride, padding, output_padding, groups, dilation)
    (sh, sw), (ph, pw), (oh, ow), (dh, dw) = map(_pair, (stride, padding, output_padding, dilation))
    H, W = x_shape[2:]
    kh, kw = w_shape[2:]
    assert y.shape == (x_shape[0], w_shape[1] * groups, (H - 1) * sh - 2 * ph + dh * (kh - 1) + 1 + oh,
                       (W - 1) * sw - 2 * pw + dw * (kw - 1) + 1 + ow)
    z = normal(*y.shape)
    cin, cout = w_shape[0] // groups, w_shape[1]
    for g in range(groups):
        conv_z = conv2d_reference(z[:, g * cout:(g + 1) * cout], w[g * cin:(g + 1) * cin], (sh, sw), (ph, pw), (dh, dw))
        conv_z = conv_z[:, :, :H, :W]  # output_padding's extra rows make no window of their own
        assert conv_z.shape == x[:, g * cin:(g + 1) * cin].shape
        assert np.isclose(np.sum(conv_z * x[:, g * cin:(g + 1) * cin]),
                          np.sum(z[:, g * cout:(g + 1) * cout] * y.data[:, g * cout:(g + 1) * cout]))


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, output_padding, groups, dilation", TRANSPOSED_CASES[1:6])
def test_conv_transpose2d_gradients_match_finite_differences(x_shape, w_shape, stride, padding, output_padding,
                                                             groups, dilation):
    x, w, b = normal(*x_shape), normal(*w_shape), normal(w_shape[1] * groups)
    assert_gradients_match(
        lambda a, k, c: F.conv_transpose2d(a, k, c, stride, padding, output_padding, groups, dilation), x, w, b)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, output_padding, groups, dilation", TRANSPOSED_CASES)
def test_conv_transpose2d_matches_torch(x_shape, w_shape, stride, padding, output_padding, groups, dilation):
    th = torch()
    x, w, b = normal(*x_shape), normal(*w_shape), normal(w_shape[1] * groups)
    assert_matches_torch(
        lambda a, k, c: F.conv_transpose2d(a, k, c, stride, padding, output_padding, groups, dilation),
        lambda a, k, c: th.nn.functional.conv_transpose2d(a, k, c, stride, padding, output_padding, groups, dilation),
        x, w, b)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, output_padding, groups, dilation",
                         [((2, 4, 7), (4, 3, 3), 2, 1, 1, 1, 1), ((2, 4, 7), (4, 3, 4), 3, 2, 2, 2, 2)])
def test_conv_transpose1d_matches_finite_differences_and_torch(x_shape, w_shape, stride, padding, output_padding,
                                                               groups, dilation):
    x, w, b = normal(*x_shape), normal(*w_shape), normal(w_shape[1] * groups)

    def mine(a, k, c):
        return F.conv_transpose1d(a, k, c, stride, padding, output_padding, groups, dilation)

    assert_gradients_match(mine, x, w, b)
    th = torch()
    assert_matches_torch(mine, lambda a, k, c: th.nn.functional.conv_transpose1d(
        a, k, c, stride, padding, output_padding, groups, dilation), x, w, b)


def test_conv_transpose2d_hand_values():
    """A 2×2 input, a 2×2 kernel of ones, stride 2: every input pixel becomes a 2×2 block."""
    x = T([[[[1.0, 2.0], [3.0, 4.0]]]])
    y = F.conv_transpose2d(x, T(np.ones((1, 1, 2, 2))), T([0.5]), stride=2)
    assert y.data[0, 0].tolist() == [[1.5, 1.5, 2.5, 2.5], [1.5, 1.5, 2.5, 2.5],
                                      [3.5, 3.5, 4.5, 4.5], [3.5, 3.5, 4.5, 4.5]]
    # stride 1: overlapping windows add up
    y = F.conv_transpose2d(x, T(np.ones((1, 1, 2, 2))))
    assert y.data[0, 0].tolist() == [[1, 3, 2], [4, 10, 6], [3, 7, 4]]
    # output_padding adds a row and a column at the bottom and right (zeros here: no window reaches them)
    y = F.conv_transpose2d(x, T(np.ones((1, 1, 2, 2))), stride=2, output_padding=1)
    assert y.shape == (1, 1, 5, 5) and not y.data[0, 0, 4].any() and not y.data[0, 0, :, 4].any()


def test_conv_transpose2d_layer_layout_init_and_state_dict():
    np.random.seed(0)
    layer = nn.ConvTranspose2d(8, 16, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert layer.weight.shape == (8, 8, 3, 3) and layer.bias.shape == (16,)  # (in, out // groups, kh, kw)
    assert layer.weight.dtype == np.float32
    bound = 1 / math.sqrt(8 * 9)  # PyTorch's fan_in: weight.size(1) · kh · kw
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.weight.data).max() > 0.9 * bound
    assert np.abs(layer.bias.data).max() <= bound and np.abs(layer.bias.data).max() > 0.8 * bound
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert nn.ConvTranspose2d(2, 3, 3, bias=False).bias is None
    x = Tensor(np.random.rand(2, 8, 4, 5))
    y = layer(x)
    assert y.shape == (2, 16, 8, 10) and y.dtype == np.float32
    one_d = nn.ConvTranspose1d(3, 4, 5, stride=2)
    assert one_d.weight.shape == (3, 4, 5) and one_d(Tensor(np.ones((2, 3, 6)))).shape == (2, 4, 15)
    assert repr(layer) == ("ConvTranspose2d(8, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
                           "output_padding=(1, 1), groups=2)")


def test_conv_transpose2d_layer_matches_torch_with_output_size():
    th = torch()
    np.random.seed(1)
    mine = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2)
    theirs = th.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2).double()
    theirs.load_state_dict({k: th.tensor(as_array(v)) for k, v in mine.state_dict().items()})
    assert repr(mine) == repr(theirs)
    x = rng.normal(size=(2, 4, 4, 4))
    for output_size in (None, (7, 8), [2, 6, 8, 7]):
        got, expected = mine(Tensor(x), output_size=output_size), theirs(th.tensor(x), output_size=output_size)
        assert got.shape == tuple(expected.shape)
        np.testing.assert_allclose(got.data, expected.detach().numpy(), atol=1e-5)


def test_conv_transpose_output_size_picks_output_padding():
    layer = nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1)
    x = Tensor(np.ones((1, 1, 4, 4)))
    assert layer(x).shape == (1, 1, 7, 7)
    assert layer(x, output_size=(8, 7)).shape == (1, 1, 8, 7)
    assert layer(x, output_size=[1, 1, 8, 8]).shape == (1, 1, 8, 8)
    with pytest.raises(ValueError, match="valid sizes range from"):
        layer(x, output_size=(9, 9))
    with pytest.raises(ValueError, match="output_size must have"):
        layer(x, output_size=(1, 8, 8))
    assert nn.ConvTranspose1d(1, 1, 4, stride=3)(Tensor(np.ones((1, 1, 5))), output_size=[17]).shape == (1, 1, 17)


def test_conv_transpose_errors():
    with pytest.raises(ValueError, match="zeros"):
        nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(T(np.ones((1, 1, 3, 3))), T(np.ones((1, 1, 3, 3))), stride=2, output_padding=2)
    F.conv_transpose2d(T(np.ones((1, 1, 3, 3))), T(np.ones((1, 1, 3, 3))), stride=1, output_padding=1, dilation=2)
    with pytest.raises(ValueError, match="input channels"):
        F.conv_transpose2d(T(np.ones((1, 2, 3, 3))), T(np.ones((3, 1, 3, 3))))
    with pytest.raises(ValueError, match="groups"):
        nn.ConvTranspose2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="batch"):
        nn.ConvTranspose2d(2, 2, 3)(Tensor(np.ones((5, 5))))  # neither a batch nor one image
    with pytest.raises(ValueError, match="no output"):
        F.conv_transpose2d(T(np.ones((1, 1, 1, 1))), T(np.ones((1, 1, 1, 1))), padding=1)


# -- F.unfold / F.fold ------------------------------------------------------------------------

# (input shape, kernel_size, dilation, padding, stride)
SLIDING_CASES = [
    ((2, 3, 5, 6), 2, 1, 0, 1),
    ((2, 3, 7, 6), (3, 2), (2, 1), (1, 2), (2, 1)),
    ((1, 2, 8, 8), 3, 2, 1, 3),
    ((3, 5, 4), (2, 2), 1, 1, 2),  # unbatched
]


@pytest.mark.parametrize("shape, kernel_size, dilation, padding, stride", SLIDING_CASES)
def test_unfold_and_fold_gradients_match_finite_differences(shape, kernel_size, dilation, padding, stride):
    x = normal(*shape)
    assert_gradients_match(lambda a: F.unfold(a, kernel_size, dilation, padding, stride), x)
    cols = F.unfold(T(x), kernel_size, dilation, padding, stride)
    assert_gradients_match(lambda c: F.fold(c, shape[-2:], kernel_size, dilation, padding, stride),
                           normal(*cols.shape))


@pytest.mark.parametrize("shape, kernel_size, dilation, padding, stride", SLIDING_CASES)
def test_unfold_and_fold_match_torch(shape, kernel_size, dilation, padding, stride):
    th = torch()
    x = normal(*shape)
    assert_matches_torch(lambda a: F.unfold(a, kernel_size, dilation, padding, stride),
                         lambda a: th.nn.functional.unfold(a, kernel_size, dilation, padding, stride), x)
    cols = normal(*F.unfold(T(x), kernel_size, dilation, padding, stride).shape)
    assert_matches_torch(lambda c: F.fold(c, shape[-2:], kernel_size, dilation, padding, stride),
                         lambda c: th.nn.functional.fold(c, shape[-2:], kernel_size, dilation, padding, stride), cols)


def test_unfold_is_im2col_and_fold_counts_windows():
    x = T(np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5))
    cols = nn.Unfold((2, 3), padding=1, stride=(2, 1))(x)
    expected = conv2d_reference(x.data, np.eye(18).reshape(18, 3, 2, 3), (2, 1), (1, 1), (1, 1))
    assert cols.shape == (2, 18, 3 * 5) and np.array_equal(cols.data, expected.reshape(2, 18, -1))
    counts = nn.Fold(4, 3)(F.unfold(T(np.ones((1, 1, 4, 4))), 3))
    assert counts.data[0, 0].tolist() == [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]]
    # unfold, a matrix product, fold: a convolution by hand equals Conv2d's
    w = rng.normal(size=(4, 3, 2, 3))
    by_hand = (T(w.reshape(4, -1)) @ cols).reshape(2, 4, 3, 5)
    np.testing.assert_allclose(by_hand.data, conv2d_reference(x.data, w, (2, 1), (1, 1), (1, 1)), atol=1e-9)
    assert repr(nn.Fold(4, 3)) == "Fold(output_size=4, kernel_size=3, dilation=1, padding=0, stride=1)"


def test_fold_and_unfold_errors():
    with pytest.raises(ValueError, match="fits"):
        F.unfold(T(np.ones((1, 1, 2, 2))), 3)
    with pytest.raises(ValueError, match="expected input of shape"):
        F.fold(T(np.ones((1, 9, 5))), 4, 3)  # 4x4 has 2·2 windows of 3x3, not 5
    with pytest.raises(ValueError, match="expected input of shape"):
        F.fold(T(np.ones((1, 8, 4))), 4, 3)  # 8 is not C·3·3
    with pytest.raises(ValueError, match="expects"):
        F.unfold(T(np.ones((1, 1, 1, 4, 4))), 2)


# -- AdaptiveMaxPool2d / 1d -------------------------------------------------------------------

ADAPTIVE_CASES = [((2, 3, 5, 7), (3, 4)), ((2, 3, 6, 4), (3, 2)), ((1, 2, 5, 5), (None, 2)), ((2, 2, 3, 4), (5, 6)),
                  ((2, 2, 6, 6), 1), ((1, 1, 7, 7), 7)]


def test_adaptive_max_pool2d_hand_values_indices_and_ties():
    x = Tensor(np.array([[[[1.0, 3.0, 3.0, 0.0, 2.0]]]]), requires_grad=True)
    out, indices = F.adaptive_max_pool2d(x, (1, 3), return_indices=True)  # windows [0, 2), [1, 4), [3, 5)
    assert out.data.ravel().tolist() == [3.0, 3.0, 2.0]
    assert indices.data.ravel().tolist() == [1, 1, 4] and indices.dtype == np.int64  # the first of a tie
    out.sum().backward()
    assert x.grad.data.ravel().tolist() == [0.0, 2.0, 0.0, 0.0, 1.0]
    x = Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    out, indices = nn.AdaptiveMaxPool2d(2, return_indices=True)(x)
    assert out.data[0, 0].tolist() == [[5, 7], [13, 15]] and indices.data[0, 0].tolist() == [[5, 7], [13, 15]]
    assert nn.AdaptiveMaxPool2d((2, None))(Tensor(np.ones((2, 3, 4, 5)))).shape == (2, 3, 2, 5)
    zeros = Tensor(np.zeros((1, 1, 4, 4)), requires_grad=True)
    F.adaptive_max_pool2d(zeros, 3).sum().backward()  # overlapping windows of ties: each to its first
    assert zeros.grad.data[0, 0].tolist() == [[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]]


@pytest.mark.parametrize("shape, output_size", ADAPTIVE_CASES)
def test_adaptive_max_pool2d_gradients_match_finite_differences(shape, output_size):
    assert_gradients_match(lambda a: F.adaptive_max_pool2d(a, output_size), normal(*shape))


@pytest.mark.parametrize("shape, output_size", ADAPTIVE_CASES)
def test_adaptive_max_pool2d_matches_torch(shape, output_size):
    th = torch()
    x = np.round(normal(*shape), 1)  # ties too
    assert_matches_torch(lambda a: F.adaptive_max_pool2d(a, output_size),
                         lambda a: th.nn.functional.adaptive_max_pool2d(a, output_size), x)
    _, indices = F.adaptive_max_pool2d(T(x), output_size, return_indices=True)
    _, expected = th.nn.functional.adaptive_max_pool2d(th.tensor(x), output_size, return_indices=True)
    assert np.array_equal(indices.data, expected.numpy())


@pytest.mark.parametrize("shape, output_size", [((2, 3, 7), 3), ((2, 3, 8), 4), ((1, 2, 3), 5)])
def test_adaptive_max_pool1d_matches_finite_differences_and_torch(shape, output_size):
    assert_gradients_match(lambda a: nn.AdaptiveMaxPool1d(output_size)(a), normal(*shape))
    th = torch()
    x = normal(*shape)
    assert_matches_torch(lambda a: F.adaptive_max_pool1d(a, output_size),
                         lambda a: th.nn.functional.adaptive_max_pool1d(a, output_size), x)
    _, indices = F.adaptive_max_pool1d(T(x), output_size, return_indices=True)
    _, expected = th.nn.functional.adaptive_max_pool1d(th.tensor(x), output_size, return_indices=True)
    assert np.array_equal(indices.data, expected.numpy())


def test_adaptive_max_pool_errors():
    with pytest.raises(ValueError, match="positive"):
        F.adaptive_max_pool2d(T(np.ones((1, 1, 4, 4))), 0)
    with pytest.raises(ValueError, match="batch"):
        F.adaptive_max_pool2d(T(np.ones((4, 4))), 2)  # neither a batch nor one image


# -- InstanceNorm1d / 2d ----------------------------------------------------------------------


def test_instance_norm_statistics_per_sample_and_channel():
    x = rng.normal(3.0, 2.0, size=(2, 3, 4, 5))
    y = nn.InstanceNorm2d(3)(T(x)).data
    np.testing.assert_allclose(y, (x - x.mean(axis=(2, 3), keepdims=True))
                               / np.sqrt(x.var(axis=(2, 3), keepdims=True) + 1e-5), atol=1e-10)
    norm = nn.InstanceNorm2d(3)
    assert norm.weight is None and norm.running_mean is None and list(norm.state_dict()) == []
    norm = nn.InstanceNorm2d(3, affine=True, track_running_stats=True)
    assert list(norm.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    norm(Tensor(x))
    np.testing.assert_allclose(norm.running_mean.data, 0.1 * x.mean(axis=(2, 3)).mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(norm.running_var.data, 0.9 + 0.1 * x.var(axis=(2, 3), ddof=1).mean(axis=0), atol=1e-5)
    norm.eval()  # eval mode: the running statistics
    expected = (x - norm.running_mean.data[:, None, None]) / np.sqrt(norm.running_var.data[:, None, None] + 1e-5)
    np.testing.assert_allclose(norm(Tensor(x)).data, expected, atol=1e-4)
    untracked = nn.InstanceNorm1d(3).eval()  # without running statistics, eval still uses the input's
    z = rng.normal(size=(2, 3, 6))
    np.testing.assert_allclose(untracked(T(z)).data.mean(axis=2), 0.0, atol=1e-10)


@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (2, 4, 7)])
def test_instance_norm_gradients_match_finite_differences(shape):
    x, w, b = normal(*shape), normal(4), normal(4)
    assert_gradients_match(lambda a, k, c: F.instance_norm(a, weight=k, bias=c), x, w, b)
    running_mean, running_var = T(normal(4)), T(np.abs(normal(4)) + 0.5)
    assert_gradients_match(lambda a, k, c: F.instance_norm(a, running_mean, running_var, k, c, use_input_stats=False),
                           x, w, b)


@pytest.mark.parametrize("layer, shape", [("InstanceNorm2d", (3, 4, 5, 6)), ("InstanceNorm1d", (3, 4, 7)),
                                          ("InstanceNorm2d", (4, 5, 6)), ("InstanceNorm1d", (4, 7))])
@pytest.mark.parametrize("affine, track", [(False, False), (True, False), (False, True), (True, True)])
def test_instance_norm_layers_match_torch(layer, shape, affine, track):
    th = torch()
    mine = getattr(nn, layer)(4, affine=affine, track_running_stats=track, momentum=0.2)
    theirs = getattr(th.nn, layer)(4, affine=affine, track_running_stats=track, momentum=0.2).double()
    assert list(mine.state_dict()) == list(theirs.state_dict())
    if affine:
        mine.weight.data, mine.bias.data = normal(4), normal(4)
        theirs.load_state_dict({k: th.tensor(as_array(v)) for k, v in mine.state_dict().items()})
    for _ in range(2):
        x = rng.normal(2.0, 3.0, size=shape)
        a, ta = T(x), th.tensor(x, requires_grad=True)
        a.requires_grad = True
        got, expected = mine(a), theirs(ta)
        np.testing.assert_allclose(got.data, expected.detach().numpy(), atol=1e-6)
        r = normal(*shape)
        (got * T(r)).sum().backward()
        (expected * th.tensor(r)).sum().backward()
        np.testing.assert_allclose(a.grad.data, ta.grad.numpy(), atol=1e-6)
        if affine:
            np.testing.assert_allclose(mine.weight.grad.data, theirs.weight.grad.numpy(), atol=1e-6)
            np.testing.assert_allclose(mine.bias.grad.data, theirs.bias.grad.numpy(), atol=1e-6)
        if track:
            np.testing.assert_allclose(mine.running_mean.data, theirs.running_mean.numpy(), atol=1e-6)
            np.testing.assert_allclose(mine.running_var.data, theirs.running_var.numpy(), atol=1e-6)
    mine.eval(), theirs.eval()
    x = rng.normal(size=shape)
    np.testing.assert_allclose(mine(T(x)).data, theirs(th.tensor(x)).detach().numpy(), atol=1e-6)


@pytest.mark.parametrize("use_input_stats", [True, False])
def test_instance_norm_function_matches_torch(use_input_stats):
    th = torch()
    x, mean, var = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=3), rng.uniform(1, 2, size=3)
    mine_mean, mine_var, their_mean, their_var = T(mean), T(var), th.tensor(mean), th.tensor(var)
    got = F.instance_norm(T(x), mine_mean, mine_var, use_input_stats=use_input_stats, momentum=0.3)
    expected = th.nn.functional.instance_norm(th.tensor(x), their_mean, their_var, use_input_stats=use_input_stats,
                                              momentum=0.3)
    np.testing.assert_allclose(got.data, expected.numpy(), atol=1e-6)
    np.testing.assert_allclose(mine_mean.data, their_mean.numpy(), atol=1e-9)
    np.testing.assert_allclose(mine_var.data, their_var.numpy(), atol=1e-9)


def test_instance_norm_errors_and_warning():
    x = Tensor(np.ones((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="3 channels"):
        nn.InstanceNorm2d(5, affine=True)(x)
    with pytest.warns(UserWarning, match="affine=False"):
        nn.InstanceNorm2d(5)(x)
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        nn.InstanceNorm2d(3)(Tensor(np.ones((2, 3, 1, 1))))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.InstanceNorm1d(3)(x)
    with pytest.raises(ValueError, match="running_mean"):
        F.instance_norm(x, use_input_stats=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nn.InstanceNorm2d(3)(x[0]).shape == (3, 4, 5)  # unbatched, as PyTorch


UNBATCHED = [("Conv2d", (3, 4, 3), (3, 8, 8)), ("Conv1d", (3, 4, 3), (3, 8)), ("ConvTranspose2d", (3, 4, 3), (3, 5, 5)),
             ("ConvTranspose1d", (3, 4, 3), (3, 5)), ("MaxPool2d", (2,), (3, 8, 8)), ("AvgPool2d", (2,), (3, 8, 8)),
             ("MaxPool1d", (2,), (3, 8)), ("AvgPool1d", (2,), (3, 8)), ("AdaptiveAvgPool2d", (3,), (3, 8, 8)),
             ("AdaptiveMaxPool2d", (3,), (3, 8, 8)), ("AdaptiveAvgPool1d", (3,), (3, 8)), ("AdaptiveMaxPool1d", (3,), (3, 8))]


@pytest.mark.parametrize("name, args, shape", UNBATCHED, ids=[case[0] for case in UNBATCHED])
def test_layers_take_one_example_without_a_batch_as_torch(name, args, shape):
    th = torch()
    ours, theirs = getattr(nn, name)(*args), getattr(th.nn, name)(*args).double()
    if getattr(theirs, "weight", None) is not None:
        with th.no_grad():
            theirs.weight.copy_(th.tensor(ours.weight.data))
            theirs.bias.copy_(th.tensor(ours.bias.data))
        ours = ours.double()
    x = normal(*shape)
    got, want = ours(Tensor(x, dtype=np.float64)), theirs(th.tensor(x))
    assert got.shape == tuple(want.shape), "no batch dimension in, none out"
    assert_matches_torch(ours, theirs, x, atol=1e-10)
