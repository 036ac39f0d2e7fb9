"""Module 05's given 3-D layers (Conv3d, MaxPool3d, AvgPool3d, AdaptiveAvgPool3d, BatchNorm3d,
InstanceNorm3d, Dropout3d) and module 06's EmbeddingBag: values, every gradient (finite differences
in float64, and PyTorch where installed), shapes, dtypes, parameter layout, initialization,
state_dict keys and errors. Hand-computed values keep the checks alive without PyTorch."""

import math

import numpy as np
import pytest

import tinytorch.nn as nn
import tinytorch.nn.functional as F
from gradcheck import assert_gradients_match, assert_matches_torch, normal, torch
from tinytorch.core.tensor import Tensor
from tinytorch.nn.spatial import AdaptiveAvgPool3d, AvgPool3d, BatchNorm3d, Conv3d, Dropout3d, InstanceNorm3d, MaxPool3d


def T(array, dtype=np.float64):
    return Tensor(np.asarray(array, dtype=dtype), dtype=dtype)


def as_array(value):
    return np.asarray(value.data if isinstance(value, Tensor) else value, dtype=np.float64)


def conv3d_reference(x, w, b, stride, padding, dilation):
    """A plain loop over output positions: out[n, o, i, j, k]."""
    (sd, sh, sw), (dd, dh, dw) = stride, dilation
    x = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in padding))
    O, C, kd, kh, kw = w.shape
    spans = [d * (k - 1) + 1 for k, d in zip((kd, kh, kw), dilation)]
    Do, Ho, Wo = ((n - s) // st + 1 for n, s, st in zip(x.shape[2:], spans, stride))
    out = np.zeros((x.shape[0], O, Do, Ho, Wo))
    for i in range(Do):
        for j in range(Ho):
            for k in range(Wo):
                box = x[:, :, i * sd:i * sd + spans[0]:dd, j * sh:j * sh + spans[1]:dh, k * sw:k * sw + spans[2]:dw]
                out[:, :, i, j, k] = np.einsum("ncpqr,ocpqr->no", box, w)
    return out if b is None else out + b[:, None, None, None]


# -- Conv3d ------------------------------------------------------------------------------------

# (x shape, w shape, stride, padding, dilation, groups)
CONV3D_CASES = [
    ((2, 3, 4, 5, 4), (2, 3, 2, 3, 2), 1, 0, 1, 1),
    ((1, 2, 5, 6, 5), (3, 2, 3, 2, 3), (2, 1, 2), (1, 0, 1), 1, 1),
    ((2, 4, 5, 5, 6), (4, 2, 2, 2, 3), (1, 2, 1), 1, (2, 1, 1), 2),
]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", CONV3D_CASES)
def test_conv3d_matches_loop_reference_and_finite_differences(x_shape, w_shape, stride, padding, dilation, groups):
    x, w, b = normal(*x_shape), normal(*w_shape), normal(w_shape[0])
    got = F.conv3d(T(x), T(w), T(b), stride, padding, dilation, groups)
    c, o = w_shape[1], w_shape[0] // groups
    triple = lambda v: (v,) * 3 if isinstance(v, int) else v  # noqa: E731
    expected = np.concatenate([conv3d_reference(x[:, i * c:(i + 1) * c], w[i * o:(i + 1) * o], b[i * o:(i + 1) * o],
                                                triple(stride), triple(padding), triple(dilation))
                               for i in range(groups)], axis=1)
    assert got.shape == expected.shape and got.dtype == np.float64
    np.testing.assert_allclose(got.data, expected, atol=1e-10)
    assert_gradients_match(lambda a, v, c: F.conv3d(a, v, c, stride, padding, dilation, groups), x, w, b)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", CONV3D_CASES)
def test_conv3d_matches_torch(x_shape, w_shape, stride, padding, dilation, groups):
    th = torch()
    assert_matches_torch(lambda a, v, c: F.conv3d(a, v, c, stride, padding, dilation, groups),
                         lambda a, v, c: th.nn.functional.conv3d(a, v, c, stride, padding, dilation, groups),
                         normal(*x_shape), normal(*w_shape), normal(w_shape[0]))


def test_conv3d_layer_layout_init_state_dict_and_torch():
    th = torch()
    np.random.seed(0)
    mine = nn.Conv3d(4, 6, (3, 2, 3), stride=(1, 2, 1), padding=1, dilation=1, groups=2)
    assert mine.weight.shape == (6, 2, 3, 2, 3) and mine.bias.shape == (6,) and mine.weight.dtype == np.float32
    bound = 1 / math.sqrt(2 * 3 * 2 * 3)  # fan_in = in_channels // groups · kd·kh·kw
    assert np.abs(mine.weight.data).max() <= bound and np.abs(mine.weight.data).max() > 0.9 * bound
    assert np.abs(mine.bias.data).max() <= bound
    assert list(mine.state_dict()) == ["weight", "bias"]
    theirs = th.nn.Conv3d(4, 6, (3, 2, 3), stride=(1, 2, 1), padding=1, groups=2).double()
    assert list(theirs.state_dict()) == list(mine.state_dict())
    theirs.load_state_dict({k: th.tensor(as_array(v)) for k, v in mine.state_dict().items()})
    assert repr(mine) == repr(theirs)
    x = normal(2, 4, 4, 5, 3).astype(np.float32)
    got, expected = mine(Tensor(x)), theirs(th.tensor(x, dtype=th.float64))
    assert got.shape == tuple(expected.shape) and got.dtype == np.float32
    np.testing.assert_allclose(got.data, expected.detach().numpy(), atol=1e-5)
    got.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(mine.weight.grad.data, theirs.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mine.bias.grad.data, theirs.bias.grad.numpy(), rtol=1e-5)
    no_bias = nn.Conv3d(2, 3, 3, bias=False)
    assert no_bias.bias is None and list(no_bias.state_dict()) == ["weight"]


@pytest.mark.parametrize("padding, padding_mode, dilation", [("same", "zeros", (1, 2, 1)), ("valid", "zeros", 1),
                                                             (1, "reflect", 1), ((1, 0, 1), "circular", 1),
                                                             (1, "replicate", 2)])
def test_conv3d_padding_modes_match_torch(padding, padding_mode, dilation):
    th = torch()
    mine = nn.Conv3d(2, 3, 3, padding=padding, dilation=dilation, padding_mode=padding_mode)
    theirs = th.nn.Conv3d(2, 3, 3, padding=padding, dilation=dilation, padding_mode=padding_mode).double()
    theirs.load_state_dict({k: th.tensor(as_array(v)) for k, v in mine.state_dict().items()})
    x = normal(2, 2, 5, 6, 5)
    got, expected = mine(Tensor(x, dtype=np.float64)), theirs(th.tensor(x))
    assert got.shape == tuple(expected.shape)
    np.testing.assert_allclose(got.data, expected.detach().numpy(), atol=1e-5)
    unbatched = mine(Tensor(x[0], dtype=np.float64))
    assert unbatched.shape == tuple(expected.shape[1:])
    np.testing.assert_allclose(unbatched.data, expected.detach().numpy()[0], atol=1e-5)


def test_conv3d_errors():
    with pytest.raises(ValueError, match="input channels"):
        nn.Conv3d(3, 2, 2)(Tensor(np.ones((1, 2, 3, 3, 3))))
    with pytest.raises(ValueError, match="D, H, W"):
        nn.Conv3d(3, 2, 2)(Tensor(np.ones((3, 3, 3))))
    with pytest.raises(ValueError, match="fits"):
        nn.Conv3d(1, 1, 3)(Tensor(np.ones((1, 1, 2, 5, 5))))
    with pytest.raises(ValueError, match="groups"):
        nn.Conv3d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv3d(1, 1, (3, 3))
    with pytest.raises(ValueError, match="strided"):
        nn.Conv3d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv3d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="weight"):
        F.conv3d(T(np.ones((1, 1, 3, 3, 3))), T(np.ones((1, 1, 3, 3))))


