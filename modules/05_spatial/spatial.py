# %% [markdown]
# # Module 05 — Spatial layers: convolution and pooling
#
# An MLP sees an 8×8 digit as 64 unrelated numbers. Shift the digit one pixel to the
# right and, to the MLP, every input has changed: whatever it learned about a stroke at
# one place it must learn again at every other place. Images are not like that. What
# makes a "7" is local (a horizontal stroke meeting a slanted one) and the same wherever
# it appears.
#
# A **convolution** builds that knowledge into the layer:
#
# - **Locality.** Each output looks at a small window of the input (3×3, say), not at
#   every pixel.
# - **Weight sharing.** The same small set of weights — a *filter* or *kernel* — slides
#   over the whole image. A filter that detects a vertical edge detects it everywhere.
# - **Far fewer parameters.** Mapping a 28×28 image to eight 28×28 feature maps takes
#   784 × 6,272 ≈ 4.9 million weights as a `Linear` layer, and 8 × 3 × 3 = 72 as a
#   convolution.
#
# **Pooling** then shrinks each feature map (keep the strongest response in every 2×2
# block), so deeper layers see a larger part of the image for the same cost and the
# network shrugs off small shifts. Stack convolution → ReLU → pooling twice, finish with
# a `Linear` layer, and you have the shape of LeCun's LeNet (1998), the network that read
# the handwritten digits on US bank cheques.
#
# This module builds `Conv2d`, `MaxPool2d`, `AvgPool2d` and `Flatten` with PyTorch's
# names and signatures. The interesting part is making them *fast* in NumPy: no Python
# loop over pixels, channels or images. The trick, **im2col**, turns a convolution into
# one big matrix multiplication.

# %%
#| default_exp nn.spatial
#| requires 00_setup 01_tensor 02_autograd 03_nn 04_training
#| export
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinytorch.core.autograd import Function, cat, stack
from tinytorch.core.setup import _blas_matmul
from tinytorch.core.tensor import Tensor
from tinytorch.nn import init
from tinytorch.nn.batchnorm import _BatchNorm
from tinytorch.nn.modules import Module, Parameter, pad

# %% [markdown]
# ## What a convolution computes
#
# Images travel in batches of shape **(N, C, H, W)**: N images, C channels (1 for
# grayscale, 3 for RGB, 8 for the eight feature maps a previous layer produced), H rows,
# W columns. A `Conv2d` with `out_channels` filters holds a weight of shape
# **(O, C, kh, kw)** — one (C, kh, kw) filter per output channel — and a bias of shape (O,).
#
# Output channel `o` at position `(i, j)` is the dot product of filter `o` with the
# window of the input whose top-left corner is at `(i·stride, j·stride)`, plus the bias:
#
# $$\text{out}[n, o, i, j] = b_o + \sum_{c,\,p,\,q} w[o, c, p, q]\;
#   x[n,\, c,\, i\cdot s_h + p,\, j\cdot s_w + q]$$
#
# (Mathematicians would flip the kernel and call this cross-correlation; every deep-learning
# library calls it convolution, and since the weights are learned the flip does not matter.)
#
# - **Padding** `p` adds `p` rows/columns of zeros around the image first, so border
#   pixels are seen as often as the others and a 3×3 kernel with `padding=1` keeps the
#   size.
# - **Stride** `s` moves the window `s` pixels at a time, shrinking the output.
#
# Together they give the output size, per dimension:
#
# $$H_\text{out} = \left\lfloor \frac{H + 2p - k_h}{s} \right\rfloor + 1$$
#
# `kernel_size`, `stride` and `padding` may each be one number or a `(height, width)`
# pair, as in PyTorch; `_pair` turns them into pairs. PyTorch's two words for padding work
# too: `padding="valid"` is none, and `padding="same"` keeps the size — `k // 2` on each
# side, for stride 1 and odd kernel sizes (an even kernel would need one more row on one
# side than on the other; pad with `F.pad` first).

# %%
#| export
def _pair(value, name="value", minimum=1):
    """3 -> (3, 3); (3, 2) -> (3, 2); a clear ValueError for anything else."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else value
    if not (
        isinstance(pair, (tuple, list))
        and len(pair) == 2
        and all(isinstance(v, (int, np.integer)) and v >= minimum for v in pair)
    ):
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, not {value!r}")
    return int(pair[0]), int(pair[1])


def _conv_padding(padding, kernel_size, stride):
    """A convolution's padding, one number per kernel dimension; "valid" and "same" as in PyTorch."""
    if not isinstance(padding, str):
        if len(kernel_size) == 1:
            return (_single(padding, "padding", minimum=0),)
        return _pair(padding, "padding", minimum=0)
    if padding == "valid":
        return (0,) * len(kernel_size)
    if padding != "same":
        raise ValueError(f"padding must be 'valid', 'same', an int or a pair of them, not {padding!r}")
    if any(s != 1 for s in stride):
        raise ValueError("padding='same' is not supported for strided convolutions")
    if any(k % 2 == 0 for k in kernel_size):
        raise ValueError(f"padding='same' needs odd kernel sizes here, not {kernel_size}: an even kernel "
                         "pads one side more than the other; pad the input with F.pad first")
    return tuple(k // 2 for k in kernel_size)


# %%
def test_unit_pair():
    """Checks the provided `_pair`: one number becomes a pair, a pair stays, anything else is a
    `ValueError` that names the argument. It is given code: a failure means the cell above was
    edited — compare it with the course's version.
    """
    assert _pair(3) == (3, 3) and _pair((3, 2)) == (3, 2)
    assert _pair(0, "padding", minimum=0) == (0, 0)
    assert _conv_padding("same", (3, 5), (1, 1)) == (1, 2) and _conv_padding("valid", (3,), (1,)) == (0,)
    for bad in (0, (1, 2, 3), 1.5, (2, 0)):
        try:
            _pair(bad, "stride")
        except ValueError as err:
            assert "stride" in str(err)
        else:
            raise AssertionError(f"_pair({bad!r}) should raise")


if __name__ == "__main__":
    test_unit_pair()

# %% [markdown]
# ## The obvious way, and why we cannot use it
#
# The formula translates directly into loops: over images, output channels, output rows
# and output columns, with a small dot product inside. This version is here to be *read*
# (and to check the fast one against); it is not exported.

# %%
def conv2d_naive(x, weight, bias=None, stride=1, padding=0):
    """Reference convolution with explicit loops: slow, obviously correct."""
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding, minimum=0)
    N, C, H, W = x.shape
    O, _, kh, kw = weight.shape
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    out = np.zeros((N, O, Ho, Wo), dtype=np.result_type(x, weight))
    for n in range(N):
        for o in range(O):
            for i in range(Ho):
                for j in range(Wo):
                    window = x[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    out[n, o, i, j] = np.sum(window * weight[o])
            if bias is not None:
                out[n, o] += bias[o]
    return out


# %% [markdown]
# For one training batch of our digit CNN (64 images, 8 filters of 8×8 outputs, then 16
# of 4×4) those loops run the inner dot product 64·(8·64 + 16·16) ≈ 49,000 times per
# forward pass, each one a round trip through the Python interpreter — a fifth of a
# second for one batch, before any backward pass. The arithmetic itself (about
# 1.5 million multiply-adds) takes a matrix-multiply routine well under a millisecond.
# The task is to hand it all to such a routine in one call.
#
# ## Windows for free: strided views
#
# A NumPy array is a block of memory plus *strides*: how many bytes to step for each
# index. A *view* reuses the memory with new strides, so it costs no copy. NumPy's
# `sliding_window_view(x, (kh, kw), axis=(1, 2))` is such a view: it adds two axes,
# and element `[..., i, j, ..., p, q]` is pixel `(i + p, j + q)` — every kh×kw window of
# the image, without copying a single pixel. Taking every `s`-th window (`[:, ::s, ::s]`)
# is again just a change of strides.
#
# **Memory layout matters.** Inside our operations we keep the images *batch last*,
# **(C, H, W, N)**, and hand the result back to the caller as an (N, C, H, W) *view* of
# that memory (`transpose` costs nothing). Why? When NumPy copies a window of an image,
# it copies contiguous runs of memory. In (N, C, H, W) a run inside a window is one row
# of the window — 3 numbers for a 3×3 kernel. With the batch last, a run is a whole row
# of windows for all N images at once — hundreds of numbers. Same result, several times
# faster copies. Tensors coming out of our convolution are already batch last in
# memory, so the next ReLU, pooling or convolution reads them without any copy at all.
#
# `_batch_last` moves a batch into that layout (zero-padding it on the way), and
# `_patches` returns the (C, kh, kw, H_out, W_out, N) view of every window, ordered
# so that the first three axes match a filter's (C, kh, kw).

# %%
#| export
def _batch_last(x, padding=(0, 0)):
    """(N, C, H, W) -> (C, H + 2·ph, W + 2·pw, N), zero-padded; a view when there is no padding."""
    ### BEGIN SOLUTION
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x.transpose(1, 2, 3, 0)
    N, C, H, W = x.shape
    out = np.zeros((C, H + 2 * ph, W + 2 * pw, N), dtype=x.dtype)
    out[:, ph:ph + H, pw:pw + W] = x.transpose(1, 2, 3, 0)
    return out
    ### END SOLUTION


def _patches(xt, kernel_size, stride):
    """Every window of a batch-last stack xt (C, H, W, N), as a (C, kh, kw, Ho, Wo, N) view."""
    ### BEGIN SOLUTION
    (kh, kw), (sh, sw) = kernel_size, stride
    windows = sliding_window_view(xt, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]  # (C, Ho, Wo, N, kh, kw)
    return windows.transpose(0, 4, 5, 1, 2, 3)
    ### END SOLUTION


# %%
def test_unit_patches():
    """Checks `_batch_last` and `_patches`: zeros padded around every image, a *view* (no copy) when
    there is no padding, and every window as a `(C, kh, kw, Ho, Wo, N)` view in which window (i, j)
    starts at row i·sh, column j·sw. `sliding_window_view` puts the two window axes *last*: take
    every stride-th window along the position axes, then reorder with one `transpose` — a `reshape`
    here would copy.
    """
    x = np.arange(2 * 3 * 5 * 4, dtype=np.float64).reshape(2, 3, 5, 4)  # (N, C, H, W)
    xt = _batch_last(x, (1, 0))
    assert xt.shape == (3, 7, 4, 2)
    assert np.all(xt[:, 0] == 0) and np.all(xt[:, -1] == 0)  # the padded rows
    assert np.array_equal(xt[:, 1:-1].transpose(3, 0, 1, 2), x)
    assert np.shares_memory(_batch_last(x), x)  # no padding: a view, not a copy
    p = _patches(xt, (3, 2), (2, 1))  # 3x2 windows, stride 2 down, 1 across
    assert p.shape == (3, 3, 2, 3, 3, 2)  # (C, kh, kw, Ho, Wo, N)
    assert np.shares_memory(p, xt)  # still no copy
    # window (i, j) of image n starts at row 2*i, column j of the padded image
    n, i, j = 1, 2, 1
    assert np.array_equal(p[:, :, :, i, j, n], xt[:, 2 * i:2 * i + 3, j:j + 2, n])


if __name__ == "__main__":
    test_unit_patches()

# %% [markdown]
# ## im2col: a convolution is one matrix multiplication
#
# Reshape the window view into a matrix with **one row per (channel, kernel row, kernel
# column)** and **one column per (output position, image)**:
#
# $$\text{cols}: \; (C\,k_h k_w) \times (H_\text{out} W_\text{out} N)$$
#
# This is **im2col** ("image to columns"); the reshape is where the copy happens, once.
# Each column is one flattened window. Reshape the weight to
# $W_2: O \times (C\,k_h k_w)$ — each row one flattened filter — and every dot product
# of every filter with every window is a single matrix product:
#
# $$\text{out} = W_2 \,\text{cols} + b \qquad (O \times H_\text{out} W_\text{out} N)$$
#
# One call to the BLAS routine behind `@` does all 1.5 million multiply-adds of a batch,
# in cache-friendly blocks, close to the processor's peak speed. (We call it through
# module 00's `_blas_matmul`, which lets a large product use every core.) The price is memory:
# each input pixel is copied into up to kh·kw columns. (Real libraries pick among several algorithms — im2col,
# direct, FFT, Winograd — per layer shape; im2col is the workhorse.)
#
# **Why not channels last?** PyTorch's fast CPU path stores images as (N, H, W, C) and
# multiplies the transposed matrix — one *row* per window, $(H_\text{out} W_\text{out} N)
# \times (k_h k_w C)$ — by the filters. OpenBLAS on one thread does run that order faster
# (second layer of a CIFAR-sized CNN: 7.6 instead of 8.8 ms), and a whole CIFAR training step
# got 8 % faster when we tried it. But LeNet, with 1 and 6 channels, got 30–40 % slower: in
# (N, H, W, C) a contiguous run inside a window is only kw·C numbers (5 for a grayscale
# image), and every pooling slab runs over C numbers, where batch last always gives runs of
# at least N. No layout wins for every network — which is why real libraries choose per
# layer. We keep batch last: one simple layout, and the faster one for the few-channel
# networks of this course.
#
# ## The backward pass
#
# The forward pass is a matrix product, so its gradients are the ones you derived for
# `MatMulOp`. With $g$ the gradient of the output reshaped like `out` ($O \times M$):
#
# - $\partial L/\partial W_2 = g\, \text{cols}^\top$ — reshaped back to (O, C, kh, kw). We
#   compute it as $(\text{cols}\; g^\top)^\top$: the same numbers, but OpenBLAS happens
#   to run this order of the operands 10–15 % faster here (measured: 8.5 → 7.4 ms for the
#   second layer of a CIFAR-sized CNN) — which layout a BLAS likes best is worth measuring;
# - $\partial L/\partial b = $ the sum of $g$ over its columns, which we also hand to BLAS as
#   $g$ times a vector of ones: 0.31 → 0.06 ms against `g.sum(axis=1)` on the first layer of
#   that CNN, since NumPy's sum walks a 32 × 65,536 matrix less cleverly than BLAS does;
# - $\partial L/\partial\,\text{cols} = W_2^\top g$ — a gradient for every *copy* of every
#   pixel.
#
# The last one must still become a gradient for the image itself. A pixel was copied into
# several windows, so its gradient is the **sum** over all of them. That is **col2im**
# (`_fold` below), the adjoint of cutting windows: for each kernel offset `(p, q)`, the
# slab `dcols[:, p, q]` holds the gradients of the pixels at offset `(p, q)` of every
# window; those pixels form a strided slice of the image, and we add the slab onto it.
# That is one loop over the kh·kw offsets (9 for a 3×3 kernel), and each iteration is a
# single vectorized addition over all channels, positions and images at once. (A plain
# `dx[slice] = ...` assignment would be wrong: windows overlap, so gradients must add.)

# %%
#| export
def _fold(dpatches, shape, stride):
    """col2im: add the gradient of every window (C, kh, kw, Ho, Wo, N) back onto a (C, H, W, N) image."""
    ### BEGIN SOLUTION
    C, kh, kw, Ho, Wo, N = dpatches.shape
    sh, sw = stride
    dx = np.zeros(shape, dtype=dpatches.dtype)
    for p in range(kh):  # one vectorized add per kernel offset, never per pixel
        for q in range(kw):
            dx[:, p:p + sh * Ho:sh, q:q + sw * Wo:sw] += dpatches[:, p, q]
    return dx
    ### END SOLUTION


# %%
def test_unit_fold():
    """Checks `_fold` (col2im): folding ones counts the windows each pixel belongs to, and `_fold`
    is the exact adjoint of `_patches`. Loop over the kh·kw kernel offsets only, and *add* each slab
    onto the strided slice of pixels it came from (a step of the stride, Ho or Wo of them):
    overlapping windows must add up, which plain assignment does not.
    """
    # Folding ones counts how many windows each pixel belongs to.
    counts = _fold(np.ones((1, 3, 3, 2, 2, 1)), (1, 4, 4, 1), (1, 1))[0, :, :, 0]
    assert counts.tolist() == [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]]
    # It is the adjoint of _patches: <patches(x), d> == <x, fold(d)> for any x, d.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 6, 3))
    d = rng.normal(size=_patches(x, (3, 2), (2, 2)).shape)
    lhs = np.sum(_patches(x, (3, 2), (2, 2)) * d)
    assert np.isclose(lhs, np.sum(x * _fold(d, x.shape, (2, 2))))


if __name__ == "__main__":
    test_unit_fold()

# %% [markdown]
# ## Conv2dOp: forward and backward side by side
#
# Everything together, as one `Function`. The forward keeps `cols` for the backward
# (it needs it for the weight gradient) and returns an (N, O, H_out, W_out) view of the
# batch-last result. The bias may be `None`; its gradient is then `None` too.

# %%
#| export
class Conv2dOp(Function):
    """2-D convolution (cross-correlation) of an (N, C, H, W) batch with (O, C, kh, kw) filters."""

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=(1, 1), padding=(0, 0)):
        if x.ndim != 4:
            raise ValueError(f"Conv2d expects a batch of shape (N, C, H, W), got shape {x.shape}")
        O, C, kh, kw = weight.shape
        if x.shape[1] != C:
            raise ValueError(f"Conv2d expects {C} input channels, got input of shape {x.shape}")
        ph, pw = padding
        if x.shape[2] + 2 * ph < kh or x.shape[3] + 2 * pw < kw:
            raise ValueError(
                f"kernel {(kh, kw)} is larger than the padded input {(x.shape[2] + 2 * ph, x.shape[3] + 2 * pw)}"
            )
        ### BEGIN SOLUTION
        xt = _batch_last(x, padding)
        patches = _patches(xt, (kh, kw), stride)
        _, _, _, Ho, Wo, N = patches.shape
        cols = patches.reshape(C * kh * kw, Ho * Wo * N)  # im2col: the one copy
        out = _blas_matmul(weight.reshape(O, -1), cols)
        if bias is not None:
            out += bias[:, None]
        ctx.save_for_backward(cols, weight)
        ctx.padded_shape, ctx.stride, ctx.padding = xt.shape, stride, padding
        ctx.has_bias = bias is not None
        return out.reshape(O, Ho, Wo, N).transpose(3, 0, 1, 2)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        cols, weight = ctx.saved_tensors
        O, C, kh, kw = weight.shape
        N, _, Ho, Wo = grad.shape
        g = grad.transpose(1, 2, 3, 0).reshape(O, -1)  # (O, Ho*Wo*N), like `out`
        grad_weight = _blas_matmul(cols, g.T).T.reshape(weight.shape)  # g @ cols.T, in BLAS's faster order
        grad_bias = _blas_matmul(g, np.ones(g.shape[1], dtype=g.dtype)) if ctx.has_bias else None  # g summed over its columns
        if not ctx.needs_input_grad[0]:  # the images themselves: no gradient to fold back
            return None, grad_weight, grad_bias
        dcols = _blas_matmul(weight.reshape(O, -1).T, g).reshape(C, kh, kw, Ho, Wo, N)
        dxt = _fold(dcols, ctx.padded_shape, ctx.stride)
        (ph, pw), (_, Hp, Wp, _) = ctx.padding, ctx.padded_shape
        grad_x = dxt[:, ph:Hp - ph, pw:Wp - pw].transpose(3, 0, 1, 2)  # drop the padding
        return grad_x, grad_weight, grad_bias
        ### END SOLUTION


# %%
def _small_conv_case(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 3, 7, 6))
    w = rng.normal(size=(4, 3, 3, 2))
    b = rng.normal(size=4)
    return x, w, b


def test_unit_conv2d_op_forward():
    """Checks `Conv2dOp.forward` against the loop version `conv2d_naive` for several strides and
    paddings, with and without a bias. Follow im2col: windows reshaped into `(C·kh·kw, Ho·Wo·N)`
    columns, the weight as `(O, C·kh·kw)` rows, one matrix product, the bias per output row, then
    back to `(N, O, Ho, Wo)`. The right shape with wrong numbers means axes flattened in an order
    that does not match the filter's `(C, kh, kw)`.
    """
    x, w, b = _small_conv_case()
    for stride, padding in [((1, 1), (0, 0)), ((2, 1), (1, 2)), ((3, 2), (1, 0))]:
        got = Conv2dOp.apply(Tensor(x, dtype=np.float64), Tensor(w, dtype=np.float64),
                             Tensor(b, dtype=np.float64), stride=stride, padding=padding)
        expected = conv2d_naive(x, w, b, stride, padding)
        assert got.shape == expected.shape, (got.shape, expected.shape)
        assert np.allclose(got.data, expected), (stride, padding)
    no_bias = Conv2dOp.apply(Tensor(x, dtype=np.float64), Tensor(w, dtype=np.float64))
    assert np.allclose(no_bias.data, conv2d_naive(x, w))
    try:
        Conv2dOp.apply(Tensor(x[:, :2]), Tensor(w))
    except ValueError as err:
        assert "channels" in str(err)
    else:
        raise AssertionError("a channel mismatch should raise ValueError")


if __name__ == "__main__":
    test_unit_conv2d_op_forward()