# -- 3-D pooling ------------------------------------------------------------------------------

# (x shape, kernel_size, stride, padding)
POOL3D_CASES = [
    ((2, 3, 4, 4, 6), 2, None, 0),
    ((1, 2, 5, 6, 7), (3, 2, 3), (2, 1, 2), (1, 1, 0)),
    ((2, 1, 5, 5, 5), 3, 1, 1),
    ((3, 4, 5, 6), (2, 3, 2), 2, (1, 1, 1)),  # unbatched
]


@pytest.mark.parametrize("x_shape, kernel_size, stride, padding", POOL3D_CASES)
def test_max_pool3d_matches_finite_differences_and_torch(x_shape, kernel_size, stride, padding):
    th = torch()
    assert_gradients_match(lambda a: F.max_pool3d(a, kernel_size, stride, padding), normal(*x_shape))
    assert_matches_torch(lambda a: F.max_pool3d(a, kernel_size, stride, padding),
                         lambda a: th.nn.functional.max_pool3d(a, kernel_size, stride, padding), normal(*x_shape))


@pytest.mark.parametrize("include", [True, False])
@pytest.mark.parametrize("x_shape, kernel_size, stride, padding", POOL3D_CASES)
def test_avg_pool3d_matches_finite_differences_and_torch(x_shape, kernel_size, stride, padding, include):
    th = torch()
    assert_gradients_match(lambda a: F.avg_pool3d(a, kernel_size, stride, padding, count_include_pad=include),
                           normal(*x_shape))
    assert_matches_torch(lambda a: F.avg_pool3d(a, kernel_size, stride, padding, count_include_pad=include),
                         lambda a: th.nn.functional.avg_pool3d(a, kernel_size, stride, padding,
                                                               count_include_pad=include), normal(*x_shape))


def test_avg_pool3d_divisor_override_matches_torch():
    th = torch()
    assert_matches_torch(lambda a: F.avg_pool3d(a, 2, 1, 1, divisor_override=3),
                         lambda a: th.nn.functional.avg_pool3d(a, 2, 1, 1, divisor_override=3), normal(1, 2, 3, 4, 3))


def test_max_pool3d_gradient_goes_to_the_first_maximum():
    x = np.zeros((1, 1, 2, 2, 2))  # all tied: the first voxel (0, 0, 0) takes the gradient
    x[0, 0, 1, 0, 1] = -1.0
    a = Tensor(x, dtype=np.float64, requires_grad=True)
    F.max_pool3d(a, 2).sum().backward()
    assert a.grad.data.ravel().tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    x = np.array([0.0, 1.0, 5.0, 5.0, 5.0, 2.0, 5.0, 3.0]).reshape(1, 1, 2, 2, 2)  # 5s: (0,1,0) first
    a = Tensor(x, dtype=np.float64, requires_grad=True)
    F.max_pool3d(a, 2).sum().backward()
    assert a.grad.data.ravel().tolist() == [0, 0, 1, 0, 0, 0, 0, 0]
    th = pytest.importorskip("torch")
    b = th.tensor(x, requires_grad=True)
    th.nn.functional.max_pool3d(b, 2).sum().backward()
    assert b.grad.numpy().ravel().tolist() == a.grad.data.ravel().tolist()