# %% [markdown]
# To test a backward pass we compare it with **finite differences**: nudge one input
# number by ±ε and see how a scalar function of the output moves. We use a random
# weighting of the output (`sum(out * r)`) rather than a plain sum, so that a backward
# that scrambles the positions of the gradient cannot pass by accident.

# %%
from tinytorch.core.autograd import numerical_gradient


def test_unit_conv2d_op_backward():
    """Checks `Conv2dOp.backward` for input, weight and bias against finite differences; a random
    weighting of the output catches scrambled positions. Lay the incoming `(N, O, Ho, Wo)` gradient
    out exactly as the forward's `out` before the two matrix products of the text, fold the columns'
    gradient onto the *padded* image with `_fold`, then cut the padding off.
    """
    x, w, b = _small_conv_case(1)
    stride, padding = (2, 1), (1, 2)
    r = np.random.default_rng(2).normal(size=conv2d_naive(x, w, b, stride, padding).shape)
    tensors = [Tensor(a, dtype=np.float64, requires_grad=True) for a in (x, w, b)]
    (Conv2dOp.apply(*tensors, stride=stride, padding=padding) * Tensor(r, dtype=np.float64)).sum().backward()

    def loss():
        return np.sum(conv2d_naive(x, w, b, stride, padding) * r)

    for array, tensor in zip((x, w, b), tensors):
        assert tensor.grad.shape == array.shape
        assert np.allclose(tensor.grad.data, numerical_gradient(lambda _: loss(), array), atol=1e-6)


if __name__ == "__main__":
    test_unit_conv2d_op_backward()

# %% [markdown]
# ## Conv2d: the layer
#
# The layer owns the parameters and calls the operation. Initialization is PyTorch's
# default, as for `Linear`, with the fan-in of one output being the size of one filter,
# $C \cdot k_h \cdot k_w$: weights and biases uniform on $\pm 1/\sqrt{\text{fan\_in}}$
# (module 04's `init._default_layer_init`, which the given `reset_parameters()` calls, as
# for every convolution here: it draws them again into the same Parameters). The random biases matter more here than you
# might think: a blank region of a digit is all zeros, and with zero biases every filter
# would answer exactly 0 there — right at ReLU's kink, where no gradient flows.
#
# PyTorch's `groups=g` is given: the input channels and the filters are cut into `g`
# groups, and each group of filters sees only its own group of channels — so a filter
# has `in_channels // g` input channels, and `groups=in_channels` is the *depthwise*
# convolution of MobileNet and ConvNeXt (one filter per channel). It runs your `Conv2dOp`
# once per group and puts the outputs side by side.

# %%
#| export
def _groups(groups, in_channels, out_channels):
    """PyTorch's groups: a positive number that divides both channel counts."""
    if not isinstance(groups, (int, np.integer)) or groups < 1 or in_channels % groups or out_channels % groups:
        raise ValueError(f"groups must be a positive int dividing in_channels ({in_channels}) and "
                         f"out_channels ({out_channels}), not {groups!r}")
    return int(groups)


def _grouped_conv2d(x, weight, bias, stride, padding, groups):
    """Conv2dOp for each group of channels and its own filters, the outputs side by side."""
    if x.ndim != 4 or x.shape[1] != weight.shape[1] * groups:
        raise ValueError(f"Conv2d expects {weight.shape[1] * groups} input channels in {groups} groups, "
                         f"got input of shape {x.shape}")
    c, o = weight.shape[1], weight.shape[0] // groups
    return cat([Conv2dOp.apply(x[:, i * c:(i + 1) * c], weight[i * o:(i + 1) * o],
                               None if bias is None else bias[i * o:(i + 1) * o], stride=stride, padding=padding)
                for i in range(groups)], dim=1)


class Conv2d(Module):
    """2-D convolution over an (N, C, H, W) batch; weight (out_channels, in_channels // groups, kh, kw)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros"):  # PyTorch's arguments, in PyTorch's order
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride, self.dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
        self.padding = _conv_padding(padding, _spread_kernel(self.kernel_size, self.dilation), self.stride)
        self._padding_text = padding if isinstance(padding, str) else None  # the repr shows padding=same as PyTorch's
        self.groups = _groups(groups, in_channels, out_channels)
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', not {padding_mode!r}")
        self.padding_mode = padding_mode
        ### BEGIN SOLUTION
        self.weight = Parameter(np.zeros((out_channels, in_channels // self.groups) + self.kernel_size))
        self.bias = Parameter(np.zeros(out_channels)) if bias else None
        ### END SOLUTION
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default again, into the same Parameters: weight and bias uniform on ±1/√fan_in."""
        init._default_layer_init(self.weight, self.bias)

    def forward(self, x):
        padding = self.padding
        if self.padding_mode != "zeros":  # given: pad with copies of the border first, then no zeros
            (ph, pw), padding = self.padding, (0, 0)
            x = pad(x, (pw, pw, ph, ph), mode=self.padding_mode)
            if self.groups == 1 and self.dilation == (1, 1):
                return Conv2dOp.apply(x, self.weight, self.bias, stride=self.stride, padding=padding)
        if self.groups > 1 or self.dilation != (1, 1):  # given: groups and spaced taps (the functional form)
            return conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)
        ### BEGIN SOLUTION
        return Conv2dOp.apply(x, self.weight, self.bias, stride=self.stride, padding=self.padding)
        ### END SOLUTION

    def extra_repr(self):
        return _conv_repr(self)


def _spread_kernel(kernel_size, dilation):
    """The extent of a kernel whose taps are ``dilation`` apart: d·(k − 1) + 1 along each dimension."""
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, dilation))


def _conv_repr(conv):
    """PyTorch's repr of every convolution layer: kernel and stride, then only the settings that
    differ from their defaults (padding, dilation, output_padding, groups, bias=False, padding_mode)."""
    padding = getattr(conv, "_padding_text", None) or conv.padding
    extra = "" if not any(conv.padding) and not isinstance(padding, str) else f", padding={padding}"
    extra += "" if all(d == 1 for d in conv.dilation) else f", dilation={conv.dilation}"
    extra += "" if not any(getattr(conv, "output_padding", ())) else f", output_padding={conv.output_padding}"
    extra += "" if conv.groups == 1 else f", groups={conv.groups}"
    extra += "" if conv.bias is not None else ", bias=False"
    extra += "" if conv.padding_mode == "zeros" else f", padding_mode={conv.padding_mode}"
    return f"{conv.in_channels}, {conv.out_channels}, kernel_size={conv.kernel_size}, stride={conv.stride}{extra}"


# %%
def test_unit_conv2d():
    """Checks the `Conv2d` layer: float32 Parameters of shape `(out_channels, in_channels, kh, kw)`
    and `(out_channels,)`, filled by the provided `init._default_layer_init` (±1/√(C·kh·kw)), no
    bias with `bias=False`, and a forward that hands the layer's stride and padding to `Conv2dOp`.
    Build the shapes from the normalized pairs (`self.kernel_size`), or a `(3, 5)` kernel breaks;
    with `groups`, each filter sees only its group's share of the input channels.
    """
    np.random.seed(0)
    conv = Conv2d(1, 8, 3, padding=1)
    assert conv.weight.shape == (8, 1, 3, 3) and conv.bias.shape == (8,)
    assert conv.weight.dtype == np.float32
    assert np.all(np.abs(conv.weight.data) <= 1 / 3) and np.abs(conv.weight.data).max() > 0.25  # ±1/√(1·3·3)
    assert np.all(np.abs(conv.bias.data) <= 1 / 3) and np.any(conv.bias.data)
    assert [n for n, _ in conv.named_parameters()] == ["weight", "bias"]
    x = Tensor(np.random.rand(4, 1, 8, 8))
    y = conv(x)
    assert y.shape == (4, 8, 8, 8) and y.dtype == np.float32  # padding=1 keeps the size
    expected = conv2d_naive(x.data, conv.weight.data, conv.bias.data, 1, 1)
    assert np.allclose(y.data, expected, atol=1e-5)
    assert Conv2d(3, 2, (3, 5), stride=2)(Tensor(np.ones((1, 3, 9, 9)))).shape == (1, 2, 4, 3)
    assert Conv2d(3, 2, 3, bias=False).bias is None
    depthwise = Conv2d(4, 8, 3, groups=4)  # two filters per channel, each seeing its channel only
    assert depthwise.weight.shape == (8, 1, 3, 3)
    xg = np.random.rand(2, 4, 5, 5)
    by_group = [conv2d_naive(xg[:, i:i + 1], depthwise.weight.data[2 * i:2 * i + 2], depthwise.bias.data[2 * i:2 * i + 2])
                for i in range(4)]
    assert np.allclose(depthwise(Tensor(xg)).data, np.concatenate(by_group, axis=1), atol=1e-5)
    assert "kernel_size=(3, 3)" in repr(conv)
    y.sum().backward()
    assert conv.weight.grad.shape == conv.weight.shape and conv.bias.grad.shape == (8,)
    assert np.allclose(conv.bias.grad.data, 4 * 8 * 8)  # every output position adds 1


if __name__ == "__main__":
    test_unit_conv2d()

# %% [markdown]
# ## Conv1d: the same idea along one axis
#
# Audio, sensor readings and token sequences have one spatial axis: a batch is
# **(N, C, L)** and a `Conv1d` filter is **(O, C, k)**, sliding along L. Nothing new is
# needed: a 1-D convolution is a 2-D convolution of an image of height 1 with a filter
# of height 1. Reshape the input to (N, C, 1, L) and the weight to (O, C, 1, k), call
# `Conv2dOp` with stride `(1, s)` and padding `(0, p)`, and reshape the result back to
# (N, O, L_out). `reshape` is differentiable, so autograd carries the gradients through
# both reshapes for free.

# %%
#| export
def _single(value, name, minimum=1):
    """3 -> 3; (3,) -> 3, with the same checks as _pair."""
    value = value[0] if isinstance(value, (tuple, list)) and len(value) == 1 else value
    return _pair(value, name, minimum)[0]


def _conv1d(x, weight, bias, stride, padding):
    """A 1-D convolution of (N, C, L) as a 2-D one of height 1."""
    if x.ndim != 3:
        raise ValueError(f"Conv1d expects a batch of shape (N, C, L), got shape {x.shape}")
    ### BEGIN SOLUTION
    N, C, L = x.shape
    O, _, k = weight.shape
    out = Conv2dOp.apply(x.reshape(N, C, 1, L), weight.reshape(O, C, 1, k), bias,
                         stride=(1, stride), padding=(0, padding))
    return out.reshape(N, O, out.shape[-1])
    ### END SOLUTION


class Conv1d(Module):
    """1-D convolution over an (N, C, L) batch; weight (out_channels, in_channels, kernel_size)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros"):  # PyTorch's arguments, in PyTorch's order
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = (_single(kernel_size, "kernel_size"),)
        self.stride, self.dilation = (_single(stride, "stride"),), (_single(dilation, "dilation"),)
        self.padding = _conv_padding(padding, _spread_kernel(self.kernel_size, self.dilation), self.stride)
        self._padding_text = padding if isinstance(padding, str) else None
        self.groups = _groups(groups, in_channels, out_channels)
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', not {padding_mode!r}")
        self.padding_mode = padding_mode
        self.weight = Parameter(np.zeros((out_channels, in_channels // self.groups) + self.kernel_size))
        self.bias = Parameter(np.zeros(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default again, into the same Parameters: weight and bias uniform on ±1/√fan_in."""
        init._default_layer_init(self.weight, self.bias)

    def forward(self, x):
        padding = self.padding[0]
        if self.padding_mode != "zeros":  # pad with copies of the border first, as Conv2d does
            x, padding = pad(x, (padding, padding), mode=self.padding_mode), 0
        if self.groups > 1 or self.dilation != (1,):  # the functional form: a 2-D convolution of height 1
            return conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)
        return _conv1d(x, self.weight, self.bias, self.stride[0], padding)

    def extra_repr(self):
        return _conv_repr(self)


# %%
def test_unit_conv1d():
    """Checks `_conv1d` through `Conv1d` against `conv2d_naive` on a height-1 image: `(N, C, L)` in,
    `(N, O, L_out)` out, with gradients. Reshape input and weight to height 1, give `Conv2dOp`
    stride and padding pairs that leave the height alone, and reshape back — with `Tensor.reshape`,
    so autograd sees every step.
    """
    np.random.seed(0)
    conv = Conv1d(2, 3, 3, stride=2, padding=1)
    assert conv.weight.shape == (3, 2, 3) and np.all(np.abs(conv.weight.data) <= 1 / math.sqrt(6))
    x = Tensor(np.random.rand(4, 2, 9), requires_grad=True)
    y = conv(x)
    assert y.shape == (4, 3, 5)  # (9 + 2 - 3) // 2 + 1
    expected = conv2d_naive(x.data[:, :, None], conv.weight.data[:, :, None], conv.bias.data, (1, 2), (0, 1))[:, :, 0]
    assert np.allclose(y.data, expected, atol=1e-5)
    y.sum().backward()
    assert x.grad.shape == x.shape and conv.weight.grad.shape == (3, 2, 3)
    assert np.allclose(conv.bias.grad.data, 4 * 5)


if __name__ == "__main__":
    test_unit_conv1d()

# %% [markdown]
# ## Pooling: summarize each neighbourhood
#
# After a convolution and a ReLU, each feature map says "how strongly does my pattern
# appear here". Pooling keeps that answer at a coarser grid: a 2×2 pool with stride 2
# halves the height and the width (a quarter of the positions) and has no parameters.
#
# - **MaxPool2d** keeps the largest value in each window: "is the pattern anywhere in
#   this 2×2 block?". A shift by one pixel often leaves the answer unchanged.
# - **AvgPool2d** keeps the mean: a smoother summary, used at the end of many modern
#   networks ("global average pooling").
#
# Both reuse the windows from above: `_patches` gives every window as a view, and the
# backward pass goes through `_fold` again (pooling windows may overlap when
# `stride < kernel_size`, and then gradients must add up, exactly as for convolution).
#
# **The gradient of max** flows only to the element that *won* — the others did not
# affect the output. So the forward pass remembers, for every window, *which* of its
# kh·kw elements won: a small integer per output (`uint8`, a quarter of a float32), not
# a copy of the windows. It walks the kernel offsets one at a time: `slab` = the element
# at offset `k` of every window (a view), `best` = the running maximum (`np.maximum(best,
# slab, out=best)`), and `winner` = where it was found. When several elements tie (a
# window of ReLU zeros is common), only the first one takes the gradient, as in PyTorch:
# a later offset replaces the winner only if it is *strictly* greater, and since offsets
# only grow, `winner = max(winner, k · (slab > best))` does exactly that without a branch.
# The backward pass hands each offset's slab of the image `grad · (winner == k)`, added
# in place as in `_fold` when windows overlap (`stride < kernel_size`), and simply written
# (`np.multiply(..., out=slab)`) when they do not, the usual case. On the first
# pooling layer of a CIFAR-sized CNN (batch 64, 32 channels of 32×32) forward and
# backward together take 2.4 ms this way; keeping a copy of the windows and marking the
# winners in the backward pass took 5.3 ms, and saved 20 times the memory. (`argmax` would
# give the winner directly, but NumPy's `argmax` over a middle axis is several times
# slower than all of this together — measure it!) **The gradient of the mean** is shared
# equally: each of the kh·kw elements gets 1/(kh·kw) of it.
#
# `stride` defaults to `kernel_size` (non-overlapping windows), as in PyTorch. `padding`
# (at most half the kernel) adds a border around every image first: for the max a border
# of `-inf`, which never wins a window (ResNet's `MaxPool2d(3, 2, padding=1)`), for the
# average a border of zeros that counts in the mean (PyTorch's default,
# `count_include_pad=True`); the backward pass drops the border's gradient again.

# %%
#| export
def _check_batch(x, layer):
    if x.ndim != 4:
        raise ValueError(f"{layer} expects a batch of shape (N, C, H, W), got shape {x.shape}")


def _pool_padding(padding, kernel_size):
    """A pooling layer's padding as a pair; at most half the kernel, as PyTorch requires."""
    pair = _pair(padding, "padding", minimum=0)
    if any(p > k // 2 for p, k in zip(pair, kernel_size)):
        raise ValueError(f"padding {pair} should be at most half of kernel_size {kernel_size}")
    return pair


def _pad_for_max(x, padding):
    """_batch_last(x, padding), its border -inf instead of 0: padding never wins a window's max."""
    xt = _batch_last(x, padding)
    (ph, pw), (_, Hp, Wp, _) = padding, xt.shape
    if ph or pw:
        xt[:, :ph], xt[:, Hp - ph:], xt[:, :, :pw], xt[:, :, Wp - pw:] = -np.inf, -np.inf, -np.inf, -np.inf
    return xt


def _unpad(dxt, padding):
    """A batch-last gradient (C, Hp, Wp, N) without its padding's border."""
    (ph, pw), (_, Hp, Wp, _) = padding, dxt.shape
    return dxt[:, ph:Hp - ph, pw:Wp - pw]


class MaxPool2dOp(Function):
    """The maximum of every kh×kw window; the gradient goes to each window's winner."""

    @staticmethod
    def forward(ctx, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)):
        _check_batch(x, "MaxPool2d")
        ### BEGIN SOLUTION
        kh, kw = kernel_size
        xt = _pad_for_max(x, padding)
        patches = _patches(xt, kernel_size, stride)  # (C, kh, kw, Ho, Wo, N), a view
        best = patches[:, 0, 0].copy()  # the running maximum of every window
        winner = np.zeros(best.shape, dtype=np.min_scalar_type(kh * kw - 1))  # which offset holds it
        for k in range(1, kh * kw):
            slab = patches[:, k // kw, k % kw]  # the element at offset k of every window
            better = (slab > best).astype(winner.dtype)  # 1 where offset k beats all before it (a tie does not)
            better *= k
            np.maximum(winner, better, out=winner)
            np.maximum(best, slab, out=best)
        ctx.save_for_backward(winner)
        ctx.shape, ctx.kernel_size, ctx.stride, ctx.padding = xt.shape, kernel_size, stride, padding
        return best.transpose(3, 0, 1, 2)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        (winner,) = ctx.saved_tensors
        (kh, kw), (sh, sw), (C, Ho, Wo, N) = ctx.kernel_size, ctx.stride, winner.shape
        grad = grad.transpose(1, 2, 3, 0)  # batch last, like winner
        if grad.strides[-1] != grad.itemsize:  # it was not batch-last in memory: make it so, once
            grad = np.ascontiguousarray(grad)
        dxt = np.zeros(ctx.shape, dtype=grad.dtype)
        for p in range(kh):
            for q in range(kw):
                slab = dxt[:, p:p + sh * Ho:sh, q:q + sw * Wo:sw]
                if sh < kh or sw < kw:  # overlapping windows: a pixel may win in several
                    slab += grad * (winner == p * kw + q)
                else:  # each pixel is in one window at most: write, no need to add
                    np.multiply(grad, winner == p * kw + q, out=slab)
        return _unpad(dxt, ctx.padding).transpose(3, 0, 1, 2)
        ### END SOLUTION


class AvgPool2dOp(Function):
    """The mean of every kh×kw window; the gradient is shared equally within each window."""

    @staticmethod
    def forward(ctx, x, kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)):
        _check_batch(x, "AvgPool2d")
        ### BEGIN SOLUTION
        xt = _batch_last(x, padding)  # zeros, counted in the mean (PyTorch's count_include_pad=True)
        out = _patches(xt, kernel_size, stride).mean(axis=(1, 2))  # (C, Ho, Wo, N)
        ctx.shape, ctx.kernel_size, ctx.stride, ctx.padding = xt.shape, kernel_size, stride, padding
        return out.transpose(3, 0, 1, 2)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        kh, kw = ctx.kernel_size
        share = grad.transpose(1, 2, 3, 0) / (kh * kw)  # (C, Ho, Wo, N)
        C, Ho, Wo, N = share.shape
        dpatches = np.broadcast_to(share[:, None, None], (C, kh, kw, Ho, Wo, N))
        return _unpad(_fold(dpatches, ctx.shape, ctx.stride), ctx.padding).transpose(3, 0, 1, 2)
        ### END SOLUTION