def test_pool3d_layers_dtypes_and_hand_values():
    x = np.arange(64.0).reshape(1, 1, 4, 4, 4)
    for dtype in (np.float32, np.float64):
        out = MaxPool3d(2)(Tensor(x, dtype=dtype))
        assert out.shape == (1, 1, 2, 2, 2) and out.dtype == dtype
        assert out.data.ravel().tolist() == [21, 23, 29, 31, 53, 55, 61, 63]
        mean = AvgPool3d(2)(Tensor(x, dtype=dtype))
        assert mean.dtype == dtype and mean.data.ravel().tolist() == [10.5, 12.5, 18.5, 20.5, 42.5, 44.5, 50.5, 52.5]
        adaptive = AdaptiveAvgPool3d((1, 2, None))(Tensor(x, dtype=dtype))
        assert adaptive.shape == (1, 1, 1, 2, 4) and adaptive.dtype == dtype
        assert np.allclose(adaptive.data[0, 0, 0, 0], x[0, 0, :, :2].mean(axis=(0, 1)))
    corner = F.avg_pool3d(T(np.ones((1, 1, 2, 2, 2))), 3, 1, 1, count_include_pad=True).data.ravel()
    assert np.allclose(corner, 8 / 27)  # 8 real voxels of 27
    assert np.allclose(F.avg_pool3d(T(np.ones((1, 1, 2, 2, 2))), 3, 1, 1, count_include_pad=False).data, 1.0)
    assert repr(MaxPool3d(2)) == "MaxPool3d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"


# (x shape, output_size)
ADAPTIVE3D_CASES = [((2, 3, 4, 6, 8), (2, 3, 4)), ((1, 2, 5, 7, 3), (3, 2, None)), ((2, 5, 4, 3), 2),
                    ((1, 1, 3, 3, 3), 1)]


@pytest.mark.parametrize("x_shape, output_size", ADAPTIVE3D_CASES)
def test_adaptive_avg_pool3d_matches_finite_differences_and_torch(x_shape, output_size):
    th = torch()
    assert_gradients_match(lambda a: F.adaptive_avg_pool3d(a, output_size), normal(*x_shape))
    assert_matches_torch(lambda a: F.adaptive_avg_pool3d(a, output_size),
                         lambda a: th.nn.functional.adaptive_avg_pool3d(a, output_size), normal(*x_shape))
    assert nn.AdaptiveAvgPool3d(output_size)(Tensor(normal(*x_shape))).dtype == np.float32


def test_pool3d_errors():
    with pytest.raises(NotImplementedError, match="ceil_mode"):
        nn.MaxPool3d(2, ceil_mode=True)
    with pytest.raises(NotImplementedError, match="dilation"):
        F.max_pool3d(T(np.ones((1, 1, 4, 4, 4))), 2, dilation=2)
    with pytest.raises(NotImplementedError, match="ceil_mode"):
        nn.AvgPool3d(2, ceil_mode=True)
    with pytest.raises(ValueError, match="half"):
        nn.MaxPool3d(2, padding=2)
    with pytest.raises(ValueError, match="D, H, W"):
        nn.AvgPool3d(2)(Tensor(np.ones((4, 4, 4))))
    with pytest.raises(ValueError, match="fits"):
        nn.MaxPool3d(3)(Tensor(np.ones((1, 1, 2, 4, 4))))
    with pytest.raises(ValueError, match="divisor"):
        F.avg_pool3d(T(np.ones((1, 1, 2, 2, 2))), 2, divisor_override=0)
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_avg_pool3d(T(np.ones((1, 1, 2, 2, 2))), (1, 1))


# -- BatchNorm3d, InstanceNorm3d, Dropout3d ----------------------------------------------------

def test_batch_norm3d_matches_torch_in_train_and_eval():
    th = torch()
    mine, theirs = BatchNorm3d(3, momentum=0.2), th.nn.BatchNorm3d(3, momentum=0.2).double()
    mine.weight.data[...], mine.bias.data[...] = [1.0, 2.0, 0.5], [0.0, -1.0, 3.0]
    theirs.load_state_dict({k: th.tensor(as_array(v)) if as_array(v).ndim else th.tensor(int(as_array(v)))
                            for k, v in mine.state_dict().items()})
    assert list(mine.state_dict()) == list(theirs.state_dict())
    x = normal(2, 3, 2, 3, 4) * 2 + 1
    a, b = Tensor(x, dtype=np.float64, requires_grad=True), th.tensor(x, requires_grad=True)
    out, expected = mine(a), theirs(b)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), atol=1e-6)
    weights = normal(*x.shape)
    (out * T(weights)).sum().backward()
    (expected * th.tensor(weights)).sum().backward()
    np.testing.assert_allclose(a.grad.data, b.grad.numpy(), atol=1e-6)
    np.testing.assert_allclose(mine.weight.grad.data, theirs.weight.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(mine.running_var.data, theirs.running_var.numpy(), atol=1e-6)
    mine.eval(), theirs.eval()
    np.testing.assert_allclose(mine(T(x)).data, theirs(th.tensor(x)).detach().numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="expected 5D input"):
        mine(T(x[0]))


@pytest.mark.parametrize("shape, affine", [((2, 3, 2, 3, 4), True), ((3, 2, 3, 2), False)])
def test_instance_norm3d_matches_finite_differences_and_torch(shape, affine):
    th = torch()
    mine = InstanceNorm3d(shape[-4], affine=affine)
    theirs = th.nn.InstanceNorm3d(shape[-4], affine=affine).double()
    assert list(mine.state_dict()) == list(theirs.state_dict())
    x = normal(*shape)
    np.testing.assert_allclose(mine(T(x)).data, theirs(th.tensor(x)).detach().numpy(), atol=1e-6)
    y = InstanceNorm3d(shape[-4])(T(x)).data
    assert np.allclose(y.mean(axis=(-3, -2, -1)), 0, atol=1e-8)
    assert_gradients_match(lambda a: F.instance_norm(a.reshape((1,) * (5 - len(shape)) + shape)), x)
    with pytest.raises(ValueError, match="expected 4D or 5D"):
        mine(T(x.reshape(-1, 2, 3)))


def test_dropout3d_zeros_whole_channels_and_is_identity_in_eval():
    np.random.seed(0)
    layer = Dropout3d(0.25)
    x = Tensor(np.ones((8, 16, 2, 3, 2)), dtype=np.float32, requires_grad=True)
    y = layer(x)
    assert y.shape == x.shape and y.dtype == np.float32
    per_channel = y.data.reshape(128, -1)
    assert np.all(per_channel.min(axis=1) == per_channel.max(axis=1)), "a channel is kept or dropped as a whole"
    assert set(np.unique(per_channel).tolist()) == {0.0, float(np.float32(1 / 0.75))}
    assert 0.1 < np.mean(per_channel[:, 0] == 0) < 0.4
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, y.data)  # the gradient is the same mask
    unbatched = F.dropout3d(Tensor(np.ones((64, 2, 2, 2))), 0.5).data.reshape(64, -1)
    assert np.all(unbatched.min(axis=1) == unbatched.max(axis=1))
    layer.eval()
    assert np.array_equal(layer(x).data, x.data)
    assert F.dropout3d(x, 0.5, training=False) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout3d(1.5)
    with pytest.raises(ValueError, match="dropout3d"):
        F.dropout3d(Tensor(np.ones((2, 3, 4))), 0.5)


# -- EmbeddingBag ----------------------------------------------------------------------------

from tinytorch.text.embeddings import EmbeddingBag  # noqa: E402