class MaxPool2d(Module):
    """Max over kernel_size windows, moved by stride (default: kernel_size)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")
        self.padding = _pool_padding(padding, self.kernel_size)
        if dilation not in (1, (1, 1)) or ceil_mode:  # given: PyTorch's other options, refused clearly
            raise NotImplementedError("MaxPool2d: dilation other than 1 and ceil_mode=True are not supported here")
        self.return_indices = return_indices
        self._shown = _pool_settings(kernel_size, stride, padding, dilation=dilation, ceil_mode=ceil_mode)

    def forward(self, x):
        out = MaxPool2dOp.apply(x, kernel_size=self.kernel_size, stride=self.stride, padding=self.padding)
        if self.return_indices:  # given (see "unpooling" below): where each maximum is, as MaxUnpool2d wants
            return out, _max_pool_indices(x.data, self.kernel_size, self.stride, self.padding)
        return out

    def extra_repr(self):
        return self._shown


class AvgPool2d(Module):
    """Mean over kernel_size windows, moved by stride (default: kernel_size)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")
        self.padding = _pool_padding(padding, self.kernel_size)
        if ceil_mode:  # given: PyTorch's other options
            raise NotImplementedError("AvgPool2d: ceil_mode=True is not supported here")
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override
        self._shown = _pool_settings(kernel_size, stride, padding)

    def forward(self, x):
        out = AvgPool2dOp.apply(x, kernel_size=self.kernel_size, stride=self.stride, padding=self.padding)
        return _average_divisor(out, x.shape[2:], self.kernel_size, self.stride, self.padding,
                                self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return self._shown


def _pool_settings(kernel_size, stride, padding, **more):
    """A pooling layer's repr as PyTorch's: the values as they were given (stride None: the kernel)."""
    shown = dict(kernel_size=kernel_size, stride=kernel_size if stride is None else stride, padding=padding, **more)
    return ", ".join(f"{name}={value}" for name, value in shown.items())


def _average_divisor(out, size, kernel_size, stride, padding, count_include_pad=True, divisor_override=None):
    """An average pool's ``out`` (each window's sum / its size, the padding counted), divided instead as
    PyTorch's options ask: by ``divisor_override``, or (count_include_pad=False) by the window's real
    positions only — the padding it holds not counted."""
    window = math.prod(kernel_size)
    if divisor_override is not None:
        if not isinstance(divisor_override, (int, np.integer)) or divisor_override == 0:
            raise ValueError(f"divisor must be not zero, got divisor_override={divisor_override!r}")
        return out * (window / divisor_override)
    if count_include_pad or not any(padding):
        return out
    counts = _real_counts(size, kernel_size, stride, padding, out.shape[-len(kernel_size):])
    return out * Tensor._wrap((window / counts).astype(out.dtype))


# %%
def _pool_naive(x, kernel_size, stride, reduce):
    (kh, kw), (sh, sw) = kernel_size, stride
    N, C, H, W = x.shape
    Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = reduce(x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw], axis=(2, 3))
    return out


def test_unit_pooling():
    """Checks `MaxPool2dOp` and `AvgPool2dOp` against a loop version, overlapping windows included,
    and their gradients: max sends each window's gradient to its *first* maximum only (ties are
    common after a ReLU), average shares it equally, and overlaps add up. Mark the elements equal to
    their window's maximum, clear every mark after a window's first, and fold with `_fold`.
    With `padding`, pool a padded copy (`_pad_for_max` for the max, `_batch_last` for the mean)
    and drop the border from the gradient (`_unpad`).
    """
    x = np.random.default_rng(0).normal(size=(2, 3, 7, 6))
    for layer, reduce, border in ((MaxPool2d, np.max, -np.inf), (AvgPool2d, np.mean, 0.0)):
        for kernel_size, stride, padding in (((2, 2), None, 0), ((3, 2), (2, 1), 0), ((3, 3), 2, (1, 0))):
            pool = layer(kernel_size, stride, padding)
            xg = Tensor(x, dtype=np.float64, requires_grad=True)
            got = pool(xg)
            (ph, pw) = pool.padding
            padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=border)
            expected = _pool_naive(padded, pool.kernel_size, pool.stride, reduce)
            assert got.shape == expected.shape and np.allclose(got.data, expected)
            got.sum().backward()  # every output hands out 1: all of it to a pixel (max), or by kh·kw shares
            inside = np.pad(np.ones_like(x), ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # 1 on the image, 0 on the border
            shares = _pool_naive(inside, pool.kernel_size, pool.stride, np.mean).sum()
            handed = got.numel() if reduce is np.max else shares
            assert xg.grad.shape == x.shape and np.isclose(xg.grad.data.sum(), handed)
    below_zero = MaxPool2d(3, 2, padding=1)(Tensor(-1.0 - np.abs(x)))  # the -inf border never wins
    assert np.all(np.isfinite(below_zero.data)) and below_zero.data.max() < -1.0
    # max: the gradient goes to the winner of each window, ties to the first
    x = Tensor(np.array([[[[1.0, 5.0, 0.0, 0.0], [2.0, 3.0, 0.0, 0.0]]]]), requires_grad=True)
    MaxPool2d(2)(x).sum().backward()
    assert x.grad.data[0, 0].tolist() == [[0, 1, 1, 0], [0, 0, 0, 0]]
    # average: everybody gets an equal share; overlapping windows add up
    x = Tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    AvgPool2d(2, stride=1)(x).sum().backward()
    assert np.allclose(x.grad.data[0, 0], [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])


if __name__ == "__main__":
    test_unit_pooling()

# %% [markdown]
# ## Flatten: from feature maps to features
#
# The classifier at the end of a CNN is a `Linear` layer, which wants one vector per
# image. `Flatten` reshapes (N, C, H, W) into (N, C·H·W) — the same numbers, so its
# backward pass is a reshape back, which `Tensor.reshape` already knows. Like PyTorch's,
# it flattens the dimensions from `start_dim` (default 1, keeping the batch) to `end_dim`.

# %%
#| export
class Flatten(Module):
    """Merge dimensions start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        ### BEGIN SOLUTION
        start, end = self.start_dim % x.ndim, self.end_dim % x.ndim
        merged = math.prod(x.shape[start:end + 1])
        return x.reshape(x.shape[:start] + (merged,) + x.shape[end + 1:])
        ### END SOLUTION

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


# %%
def test_unit_flatten():
    """Checks `Flatten(start_dim, end_dim)`: `(2, 3, 4, 5)` to `(2, 60)` by default, `Flatten(0)`,
    `Flatten(1, 2)`, and the gradient reshaped back. Turn negative dims into positive ones first
    (`end_dim=-1` is the last axis), keep the dims before `start_dim` and after `end_dim`, and
    reshape the Tensor so autograd does the backward.
    """
    x = Tensor(np.arange(120.0).reshape(2, 3, 4, 5), requires_grad=True)
    y = Flatten()(x)
    assert y.shape == (2, 60) and np.array_equal(y.data, x.data.reshape(2, 60))
    assert Flatten(0)(x).shape == (120,)
    assert Flatten(1, 2)(x).shape == (2, 12, 5)
    (y * Tensor(np.arange(120.0).reshape(2, 60))).sum().backward()
    assert np.array_equal(x.grad.data, np.arange(120.0).reshape(2, 3, 4, 5))


if __name__ == "__main__":
    test_unit_flatten()

# %% [markdown]
# ## BatchNorm2d: one statistic per channel
#
# Module 04's batch normalization works per *feature*. For images the features are the
# channels, and a channel's statistics are taken over the batch **and every pixel**: a
# filter's response is one kind of measurement wherever it is made. `BatchNorm2d(C)` for
# (N, C, H, W) batches is module 04's `_BatchNorm` — the same op, running averages and
# train/eval switch; `BatchNormOp` already averages over every axis but axis 1. Only the
# shape check is new. It usually sits between a convolution and its ReLU:
# `Conv2d(…, bias=False) → BatchNorm2d → ReLU` (the norm's `bias` replaces the conv's).

# %%
#| export
class BatchNorm2d(_BatchNorm):
    """Batch normalization of images (N, C, H, W): statistics per channel, over batch and pixels."""

    def _check_input(self, x):
        if x.ndim != 4:
            raise ValueError(f"expected 4D input (got {x.ndim}D input)")


# %%
def test_unit_batch_norm_2d():
    """Checks `BatchNorm2d`: statistics per channel over batch *and* pixels (axes 0, 2, 3), the
    unbiased running variance, and an error for 3-D input. Only the shape check is new here; wrong
    statistics point at module 04's `batch_norm` and `BatchNormOp`, which must average over every
    axis but axis 1 and count n over all of them.
    """
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(4, 3, 5, 5))
    bn = BatchNorm2d(3)
    y = bn(Tensor(x))
    assert np.allclose(y.data.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    assert np.allclose(y.data.var(axis=(0, 2, 3)), 1.0, atol=1e-3), "per channel, over batch and pixels"
    assert np.allclose(bn.running_var.data, 0.9 + 0.1 * x.var(axis=(0, 2, 3), ddof=1), atol=1e-4)
    try:
        bn(Tensor(x[:, :, 0]))
    except ValueError as err:
        assert "4D" in str(err)
    else:
        raise AssertionError("a 3-D input must be refused")


if __name__ == "__main__":
    test_unit_batch_norm_2d()

# %% [markdown]
# ## The functional forms
#
# As in module 03, the operations are also plain functions with PyTorch's names, for
# `tinytorch.nn.functional`: `F.conv1d`, `F.conv2d`, `F.max_pool2d`, `F.avg_pool2d`; and,
# given, `F.adaptive_avg_pool2d` with its layer `AdaptiveAvgPool2d` (the output's size is
# fixed and the windows follow from the input's: `AdaptiveAvgPool2d(1)` averages each
# channel to one number, the usual last pooling of a modern CNN), and the 1-D poolings
# `MaxPool1d`, `AvgPool1d`, `AdaptiveAvgPool1d` as the 2-D ones of height 1, like `Conv1d`.

# %%
#| export
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    stride, dilation = _single(stride, "stride"), _single(dilation, "dilation")
    padding = _conv_padding(padding, _spread_kernel(weight.shape[2:], (dilation,)), (stride,))[0]
    if dilation == 1 and groups == 1:
        return _conv1d(input, weight, bias, stride, padding)
    if input.ndim != 3 or weight.ndim != 3:
        raise ValueError(f"conv1d expects a batch (N, C, L) and a weight (O, C // groups, k), got shapes "
                         f"{input.shape} and {weight.shape}")
    return conv2d(input.unsqueeze(2), weight.unsqueeze(2), bias, (1, stride), (0, padding), (1, dilation),
                  groups).squeeze(2)  # a 1-D convolution is a 2-D one of height 1


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    padding = _conv_padding(padding, _spread_kernel(weight.shape[2:], dilation), stride)
    if dilation != (1, 1):  # spaced taps: a 3-D convolution of depth 1, whose Conv3dOp takes a dilation
        if input.ndim != 4 or weight.ndim != 4:
            raise ValueError(f"conv2d expects a batch (N, C, H, W) and a weight (O, C // groups, kh, kw), got "
                             f"shapes {input.shape} and {weight.shape}")
        return conv3d(input.unsqueeze(2), weight.unsqueeze(2), bias, (1,) + stride, (0,) + padding, (1,) + dilation,
                      groups).squeeze(2)
    if groups != 1:
        groups = _groups(groups, weight.shape[1] * groups, weight.shape[0])
        return _grouped_conv2d(input, weight, bias, stride, padding, groups)
    return Conv2dOp.apply(input, weight, bias, stride=stride, padding=padding)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return MaxPool2d(kernel_size, stride, padding, dilation, return_indices, ceil_mode)(input)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return AvgPool2d(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)(input)


def adaptive_avg_pool2d(input, output_size):
    """The mean over an output_size grid of windows that tile each image (PyTorch's adaptive
    average pooling; output_size 1 is global average pooling). Window i of n pixels cut into o
    covers [floor(i·n/o), ceil((i+1)·n/o)); an entry None keeps that side's size."""
    _check_batch(input, "adaptive_avg_pool2d")
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    (h, w), (oh, ow) = input.shape[2:], (n if o is None else int(o) for o, n in zip(sizes, input.shape[2:]))
    if oh < 1 or ow < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got {output_size}")
    if h % oh == 0 and w % ow == 0:  # equal windows, side by side: one AvgPool2d
        return avg_pool2d(input, (h // oh, w // ow))
    rows = [[input[:, :, i * h // oh: -(-(i + 1) * h // oh), j * w // ow: -(-(j + 1) * w // ow)].mean(dim=(2, 3))
             for j in range(ow)] for i in range(oh)]  # uneven windows: one mean per output cell (a small grid)
    return stack([stack(row, dim=-1) for row in rows], dim=-2)


class AdaptiveAvgPool2d(Module):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


def _as_images(input):
    """(N, C, L) -> (N, C, 1, L): a 1-D pooling is the 2-D one of height 1, as Conv1d is."""
    if input.ndim != 3:
        raise ValueError(f"1-D pooling expects a batch of shape (N, C, L), got shape {input.shape}")
    return input.reshape(input.shape[0], input.shape[1], 1, input.shape[2])


def _window_1d(kernel_size, stride, padding):
    """(kernel, stride, padding) of a 1-D pooling as the 2-D ones of height 1."""
    k = _single(kernel_size, "kernel_size")
    return (1, k), (1, k if stride is None else _single(stride, "stride")), (0, _single(padding, "padding", minimum=0))


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    out = max_pool2d(_as_images(input), *_window_1d(kernel_size, stride, padding), dilation, ceil_mode, return_indices)
    flat = [o.reshape(o.shape[0], o.shape[1], o.shape[3]) for o in (out if return_indices else (out,))]
    return tuple(flat) if return_indices else flat[0]  # a height of 1: the 2-D index is the position


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    out = avg_pool2d(_as_images(input), *_window_1d(kernel_size, stride, padding), ceil_mode, count_include_pad)
    return out.reshape(out.shape[0], out.shape[1], out.shape[3])


def adaptive_avg_pool1d(input, output_size):
    out = adaptive_avg_pool2d(_as_images(input), (1, _single(output_size, "output_size")))
    return out.reshape(out.shape[0], out.shape[1], out.shape[3])


class MaxPool1d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, kernel_size if stride is None else stride, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode
        if dilation not in (1, (1,)) or ceil_mode:
            raise NotImplementedError("MaxPool1d: dilation other than 1 and ceil_mode=True are not supported here")

    def forward(self, x):
        return max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)

    def extra_repr(self):
        return _pool_settings(self.kernel_size, self.stride, self.padding, dilation=self.dilation,
                              ceil_mode=self.ceil_mode)


class AvgPool1d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        self.kernel_size = (_single(kernel_size, "kernel_size"),)  # PyTorch keeps (and shows) these as 1-tuples
        self.stride = self.kernel_size if stride is None else (_single(stride, "stride"),)
        self.padding = (_single(padding, "padding", minimum=0),)
        if ceil_mode:
            raise NotImplementedError("AvgPool1d: ceil_mode=True is not supported here")
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x):
        return avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self):
        return _pool_settings(self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool1d(AdaptiveAvgPool2d):
    def forward(self, x):
        return adaptive_avg_pool1d(x, self.output_size)

# %%
def test_unit_adaptive_avg_pool2d():
    """Checks the provided `adaptive_avg_pool2d`: global pooling is each channel's mean, even
    windows are an `AvgPool2d`, and uneven windows overlap by PyTorch's rule (5 pixels into 3
    windows: [0, 2), [1, 4), [3, 5)) with the gradient shared inside each. This code is provided:
    if it fails, look at `AvgPool2dOp` and at the `mean` and `stack` it is built from.
    """
    x = Tensor(np.arange(2 * 3 * 5 * 5, dtype=np.float64).reshape(2, 3, 5, 5), requires_grad=True)
    assert np.allclose(AdaptiveAvgPool2d(1)(x).data[..., 0, 0], x.data.mean(axis=(2, 3)))
    assert np.allclose(adaptive_avg_pool2d(x[:, :, :4, :4], 2).data, avg_pool2d(x[:, :, :4, :4], 2).data)
    out = adaptive_avg_pool2d(x, (3, None))
    assert out.shape == (2, 3, 3, 5)
    assert np.allclose(out.data[0, 0, :, 0], [x.data[0, 0, 0:2, 0].mean(), x.data[0, 0, 1:4, 0].mean(),
                                              x.data[0, 0, 3:5, 0].mean()])
    out.sum().backward()
    assert np.allclose(x.grad.data[0, 0, :, 0], [1 / 2, 1 / 2 + 1 / 3, 1 / 3, 1 / 3 + 1 / 2, 1 / 2])


if __name__ == "__main__":
    test_unit_adaptive_avg_pool2d()

# %% [markdown]
# ## Given: transposed convolution, fold and unfold
#
# The backward pass of `Conv2dOp` already computes something useful on its own. Its
# input gradient takes a small (N, O, H_out, W_out) map to a larger (N, C, H, W) image:
# every output position hands `weight`-weighted copies of its value back to the window it
# came from, and overlaps add up (`_fold`). Run as a layer's *forward* pass, that is the
# **transposed convolution** (`nn.ConvTranspose2d`, sometimes called "deconvolution"):
# the upsampling layer of U-Nets, autoencoder decoders and GAN generators. Its forward is
# the convolution's backward — `weightᵀ @ columns`, then col2im — and its backward is the
# convolution's forward — im2col, then the products. Its weight is laid out as PyTorch's,
# **(in_channels, out_channels // groups, kh, kw)**, the convolution's weight read the
# other way round, and its output size, per dimension, is the size of the image that a
# convolution with the same settings would have shrunk to H:
#
# $$H_\text{out} = (H - 1)\,s - 2p + d\,(k - 1) + 1 + \text{output\_padding}$$
#
# A strided convolution maps several input sizes to the same output size (7 and 8 both
# give 4 with `kernel_size=3, stride=2, padding=1`); `output_padding` (less than the stride
# or the dilation) picks the larger ones, and `forward(x, output_size=...)` picks it for you.
# A **dilation** `d` spreads the kernel's taps `d` pixels apart: here it takes the windows
# of a kernel `d·(k − 1) + 1` wide and keeps every d-th tap (`_dilated_patches`), and
# folds through that wide kernel with zeros between the taps (`_dilated_fold`).
#
# The same two steps are also PyTorch's **`F.unfold`** (im2col as an operation: (N, C, H, W) →
# (N, C·kh·kw, L), one column per window, L windows) and **`F.fold`** (col2im: the columns
# added back onto an image of `output_size`). Each is the other's backward pass. With them,
# any "apply something to every window" can be written by hand — `unfold`, a matrix product,
# `fold` — which is exactly how this module computes a convolution.

# %%
#| export
import warnings

from tinytorch.nn.batchnorm import batch_norm


def _dilated_patches(xt, kernel_size, stride, dilation):
    """_patches for a kernel whose taps are `dilation` apart: a (C, kh, kw, Ho, Wo, N) view."""
    (kh, kw), (dh, dw) = kernel_size, dilation
    return _patches(xt, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), stride)[:, ::dh, ::dw]


def _dilated_fold(dpatches, shape, stride, dilation):
    """_fold for a kernel whose taps are `dilation` apart: spread them out (zeros between), then fold."""
    if tuple(dilation) == (1, 1):
        return _fold(dpatches, shape, stride)
    (C, kh, kw, Ho, Wo, N), (dh, dw) = dpatches.shape, dilation
    spread = np.zeros((C, dh * (kh - 1) + 1, dw * (kw - 1) + 1, Ho, Wo, N), dtype=dpatches.dtype)
    spread[:, ::dh, ::dw] = dpatches
    return _fold(spread, shape, stride)


def _blocks(size, kernel_size, dilation, padding, stride, name):
    """How many windows fit along each side (PyTorch's rule); a clear ValueError when none does."""
    blocks = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                   for n, k, d, p, s in zip(size, kernel_size, dilation, padding, stride))
    if any(b < 1 for b in blocks):
        raise ValueError(f"{name}: no {tuple(kernel_size)} window (dilation {tuple(dilation)}) fits an image of "
                         f"size {tuple(size)} with padding {tuple(padding)}")
    return blocks


def _im2col(x, kernel_size, dilation, padding, stride):
    """(N, C, H, W) -> (N, C·kh·kw, L): every window as a column, as PyTorch's unfold (batch last in memory)."""
    _blocks(x.shape[2:], kernel_size, dilation, padding, stride, "unfold")
    windows = _dilated_patches(_batch_last(x, padding), kernel_size, stride, dilation)  # (C, kh, kw, Ho, Wo, N)
    C, kh, kw, Ho, Wo, N = windows.shape
    return windows.reshape(C * kh * kw, Ho * Wo, N).transpose(2, 0, 1)


def _col2im(cols, output_size, kernel_size, dilation, padding, stride):
    """(N, C·kh·kw, L) -> (N, C, H, W): every column added back onto its window, as PyTorch's fold."""
    (N, CK, L), (kh, kw), (ph, pw) = cols.shape, kernel_size, padding
    Ho, Wo = _blocks(output_size, kernel_size, dilation, padding, stride, "fold")
    if CK % (kh * kw) or L != Ho * Wo:
        raise ValueError(f"fold: expected input of shape (N, C·{kh}·{kw}, {Ho}·{Wo}) for output_size "
                         f"{tuple(output_size)}, got {cols.shape}")
    C, (H, W) = CK // (kh * kw), output_size
    dpatches = cols.transpose(1, 2, 0).reshape(C, kh, kw, Ho, Wo, N)
    dxt = _dilated_fold(dpatches, (C, H + 2 * ph, W + 2 * pw, N), stride, dilation)
    return _unpad(dxt, padding).transpose(3, 0, 1, 2)