IDS = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 0])
# (offsets, include_last_offset): an empty first bag, an empty bag in the middle, one bag of everything
BAG_CASES = [(np.array([0, 4, 4, 9]), False), (np.array([0, 0, 5, 12]), True), (np.array([0]), False)]


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("offsets, include_last", BAG_CASES)
@pytest.mark.parametrize("padding_idx", [None, 5, -10])
def test_embedding_bag_1d_matches_finite_differences_and_torch(mode, offsets, include_last, padding_idx):
    th = torch()
    table = normal(10, 3)

    def mine(w):
        return F.embedding_bag(Tensor(IDS, dtype=np.int64), w, Tensor(offsets, dtype=np.int64), mode=mode,
                               include_last_offset=include_last, padding_idx=padding_idx)

    def theirs(w):
        return th.nn.functional.embedding_bag(th.tensor(IDS), w, th.tensor(offsets), mode=mode,
                                              include_last_offset=include_last, padding_idx=padding_idx)

    out = mine(T(table))
    assert out.shape == (len(offsets) - include_last, 3) and out.dtype == np.float64
    assert mine(T(table, np.float32)).dtype == np.float32
    assert_gradients_match(mine, table)
    assert_matches_torch(mine, theirs, table)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_2d_matches_torch(mode):
    th = torch()
    ids = np.array([[1, 2, 2, 0], [3, 3, 3, 3], [4, 0, 1, 2]])
    assert_matches_torch(lambda w: F.embedding_bag(ids, w, mode=mode, padding_idx=3),
                         lambda w: th.nn.functional.embedding_bag(th.tensor(ids), w, mode=mode, padding_idx=3),
                         normal(5, 4))


@pytest.mark.parametrize("ids, offsets", [(np.array([[1, 2, 0], [4, 4, 3]]), None), (IDS, np.array([0, 2, 2, 7]))])
def test_embedding_bag_per_sample_weights_gradients(ids, offsets):
    th = torch()
    kw = dict(mode="sum", padding_idx=2)
    weights = normal(*ids.shape)
    assert_gradients_match(lambda w, s: F.embedding_bag(ids, w, offsets, per_sample_weights=s, **kw),
                           normal(10, 3), weights)
    assert_matches_torch(lambda w, s: F.embedding_bag(ids, w, offsets, per_sample_weights=s, **kw),
                         lambda w, s: th.nn.functional.embedding_bag(
                             th.tensor(ids), w, None if offsets is None else th.tensor(offsets),
                             per_sample_weights=s, **kw), normal(10, 3), weights)


def test_embedding_bag_max_gradient_goes_to_the_first_maximum_of_each_bag():
    th = torch()
    table = np.array([[1.0, 5.0], [3.0, 5.0], [3.0, 0.0], [0.0, 0.0]])
    ids, offsets = np.array([0, 1, 2, 2, 1, 3]), np.array([0, 3, 5])
    w = Tensor(table, dtype=np.float64, requires_grad=True)
    F.embedding_bag(ids, w, offsets, mode="max").sum().backward()
    assert w.grad.data.tolist() == [[0, 1], [1, 1], [1, 0], [1, 1]]
    v = th.tensor(table, requires_grad=True)
    th.nn.functional.embedding_bag(th.tensor(ids), v, th.tensor(offsets), mode="max").sum().backward()
    assert v.grad.numpy().tolist() == w.grad.data.tolist()


def test_embedding_bag_layer_layout_init_state_dict_and_torch():
    th = torch()
    np.random.seed(0)
    layer = EmbeddingBag(400, 8, mode="sum", padding_idx=-1)
    assert layer.weight.shape == (400, 8) and layer.weight.dtype == np.float32 and layer.padding_idx == 399
    assert list(layer.state_dict()) == list(th.nn.EmbeddingBag(4, 2).state_dict()) == ["weight"]
    assert 0.9 < layer.weight.data[:-1].std() < 1.1 and abs(layer.weight.data.mean()) < 0.1  # N(0, 1), as PyTorch
    assert np.all(layer.weight.data[399] == 0)
    theirs = th.nn.EmbeddingBag(400, 8, mode="sum", padding_idx=-1)
    assert repr(layer) == repr(theirs) and repr(EmbeddingBag(3, 2)) == repr(th.nn.EmbeddingBag(3, 2))
    theirs.load_state_dict({"weight": th.tensor(layer.weight.data)})
    ids, offsets = np.array([5, 399, 7, 7, 0]), np.array([0, 2])
    got, expected = layer(Tensor(ids, dtype=np.int64), Tensor(offsets, dtype=np.int64)), theirs(th.tensor(ids),
                                                                                                   th.tensor(offsets))
    assert got.dtype == np.float32 and got.shape == tuple(expected.shape)
    np.testing.assert_allclose(got.data, expected.detach().numpy(), atol=1e-6)
    got.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(layer.weight.grad.data, theirs.weight.grad.numpy())
    assert np.all(layer.weight.grad.data[399] == 0)