class UnfoldOp(Function):
    """im2col as an operation, (N, C, H, W) -> (N, C·kh·kw, L); its backward is col2im."""

    @staticmethod
    def forward(ctx, x, kernel_size=(1, 1), dilation=(1, 1), padding=(0, 0), stride=(1, 1)):
        ctx.size, ctx.args = x.shape[2:], (kernel_size, dilation, padding, stride)
        return _im2col(x, *ctx.args)

    @staticmethod
    def backward(ctx, grad):
        return _col2im(grad, ctx.size, *ctx.args)


class FoldOp(Function):
    """col2im as an operation, (N, C·kh·kw, L) -> (N, C, H, W); its backward is im2col."""

    @staticmethod
    def forward(ctx, cols, output_size=(1, 1), kernel_size=(1, 1), dilation=(1, 1), padding=(0, 0), stride=(1, 1)):
        ctx.args = (kernel_size, dilation, padding, stride)
        return _col2im(cols, output_size, *ctx.args)

    @staticmethod
    def backward(ctx, grad):
        return _im2col(grad, *ctx.args)


def _sliding(kernel_size, dilation, padding, stride):
    return dict(kernel_size=_pair(kernel_size, "kernel_size"), dilation=_pair(dilation, "dilation"),
                padding=_pair(padding, "padding", minimum=0), stride=_pair(stride, "stride"))


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Every kh×kw window of an (N, C, H, W) batch as a column: (N, C·kh·kw, L). (C, H, W) gives (C·kh·kw, L)."""
    if input.ndim not in (3, 4):
        raise ValueError(f"unfold expects (N, C, H, W) or (C, H, W) input, got shape {input.shape}")
    if input.ndim == 3:
        return UnfoldOp.apply(input.unsqueeze(0), **_sliding(kernel_size, dilation, padding, stride)).squeeze(0)
    return UnfoldOp.apply(input, **_sliding(kernel_size, dilation, padding, stride))


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Columns (N, C·kh·kw, L) added back onto their windows of an (N, C, *output_size) batch; (C·kh·kw, L) too."""
    if input.ndim not in (2, 3):
        raise ValueError(f"fold expects (N, C·kh·kw, L) or (C·kh·kw, L) input, got shape {input.shape}")
    args = dict(output_size=_pair(output_size, "output_size"), **_sliding(kernel_size, dilation, padding, stride))
    if input.ndim == 2:
        return FoldOp.apply(input.unsqueeze(0), **args).squeeze(0)
    return FoldOp.apply(input, **args)


class Unfold(Module):
    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, input):
        return unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, stride={self.stride}"


class Fold(Module):
    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input):
        return fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return f"output_size={self.output_size}, " + Unfold.extra_repr(self)


class ConvTranspose2dOp(Function):
    """Transposed convolution, the input gradient of Conv2dOp as an operation: (N, Cin, H, W) and a
    (Cin, Cout, kh, kw) weight -> (N, Cout, H_out, W_out). Forward: weightᵀ @ columns, then col2im;
    backward: im2col, then the products (Conv2dOp's forward)."""

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1)):
        if x.ndim != 4:
            raise ValueError(f"ConvTranspose2d expects a batch of shape (N, C, H, W), got shape {x.shape}")
        Cin, Cout, kh, kw = weight.shape
        if x.shape[1] != Cin:
            raise ValueError(f"ConvTranspose2d expects {Cin} input channels, got input of shape {x.shape}")
        N, _, H, W = x.shape
        # the output before its padding is cut off: the padded image a convolution would have read
        Hp, Wp = ((n - 1) * s + d * (k - 1) + 1 + op
                  for n, s, d, k, op in zip((H, W), stride, dilation, (kh, kw), output_padding))
        (ph, pw) = padding
        if Hp - 2 * ph < 1 or Wp - 2 * pw < 1:
            raise ValueError(f"ConvTranspose2d: padding {padding} leaves no output of input size {(H, W)} "
                             f"(output size {(Hp - 2 * ph, Wp - 2 * pw)})")
        xm = _batch_last(x).reshape(Cin, H * W * N)  # like Conv2dOp's grad, laid out as `out`
        cols = _blas_matmul(weight.reshape(Cin, -1).T, xm).reshape(Cout, kh, kw, H, W, N)
        out = _unpad(_dilated_fold(cols, (Cout, Hp, Wp, N), stride, dilation), padding)  # col2im, padding cut off
        if bias is not None:
            out += bias[:, None, None, None]
        ctx.save_for_backward(xm if ctx.needs_input_grad[1] else None, weight)
        ctx.x_shape, ctx.stride, ctx.padding, ctx.dilation = x.shape, stride, padding, dilation
        ctx.has_bias = bias is not None
        return out.transpose(3, 0, 1, 2)

    @staticmethod
    def backward(ctx, grad):
        xm, weight = ctx.saved_tensors
        (Cin, Cout, kh, kw), (N, _, H, W) = weight.shape, ctx.x_shape
        gt = _batch_last(grad, ctx.padding)  # the padded output, as the convolution reads it
        windows = _dilated_patches(gt, (kh, kw), ctx.stride, ctx.dilation)[:, :, :, :H, :W]  # output_padding's extra windows go
        cols = windows.reshape(Cout * kh * kw, H * W * N)  # im2col
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_x = _blas_matmul(weight.reshape(Cin, -1), cols).reshape(Cin, H, W, N).transpose(3, 0, 1, 2)
        if ctx.needs_input_grad[1]:
            grad_weight = _blas_matmul(xm, cols.T).reshape(weight.shape)
        grad_bias = grad.sum(axis=(0, 2, 3)) if ctx.has_bias else None
        return grad_x, grad_weight, grad_bias


def _check_output_padding(output_padding, stride, dilation):
    """PyTorch's rule: each output_padding smaller than its stride or its dilation."""
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"output_padding {output_padding} must be smaller than either the stride {stride} "
                         f"or the dilation {dilation}")


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution of (N, Cin, H, W) with a (Cin, Cout // groups, kh, kw) weight."""
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    padding, output_padding = _pair(padding, "padding", minimum=0), _pair(output_padding, "output_padding", minimum=0)
    _check_output_padding(output_padding, stride, dilation)
    options = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    if groups == 1:
        return ConvTranspose2dOp.apply(input, weight, bias, **options)
    groups = _groups(groups, weight.shape[0], weight.shape[1] * groups)
    if input.ndim != 4 or input.shape[1] != weight.shape[0]:
        raise ValueError(f"ConvTranspose2d expects {weight.shape[0]} input channels in {groups} groups, "
                         f"got input of shape {input.shape}")
    c, o = weight.shape[0] // groups, weight.shape[1]  # input channels and outputs of one group
    return cat([ConvTranspose2dOp.apply(input[:, i * c:(i + 1) * c], weight[i * c:(i + 1) * c],
                                        None if bias is None else bias[i * o:(i + 1) * o], **options)
                for i in range(groups)], dim=1)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 1-D convolution of (N, Cin, L) with a (Cin, Cout // groups, k) weight: the 2-D one of height 1."""
    if input.ndim != 3:
        raise ValueError(f"ConvTranspose1d expects a batch of shape (N, C, L), got shape {input.shape}")
    out = conv_transpose2d(input.unsqueeze(2), weight.unsqueeze(2), bias, (1, _single(stride, "stride")),
                           (0, _single(padding, "padding", minimum=0)),
                           (0, _single(output_padding, "output_padding", minimum=0)), groups,
                           (1, _single(dilation, "dilation")))
    return out.squeeze(2)


class _ConvTransposeNd(Module):
    _dims = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros"):
        super().__init__()
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        tup = self._tuple
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = tup(kernel_size, "kernel_size"), tup(stride, "stride")
        self.padding = tup(padding, "padding", minimum=0)
        self.output_padding = tup(output_padding, "output_padding", minimum=0)
        self.dilation, self.groups = tup(dilation, "dilation"), _groups(groups, in_channels, out_channels)
        self.padding_mode = padding_mode
        self.weight = Parameter(np.zeros((in_channels, out_channels // self.groups) + self.kernel_size))
        self.bias = Parameter(np.zeros(out_channels)) if bias else None
        self.reset_parameters()  # fan_in = (out_channels // groups)·kh·kw, as PyTorch

    def reset_parameters(self):
        """PyTorch's default again, into the same Parameters: weight and bias uniform on ±1/√fan_in."""
        init._default_layer_init(self.weight, self.bias)

    def _tuple(self, value, name, minimum=1):
        return _pair(value, name, minimum) if self._dims == 2 else (_single(value, name, minimum),)

    def _convolve(self, *args):
        return (conv_transpose2d if self._dims == 2 else conv_transpose1d)(*args)

    def _output_padding(self, input, output_size):
        """PyTorch's rule: the output_padding that gives output_size (the last dims), within one stride."""
        if output_size is None:
            return self.output_padding
        sizes = (output_size,) if isinstance(output_size, (int, np.integer)) else tuple(output_size)
        sizes = tuple(int(s) for s in sizes[len(sizes) - self._dims:]) if len(sizes) == input.ndim else sizes
        if len(sizes) != self._dims:
            raise ValueError(f"{type(self).__name__}: output_size must have {self._dims} or {input.ndim} "
                             f"elements (got {len(sizes)})")
        smallest = tuple((n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in zip(
            input.shape[-self._dims:], self.stride, self.padding, self.dilation, self.kernel_size))
        largest = tuple(m + s - 1 for m, s in zip(smallest, self.stride))
        if not all(lo <= n <= hi for lo, n, hi in zip(smallest, sizes, largest)):
            raise ValueError(f"requested an output size of {sizes}, but valid sizes range from {smallest} to "
                             f"{largest} (for an input of {tuple(input.shape[-self._dims:])})")
        return tuple(n - lo for n, lo in zip(sizes, smallest))

    def forward(self, input, output_size=None):
        return self._convolve(input, self.weight, self.bias, self.stride, self.padding,
                        self._output_padding(input, output_size), self.groups, self.dilation)

    def extra_repr(self):
        return _conv_repr(self)


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-D convolution (upsampling); weight (in_channels, out_channels // groups, kh, kw)."""


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-D convolution; weight (in_channels, out_channels // groups, kernel_size)."""

    _dims = 1


# %%
def test_unit_conv_transpose_fold_unfold():
    """Checks the provided `ConvTranspose2dOp`, `F.unfold` and `F.fold`: a transposed convolution is
    the adjoint of the convolution with the same weight (<conv(z), x> == <z, conv_transpose(x)>),
    unfold matches im2col, fold of unfold counts each pixel's windows, and gradients match finite
    differences. This code is provided: if it fails, look at your `_patches`, `_fold` and `Conv2dOp`.
    """
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 2, 3, 2))  # (Cin, Cout, kh, kw): as a Conv2d weight, 2 channels -> 3
    for stride, padding, output_padding, dilation in (((1, 1), (0, 0), (0, 0), (1, 1)), ((2, 1), (1, 0), (1, 0), (1, 2))):
        x = rng.normal(size=(2, 3, 4, 5))
        y = conv_transpose2d(Tensor(x, dtype=np.float64), Tensor(w, dtype=np.float64), None, stride, padding,
                             output_padding, 1, dilation)
        z = rng.normal(size=y.shape)  # an image that the convolution shrinks back to x's size
        zt = _batch_last(z, padding)
        cols = _dilated_patches(zt, (3, 2), stride, dilation)[:, :, :, :4, :5]
        conv_z = np.einsum("ocpq,cpqijn->noij", w, cols)
        assert np.isclose(np.sum(conv_z * x), np.sum(z * y.data)), (stride, dilation)
        check = (lambda s, p, op, d: lambda a, b: conv_transpose2d(a, b, None, s, p, op, 1, d))(
            stride, padding, output_padding, dilation)
        a, b = Tensor(x, dtype=np.float64, requires_grad=True), Tensor(w, dtype=np.float64, requires_grad=True)
        r = rng.normal(size=y.shape)
        (check(a, b) * Tensor(r, dtype=np.float64)).sum().backward()
        for array, tensor, k in ((x, a, 0), (w, b, 1)):
            def loss(v, k=k):
                args = [Tensor(v if j == k else arr, dtype=np.float64) for j, arr in enumerate((x, w))]
                return float(np.sum(check(*args).data * r))
            assert np.allclose(tensor.grad.data, numerical_gradient(loss, array.copy()), atol=1e-6)
    x = Tensor(rng.normal(size=(2, 3, 5, 4)), dtype=np.float64, requires_grad=True)
    cols = unfold(x, (2, 3), padding=1, stride=(2, 1))
    assert cols.shape == (2, 3 * 2 * 3, 3 * 4)
    expected = conv2d_naive(x.data, np.eye(18).reshape(18, 3, 2, 3), None, (2, 1), (1, 1))
    assert np.allclose(cols.data, expected.reshape(2, 18, -1))
    counts = fold(unfold(Tensor(np.ones((1, 1, 4, 4))), 3), 4, 3)
    assert counts.data[0, 0].tolist() == [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]]
    cols.sum().backward()
    assert np.allclose(x.grad.data, fold(Tensor(np.ones(cols.shape)), (5, 4), (2, 3), padding=1, stride=(2, 1)).data)


if __name__ == "__main__":
    test_unit_conv_transpose_fold_unfold()

# %% [markdown]
# ## Given: adaptive max pooling and instance normalization
#
# `AdaptiveMaxPool2d` is `AdaptiveAvgPool2d` with a max: the same windows (PyTorch's rule,
# window i of n pixels cut into o covers [floor(i·n/o), ceil((i+1)·n/o))), each one pooled by
# your `MaxPool2dOp`, so the gradient goes to each window's first maximum. With
# `return_indices=True` it also returns where each maximum was, as PyTorch does: a flat
# index into the H·W pixels of its image and channel.
#
# `InstanceNorm2d` normalizes every image's every channel on its own, over its pixels: the
# statistics of a style-transfer or GAN image should not depend on the other images in the
# batch. That is batch normalization of a batch of *one* image with N·C channels —
# PyTorch computes it exactly so, and so do we, with module 04's `batch_norm`. Unlike
# `BatchNorm2d` it has, by default, no affine weight and bias and no running statistics
# (`affine=False, track_running_stats=False`); with `track_running_stats=True` the running
# mean and (unbiased) variance are averaged over the batch's images and used in eval mode.

# %%
#| export
def _adaptive_windows(size, output_size, name):
    """PyTorch's adaptive windows along each side: output i covers [floor(i·n/o), ceil((i+1)·n/o))."""
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * len(size)
    if len(sizes) != len(size):
        raise ValueError(f"{name}: output_size must have {len(size)} elements, got {output_size!r}")
    sizes = tuple(n if o is None else int(o) for o, n in zip(sizes, size))
    if any(o < 1 for o in sizes):
        raise ValueError(f"{name}: output_size must be positive, got {output_size}")
    return [[(i * n // o, -(-(i + 1) * n // o)) for i in range(o)] for n, o in zip(size, sizes)]


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """The max over an output_size grid of windows that tile each image (PyTorch's adaptive max
    pooling); with return_indices, also each maximum's flat index into its image's H·W pixels."""
    _check_batch(input, "adaptive_max_pool2d")
    (h, w) = input.shape[2:]
    rows, cols = _adaptive_windows((h, w), output_size, "adaptive_max_pool2d")
    if h % len(rows) == 0 and w % len(cols) == 0:  # equal windows, side by side: one MaxPool2d
        out = max_pool2d(input, (h // len(rows), w // len(cols)))
    else:  # uneven windows: one max per output cell (a small grid)
        out = cat([cat([max_pool2d(input[:, :, r0:r1, c0:c1], (r1 - r0, c1 - c0)) for c0, c1 in cols], dim=3)
                   for r0, r1 in rows], dim=2)
    if not return_indices:
        return out
    indices = np.empty(out.shape, dtype=np.int64)
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            first = input.data[:, :, r0:r1, c0:c1].reshape(input.shape[:2] + (-1,)).argmax(axis=-1)  # ties: the first
            indices[:, :, i, j] = (r0 + first // (c1 - c0)) * w + c0 + first % (c1 - c0)
    return out, Tensor(indices, dtype=np.int64)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    result = adaptive_max_pool2d(_as_images(input), (1, _single(output_size, "output_size")), return_indices)
    flat = [t.reshape(t.shape[0], t.shape[1], t.shape[3]) for t in (result if return_indices else (result,))]
    return tuple(flat) if return_indices else flat[0]


class AdaptiveMaxPool2d(Module):
    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x):
        return adaptive_max_pool2d(x, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    def forward(self, x):
        return adaptive_max_pool1d(x, self.output_size, self.return_indices)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalize each sample's each channel of (N, C, ...) over its own positions (biased variance);
    the running statistics, if given, are updated with the batch's average (as PyTorch)."""
    if input.ndim < 3:
        raise ValueError(f"instance_norm expects a batch of shape (N, C, ...), got shape {input.shape}")
    (N, C), positions = input.shape[:2], input.shape[2:]
    if use_input_stats and math.prod(positions) <= 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {input.shape}")
    if not use_input_stats and (running_mean is None or running_var is None):
        raise ValueError("instance_norm: running_mean and running_var are needed when use_input_stats=False")
    per_image = [None if r is None else Tensor(np.tile(r.data, N), dtype=r.dtype) for r in (running_mean, running_var)]
    out = batch_norm(input.reshape((1, N * C) + positions), *per_image, training=use_input_stats,
                     momentum=momentum, eps=eps).reshape(input.shape)  # one image of N·C channels
    if use_input_stats:
        for running, updated in zip((running_mean, running_var), per_image):
            if running is not None:
                running.data[...] = updated.data.reshape(N, C).mean(axis=0)
    shape = (1, C) + (1,) * len(positions)
    if weight is not None:
        out = out * weight.reshape(shape)
    return out if bias is None else out + bias.reshape(shape)


class _InstanceNorm(_BatchNorm):
    _dims = 2  # spatial dimensions

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def forward(self, input):
        if input.ndim not in (self._dims + 1, self._dims + 2):
            raise ValueError(f"expected {self._dims + 1}D or {self._dims + 2}D input (got {input.ndim}D input)")
        batched = input.ndim == self._dims + 2
        x = input if batched else input.unsqueeze(0)
        if x.shape[1] != self.num_features:
            message = (f"{type(self).__name__}({self.num_features}) got input with {x.shape[1]} channels: "
                       f"input {input.shape}")
            if self.affine:
                raise ValueError(message)
            warnings.warn(message + "; num_features is not used because affine=False", stacklevel=2)
        out = instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats,
                            0.0 if self.momentum is None else self.momentum, self.eps)
        return out if batched else out.squeeze(0)


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization of images (N, C, H, W) or (C, H, W): statistics per image and channel."""


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization of sequences (N, C, L) or (C, L): statistics per sequence and channel."""

    _dims = 1


# %%
def test_unit_adaptive_max_pool_instance_norm():
    """Checks the provided `adaptive_max_pool2d` and `InstanceNorm2d`: PyTorch's uneven windows
    (5 pixels into 3: [0, 2), [1, 4), [3, 5)) with each maximum's flat index and the gradient to
    the first maximum, and per-image per-channel statistics. This code is provided: if it fails,
    look at your `MaxPool2dOp` and at module 04's `batch_norm`.
    """
    x = Tensor(np.array([[[[1.0, 3.0, 3.0, 0.0, 2.0]]]]), requires_grad=True)
    out, indices = adaptive_max_pool2d(x, (1, 3), return_indices=True)
    assert out.data.ravel().tolist() == [3.0, 3.0, 2.0] and indices.data.ravel().tolist() == [1, 1, 4]
    out.sum().backward()
    assert x.grad.data.ravel().tolist() == [0.0, 2.0, 0.0, 0.0, 1.0]
    assert AdaptiveMaxPool2d((2, None))(Tensor(np.ones((2, 3, 4, 5)))).shape == (2, 3, 2, 5)
    images = Tensor(np.random.default_rng(0).normal(3.0, 2.0, size=(2, 3, 4, 5)))
    norm = InstanceNorm2d(3, track_running_stats=True)
    y = norm(images).data
    assert np.allclose(y.mean(axis=(2, 3)), 0.0, atol=1e-5) and np.allclose(y.var(axis=(2, 3)), 1.0, atol=1e-3)
    unbiased = images.data.var(axis=(2, 3), ddof=1).mean(axis=0)
    assert np.allclose(norm.running_var.data, 0.9 + 0.1 * unbiased, atol=1e-5)


if __name__ == "__main__":
    test_unit_adaptive_max_pool_instance_norm()

# %% [markdown]
# ## Given: padding layers
#
# Module 03's `F.pad` already pads in four ways: with a constant, or with copies of the
# input — `"reflect"` (a mirror that skips the edge: `[1, 2, 3]` padded by 2 on the left
# starts `3, 2, 1, 2, 3`), `"replicate"` (the edge repeated: `1, 1, 1, 2, 3`) and
# `"circular"` (the other end wrapped around: `2, 3, 1, 2, 3`). Each copying mode is an
# `index_select` of the input, so a pixel copied into the border collects the border's
# gradient too. PyTorch also names each mode as a layer: `ReflectionPad2d(1)` before a
# convolution without padding keeps a style-transfer image free of dark frames that zero
# padding would draw. Those layers are thin wrappers: the widths as `(left, right)` for
# the last dimension, then `(top, bottom)`, then `(front, back)` — one int pads every side.
# As in PyTorch, a copying layer `…Nd` takes an unbatched (C, …) or a batched (N, C, …)
# input with N spatial dimensions, and the constant ones take any.

# %%
#| export
from tinytorch.nn.modules import ConstantPad1d, _ConstantPadNd


def _pad_widths(padding, sides, name):
    """A padding layer's widths: one int for every side, or 2·sides ints (left, right, top, bottom, ...)."""
    widths = (padding,) * (2 * sides) if isinstance(padding, (int, np.integer)) else padding
    if not (isinstance(widths, (tuple, list)) and len(widths) == 2 * sides
            and all(isinstance(w, (int, np.integer)) for w in widths)):
        raise ValueError(f"{name}: padding must be an int or a tuple of {2 * sides} ints, not {padding!r}")
    return tuple(int(w) for w in widths)


class _CopyPadNd(Module):
    """Pads the last `_sides` dimensions with copies of the input, F.pad's mode `_mode`."""

    _mode, _sides = "reflect", 1

    def __init__(self, padding):
        super().__init__()
        self.padding = _pad_widths(padding, self._sides, type(self).__name__)

    def forward(self, input):
        if input.ndim not in (self._sides + 1, self._sides + 2):
            raise NotImplementedError(f"{type(self).__name__} expects a {self._sides + 1}-D (unbatched) or "
                                      f"{self._sides + 2}-D (batched) input, got shape {input.shape}")
        return pad(input, self.padding, mode=self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class ReflectionPad1d(_CopyPadNd):
    """Mirror padding of (C, L) or (N, C, L), without repeating the edge; padding (left, right)."""


class ReflectionPad2d(_CopyPadNd):
    """Mirror padding of (C, H, W) or (N, C, H, W); padding (left, right, top, bottom)."""

    _sides = 2


class ReflectionPad3d(_CopyPadNd):
    _sides = 3


class ReplicationPad1d(_CopyPadNd):
    """Edge padding of (C, L) or (N, C, L): the first and last values repeated."""

    _mode = "replicate"


class ReplicationPad2d(ReplicationPad1d):
    _sides = 2


class ReplicationPad3d(ReplicationPad1d):
    _sides = 3


class CircularPad1d(_CopyPadNd):
    """Wrap-around padding of (C, L) or (N, C, L): the other end continues the sequence."""

    _mode = "circular"


class CircularPad2d(CircularPad1d):
    _sides = 2


class CircularPad3d(CircularPad1d):
    _sides = 3


class ZeroPad1d(ConstantPad1d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ConstantPad3d(_ConstantPadNd):
    def __init__(self, padding, value):
        super().__init__(padding, value, 3)


class ZeroPad3d(ConstantPad3d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


# %%
def test_unit_padding_layers():
    """Checks the provided padding layers: `[1, 2, 3]` reflected, replicated and wrapped by
    (2, 1), a 2-D reflection with its (left, right, top, bottom) order, and the gradient of a
    copied pixel adding up. This code is provided: if it fails, look at module 03's `F.pad`.
    """
    x = Tensor(np.array([[[1.0, 2.0, 3.0]]]), requires_grad=True)
    assert ReflectionPad1d((2, 1))(x).data.ravel().tolist() == [3, 2, 1, 2, 3, 2]
    assert ReplicationPad1d((2, 1))(x).data.ravel().tolist() == [1, 1, 1, 2, 3, 3]
    assert CircularPad1d((2, 1))(x).data.ravel().tolist() == [2, 3, 1, 2, 3, 1]
    assert ZeroPad1d(1)(x).data.ravel().tolist() == [0, 1, 2, 3, 0]
    ReflectionPad1d((2, 1))(x).sum().backward()  # the 2 is read three times, the 3 twice
    assert x.grad.data.ravel().tolist() == [1, 3, 2]
    image = Tensor(np.arange(6.0).reshape(1, 2, 3))  # unbatched (C, H, W): [[0, 1, 2], [3, 4, 5]]
    assert ReflectionPad2d((1, 0, 0, 1))(image).data[0].tolist() == [[1, 0, 1, 2], [4, 3, 4, 5], [1, 0, 1, 2]]
    assert ZeroPad3d(1)(Tensor(np.ones((1, 1, 1, 1)))).shape == (1, 3, 3, 3)
    assert repr(ReplicationPad2d(1)) == "ReplicationPad2d((1, 1, 1, 1))"


if __name__ == "__main__":
    test_unit_padding_layers()

# %% [markdown]
# ## Given: bilinear interpolation and upsampling
#
# Module 03's `F.interpolate` resizes by nearest neighbour. Segmentation heads, feature
# pyramids and the decoders of U-Nets mostly resize **bilinearly**: each output pixel is a
# weighted mean of the 2×2 input pixels around the point it maps to. That is *separable* —
# interpolate along the width (two neighbours per output column), then along the height —
# so each spatial dimension costs two `index_select`s and a weighted sum, vectorized over
# everything else, and the gradient comes from autograd: a pixel read by several outputs
# collects each output's weight times its gradient. `"linear"` (3-D input), `"bilinear"`
# (4-D) and `"trilinear"` (5-D) are the same code on 1, 2 or 3 dimensions; `"bicubic"`
# reads 4 neighbours per dimension with Keys' cubic weights (a = −0.75, as PyTorch), which
# may overshoot the input's range.
#
# Where an output pixel `i` reads from is PyTorch's rule, worth knowing because it changes
# the numbers:
#
# - `align_corners=True`: the corner pixels' *centres* line up,
#   `src = i · (n_in − 1) / (n_out − 1)`.
# - `align_corners=False` (the default): the images' *edges* line up,
#   `src = (i + 0.5) / scale − 0.5`, clamped at 0 (not for bicubic), where `scale` is the
#   `scale_factor` you gave — not `n_out / n_in`, which differs when `n_in · scale_factor`
#   is not a whole number — unless `recompute_scale_factor=True` or you gave a `size`.
#
# The output size is `size`, or `floor(n_in · scale_factor)`. Nearest neighbour follows the
# same scale rule (`src = floor(i / scale)`, rounded as PyTorch computes it: in float32 for
# images, else in the input's dtype; `"nearest-exact"` uses the pixel centres,
# `floor((i + 0.5) / scale)`), and `"area"` is adaptive average
# pooling. This `interpolate` and the `Upsample` layer built on it replace module 03's in
# `tinytorch.nn` once this module is exported; `UpsamplingNearest2d` and
# `UpsamplingBilinear2d` (which uses `align_corners=True`) are `Upsample` with a fixed mode.

# %%
#| export
from tinytorch.nn.modules import Upsample as _NearestUpsample

_INTERPOLATION_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_INTERPOLATION_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")


def _output_sizes(spatial, size, scale_factor, recompute_scale_factor):
    """PyTorch's output size of every spatial dimension, and the scale each one's source positions use
    (None: in/out, from the sizes)."""
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    given = size if size is not None else scale_factor
    values = tuple(given) if isinstance(given, (tuple, list)) else (given,) * len(spatial)
    if len(values) != len(spatial):
        what = "output size" if size is not None else "scale_factor"
        raise ValueError(f"Input and {what} must have the same number of spatial dimensions, but got input with "
                         f"spatial dimensions of {list(spatial)} and {what} of {given}")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
        if not all(isinstance(v, (int, np.integer)) for v in values):
            raise TypeError(f"interpolate: size must be an int or a tuple of ints, not {size!r}")
        sizes, scales = tuple(int(v) for v in values), (None,) * len(spatial)
    else:
        sizes = tuple(math.floor(float(n) * float(f)) for n, f in zip(spatial, values))
        scales = (None,) * len(spatial) if recompute_scale_factor else tuple(float(f) for f in values)
    if any(s <= 0 for s in sizes):
        raise RuntimeError(f"Input and output sizes should be greater than 0, but got input {tuple(spatial)} "
                           f"and output {sizes}")
    return sizes, scales


def _source_positions(n, out, scale, align_corners, dtype):
    """Where each output position reads along one dimension, before rounding (PyTorch's rule, in dtype)."""
    i = np.arange(out, dtype=dtype)
    if align_corners:
        return i * dtype((n - 1) / (out - 1) if out > 1 else 0.0)
    ratio = dtype(1.0 / scale) if scale is not None and scale > 0 else dtype(n) / dtype(out)
    return ratio * (i + dtype(0.5)) - dtype(0.5)


def _cubic_weights(t):
    """Keys' cubic convolution (a = -0.75) for the 4 neighbours at offsets -1, 0, 1, 2 of a fraction t."""
    a = -0.75
    near = lambda d: ((a + 2) * d - (a + 3)) * d * d + 1  # noqa: E731  |d| <= 1
    far = lambda d: ((a * d - 5 * a) * d + 8 * a) * d - 4 * a  # noqa: E731  1 < |d| < 2
    return far(t + 1), near(t), near(1 - t), far(2 - t)


def _taps(mode, n, out, scale, align_corners, dtype, images=False):
    """One dimension's resampling: [(the input index each output reads, its weight or None)]."""
    if mode in ("nearest", "nearest-exact"):
        if images and mode == "nearest" and out in (n, 2 * n):  # PyTorch's 2-D shortcuts: same size, or double
            return [(np.arange(out) * n // out, None)]
        real = np.float32 if images else dtype  # PyTorch's rounding: images in float32, others in dtype, ...
        ratio = real(1.0 / scale) if scale is not None and scale > 0 else real(n) / real(out)
        src = (np.arange(out, dtype=real) + real(0.5 if mode == "nearest-exact" else 0.0)) * ratio
        return [(np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), n - 1), None)]  # ... floored as float32
    if mode != "bicubic" and n == out:  # PyTorch: the same size is a copy, whatever the scale
        return [(np.arange(n), None)]
    src = _source_positions(n, out, scale, align_corners, dtype)
    if mode != "bicubic" and not align_corners:
        src = np.maximum(src, 0)
    first = np.minimum(np.floor(src).astype(np.int64), n - 1)
    t = np.clip(src - first, 0, 1).astype(dtype)
    if mode == "bicubic":
        return [(np.clip(first + k, 0, n - 1), w.astype(dtype)) for k, w in zip((-1, 0, 1, 2), _cubic_weights(t))]
    return [(first, 1 - t), (np.minimum(first + 1, n - 1), t)]


def _resample(input, dim, taps):
    """Σ over taps of input's entries at index along dim, times their weights (broadcast along dim)."""
    total = None
    for index, weight in taps:
        picked = input.index_select(dim, Tensor._wrap(index.astype(np.int64)))
        if weight is not None:
            picked = picked * Tensor._wrap(weight.reshape((-1,) + (1,) * (input.ndim - 1 - dim)))
        total = picked if total is None else total + picked
    return total


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dimensions of (N, C, ...) (PyTorch's F.interpolate): "nearest", "nearest-exact",
    "linear" (3-D input), "bilinear" / "bicubic" (4-D), "trilinear" (5-D) or "area"."""
    if input.ndim not in (3, 4, 5) or mode not in _INTERPOLATION_MODES:
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) "
                                  f"for the modes: {' | '.join(_INTERPOLATION_MODES)} (got {mode})")
    if mode in _INTERPOLATION_DIMS and input.ndim != _INTERPOLATION_DIMS[mode] + 2:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs "
                                  f"{_INTERPOLATION_DIMS[mode] + 2}D input")
    if align_corners is not None and mode not in _INTERPOLATION_DIMS:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if antialias:
        if mode not in ("bilinear", "bicubic"):
            raise ValueError("Anti-alias option is restricted to bilinear and bicubic modes and requires a 4-D "
                             "tensor as input")
        raise NotImplementedError("interpolate: antialias=True is not supported here")
    if mode in _INTERPOLATION_DIMS and not input.is_floating_point():
        raise NotImplementedError(f"interpolate: mode {mode!r} needs a floating-point input, not {input.dtype}")
    sizes, scales = _output_sizes(input.shape[2:], size, scale_factor, recompute_scale_factor)
    if mode == "area":  # the mean of each output pixel's share of the input: adaptive average pooling
        if input.ndim == 5:
            raise NotImplementedError("interpolate: mode 'area' is implemented for 3-D and 4-D input only")
        return adaptive_avg_pool1d(input, sizes) if input.ndim == 3 else adaptive_avg_pool2d(input, sizes)
    out = input
    for dim in range(input.ndim - 1, 1, -1):  # the last dimension first, as PyTorch adds up the terms
        n, target, scale = input.shape[dim], sizes[dim - 2], scales[dim - 2]
        taps = _taps(mode, n, target, scale, bool(align_corners), input.dtype.type, images=input.ndim == 4)
        out = _resample(out, dim, taps)
    return out


class Upsample(_NearestUpsample):
    """nn.Upsample with every mode of interpolate (module 03's, extended)."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
        super().__init__(size, scale_factor, mode)
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, input):
        return interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                           recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self):
        shown = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return f"{shown}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling with align_corners=True (the corner pixels' centres line up)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


# %%
def test_unit_interpolate():
    """Checks the provided bilinear `interpolate`: [0, 1] doubled with align_corners=False is
    [0, 0.25, 0.75, 1] (edges aligned, clamped) and with True [0, 1/3, 2/3, 1] (corners
    aligned); a scale_factor of 1.5 from 3 pixels reads at (i + 0.5) / 1.5 - 0.5; a bilinear
    mix of a 2×2 image; and the gradient, each pixel collecting its weights. This code is
    provided: if it fails, look at `index_select` and its backward in module 02.
    """
    x = Tensor(np.array([[[0.0, 1.0]]]), requires_grad=True)
    assert np.allclose(interpolate(x, scale_factor=2, mode="linear").data.ravel(), [0, 0.25, 0.75, 1])
    assert np.allclose(interpolate(x, size=4, mode="linear", align_corners=True).data.ravel(), [0, 1 / 3, 2 / 3, 1])
    ramp = Tensor(np.array([[[0.0, 3.0, 6.0]]]))  # 4 outputs read at (i + 0.5) / 1.5 - 0.5: 0 (clamped), 0.5, 7/6, 11/6
    assert np.allclose(interpolate(ramp, scale_factor=1.5, mode="linear").data.ravel(), [0, 1.5, 3.5, 5.5])
    recomputed = interpolate(ramp, scale_factor=1.5, mode="linear", recompute_scale_factor=True)  # 3/4, not 1/1.5
    assert np.allclose(recomputed.data.ravel(), [0, 1.875, 4.125, 6])
    image = Tensor(np.array([[[[0.0, 1.0], [2.0, 3.0]]]]))
    centre = interpolate(image, size=3, mode="bilinear", align_corners=True).data[0, 0, 1, 1]
    assert np.isclose(centre, 1.5)  # the mean of the four corners
    interpolate(x, scale_factor=2, mode="linear").sum().backward()
    assert np.allclose(x.grad.data.ravel(), [2, 2])  # every output's weights add up to 1
    assert interpolate(image, scale_factor=2).data[0, 0].tolist()[1] == [0, 0, 1, 1]  # nearest
    assert repr(UpsamplingBilinear2d(scale_factor=2)) == "UpsamplingBilinear2d(scale_factor=2.0, mode='bilinear')"


if __name__ == "__main__":
    test_unit_interpolate()

# %% [markdown]
# ## Given: unpooling, power-average pooling, local response normalization
#
# **Unpooling.** `MaxPool2d(..., return_indices=True)` also returns where each maximum
# came from, as PyTorch does: a flat index `row · W + column` into its image's H·W pixels
# (of the input without padding; the first maximum when several tie, as `MaxPool2dOp` picks).
# `MaxUnpool2d` undoes the pooling as far as it can: it puts every pooled value back at its
# index and zeros everywhere else — the decoder of SegNet-style networks, which keeps "where"
# from the encoder. The output is `(H − 1)·stride − 2·padding + kernel_size` per side, or
# `output_size` (within one stride of that, since pooling dropped the remainder). It is a
# `scatter` of the values into zeros, so its backward is a `gather` from autograd.
#
# **LPPool2d** pools with a power average: `(Σ x^p)^(1/p)` over each window. `p = 1` is the
# window's sum, and as `p` grows it approaches the max. It is `AvgPool2d` of `x^p`, times the
# window's size, to the power `1/p`. (`x^p` of a negative x is NaN for a fractional p, as in
# PyTorch: use it after a ReLU.)
#
# **LocalResponseNorm** (AlexNet, 2012) divides each channel by the activity of its `size`
# neighbouring channels at the same pixel: `x / (k + α · mean(x² over the window))^β`. Lay
# the channels out as the rows of a one-channel image, `(N, 1, C, H·W)`, pad `size // 2`
# rows of zeros before and `(size − 1) // 2` after, and the mean over each window is an
# `AvgPool2d` with a `(size, 1)` kernel and stride 1 — exactly PyTorch's recipe.
#
# **Softmax2d** is a softmax over the channels at every pixel (dimension −3), for per-pixel
# class scores.

# %%
#| export
def _max_pool_indices(x, kernel_size, stride, padding):
    """Where each window's first maximum is: a flat int64 index into its image's H·W unpadded pixels."""
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    windows = _patches(_pad_for_max(x, padding), kernel_size, stride)  # (C, kh, kw, Ho, Wo, N)
    C, _, _, Ho, Wo, N = windows.shape
    first = windows.reshape(C, kh * kw, Ho, Wo, N).argmax(axis=1)  # row-major in the window: ties go first
    rows = np.arange(Ho)[:, None, None] * sh + first // kw - ph
    cols = np.arange(Wo)[:, None] * sw + first % kw - pw
    return Tensor((rows * x.shape[3] + cols).transpose(3, 0, 1, 2), dtype=np.int64)


def _unpool_size(size, kernel_size, stride, padding, output_size):
    """MaxUnpool1d/2d/3d's output size: PyTorch's default, or output_size (n or n + 2 numbers) within a stride of it."""
    n = len(kernel_size)
    default = tuple((m - 1) * s - 2 * p + k for m, k, s, p in zip(size, kernel_size, stride, padding))
    if output_size is None:
        return default
    wanted = tuple(output_size)[2:] if len(output_size) == n + 2 else tuple(output_size)
    if len(wanted) != n:
        raise ValueError(f"output_size should be a sequence containing {n} or {n + 2} elements, but it has a length "
                         f"of '{len(output_size)}'")
    for d, (w, m, s) in enumerate(zip(wanted, default, stride)):
        if not m - s < w < m + s:
            raise ValueError(f'invalid output_size "{tuple(output_size)}" (dim {d} must be between {m - s} and '
                             f'{m + s})')
    return tuple(int(w) for w in wanted)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Every value of (N, C, H, W) or (C, H, W) put back at its flat index (MaxPool2d's return_indices)
    into an image of zeros: PyTorch's F.max_unpool2d."""
    kernel_size = _pair(kernel_size, "kernel_size")
    stride = kernel_size if stride is None else _pair(stride, "stride")
    padding = _pair(padding, "padding", minimum=0)
    if input.ndim not in (3, 4):
        raise RuntimeError(f"max_unpool2d expects a (N, C, H, W) or (C, H, W) input, got shape {input.shape}")
    where = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if where.shape != input.shape:
        raise RuntimeError(f"max_unpool2d: indices of shape {where.shape} should have the input's shape {input.shape}")
    if where.dtype != np.int64:
        raise RuntimeError(f"max_unpool2d: indices should be int64, got {where.dtype}")
    x = input if input.ndim == 4 else input.unsqueeze(0)
    (N, C, H, W) = x.shape
    Ho, Wo = _unpool_size((H, W), kernel_size, stride, padding, output_size)
    flat = where.reshape(N, C, H * W)
    if flat.size and (flat.min() < 0 or flat.max() >= Ho * Wo):
        bad = flat.min() if flat.min() < 0 else flat.max()
        raise RuntimeError(f"max_unpool2d: found an invalid max index {bad} (output images are {Ho}x{Wo})")
    zeros = Tensor(np.zeros((N, C, Ho * Wo), dtype=x.dtype), dtype=x.dtype)
    out = zeros.scatter(2, flat, x.reshape(N, C, H * W)).reshape(N, C, Ho, Wo)
    return out if input.ndim == 4 else out.squeeze(0)


class MaxUnpool2d(Module):
    """The partial inverse of MaxPool2d: values back at their indices, zeros elsewhere."""

    _sides, _unpool = staticmethod(_pair), staticmethod(max_unpool2d)  # MaxUnpool1d/3d: their own

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = self._sides(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else self._sides(stride, "stride")
        self.padding = self._sides(padding, "padding", minimum=0)

    def forward(self, input, indices, output_size=None):
        return self._unpool(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(Σ x^p over each window)^(1/p), p = norm_type, for (N, C, H, W) or (C, H, W)."""
    if ceil_mode:
        raise NotImplementedError("lp_pool2d: ceil_mode=True is not supported here")
    if input.ndim == 3:
        return lp_pool2d(input.unsqueeze(0), norm_type, kernel_size, stride).squeeze(0)
    kh, kw = _pair(kernel_size, "kernel_size")
    return (avg_pool2d(input.pow(norm_type), (kh, kw), stride) * (kh * kw)).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(Σ x^p over each window)^(1/p), p = norm_type, for (N, C, L) or (C, L)."""
    if ceil_mode:
        raise NotImplementedError("lp_pool1d: ceil_mode=True is not supported here")
    if input.ndim == 2:
        return lp_pool1d(input.unsqueeze(0), norm_type, kernel_size, stride).squeeze(0)
    k = _single(kernel_size, "kernel_size")
    return (avg_pool1d(input.pow(norm_type), k, stride) * k).pow(1.0 / norm_type)


class LPPool2d(Module):
    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        if ceil_mode:
            raise NotImplementedError(f"{type(self).__name__}: ceil_mode=True is not supported here")
        self.norm_type, self.kernel_size, self.stride, self.ceil_mode = norm_type, kernel_size, stride, ceil_mode

    def forward(self, input):
        return lp_pool2d(input, self.norm_type, self.kernel_size, self.stride)

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class LPPool1d(LPPool2d):
    def forward(self, input):
        return lp_pool1d(input, self.norm_type, self.kernel_size, self.stride)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """x / (k + alpha · mean of x² over `size` neighbouring channels)^beta, for (N, C, ...)."""
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {input.ndim} dimensions)")
    if input.numel() == 0:
        return input
    N, C = input.shape[:2]
    squares = (input * input).reshape(N, 1, C, -1)  # the channels as the rows of one image
    window_mean = avg_pool2d(pad(squares, (0, 0, size // 2, (size - 1) // 2)), (size, 1), stride=1)
    return input / (window_mean.reshape(input.shape) * alpha + k).pow(beta)


class LocalResponseNorm(Module):
    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class Softmax2d(Module):
    """A softmax over the channels at every pixel of (N, C, H, W) or (C, H, W)."""

    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D instead")
        return input.softmax(-3)


# %%
def test_unit_unpool_lp_pool_lrn():
    """Checks the provided `MaxPool2d(return_indices=True)` and `MaxUnpool2d`: the maxima's flat
    indices (the first of a tie), unpooling puts each back there and the gradient gathers from
    there; `lp_pool2d` with p = 2 is each window's Euclidean norm; `local_response_norm` with a
    window of 3 channels; `Softmax2d` sums to 1 over the channels. This code is provided: if it
    fails, look at your `_patches`, `MaxPool2dOp` and `AvgPool2dOp`.
    """
    x = Tensor(np.array([[[[1.0, 4.0, 2.0, 2.0], [3.0, 0.0, 1.0, 0.0]]]]), requires_grad=True)
    pooled, indices = MaxPool2d(2, return_indices=True)(x)
    assert pooled.data.ravel().tolist() == [4.0, 2.0] and indices.data.ravel().tolist() == [1, 2]
    restored = MaxUnpool2d(2)(pooled, indices)
    assert restored.data[0, 0].tolist() == [[0, 4, 2, 0], [0, 0, 0, 0]]
    assert MaxUnpool2d(2)(pooled, indices, output_size=(3, 5)).shape == (1, 1, 3, 5)
    (restored * Tensor(np.arange(8.0).reshape(1, 1, 2, 4))).sum().backward()
    assert x.grad.data[0, 0].tolist() == [[0, 1, 2, 0], [0, 0, 0, 0]]  # through unpool and pool: the weights
    assert np.allclose(lp_pool2d(Tensor(np.array([[[[3.0, 4.0]]]])), 2, (1, 2)).data, 5.0)
    lrn = local_response_norm(Tensor(np.array([[[1.0], [2.0], [3.0]]])), 3, alpha=3.0, beta=1.0, k=1.0)
    assert np.allclose(lrn.data.ravel(), [1 / 6, 2 / 15, 3 / 14])  # 1 + 3·mean: (0+1+4)/3, (1+4+9)/3, (4+9+0)/3
    probabilities = Softmax2d()(Tensor(np.random.default_rng(0).normal(size=(2, 3, 4, 5))))
    assert np.allclose(probabilities.data.sum(axis=1), 1.0)


if __name__ == "__main__":
    test_unit_unpool_lp_pool_lrn()

# %% [markdown]
# ## Given: 3-D layers — Conv3d, 3-D pooling, BatchNorm3d, InstanceNorm3d, Dropout3d
#
# Video clips, CT and MRI scans are *volumes*: a batch is **(N, C, D, H, W)**, with a
# depth D (frames, slices) in front of the height and the width, and a `Conv3d` filter is
# **(O, C // groups, kd, kh, kw)**. Nothing new is needed, only one more axis:
#
# - **Conv3dOp** is `Conv2dOp` with a depth. The batch goes last, `(C, D, H, W, N)`;
#   `sliding_window_view` over the three axes D, H, W gives every window as a view;
#   one reshape into `(C·kd·kh·kw, Do·Ho·Wo·N)` columns is the one copy, and one BLAS
#   product with the `(O, C·kd·kh·kw)` filters does all the work. The backward is col2im
#   in 3-D: one strided add per kernel offset (`_fold_3d`, as `_fold`). A **dilation**
#   `d` is simply a wider window of which every d-th tap is kept (forward), and the
#   offset `p·d` at which each tap's slab is added back (backward).
# - **Max and mean are separable**: the maximum of a kd×kh×kw box is the maximum, over
#   its kd planes, of each plane's kh×kw maximum. So `MaxPool3d` is your `MaxPool2dOp`
#   twice — over (H, W), with the depth counted among the channels, then over D with a
#   (kd, 1) kernel — and its gradient still goes to the box's *first* maximum in
#   (d, h, w) order: the first plane that holds the maximum, and in it the first pixel.
#   With `return_indices=True` it also says where that maximum is — a flat index into
#   the volume's D·H·W voxels — from one `argmax` over every box's kd·kh·kw values (the
#   boxes as one view, as in `Conv3dOp`, padded with −∞ so that padding never wins).
#   `AvgPool3d` is `AvgPool2dOp` twice the same way. `count_include_pad=False` divides by
#   the number of real (not padding) values in each box instead of kd·kh·kw, a product of
#   one count per axis. `AdaptiveAvgPool3d` averages along each axis in turn with a small
#   matrix: entry (j, i) is 1/len(window i) when input position j is in window i
#   (PyTorch's windows, `_adaptive_windows`), so it is three matrix products.
# - `BatchNorm3d` and `InstanceNorm3d` are `_BatchNorm` and `_InstanceNorm` with a 5-D
#   shape check; `Dropout3d` is module 04's channel dropout with three spatial axes: a
#   whole (D, H, W) volume of one channel is zeroed at a time, the rest scaled by 1/(1−p).
#
# As in PyTorch, every one of them also takes one unbatched volume (C, D, H, W).

# %%
#| export
from tinytorch.nn.dropout import _ChannelDropout, _channel_dropout


def _triple(value, name="value", minimum=1):
    """3 -> (3, 3, 3); (3, 2, 1) stays; a clear ValueError for anything else (as _pair)."""
    triple = (value,) * 3 if isinstance(value, (int, np.integer)) else value
    if not (isinstance(triple, (tuple, list)) and len(triple) == 3
            and all(isinstance(v, (int, np.integer)) and v >= minimum for v in triple)):
        raise ValueError(f"{name} must be an int >= {minimum} or a triple of them, not {value!r}")
    return tuple(int(v) for v in triple)


def _batch_last_3d(x, padding):
    """(N, C, D, H, W) -> (C, D + 2·pd, H + 2·ph, W + 2·pw, N), zero-padded; a view without padding."""
    xt = x.transpose(1, 2, 3, 4, 0)
    if not any(padding):
        return xt
    inside = tuple(slice(p, p + n) for p, n in zip(padding, xt.shape[1:4]))
    out = np.zeros((xt.shape[0],) + tuple(n + 2 * p for p, n in zip(padding, xt.shape[1:4])) + xt.shape[4:],
                   dtype=x.dtype)
    out[(slice(None),) + inside] = xt
    return out


def _patches_3d(xt, kernel_size, stride, dilation):
    """Every window of xt (C, D, H, W, N), taps `dilation` apart, as a (C, kd, kh, kw, Do, Ho, Wo, N) view."""
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, dilation))
    (sd, sh, sw), (dd, dh, dw) = stride, dilation
    windows = sliding_window_view(xt, span, axis=(1, 2, 3))[:, ::sd, ::sh, ::sw, :, ::dd, ::dh, ::dw]
    return windows.transpose(0, 5, 6, 7, 1, 2, 3, 4)


def _fold_3d(dpatches, shape, stride, dilation):
    """col2im in 3-D: each kernel offset's slab of window gradients added onto its strided slice of the volume."""
    (C, kd, kh, kw, Do, Ho, Wo, N), (sd, sh, sw), (dd, dh, dw) = dpatches.shape, stride, dilation
    dx = np.zeros(shape, dtype=dpatches.dtype)
    for i, j, k in np.ndindex(kd, kh, kw):  # one vectorized add per kernel offset
        p, q, r = i * dd, j * dh, k * dw  # where the tap sits in the first window
        dx[:, p:p + sd * Do:sd, q:q + sh * Ho:sh, r:r + sw * Wo:sw] += dpatches[:, i, j, k]
    return dx


class Conv3dOp(Function):
    """3-D convolution (cross-correlation) of (N, C, D, H, W) with (O, C, kd, kh, kw) filters: im2col, one product."""

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=(1, 1, 1), padding=(0, 0, 0), dilation=(1, 1, 1)):
        if x.ndim != 5 or weight.ndim != 5:
            raise ValueError(f"Conv3d expects a batch (N, C, D, H, W) and a weight (O, C, kd, kh, kw), got shapes "
                             f"{x.shape} and {weight.shape}")
        O, C = weight.shape[:2]
        if x.shape[1] != C:
            raise ValueError(f"Conv3d expects {C} input channels, got input of shape {x.shape}")
        _blocks(x.shape[2:], weight.shape[2:], dilation, padding, stride, "Conv3d")  # a clear error if none fits
        xt = _batch_last_3d(x, padding)
        windows = _patches_3d(xt, weight.shape[2:], stride, dilation)  # (C, kd, kh, kw, Do, Ho, Wo, N), a view
        Do, Ho, Wo, N = windows.shape[4:]
        cols = windows.reshape(-1, Do * Ho * Wo * N)  # im2col: the one copy
        out = _blas_matmul(weight.reshape(O, -1), cols)
        if bias is not None:
            out += bias[:, None]
        ctx.save_for_backward(cols, weight)
        ctx.padded_shape, ctx.stride, ctx.padding, ctx.dilation = xt.shape, stride, padding, dilation
        ctx.has_bias = bias is not None
        return out.reshape(O, Do, Ho, Wo, N).transpose(4, 0, 1, 2, 3)

    @staticmethod
    def backward(ctx, grad):
        cols, weight = ctx.saved_tensors
        O = weight.shape[0]
        g = grad.transpose(1, 2, 3, 4, 0).reshape(O, -1)  # (O, Do·Ho·Wo·N), laid out like `out`
        grad_weight = _blas_matmul(cols, g.T).T.reshape(weight.shape) if ctx.needs_input_grad[1] else None
        grad_bias = _blas_matmul(g, np.ones(g.shape[1], dtype=g.dtype)) if ctx.has_bias else None
        if not ctx.needs_input_grad[0]:
            return None, grad_weight, grad_bias
        dcols = _blas_matmul(weight.reshape(O, -1).T, g).reshape(weight.shape[1:] + grad.shape[2:] + grad.shape[:1])
        dxt = _fold_3d(dcols, ctx.padded_shape, ctx.stride, ctx.dilation)
        inside = tuple(slice(p, n - p) for p, n in zip(ctx.padding, ctx.padded_shape[1:4]))
        return dxt[(slice(None),) + inside].transpose(4, 0, 1, 2, 3), grad_weight, grad_bias


def _volumes(x, name):
    """A batch of volumes (N, C, D, H, W), and whether it was one (an unbatched (C, D, H, W) gets N = 1)."""
    if x.ndim not in (4, 5):
        raise ValueError(f"{name} expects a batch (N, C, D, H, W) or one volume (C, D, H, W), got shape {x.shape}")
    return (x, True) if x.ndim == 5 else (x.unsqueeze(0), False)


def _conv3d_padding(padding, kernel_size, stride, dilation):
    """Conv3d's padding as three numbers; "same" pads d·(k − 1) / 2 on each side, "valid" nothing."""
    if isinstance(padding, str):
        return _conv_padding(padding, tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, dilation)), stride)
    return _triple(padding, "padding", minimum=0)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution of (N, C, D, H, W) or (C, D, H, W) with a (O, C // groups, kd, kh, kw) weight."""
    if weight.ndim != 5:
        raise ValueError(f"conv3d expects a weight (O, C // groups, kd, kh, kw), got shape {weight.shape}")
    stride, dilation = _triple(stride, "stride"), _triple(dilation, "dilation")
    padding = _conv3d_padding(padding, weight.shape[2:], stride, dilation)
    groups = _groups(groups, weight.shape[1] * groups, weight.shape[0]) if groups != 1 else 1
    x, batched = _volumes(input, "Conv3d")
    if x.shape[1] != weight.shape[1] * groups:
        raise ValueError(f"Conv3d expects {weight.shape[1] * groups} input channels in {groups} groups, "
                         f"got input of shape {input.shape}")
    c, o, options = weight.shape[1], weight.shape[0] // groups, dict(stride=stride, padding=padding, dilation=dilation)
    if groups == 1:
        out = Conv3dOp.apply(x, weight, bias, **options)
    else:  # as _grouped_conv2d: each group of channels with its own filters, the outputs side by side
        out = cat([Conv3dOp.apply(x[:, i * c:(i + 1) * c], weight[i * o:(i + 1) * o],
                                  None if bias is None else bias[i * o:(i + 1) * o], **options)
                   for i in range(groups)], dim=1)
    return out if batched else out.squeeze(0)


class Conv3d(Module):
    """3-D convolution over (N, C, D, H, W); weight (out_channels, in_channels // groups, kd, kh, kw)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros"):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _triple(kernel_size, "kernel_size"), _triple(stride, "stride")
        self.dilation = _triple(dilation, "dilation")
        self.padding = _conv3d_padding(padding, self.kernel_size, self.stride, self.dilation)
        self._padding_text = padding if isinstance(padding, str) else None
        self.groups = _groups(groups, in_channels, out_channels)
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', "
                             f"not {padding_mode!r}")
        self.padding_mode = padding_mode
        self.weight = Parameter(np.zeros((out_channels, in_channels // self.groups) + self.kernel_size))
        self.bias = Parameter(np.zeros(out_channels)) if bias else None
        self.reset_parameters()  # ±1/√fan_in, fan_in = (C // groups)·kd·kh·kw

    def reset_parameters(self):
        """PyTorch's default again, into the same Parameters: weight and bias uniform on ±1/√fan_in."""
        init._default_layer_init(self.weight, self.bias)

    def forward(self, x):
        padding = self.padding
        if self.padding_mode != "zeros":  # pad with copies of the border first, then no zeros
            (pd, ph, pw), padding = self.padding, 0
            x = pad(x, (pw, pw, ph, ph, pd, pd), mode=self.padding_mode)
        return conv3d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)

    def extra_repr(self):
        return _conv_repr(self)


def _pool3d_window(kernel_size, stride, padding):
    """(kernel, stride, padding) triples of a 3-D pooling; stride defaults to the kernel, padding at most half it."""
    kernel_size = _triple(kernel_size, "kernel_size")
    stride = kernel_size if stride is None else _triple(stride, "stride")
    padding = _triple(padding, "padding", minimum=0)
    if any(p > k // 2 for p, k in zip(padding, kernel_size)):
        raise ValueError(f"padding {padding} should be at most half of kernel_size {kernel_size}")
    return kernel_size, stride, padding


def _pool_3d(op, input, kernel_size, stride, padding, name):
    """A separable 3-D pooling as two 2-D ones: over (H, W) with the depth among the channels, then over D."""
    x, batched = _volumes(input, name)
    (N, C, D, H, W), (kd, kh, kw), (sd, sh, sw), (pd, ph, pw) = x.shape, kernel_size, stride, padding
    _blocks((D, H, W), kernel_size, (1, 1, 1), padding, stride, name)
    planes = op.apply(x.reshape(N, C * D, H, W), kernel_size=(kh, kw), stride=(sh, sw), padding=(ph, pw))
    Ho, Wo = planes.shape[2:]
    out = op.apply(planes.reshape(N, C, D, Ho * Wo), kernel_size=(kd, 1), stride=(sd, 1), padding=(pd, 0))
    out = out.reshape(N, C, out.shape[2], Ho, Wo)
    return out if batched else out.squeeze(0)


def _max_pool_indices_3d(x, kernel_size, stride, padding):
    """Where each box's first maximum (in (d, h, w) order) is: a flat int64 index into the D·H·W voxels."""
    (N, C, D, H, W), (kd, kh, kw), (pd, ph, pw) = x.shape, kernel_size, padding
    xt = np.full((C, D + 2 * pd, H + 2 * ph, W + 2 * pw, N), -np.inf, dtype=x.dtype)
    xt[:, pd:pd + D, ph:ph + H, pw:pw + W] = x.data.transpose(1, 2, 3, 4, 0)
    windows = _patches_3d(xt, kernel_size, stride, (1, 1, 1))  # (C, kd, kh, kw, Do, Ho, Wo, N)
    Do, Ho, Wo = windows.shape[4:7]
    first = windows.reshape(C, kd * kh * kw, Do, Ho, Wo, N).argmax(axis=1)  # ties: the first
    depth = np.arange(Do)[:, None, None, None] * stride[0] + first // (kh * kw) - pd
    rows = np.arange(Ho)[:, None, None] * stride[1] + first // kw % kh - ph
    cols = np.arange(Wo)[:, None] * stride[2] + first % kw - pw
    return Tensor(((depth * H + rows) * W + cols).transpose(4, 0, 1, 2, 3), dtype=np.int64)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """The maximum of every kd×kh×kw box of (N, C, D, H, W) or (C, D, H, W); the gradient to its first maximum.
    With return_indices, also where each maximum is (a flat index into its volume's D·H·W voxels)."""
    if _triple(dilation, "dilation") != (1, 1, 1) or ceil_mode:
        raise NotImplementedError("max_pool3d: dilation other than 1 and ceil_mode=True are not supported here")
    window = _pool3d_window(kernel_size, stride, padding)
    out = _pool_3d(MaxPool2dOp, input, *window, "max_pool3d")
    if not return_indices:
        return out
    x, batched = _volumes(input, "max_pool3d")
    indices = _max_pool_indices_3d(x, *window)
    return out, (indices if batched else indices.squeeze(0))


def _real_counts(size, kernel_size, stride, padding, out_size):
    """How many real (not padding) positions each output's box holds: (Do, Ho, Wo), a product of one count per axis."""
    counts = 1
    for axis, (n, k, s, p, o) in enumerate(zip(size, kernel_size, stride, padding, out_size)):
        start = np.arange(o) * s - p
        along = np.minimum(start + k, n) - np.maximum(start, 0)
        counts = counts * along.reshape((-1,) + (1,) * (len(size) - 1 - axis))
    return counts


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """The mean of every kd×kh×kw box of (N, C, D, H, W) or (C, D, H, W); zero padding counts unless
    count_include_pad=False; divisor_override divides the box's sum by that number instead."""
    if ceil_mode:
        raise NotImplementedError("avg_pool3d: ceil_mode=True is not supported here")
    window = _pool3d_window(kernel_size, stride, padding)
    out = _pool_3d(AvgPool2dOp, input, *window, "avg_pool3d")  # sum / (kd·kh·kw), padding counted
    return _average_divisor(out, input.shape[-3:], *window, count_include_pad, divisor_override)


def adaptive_avg_pool3d(input, output_size):
    """The mean over an output_size grid of boxes that tile each volume (PyTorch's windows, _adaptive_windows):
    along each axis in turn, a product with a (n, o) matrix of 1/len(window) where a position is in a window."""
    x, batched = _volumes(input, "adaptive_avg_pool3d")
    out = x
    for dim, windows in zip((2, 3, 4), _adaptive_windows(x.shape[2:], output_size, "adaptive_avg_pool3d")):
        start, end = np.array(windows).T
        position = np.arange(x.shape[dim])[:, None]
        share = ((position >= start) & (position < end)) / (end - start)  # (n, o)
        out = (out.movedim(dim, -1) @ Tensor._wrap(share.astype(x.dtype))).movedim(-1, dim)
    return out if batched else out.squeeze(0)


class MaxPool3d(Module):
    """Max over kernel_size boxes of (N, C, D, H, W), moved by stride (default: kernel_size)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = _pool3d_window(kernel_size, stride, padding)
        if _triple(dilation, "dilation") != (1, 1, 1) or ceil_mode:
            raise NotImplementedError("MaxPool3d: dilation other than 1 and ceil_mode=True are not supported here")
        self.return_indices = return_indices
        self._shown = _pool_settings(kernel_size, stride, padding, dilation=dilation, ceil_mode=ceil_mode)

    def forward(self, x):
        return max_pool3d(x, self.kernel_size, self.stride, self.padding, return_indices=self.return_indices)

    def extra_repr(self):
        return self._shown


class AvgPool3d(Module):
    """Mean over kernel_size boxes of (N, C, D, H, W), moved by stride (default: kernel_size)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride, self.padding = _pool3d_window(kernel_size, stride, padding)
        if ceil_mode:
            raise NotImplementedError("AvgPool3d: ceil_mode=True is not supported here")
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override
        self._shown = _pool_settings(kernel_size, stride, padding)

    def forward(self, x):
        return avg_pool3d(x, self.kernel_size, self.stride, self.padding, False, self.count_include_pad,
                          self.divisor_override)

    def extra_repr(self):
        return self._shown


class AdaptiveAvgPool3d(AdaptiveAvgPool2d):
    def forward(self, x):
        return adaptive_avg_pool3d(x, self.output_size)


class BatchNorm3d(_BatchNorm):
    """Batch normalization of volumes (N, C, D, H, W): statistics per channel, over batch and voxels."""

    def _check_input(self, x):
        if x.ndim != 5:
            raise ValueError(f"expected 5D input (got {x.ndim}D input)")


class InstanceNorm3d(_InstanceNorm):
    """Instance normalization of volumes (N, C, D, H, W) or (C, D, H, W): statistics per volume and channel."""

    _dims = 3


class Dropout3d(_ChannelDropout):
    """In training, zero whole channels (a (D, H, W) volume each) with probability p, scale the rest by 1/(1-p)."""

    spatial = 3


def dropout3d(input, p=0.5, training=True, inplace=False):
    return _channel_dropout(input, p, training, 3)


# %%
def test_unit_3d_layers():
    """Checks the provided 3-D layers with hand-computed values: a 2×2×2 box summed by a ones filter,
    the gradient of a convolution counting each voxel's windows, the first maximum of a box taking
    its gradient, the mean with and without padding counted, adaptive windows, and whole-channel
    dropout. This code is provided: if it fails, look at your `MaxPool2dOp` and `AvgPool2dOp`.
    """
    x = Tensor(np.arange(27.0).reshape(1, 1, 3, 3, 3), dtype=np.float64, requires_grad=True)
    ones = Tensor(np.ones((1, 1, 2, 2, 2)), dtype=np.float64)
    y = conv3d(x, ones)  # every 2×2×2 box summed: the first is 0+1+3+4+9+10+12+13 = 52
    assert y.shape == (1, 1, 2, 2, 2) and y.data[0, 0, 0, 0, 0] == 52 and y.data[0, 0, 1, 1, 1] == 52 + 8 * 13
    y.sum().backward()  # each voxel counted once per window it is in: 1 at a corner, 8 in the middle
    assert x.grad.data[0, 0, 0, 0, 0] == 1 and x.grad.data[0, 0, 1, 1, 1] == 8 and x.grad.data[0, 0, 1, 0, 0] == 2
    assert Conv3d(2, 4, 3, padding="same")(Tensor(np.ones((1, 2, 4, 5, 6)))).shape == (1, 4, 4, 5, 6)
    assert Conv3d(2, 4, (1, 3, 3), stride=2, dilation=(1, 2, 1))(Tensor(np.ones((2, 4, 7, 7)))).shape == (4, 2, 2, 3)
    v = Tensor(np.array([[[[[1.0, 7.0], [7.0, 0.0]], [[7.0, 2.0], [3.0, 4.0]]]]]), requires_grad=True)  # 2×2×2
    pooled = MaxPool3d(2)(v)
    assert pooled.data.ravel().tolist() == [7.0]
    pooled.sum().backward()  # three 7s: the first in (d, h, w) order takes it all
    assert v.grad.data.ravel().tolist() == [0, 1, 0, 0, 0, 0, 0, 0]
    assert np.isclose(AvgPool3d(2)(v).data.item(), 31 / 8)
    padded = Tensor(np.ones((1, 1, 2, 2, 2)))
    assert np.allclose(avg_pool3d(padded, 2, 1, padding=1).data[0, 0, 0, 0, 0], 1 / 8)  # 1 real voxel of 8
    assert np.allclose(avg_pool3d(padded, 2, 1, padding=1, count_include_pad=False).data, 1.0)
    ramp = Tensor(np.arange(5.0).reshape(1, 1, 1, 1, 5))
    assert np.allclose(adaptive_avg_pool3d(ramp, (1, 1, 3)).data.ravel(), [0.5, 2.0, 3.5])  # [0, 2), [1, 4), [3, 5)
    np.random.seed(0)
    dropped = Dropout3d(0.5)(Tensor(np.ones((4, 8, 2, 2, 2)))).data
    per_channel = dropped.reshape(32, 8)
    assert np.all((per_channel == 0) | (per_channel == 2)) and np.all(per_channel.min(1) == per_channel.max(1))
    assert BatchNorm3d(2)(Tensor(np.random.rand(3, 2, 2, 2, 2))).shape == (3, 2, 2, 2, 2)


if __name__ == "__main__":
    test_unit_3d_layers()

# %% [markdown]
# ## Given: one example without a batch
#
# PyTorch's convolution and pooling layers also take a single example — an image (C, H, W)
# instead of a batch (N, C, H, W), a sequence (C, L) instead of (N, C, L) — and give back a
# result without the batch dimension. Everything in this module is written for batches, so
# `_unbatched` wraps a layer's `forward` (or a function) once: an input with one dimension
# too few becomes a batch of one (`unsqueeze(0)`), and the result loses that dimension again
# (each result, for pooling's (values, indices)). The gradient flows through both reshapes.

# %%
#| export
import functools


def _unbatched(fn, batched_ndim, position=0):
    """fn, also taking one example: argument `position` with batched_ndim - 1 dimensions becomes a batch of one."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        if len(args) <= position or not isinstance(args[position], Tensor) or args[position].ndim != batched_ndim - 1:
            return fn(*args, **kwargs)
        out = fn(*args[:position], args[position].unsqueeze(0), *args[position + 1:], **kwargs)
        return tuple(o.squeeze(0) for o in out) if isinstance(out, tuple) else out.squeeze(0)
    return wrapped


for _layer, _ndim in ((Conv2d, 4), (MaxPool2d, 4), (AvgPool2d, 4), (Conv1d, 3)):
    _layer.forward = _unbatched(_layer.forward, _ndim, position=1)  # position 0 is self
conv1d, conv_transpose1d = _unbatched(conv1d, 3), _unbatched(conv_transpose1d, 3)
max_pool1d, avg_pool1d = _unbatched(max_pool1d, 3), _unbatched(avg_pool1d, 3)
adaptive_avg_pool1d, adaptive_max_pool1d = _unbatched(adaptive_avg_pool1d, 3), _unbatched(adaptive_max_pool1d, 3)
conv2d, conv_transpose2d = _unbatched(conv2d, 4), _unbatched(conv_transpose2d, 4)
adaptive_avg_pool2d, adaptive_max_pool2d = _unbatched(adaptive_avg_pool2d, 4), _unbatched(adaptive_max_pool2d, 4)


# %%
def test_unit_unbatched_inputs():
    """One example in, one example out, the same numbers as in a batch of one."""
    np.random.seed(0)
    image = Tensor(np.random.rand(3, 6, 6), requires_grad=True)
    conv = Conv2d(3, 2, 3)
    single, batched = conv(image), conv(image.unsqueeze(0))
    assert single.shape == (2, 4, 4) and np.allclose(single.data, batched.data[0])
    single.sum().backward()
    assert image.grad.shape == (3, 6, 6)
    pooled, where = MaxPool2d(2, return_indices=True)(image)
    assert pooled.shape == where.shape == (3, 3, 3)
    assert AdaptiveAvgPool1d(2)(Tensor(np.ones((3, 8)))).shape == (3, 2)


if __name__ == "__main__":
    test_unit_unbatched_inputs()

# %% [markdown]
# ## Given: the pooling family in every dimension, and ConvTranspose3d
#
# PyTorch's remaining pooling names fill the gaps of the table "operation × 1-D, 2-D, 3-D",
# each built from what is above:
#
# - **`F.max_pool2d_with_indices`** & co. are the `return_indices=True` forms under their
#   own names (PyTorch's functional forms call them): values and indices, always both.
# - **`MaxUnpool1d`**, **`MaxUnpool3d`** are `MaxUnpool2d` with one or three sides: every
#   value goes back to its flat index (into L positions, or D·H·W voxels) in a tensor of
#   zeros — one `scatter` — and the output's size is `(n − 1)·stride − 2·padding + kernel`
#   per side, or `output_size` within one stride of that.
# - **`AdaptiveMaxPool3d`**: the same windows as `AdaptiveAvgPool3d`. The maximum is
#   separable, so the index of each box's first maximum is found one axis at a time — W,
#   then H, then D, one `argmax` per output window of that axis (a few, not one per voxel),
#   and the earliest maximum wins at every step, which is the first in (d, h, w) order. The
#   values are then a `gather` at those indices, whose backward sends each gradient there.
# - **`LPPool3d`** is `(Σ x^p)^(1/p)` over each box: `AvgPool3d` of `x^p`, times kd·kh·kw.
# - **`ConvTranspose3d`** is `ConvTranspose2dOp` with a depth, built from `Conv3dOp`'s
#   pieces: the forward is `weightᵀ @ columns` then `_fold_3d` (col2im), the padding cut off;
#   the backward reads the gradient's windows with `_patches_3d` (im2col) and multiplies.

# %%
#| export
def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    return adaptive_max_pool2d(input, output_size, True)


def _max_unpool(input, indices, kernel_size, stride, padding, output_size, tup, name):
    """max_unpool1d / max_unpool3d: each value scattered to its flat index in a batch of zeros."""
    kernel_size = tup(kernel_size, "kernel_size")
    stride = kernel_size if stride is None else tup(stride, "stride")
    padding = tup(padding, "padding", minimum=0)
    dims = len(kernel_size)
    if input.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"Input to {name} should be a {dims + 1}d or {dims + 2}d Tensor, but got a tensor with "
                           f"{input.ndim} dimensions.")
    where = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if where.dtype != np.int64:
        raise RuntimeError(f"{name}: elements in indices should be type int64 but got {where.dtype}")
    if where.shape != input.shape:
        raise RuntimeError(f"{name}: expected shape of indices to be same as that of the input tensor "
                           f"({input.shape}) but got indices tensor with shape {where.shape}")
    x = input if input.ndim == dims + 2 else input.unsqueeze(0)
    size = _unpool_size(x.shape[2:], kernel_size, stride, padding, output_size)
    (N, C), total = x.shape[:2], int(np.prod(size))
    flat = where.reshape(N, C, -1)
    if flat.size and (flat.min() < 0 or flat.max() >= total):
        bad = flat.min() if flat.min() < 0 else flat.max()
        raise RuntimeError(f"{name}: found an invalid max index {bad} (output volumes are of size "
                           f"{'x'.join(map(str, size))})")
    zeros = Tensor(np.zeros((N, C, total), dtype=x.dtype), dtype=x.dtype)
    out = zeros.scatter(2, flat, x.reshape(N, C, -1)).reshape(N, C, *size)
    return out if input.ndim == dims + 2 else out.squeeze(0)


def _one(value, name, minimum=1):
    return (_single(value, name, minimum),)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, _one, "max_unpool1d")


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, _triple, "max_unpool3d")


class MaxUnpool1d(MaxUnpool2d):
    """The partial inverse of MaxPool1d: values back at their indices, zeros elsewhere."""

    _sides, _unpool = staticmethod(_one), staticmethod(max_unpool1d)


class MaxUnpool3d(MaxUnpool2d):
    """The partial inverse of MaxPool3d: values back at their indices, zeros elsewhere."""

    _sides, _unpool = staticmethod(_triple), staticmethod(max_unpool3d)


def _adaptive_max_indices(data, output_size, name):
    """The flat index (into the last len(windows) axes) of each adaptive window's first maximum: one axis
    at a time, last axis first, one argmax per output window of that axis."""
    windows = _adaptive_windows(data.shape[2:], output_size, name)
    values, where = data, None  # where: per spatial axis done so far, the position of the maximum
    for axis in range(len(windows) - 1, -1, -1):
        dim = axis + 2
        parts, positions = [], []
        for start, end in windows[axis]:
            piece = np.take(values, np.arange(start, end), axis=dim)
            first = np.expand_dims(piece.argmax(axis=dim), dim)  # ties: the earliest
            parts.append(np.take_along_axis(piece, first, axis=dim))
            chosen = [first + start] + ([] if where is None else [np.take_along_axis(
                np.take(w, np.arange(start, end), axis=dim), first, axis=dim) for w in where])
            positions.append(chosen)
        values = np.concatenate(parts, axis=dim)
        where = [np.concatenate([p[k] for p in positions], axis=dim) for k in range(len(positions[0]))]
    flat = np.zeros(values.shape, dtype=np.int64)  # where[0] is the first axis's position, then the next ...
    for position, n in zip(where, data.shape[2:]):
        flat = flat * n + position
    return flat


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """The max over an output_size grid of boxes that tile each volume (PyTorch's windows); with
    return_indices, also each maximum's flat index into its volume's D·H·W voxels."""
    x, batched = _volumes(input, "adaptive_max_pool3d")
    indices = _adaptive_max_indices(x.data, output_size, "adaptive_max_pool3d")
    (N, C), out_shape = x.shape[:2], indices.shape
    out = x.reshape(N, C, -1).gather(2, Tensor(indices.reshape(N, C, -1), dtype=np.int64)).reshape(out_shape)
    indices = Tensor(indices, dtype=np.int64)
    if not batched:
        out, indices = out.squeeze(0), indices.squeeze(0)
    return (out, indices) if return_indices else out


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    return adaptive_max_pool3d(input, output_size, True)


class AdaptiveMaxPool3d(AdaptiveMaxPool2d):
    def forward(self, x):
        return adaptive_max_pool3d(x, self.output_size, self.return_indices)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(Σ x^p over each box)^(1/p), p = norm_type, for (N, C, D, H, W) or (C, D, H, W)."""
    if ceil_mode:
        raise NotImplementedError("lp_pool3d: ceil_mode=True is not supported here")
    kd, kh, kw = _triple(kernel_size, "kernel_size")
    return (avg_pool3d(input.pow(norm_type), (kd, kh, kw), stride) * (kd * kh * kw)).pow(1.0 / norm_type)


class LPPool3d(LPPool2d):
    def forward(self, input):
        return lp_pool3d(input, self.norm_type, self.kernel_size, self.stride)


class ConvTranspose3dOp(Function):
    """Transposed 3-D convolution, Conv3dOp's input gradient as an operation: (N, Cin, D, H, W) and a
    (Cin, Cout, kd, kh, kw) weight -> (N, Cout, D_out, H_out, W_out). Forward: weightᵀ @ columns, then
    col2im (_fold_3d); backward: im2col (_patches_3d), then the products."""

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=(1, 1, 1), padding=(0, 0, 0), output_padding=(0, 0, 0),
                dilation=(1, 1, 1)):
        if x.ndim != 5 or weight.ndim != 5:
            raise ValueError(f"ConvTranspose3d expects a batch (N, C, D, H, W) and a weight (Cin, Cout, kd, kh, kw), "
                             f"got shapes {x.shape} and {weight.shape}")
        Cin, Cout = weight.shape[:2]
        if x.shape[1] != Cin:
            raise ValueError(f"ConvTranspose3d expects {Cin} input channels, got input of shape {x.shape}")
        N, size = x.shape[0], x.shape[2:]
        full = tuple((n - 1) * s + d * (k - 1) + 1 + op  # the padded volume a convolution would have read
                     for n, s, d, k, op in zip(size, stride, dilation, weight.shape[2:], output_padding))
        if any(f - 2 * p < 1 for f, p in zip(full, padding)):
            raise ValueError(f"ConvTranspose3d: padding {padding} leaves no output of input size {tuple(size)}")
        xm = x.transpose(1, 2, 3, 4, 0).reshape(Cin, -1)  # (Cin, D·H·W·N), the batch last
        cols = _blas_matmul(weight.reshape(Cin, -1).T, xm).reshape(weight.shape[1:] + size + (N,))
        out = _fold_3d(cols, (Cout,) + full + (N,), stride, dilation)  # col2im
        out = out[(slice(None),) + tuple(slice(p, f - p) for p, f in zip(padding, full))]
        if bias is not None:
            out = out + bias[:, None, None, None, None]
        ctx.save_for_backward(xm if ctx.needs_input_grad[1] else None, weight)
        ctx.size, ctx.stride, ctx.padding, ctx.dilation, ctx.has_bias = size, stride, padding, dilation, bias is not None
        return np.ascontiguousarray(out.transpose(4, 0, 1, 2, 3))

    @staticmethod
    def backward(ctx, grad):
        xm, weight = ctx.saved_tensors
        (Cin, Cout), (D, H, W), N = weight.shape[:2], ctx.size, grad.shape[0]
        windows = _patches_3d(_batch_last_3d(grad, ctx.padding), weight.shape[2:], ctx.stride, ctx.dilation)
        cols = windows[:, :, :, :, :D, :H, :W].reshape(Cout * int(np.prod(weight.shape[2:])), -1)  # im2col
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_x = _blas_matmul(weight.reshape(Cin, -1), cols).reshape(Cin, D, H, W, N).transpose(4, 0, 1, 2, 3)
        if ctx.needs_input_grad[1]:
            grad_weight = _blas_matmul(xm, cols.T).reshape(weight.shape)
        grad_bias = grad.sum(axis=(0, 2, 3, 4)) if ctx.has_bias else None
        return grad_x, grad_weight, grad_bias


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 3-D convolution of (N, Cin, D, H, W) or (Cin, D, H, W) with a (Cin, Cout // groups, kd, kh, kw)
    weight."""
    stride, dilation = _triple(stride, "stride"), _triple(dilation, "dilation")
    padding, output_padding = _triple(padding, "padding", minimum=0), _triple(output_padding, "output_padding", 0)
    _check_output_padding(output_padding, stride, dilation)
    options = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    x, batched = _volumes(input, "ConvTranspose3d")
    if groups == 1:
        out = ConvTranspose3dOp.apply(x, weight, bias, **options)
    else:
        groups = _groups(groups, weight.shape[0], weight.shape[1] * groups)
        if x.shape[1] != weight.shape[0]:
            raise ValueError(f"ConvTranspose3d expects {weight.shape[0]} input channels in {groups} groups, "
                             f"got input of shape {input.shape}")
        c, o = weight.shape[0] // groups, weight.shape[1]  # input channels and outputs of one group
        out = cat([ConvTranspose3dOp.apply(x[:, i * c:(i + 1) * c], weight[i * c:(i + 1) * c],
                                           None if bias is None else bias[i * o:(i + 1) * o], **options)
                   for i in range(groups)], dim=1)
    return out if batched else out.squeeze(0)


class ConvTranspose3d(_ConvTransposeNd):
    """Transposed 3-D convolution; weight (in_channels, out_channels // groups, kd, kh, kw)."""

    _dims = 3

    def _tuple(self, value, name, minimum=1):
        return _triple(value, name, minimum)

    def _convolve(self, *args):
        return conv_transpose3d(*args)


# %%
def test_unit_pooling_family_and_conv_transpose_3d():
    """Checks the provided 1-D/3-D unpooling, 3-D adaptive max and power pooling and ConvTranspose3d:
    unpooling puts each maximum back at its index, the adaptive maximum and its index are the box's
    first maximum, LPPool3d with p = 1 sums each box, and a transposed convolution is the adjoint of
    Conv3d with the same weight (<conv(z), x> == <z, conv_transpose(x)>)."""
    np.random.seed(0)
    x = Tensor(np.random.rand(2, 3, 6))
    values, where = max_pool1d_with_indices(x, 2)
    restored = MaxUnpool1d(2)(values, where)
    assert restored.shape == (2, 3, 6) and np.allclose(restored.data.max(axis=2), x.data.max(axis=2))
    volume = Tensor(np.random.rand(1, 2, 4, 4, 4), requires_grad=True)
    values, where = max_pool3d_with_indices(volume, 2)
    assert np.allclose(values.data.ravel(), volume.data.reshape(1, 2, -1)[0][np.arange(2)[:, None],
                                                                            where.data.reshape(2, -1)].ravel())
    assert np.allclose(MaxUnpool3d(2)(values, where).data.sum(), values.data.sum())
    pooled, first = adaptive_max_pool3d(volume, (1, 3, 1), return_indices=True)
    assert pooled.shape == (1, 2, 1, 3, 1) and np.isclose(pooled.data[0, 0, 0, 0, 0],
                                                          volume.data[0, 0, :, 0:2].max())
    assert np.isclose(volume.data.reshape(2, -1)[0, first.data[0, 0, 0, 0, 0]], pooled.data[0, 0, 0, 0, 0])
    assert np.allclose(lp_pool3d(volume, 1, 2).data, avg_pool3d(volume, 2).data * 8)
    weight = Tensor(np.random.rand(2, 3, 2, 3, 2))
    z, up = np.random.rand(1, 2, 3, 5, 3), np.random.rand(1, 3, 7, 5, 7)
    down = conv3d(Tensor(up), weight, stride=(2, 1, 2), padding=(0, 1, 0)).data  # (1, 2, 3, 5, 3)
    lifted = conv_transpose3d(Tensor(z), weight, stride=(2, 1, 2), padding=(0, 1, 0), output_padding=(1, 0, 1)).data
    assert lifted.shape == up.shape and np.isclose((down * z).sum(), (lifted * up).sum())


if __name__ == "__main__":
    test_unit_pooling_family_and_conv_transpose_3d()

# %% [markdown]
# ## Given: lazy convolutions
#
# As module 03's `LazyLinear`, PyTorch's `LazyConv1d/2d/3d(out_channels, kernel_size, ...)` and
# `LazyConvTranspose1d/2d/3d` leave out `in_channels`: it is read from the first input
# (`shape[1]` of a batch, `shape[0]` of one example). Until then `in_channels` is 0 and the
# weight has a 0-sized dimension; the first call resizes that same Parameter (an optimizer
# built before it still holds it), fills it with PyTorch's default ±1/√fan_in, and the layer
# becomes the ordinary class (`type(conv) is Conv2d`).

# %%
#| export
from tinytorch.nn.modules import _LazyMixin  # noqa: E402  (module 03's: LazyLinear's lazy part)


class _LazyConvMixin(_LazyMixin):
    """The lazy part of LazyConv*/LazyConvTranspose*: in_channels from the first input (module 03's _LazyMixin)."""

    _inferred = "in_channels"

    def __init__(self, out_channels, kernel_size, *args, **kwargs):
        self.cls_to_become.__init__(self, 0, out_channels, kernel_size, *args, **kwargs)  # sized at the first call

    def _sized(self, input):
        dims = len(self.kernel_size)
        if input.ndim not in (dims + 1, dims + 2):
            raise RuntimeError(f"Expected {dims + 1}D (unbatched) or {dims + 2}D (batched) input to "
                               f"{type(self).__name__}, but got input of size: {tuple(input.shape)}")
        in_channels = input.shape[1] if input.ndim == dims + 2 else input.shape[0]
        if in_channels % self.groups:
            raise ValueError("in_channels must be divisible by groups")
        self.in_channels = in_channels
        transposed = issubclass(self.cls_to_become, _ConvTransposeNd)  # weight (in, out // g, ...) there
        channels = (in_channels, self.out_channels // self.groups) if transposed else (
            self.out_channels, in_channels // self.groups)
        self.weight.data = np.zeros(channels + self.kernel_size, dtype=self.weight.dtype)


class LazyConv1d(_LazyConvMixin, Conv1d):
    """A Conv1d whose in_channels is its first input's; then it becomes a Conv1d."""

    cls_to_become = Conv1d


class LazyConv2d(_LazyConvMixin, Conv2d):
    """A Conv2d whose in_channels is its first input's; then it becomes a Conv2d."""

    cls_to_become = Conv2d


class LazyConv3d(_LazyConvMixin, Conv3d):
    """A Conv3d whose in_channels is its first input's; then it becomes a Conv3d."""

    cls_to_become = Conv3d


class LazyConvTranspose1d(_LazyConvMixin, ConvTranspose1d):
    """A ConvTranspose1d whose in_channels is its first input's; then it becomes a ConvTranspose1d."""

    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvMixin, ConvTranspose2d):
    """A ConvTranspose2d whose in_channels is its first input's; then it becomes a ConvTranspose2d."""

    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyConvMixin, ConvTranspose3d):
    """A ConvTranspose3d whose in_channels is its first input's; then it becomes a ConvTranspose3d."""

    cls_to_become = ConvTranspose3d


# The same for the normalizations of this module, with module 04's `_LazyNormMixin`: num_features
# from the first input. PyTorch's lazy instance norms default to affine=True and
# track_running_stats=True, unlike the plain InstanceNorm classes.
from tinytorch.nn.batchnorm import _LazyNormMixin  # noqa: E402


class LazyBatchNorm2d(_LazyNormMixin, BatchNorm2d):
    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyNormMixin, BatchNorm3d):
    cls_to_become = BatchNorm3d


class _LazyInstanceNorm(_LazyNormMixin):
    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__(eps, momentum, affine, track_running_stats)


class LazyInstanceNorm1d(_LazyInstanceNorm, InstanceNorm1d):
    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyInstanceNorm, InstanceNorm2d):
    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyInstanceNorm, InstanceNorm3d):
    cls_to_become = InstanceNorm3d


# %%
def test_unit_lazy_conv():
    """Checks the provided lazy convolutions: in_channels 0 until the first call, then the input's
    channels, the same weight Parameter resized and filled, and the plain class afterwards."""
    np.random.seed(0)
    conv = LazyConv2d(4, 3)
    weight = conv.weight
    assert conv.in_channels == 0 and weight.shape == (4, 0, 3, 3)
    assert conv(Tensor(np.random.rand(2, 5, 6, 6))).shape == (2, 4, 4, 4)
    assert type(conv) is Conv2d and conv.weight is weight and weight.shape == (4, 5, 3, 3)
    assert np.any(weight.data != 0) and np.abs(weight.data).max() <= 1 / math.sqrt(45)
    up = LazyConvTranspose1d(6, 2, groups=2)
    assert up(Tensor(np.ones((4, 7)))).shape == (6, 8) and up.weight.shape == (4, 3, 2)


if __name__ == "__main__":
    test_unit_lazy_conv()

# %% [markdown]
# ## Given: `F.affine_grid` and `F.grid_sample` (spatial transformers)
#
# A *spatial transformer* (Jaderberg et al., 2015) lets a network learn where to look: a small
# network predicts an affine map `theta` (N, 2, 3) per image, `affine_grid(theta, size)` turns it
# into a sampling grid (N, H, W, 2) — for every output pixel the (x, y) point of the input to read,
# in normalized coordinates (−1 the left/top edge, +1 the right/bottom) — and
# `grid_sample(input, grid)` reads the input there. `align_corners=True` puts ±1 on the centres of
# the corner pixels, `False` on their outer edges (PyTorch's two conventions).
#
# - **affine_grid** is a base grid of `[x, y, 1]` rows (PyTorch's `linspace(−1, 1, W)` rule,
#   shrunk by `(W − 1)/W` without `align_corners`) times `thetaᵀ`: one batched matmul.
# - **grid_sample** unnormalizes each point to pixel units, applies the `padding_mode` to the
#   coordinates (`"border"` clips them into the image; `"reflection"` mirrors them at the edges
#   as PyTorch's `reflect_coordinates`; `"zeros"` leaves them, and reads 0 outside), then
#   `"bilinear"` gathers the four neighbouring pixels with integer index arrays
#   (`input[n, :, iy, ix]`) and mixes them with weights from the fractional parts;
#   `"nearest"` reads the one pixel at the rounded point (half to even, as PyTorch);
#   `"bicubic"` mixes 4×4 pixels with the cubic weights of `interpolate`.
#
# Nothing here has its own backward: every step is a Tensor op (indexing, products, sums), so
# autograd gives the gradient to the input (each gathered pixel collects its weight) and, through
# the weights' fractional parts, to the grid — hence to `theta`, which is what lets the
# localisation network learn. Only 4-D inputs (images) are supported; 5-D volumes raise
# `NotImplementedError`.

# %%
#| export
_GRID_MODES = ("bilinear", "nearest", "bicubic")
_GRID_PADDINGS = ("zeros", "border", "reflection")


def _base_coordinates(steps, align_corners):
    """PyTorch's normalized pixel positions along one axis: linspace(−1, 1), times (n − 1)/n without align_corners."""
    if steps <= 1:
        return np.zeros(max(steps, 0))
    line = np.linspace(-1.0, 1.0, steps)
    return line if align_corners else line * ((steps - 1) / steps)


def affine_grid(theta, size, align_corners=False):
    """The (N, H, W, 2) sampling grid of the affine maps theta (N, 2, 3) for an output of size (N, C, H, W):
    PyTorch's F.affine_grid (2-D). Differentiable in theta."""
    size = tuple(int(s) for s in size)
    if len(size) == 5:
        raise NotImplementedError("affine_grid: only 2-D grids (size (N, C, H, W), theta (N, 2, 3)) are "
                                  "supported here, not 3-D volumes")
    if len(size) != 4:
        raise NotImplementedError(f"affine_grid only supports 4D sizes, for 2D affine transforms. Got size {size}.")
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    N, _, H, W = size
    if theta.ndim != 3 or tuple(theta.shape[1:]) != (2, 3):
        raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. "
                         f"Got {tuple(theta.shape)}.")
    if theta.shape[0] != N:
        raise ValueError(f"affine_grid: theta has {theta.shape[0]} matrices but size asks for a batch of {N}")
    if min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    xs, ys = _base_coordinates(W, align_corners), _base_coordinates(H, align_corners)
    base = np.stack([np.broadcast_to(xs, (H, W)), np.broadcast_to(ys[:, None], (H, W)), np.ones((H, W))], axis=-1)
    base = Tensor._wrap(base.reshape(H * W, 3).astype(theta.dtype))
    return base.matmul(theta.transpose(1, 2)).reshape(N, H, W, 2)


def _clip_coordinates(coord, size):
    """Coordinates clipped into [0, size − 1]; as PyTorch, the borders count as outside for the gradient."""
    inside = (coord.data > 0) & (coord.data < size - 1)
    return coord * Tensor._wrap(inside.astype(coord.dtype)) + Tensor._wrap(
        np.where(inside, 0, np.clip(coord.data, 0, size - 1)).astype(coord.dtype))


def _reflect_coordinates(coord, twice_low, twice_high):
    """PyTorch's reflect_coordinates: coord mirrored at low and high (given doubled) until it lies between them."""
    if twice_low == twice_high:
        return Tensor._wrap(np.zeros(coord.shape, dtype=coord.dtype))
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    sign = np.where(coord.data - low < 0, -1.0, 1.0).astype(coord.dtype)
    distance = (coord - low) * Tensor._wrap(sign)  # |coord − low|, with PyTorch's gradient sign
    flips = np.floor(distance.data / span)
    extra = distance - Tensor._wrap((flips * span).astype(coord.dtype))  # fmod(distance, span)
    odd = (flips % 2 == 1)
    return extra * Tensor._wrap(np.where(odd, -1.0, 1.0).astype(coord.dtype)) + Tensor._wrap(
        (low + np.where(odd, span, 0.0)).astype(coord.dtype))


def _source_coordinates(coord, size, padding_mode, align_corners, pad=True):
    """PyTorch's grid_sampler_compute_source_index: normalized → pixel units, then the padding mode."""
    if align_corners:
        coord = (coord + 1) * ((size - 1) / 2)
    else:
        coord = ((coord + 1) * size - 1) * 0.5
    if not pad or padding_mode == "zeros":
        return coord
    if padding_mode == "reflection":
        coord = (_reflect_coordinates(coord, 0, 2 * (size - 1)) if align_corners
                 else _reflect_coordinates(coord, -1, 2 * size - 1))
    return _clip_coordinates(coord, size)


def _pad_index(index, size, padding_mode, align_corners):
    """An integer pixel index moved into the image by "border" (clip) or "reflection" (mirror), as PyTorch."""
    coord = Tensor._wrap(index.astype(np.float64))
    if padding_mode == "reflection":
        coord = (_reflect_coordinates(coord, 0, 2 * (size - 1)) if align_corners
                 else _reflect_coordinates(coord, -1, 2 * size - 1))
    return np.clip(coord.data, 0, size - 1).astype(np.int64)


def _gather_pixels(input, batch, iy, ix, padding_mode, align_corners):
    """input[n, :, iy, ix] for integer arrays (N, Ho, Wo) → (N, Ho, Wo, C), and a 0/1 mask of the reads in
    the image (all 1 after "border"/"reflection" coordinates; bicubic's taps get the padding mode here)."""
    H, W = input.shape[2], input.shape[3]
    if padding_mode != "zeros":  # integer taps (bicubic): move them into the image as PyTorch's compute_coordinates
        ix, iy = _pad_index(ix, W, padding_mode, align_corners), _pad_index(iy, H, padding_mode, align_corners)
    inside = (ix >= 0) & (ix < W) & (iy >= 0) & (iy < H)
    values = input[batch, :, np.clip(iy, 0, H - 1), np.clip(ix, 0, W - 1)]
    return values, inside


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """input (N, C, H, W) read at the normalized (x, y) points of grid (N, Ho, Wo, 2) → (N, C, Ho, Wo):
    PyTorch's F.grid_sample (2-D), differentiable in the input and (bilinear, bicubic) in the grid."""
    if mode not in _GRID_MODES:
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', "
                         f"but got: '{mode}'")
    if padding_mode not in _GRID_PADDINGS:
        raise ValueError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    if input.ndim == 5:
        raise NotImplementedError("grid_sample: only 4-D inputs (N, C, H, W) are supported here, not 5-D volumes")
    if input.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2:
        raise RuntimeError(f"grid_sampler(): expected 4D input (N, C, H, W) and grid (N, H_out, W_out, 2), "
                           f"but got input of shape {tuple(input.shape)} and grid of shape {tuple(grid.shape)}")
    if input.shape[0] != grid.shape[0]:
        raise RuntimeError(f"grid_sampler(): expected grid and input to have same batch size, but got input with "
                           f"sizes {tuple(input.shape)} and grid with sizes {tuple(grid.shape)}")
    if not input.is_floating_point() or input.dtype != grid.dtype:
        raise RuntimeError(f"grid_sampler(): expected input and grid to have the same floating-point dtype, but "
                           f"got {input.dtype} and {grid.dtype}")
    align_corners = bool(align_corners)
    N, _, H, W = input.shape
    batch = np.arange(N).reshape(N, 1, 1)
    cubic = mode == "bicubic"
    ix = _source_coordinates(grid[..., 0], W, padding_mode, align_corners, pad=not cubic)
    iy = _source_coordinates(grid[..., 1], H, padding_mode, align_corners, pad=not cubic)
    if mode == "nearest":
        taps = [(np.rint(iy.data).astype(np.int64), np.rint(ix.data).astype(np.int64), None)]
    else:
        x0, y0 = np.floor(ix.data), np.floor(iy.data)
        tx = ix - Tensor._wrap(x0.astype(ix.dtype))  # the fractional parts carry the gradient to the grid
        ty = iy - Tensor._wrap(y0.astype(iy.dtype))
        x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
        if cubic:
            wx, wy, offsets = _cubic_weights(tx), _cubic_weights(ty), (-1, 0, 1, 2)
        else:
            wx, wy, offsets = (1 - tx, tx), (1 - ty, ty), (0, 1)
        taps = [(y0 + dy, x0 + dx, wy[j] * wx[i]) for j, dy in enumerate(offsets) for i, dx in enumerate(offsets)]
    total = None
    for rows, cols, weight in taps:
        values, inside = _gather_pixels(input, batch, rows, cols, padding_mode if cubic else "zeros", align_corners)
        scale = Tensor._wrap(inside.astype(input.dtype)) if weight is None else weight * Tensor._wrap(
            inside.astype(input.dtype))
        term = values * scale.reshape(scale.shape + (1,))
        total = term if total is None else total + term
    return total.permute(0, 3, 1, 2)


# %%
def test_unit_grid_sample():
    """Checks the provided `affine_grid` / `grid_sample`: the identity theta reads every pixel back
    (both align_corners), a shift by one pixel (2/W in normalized units) moves the image, "zeros"
    reads 0 outside and "border" the edge, nearest rounds half to even, and the gradients reach the
    input (each pixel collects its weights) and theta. This code is provided: if it fails, look at
    Tensor indexing with integer arrays and its backward.
    """
    image = Tensor(np.arange(12.0).reshape(1, 1, 3, 4), requires_grad=True)
    identity = Tensor(np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]), requires_grad=True)
    for corners in (False, True):
        grid = affine_grid(identity, (1, 1, 3, 4), align_corners=corners)
        assert grid.shape == (1, 3, 4, 2)
        assert np.allclose(grid_sample(image, grid, align_corners=corners).data, image.data)
    shift = Tensor(np.array([[[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]]))  # x + 0.5: one pixel right of a 4-wide image
    moved = grid_sample(image, affine_grid(shift, (1, 1, 3, 4)))
    assert np.allclose(moved.data[0, 0, :, :3], image.data[0, 0, :, 1:]) and np.all(moved.data[0, 0, :, 3] == 0)
    edge = grid_sample(image, affine_grid(shift, (1, 1, 3, 4)), padding_mode="border")
    assert np.allclose(edge.data[0, 0, :, 3], image.data[0, 0, :, 3])
    half = Tensor(np.array([[[[-0.5, -1.0], [0.0, -1.0]]]]))  # x = 0.5 and 1.5 pixels: rounded to 0 and 2
    assert grid_sample(image, half, mode="nearest").data.ravel().tolist() == [0.0, 2.0]
    out = grid_sample(image, affine_grid(identity, (1, 1, 3, 4)))
    (out * out).sum().backward()
    assert np.allclose(image.grad.data, 2 * image.data)  # the identity reads each pixel once, with weight 1
    assert identity.grad is not None and identity.grad.shape == (1, 2, 3)


if __name__ == "__main__":
    test_unit_grid_sample()


# %% [markdown]
# ## A convolutional network
#
# Everything snaps together with `Sequential` from module 03. For 8×8 digits:
#
# | layer | output shape | parameters |
# |---|---|---|
# | input | (N, 1, 8, 8) | |
# | `Conv2d(1, 8, 3, padding=1)` + `ReLU` | (N, 8, 8, 8) | 8·1·9 + 8 = 80 |
# | `MaxPool2d(2)` | (N, 8, 4, 4) | |
# | `Conv2d(8, 16, 3, padding=1)` + `ReLU` | (N, 16, 4, 4) | 16·8·9 + 16 = 1,168 |
# | `MaxPool2d(2)` | (N, 16, 2, 2) | |
# | `Flatten()` → `Linear(64, 10)` | (N, 10) | 650 |
#
# About 1,900 parameters — fewer than a single `Linear(64, 32)` — and yet it reads
# held-out digits about as well as module 04's MLP with its 4,810: sharing each filter
# across the whole image is worth that much.

# %%
def test_unit_small_cnn():
    """Checks a LeNet-style network built from your layers: 1,898 parameters, `(5, 10)` logits from
    `(5, 1, 8, 8)` images, and a nonzero gradient for every parameter. A missing or zero gradient
    means one layer's backward drops it: run the layers' own tests first (a max-pool backward that
    routes nothing, or a bias gradient of None, are the usual suspects).
    """
    from tinytorch.nn.modules import Linear, ReLU, Sequential

    np.random.seed(0)
    model = Sequential(
        Conv2d(1, 8, 3, padding=1), ReLU(), MaxPool2d(2),
        Conv2d(8, 16, 3, padding=1), ReLU(), MaxPool2d(2),
        Flatten(), Linear(64, 10),
    )
    assert sum(p.numel() for p in model.parameters()) == 80 + 1168 + 650
    logits = model(Tensor(np.random.rand(5, 1, 8, 8)))
    assert logits.shape == (5, 10)
    logits.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.any(p.grad.data), name


if __name__ == "__main__":
    test_unit_small_cnn()

# %% [markdown]
# ## Done
#
# Run `tito module complete 05`: it runs these tests, exports `Conv2d`, `Conv1d`,
# `MaxPool2d`, `AvgPool2d`, `Flatten` and `BatchNorm2d` into `tinytorch/nn/spatial.py`
# (and `F.conv2d` & co. into `tinytorch.nn.functional`), with the given `ConvTranspose2d`,
# `Fold`/`Unfold`, `AdaptiveMaxPool2d`, `InstanceNorm2d`, the padding layers, bilinear
# `F.interpolate` / `Upsample`, `MaxUnpool2d`, `LPPool2d`, `LocalResponseNorm` and
# `Softmax2d`, the 3-D layers (`Conv3d`, `MaxPool3d`, `AvgPool3d`, `AdaptiveAvgPool3d`,
# `BatchNorm3d`, `InstanceNorm3d`, `Dropout3d`), `MaxUnpool1d`/`MaxUnpool3d`, `AdaptiveMaxPool3d`,
# `LPPool3d`, `ConvTranspose3d`, the lazy convolutions (`LazyConv1d/2d/3d`,
# `LazyConvTranspose1d/2d/3d`), the `F.*_with_indices` poolings and `F.affine_grid` / `F.grid_sample`, and unlocks the **CNN milestone** (1998 — Convolutional Networks): `tito
# milestone run cnn` trains this
# network, with twice as many filters (16 and 32), on TinyDigits and checks that it
# beats 95 % on digits it has never seen — in under a second.
#
# **Going further.** Time `conv2d_naive` against `Conv2dOp` on a batch of 64 (use
# `time.perf_counter`): the gap is the cost of the Python interpreter. Then try keeping
# the batch *first* inside `_batch_last` and `_patches` and time again: the gap is the
# cost of short memory runs.