def test_embedding_bag_from_pretrained():
    table = np.arange(12.0).reshape(4, 3)
    frozen = EmbeddingBag.from_pretrained(Tensor(table, dtype=np.float64), mode="max")
    assert not frozen.weight.requires_grad and frozen.weight.dtype == np.float64 and frozen.mode == "max"
    assert frozen(np.array([[0, 3], [2, 1]])).data.tolist() == [[9.0, 10.0, 11.0], [6.0, 7.0, 8.0]]
    table[0] = -1  # a copy: the layer does not follow the caller's array
    assert frozen.weight.data[0, 0] == 0
    trained = EmbeddingBag.from_pretrained(table, freeze=False, padding_idx=0)
    assert trained.weight.requires_grad and trained.weight.data[0, 0] == -1  # kept as given, as in PyTorch
    trained(np.array([[0, 1]])).sum().backward()
    assert trained.weight.grad.data[:2].tolist() == [[0, 0, 0], [1, 1, 1]]


def test_embedding_bag_resolves_in_nn_and_functional():
    assert F.embedding_bag.__module__ == "tinytorch.text.embeddings"
    assert nn.EmbeddingBag is EmbeddingBag, "add 'EmbeddingBag' to the only= list in tinytorch/nn/__init__.py"


def test_embedding_bag_errors():
    w = T(np.ones((5, 2)))
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor but got None"):
        F.embedding_bag(np.array([1, 2]), w)
    with pytest.raises(ValueError, match="offsets has to be None"):
        F.embedding_bag(np.array([[1, 2]]), w, np.array([0]))
    with pytest.raises(ValueError, match="1D or 2D"):
        F.embedding_bag(np.ones((1, 1, 1), dtype=np.int64), w)
    with pytest.raises(RuntimeError, match=r"offsets\[0\] has to be 0"):
        F.embedding_bag(np.array([1, 2]), w, np.array([1]))
    with pytest.raises(RuntimeError, match="decrease"):
        F.embedding_bag(np.array([1, 2, 3]), w, np.array([0, 2, 1]))
    with pytest.raises(RuntimeError, match="length"):
        F.embedding_bag(np.array([1, 2]), w, np.array([0, 3]))
    with pytest.raises(ValueError, match="CSR"):
        F.embedding_bag(np.array([1, 2, 3]), w, np.array([0, 2]), include_last_offset=True)
    with pytest.raises(ValueError, match="mode has to be one of sum, mean or max"):
        F.embedding_bag(np.array([[1]]), w, mode="min")
    with pytest.raises(ValueError, match="mode"):
        EmbeddingBag(5, 2, mode="min")
    with pytest.raises(NotImplementedError, match="only supported for mode='sum'"):
        F.embedding_bag(np.array([[1]]), w, per_sample_weights=T([[1.0]]))
    with pytest.raises(ValueError, match="same shape"):
        F.embedding_bag(np.array([[1, 2]]), w, mode="sum", per_sample_weights=T([[1.0]]))
    with pytest.raises(RuntimeError, match="dtype"):
        F.embedding_bag(np.array([[1]]), w, mode="sum", per_sample_weights=T([[1.0]], np.float32))
    with pytest.raises(IndexError, match=r"\[0, 4\]"):
        F.embedding_bag(np.array([[5]]), w)
    for option in (dict(max_norm=1.0), dict(scale_grad_by_freq=True), dict(sparse=True)):
        with pytest.raises(NotImplementedError, match="not supported"):
            EmbeddingBag(5, 2, **option)
        with pytest.raises(NotImplementedError, match="not supported"):
            F.embedding_bag(np.array([[1]]), w, **option)
    with pytest.raises(ValueError, match="padding_idx"):
        EmbeddingBag(5, 2, padding_idx=5)
