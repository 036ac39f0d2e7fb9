# %% [markdown]
# # Module 02 — Autograd
#
# Training a network means nudging every parameter a little in the direction that
# lowers the loss. That direction is the **gradient**: ∂loss/∂parameter for every
# parameter. Writing those derivatives by hand for a network of millions of operations
# is impossible; **automatic differentiation** (autograd) computes them exactly, from
# the operations themselves.
#
# The idea in one paragraph: while computing forward, every result remembers the
# operation that made it and that operation's inputs — a **computation graph**. To get
# gradients we walk the graph backwards from the loss, applying the **chain rule** at
# each node: an operation receives ∂loss/∂output and passes ∂loss/∂input to each input.
# Each operation only has to know its *local* derivative.
#
# We write each operation as one class with its `forward` and its `backward` side by
# side (the shape of PyTorch's `torch.autograd.Function`). Here is one that is not among
# the course's operations, the length of a vector (x, y), √(x² + y²):
#
# ```python
# class HypotOp(Function):
#     @staticmethod
#     def forward(ctx, x, y):                      # numpy arrays in, a numpy array out
#         length = np.sqrt(x * x + y * y)
#         ctx.save_for_backward(x, y, length)      # what backward will need
#         return length
#
#     @staticmethod
#     def backward(ctx, grad):                     # ∂loss/∂output in
#         x, y, length = ctx.saved_tensors
#         return grad * x / length, grad * y / length  # ∂loss/∂x, ∂loss/∂y out
# ```
#
# The forward may save its inputs, its output or anything it computed on the way; the
# backward returns one gradient per input, in order. `MulOp`, `ExpOp` and the others
# below have this shape, and their backward passes are yours to write.
#
# At the end of the module we connect these classes to `Tensor`'s operators, so that
# `a * b` on tensors that require gradients builds the graph, and `loss.backward()`
# fills every parameter's `.grad`. The last section explains in-place operations
# (`p -= lr * p.grad`) and why autograd must refuse some of them.

# %%
#| default_exp core.autograd
#| requires 00_setup 01_tensor
#| export
import functools
import itertools
import math
import string
import threading
import weakref
from collections import namedtuple

import numpy as np

from tinytorch.core.setup import _blas_matmul
from tinytorch.core.tensor import (
    _CATEGORY, _SEEDS, Tensor, _binary, _check_matmul, _data, _floating, _index, _promote_types, _promoted, _select,
    _reduce_args, _reduction, _reflected, _setitem, _shape_args, _write_into, manual_seed,
)

# %% [markdown]
# ## Switching the graph off: `no_grad`
#
# Building the graph costs time and memory. When we only evaluate a model, or update
# parameters inside an optimizer, no gradient is wanted: `with no_grad():` turns graph
# building off for the block, exactly like `torch.no_grad()`. As in PyTorch it also
# decorates a function (`@no_grad()`), `enable_grad()` turns recording back on inside
# such a block, and `set_grad_enabled(mode)` switches it by a flag.

# %%
#| export
_grad_enabled = True


def is_grad_enabled():
    """True unless inside a `with no_grad():` block."""
    return _grad_enabled


class _GradMode:
    """Sets graph building on or off: a context manager, and a decorator (with or without ())."""

    mode = True

    def __new__(cls, function=None):
        context = super().__new__(cls)
        return context if function is None else context(function)

    def __enter__(self):
        global _grad_enabled
        self._previous, _grad_enabled = _grad_enabled, self.mode
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._previous
        return False

    def __call__(self, function):
        mode = self.mode

        @functools.wraps(function)
        def run(*args, **kwargs):
            with enable_grad() if mode else no_grad():
                return function(*args, **kwargs)

        return run


class no_grad(_GradMode):
    """Context manager (or decorator): operations inside build no graph."""

    mode = False


class enable_grad(_GradMode):
    """Context manager (or decorator): operations inside build a graph, even within no_grad."""

    mode = True


class set_grad_enabled(_GradMode):
    """`set_grad_enabled(False)` switches graph building off at once; in a `with`, until its end."""

    def __new__(cls, mode):
        return object.__new__(cls)

    def __init__(self, mode):
        global _grad_enabled
        self.mode = bool(mode)
        self._previous, _grad_enabled = _grad_enabled, self.mode

    def __enter__(self):
        return self

    def __call__(self, function):
        global _grad_enabled
        _grad_enabled = self._previous  # as a decorator it acts only while the function runs
        return super().__call__(function)

# %% [markdown]
# ## Broadcasting, backwards: `unbroadcast`
#
# If `b` of shape `(3,)` was broadcast to `(4, 3)` in `a + b`, then `b` was *used four
# times*, and its gradient is the sum of the four row gradients. In general the
# gradient of a broadcast input is the incoming gradient **summed over the dimensions
# that broadcasting created or stretched**, so it has the input's shape again.
#
# ```
# grad (4, 3) -> input (3,):     sum over axis 0
# grad (4, 3) -> input (4, 1):   sum over axis 1, keep it
# ```
#
# The backward pass calls this for every input, so each backward may return a gradient
# of the broadcast shape and never has to think about it.

# %%
#| export
def unbroadcast(grad, shape):
    """Sum `grad` over the dimensions that broadcasting added or stretched to reach `shape`."""
    ### BEGIN SOLUTION
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise ValueError(f"gradient of shape {grad.shape} cannot belong to an input of shape {shape}")
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad
    ### END SOLUTION

# %%
def test_unit_unbroadcast():
    """Checks `unbroadcast(grad, shape)`: a `(4, 3)` gradient summed back to `(3,)`, `(4, 1)`, `()`
    and `(1, 3)`, and the very same array returned when the shapes already match. There are two
    kinds of broadcasting to undo: leading dimensions that were *added* (sum them away) and size-1
    dimensions that were *stretched* (sum them, but keep them with size 1).
    """
    g = np.ones((4, 3))
    assert unbroadcast(g, (3,)).tolist() == [4, 4, 4]
    assert unbroadcast(g, (4, 1)).tolist() == [[3], [3], [3], [3]]
    assert unbroadcast(g, ()).item() == 12
    assert unbroadcast(np.ones((2, 4, 3)), (1, 3)).tolist() == [[8, 8, 8]]
    assert unbroadcast(g, (4, 3)) is g, "no work when shapes match"


if __name__ == "__main__":
    test_unit_unbroadcast()

# %% [markdown]
# ## `Context` and `Function`
#
# Each operation applied to tensors that want gradients becomes one **node** of the
# graph: a `Context`. It holds the operation (`ctx.function`), its inputs, what the
# forward saved for the backward, and — for each input — the node that *made* that input
# (`ctx.parents`): the input's own Context, or the input tensor itself when it is a leaf
# (a parameter). Backward walks from node to parent node.
#
# `Function.apply(*inputs, **options)` is the one place where the graph is built:
#
# 1. record which inputs want a gradient: a Tensor with `requires_grad`, while gradients
#    are enabled (`needs_input_grad`, PyTorch's name), and make the `Context`;
# 2. unwrap the inputs to NumPy arrays and call `forward(ctx, *arrays, **options)`;
#    wrap the result in a new `Tensor`;
# 3. if some input wants a gradient — and the result is floating point: `x.long()` gives
#    integers, which have no gradient — mark the result `requires_grad = True` and
#    remember its node: `result._ctx = ctx`;
# 4. call the provided `_note_memory(ctx, result)`: it lets a result that is a *view* of an
#    input (a slice, a reshape: the same memory) share that input's version counter, and
#    records the versions of everything the backward will read. The last section of the
#    module explains why.
#
# Inputs that are not tensors (a shape, an index) take part in the forward but get no
# gradient. `backward` returns one gradient per input (`None` for "no gradient").

# %%
#| export
_FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they "
    "have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward(). Specify retain_graph=True if you need to backward through the graph a second time."
)


class Context:
    """One node of the graph: what a Function's forward leaves for its backward.

    `needs_input_grad[i]` says whether input i wants a gradient (PyTorch's name): a
    backward may skip the work for an input that does not, such as a batch of images.
    `parents[i]` is the node that made input i (its Context, or the leaf tensor itself).
    """

    def __init__(self, function, inputs, needs_input_grad):
        self.function = function
        self.inputs = inputs
        self.needs_input_grad = needs_input_grad
        self.parents = tuple(
            (x._ctx if x._ctx is not None else x) if need else None for x, need in zip(inputs, needs_input_grad)
        ) if any(needs_input_grad) else ()
        self._saved = ()
        self._versions = ()  # (version counter, version then, which tensor): see In-place operations

    def save_for_backward(self, *arrays):
        self._saved = arrays

    @property
    def saved_tensors(self):
        if self._saved is None:
            raise RuntimeError(_FREED)
        return self._saved

    def check_versions(self):
        """Raise if memory this node's backward reads was changed in place after its forward."""
        for counter, version, what in self._versions:
            if counter[0] != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: {what} of {self.function.__name__} is at version {counter[0]}; "
                    f"expected version {version} instead. Make the in-place change a new tensor "
                    "(y = y + 1 instead of y += 1), or do it after backward()."
                )

    def release(self):
        """Forget the saved arrays once backward has used them (unless retain_graph=True)."""
        if self._saved:
            self._saved = None

    def name(self):
        return f"{self.function.__name__}Backward"

    def __repr__(self):
        return f"<{self.name()}>"


def _note_memory(ctx, result):
    """Let a view share its base's version counter; record the versions the backward relies on."""
    out, tensors = result.data, [x for x in ctx.inputs if isinstance(x, Tensor)]
    for x in tensors:
        if out is x.data or (out.base is not None and np.may_share_memory(out, x.data)):
            result._base = x if x._base is None else x._base
            result._version_counter = x._version_counter
            break
    if result._ctx is None:
        return
    versions = []
    for saved in ctx._saved:
        if type(saved) is not np.ndarray:
            continue
        owner = result if saved is out else None
        for x in tensors:
            if saved is x.data:
                owner = x
                break
        if owner is None and (saved.base is not None or out.base is not None):  # a view of one of them?
            for x in (*tensors, result):
                if np.may_share_memory(saved, x.data):
                    owner = x
                    break
        if owner is not None:
            what = "the output" if owner is result else "an input"
            versions.append((owner._version_counter, owner._version_counter[0], what))
    if result._base is not None:  # a view: its node is stale once the memory changes
        versions.append((result._version_counter, result._version_counter[0], "the output (a view)"))
    ctx._versions = versions


class Function:
    """One differentiable operation: subclasses define `forward` and `backward` together."""

    @staticmethod
    def forward(ctx, *arrays, **options):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **options):
        ### BEGIN SOLUTION
        needs = tuple(_grad_enabled and isinstance(x, Tensor) and x.requires_grad for x in inputs)
        ctx = Context(cls, inputs, needs)
        result = Tensor._wrap(cls.forward(ctx, *[_data(x) for x in inputs], **options))
        if any(needs) and result.is_floating_point():
            result.requires_grad = True
            result._ctx = ctx
        _note_memory(ctx, result)
        return result
        ### END SOLUTION

# %% [markdown]
# ## The operations
#
# Each class below is one operation with its local derivative. Read them as a table of
# calculus you already know: d(a·b)/da = b, d(eᵃ)/da = eᵃ, d(log a)/da = 1/a, ...
#
# Powers need care at zero. d(aᵇ)/da = b·aᵇ⁻¹, but for b = 0 that is 0·0⁻¹ = 0·∞ = NaN at
# a = 0, although a⁰ = 1 is flat everywhere: the gradient is 0 wherever b = 0. With a
# tensor exponent (`x ** y`, `2 ** x`) the exponent gets a gradient too, d(aᵇ)/db = aᵇ·log a,
# taken as 0 where a = 0 and b ≥ 0 (PyTorch's convention: 0ᵇ does not change with b > 0).
#
# For a matrix product C = A @ B, the chain rule gives ∂L/∂A = ∂L/∂C @ Bᵀ and
# ∂L/∂B = Aᵀ @ ∂L/∂C — check the shapes: (n, m) = (n, p) @ (p, m). Batched products
# work the same on the last two dimensions. A vector is treated as a one-row (on the
# left) or one-column (on the right) matrix: put the missing dimensions back into the
# incoming gradient, multiply, and squeeze them out again — for `(k,) @ (k,)` the
# gradient arrives as a single number.
#
# `MulOp` and `DivOp` (their forward is given) save only what their backward will read:
# `x * 0.5` needs no gradient for the 0.5, so `x` itself need not be kept alive until the
# backward pass — saved arrays are most of the memory a training step takes.
#
# Two provided helpers do the multiplying. `_blas_matmul(a, b)` is `a @ b` with module
# 00's rule for the cores (all of them for a large product, one for a small one).
# `_rows_matmul(a, b)` multiplies a batch `(..., n, k)` by one matrix `(k, m)` as a single
# product of all the rows: NumPy's `@` would loop over the batch, one small product at a
# time (measured: 16 products of 128×128 by 128×128 take 0.79 ms, the one product of
# 2048×128 by 128×128 0.66 ms).
#
# Mind the dtype of the numbers you divide by. `grad / 4` stays float32 when `4` is a
# Python number, but NumPy 2 turns `grad / np.int64(4)` or `grad / np.float64(4.0)` into
# float64: `np.prod(shape)` returns a NumPy number, so `MeanOp` counts with `math.prod`.
# A float64 gradient gives the right numbers, at half the speed and twice the memory,
# for every backward step upstream of it (module 13).

# %%
#| export
class AddOp(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        return grad, grad
        ### END SOLUTION


class SubOp(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        return grad, -grad
        ### END SOLUTION


class MulOp(Function):
    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)  # keep only what backward reads
        return a * b

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        a, b = ctx.saved_tensors
        grad_a = grad * b if ctx.needs_input_grad[0] else None  # x * 2: no work for the 2
        grad_b = grad * a if ctx.needs_input_grad[1] else None
        return grad_a, grad_b
        ### END SOLUTION


class DivOp(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        a, b = ctx.saved_tensors
        grad_a = grad / b
        grad_b = -grad_a * a / b if ctx.needs_input_grad[1] else None
        return (grad_a if ctx.needs_input_grad[0] else None), grad_b
        ### END SOLUTION


class PowOp(Function):
    """a ** b: a tensor base, and a tensor (or number) exponent."""

    @staticmethod
    def forward(ctx, a, b):
        if np.ndim(b) == 0:  # as a Python number (an int if whole) NumPy squares x ** 2 quickly
            b = np.asarray(b).item()
            b = int(b) if isinstance(b, float) and b.is_integer() else b
        with np.errstate(divide="ignore"):  # 0 ** -1 is inf, as in PyTorch, without a warning
            out = a ** b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        a, b, out = ctx.saved_tensors
        grad_a = grad_b = None
        with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** -1 = inf, masked out below
            if ctx.needs_input_grad[0]:
                grad_a = np.where(b == 0, 0, grad * b * a ** (b - 1))
            if ctx.needs_input_grad[1]:
                grad_b = np.where((a == 0) & (b >= 0), 0, grad * out * np.log(a))
        return grad_a, grad_b
        ### END SOLUTION


class NegOp(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        return -grad
        ### END SOLUTION


def _rows(a):
    """(..., k) as one matrix of rows (..., k) -> (N, k); N is counted, since -1 is ambiguous when k is 0."""
    return a.reshape(int(np.prod(a.shape[:-1])), a.shape[-1])


def _rows_matmul(a, b):
    """a @ b for a (..., n, k) and a matrix b (k, m): the batch folded into the rows of one
    product (one big product is faster than a loop of small ones); any other shapes as they are."""
    if a.ndim > 2 and b.ndim == 2:
        return _blas_matmul(_rows(a), b).reshape(*a.shape[:-1], b.shape[-1])
    return _blas_matmul(a, b)


class MatMulOp(Function):
    @staticmethod
    def forward(ctx, a, b):
        _check_matmul(np.shape(a), np.shape(b))
        ctx.save_for_backward(a, b)
        return _rows_matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a  # a vector on the left is one row
        b2 = b[:, None] if b.ndim == 1 else b  # a vector on the right is one column
        g = grad[..., None] if b.ndim == 1 else grad  # put the squeezed dimensions back
        g = g[..., None, :] if a.ndim == 1 else g
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = _rows_matmul(g, np.swapaxes(b2, -1, -2))
            grad_a = grad_a[..., 0, :] if a.ndim == 1 else grad_a
        if ctx.needs_input_grad[1]:
            if b2.ndim == 2 and a2.ndim > 2:  # (..., n, k) @ (k, m): fold the batch into rows
                grad_b = _blas_matmul(_rows(a2).T, _rows(g))
            else:
                grad_b = _blas_matmul(np.swapaxes(a2, -1, -2), g)
            grad_b = grad_b[..., 0] if b.ndim == 1 else grad_b
        return grad_a, grad_b
        ### END SOLUTION

# %%
#| export
class SumOp(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        return a.sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        if ctx.axis is not None and not ctx.keepdims:
            grad = np.expand_dims(grad, ctx.axis)
        return np.broadcast_to(grad, ctx.shape)
        ### END SOLUTION


class MeanOp(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        return a.mean(axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        count = math.prod(ctx.shape) // max(grad.size, 1)  # a Python int: grad stays float32
        if ctx.axis is not None and not ctx.keepdims:
            grad = np.expand_dims(grad, ctx.axis)
        return np.broadcast_to(grad / count, ctx.shape)
        ### END SOLUTION


class MaxOp(Function):
    """The maximum (PyTorch's amax): the gradient flows to it; ties share it equally."""

    _reduce = staticmethod(np.max)

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        peak = ctx.function._reduce(a, axis=axis, keepdims=True)
        ctx.save_for_backward(a, peak)
        ctx.axis, ctx.keepdims = axis, keepdims
        return peak if keepdims else np.squeeze(peak, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        a, peak = ctx.saved_tensors
        if ctx.axis is not None and not ctx.keepdims:
            grad = np.expand_dims(grad, ctx.axis)
        winners = a == peak
        ties = winners.sum(axis=ctx.axis, keepdims=True, dtype=grad.dtype)  # counted in grad's dtype: an int64
        return winners * (grad / ties)  # count would make grad / count float64
        ### END SOLUTION


class MinOp(MaxOp):
    """The minimum (amin): MaxOp's backward, with the smallest value winning."""

    _reduce = staticmethod(np.min)

# %%
#| export
class ReshapeOp(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        return grad.reshape(ctx.shape)
        ### END SOLUTION


class PermuteOp(Function):
    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = dims
        return np.transpose(a, dims)

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        return np.transpose(grad, np.argsort(ctx.dims))
        ### END SOLUTION


class GetItemOp(Function):
    """Indexing: the gradient goes back to the selected places (repeats add up). ``keys`` are
    module 01's ``_index(index)``: all but the last select a view, the last one the places."""

    @staticmethod
    def forward(ctx, a, keys):
        ctx.shape, ctx.dtype, ctx.keys = a.shape, a.dtype, keys
        return _select(a, keys)

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        full = np.zeros(ctx.shape, dtype=grad.dtype)
        *first, last = ctx.keys
        np.add.at(_select(full, first), last, grad)  # a view of full: adds land in full
        return full
        ### END SOLUTION

# %%
#| export
class ExpOp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        (out,) = ctx.saved_tensors
        return grad * out
        ### END SOLUTION


class LogOp(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        (a,) = ctx.saved_tensors
        return grad / a
        ### END SOLUTION


class SqrtOp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        (out,) = ctx.saved_tensors
        return grad * 0.5 / out
        ### END SOLUTION


class SigmoidOp(Function):
    @staticmethod
    def forward(ctx, a):
        out = 0.5 * (1.0 + np.tanh(0.5 * a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        (out,) = ctx.saved_tensors
        return grad * out * (1.0 - out)
        ### END SOLUTION


class TanhOp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        (out,) = ctx.saved_tensors
        return grad * (1.0 - out * out)
        ### END SOLUTION


class ReLUOp(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.maximum(a, 0)

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        (a,) = ctx.saved_tensors
        return grad * (a > 0).astype(grad.dtype)  # float × float: NumPy multiplies it faster than float × bool
        ### END SOLUTION


# %% [markdown]
# ## Choosing and joining: `where` and `cat`
#
# Two operations route values instead of computing them, and their backward routes the
# gradient the same way:
#
# - `where(condition, a, b)` takes `a` where the condition holds and `b` elsewhere, so each
#   element's gradient goes to the side it came from, and 0 to the other (`masked_fill` is
#   `where` with a constant).
# - `cat(tensors, dim)` lays tensors end to end along `dim`; the gradient is cut back into
#   pieces of the inputs' sizes (`stack` is `cat` of tensors given a new dimension).

# %%
#| export
class WhereOp(Function):
    """where(condition, a, b): a where the condition holds, b elsewhere."""

    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.save_for_backward(condition)
        return np.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        (condition,) = ctx.saved_tensors
        return None, np.where(condition, grad, 0), np.where(condition, 0, grad)
        ### END SOLUTION


class CatOp(Function):
    """Concatenate arrays along `dim`."""

    @staticmethod
    def forward(ctx, *arrays, dim=0):
        ctx.dim, ctx.sizes = dim, [a.shape[dim] for a in arrays]
        return np.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        return tuple(np.split(grad, np.cumsum(ctx.sizes)[:-1], axis=ctx.dim))
        ### END SOLUTION

# %% [markdown]
# Provided: the other operations PyTorch users reach for, each with its derivative.
#
# | operation | backward |
# |---|---|
# | `abs` | `grad * sign(a)` (0 at 0, as PyTorch) |
# | `clamp(min, max)` | the gradient passes where `min <= a <= max`, else 0 |
# | `maximum(a, b)`, `minimum` | to the larger (smaller) input; a tie splits it half and half |
# | `expand(*sizes)` | a broadcast without a copy: the gradient is unbroadcast |
# | `repeat(*sizes)` | tiles: each copy's gradient is summed back |
# | `to(dtype)`, `clone()` | converted back to the input's dtype |
# | `t[index] = v` (out of place: `SetItemOp`) | 0 where `v` was written, the rest to `t`; `v` gets `grad[index]` |

# %%
#| export
class AbsOp(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * np.sign(a)


class ClampOp(Function):
    """min(max(a, low), high), broadcasting (a bound may be None, a number or a Tensor). As PyTorch, a's
    gradient passes where low ≤ a ≤ high; low's where a < low < high; high's where a > high or high < low."""

    @staticmethod
    def forward(ctx, a, low=None, high=None):
        ctx.save_for_backward(a, low, high)
        out = a if low is None else np.maximum(a, low)
        return out if high is None else np.minimum(out, high)

    @staticmethod
    def backward(ctx, grad):
        a, low, high = ctx.saved_tensors
        inside = np.ones(a.shape, dtype=bool)
        if low is not None:
            inside = inside & (a >= low)
        if high is not None:
            inside = inside & (a <= high)
        grad_low = grad_high = None
        if low is not None and ctx.needs_input_grad[1]:
            grad_low = np.where((a < low) & (True if high is None else low < high), grad, 0)
        if high is not None and ctx.needs_input_grad[2]:
            grad_high = np.where((a > high) | (False if low is None else high < low), grad, 0)
        return np.where(inside, grad, 0), grad_low, grad_high


class MaximumOp(Function):
    """Elementwise maximum of two tensors."""

    _choose, _wins = staticmethod(np.maximum), staticmethod(np.greater)

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.function._choose(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        share = (ctx.function._wins(a, b) + 0.5 * (a == b)).astype(grad.dtype)  # 1, 0, or a tie's 0.5
        return grad * share, grad * (1 - share)


class MinimumOp(MaximumOp):
    """Elementwise minimum of two tensors."""

    _choose, _wins = staticmethod(np.minimum), staticmethod(np.less)


class ExpandOp(Function):
    @staticmethod
    def forward(ctx, a, shape):
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad  # the backward pass unbroadcasts it to the input's shape


class RepeatOp(Function):
    @staticmethod
    def forward(ctx, a, repeats):
        if len(repeats) < a.ndim:
            raise RuntimeError(f"repeat needs at least {a.ndim} sizes for a tensor of shape {a.shape}")
        ctx.shape, ctx.repeats = a.shape, repeats
        return np.tile(a, repeats)

    @staticmethod
    def backward(ctx, grad):
        shape = (1,) * (len(ctx.repeats) - len(ctx.shape)) + ctx.shape
        tiles = grad.reshape([n for pair in zip(ctx.repeats, shape) for n in pair])
        return tiles.sum(axis=tuple(range(0, tiles.ndim, 2))).reshape(ctx.shape)


class CastOp(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)  # always a copy: clone() is a cast to the same dtype

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.dtype)


class SetItemOp(Function):
    """A copy of `a` with `a[index] = value`: the out-of-place form of item assignment."""

    @staticmethod
    def forward(ctx, a, value, keys):  # keys: module 01's _index(index), as GetItemOp's
        ctx.keys = keys
        out = a.copy()
        *first, last = keys
        _select(out, first)[last] = value
        return out

    @staticmethod
    def backward(ctx, grad):
        grad_a = np.array(grad)  # a copy, and an array even where a 0-d gradient arrives as a NumPy scalar
        *first, last = ctx.keys
        _select(grad_a, first)[last] = 0
        return grad_a, (_select(grad, ctx.keys) if ctx.needs_input_grad[1] else None)

# %% [markdown]
# ## Walking the graph backwards
#
# `loss.backward()` must visit every node *after* all the nodes that use it, so that a
# node's gradient is complete (summed over all its uses) before it is passed on. That
# order is a **topological order** of the graph, reversed. We build it with an explicit
# stack instead of recursion, so deep graphs (long training loops, deep models) never hit
# Python's recursion limit. The nodes are the Contexts, and the leaf tensors at the ends.
#
# Only **leaves** — tensors created by the user with `requires_grad=True`, such as
# parameters — keep their gradient in `.grad`, and they **accumulate** it: two
# `backward()` calls add up, until `zero_grad()`. That is PyTorch's rule, and why every
# training loop calls `optimizer.zero_grad()`.
#
# `backward()` without an argument is only defined for a single number (a loss); for a
# tensor of any other shape, say which gradient flows in with `gradient=`.
#
# Once a node has passed its gradient on, it frees the arrays it saved: a training step's
# graph is used once, and its saved activations are most of its memory. A second
# `backward()` through the same graph then raises PyTorch's error; pass
# `retain_graph=True` to the first to keep them (`Context.release` does the freeing, and
# `ctx.check_versions()` — see the last section — guards against arrays changed in place).
#
# A leaf's gradient is added to its `.grad` by the provided `_accumulate(leaf, grad, taken)`:
# call it for every leaf the walk reaches. Three details live there, none of them the idea
# of backpropagation. A leaf's first gradient must be an array that belongs to it alone (an
# optimizer or `clip_grad_norm_` changes `p.grad` in place); copying every gradient would be
# safe — and a pass over every weight at every step (1.4 ms of a 107 ms step of a
# 784-2048-2048 MLP) — so `_leaf_gradient` copies only when it must: when `grad` is a view
# of another array, read-only (a `broadcast_to`), of another dtype, the caller's own
# `gradient=`, or an array another leaf already took (`AddOp` hands one array to both of its
# inputs); `taken` is the set of those arrays' ids, kept for one backward pass. Updating a
# leaf's gradient holds `_leaf_lock`: module 13 runs the backward passes of two halves of a
# batch at once, on two threads, into the same parameters. And a leaf's hooks
# (`register_hook`, at the end of this module) see its gradient first.

# %%
#| export
_leaf_lock = threading.Lock()
Tensor._grad_hooks = Tensor._post_accumulate_hooks = None  # a tensor's own dicts once it has hooks


class _Accumulating(threading.local):
    enabled = True  # False inside autograd.grad(), on its thread only


_accumulating = _Accumulating()


def _leaf_gradient(grad, dtype, taken):
    """The array a leaf keeps as its gradient: ``grad`` itself if nothing else can hold it, else a copy."""
    if grad.dtype == dtype and grad.base is None and grad.flags.writeable and id(grad) not in taken:
        taken.add(id(grad))
        return grad
    return grad.astype(dtype, copy=True)


def _accumulate(leaf, grad, taken):
    """Add ``grad`` (an array) to ``leaf.grad``, after the leaf's hooks; then its post-accumulate hooks."""
    if leaf._grad_hooks:
        grad = _run_hooks(leaf._grad_hooks, grad)
    if not _accumulating.enabled:  # inside autograd.grad(): gradients are returned, not stored
        return
    with _leaf_lock:
        if leaf.grad is None:
            leaf.grad = Tensor._wrap(_leaf_gradient(grad, leaf.dtype, taken))
        else:
            leaf.grad = Tensor._wrap(leaf.grad.data + grad.astype(leaf.dtype, copy=False))
    if leaf._post_accumulate_hooks:
        for hook in tuple(leaf._post_accumulate_hooks.values()):
            hook(leaf)


def _graph_order(root):
    """The graph's nodes (Contexts and leaf Tensors), each after every node it depends on."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        if isinstance(node, Context):
            stack.extend((p, False) for p in node.parents if p is not None and id(p) not in seen)
    return order


def _backward(self, gradient=None, retain_graph=None, create_graph=False):
    """Fill `.grad` of every leaf this tensor depends on with ∂self/∂leaf (accumulating)."""
    if create_graph:
        raise NotImplementedError("create_graph=True (gradients of gradients) is not supported by tinytorch")
    ### BEGIN SOLUTION
    if not self.requires_grad:
        raise RuntimeError(
            "backward() on a tensor that does not require grad: no input of the computation "
            "had requires_grad=True (or it ran inside no_grad())"
        )
    if gradient is None:
        if self.data.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a single number, but this tensor has shape "
                f"{self.shape}: reduce it first (e.g. .sum() or .mean()) or pass gradient=..."
            )
        gradient = np.ones_like(self.data)
    else:
        gradient = np.asarray(_data(gradient), dtype=self.data.dtype)
        if gradient.shape != self.shape:
            raise ValueError(f"gradient shape {gradient.shape} does not match tensor shape {self.shape}")
    root = self if self._ctx is None else self._ctx
    grads, taken = {id(root): gradient}, {id(gradient)}
    for node in reversed(_graph_order(root)):
        grad = grads.pop(id(node), None)
        if grad is None:
            continue
        if isinstance(node, Tensor):  # a leaf: keep (and accumulate) its gradient
            _accumulate(node, grad, taken)
            continue
        node.check_versions()
        input_grads = node.function.backward(node, grad)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        for parent, x, parent_grad in zip(node.parents, node.inputs, input_grads):
            if parent is None or parent_grad is None:
                continue
            parent_grad = unbroadcast(parent_grad, x.shape)
            key = id(parent)
            grads[key] = parent_grad if key not in grads else grads[key] + parent_grad
        if not retain_graph:
            node.release()
    ### END SOLUTION


def _zero_grad(self):
    """Forget the accumulated gradient."""
    self.grad = None


def _detach(self):
    """The same numbers in the same memory (and version counter), cut off from the graph."""
    out = Tensor._wrap(self.data)
    out._version_counter = self._version_counter
    return out

# %% [markdown]
# ## Teaching `Tensor` to remember
#
# Finally we route every `Tensor` operation through its `Function`. After this cell,
# `a * b` is `MulOp.apply(a, b)`: the same numbers as in module 01, plus a graph when
# gradients are wanted. Module 01's helpers still promote dtypes and translate `dim=` to
# `axis=`, and everything module 01 built from these operations (`view`, `flatten`,
# `max(dim)`, `var`, comparisons, ...) is differentiable from now on without a line more.
#
# (`max(dim)` picks its values by indexing at `argmax`, so its gradient goes to the first
# maximum of each row, as in PyTorch; `max()` and `amax` share it among ties.)
#
# Provided below the operators: the functions `cat`, `stack`, `where`, `maximum`,
# `minimum` (as in `torch`), the methods `abs`, `clamp`, `masked_fill`, `expand`, `repeat`,
# `split`, `chunk`, `cumsum`, `norm`, `logsumexp`, `sort`, `topk`, `prod`, `flip`, `tril`,
# `triu`, `sin`, `cos` and PyTorch's other spellings (`pow`, `matmul`, `mm`, `t`, `square`, ...;
# most of them built from the operations above, so they need no backward of their own), and
# the graph's own vocabulary: `t.is_leaf`, `t.grad_fn` (the node that made `t`, None
# for a leaf), `t.requires_grad_()`, `t.detach()`.

# %%
#| export
def _unary(op):
    return lambda self: op.apply(self)


def _apply_of(op):
    """``op.apply``, looked up at every call: a profiler (module 09) may stand in for it."""
    return lambda *inputs, **options: op.apply(*inputs, **options)


Tensor.__add__, Tensor.__radd__ = _binary(_apply_of(AddOp)), _reflected(_apply_of(AddOp))
Tensor.__sub__, Tensor.__rsub__ = _binary(_apply_of(SubOp)), _reflected(_apply_of(SubOp))
Tensor.__mul__, Tensor.__rmul__ = _binary(_apply_of(MulOp)), _reflected(_apply_of(MulOp))
Tensor.__truediv__ = _binary(_apply_of(DivOp), floating=True)
Tensor.__rtruediv__ = _reflected(_apply_of(DivOp), floating=True)
Tensor.__pow__, Tensor.__rpow__ = _binary(_apply_of(PowOp)), _reflected(_apply_of(PowOp))
Tensor.__matmul__, Tensor.__rmatmul__ = _binary(_apply_of(MatMulOp)), _reflected(_apply_of(MatMulOp))
Tensor.__neg__ = _unary(NegOp)
Tensor.sum, Tensor.mean = _reduction(_apply_of(SumOp)), _reduction(_apply_of(MeanOp), "mean")
Tensor.amax, Tensor.amin = _reduction(_apply_of(MaxOp)), _reduction(_apply_of(MinOp))
Tensor.reshape = lambda self, *shape: ReshapeOp.apply(self, shape=_shape_args(shape))
Tensor.permute = lambda self, *dims: PermuteOp.apply(self, dims=tuple(d % self.ndim for d in _shape_args(dims)))
Tensor.__getitem__ = lambda self, index: GetItemOp.apply(self, keys=_index(index))
Tensor.exp, Tensor.log, Tensor.sqrt = _floating(_apply_of(ExpOp)), _floating(_apply_of(LogOp)), _floating(_apply_of(SqrtOp))
Tensor.sigmoid, Tensor.tanh = _floating(_apply_of(SigmoidOp)), _floating(_apply_of(TanhOp))
Tensor.relu = _unary(ReLUOp)
Tensor._convert = lambda self, dtype: CastOp.apply(self, dtype=dtype)
Tensor.backward, Tensor.zero_grad, Tensor.detach = _backward, _zero_grad, _detach

# %%
#| export
def cat(tensors, dim=0):
    """Join tensors along an existing dimension (torch.cat)."""
    return CatOp.apply(*_promoted(*tensors), dim=dim)


def stack(tensors, dim=0):
    """Join tensors of one shape along a new dimension (torch.stack)."""
    return cat([t.unsqueeze(dim) for t in _promoted(*tensors)], dim=dim)


def where(condition, input, other):
    """`input` where `condition` is true, `other` elsewhere (torch.where), broadcasting all three."""
    return WhereOp.apply(condition, *_promoted(input, other))


def maximum(input, other):
    return MaximumOp.apply(*_promoted(input, other))


def minimum(input, other):
    return MinimumOp.apply(*_promoted(input, other))


def _clamp(self, min=None, max=None):
    """Limit every element to [min, max] (either may be None); numbers as bounds."""
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
    x, *bounds = _promoted(self, *(b for b in (min, max) if b is not None))
    low = None if min is None else bounds[0]
    high = None if max is None else bounds[-1]
    return ClampOp.apply(x, low, high)


def _masked_fill(self, mask, value):
    """`value` where `mask` is true, this tensor elsewhere (keeping this tensor's dtype)."""
    value = value.to(self.dtype) if isinstance(value, Tensor) else Tensor._wrap(np.asarray(value, self.dtype))
    return WhereOp.apply(mask, value, self)


def _expand(self, *sizes):
    """A broadcast view of a bigger shape; -1 keeps a dimension's size."""
    sizes = _shape_args(sizes)
    lead = len(sizes) - self.ndim
    shape = tuple(self.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes))
    return ExpandOp.apply(self, shape=shape)


def _requires_grad_(self, requires_grad=True):
    self.requires_grad = requires_grad
    return self


Tensor.abs = Tensor.__abs__ = _unary(AbsOp)
Tensor.clamp = Tensor.clip = _clamp
Tensor.masked_fill = _masked_fill
Tensor.expand = _expand
Tensor.expand_as = lambda self, other: self.expand(other.shape)
Tensor.repeat = lambda self, *sizes: RepeatOp.apply(self, repeats=_shape_args(sizes))
Tensor.maximum, Tensor.minimum = maximum, minimum
Tensor.clamp_ = lambda self, min=None, max=None: self._inplace(lambda t: t.clamp(min, max))
Tensor.masked_fill_ = lambda self, mask, value: self._inplace(lambda t: t.masked_fill(mask, value))
Tensor.is_leaf = property(lambda self: self._ctx is None)
Tensor.grad_fn = property(lambda self: self._ctx)
Tensor._version = property(lambda self: self._version_counter[0])
Tensor.requires_grad_ = _requires_grad_

# %% [markdown]
# ### More of PyTorch's tensor API, given
#
# The rest of this part is reference code, not an exercise: more of the names PyTorch
# users reach for, so that their code runs here as written. Read it for the patterns —
# most are a line or two on top of the operations you just wrote (`split` is slicing,
# `norm` a sum and a square root, `sort` a `gather` at the indices NumPy's `argsort`
# gives), and the few with a backward of their own (`cumsum`, `prod`, `roll`, `einsum`,
# `sin`, ...) follow the same shape as yours: save what the backward needs, then multiply
# the incoming gradient by the local derivative.

# %%
#| export
class CumsumOp(Function):
    """Running sums along `dim`: each input counts in its own sum and in every later one."""

    @staticmethod
    def forward(ctx, a, dim=0):
        ctx.dim = dim
        return np.cumsum(a, axis=dim)

    @staticmethod
    def backward(ctx, grad):  # so its gradient is the sum of the gradients from its position to the end
        return np.flip(np.cumsum(np.flip(grad, ctx.dim), axis=ctx.dim), ctx.dim)


class NormOp(Function):
    """The p-norm (Σ |x|^p)^(1/p) over `axis`, by default the Euclidean length sqrt(Σ x²). Its
    gradient sign(x)·(|x| / length)^(p−1) (x / length for p = 2) is 0 where x is 0 and everywhere
    at the zero vector, as PyTorch's: the formula alone would give 0·∞ = nan there."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False, p=2):
        if p == 2:
            length = np.sqrt((a * a).sum(axis=axis, keepdims=True))
        elif p == 0:  # the number of non-zeros: a count, whose gradient is 0
            length = (a != 0).sum(axis=axis, keepdims=True).astype(a.dtype)
        else:  # scaled by the largest |x|: |x|^p neither underflows nor overflows on the way
            top = np.max(np.abs(a), axis=axis, keepdims=True, initial=0.0)
            scale = np.where(top > 0, top, 1).astype(a.dtype)
            length = scale * ((np.abs(a) / scale) ** p).sum(axis=axis, keepdims=True) ** (1.0 / p)
        ctx.save_for_backward(a, length)
        ctx.p = p
        if keepdims:
            return length
        return length.reshape(()) if axis is None else np.squeeze(length, axis)

    @staticmethod
    def backward(ctx, grad):
        a, length = ctx.saved_tensors
        grad = np.reshape(grad, length.shape)
        if ctx.p == 2:
            return np.where(length > 0, grad * a / np.where(length > 0, length, 1), 0)
        if ctx.p == 0:
            return np.zeros(a.shape, grad.dtype)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            slope = np.sign(a) * (np.abs(a) / length) ** (ctx.p - 1)  # a ratio: no overflow for tiny |x|
        return np.where((a == 0) | (length == 0), 0, grad * slope)


_sort_result = namedtuple("sort", ["values", "indices"])  # PyTorch's torch.return_types.sort
_topk_result = namedtuple("topk", ["values", "indices"])


def _split(self, split_size_or_sections, dim=0):
    """Pieces along `dim` (torch.split): `split_size` long each (the last may be shorter), or of the listed sizes."""
    length = self.shape[dim]
    if isinstance(split_size_or_sections, (int, np.integer)):
        if split_size_or_sections < 1:
            raise ValueError(f"split: split_size must be at least 1, got {split_size_or_sections}")
        sizes = [min(split_size_or_sections, length - start)
                 for start in range(0, length, split_size_or_sections)] or [0]  # an empty dim: one empty piece
    else:
        sizes = [int(size) for size in split_size_or_sections]
        if sum(sizes) != length:
            raise ValueError(f"split: sizes {sizes} add up to {sum(sizes)}, but dimension {dim} has {length}")
    index, start, pieces = [slice(None)] * self.ndim, 0, []
    for size in sizes:  # each piece is a slice: its gradient flows back through GetItemOp
        index[dim] = slice(start, start + size)
        pieces.append(self[tuple(index)])
        start += size
    return tuple(pieces)


def _chunk(self, chunks, dim=0):
    """`chunks` pieces along `dim` (torch.chunk): ceil(length / chunks) long each, so perhaps fewer pieces."""
    if chunks < 1:
        raise ValueError(f"chunk: chunks must be at least 1, got {chunks}")
    if self.shape[dim] == 0:  # an empty dimension: `chunks` empty pieces, as PyTorch
        return self.split([0] * chunks, dim)
    return self.split(-(-self.shape[dim] // chunks), dim)


_euclidean_norm = _reduction(_apply_of(NormOp), "norm")


def _norm(self, p="fro", dim=None, keepdim=False):
    """The p-norm (Tensor.norm): "fro" or 2 the Euclidean length, float("inf") the largest |x|, 0 the
    number of non-zeros (no gradient), any other p > 0 (Σ |x|^p)^(1/p)."""
    if p in ("fro", 2):
        return _euclidean_norm(self, dim, keepdim)
    if p == float("inf"):
        return self.abs().amax(dim=dim, keepdim=keepdim)
    if not self.is_floating_point():
        raise RuntimeError(f"norm(): input dtype should be a floating point type, got {self.dtype}")
    axis, keepdims = _reduce_args(dim, keepdim, None, None, self.ndim)
    return NormOp.apply(self, axis=axis, keepdims=keepdims, p=p)


def _logsumexp(self, dim, keepdim=False):
    """log Σ exp(x) over `dim`, as m + log Σ exp(x − m) with m the maximum: no overflow."""
    top = Tensor._wrap(np.max(self.data, axis=_reduce_args(dim, True, None, None, self.ndim)[0], keepdims=True,
                              initial=-np.inf))  # -inf for an empty dimension, whose logsumexp is log 0
    top = top.masked_fill(top.abs() == float("inf"), 0.0)  # all -inf (or an inf): nothing to shift by
    with np.errstate(divide="ignore"):  # a row of -inf sums to 0: its log is -inf, as in PyTorch, not a warning
        return (self - top).exp().sum(dim=dim, keepdim=keepdim).log() + top.amax(dim=dim, keepdim=keepdim)


def _sort(self, dim=-1, descending=False, stable=False):
    """(values, indices) along `dim` (torch.sort); equal values keep their order and NaN counts as the
    largest value. The values are a `gather` of this tensor, so their gradient goes back to where each came from."""
    if self.ndim == 0:  # one value: itself, at index 0
        values, indices = self.reshape(1).sort(dim, descending)
        return _sort_result(values.reshape(()), indices.reshape(()))
    key = self.data if self.is_floating_point() else self.data.astype(np.int64)
    order = np.argsort(-key if descending else key, axis=dim, kind="stable")  # NaN (and -NaN) last
    if descending and self.is_floating_point():  # NaN is the largest: move the NaNs first, in their order
        order = np.take_along_axis(order, np.argsort(~np.isnan(np.take_along_axis(key, order, dim)), axis=dim,
                                                     kind="stable"), dim)
    indices = Tensor._wrap(order.astype(np.int64))
    return _sort_result(self.gather(dim, indices), indices)


def _topk(self, k, dim=-1, largest=True, sorted=True):
    """The `k` largest (or smallest) values along `dim` and their indices (torch.topk), in order."""
    if not 0 <= k <= self.shape[dim]:
        raise RuntimeError(f"topk: k ({k}) is out of range for dimension {dim} of size {self.shape[dim]}")
    values, indices = self.sort(dim=dim, descending=largest)
    index = [slice(None)] * self.ndim
    index[dim] = slice(0, k)
    return _topk_result(values[tuple(index)], indices[tuple(index)])


Tensor.cumsum = lambda self, dim: CumsumOp.apply(self, dim=dim) if self.ndim else self.reshape(1).cumsum(dim)[0]
Tensor.split, Tensor.chunk = _split, _chunk
Tensor.norm, Tensor.logsumexp = _norm, _logsumexp
Tensor.sort, Tensor.topk = _sort, _topk


class SinOp(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * np.cos(a)


class CosOp(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.cos(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return -grad * np.sin(a)


class Log1pOp(Function):
    """log(1 + x), exact for tiny x (where 1 + x would round to 1). Its derivative is 1/(1 + x)
    (finite even below -1, where the value is NaN, as in PyTorch)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log1p(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (1 + a)


class ProdOp(Function):
    """The product over `axis`. Its gradient for x_i is the product of all the *other* factors:
    the product of those before i times the product of those after i (no division, so zeros are fine)."""

    @staticmethod
    def forward(ctx, a, axis=None):
        ctx.save_for_backward(a)
        ctx.axis = axis
        return np.prod(a, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        if a.size == 0:  # an empty product is 1, whatever (no) inputs it had
            return np.zeros_like(a)
        axis = ctx.axis
        x = a.reshape(-1) if axis is None else a
        axis = 0 if axis is None else axis
        ones = np.ones_like(np.take(x, [0], axis=axis))
        before = np.cumprod(np.concatenate([ones, np.delete(x, -1, axis=axis)], axis=axis), axis=axis)
        after = np.flip(np.cumprod(np.concatenate([ones, np.delete(np.flip(x, axis), -1, axis=axis)], axis=axis),
                                   axis=axis), axis)
        others = (before * after).reshape(a.shape)
        return (grad if ctx.axis is None else np.expand_dims(grad, ctx.axis)) * others


def _prod(self, dim=None, keepdim=False):
    """The product of all elements, or over one `dim` (torch.prod)."""
    dim = dim if self.ndim else None  # a 0-d tensor's dim 0 (or -1) is all of it
    out = ProdOp.apply(self, axis=dim)
    return out.unsqueeze(dim) if keepdim and dim is not None else out


def _flip(self, dims):
    """The elements in reverse order along each of `dims` (torch.flip): a slice with step -1."""
    dims = [dims] if isinstance(dims, int) else dims
    index = [slice(None)] * self.ndim
    for d in dims:
        index[d] = slice(None, None, -1)
    return self[tuple(index)]


def _tri(keep):
    """tril/triu: this tensor where `keep(rows, columns, diagonal)` holds on its last two dims, 0 elsewhere."""
    def method(self, diagonal=0):
        rows, columns = np.indices(self.shape[-2:])
        return where(Tensor._wrap(keep(rows, columns, diagonal)), self, self.new_zeros(()))  # self's dtype (bool too)
    return method


def _narrow(self, dim, start, length):
    """`length` entries along `dim` from `start` (a negative start counts from the end, as in PyTorch)."""
    start = start + self.shape[dim] if start < 0 else start
    index = [slice(None)] * self.ndim
    index[dim] = slice(start, start + length)
    return self[tuple(index)]


def _t(self):
    """The transpose of a matrix (a vector or a number is returned as it is), as torch's `t()`."""
    if self.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
    return self.T if self.ndim == 2 else self


Tensor.sin, Tensor.cos = _floating(_apply_of(SinOp)), _floating(_apply_of(CosOp))
Tensor.log1p = _floating(_apply_of(Log1pOp))
Tensor.expm1 = lambda self: self.exp() - 1
Tensor.square = lambda self: self * self
Tensor.reciprocal = lambda self: 1 / self
Tensor.rsqrt = lambda self: 1 / self.sqrt()
Tensor.pow = lambda self, exponent: self ** exponent
Tensor.matmul = Tensor.mm = Tensor.bmm = Tensor.dot = lambda self, other: self @ other
Tensor.t = _t
Tensor.prod, Tensor.flip, Tensor.narrow = _prod, _flip, _narrow
Tensor.unbind = lambda self, dim=0: tuple(self.select(dim, i) for i in range(self.shape[dim]))
Tensor.select = lambda self, dim, index: self.narrow(dim, index % self.shape[dim], 1).squeeze(dim)
Tensor.tril = _tri(lambda rows, columns, diagonal: columns - rows <= diagonal)
Tensor.triu = _tri(lambda rows, columns, diagonal: columns - rows >= diagonal)
Tensor.contiguous = lambda self: self  # NumPy hands every operation what it needs: nothing to do
Tensor.argsort = lambda self, dim=-1, descending=False, stable=False: self.sort(dim=dim, descending=descending).indices
Tensor.sign = lambda self: Tensor._wrap(np.where(np.isnan(self.data), 0, np.sign(self.data)))  # no gradient; sign(nan) = 0
Tensor.isnan = lambda self: Tensor._wrap(np.isnan(self.data))
Tensor.isinf = lambda self: Tensor._wrap(np.isinf(self.data))
Tensor.new_zeros = lambda self, *size: Tensor._wrap(np.zeros(_shape_args(size), dtype=self.dtype))
Tensor.new_ones = lambda self, *size: Tensor._wrap(np.ones(_shape_args(size), dtype=self.dtype))


class RollOp(Function):
    """Shift elements along `dims` by `shifts`, wrapping around; the gradient rolls back."""

    @staticmethod
    def forward(ctx, a, shifts=0, dims=None):
        ctx.shifts, ctx.dims = shifts, dims
        return np.roll(a, shifts, axis=dims)

    @staticmethod
    def backward(ctx, grad):
        back = tuple(-s for s in ctx.shifts) if isinstance(ctx.shifts, tuple) else -ctx.shifts
        return np.roll(grad, back, axis=ctx.dims)


class EinsumOp(Function):
    """Einstein summation over explicit subscripts ("ij,jk->ik"; einsum below writes "..." and an implicit
    output out as letters). Each operand's gradient is the same kind of sum: the output's gradient with the
    other operands, onto that operand's letters. A letter repeated in one operand ("ii->i") reads a
    diagonal, so its gradient goes back onto that diagonal: an identity matrix joins the sum per repeat."""

    @staticmethod
    def forward(ctx, *operands, inputs=(), output=""):
        ctx.save_for_backward(*operands)
        ctx.subscripts, ctx.output = inputs, output
        return np.einsum(f"{','.join(inputs)}->{output}", *operands)

    @staticmethod
    def backward(ctx, grad):
        operands, grads = ctx.saved_tensors, []
        used = set(ctx.output).union(*map(set, ctx.subscripts))
        spare = iter(c for c in string.ascii_letters if c not in used)  # new letters for repeats
        for k, (letters, operand) in enumerate(zip(ctx.subscripts, operands)):
            others = [(s, x) for j, (s, x) in enumerate(zip(ctx.subscripts, operands)) if j != k]
            seen = set(ctx.output).union(*(set(s) for s, _ in others))
            size = dict(zip(letters, operand.shape))
            kept = "".join(c for c in dict.fromkeys(letters) if c in seen)  # letters only this operand has: summed
            g = np.einsum(f"{','.join([ctx.output] + [s for s, _ in others])}->{kept}", grad, *(x for _, x in others))
            terms, arrays, target = [kept], [g], ""
            for c in dict.fromkeys(letters):
                if c not in seen:  # a summed-out letter: every entry gets the same gradient (a vector of ones)
                    terms.append(c)
                    arrays.append(np.ones(size[c], grad.dtype))
            for position, c in enumerate(letters):
                if c in letters[:position]:  # a repeat: the gradient lies on the diagonal of c and a new letter
                    new = next(spare)
                    terms.append(c + new)
                    arrays.append(np.eye(size[c], dtype=grad.dtype))
                    c = new
                target += c
            grads.append(np.einsum(f"{','.join(terms)}->{target}", *arrays).astype(grad.dtype, copy=False))
        return tuple(grads)


def _einsum_letters(equation, shapes):
    """The equation with "..." written out as letters, operands' "..." dims broadcast (the shape each
    operand is expanded to returned too), and the implicit output of one operand ("ii", "ji": no "->")
    made explicit: "..." then the letters that appear once, in alphabetical order (as PyTorch)."""
    equation = equation.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    inputs = inputs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum(): {equation!r} has {len(inputs)} operands, but {len(shapes)} were given")
    spare = [c for c in string.ascii_letters if c not in equation]
    dotted = []  # the shape each operand's "..." covers
    for term, shape in zip(inputs, shapes):
        letters = len(term.replace("...", ""))
        if term.count("...") > 1 or "." in term.replace("...", "") or letters > len(shape) or \
                ("..." not in term and letters != len(shape)):
            raise RuntimeError(f"einsum(): the subscripts {term!r} do not match an operand of {len(shape)} dimensions")
        start = term.index("...") if "..." in term else 0
        dotted.append(tuple(shape[start:start + len(shape) - letters]) if "..." in term else ())
    broadcast = np.broadcast_shapes(*dotted) if dotted else ()
    dots = "".join(spare[:len(broadcast)])
    if not arrow:  # PyTorch's implicit output: "..." first, then the letters seen once, in order
        once = [c for c in sorted(set("".join(inputs).replace(".", ""))) if "".join(inputs).count(c) == 1]
        output = ("..." if any("..." in term for term in inputs) else "") + "".join(once)
    wanted = []
    for term, shape, part in zip(inputs, shapes, dotted):
        start = term.index("...") if "..." in term else len(shape)
        wanted.append(tuple(shape[:start]) + broadcast[len(broadcast) - len(part):] + tuple(shape[start + len(part):]))
    inputs = [term.replace("...", dots[len(dots) - len(part):]) for term, part in zip(inputs, dotted)]
    output = output.replace("...", dots)
    if len(set(output)) != len(output) or "." in output or not set(output) <= set("".join(inputs)):
        raise RuntimeError(f"einsum(): the output subscripts {output!r} must be distinct letters of the inputs")
    return inputs, output, wanted


def einsum(equation, *operands):
    """torch.einsum: "bhqd,bhkd->bhqk", with "..." for any leading (or inner) dims, broadcast between the
    operands, and a letter repeated in one operand ("ii->i" its diagonal, "ii" its trace). The output may
    be left implicit for one operand ("ii", "ji": the letters seen once, in alphabetical order); for
    several, tinytorch asks for it ("ij,jk->ik", not "ij,jk")."""
    operands = operands[0] if len(operands) == 1 and isinstance(operands[0], (list, tuple)) else operands
    operands = _promoted(*operands) if len(operands) > 1 else list(operands)
    inputs, output, wanted = _einsum_letters(equation, [t.shape for t in operands])
    operands = [t if t.shape == shape else t.expand(*shape) for t, shape in zip(operands, wanted)]
    for term, t in zip(inputs, operands):
        for c in set(term):
            sizes = {n for letter, n in zip(term, t.shape) if letter == c}
            if len(sizes) > 1:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for an operand but the sizes {sizes} differ")
    return EinsumOp.apply(*operands, inputs=tuple(inputs), output=output)


def _roll(self, shifts, dims=None):
    as_tuple = lambda v: tuple(v) if isinstance(v, (list, tuple)) else v  # noqa: E731
    return RollOp.apply(self, shifts=as_tuple(shifts), dims=as_tuple(dims))


def _index_select(self, dim, index):
    """The entries at `index` (a 1-D integer tensor) along `dim`; repeated indices add their gradients."""
    return self[(slice(None),) * (dim % self.ndim) + (index,)]


def _nonzero(self, as_tuple=False):
    """The indices of the non-zero entries: one row each (as_tuple: one tensor per dim); a 0-d tensor has 0 dims."""
    if self.ndim == 0:
        found = np.zeros((int(bool(self.data)), 0), dtype=np.int64)
        return (Tensor._wrap(np.zeros(len(found), np.int64)),) if as_tuple else Tensor._wrap(found)
    where_true = np.nonzero(self.data)
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in where_true)
    return Tensor._wrap(np.stack(where_true, axis=-1).astype(np.int64))


def _empty_slices(data, dim, name):
    """unique / unique_consecutive along `dim` of a tensor with no elements: no slices at all (PyTorch raises
    when the empty dims are others than `dim`)."""
    if data.ndim == 0:
        raise IndexError(f"{name}: dim {dim} given for a tensor with no dimensions")
    if data.shape[dim] != 0:
        raise RuntimeError(f"{name}: there are 0 sized dimensions, and they aren't selected by dim={dim}")
    return data.copy(), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)


def _unique(self, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values, sorted; with `dim`, the distinct slices along `dim` (in lexicographic order),
    the inverse then saying which of them each slice of self is."""
    if dim is not None:
        if self.ndim and not -self.ndim <= dim < self.ndim:
            raise IndexError(f"unique: dim {dim} is out of range for a tensor of {self.ndim} dimensions")
        if self.ndim == 0 or self.numel() == 0:
            values, inverse, counts = _empty_slices(self.data, dim, "unique")
        else:
            values, inverse, counts = np.unique(self.data, return_inverse=True, return_counts=True,
                                                axis=dim % self.ndim)
        inverse = inverse.reshape(-1)
    else:
        values, inverse, counts = np.unique(self.data, return_inverse=True, return_counts=True, equal_nan=False)
        inverse = inverse.reshape(self.shape)
    found = [Tensor._wrap(values)]
    if return_inverse:
        found.append(Tensor._wrap(inverse.astype(np.int64)))
    if return_counts:
        found.append(Tensor._wrap(counts.astype(np.int64)))
    return found[0] if len(found) == 1 else tuple(found)


def _rounding(function):
    """round/floor/ceil: new values with no gradient (PyTorch's is 0 almost everywhere)."""
    return lambda self, *args, **kwargs: Tensor._wrap(function(self.data, *args, **kwargs).astype(self.dtype, copy=False))


Tensor.einsum = lambda self, equation, *others: einsum(equation, self, *others)
Tensor.roll, Tensor.index_select = _roll, _index_select
Tensor.outer = lambda self, other: self[:, None] * other[None, :]
Tensor.type_as = lambda self, other: self.to(other.dtype)
Tensor.nonzero, Tensor.unique = _nonzero, _unique
Tensor.round, Tensor.floor, Tensor.ceil = _rounding(np.round), _rounding(np.floor), _rounding(np.ceil)

# %% [markdown]
# ### Hooks and `autograd.grad`, given
#
# Two more ways into the backward pass, as in PyTorch. `t.register_hook(fn)` calls
# `fn(grad)` when `t`'s gradient is known — for an intermediate tensor, the sum over every
# path, just before its node's backward uses it — and a Tensor that `fn` returns replaces
# the gradient from there on (clipping one activation's gradient, printing it, zeroing
# part of it). For a leaf, the provided `_accumulate` runs its hooks before adding to
# `.grad`; for an intermediate tensor, `_hooked_node` wraps its node's Function in a
# subclass whose backward runs the hooks first — the same trick as `retain_grad`, which
# then writes down the (hooked) gradient. Both return a handle: `handle.remove()`.
# `register_post_accumulate_grad_hook(fn)` calls `fn(leaf)` once `leaf.grad` is updated.
#
# `tinytorch.autograd.grad(outputs, inputs)` (`_grad` here) returns ∂outputs/∂inputs as a
# tuple instead of adding them to `.grad`: it runs your `backward()` with one hook per input
# that takes the gradient down, while `_accumulate` stores nothing (`_accumulating.enabled` is False
# for that one pass on that thread), so no leaf's `.grad` changes. Gradients of gradients
# (`create_graph=True`) need a backward made of Tensor operations; ours works on arrays,
# so that stays out of reach, with a clear error.

# %%
#| export
class _RemovableHandle:
    """What register_hook (and module 03's forward hooks) return: ``handle.remove()`` takes the hook away
    (also on leaving a ``with``)."""

    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        self._hooks.pop(self._key, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _add_hook(hooks, hook):
    key = object()
    hooks[key] = hook
    return _RemovableHandle(hooks, key)


def _run_hooks(hooks, grad):
    """Each hook in turn sees the gradient (as a Tensor); one that returns a Tensor replaces it."""
    for hook in tuple(hooks.values()):
        changed = hook(Tensor._wrap(grad))
        if changed is not None:
            changed = np.asarray(_data(changed))
            if changed.shape != grad.shape:
                raise RuntimeError(f"hook {getattr(hook, '__name__', hook)!r} has changed the size of value: "
                                   f"{grad.shape} -> {changed.shape}")
            grad = changed.astype(grad.dtype, copy=False)
    return grad


def _hooked_node(tensor):
    """The Function of the node that made ``tensor``, wrapped (once) so that its backward first passes the
    gradient it receives (the sum over every path: `_backward` adds them up before calling it) through
    the tensor's hooks, then writes it down for `retain_grad`, then does the node's own work."""
    node = tensor._ctx
    if getattr(node.function, "_tensor_hooks", None) is None:
        original = node.function

        class Hooked(original):
            _tensor_hooks, _retained = {}, None

            @staticmethod
            def backward(ctx, grad):
                if Hooked._tensor_hooks:
                    grad = _run_hooks(Hooked._tensor_hooks, grad)
                kept = Hooked._retained() if Hooked._retained is not None else None
                if kept is not None and _accumulating.enabled:
                    total = grad if kept.grad is None else kept.grad.data + grad
                    kept.grad = Tensor._wrap(np.array(total, dtype=kept.dtype))
                return original.backward(ctx, grad)

        Hooked.__name__ = Hooked.__qualname__ = original.__name__
        node.function = Hooked
    return node.function


def _register_hook(self, hook):
    """hook(grad) runs when this tensor's gradient is computed; a Tensor it returns replaces the gradient."""
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if self._ctx is not None:
        return _add_hook(_hooked_node(self)._tensor_hooks, hook)
    if self._grad_hooks is None:
        self._grad_hooks = {}
    return _add_hook(self._grad_hooks, hook)


def _register_post_accumulate_grad_hook(self, hook):
    """hook(tensor) runs after a leaf's gradient has been added to its ``.grad``."""
    if self._ctx is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if self._post_accumulate_hooks is None:
        self._post_accumulate_hooks = {}
    return _add_hook(self._post_accumulate_hooks, hook)


def _retain_grad(self):
    """Keep this intermediate tensor's gradient in `.grad` after `backward()` (a leaf keeps its own anyway)."""
    if not self.requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    if self._ctx is not None:
        _hooked_node(self)._retained = weakref.ref(self)


Tensor.register_hook = _register_hook
Tensor.register_post_accumulate_grad_hook = _register_post_accumulate_grad_hook
Tensor.retain_grad = _retain_grad
Tensor.retains_grad = property(
    lambda self: self._ctx is not None and getattr(self._ctx.function, "_retained", None) is not None)


def _backward_tensors(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """torch.autograd.backward: ``t.backward(g)`` for each tensor and its gradient, in one call."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    grads = _per_output(grad_tensors, len(tensors))
    for i, (t, g) in enumerate(zip(tensors, grads)):
        more = i < len(tensors) - 1
        t.backward(g, retain_graph=True if more else retain_graph, create_graph=create_graph)


def _grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=None,
          materialize_grads=False):
    """torch.autograd.grad: ∂outputs/∂inputs as a tuple (one per input), without touching any ``.grad``."""
    if create_graph:
        raise NotImplementedError("create_graph=True (gradients of gradients) is not supported by tinytorch")
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    for i, t in enumerate(outputs):
        if not t.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
    if not all(x.requires_grad for x in inputs):
        raise RuntimeError("One of the differentiated Tensors does not require grad")
    found = [None] * len(inputs)

    def take_down(i):
        def hook(g):
            found[i] = g.data.copy() if found[i] is None else found[i] + g.data
        return hook

    handles = [x.register_hook(take_down(i)) for i, x in enumerate(inputs)]
    _accumulating.enabled = False
    try:
        _backward_tensors(outputs, grad_outputs, retain_graph=retain_graph)
    finally:
        _accumulating.enabled = True
        for handle in handles:
            handle.remove()
    unused = any(g is None for g in found)
    if unused and not (allow_unused or materialize_grads):
        raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                           "Set allow_unused=True if this is the desired behavior.")
    return tuple(Tensor._wrap(g) if g is not None else (Tensor._wrap(np.zeros_like(x.data)) if materialize_grads
                                                         else None) for g, x in zip(found, inputs))


def _per_output(grads, count):
    """grad_tensors / grad_outputs as one entry (None or a gradient) per output."""
    if grads is None:
        return [None] * count
    grads = [grads] if isinstance(grads, (Tensor, np.ndarray)) else list(grads)
    if len(grads) != count:
        raise RuntimeError(f"{len(grads)} gradients given for {count} outputs: one per output is needed")
    return grads

# %%
def test_unit_hooks_and_grad():
    """Hooks see (and may replace) gradients; _grad returns gradients and stores none. This code is
    provided: if it fails, look at your `_backward` — does it hand every leaf to `_accumulate`?"""
    w = Tensor([1.0, -2.0], requires_grad=True)
    seen = []
    handle = w.register_hook(lambda g: seen.append(g.data.tolist()) or g * 2)
    middle = w * 3
    middle.register_hook(lambda g: g.clamp(-1.0, 1.0))
    middle.retain_grad()
    (middle * middle).sum().backward()  # d/dmiddle = 2·middle = [6, -12], clamped to [1, -1]
    assert middle.grad.data.tolist() == [1.0, -1.0], "retain_grad keeps the hooked gradient"
    assert seen == [[3.0, -3.0]] and w.grad.data.tolist() == [6.0, -6.0], "the leaf's hook doubled its gradient"
    handle.remove()
    x = Tensor([2.0, 5.0], requires_grad=True)
    (grad_x,) = _grad((x ** 3).sum(), x)
    assert grad_x.data.tolist() == [12.0, 75.0] and x.grad is None, "_grad returns 3x², stores nothing"
    unused = Tensor([1.0], requires_grad=True)
    assert _grad((x * 2).sum(), [x, unused], allow_unused=True)[1] is None


if __name__ == "__main__":
    test_unit_hooks_and_grad()

# %% [markdown]
# The last given cell is PyTorch's other spellings, so that code written for PyTorch runs
# unchanged: `add(other, alpha=)`, `sub`, `mul`, `div(rounding_mode=)`, `neg`, `fmod`,
# `remainder`, `trunc`, `frac`, `where`, `view_as`, `swapaxes`, `movedim`, `unflatten`, `tile`,
# `repeat_interleave`, `diag`, `diagonal`, `trace`, `cumprod`, `log2`, `log10`, `exp2`,
# `sinh`, `cosh`, `lerp`, `addcmul`, `addcdiv`, `addmm`, `logaddexp`, `hypot`,
# `nan_to_num`, `median`, `nansum`, `nanmean`, `masked_select`, `count_nonzero` and the
# gradient-free `isfinite`, `isclose`, `logical_and`/`or`/`xor`/`not`, `nelement`,
# `element_size`, `new_full`; then `scatter`, `scatter_add`, `index_add` (one `ScatterOp`:
# write or add src at the index; its backward gathers the gradient back from there; PyTorch's
# older `scatter(..., reduce="add" | "multiply")` adds or multiplies src or `value` in, and as in
# PyTorch has no gradient: a backward through it raises) and the
# functions `meshgrid`, `cdist`, `as_tensor`, the samplers `normal`, `bernoulli`, `multinomial`,
# `inference_mode` (here the same as `no_grad`), `detach_`, `uniform_`, `normal_`, and the
# last few: `tan`, `atan`, `atan2` (an `Atan2Op`), `diff`, `rot90`, `take`, `dist`,
# `var_mean`, `std_mean`, `hstack`, `vstack`, `dstack`, `concat`, `broadcast_to`,
# `tril_indices`, `triu_indices`, `logspace`; and `inverse` and `det` (with `SolveOp` behind
# `tinytorch.linalg.solve`). Most are a line or two of the operations above, so their
# gradients come for free; the few with a backward of their own are `ScatterOp`, `Atan2Op`,
# `InverseOp` (-A⁻ᵀ g A⁻ᵀ), `DetOp` (det · A⁻ᵀ), `SolveOp` and `CumprodOp`. The textbook
# cumprod gradient (Σ later gradients × running product) ÷ x divides by zero wherever an input is
# 0, so it sums from the end instead, S_i = g_i + x_(i+1)·S_(i+1), and multiplies by the
# product of the inputs before i — exact at zeros, as PyTorch's. Two more given sections follow
# `tinytorch.linalg`'s cell: its decompositions (`cholesky`, `qr`, `eigh`, `svd`, `slogdet`,
# `pinv`, `matrix_power`, `lstsq`, ...) and a few more `torch.*` functions (`cov`, `trapezoid`,
# `scatter_reduce`, `logcumsumexp`, the generator's state, ...).

# %%
#| export
_median_result = namedtuple("median", ["values", "indices"])


def _div(self, other, *, rounding_mode=None):
    """torch.div: true division; rounding_mode "floor" or "trunc" rounds it (no gradient, as `//`)."""
    if rounding_mode is None:
        return self / other
    if rounding_mode == "floor":
        return self // other
    if rounding_mode != "trunc":
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', not {rounding_mode!r}")
    a, b = _promoted(self, other)
    with np.errstate(divide="ignore", invalid="ignore"):
        return Tensor._wrap(np.trunc(np.true_divide(a.data, b.data)).astype(a.dtype) if a.is_floating_point()
                            else (np.sign(a.data) * np.sign(b.data) * (np.abs(a.data) // np.abs(b.data))))


def _fmod(self, other):
    """C's remainder (torch.fmod): the sign of the dividend; its gradient 1 for self, -trunc(self/other) for other."""
    a, b = _promoted(self, other)
    if not a.is_floating_point():
        return Tensor._wrap(np.fmod(a.data, b.data))
    return a - _div(a, b.detach(), rounding_mode="trunc") * b


def _diagonal(self, offset=0, dim1=0, dim2=1):
    """The entries (i, i + offset) of dims dim1, dim2, as a last dimension (torch.diagonal)."""
    dim1, dim2 = dim1 % self.ndim, dim2 % self.ndim
    rest = [d for d in range(self.ndim) if d not in (dim1, dim2)]
    moved = self.permute(*rest, dim1, dim2)
    length = max(0, min(self.shape[dim1] - max(0, -offset), self.shape[dim2] - max(0, offset)))
    steps = np.arange(length)
    return moved[(Ellipsis, Tensor(steps + max(0, -offset)), Tensor(steps + max(0, offset)))]


def _diag(self, diagonal=0):
    """A vector becomes a square matrix with it on `diagonal`; a matrix gives that diagonal (torch.diag)."""
    if self.ndim == 2:
        return self.diagonal(diagonal)
    if self.ndim != 1:
        raise RuntimeError(f"diag: expected a 1-D or 2-D tensor, got {self.ndim}-D")
    size = self.shape[0] + abs(diagonal)
    if self.shape[0] == 0:
        return self.new_zeros(size, size)
    rows, columns = np.indices((size, size))
    position = np.minimum(rows if diagonal >= 0 else columns, self.shape[0] - 1)  # the entry each cell would read
    return where(Tensor._wrap(columns - rows == diagonal), self[Tensor._wrap(position)], self.new_zeros(()))


def _trace(self):
    if self.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, got a {self.ndim}-D tensor")
    return self.diagonal().sum()


def _movedim(self, source, destination):
    """Move dims `source` to positions `destination` (torch.movedim), the others keeping their order."""
    source = [s % self.ndim for s in ((source,) if isinstance(source, int) else source)]
    destination = [d % self.ndim for d in ((destination,) if isinstance(destination, int) else destination)]
    order = [d for d in range(self.ndim) if d not in source]
    for d, s in sorted(zip(destination, source)):
        order.insert(d, s)
    return self.permute(*order)


def _repeat_interleave(self, repeats=None, dim=None, *, output_size=None):
    """Each entry `repeats` times in a row along `dim` (the flattened tensor when dim is None). Without
    `repeats` (torch.repeat_interleave(repeats)), self holds the counts: each index that many times."""
    if repeats is None:
        if self.ndim != 1 or self.dtype.kind not in "iu":
            raise RuntimeError("repeat_interleave only accepts a 1-D vector of integer counts as repeats")
        if (self.data < 0).any():
            raise RuntimeError("repeats can not be negative")
        return Tensor._wrap(np.repeat(np.arange(self.shape[0], dtype=self.dtype), self.data))
    tensor, dim = (self.reshape(-1), 0) if dim is None else (self, dim)
    counts = np.asarray(_data(repeats)).astype(np.int64)
    return tensor.index_select(dim, Tensor._wrap(np.repeat(np.arange(tensor.shape[dim]), counts)))


def _nan_to_num(self, nan=0.0, posinf=None, neginf=None):
    """NaN, +inf and -inf replaced by numbers (by default 0 and the dtype's largest and lowest)."""
    if not self.is_floating_point():
        return self.clone()
    info = np.finfo(self.dtype)
    out = self.masked_fill(self.isnan(), nan)
    out = out.masked_fill(self == float("inf"), info.max if posinf is None else posinf)
    return out.masked_fill(self == float("-inf"), info.min if neginf is None else neginf)


class MedianOp(Function):
    """median() of all elements (NaN if any is; NaN, or the dtype's lowest, when empty). As PyTorch,
    its gradient is shared evenly among the elements equal to the median (the NaNs, for NaN).
    `ignore_nan` (nanmedian): the median of the other elements (NaN only when all are NaN)."""

    @staticmethod
    def forward(ctx, a, ignore_nan=False):
        flat = np.sort(a.reshape(-1))  # NaN last
        if ignore_nan and a.dtype.kind == "f" and not np.isnan(flat).all():
            flat = flat[~np.isnan(flat)]
        if flat.size == 0:
            value = np.array(np.nan if a.dtype.kind == "f" else np.iinfo(np.int64).min).astype(a.dtype)
        else:
            value = flat[-1] if a.dtype.kind == "f" and np.isnan(flat[-1]) else flat[(flat.size - 1) // 2]
        ctx.save_for_backward(a, np.asarray(value))
        return np.asarray(value)

    @staticmethod
    def backward(ctx, grad):
        a, value = ctx.saved_tensors
        ties = np.isnan(a) if a.dtype.kind == "f" and np.isnan(value) else a == value
        return np.where(ties, grad / max(int(ties.sum()), 1), 0.0).astype(grad.dtype)


def _median(self, dim=None, keepdim=False):
    """The lower of the two middle values for an even count, as PyTorch; with `dim`, (values, indices).
    A NaN makes the median NaN (with dim: the first NaN and its index)."""
    if dim is None:
        return MedianOp.apply(self)
    if self.ndim == 0:
        return _median_result(self.clone(), Tensor._wrap(np.zeros((), np.int64)))
    ordered = self.sort(dim=dim, stable=True)
    count = self.shape[dim]
    nans = np.isnan(self.data).sum(axis=dim, keepdims=True) if self.is_floating_point() else 0
    at = np.where(nans > 0, count - nans, (count - 1) // 2)  # the first NaN (sorted last, in order), or the middle
    at = Tensor._wrap(np.broadcast_to(at, self.shape[:dim % self.ndim] + (1,) + self.shape[dim % self.ndim + 1:])
                      .astype(np.int64))
    values, indices = ordered.values.gather(dim, at), ordered.indices.gather(dim, at)
    if not keepdim:
        values, indices = values.squeeze(dim), indices.squeeze(dim)
    return _median_result(values, indices)


def _nansum(self, dim=None, keepdim=False):
    return self.masked_fill(self.isnan(), 0).sum(dim=dim, keepdim=keepdim)


def _nanmean(self, dim=None, keepdim=False):
    return self.nansum(dim=dim, keepdim=keepdim) / (~self.isnan()).sum(dim=dim, keepdim=keepdim)


def _masked_select(self, mask):
    """The entries where `mask` (broadcast with this tensor) is true, as a 1-D tensor."""
    mask = np.asarray(_data(mask))
    shape = np.broadcast_shapes(self.shape, mask.shape)
    return self.expand(shape)[Tensor._wrap(np.broadcast_to(mask, shape))]


def _logical(ufunc):
    return lambda self, *other: Tensor._wrap(ufunc(self.data, *(_data(o) for o in other)).astype(bool))


class CumprodOp(Function):
    """Running products along `dim`. Input i counts in every product from i on, so its gradient is
    S_i · (product of the inputs before i), with S_i = g_i + x_(i+1) · S_(i+1) summed from the end:
    no division, so zeros are handled exactly (one NumPy step per position along `dim`)."""

    @staticmethod
    def forward(ctx, a, dim=0):
        ctx.dim = dim % a.ndim
        ctx.save_for_backward(a)
        return np.cumprod(a, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        a, grad = np.moveaxis(a, ctx.dim, 0), np.moveaxis(grad, ctx.dim, 0)
        before = np.cumprod(np.concatenate([np.ones_like(a[:1]), a[:-1]]), axis=0)  # products of the inputs before i
        running = np.zeros_like(grad[:1][0]) if len(a) else None
        result = np.empty_like(grad)
        for i in range(len(a) - 1, -1, -1):
            running = grad[i] + (a[i + 1] * running if i + 1 < len(a) else 0)
            result[i] = running * before[i]
        return np.moveaxis(result, 0, ctx.dim)


Tensor.add = lambda self, other, *, alpha=1: self + (other if alpha == 1 else other * alpha)
Tensor.sub = Tensor.subtract = lambda self, other, *, alpha=1: self - (other if alpha == 1 else other * alpha)
Tensor.mul = Tensor.multiply = lambda self, other: self * other
Tensor.div = Tensor.divide = _div
Tensor.true_divide = lambda self, other: self / other
Tensor.neg = Tensor.negative = lambda self: -self
Tensor.absolute = lambda self: self.abs()
Tensor.remainder, Tensor.fmod = lambda self, other: self % other, _fmod
Tensor.trunc = _rounding(np.trunc)
Tensor.frac = lambda self: (self - self.trunc()) if self.dtype.kind == "f" else _no_frac(self)


def _no_frac(self):  # PyTorch has no frac for integers (their fraction is always 0)
    raise NotImplementedError(f"frac is not implemented for {self.dtype}")


Tensor.where = lambda self, condition, other: where(condition, self, other)
Tensor.view_as = Tensor.reshape_as = lambda self, other: self.reshape(other.shape)
Tensor.swapaxes = Tensor.swapdims = lambda self, dim0, dim1: self.transpose(dim0, dim1)
Tensor.movedim = Tensor.moveaxis = _movedim
Tensor.unflatten = lambda self, dim, sizes: self.reshape(*self.shape[:dim % self.ndim], *sizes,
                                                         *self.shape[dim % self.ndim + 1:])
Tensor.tile = lambda self, *dims: self.repeat(*(1,) * (self.ndim - len(_shape_args(dims))), *_shape_args(dims))
Tensor.repeat_interleave = _repeat_interleave
Tensor.diag, Tensor.diagonal, Tensor.trace = _diag, _diagonal, _trace
Tensor.cumprod = lambda self, dim: CumprodOp.apply(self, dim=dim) if self.ndim else self.reshape(1).cumprod(dim)[0]
Tensor.log2 = lambda self: self.log() * (1 / math.log(2))
Tensor.log10 = lambda self: self.log() * (1 / math.log(10))
Tensor.exp2 = lambda self: 2.0 ** self
Tensor.sinh = lambda self: (self.exp() - (-self).exp()) * 0.5
Tensor.cosh = lambda self: (self.exp() + (-self).exp()) * 0.5
Tensor.lerp = lambda self, end, weight: self + weight * (end - self)
Tensor.addcmul = lambda self, tensor1, tensor2, *, value=1: self + value * tensor1 * tensor2
Tensor.addcdiv = lambda self, tensor1, tensor2, *, value=1: self + value * tensor1 / tensor2
Tensor.addmm = lambda self, mat1, mat2, *, beta=1, alpha=1: beta * self + alpha * (mat1 @ mat2)
Tensor.logaddexp = lambda self, other: maximum(self, other) + (-(self - other).abs()).exp().log1p()
Tensor.hypot = lambda self, other: (self * self + other * other).sqrt()
Tensor.nan_to_num, Tensor.median = _nan_to_num, _median
Tensor.nansum, Tensor.nanmean = _nansum, _nanmean
Tensor.masked_select = _masked_select
Tensor.count_nonzero = lambda self, dim=None: (self != 0).sum(dim=dim)
Tensor.isfinite = lambda self: Tensor._wrap(np.isfinite(self.data))
Tensor.isclose = lambda self, other, rtol=1e-05, atol=1e-08, equal_nan=False: Tensor._wrap(
    np.isclose(self.data, _data(other), rtol=rtol, atol=atol, equal_nan=equal_nan))
Tensor.allclose = lambda self, other, rtol=1e-05, atol=1e-08, equal_nan=False: bool(
    np.allclose(self.data, _data(other), rtol=rtol, atol=atol, equal_nan=equal_nan))
Tensor.equal = lambda self, other: bool(np.array_equal(self.data, _data(other)))
Tensor.logical_not = _logical(np.logical_not)
Tensor.logical_and, Tensor.logical_or = _logical(np.logical_and), _logical(np.logical_or)
Tensor.logical_xor = _logical(np.logical_xor)
Tensor.nelement = lambda self: self.numel()
Tensor.element_size = lambda self: self.data.itemsize
Tensor.itemsize = property(lambda self: self.data.itemsize)
Tensor.nbytes = property(lambda self: self.data.nbytes)
Tensor.is_contiguous = lambda self, memory_format=None: True  # as `contiguous()`: NumPy hands each op what it needs
Tensor.new_full = lambda self, size, fill_value: Tensor._wrap(np.full(_shape_args((size,)), fill_value, self.dtype))
Tensor.new_empty = lambda self, *size: self.new_zeros(*size)
Tensor.new_tensor = lambda self, data: Tensor(data, dtype=self.dtype)


def _scatter_positions(index, dim):
    """For an index tensor of scatter/gather: the full coordinates it addresses along `dim`."""
    positions = list(np.indices(index.shape, sparse=True))
    positions[dim] = index
    return tuple(positions)


class ScatterOp(Function):
    """self with src written (or, with add=True, added) at `index` along `dim` (torch.scatter / scatter_add).
    Only the index-shaped corner of src is used. Gradients: self's passes where nothing was written
    over (everywhere when adding); src's is the gradient gathered back from where it went."""

    @staticmethod
    def forward(ctx, a, src, dim=0, index=None, add=False):
        where = _scatter_positions(index, dim)
        corner = src[tuple(slice(0, n) for n in index.shape)]
        out = a.copy()
        if add:
            np.add.at(out, where, corner)
        else:
            out[where] = corner
        ctx.where, ctx.add, ctx.src_shape = where, add, src.shape
        return out

    @staticmethod
    def backward(ctx, grad):
        grad_src = np.zeros(ctx.src_shape, dtype=grad.dtype)
        corner = tuple(slice(0, n) for n in np.broadcast_shapes(*(w.shape for w in ctx.where)))
        grad_src[corner] = grad[ctx.where]
        if ctx.add:
            return grad, grad_src
        grad_a = np.array(grad)  # a copy (an array even for a 0-d NumPy scalar)
        grad_a[ctx.where] = 0
        return grad_a, grad_src


class ScatterModeOp(Function):
    """scatter(..., reduce="add" | "multiply"): src added (np.add.at) or multiplied (np.multiply.at) in at
    `index` along `dim`, repeats combining. PyTorch gives this deprecated form no derivative, so neither
    does tinytorch: its backward raises, as PyTorch's does."""

    @staticmethod
    def forward(ctx, a, src, dim=0, index=None, reduce="add"):
        out = a.copy()
        combine = np.add if reduce == "add" else np.multiply
        combine.at(out, _scatter_positions(index, dim), src[tuple(slice(0, n) for n in index.shape)])
        return out

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("derivative for aten::scatter is not implemented (scatter with reduce=): "
                           "use scatter_add or scatter_reduce for a gradient")


def _scatter(self, dim, index, src=None, *, value=None, reduce=None, add=False):
    """torch.scatter(dim, index, src) or (dim, index, value=...); scatter_add adds instead of writing;
    reduce="add" or "multiply" combines src (or value) in instead (ScatterModeOp, no gradient)."""
    if reduce is not None and reduce not in ("add", "multiply"):
        raise RuntimeError("reduce argument must be either add or multiply.")
    source = value if src is None else src
    if not isinstance(source, Tensor):  # a number: every addressed entry gets it
        source = Tensor._wrap(np.full(index.shape, source, dtype=self.dtype))
    index = np.asarray(_data(index)).astype(np.int64)
    if reduce is not None:
        return ScatterModeOp.apply(self, source.to(self.dtype), dim=dim % self.ndim, index=index, reduce=reduce)
    return ScatterOp.apply(self, source.to(self.dtype), dim=dim % self.ndim, index=index, add=add)


def _index_add(self, dim, index, source, *, alpha=1):
    """self plus alpha·source's slices added at positions `index` along `dim` (repeats add up)."""
    index = np.asarray(_data(index)).astype(np.int64)
    shape = list(source.shape)
    full = np.broadcast_to(index.reshape([-1 if d == dim % self.ndim else 1 for d in range(source.ndim)]), shape)
    return ScatterOp.apply(self, (source * alpha).to(self.dtype), dim=dim % self.ndim, index=full, add=True)


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids from 1-D tensors (torch.meshgrid); "xy" swaps the first two axes, as NumPy."""
    tensors = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors
    tensors = [t.reshape(1) if t.ndim == 0 else t for t in tensors]  # a 0-d tensor is one element
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', not {indexing!r}")
    order = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        order[0], order[1] = 1, 0
    sizes = [tensors[i].shape[0] for i in order]
    grids = []
    for k, t in enumerate(tensors):
        shape = [1] * len(tensors)
        shape[order.index(k)] = -1
        grids.append(t.reshape(*shape).expand(*sizes))
    return tuple(grids)


def cdist(x1, x2, p=2.0):
    """The p-norm distance between every row of x1 (..., P, M) and every row of x2 (..., R, M)."""
    return (x1.unsqueeze(-2) - x2.unsqueeze(-3)).norm(p=p, dim=-1)


def as_tensor(data, dtype=None):
    """A Tensor of `data` without a copy where possible: a NumPy array keeps its memory and dtype."""
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or np.dtype(dtype) == data.dtype):
        return Tensor._wrap(data)
    return Tensor(data, dtype=dtype)


Tensor.scatter = _scatter
Tensor.scatter_add = lambda self, dim, index, src: _scatter(self, dim, index, src, add=True)
Tensor.index_add = _index_add


class inference_mode(_GradMode):
    """torch.inference_mode: here simply no_grad (and inference_mode(False), enable_grad); as a
    context manager or a decorator, with or without ()."""

    def __new__(cls, mode=True):
        if callable(mode):  # @inference_mode, bare
            return no_grad(mode)
        return no_grad() if mode else enable_grad()


def _detach_(self):
    """Cut this tensor off its graph in place: it becomes a leaf that needs no gradient."""
    self._ctx, self.requires_grad = None, False
    return self


def _random_fill(draw):
    """uniform_/normal_: new random values written into this tensor (in place, its dtype kept)."""
    return lambda self, *args: self._inplace(lambda t: Tensor._wrap(draw(*args, size=t.shape).astype(t.dtype)))


def normal(mean, std=1.0, size=None):
    """Normal samples: numbers mean and std with a size, or elementwise for tensors (torch.normal)."""
    mean_data, std_data = _data(mean), _data(std)
    floating = [np.asarray(v).dtype for v in (mean_data, std_data) if isinstance(v, np.ndarray)]
    dtype = np.result_type(*floating) if floating else np.float32
    return Tensor._wrap(np.random.normal(mean_data, std_data, size=size).astype(dtype))


def bernoulli(input):
    """1 with probability input, else 0, elementwise (torch.bernoulli), in input's dtype."""
    return Tensor._wrap((np.random.random(input.shape) < input.data).astype(input.dtype))


def multinomial(input, num_samples, replacement=False):
    """Indices drawn from each row of (unnormalized) weights (torch.multinomial). With replacement,
    by inverting the cumulative distribution; without, by the Gumbel top-k trick (the k largest of
    log w + Gumbel noise are a sample without replacement), so neither loops over rows."""
    weights = np.atleast_2d(input.data).astype(np.float64)
    if np.any(weights < 0) or not np.all(np.isfinite(weights)) or np.any(weights.sum(axis=-1) <= 0):
        raise RuntimeError("multinomial: weights must be finite, non-negative and not all zero in a row")
    if not replacement and num_samples > np.count_nonzero(weights, axis=-1).min():
        raise RuntimeError("multinomial: cannot take more samples than non-zero weights without replacement")
    if replacement:
        cumulative = np.cumsum(weights, axis=-1)
        draws = np.random.random((len(weights), num_samples)) * cumulative[:, -1:]
        picked = (cumulative[:, None, :] <= draws[:, :, None]).sum(axis=-1)  # how many bins lie below each draw
    else:
        with np.errstate(divide="ignore"):
            keys = np.log(weights) - np.log(-np.log(np.random.random(weights.shape)))
        picked = np.argsort(-keys, axis=-1)[:, :num_samples]
    picked = picked.astype(np.int64)
    return Tensor._wrap(picked if input.ndim == 2 else picked[0])


Tensor.detach_ = _detach_
Tensor.uniform_ = _random_fill(lambda a=0.0, b=1.0, size=None: np.random.uniform(a, b, size))
Tensor.normal_ = _random_fill(lambda mean=0.0, std=1.0, size=None: np.random.normal(mean, std, size))
Tensor.clamp_min = lambda self, min: self.clamp(min=min)
Tensor.clamp_max = lambda self, max: self.clamp(max=max)
Tensor.argwhere = lambda self: self.nonzero()


class Atan2Op(Function):
    """atan2(y, x), the angle of the point (x, y); ∂/∂y = x / (x² + y²), ∂/∂x = -y / (x² + y²)."""

    @staticmethod
    def forward(ctx, y, x):
        ctx.save_for_backward(y, x)
        return np.arctan2(y, x)

    @staticmethod
    def backward(ctx, grad):
        y, x = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            squared = x * x + y * y  # 0 at the origin (or where it underflows): a 0 gradient there, as PyTorch
            scale = np.where(squared == 0, 0.0, grad / squared)
        return scale * x, -scale * y


def _diff(self, n=1, dim=-1, prepend=None, append=None):
    """Differences of neighbours along `dim`, n times (torch.diff); `prepend` / `append` (tensors of the
    same number of dims, matching self but along `dim`) are joined on first (they get gradients too)."""
    out = self
    if n > 0 and (prepend is not None or append is not None):  # n = 0: self as it is, as PyTorch
        parts = [t if isinstance(t, Tensor) else Tensor(t) for t in (prepend, self, append) if t is not None]
        if any(t.ndim != self.ndim for t in parts):
            raise RuntimeError("diff expects prepend or append to be the same dimension as input")
        out = cat(_promoted(*parts) if len(parts) > 1 else parts, dim=dim)
    for _ in range(n):
        later, earlier = out.narrow(dim, 1, out.shape[dim] - 1), out.narrow(dim, 0, out.shape[dim] - 1)
        out = later != earlier if out.dtype == np.bool_ else later - earlier  # bool: xor, as PyTorch
    return out


def _rot90(self, k=1, dims=(0, 1)):
    """Rotate by 90° k times in the plane of `dims` (from the first axis towards the second)."""
    first, second = dims
    if self.ndim < 2 or first % self.ndim == second % self.ndim:
        raise RuntimeError(f"rot90: expected two different dims of a tensor of 2 or more dims, got {dims} for "
                           f"{self.ndim} dims")
    k %= 4
    if k == 1:
        return self.flip(second).transpose(first, second)
    if k == 2:
        return self.flip([first, second])
    if k == 3:
        return self.transpose(first, second).flip(second)
    return self


class StdOp(Function):
    """The standard deviation from the variance: a square root whose gradient is 0 where the
    spread is 0 (all values equal), as PyTorch's std; a plain sqrt would give 0 · ∞ = nan there."""

    @staticmethod
    def forward(ctx, variance):
        out = np.sqrt(variance)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return np.divide(grad * 0.5, out, out=np.zeros(np.broadcast_shapes(grad.shape, out.shape), grad.dtype),
                         where=out != 0)


Tensor.std = lambda self, *args, **kwargs: StdOp.apply(self.var(*args, **kwargs))


def _spread_and_mean(which):
    """var_mean / std_mean: (var or std, mean) over the same dims, as PyTorch returns them."""
    def method(self, dim=None, *, correction=1, keepdim=False):
        spread = self.var(dim, keepdim=keepdim, correction=correction)
        return (StdOp.apply(spread) if which == "std" else spread), self.mean(dim=dim, keepdim=keepdim)
    return method


def _indices_of_triangle(keep):
    """tril_indices / triu_indices: the (2, n) int64 coordinates of a row × col triangle."""
    def function(row, col, offset=0):
        rows, columns = np.indices((row, col))
        chosen = keep(rows, columns, offset)
        return Tensor._wrap(np.stack([rows[chosen], columns[chosen]]).astype(np.int64))
    return function


def concat(tensors, dim=0):
    return cat(tensors, dim)


def hstack(tensors):
    """Side by side: along dim 1, or dim 0 for vectors (torch.hstack)."""
    return cat(tensors, dim=0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    """One on top of the other: vectors become rows (torch.vstack)."""
    return cat([t.reshape(1, -1) if t.ndim == 1 else t for t in tensors], dim=0)


def dstack(tensors):
    """Along a third dimension (torch.dstack): vectors become (1, n, 1), matrices (m, n, 1)."""
    as_3d = [t.reshape(1, -1, 1) if t.ndim == 1 else t.unsqueeze(-1) if t.ndim == 2 else t for t in tensors]
    return cat(as_3d, dim=2)


def broadcast_to(input, size):
    return input.expand(*size)


def empty_like(input, dtype=None):
    """A tensor of input's shape (zeros: NumPy would hand back whatever memory held)."""
    return Tensor._wrap(np.zeros(input.shape, dtype=input.dtype if dtype is None else dtype))


def logspace(start, end, steps, base=10.0, dtype=None):
    exponents = np.linspace(start, end, steps)
    return Tensor(np.power(base, exponents), dtype=dtype)


broadcast_shapes = np.broadcast_shapes
concatenate = concat
tril_indices = _indices_of_triangle(lambda rows, columns, offset: columns - rows <= offset)
triu_indices = _indices_of_triangle(lambda rows, columns, offset: columns - rows >= offset)
Tensor.tan = lambda self: self.sin() / self.cos()
Tensor.atan2 = Tensor.arctan2 = lambda self, other: Atan2Op.apply(*_promoted(self, other, floating=True))
Tensor.atan = Tensor.arctan = lambda self: self.atan2(Tensor._wrap(np.ones((), dtype=np.float32)))
Tensor.diff, Tensor.rot90 = _diff, _rot90
Tensor.take = lambda self, index: self.reshape(-1)[index]
Tensor.dist = lambda self, other, p=2: (self - other).norm(p=p)
Tensor.var_mean, Tensor.std_mean = _spread_and_mean("var"), _spread_and_mean("std")
Tensor.broadcast_to = broadcast_to
Tensor.flipud, Tensor.fliplr = (lambda self: self.flip(0)), (lambda self: self.flip(1))


class InverseOp(Function):
    """The inverse of (a batch of) square matrices; its gradient is -A⁻ᵀ g A⁻ᵀ."""

    @staticmethod
    def forward(ctx, a):
        inverse = np.linalg.inv(a)
        ctx.save_for_backward(inverse)
        return inverse

    @staticmethod
    def backward(ctx, grad):
        (inverse,) = ctx.saved_tensors
        t = np.swapaxes(inverse, -1, -2)
        return -(t @ grad @ t)


class DetOp(Function):
    """The determinant of (a batch of) square matrices; ∂det/∂A = det · A⁻ᵀ (Jacobi's formula)."""

    @staticmethod
    def forward(ctx, a):
        det = np.linalg.det(a)
        ctx.save_for_backward(a, det)
        return np.asarray(det, dtype=a.dtype)

    @staticmethod
    def backward(ctx, grad):
        a, det = ctx.saved_tensors
        scale = np.asarray(grad * det)[..., None, None]
        return scale * np.swapaxes(np.linalg.inv(a), -1, -2)


class SolveOp(Function):
    """X with A X = B; the gradients are G_B = A⁻ᵀ g and G_A = -G_B Xᵀ (a vector B is one column)."""

    @staticmethod
    def forward(ctx, a, b):
        vector = b.ndim == a.ndim - 1
        x = np.linalg.solve(a, b[..., None] if vector else b)
        ctx.save_for_backward(a, x)
        ctx.vector = vector
        return x[..., 0] if vector else x

    @staticmethod
    def backward(ctx, grad):
        a, x = ctx.saved_tensors
        g = grad[..., None] if ctx.vector else grad
        grad_b = np.linalg.solve(np.swapaxes(a, -1, -2), g)
        grad_a = -grad_b @ np.swapaxes(x, -1, -2)
        return grad_a, (grad_b[..., 0] if ctx.vector else grad_b)


def _square(name):
    def check(self):
        if self.ndim < 2 or self.shape[-1] != self.shape[-2]:
            raise RuntimeError(f"{name}: expected (a batch of) square matrices, got shape {self.shape}")
        return self if self.is_floating_point() else self.float()
    return check


def _solve(self, other):
    """X with self X = other (tinytorch.linalg.solve's work, kept here beside its Function)."""
    a, b = _promoted(self, other, floating=True)
    matrices = b.ndim != a.ndim - 1  # else b is a vector (or a batch of them)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2] or b.shape[-2 if matrices else -1] != a.shape[-1]:
        raise RuntimeError(f"linalg.solve: A {a.shape} must be square and match B {b.shape}")
    return SolveOp.apply(a, b)


Tensor.inverse = lambda self: InverseOp.apply(_square("inverse")(self))
Tensor.det = lambda self: DetOp.apply(_square("det")(self))
Tensor._solve = _solve


_kthvalue_result = namedtuple("kthvalue", ["values", "indices"])
_cummax_result, _cummin_result = namedtuple("cummax", ["values", "indices"]), namedtuple("cummin", ["values", "indices"])
_aminmax_result = namedtuple("aminmax", ["min", "max"])


def _kthvalue(self, k, dim=-1, keepdim=False):
    """The k-th smallest value along `dim` and its index (torch.kthvalue); its gradient goes there."""
    if not 1 <= k <= self.shape[dim]:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {dim} of size {self.shape[dim]}")
    indices = Tensor._wrap(np.take(np.argsort(self.data, axis=dim, kind="stable"), [k - 1], axis=dim))
    values = self.gather(dim, indices)
    return _kthvalue_result(values, indices) if keepdim else _kthvalue_result(values.squeeze(dim), indices.squeeze(dim))


def _running(accumulate, result):
    """cummax / cummin: running extremes along `dim` and where each was (the latest such position)."""
    def method(self, dim):
        if self.ndim == 0:  # one value: itself, at index 0
            values, indices = method(self.reshape(1), dim)
            return result(values.reshape(()), indices.reshape(()))
        values = accumulate(self.data, axis=dim)
        positions = np.arange(self.shape[dim]).reshape([-1 if d == dim % self.ndim else 1 for d in range(self.ndim)])
        reached = (self.data == values) | np.isnan(self.data)
        indices = Tensor._wrap(np.maximum.accumulate(np.where(reached, positions, 0), axis=dim).astype(np.int64))
        return result(self.gather(dim, indices), indices)
    return method


def _nan_ignoring(pick):
    """fmax / fmin: maximum / minimum, except that a NaN loses to a number."""
    def method(self, other):
        a, b = _promoted(self, other)
        return where(a.isnan(), b, where(b.isnan(), a, pick(a, b)))
    return method


def _index_fill(self, dim, index, value):
    """A copy with every position `index` along `dim` set to `value` (torch.index_fill)."""
    picked = np.zeros(self.shape[dim], dtype=bool)
    picked[_data(index)] = True
    return self.masked_fill(picked.reshape([-1 if d == dim % self.ndim else 1 for d in range(self.ndim)]), value)


def _windows(self, dimension, size, step):
    """Tensor.unfold: every window of `size` along `dimension`, `step` apart, as a new last dimension."""
    length = self.shape[dimension]
    if size > length:
        raise RuntimeError(f"maximum size for tensor at dimension {dimension} is {length} but size is {size}")
    starts = np.arange(0, length - size + 1, step)
    d = dimension % self.ndim
    picked = self.index_select(d, Tensor._wrap((starts[:, None] + np.arange(size)).reshape(-1)))
    return picked.reshape(*self.shape[:d], len(starts), size, *self.shape[d + 1:]).movedim(d + 1, -1)


def tensordot(a, b, dims=2):
    """Sum over `dims` of a against `dims` of b: the last n of a with the first n of b, or two lists."""
    if isinstance(dims, int):
        dims = (list(range(a.ndim - dims, a.ndim)), list(range(dims)))
    dims_a, dims_b = ([d % t.ndim for d in (ds if isinstance(ds, (list, tuple)) else [ds])]
                      for ds, t in zip(dims, (a, b)))
    letters = "abcdefghijklmnopqrstuvwxyz"
    names_a, names_b = list(letters[:a.ndim]), list(letters[a.ndim:a.ndim + b.ndim])
    for i, j in zip(dims_a, dims_b):
        names_b[j] = names_a[i]
    kept = [n for i, n in enumerate(names_a) if i not in dims_a] + [n for j, n in enumerate(names_b) if j not in dims_b]
    return einsum(f"{''.join(names_a)},{''.join(names_b)}->{''.join(kept)}", a, b)


def _kron(self, other):
    """The Kronecker product: every element of self times the whole of other, in a block."""
    ndim = max(self.ndim, other.ndim)
    a, b = (t.reshape(*(1,) * (ndim - t.ndim), *t.shape) for t in (self, other))
    spread_a = a.reshape(*[s for n in a.shape for s in (n, 1)])
    spread_b = b.reshape(*[s for n in b.shape for s in (1, n)])
    return (spread_a * spread_b).reshape(*[m * n for m, n in zip(a.shape, b.shape)])


def _cross(self, other, dim=None):
    """The cross product of 3-vectors along `dim` (by default the first dimension of size 3)."""
    a, b = _promoted(self, other)
    shape = np.broadcast_shapes(a.shape, b.shape)
    a, b = a.expand(shape), b.expand(shape)
    if dim is None:
        dim = next((d for d, n in enumerate(shape) if n == 3), None)
    if dim is None or shape[dim] != 3:
        raise RuntimeError(f"cross: inputs dimension {dim} must have length 3, got shape {tuple(shape)}")
    (a0, a1, a2), (b0, b1, b2) = a.unbind(dim), b.unbind(dim)
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], dim=dim % len(shape))


def _inner(self, other):
    return self * other if self.ndim == 0 or other.ndim == 0 else tensordot(self, other, ([-1], [-1]))


def _stride(self, dim=None):
    strides = tuple(s // self.data.itemsize for s in self.data.strides)
    return strides if dim is None else strides[dim]


Tensor.kthvalue = _kthvalue
Tensor.cummax = _running(np.maximum.accumulate, _cummax_result)
Tensor.cummin = _running(np.minimum.accumulate, _cummin_result)
Tensor.aminmax = lambda self, *, dim=None, keepdim=False: _aminmax_result(self.amin(dim, keepdim), self.amax(dim, keepdim))
Tensor.sgn = Tensor.sign
Tensor.fmax, Tensor.fmin = _nan_ignoring(maximum), _nan_ignoring(minimum)
Tensor.ndimension = lambda self: self.ndim
Tensor.index_fill = _index_fill
Tensor.unfold = _windows
Tensor.inner, Tensor.kron, Tensor.cross = _inner, _kron, _cross
Tensor.mv = lambda self, vec: self @ vec
Tensor.baddbmm = lambda self, batch1, batch2, *, beta=1, alpha=1: beta * self + alpha * (batch1 @ batch2)
Tensor.stride = _stride


def finfo(type=None):
    """Limits of a floating dtype (NumPy's finfo: eps, max, min, tiny, bits, resolution); float32 by default."""
    return np.finfo(np.float32 if type is None else type)


def iinfo(type):
    return np.iinfo(type)


def get_default_dtype():
    return np.float32


def bincount(input, weights=None, minlength=0):
    """How often each non-negative int occurs (the sum of its weights, with weights)."""
    counts = np.bincount(_data(input), None if weights is None else _data(weights), minlength)
    if weights is None:
        return Tensor._wrap(counts)
    dtype = _data(weights).dtype
    return Tensor._wrap(counts.astype(dtype if dtype.kind == "f" else np.float64))  # integer weights: float64


def searchsorted(sorted_sequence, values, *, out_int32=False, right=False, side=None, sorter=None):
    """Where each value would go to keep the (last-dimension) rows of `sorted_sequence` sorted."""
    right = right or side == "right"
    seq, found = _data(sorted_sequence), _data(values)
    if sorter is not None:
        seq = np.take_along_axis(seq, _data(sorter), axis=-1)
    if seq.ndim <= 1:
        positions = np.searchsorted(seq, found, side="right" if right else "left")
    else:  # one sorted row per row of values: count the elements before each value (NaN the largest, as above)
        s, v = seq[..., None, :], found[..., :, None]
        with np.errstate(invalid="ignore"):
            before = (s <= v) | np.isnan(v) if right else (s < v) | (np.isnan(v) & ~np.isnan(s))
        positions = before.sum(axis=-1)
    return Tensor._wrap(np.asarray(positions, dtype=np.int32 if out_int32 else np.int64))


def bucketize(input, boundaries, *, out_int32=False, right=False):
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def histc(input, bins=100, min=0, max=0):
    """A histogram of `bins` equal bins over [min, max] (the data's range when both are 0)."""
    data = _data(input)
    low, high = (data.min(), data.max()) if min == max == 0 and data.size else (min, max)
    if low == high:
        low, high = low - 1, high + 1
    counts, _ = np.histogram(data, bins=bins, range=(low, high))
    return Tensor._wrap(counts.astype(data.dtype))


def _at_least(ndim):
    def function(*tensors):
        if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
            tensors = tensors[0]
        shaped = tuple(t.reshape(*_at_least_shape(t.shape, ndim)) for t in tensors)
        return shaped[0] if len(shaped) == 1 else shaped
    return function


def _at_least_shape(shape, ndim):
    """NumPy's atleast_Nd shapes: a vector becomes a row (1, n) and, in 3-D, (1, n, 1); a matrix (m, n, 1)."""
    if len(shape) >= ndim:
        return shape
    if ndim == 3 and len(shape) == 2:
        return (*shape, 1)
    padded = (1,) * (min(ndim, 2) - len(shape)) + tuple(shape)
    return padded + (1,) * (ndim - len(padded))


atleast_1d, atleast_2d, atleast_3d = _at_least(1), _at_least(2), _at_least(3)


def column_stack(tensors):
    return cat([t.reshape(-1, 1) if t.ndim < 2 else t for t in tensors], dim=1)


def row_stack(tensors):
    return vstack(tensors)


def block_diag(*tensors):
    """The matrices (scalars and vectors count as one row) along the diagonal of one big matrix, zeros elsewhere."""
    blocks = [t.reshape(1, -1) if t.ndim < 2 else t for t in tensors]
    width, dtype = sum(b.shape[1] for b in blocks), np.result_type(*[b.dtype for b in blocks])
    rows, left = [], 0
    for b in blocks:  # one row of blocks per matrix: zeros, the matrix, zeros
        zeros = (np.zeros((b.shape[0], left), dtype), np.zeros((b.shape[0], width - left - b.shape[1]), dtype))
        rows.append(cat([Tensor._wrap(zeros[0]), b.to(dtype), Tensor._wrap(zeros[1])], dim=1))
        left += b.shape[1]
    return cat(rows, dim=0)


def cartesian_prod(*tensors):
    """Every combination of one element from each 1-D tensor, as rows (itertools.product's order)."""
    if len(tensors) == 1:
        return tensors[0]
    return stack([grid.reshape(-1) for grid in meshgrid(*tensors, indexing="ij")], dim=1)


def combinations(input, r=2, with_replacement=False):
    """Every r-element combination of a 1-D tensor's elements, as rows (itertools' order)."""
    if r == 0:  # PyTorch: no combinations at all, an empty vector
        return input[Tensor._wrap(np.zeros(0, dtype=np.int64))]
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    index = np.array(list(pick(range(input.shape[0]), r)), dtype=np.int64).reshape(-1, r)
    return input[Tensor._wrap(index)]


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """Each run of equal neighbours (of the flattened tensor) kept once, in order; with `dim`, each run
    of equal neighbouring slices along `dim` (the inverse then numbers the slices)."""
    data = np.asarray(_data(input))
    if dim is None:
        rows, length = data.reshape(-1, 1), data.size
    else:
        if data.ndim == 0 or data.size == 0:
            values, inverse, counts = _empty_slices(data, dim, "unique_consecutive")
            found = [Tensor._wrap(values)] + [Tensor._wrap(inverse)] * return_inverse + [Tensor._wrap(counts)] * return_counts
            return found[0] if len(found) == 1 else tuple(found)
        length = data.shape[dim]
        rows = np.moveaxis(data, dim, 0).reshape(length, -1)  # one row per slice
    new = np.r_[True, (rows[1:] != rows[:-1]).any(axis=1)] if length else np.zeros(0, dtype=bool)  # runs start
    starts = np.flatnonzero(new)
    found = [Tensor._wrap(data.reshape(-1)[starts] if dim is None else np.take(data, starts, axis=dim))]
    if return_inverse:
        inverse = np.cumsum(new, dtype=np.int64) - 1
        found.append(Tensor._wrap(inverse.reshape(data.shape) if dim is None else inverse))
    if return_counts:
        found.append(Tensor._wrap(np.diff(np.r_[starts, length]).astype(np.int64)))
    return found[0] if len(found) == 1 else tuple(found)

# %% [markdown]
# `tinytorch.linalg` holds PyTorch's `torch.linalg` names for the operations above (given;
# exported into `tinytorch/core/linalg.py`, which `tinytorch.linalg` gathers). `matrix_norm` and
# `linalg.norm` come later, with the singular values that some of their norms need.

# %%
#| export core.linalg
def inv(A):
    return A.inverse()


def det(A):
    return A.det()


def solve(A, B):
    """X with A X = B, for (a batch of) square A; B a matrix or (with one dimension less) a vector."""
    return A._solve(B)


def vector_norm(x, ord=2, dim=None, keepdim=False):
    """The ord-norm of x's entries over dim (all of them by default), as Tensor.norm."""
    return x.norm(p=ord, dim=dim, keepdim=keepdim)



# %% [markdown]
# ## Decompositions
#
# PyTorch's `torch.linalg` factorizations, given, with their gradients: `cholesky` (also
# `Tensor.cholesky` and `tinytorch.cholesky(upper=False)`), `qr`, `eigh` and `eigvalsh`, `svd` and
# `svdvals`, `slogdet` (and `logdet`), `pinv` (and `pinverse`), `matrix_power`, `matrix_rank`,
# `cross`, `vecdot`, `multi_dot` and `lstsq`. NumPy's `np.linalg` computes each forward, batched
# over the leading dimensions. Each backward is the matrix calculus of its factorization, one
# `Function` each: `CholeskyOp`, `QrOp`, `EighOp`, `SvdOp`, `SlogdetOp` and `PinvOp`.
#
# A `Function` has one output, and `qr`, `eigh` and `svd` have two or three. So their forward
# returns them **packed** into one array (each flattened, side by side on a last axis); the
# Tensor method slices them out again. Slicing sends the gradient of each piece back to its
# place in the packed gradient, with zeros for a piece the loss never used, and the backward
# unpacks it the same way.
#
# Eigenvectors and singular vectors are not unique: each may flip its sign (NumPy and PyTorch
# may choose differently), and their gradients divide by the gaps between eigenvalues
# (singular values), so they exist only where those are distinct. A loss that does not depend
# on the signs (a reconstruction U·S·Vh, a projection U·Uᵀ) has a well-defined gradient.
# `svd(full_matrices=True)` of a non-square matrix adds columns to U (or rows to Vh) that are
# any basis of what is left over: PyTorch ignores a gradient on them; tinytorch refuses it.

# %%
#| export
_qr_result = namedtuple("qr", ["Q", "R"])
_eigh_result = namedtuple("eigh", ["eigenvalues", "eigenvectors"])
_svd_result = namedtuple("svd", ["U", "S", "Vh"])
_slogdet_result = namedtuple("slogdet", ["sign", "logabsdet"])
_lstsq_result = namedtuple("lstsq", ["solution", "residuals", "rank", "singular_values"])


def _pack(arrays, batch):
    """Several outputs as one array: each flattened after the `batch` dims, joined on a last axis."""
    return np.concatenate([a.reshape(*batch, math.prod(a.shape[len(batch):])) for a in arrays], axis=-1)


def _unpack(packed, batch, shapes):
    """The pieces `_pack` joined (NumPy arrays or Tensors), each back in its own shape."""
    pieces, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        pieces.append(packed[..., start:start + size].reshape((*batch, *shape)))
        start += size
    return pieces


def _mT(x):
    return np.swapaxes(x, -1, -2)


def _right_solve(a, b):
    """b · a⁻¹ for (batches of) square a: (a⁻ᵀ bᵀ)ᵀ, one solve rather than an inverse."""
    return _mT(np.linalg.solve(_mT(a), _mT(b)))


def _off_diagonal_inverse(spread):
    """1 / spread off the diagonal, 0 on it: the gaps between eigen- (singular) values."""
    eye = np.eye(spread.shape[-1], dtype=bool)
    with np.errstate(divide="ignore"):
        return np.where(eye, 0, 1 / np.where(eye, 1, spread)).astype(spread.dtype)


class CholeskyOp(Function):
    """L with A = L Lᵀ, L lower triangular (A's lower triangle is read). From dA = dL Lᵀ + L dLᵀ,
    L⁻¹ dL is the lower triangle, diagonal halved (Φ), of L⁻¹ dA L⁻ᵀ; transposing that map gives
    gA = L⁻ᵀ Φ(Lᵀ g) L⁻¹, made symmetric as dA is (PyTorch's gradient too)."""

    @staticmethod
    def forward(ctx, a):
        try:
            low = np.linalg.cholesky(a)
        except np.linalg.LinAlgError:
            raise RuntimeError("linalg.cholesky: The factorization could not be completed because the input "
                               "is not positive-definite.") from None
        ctx.save_for_backward(low)
        return low

    @staticmethod
    def backward(ctx, grad):
        (low,) = ctx.saved_tensors
        phi = np.tril(_mT(low) @ grad)
        phi = phi - 0.5 * phi * np.eye(low.shape[-1], dtype=low.dtype)  # the diagonal counts once in L Lᵀ
        half = np.linalg.solve(_mT(low), _right_solve(low, phi))  # L⁻ᵀ Φ L⁻¹
        return 0.5 * (half + _mT(half))


class QrOp(Function):
    """Q R = A (Householder, NumPy's), Q and R packed. For k = min(m, n) columns, A's first k
    columns X = Q R_X; with M = gR R_Xᵀ - Qᵀ gQ, dA = dQ R + Q dR and Qᵀ dQ skew-symmetric give
    gX = (gQ + Q sym(M)) R_X⁻ᵀ, sym(M) the symmetric matrix of M's upper triangle. A wide A's
    remaining columns Y = Q R_Y: gY = Q gR_Y, and Q gets Y gR_Yᵀ more."""

    @staticmethod
    def forward(ctx, a, mode="reduced"):
        q, r = np.linalg.qr(a, mode="complete" if mode == "complete" else "reduced")
        ctx.save_for_backward(q, r)
        ctx.mode = mode
        return _pack([q, r], a.shape[:-2])

    @staticmethod
    def backward(ctx, grad):
        q, r = ctx.saved_tensors
        if ctx.mode == "r":
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
                               "Please use linalg.qr(A, mode='reduced') if you are going to differentiate "
                               "through linalg.qr.")
        m, n = q.shape[-2], r.shape[-1]
        if ctx.mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
        k = min(m, n)
        g_q, g_r = _unpack(grad, q.shape[:-2], [q.shape[-2:], r.shape[-2:]])
        g_q = g_q + (q @ r[..., k:]) @ _mT(g_r[..., k:])  # Y = Q R_Y: R_Y's gradient reaches Q
        upper = np.triu(g_r[..., :k] @ _mT(r[..., :k]) - _mT(q) @ g_q)
        symmetric = upper + _mT(np.triu(upper, 1))
        g_x = _right_solve(_mT(r[..., :k]), g_q + q @ symmetric)
        return np.concatenate([g_x, q @ g_r[..., k:]], axis=-1) if n > k else g_x


class EighOp(Function):
    """Eigenvalues λ (ascending) and orthonormal eigenvectors V of a symmetric A, packed. dλᵢ = vᵢᵀ dA vᵢ
    and Vᵀ dV = F ∘ (Vᵀ dA V), F_ij = 1/(λⱼ - λᵢ) off the diagonal, so gA = V (diag(gλ) + F ∘ K) Vᵀ,
    K the skew part of Vᵀ gV (which makes gA symmetric, as PyTorch's)."""

    @staticmethod
    def forward(ctx, a, uplo="L"):
        values, vectors = np.linalg.eigh(a, UPLO=uplo)
        ctx.save_for_backward(values, vectors)
        return _pack([values, vectors], a.shape[:-2])

    @staticmethod
    def backward(ctx, grad):
        values, vectors = ctx.saved_tensors
        n = values.shape[-1]
        g_values, g_vectors = _unpack(grad, values.shape[:-1], [(n,), (n, n)])
        inner = g_values[..., None] * np.eye(n, dtype=values.dtype)
        if np.any(g_vectors):  # only then the gaps matter (eigvalsh works with repeated eigenvalues)
            turn = _mT(vectors) @ g_vectors
            gaps = _off_diagonal_inverse(values[..., None, :] - values[..., :, None])
            inner = inner + gaps * 0.5 * (turn - _mT(turn))
        return vectors @ inner @ _mT(vectors)


class SvdOp(Function):
    """A = U diag(S) Vh, packed. With k = min(m, n), F_ij = 1/(sⱼ² - sᵢ²) off the diagonal and V = Vhᵀ:
    gA = U [(F ∘ (Uᵀ gU - gUᵀ U)) S + diag(gS) + S (F ∘ (Vᵀ gV - gVᵀ V))] Vh (the rotations within the
    k singular directions), + (I - U Uᵀ) gU S⁻¹ Vh for a tall A and U S⁻¹ gVh (I - V Vh) for a wide
    one (the directions outside them)."""

    @staticmethod
    def forward(ctx, a, full_matrices=True):
        u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
        ctx.save_for_backward(u, s, vh)
        return _pack([u, s, vh], a.shape[:-2])

    @staticmethod
    def backward(ctx, grad):
        u, s, vh = ctx.saved_tensors
        k = s.shape[-1]
        g_u, g_s, g_vh = _unpack(grad, s.shape[:-1], [u.shape[-2:], (k,), vh.shape[-2:]])
        if np.any(g_u[..., k:]) or np.any(g_vh[..., k:, :]):
            raise RuntimeError("linalg.svd: the extra columns of U (rows of Vh) that full_matrices=True adds are "
                               "any basis of the rest of the space, so they have no gradient (PyTorch ignores "
                               "it; tinytorch refuses it): use full_matrices=False")
        u, g_u, vh, g_vh = u[..., :k], g_u[..., :k], vh[..., :k, :], g_vh[..., :k, :]
        inner = g_s[..., None] * np.eye(k, dtype=s.dtype)
        if np.any(g_u) or np.any(g_vh):  # svdvals' gradient needs no gaps
            gaps = _off_diagonal_inverse(s[..., None, :] ** 2 - s[..., :, None] ** 2)
            turn_u, turn_v = _mT(u) @ g_u, vh @ _mT(g_vh)
            inner = inner + (gaps * (turn_u - _mT(turn_u))) * s[..., None, :]
            inner = inner + s[..., :, None] * (gaps * (turn_v - _mT(turn_v)))
        grad_a = u @ inner @ vh
        if u.shape[-2] > k and np.any(g_u):  # tall: the part of gU outside U's columns
            grad_a = grad_a + ((g_u - u @ (_mT(u) @ g_u)) / s[..., None, :]) @ vh
        if vh.shape[-1] > k and np.any(g_vh):  # wide: the part of gVh outside Vh's rows
            grad_a = grad_a + u @ ((g_vh - (g_vh @ _mT(vh)) @ vh) / s[..., :, None])
        return grad_a


class SlogdetOp(Function):
    """(sign, log |det A|) packed; the sign has no gradient, log |det A| has A⁻ᵀ (as DetOp ÷ det)."""

    @staticmethod
    def forward(ctx, a):
        sign, logabsdet = np.linalg.slogdet(a)
        ctx.save_for_backward(a)
        return _pack([np.asarray(sign, a.dtype), np.asarray(logabsdet, a.dtype)], a.shape[:-2])

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad[..., 1, None, None] * _mT(np.linalg.inv(a))


def _cutoff(s, shape, atol, rtol):
    """Singular values at or below max(atol, rtol · the largest) count as 0 (PyTorch's defaults:
    rtol = eps · max(m, n), or 0 when only a positive atol is given)."""
    atol = 0.0 if atol is None else np.asarray(_data(atol))
    if rtol is None:
        rtol = 0.0 if np.any(atol > 0) else np.finfo(s.dtype).eps * max(shape[-2:])
    return np.maximum(atol, np.asarray(_data(rtol)) * s.max(axis=-1, initial=0.0))[..., None]


class PinvOp(Function):
    """The pseudo-inverse P = A⁺, from the SVD (or eigh, hermitian=True), small singular values
    dropped. Its gradient, for a rank that does not change (Golub & Pereyra's dA⁺), is
    gA = -Pᵀ g Pᵀ + (I - A P) gᵀ P Pᵀ + Pᵀ P gᵀ (I - P A): no gaps between singular values."""

    @staticmethod
    def forward(ctx, a, atol=None, rtol=None, hermitian=False):
        if hermitian:
            values, u = np.linalg.eigh(a)
            s, vh = np.abs(values), _mT(u * np.sign(values)[..., None, :])  # A = U |λ| (U sign λ)ᵀ
        else:
            u, s, vh = np.linalg.svd(a, full_matrices=False)
        with np.errstate(divide="ignore"):
            kept = np.where(s > _cutoff(s, a.shape, atol, rtol), 1 / s, 0).astype(a.dtype)
        p = (_mT(vh) * kept[..., None, :]) @ _mT(u)
        ctx.save_for_backward(a, p)
        return p

    @staticmethod
    def backward(ctx, grad):
        a, p = ctx.saved_tensors
        first = -_mT(p) @ grad @ _mT(p)
        second = _mT(grad) @ (p @ _mT(p))
        third = (_mT(p) @ p) @ _mT(grad)
        return first + (second - a @ (p @ second)) + (third - (third @ p) @ a)


def _matrices(name, tensor):
    if tensor.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    return tensor if tensor.is_floating_point() else tensor.float()


def _cholesky(self, upper=False):
    low = CholeskyOp.apply(_square("linalg.cholesky")(self))
    return low.mT if upper else low


def _qr(self, mode="reduced"):
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
                           "'r', or 'complete'")
    a = _matrices("linalg.qr", self)
    m, n = a.shape[-2:]
    k = m if mode == "complete" else min(m, n)
    q, r = _unpack(QrOp.apply(a, mode=mode), a.shape[:-2], [(m, k), (k, n)])
    return _qr_result(Tensor._wrap(np.zeros(0, a.dtype)) if mode == "r" else q, r)


def _eigh(self, UPLO="L"):
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    a = _square("linalg.eigh")(self)
    n = a.shape[-1]
    return _eigh_result(*_unpack(EighOp.apply(a, uplo=UPLO), a.shape[:-2], [(n,), (n, n)]))


def _svd(self, full_matrices=True):
    a = _matrices("linalg.svd", self)
    m, n = a.shape[-2:]
    k = min(m, n)
    shapes = [(m, m), (k,), (n, n)] if full_matrices else [(m, k), (k,), (k, n)]
    return _svd_result(*_unpack(SvdOp.apply(a, full_matrices=full_matrices), a.shape[:-2], shapes))


def _slogdet(self):
    a = _square("linalg.slogdet")(self)
    sign, logabsdet = _unpack(SlogdetOp.apply(a), a.shape[:-2], [(), ()])
    return _slogdet_result(sign.detach(), logabsdet)


def _logdet(self):
    """log det A: NaN for a negative determinant, -inf for 0 (torch.logdet)."""
    sign, logabsdet = _slogdet(self)
    return logabsdet + Tensor._wrap(np.where(sign.data < 0, np.nan, 0).astype(sign.dtype))


def _pinv(self, atol=None, rtol=None, hermitian=False):
    return PinvOp.apply(_matrices("linalg.pinv", self), atol=atol, rtol=rtol, hermitian=hermitian)


def _matrix_power(self, n):
    """A·A·…·A (n factors) by repeated squaring; n = 0 gives I (gradient 0), n < 0 powers of A⁻¹."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"matrix_power(): argument 'n' must be int, not {type(n).__name__}")
    if self.ndim < 2 or self.shape[-1] != self.shape[-2]:
        raise RuntimeError(f"linalg.matrix_power: A must be batches of square matrices, got shape {self.shape}")
    if n == 0:  # still in the graph, as PyTorch's: a gradient of zeros
        eye = Tensor._wrap(np.broadcast_to(np.eye(self.shape[-1], dtype=self.dtype), self.shape).copy())
        return where(Tensor._wrap(np.zeros(self.shape, dtype=bool)), self, eye)
    base, result, n = (self.inverse() if n < 0 else self), None, abs(n)
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return result


def _matrix_rank(self, atol=None, rtol=None, hermitian=False):
    """How many singular values exceed max(atol, rtol · the largest) (no gradient: an integer)."""
    a = _matrices("linalg.matrix_rank", self).data
    s = np.abs(np.linalg.eigvalsh(a)) if hermitian else np.linalg.svd(a, compute_uv=False)
    return Tensor._wrap((s > _cutoff(s, a.shape, atol, rtol)).sum(axis=-1).astype(np.int64))


def _lstsq(self, other, rcond=None, driver=None):
    """The least-squares solution X of self X ≈ other, as pinv(self) @ other (differentiable in both), and
    what PyTorch's drivers return beside it: the default "gelsy" the rank; "gelsd" and "gelss" the rank,
    the singular values and, for m > n and full rank, the residuals; "gels" the residuals (m > n)."""
    if driver not in (None, "gels", "gelsy", "gelsd", "gelss"):
        raise RuntimeError(f"torch.linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss), "
                           f"got {driver}")
    a, b = _promoted(_matrices("linalg.lstsq", self), other, floating=True)
    if b.ndim < 1 or b.shape[-2 if b.ndim == a.ndim else -1] != a.shape[-2]:
        raise RuntimeError(f"torch.linalg.lstsq: input.size(-2) should match other.size(-2), got {a.shape}, {b.shape}")
    vector = b.ndim == a.ndim - 1
    solution = a._pinv(rtol=rcond) @ (b.unsqueeze(-1) if vector else b)
    m, n = a.shape[-2:]
    empty = Tensor._wrap(np.zeros(0, a.dtype))
    rank = empty.long() if driver == "gels" else a._matrix_rank(rtol=rcond)
    residuals = empty
    if m > n and (driver == "gels" or driver in ("gelsd", "gelss") and bool(np.all(rank.data == n))):
        residuals = ((a @ solution - (b.unsqueeze(-1) if vector else b)) ** 2).sum(dim=-2)
    values = _svd(a, full_matrices=False).S if driver in ("gelsd", "gelss") else empty
    return _lstsq_result(solution.squeeze(-1) if vector else solution, residuals, rank, values)


def cholesky(input, upper=False):
    """torch.cholesky: L (or, upper=True, Lᵀ) with A = L Lᵀ."""
    return input.cholesky(upper)


def slogdet(input):
    return input.slogdet()


def logdet(input):
    return input.logdet()


def pinverse(input, rcond=1e-15):
    return input.pinverse(rcond)


def matrix_power(input, n):
    return input.matrix_power(n)


Tensor.cholesky = _cholesky
Tensor.slogdet, Tensor.logdet = _slogdet, _logdet
Tensor.pinverse = lambda self, rcond=1e-15: _pinv(self, rtol=rcond)
Tensor.matrix_power = _matrix_power
Tensor._qr, Tensor._eigh, Tensor._svd, Tensor._pinv = _qr, _eigh, _svd, _pinv
Tensor._matrix_rank, Tensor._lstsq = _matrix_rank, _lstsq

# %%
#| export core.linalg
def cholesky(A, *, upper=False):
    """L, lower triangular, with A = L Lᵀ (or U = Lᵀ with upper=True), for (a batch of) SPD matrices."""
    return A.cholesky(upper)


def qr(A, mode="reduced"):
    """(Q, R) with A = Q R: Q's columns orthonormal, R upper triangular; mode "reduced", "complete" or "r"."""
    return A._qr(mode)


def eigh(A, UPLO="L"):
    """(eigenvalues, eigenvectors) of symmetric A (its lower triangle, or upper with UPLO="U"), ascending."""
    return A._eigh(UPLO)


def eigvalsh(A, UPLO="L"):
    return A._eigh(UPLO).eigenvalues


def svd(A, full_matrices=True):
    """(U, S, Vh) with A = U diag(S) Vh, S descending."""
    return A._svd(full_matrices)


def svdvals(A):
    return A._svd(full_matrices=False).S


def slogdet(A):
    """(sign, logabsdet): det A = sign · exp(logabsdet), without overflowing."""
    return A.slogdet()


def pinv(A, *, atol=None, rtol=None, hermitian=False):
    """The Moore–Penrose pseudo-inverse; singular values at or below max(atol, rtol · σ₁) count as 0."""
    return A._pinv(atol, rtol, hermitian)


def matrix_power(A, n):
    return A.matrix_power(n)


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False):
    return A._matrix_rank(atol, rtol, hermitian)


def cross(input, other, *, dim=-1):
    """The cross product of 3-vectors along dim, input and other broadcast (with as many dimensions)."""
    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    return input.cross(other, dim=dim)


def vecdot(x, y, *, dim=-1):
    """The dot product of x and y along dim (broadcast together)."""
    return (x * y).sum(dim=dim)


def multi_dot(tensors):
    """A chain of matrix products in the cheapest order (a first or last vector is a row or column)."""
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    first, last = tensors[0].ndim == 1, tensors[-1].ndim == 1
    chain = [tensors[0].unsqueeze(0) if first else tensors[0], *tensors[1:-1],
             tensors[-1].unsqueeze(-1) if last else tensors[-1]]
    for i, t in enumerate(chain):
        if t.ndim != 2:
            raise RuntimeError(f"multi_dot(): tensor {i} must be 2D (the first and last may be 1D), got {t.ndim}D")
    sizes = [chain[0].shape[0]] + [t.shape[1] for t in chain]
    cost, split = {}, {}
    for length in range(1, len(chain)):  # the cheapest way to multiply chain[i..j], shortest runs first
        for i in range(len(chain) - length):
            j = i + length
            cost[i, j], split[i, j] = min((cost.get((i, s), 0) + cost.get((s + 1, j), 0)
                                           + sizes[i] * sizes[s + 1] * sizes[j + 1], s) for s in range(i, j))

    def product(i, j):
        return chain[i] if i == j else product(i, split[i, j]) @ product(split[i, j] + 1, j)

    result = product(0, len(chain) - 1)
    result = result.squeeze(-1) if last else result
    return result.squeeze(0) if first else result


def lstsq(A, B, rcond=None, *, driver=None):
    """(solution, residuals, rank, singular_values) of the least-squares problem A X ≈ B."""
    return A._lstsq(B, rcond, driver)

# %%
def test_unit_decompositions():
    """Checks the given decompositions on 2×2 and 3×2 matrices worked by hand: their values, and
    gradients from calculus (∂ log|det A| = A⁻ᵀ, ∂ Σλ = I, ∂ Σσ = U Vh, Cholesky's ∂L₁₁ where
    L₁₁ = √(a₁₁ - a₁₀²/a₀₀), split evenly between a₁₀ and a₀₁ as A is symmetric)."""
    a = Tensor([[4.0, 2.0], [2.0, 3.0]], requires_grad=True)
    low = cholesky(a)
    assert np.allclose(low.data, [[2.0, 0.0], [1.0, math.sqrt(2.0)]]) and low.dtype == np.float32
    low[1, 1].backward()
    root = 2 * math.sqrt(2.0)
    assert np.allclose(a.grad.data, [[1 / (4 * root), -1 / (2 * root)], [-1 / (2 * root), 1 / root]])
    assert np.allclose(eigvalsh(a).data, [(7 - math.sqrt(17)) / 2, (7 + math.sqrt(17)) / 2])
    values, vectors = eigh(a)
    assert np.allclose((vectors.data * values.data) @ vectors.data.T, a.data, atol=1e-5)
    a.grad = None
    eigvalsh(a).sum().backward()
    assert np.allclose(a.grad.data, np.eye(2)), "the sum of the eigenvalues is the trace"
    a.grad = None
    sign, logabsdet = slogdet(a)
    logabsdet.backward()
    assert sign.item() == 1.0 and np.isclose(logabsdet.item(), math.log(8.0))
    assert np.allclose(a.grad.data, np.array([[3.0, -2.0], [-2.0, 4.0]]) / 8), "A⁻ᵀ"
    b = Tensor([[3.0, 0.0], [0.0, -2.0]], requires_grad=True)
    svdvals(b).sum().backward()
    assert np.allclose(svdvals(b).data, [3.0, 2.0]) and np.allclose(b.grad.data, [[1.0, 0.0], [0.0, -1.0]])
    q, r = qr(Tensor([[3.0, 1.0], [4.0, 2.0]]))
    assert np.allclose(np.abs(r.data), [[5.0, 11 / 5], [0.0, 0.4]]) and np.allclose((q @ r).data, [[3, 1], [4, 2]])
    assert np.allclose(pinv(Tensor([[3.0], [4.0]])).data, [[3 / 25, 4 / 25]])
    shear = Tensor([[1.0, 1.0], [0.0, 1.0]])
    assert shear.matrix_power(5).data.tolist() == [[1, 5], [0, 1]] and np.allclose(
        shear.matrix_power(-1).data, [[1, -1], [0, 1]])
    assert matrix_rank(Tensor([[1.0, 2.0], [2.0, 4.0]])).item() == 1
    line = lstsq(Tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]]), Tensor([[1.0], [2.0], [4.0]])).solution
    assert np.allclose(line.data, [[5 / 6], [1.5]]), "the least-squares line through (0,1), (1,2), (2,4)"
    tall = Tensor(np.arange(6.0).reshape(3, 2) + np.eye(3, 2), requires_grad=True)
    try:  # full_matrices=True's third column of U: any unit vector orthogonal to the other two
        svd(tall).U[:, 2].sum().backward()
    except RuntimeError as err:
        assert "full_matrices=False" in str(err)
    else:
        raise AssertionError("the gradient of U's extra columns (full_matrices=True) must be refused")

if __name__ == "__main__":
    test_unit_decompositions()

# %% [markdown]
# ## Triangular solves, LU and the matrix exponential
#
# Also given: the rest of `torch.linalg` that has real results. `solve_triangular` solves
# T X = B (or X T = B, `left=False`) for a triangular T (`upper`, and `unitriangular`: a diagonal
# of ones that is not read); its `SolveTriangularOp` has SolveOp's gradients, kept to T's triangle
# (the other entries are never read). `lu_factor` is Gaussian elimination with partial pivoting
# (the largest entry of each column is swapped up): A = P L U, returned packed as LU (L's unit
# diagonal left out) with LAPACK's pivots (1-based row swaps, int32). Its `LuOp` gradient comes
# from Pᵀ dA = dL U + L dU: L⁻¹ Pᵀ dA U⁻¹ = L⁻¹ dL + dU U⁻¹, strictly lower plus upper, so
# gA = P L⁻ᵀ (tril₋₁(Lᵀ gL) + triu(gU Uᵀ)) U⁻ᵀ for a square A (a wide or tall one adds a block). `lu` unpacks (P, L, U) and `lu_solve`
# solves with two triangular solves: both are compositions, so their gradients come for free.
#
# `matrix_exp` (`MatrixExpOp`) is e^A = Σ Aᵏ/k!: scaling and squaring, e^A = (e^(A/2ˢ))^(2ˢ), with
# 2ˢ ≥ 2‖A‖₁ so that 18 Taylor terms of e^(A/2ˢ) reach float64's precision. Its gradient is the
# upper-right block of exp([[Aᵀ, g], [0, Aᵀ]]) (the derivative of e^A along g, transposed).
# `cond`, `vander`, `diagonal`, `matmul`, `tensorinv` and `tensorsolve` are compositions; so are
# `matrix_norm` (every PyTorch ord: "fro", "nuc" and ±2 from the singular values, ±1 and ±inf from
# column and row sums of |A|, ties sharing the gradient as amax's do) and `linalg.norm`, which picks
# a matrix norm for a pair of dims (or a 2-D input with an ord) and a vector norm otherwise;
# `inv_ex`, `cholesky_ex`, `solve_ex` and `lu_factor_ex` also return `info` (0 where the matrix
# could be factored; with `check_errors=False` they raise nothing and give NaN for the others).
# Skipped: `eig`/`eigvals` (complex results), `ldl_*` and `householder_product`.

# %%
#| export
_lu_factor_result = namedtuple("lu_factor", ["LU", "pivots"])
_lu_factor_ex_result = namedtuple("lu_factor_ex", ["LU", "pivots", "info"])
_lu_result = namedtuple("lu", ["P", "L", "U"])
_ex_result = namedtuple("ex_result", ["result", "info"])


def _triangle(a, upper, unitriangular):
    t = np.triu(a) if upper else np.tril(a)
    if unitriangular:
        eye = np.eye(a.shape[-2], a.shape[-1], dtype=bool)
        t = np.where(eye, np.ones((), a.dtype), t)
    return t


class SolveTriangularOp(Function):
    """X with T X = B, T the triangle of A; G_B = T⁻ᵀ g and G_A = -G_B Xᵀ, kept to the entries of A read."""

    @staticmethod
    def forward(ctx, a, b, upper=False, unitriangular=False):
        t = _triangle(a, upper, unitriangular)
        x = np.linalg.solve(t, b)
        ctx.save_for_backward(t, x)
        ctx.upper, ctx.unit = upper, unitriangular
        return x

    @staticmethod
    def backward(ctx, grad):
        t, x = ctx.saved_tensors
        grad_b = np.linalg.solve(_mT(t), grad)
        grad_t = -grad_b @ _mT(x)
        grad_t = np.triu(grad_t, int(ctx.unit)) if ctx.upper else np.tril(grad_t, -int(ctx.unit))
        return grad_t, grad_b


def _solve_triangular(self, other, upper, left=True, unitriangular=False):
    a, b = _promoted(self, other, floating=True)
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"linalg.solve_triangular: A {a.shape} must be square matrices and B {b.shape} matrices")
    if not left:  # X T = B is Tᵀ Xᵀ = Bᵀ, with the other triangle
        return _solve_triangular(a.mT, b.mT, not upper, True, unitriangular).mT
    if a.shape[-1] != b.shape[-2]:
        raise RuntimeError(f"linalg.solve_triangular: incompatible shapes of A {a.shape} and B {b.shape}")
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a, b = a.expand(*batch, *a.shape[-2:]), b.expand(*batch, *b.shape[-2:])
    return SolveTriangularOp.apply(a, b, upper=upper, unitriangular=unitriangular)


def _lu_numpy(a):
    """Partial pivoting, batched: (LU packed, LAPACK's 1-based pivots, perm with A[perm] = L U)."""
    lu = np.array(a, copy=True)
    m, n = lu.shape[-2:]
    batch = lu.shape[:-2]
    perm = np.broadcast_to(np.arange(m), (*batch, m)).copy()
    pivots = np.zeros((*batch, min(m, n)), dtype=np.int32)
    index = np.indices(batch) if batch else ()
    for k in range(min(m, n)):
        p = k + np.argmax(np.abs(lu[..., k:, k]), axis=-1)
        pivots[..., k] = p + 1
        rows_k, rows_p = lu[(*index, k)].copy(), lu[(*index, p)].copy()
        lu[(*index, k)], lu[(*index, p)] = rows_p, rows_k
        perm_k, perm_p = perm[..., k].copy(), perm[(*index, p)].copy()
        perm[..., k], perm[(*index, p)] = perm_p, perm_k
        pivot = lu[..., k, k:k + 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(pivot != 0, lu[..., k + 1:, k] / np.where(pivot != 0, pivot, 1), 0)
        lu[..., k + 1:, k] = factor
        lu[..., k + 1:, k + 1:] -= factor[..., :, None] * lu[..., k, None, k + 1:]
    return lu, pivots, perm


def _pivots_to_perm(pivots, m):
    """The row order perm (A[perm] = L U) that LAPACK's sequential swaps make."""
    pivots = np.asarray(pivots) - 1
    batch = pivots.shape[:-1]
    perm = np.broadcast_to(np.arange(m), (*batch, m)).copy()
    index = np.indices(batch) if batch else ()
    for k in range(pivots.shape[-1]):
        p = pivots[..., k]
        perm_k, perm_p = perm[..., k].copy(), perm[(*index, p)].copy()
        perm[..., k], perm[(*index, p)] = perm_p, perm_k
    return perm


class LuOp(Function):
    """LU (packed) with A = P L U, P given by perm (rows reordered: A[perm] = L U); see above for gA.
    A wide A = P L [U₁ U₂] also has U₂ = L⁻¹ Pᵀ A₂, a tall one L₂ = (Pᵀ A)₂ U⁻¹: their gradients reach
    A₂ (L⁻ᵀ gU₂, gL₂ U⁻ᵀ) and, through L (U), the square part's formula."""

    @staticmethod
    def forward(ctx, a, packed=None, perm=None):
        ctx.save_for_backward(packed, perm)
        return packed

    @staticmethod
    def backward(ctx, grad):
        packed, perm = ctx.saved_tensors
        m, n = packed.shape[-2:]
        k = min(m, n)
        low = np.tril(packed[..., :, :k], -1) + np.eye(m, k, dtype=packed.dtype)
        up = np.triu(packed[..., :k, :])
        g_low, g_up = np.tril(grad[..., :, :k], -1), np.triu(grad[..., :k, :])
        lower = _mT(low[..., :k, :]) @ g_low[..., :k, :]
        upper = g_up[..., :, :k] @ _mT(up[..., :, :k])
        if n > k:  # wide: U₂ = L⁻¹ Pᵀ A₂ depends on L
            lower = lower - g_up[..., :, k:] @ _mT(up[..., :, k:])
        if m > k:  # tall: L₂ = (Pᵀ A)₂ U⁻¹ depends on U
            upper = upper - _mT(low[..., k:, :]) @ g_low[..., k:, :]
        inner = np.tril(lower, -1) + np.triu(upper)
        low_t, up_t = _mT(low[..., :k, :]), _mT(up[..., :, :k])
        permuted = np.linalg.solve(low_t, _right_solve(up_t, inner))  # L⁻ᵀ inner U⁻ᵀ = (Pᵀ gA)₁
        if n > k:
            permuted = np.concatenate([permuted, np.linalg.solve(low_t, g_up[..., :, k:])], axis=-1)
        if m > k:
            permuted = np.concatenate([permuted, _right_solve(up_t, g_low[..., k:, :])], axis=-2)
        grad_a = np.empty_like(permuted)
        np.put_along_axis(grad_a, np.broadcast_to(perm[..., None], permuted.shape), permuted, axis=-2)
        return grad_a


def _lu_factor_ex(self, pivot=True, check_errors=False):
    if not pivot:
        raise RuntimeError("linalg.lu_factor: LU without pivoting is not implemented on the CPU")
    a = _matrices("linalg.lu_factor", self)
    packed, pivots, perm = _lu_numpy(a.data)
    k = min(a.shape[-2:])
    singular = np.diagonal(packed, axis1=-2, axis2=-1)[..., :k] == 0
    info = np.where(singular.any(axis=-1), singular.argmax(axis=-1) + 1, 0).astype(np.int32)
    if check_errors and info.any():
        raise RuntimeError(f"linalg.lu_factor_ex: U[{info.max()},{info.max()}] is zero, singular U.")
    lu = LuOp.apply(a, packed=packed, perm=perm)
    return _lu_factor_ex_result(lu, Tensor._wrap(pivots), Tensor._wrap(info))


def _permute_rows(b, perm, inverse=False):
    """Pᵀ b = b[perm] (or, inverse=True, P b) for a batch of row orders."""
    if inverse:
        perm = np.argsort(perm, axis=-1)
    index = np.broadcast_to(perm[..., None], (*b.shape[:-2], b.shape[-2], b.shape[-1]))
    return b.gather(-2, Tensor._wrap(np.ascontiguousarray(index).astype(np.int64)))


def _lu_solve(lu, pivots, b, left=True, adjoint=False):
    lu, b = _promoted(lu, b, floating=True)
    if not left:  # X A = B: Aᵀ Xᵀ = Bᵀ
        return _lu_solve(lu, pivots, b.mT, True, not adjoint).mT
    batch = np.broadcast_shapes(lu.shape[:-2], b.shape[:-2], tuple(pivots.shape[:-1]))
    lu, b = lu.expand(*batch, *lu.shape[-2:]), b.expand(*batch, *b.shape[-2:])
    perm = np.broadcast_to(_pivots_to_perm(_data(pivots), lu.shape[-1]), (*batch, lu.shape[-1]))
    if adjoint:  # Aᵀ = Uᵀ Lᵀ Pᵀ: X = P L⁻ᵀ U⁻ᵀ B
        y = _solve_triangular(lu.mT, b, upper=False)
        return _permute_rows(_solve_triangular(lu.mT, y, upper=True, unitriangular=True), perm, inverse=True)
    y = _solve_triangular(lu, _permute_rows(b, perm), upper=False, unitriangular=True)
    return _solve_triangular(lu, y, upper=True)


def _lu(self, pivot=True):
    lu, pivots, _ = _lu_factor_ex(self, pivot)
    m, n = lu.shape[-2:]
    k = min(m, n)
    eye = Tensor._wrap(np.eye(m, k, dtype=lu.dtype))
    low, up = lu[..., :, :k].tril(-1) + eye, lu[..., :k, :].triu()
    perm = _pivots_to_perm(pivots.data, m)
    p = np.zeros((*perm.shape, m), dtype=lu.dtype)
    np.put_along_axis(p, perm[..., None, :], 1, axis=-2)  # P[perm[i], i] = 1
    return _lu_result(Tensor._wrap(p), low, up)


def _expm(a):
    """e^a for a batch of square float arrays: scaling and squaring with 18 Taylor terms."""
    norm = np.abs(a).sum(axis=-2).max(axis=-1, initial=0.0)
    with np.errstate(divide="ignore"):
        s = np.maximum(0, np.ceil(np.log2(np.maximum(norm, 1e-300) / 0.5))).astype(int)
    x = a / (2.0 ** s)[..., None, None]
    eye = np.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), a.shape)
    result = eye.copy()
    for k in range(18, 0, -1):  # Horner: I + x/1 (I + x/2 (I + ...))
        result = eye + (x @ result) / k
    for step in range(int(s.max(initial=0))):
        result = np.where((step < s)[..., None, None], result @ result, result)
    return result.astype(a.dtype)


class MatrixExpOp(Function):
    """e^A; gA = the upper-right n×n block of exp([[Aᵀ, g], [0, Aᵀ]])."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _expm(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        n = a.shape[-1]
        block = np.zeros((*a.shape[:-2], 2 * n, 2 * n), dtype=a.dtype)
        block[..., :n, :n] = block[..., n:, n:] = _mT(a)
        block[..., :n, n:] = grad
        return _expm(block)[..., :n, n:]


def _matrix_exp(self):
    return MatrixExpOp.apply(_square("linalg.matrix_exp")(self))


def _matrix_norm(a, ord):
    """The matrix norms of `cond`: "fro", "nuc", ±2 (singular values), ±1 (columns), ±inf (rows)."""
    if ord == "fro":
        return (a * a).sum(dim=(-2, -1)).sqrt()
    if ord == "nuc":
        return a._svd(full_matrices=False).S.sum(dim=-1)
    if ord in (2, -2):
        s = a._svd(full_matrices=False).S
        return s.amax(dim=-1) if ord == 2 else s.amin(dim=-1)
    if ord in (1, -1, math.inf, -math.inf):
        sums = a.abs().sum(dim=-2 if abs(ord) == 1 else -1)
        return sums.amax(dim=-1) if ord > 0 else sums.amin(dim=-1)
    raise RuntimeError(f"linalg.cond got an invalid norm type: {ord}")


def _linalg_matrix_norm(self, ord="fro", dim=(-2, -1), keepdim=False, dtype=None):
    """linalg.matrix_norm: PyTorch's checks, then the two `dim`s moved last for `_matrix_norm` (and put
    back as size-1 dimensions with keepdim). Its gradients come from abs/sum/amax (ties share) or SvdOp."""
    if self.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    if not self.is_floating_point():
        raise RuntimeError(f"linalg.matrix_norm: Expected a floating point or complex tensor as input. Got {self.dtype}")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {dim}")
    if not (ord in ("fro", "nuc") if isinstance(ord, str) else
            isinstance(ord, (int, float)) and not isinstance(ord, bool) and ord in (1, -1, 2, -2, math.inf, -math.inf)):
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    for d in dim:
        if not -self.ndim <= d < self.ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-self.ndim}, {self.ndim - 1}], "
                             f"but got {d})")
    rows, columns = dim[0] % self.ndim, dim[1] % self.ndim
    if rows == columns:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
    a = self
    if dtype is not None:
        if np.promote_types(self.dtype, dtype) != np.dtype(dtype):
            raise RuntimeError(f"linalg.matrix_norm: the dtype of the input ({self.dtype}) should be convertible "
                               f"without narrowing to the specified dtype ({np.dtype(dtype)})")
        a = a.to(dtype)
    if ord == "fro":
        return a.norm(dim=(rows, columns), keepdim=keepdim)
    a = a.movedim((rows, columns), (-2, -1))
    if 0 in a.shape[-2:]:  # empty matrices: norm 0, but a negative ord's minimum over no sums is an error
        m, n = a.shape[-2:]
        if ord in (-1, -2, -math.inf) and {-1: n, -2: 0, -math.inf: m}[ord] == 0:
            raise IndexError("amin(): Expected reduction dim -1 to have non-zero size.")
        out = (a * 0).sum(dim=(-2, -1))
    else:
        out = _matrix_norm(a, ord)
    if keepdim:
        for d in sorted((rows, columns)):
            out = out.unsqueeze(d)
    return out


Tensor._linalg_matrix_norm = _linalg_matrix_norm


def _cond(self, p=None):
    a = _matrices("linalg.cond", self)
    if p is None or p in (2, -2):
        s = a._svd(full_matrices=False).S
        big, small = s.amax(dim=-1), s.amin(dim=-1)
        return big / small if p in (None, 2) else small / big
    a = _square("linalg.cond")(a)
    return _matrix_norm(a, p) * _matrix_norm(a.inverse(), p)


def _checked(name, info, check_errors, message):
    """(result, info) of an `_ex` function: raise (check_errors) or give NaN where info is not 0."""
    info = np.asarray(info, dtype=np.int32)
    if info.any() and check_errors:
        raise RuntimeError(f"{name}: {message}")
    return info


def _singular_info(a):
    packed, _, _ = _lu_numpy(a)
    zero = np.diagonal(packed, axis1=-2, axis2=-1) == 0
    return np.where(zero.any(axis=-1), zero.argmax(axis=-1) + 1, 0).astype(np.int32)


def _with_nan(tensor, bad):
    """tensor, but NaN in the matrices where `bad` (a boolean per matrix) holds."""
    if not bad.any():
        return tensor
    nan = Tensor._wrap(np.full(tensor.shape, np.nan, dtype=tensor.dtype))
    return where(Tensor._wrap(np.broadcast_to(bad.reshape(bad.shape + (1,) * (tensor.ndim - bad.ndim)),
                                              tensor.shape).copy()), nan, tensor)


def _safe_input(a, bad):
    """a with the identity put in for the matrices where `bad` holds (so the forward raises nothing)."""
    if not bad.any():
        return a
    eye = Tensor._wrap(np.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), a.shape).copy())
    return where(Tensor._wrap(np.broadcast_to(bad[..., None, None], a.shape).copy()), eye, a)


def _inv_ex(self, check_errors=False):
    a = _square("linalg.inv_ex")(self)
    info = _checked("linalg.inv_ex", _singular_info(a.data), check_errors, "the matrix is singular")
    return _ex_result(_with_nan(_safe_input(a, info != 0).inverse(), info != 0), Tensor._wrap(info))


def _cholesky_info(a):
    """The order of the first leading minor that is not positive definite (1-based; 0: none)."""
    flat = a.reshape(-1, *a.shape[-2:])
    info = np.zeros(len(flat), dtype=np.int32)
    for i, matrix in enumerate(flat):
        try:
            np.linalg.cholesky(matrix)
        except np.linalg.LinAlgError:
            info[i] = next(k for k in range(1, len(matrix) + 1)
                           if not _positive_definite(matrix[:k, :k]))
    return info.reshape(a.shape[:-2])


def _positive_definite(matrix):
    try:
        np.linalg.cholesky(matrix)
        return True
    except np.linalg.LinAlgError:
        return False


def _cholesky_ex(self, upper=False, check_errors=False):
    a = _square("linalg.cholesky_ex")(self)
    info = _checked("linalg.cholesky_ex", _cholesky_info(a.data), check_errors,
                    "The factorization could not be completed because the input is not positive-definite.")
    low = _with_nan(_safe_input(a, info != 0).cholesky(), info != 0)
    return _ex_result(low.mT if upper else low, Tensor._wrap(info))


def _solve_ex(self, other, left=True, check_errors=False):
    a, b = _promoted(_square("linalg.solve_ex")(self), other, floating=True)
    info = _checked("linalg.solve_ex", _singular_info(a.data), check_errors,
                    "The solver failed because the input matrix is singular.")
    safe = _safe_input(a, info != 0)
    x = safe._solve(b) if left else safe.mT._solve(b.mT).mT
    return _ex_result(_with_nan(x, info != 0), Tensor._wrap(info))


def _lu_factor(self, pivot=True):
    lu, pivots, _ = _lu_factor_ex(self, pivot)
    return _lu_factor_result(lu, pivots)


def _linalg_vander(self, N=None):
    """Columns x⁰, x¹, …, x^(N-1) of x's last dimension (repeated products: differentiable everywhere)."""
    if N is not None and N < 1:
        raise RuntimeError("N must be greater than 1.")
    n = self.shape[-1] if N is None else N
    columns = [Tensor._wrap(np.ones(self.shape, dtype=self.dtype))]
    for _ in range(n - 1):
        columns.append(columns[-1] * self)
    return stack(columns, dim=-1)


def _tensorinv(self, ind=2):
    rows, columns = self.shape[:ind], self.shape[ind:]
    if ind <= 0 or math.prod(rows) != math.prod(columns):
        raise RuntimeError("Expected self to satisfy the requirement prod(self.shape[ind:]) == "
                           f"prod(self.shape[:ind]), but got {math.prod(columns)} != {math.prod(rows)}")
    return self.reshape(math.prod(rows), math.prod(columns)).inverse().reshape(*columns, *rows)


def _tensorsolve(self, other, dims=None):
    a = self
    if dims is not None:
        dims = [d % a.ndim for d in dims]
        a = a.permute(*[d for d in range(a.ndim) if d not in dims], *dims)
    rest = a.shape[other.ndim:]
    if math.prod(rest) != math.prod(other.shape):
        raise RuntimeError(f"Expected self to satisfy the requirement prod(self.shape[other.ndim:]) == "
                           f"prod(self.shape[:other.ndim]), but got {math.prod(rest)} != {math.prod(other.shape)}")
    return a.reshape(math.prod(other.shape), math.prod(rest))._solve(other.reshape(-1)).reshape(*rest)


Tensor.matrix_exp = _matrix_exp
Tensor._solve_triangular, Tensor._lu_factor_ex, Tensor._lu, Tensor._cond = (
    _solve_triangular, _lu_factor_ex, _lu, _cond)
Tensor._inv_ex, Tensor._cholesky_ex, Tensor._solve_ex = _inv_ex, _cholesky_ex, _solve_ex
Tensor._lu_factor, Tensor._lu_solve, Tensor._linalg_vander = _lu_factor, _lu_solve, _linalg_vander
Tensor._tensorinv, Tensor._tensorsolve = _tensorinv, _tensorsolve

# %%
#| export core.linalg
def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    """X with T X = B (X T = B with left=False), T the upper or lower triangle of A (unit diagonal: unitriangular)."""
    return A._solve_triangular(B, upper, left, unitriangular)


def lu_factor(A, *, pivot=True):
    """(LU, pivots): A = P L U packed (L's unit diagonal left out), pivots LAPACK's 1-based row swaps."""
    return A._lu_factor(pivot)


def lu_factor_ex(A, *, pivot=True, check_errors=False):
    """(LU, pivots, info): info 0, or the (1-based) index of U's first zero pivot."""
    return A._lu_factor_ex(pivot, check_errors)


def lu(A, *, pivot=True):
    """(P, L, U) with A = P L U: P a permutation, L unit lower triangular, U upper triangular."""
    return A._lu(pivot)


def lu_solve(LU, pivots, B, *, left=True, adjoint=False):
    """X with A X = B (Aᵀ X = B: adjoint; X A = B: left=False), A given by lu_factor's (LU, pivots)."""
    return LU._lu_solve(pivots, B, left, adjoint)


def matrix_exp(A):
    """e^A = Σ Aᵏ/k! of (a batch of) square matrices."""
    return A.matrix_exp()


def cond(A, p=None):
    """The condition number ‖A‖ ‖A⁻¹‖ (p None or 2: σ_max/σ_min; -2: σ_min/σ_max; "fro", "nuc", ±1, ±inf)."""
    return A._cond(p)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """The ord-norm of each matrix (over the two dims): "fro", "nuc" (Σ σ), 2/-2 (largest/smallest σ),
    1/-1 (largest/smallest column sum of |A|), inf/-inf (largest/smallest row sum)."""
    return A._linalg_matrix_norm(ord, dim, keepdim, dtype)


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.norm: a matrix norm when dim is a pair, or when ord is given without dim (then A must be
    1-D, a vector norm, or 2-D, a matrix norm); otherwise a vector norm over dim (every entry by default)."""
    if dtype is not None:
        A = A.to(dtype)
    if isinstance(dim, int):
        dim = (dim,)
    if dim is None and ord is not None:
        if A.ndim not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
                               f"Got {A.ndim}D.")
        dim = tuple(range(A.ndim))
    if (dim is not None and len(dim) == 2) or isinstance(ord, str):
        return matrix_norm(A, "fro" if ord is None else ord, dim if dim is not None else (-2, -1), keepdim)
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim)


def vander(x, N=None):
    """The Vandermonde matrix of x's last dimension: columns x⁰, x¹, …, x^(N-1) (N: x's length)."""
    return x._linalg_vander(N)


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    return A.diagonal(offset, dim1, dim2)


def matmul(input, other):
    return input @ other


def tensorinv(A, ind=2):
    """The inverse of A read as a (prod shape[:ind]) × (prod shape[ind:]) matrix, shaped shape[ind:] + shape[:ind]."""
    return A._tensorinv(ind)


def tensorsolve(A, B, dims=None):
    """X with tensordot(A, X, X.ndim) = B (A's dims, if given, moved to the end first)."""
    return A._tensorsolve(B, dims)


def inv_ex(A, *, check_errors=False):
    """(inverse, info): info 0 for an invertible matrix, else the (1-based) zero pivot, and no error."""
    return A._inv_ex(check_errors)


def cholesky_ex(A, *, upper=False, check_errors=False):
    """(L, info): info 0, or the order of the first leading minor that is not positive-definite."""
    return A._cholesky_ex(upper, check_errors)


def solve_ex(A, B, *, left=True, check_errors=False):
    """(X, info) of linalg.solve (left=False: X A = B)."""
    return A._solve_ex(B, left, check_errors)

# %%
def test_unit_triangular_lu_and_exp():
    """Hand-worked: a 2×2 triangular solve and its gradient, the LU of [[1, 2], [3, 4]] (rows swapped:
    L = [[1, 0], [1/3, 1]], U = [[3, 4], [0, 2/3]]), and e^[[0, 1], [0, 0]] = [[1, 1], [0, 1]]."""
    t = Tensor([[2.0, 0.0], [1.0, 4.0]], requires_grad=True)
    x = solve_triangular(t, Tensor([[2.0], [9.0]]), upper=False)
    assert np.allclose(x.data, [[1.0], [2.0]])
    x.sum().backward()  # g_B = T⁻ᵀ 1 = [3/8, 1/4]; g_T = -g_B xᵀ, lower triangle
    assert np.allclose(t.grad.data, [[-3 / 8, 0.0], [-0.25, -0.5]])
    lu_, pivots = lu_factor(Tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert pivots.data.tolist() == [2, 2] and pivots.dtype == np.int32
    assert np.allclose(lu_.data, [[3.0, 4.0], [1 / 3, 2 / 3]])
    p, low, up = lu(Tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert np.allclose((p @ low @ up).data, [[1.0, 2.0], [3.0, 4.0]])
    assert np.allclose(lu_solve(lu_, pivots, Tensor([[5.0], [11.0]])).data, [[1.0], [2.0]])
    a = Tensor([[0.0, 1.0], [0.0, 0.0]], requires_grad=True)
    e = matrix_exp(a)
    assert np.allclose(e.data, [[1.0, 1.0], [0.0, 1.0]])
    e[0, 0].backward()  # d(e^A)₀₀ along E₁₀ is 1/2: e^A = I + A + A²/2, A·E₁₀ + E₁₀·A has (0,0) entry 1
    assert np.allclose(a.grad.data, [[1.0, 0.0], [0.5, 0.0]])
    assert np.isclose(cond(Tensor([[3.0, 0.0], [0.0, -2.0]])).item(), 1.5)
    result, info = inv_ex(Tensor([[1.0, 2.0], [2.0, 4.0]]))
    assert info.item() == 2 and np.isnan(result.data).all()

if __name__ == "__main__":
    test_unit_triangular_lu_and_exp()

# %% [markdown]
# ## A few more of `torch.*`
#
# Also given, and again mostly a line or two of the operations above: `vdot`, `ger`, `addbmm`,
# `chain_matmul`, `diag_embed`, `diagflat`, `vander`, `cov` (with `correction`, `fweights` and
# `aweights`), `corrcoef`, `trapezoid`/`trapz`, `take_along_dim`, `msort`, `ravel`,
# `randint_like`; the dtype rules `can_cast` and `promote_types` (module 01's promotion); the
# global generator's `seed`, `initial_seed`, `get_rng_state` and `set_rng_state` (NumPy's global
# generator, which `manual_seed` seeds: its state travels as a uint8 tensor, as PyTorch's);
# `scatter_reduce` (a `ScatterReduceOp`: each position's gradient goes to the values that made it:
# all of them for a sum, 1/count each for a mean, the product of the others for a product, and an
# even share to those equal to the extreme for amax/amin); and `logcumsumexp` (a `LogcumsumexpOp`).
#
# The gradient of `logcumsumexp`, out_i = log Σ_(j≤i) exp(x_j), is
# ∂/∂x_j = Σ_(i≥j) g_i · exp(x_j - out_i). Summed as written, exp(-out_i) overflows for inputs of
# a few hundred. Instead each term is exp(x_j + log g_i - out_i): a reversed log-cumsum-exp of
# log g - out, done once for the positive and once for the negative part of g; every exponent is
# then at most log Σ|g|, whatever the size of the inputs.

# %%
#| export
def vdot(input, other):
    """The dot product of two 1-D tensors (for real numbers, torch.dot)."""
    return input.dot(other)


def ger(input, vec2):
    """The outer product (torch.ger, PyTorch's old name for outer)."""
    return input.outer(vec2)


def _addbmm(self, batch1, batch2, *, beta=1, alpha=1):
    """beta · self + alpha · Σ_b batch1[b] @ batch2[b]."""
    return beta * self + alpha * (batch1 @ batch2).sum(dim=0)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    return _addbmm(input, batch1, batch2, beta=beta, alpha=alpha)


def chain_matmul(*matrices):
    """The product of the matrices, left to right (deprecated in PyTorch for linalg.multi_dot)."""
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    if any(m.ndim != 2 for m in matrices):
        raise RuntimeError("chain_matmul(): Expected all tensors to be 2D")
    return functools.reduce(lambda left, right: left @ right, matrices)


def _diag_embed(self, offset=0, dim1=-2, dim2=-1):
    """Each vector of the last dimension on the `offset` diagonal of a matrix in dims dim1, dim2 (new)."""
    ndim = self.ndim + 1
    dim1, dim2 = dim1 % ndim, dim2 % ndim
    if dim1 == dim2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    n = self.shape[-1]
    size = n + abs(offset)
    rows, columns = np.indices((size, size))
    on = columns - rows == offset
    entry = np.minimum(np.minimum(rows, columns), max(n - 1, 0))  # which entry of the vector each cell reads
    if n == 0:
        return self.new_zeros(*self.shape[:-1], size, size).movedim([-2, -1], [dim1, dim2])
    matrices = where(Tensor._wrap(on), self[..., Tensor._wrap(entry)], self.new_zeros(()))
    return matrices.movedim([-2, -1], [dim1, dim2])


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    return _diag_embed(input, offset, dim1, dim2)


def diagflat(input, offset=0):
    """The flattened input on the `offset` diagonal of a square matrix."""
    return input.reshape(-1).diag(offset)


def vander(x, N=None, increasing=False):
    """The Vandermonde matrix of a 1-D x: columns x^(N-1), ..., x, 1 (reversed with increasing=True)."""
    if x.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    powers = np.arange(n) if increasing else np.arange(n - 1, -1, -1)
    dtype = x.dtype if x.dtype.kind != "b" else np.int64
    return x.to(dtype).unsqueeze(-1) ** Tensor._wrap(powers.astype(dtype))


def _cov(self, *, correction=1, fweights=None, aweights=None):
    """The covariance of the variables in the rows (observations in the columns; a 1-D tensor is one
    variable). fweights count each observation that often, aweights weigh it, as torch.cov."""
    if self.ndim > 2:
        raise ValueError(f"cov(): expected input to have two or fewer dimensions but got an input with {self.ndim} "
                         "dimensions")
    x = self.reshape(1, -1) if self.ndim < 2 else self
    x = x if x.is_floating_point() else x.float()
    weights = None
    for name, w in (("fweights", fweights), ("aweights", aweights)):
        if w is None:
            continue
        if w.ndim > 1 or w.numel() != x.shape[1]:
            raise RuntimeError(f"cov(): expected {name} to have one dimension with {x.shape[1]} elements")
        if name == "fweights" and w.is_floating_point():
            raise RuntimeError("cov(): expected fweights to have integral dtype")
        if bool((w.data < 0).any()):
            raise RuntimeError(f"cov(): {name} cannot be negative")
        w = w.to(x.dtype)
        weights = w if weights is None else weights * w
    total = x.new_tensor(float(x.shape[1])) if weights is None else weights.sum()
    mean = (x.mean(dim=1, keepdim=True) if weights is None else (x * weights).sum(dim=1, keepdim=True) / total)
    if aweights is None:
        factor = total - correction
    else:
        factor = total - correction * (weights * aweights.to(x.dtype)).sum() / total
    factor = factor.clamp(min=0)
    centred = x - mean
    spread = (centred if weights is None else centred * weights) @ centred.mT / factor
    return spread.reshape(()) if x.shape[0] == 1 else spread  # one variable: a 0-d tensor, as PyTorch


def cov(input, *, correction=1, fweights=None, aweights=None):
    return _cov(input, correction=correction, fweights=fweights, aweights=aweights)


def _corrcoef(self):
    """Pearson's correlation coefficients of the rows, clipped to [-1, 1] as PyTorch's."""
    c = _cov(self)
    if c.ndim == 0:
        return c / c
    spread = c.diagonal().sqrt()
    return (c / spread.unsqueeze(1) / spread.unsqueeze(0)).clamp(-1, 1)


def corrcoef(input):
    return _corrcoef(input)


def trapezoid(y, x=None, *, dx=None, dim=-1):
    """The trapezoid rule along dim: samples y at points x (a 1-D x spaces all of them alike), or dx apart."""
    if x is not None and dx is not None:
        raise TypeError("trapezoid() received both x and dx: give one of them")
    n = y.shape[dim]
    if not n:  # no intervals: zeros, in y's dtype (as PyTorch)
        return y.sum(dim=dim) * 0
    middle = (y.narrow(dim, 1, n - 1) + y.narrow(dim, 0, n - 1)) * 0.5
    if x is None:
        return middle.sum(dim=dim) * (1 if dx is None else dx)
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim == 1:
        if x.shape[0] != n:
            raise RuntimeError(f"trapezoid: There must be one `x` value for each sample point, got {x.shape[0]} "
                               f"and {n}")
        x = x.reshape(*[-1 if d == dim % y.ndim else 1 for d in range(y.ndim)])
    steps = x.narrow(dim, 1, n - 1) - x.narrow(dim, 0, n - 1)
    return (steps * middle).sum(dim=dim)


def trapz(y, x=None, *, dx=None, dim=-1):
    return trapezoid(y, x, dx=dx, dim=dim)


def _take_along_dim(self, indices, dim=None):
    """The entries at `indices` along dim (input and indices broadcast, but for dim); None: the flattened."""
    if dim is None:
        return self.reshape(-1)[indices.reshape(-1)]
    dim %= self.ndim
    if indices.ndim != self.ndim:
        raise RuntimeError("torch.take_along_dim(): input and indices should have the same number of dimensions, "
                           f"but got {self.ndim} dimensions for input, and {indices.ndim} dimensions for indices")
    shape = list(np.broadcast_shapes(*([n for d, n in enumerate(t.shape) if d != dim] for t in (self, indices))))
    source = self.expand(*shape[:dim], self.shape[dim], *shape[dim:])
    picked = Tensor._wrap(np.broadcast_to(indices.data, (*shape[:dim], indices.shape[dim], *shape[dim:])).copy())
    return source.gather(dim, picked)


def take_along_dim(input, indices, dim=None):
    return _take_along_dim(input, indices, dim)


_REDUCE_STARTS = {"sum": 0, "mean": 0, "prod": 1, "amax": -np.inf, "amin": np.inf}


class ScatterReduceOp(Function):
    """self with src's entries combined at `index` along dim by sum, prod, mean, amax or amin, self's own
    value among them unless include_self=False. Each output's gradient goes back to what made it: every
    contributor for a sum, 1/count each for a mean, the product of the other contributors for a product
    (exact with zeros: counted, never divided by), an even share among the winners for amax/amin."""

    @staticmethod
    def forward(ctx, a, src, dim=0, index=None, reduce="sum", include_self=True):
        where = _scatter_positions(index, dim)
        corner = src[tuple(slice(0, n) for n in index.shape)]
        hit = np.zeros(a.shape, dtype=bool)
        hit[where] = True
        own = np.ones(a.shape, bool) if include_self else ~hit  # where self's own value counts
        start = _REDUCE_STARTS[reduce]
        if a.dtype.kind != "f" and reduce in ("amax", "amin"):
            start = np.iinfo(a.dtype).min if reduce == "amax" else np.iinfo(a.dtype).max
        out = np.where(own, a, np.asarray(start).astype(a.dtype))
        ufunc = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}[reduce]
        ufunc.at(out, where, corner)
        count = own.astype(np.int64)
        np.add.at(count, where, 1)
        if reduce == "mean":
            divisor = np.maximum(count, 1)
            out = (out / divisor).astype(a.dtype) if a.dtype.kind == "f" else out // divisor
        ctx.where, ctx.reduce, ctx.src_shape, ctx.corner_shape = where, reduce, src.shape, index.shape
        ctx.own, ctx.count = own, count
        if reduce in ("prod", "amax", "amin"):
            ctx.save_for_backward(a, corner, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        where, own = ctx.where, ctx.own
        if ctx.reduce in ("sum", "mean"):
            share = grad / np.maximum(ctx.count, 1).astype(grad.dtype) if ctx.reduce == "mean" else grad
            grad_a, grad_corner = np.where(own, share, 0).astype(grad.dtype), share[where]
        elif ctx.reduce == "prod":
            a, corner, out = ctx.saved_tensors
            zeros = (own & (a == 0)).astype(np.int64)
            np.add.at(zeros, where, corner == 0)
            rest = np.where(own & (a != 0), a, 1).astype(grad.dtype)  # the product of the non-zero contributors
            np.multiply.at(rest, where, np.where(corner == 0, 1, corner))

            def others(value, z, product):  # the product of the contributors other than `value`
                with np.errstate(divide="ignore", invalid="ignore"):
                    return np.where(value == 0, np.where(z == 1, product, 0), np.where(z == 0, product / value, 0))

            grad_a = np.where(own, grad * others(a, zeros, rest), 0).astype(grad.dtype)
            grad_corner = grad[where] * others(corner, zeros[where], rest[where])
        else:
            a, corner, out = ctx.saved_tensors
            self_wins, src_wins = own & (a == out), corner == out[where]
            winners = self_wins.astype(grad.dtype)
            np.add.at(winners, where, src_wins)
            share = grad / np.maximum(winners, 1)
            grad_a, grad_corner = np.where(self_wins, share, 0).astype(grad.dtype), np.where(src_wins, share[where], 0)
        grad_src = np.zeros(ctx.src_shape, dtype=grad.dtype)
        grad_src[tuple(slice(0, n) for n in ctx.corner_shape)] = grad_corner
        return grad_a, grad_src


def _scatter_reduce(self, dim, index, src, reduce, *, include_self=True):
    """torch.scatter_reduce: src combined into a copy of self at `index` along dim (see ScatterReduceOp)."""
    if reduce not in _REDUCE_STARTS:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    if not (index.ndim == self.ndim == src.ndim):
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    dim %= self.ndim
    if any(n > m for d, (n, m) in enumerate(zip(index.shape, src.shape))) or any(
            n > m for d, (n, m) in enumerate(zip(index.shape, self.shape)) if d != dim):
        raise RuntimeError(f"Size does not match: index {index.shape}, self {self.shape}, src {src.shape}")
    positions = np.asarray(_data(index)).astype(np.int64)
    if positions.size and (positions.min() < -self.shape[dim] or positions.max() >= self.shape[dim]):
        raise IndexError(f"index out of range for dimension {dim} of size {self.shape[dim]}")
    return ScatterReduceOp.apply(self, src.to(self.dtype), dim=dim, index=positions % max(self.shape[dim], 1),
                                 reduce=reduce, include_self=include_self)


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    return _scatter_reduce(input, dim, index, src, reduce, include_self=include_self)


def msort(input):
    """Sorted along the first dimension (torch.msort)."""
    return input.sort(dim=0).values


def ravel(input):
    return input.reshape(-1)


def seed():
    """Seed the global generator from the operating system's entropy and return the seed (torch.seed);
    `manual_seed(seed())` repeats a run. (NumPy's global generator takes seeds below 2³².)"""
    chosen = int(np.random.SeedSequence().generate_state(1)[0])
    manual_seed(chosen)
    return chosen


def initial_seed():
    """The seed that `manual_seed` or `seed()` set last (NumPy's generator starts from the operating
    system's entropy, with no number to report: before any seeding this raises)."""
    if _SEEDS["initial"] is None:
        raise RuntimeError("initial_seed(): the generator has not been seeded yet: call tinytorch.manual_seed(n) "
                           "or tinytorch.seed() first")
    return _SEEDS["initial"]


def get_rng_state():
    """The global generator's state (NumPy's MT19937: its 624 words, position and cached normal) as a
    uint8 tensor, as torch.get_rng_state; set_rng_state puts it back."""
    _, words, position, has_gauss, gauss = np.random.get_state()
    parts = [np.asarray(words, np.uint32), np.array([position, has_gauss], np.int64), np.array([gauss], np.float64)]
    return Tensor._wrap(np.concatenate([p.view(np.uint8) for p in parts]))


def set_rng_state(new_state):
    """Restore a state from get_rng_state()."""
    raw = np.ascontiguousarray(_data(new_state))
    if raw.dtype != np.uint8 or raw.shape != (624 * 4 + 3 * 8,):
        raise RuntimeError("set_rng_state: expected the uint8 tensor that get_rng_state() returns")
    position, has_gauss = raw[2496:2512].view(np.int64)
    np.random.set_state(("MT19937", raw[:2496].view(np.uint32), int(position), int(has_gauss),
                         float(raw[2512:].view(np.float64)[0])))


def randint_like(input, low=0, high=None, *, dtype=None):
    """Random integers in [low, high) in input's shape and (by default) dtype: randint_like(input, high)
    or randint_like(input, low, high)."""
    if high is None:
        low, high = 0, low
    draws = np.random.randint(low, high, size=input.shape)
    return Tensor._wrap(draws.astype(input.dtype if dtype is None else dtype))


def can_cast(from_, to):
    """Whether PyTorch's casting rules allow from_ → to: never to a lower kind (float → int, int → bool)."""
    return _CATEGORY[np.dtype(from_).kind] <= _CATEGORY[np.dtype(to).kind]


def promote_types(type1, type2):
    """The dtype two tensors of these dtypes promote to (module 01's rule, as torch.promote_types)."""
    return _promote_types(np.dtype(type1), np.dtype(type2))


class LogcumsumexpOp(Function):
    """out_i = log Σ_(j≤i) exp(x_j), NumPy's logaddexp.accumulate (stable). Its gradient
    Σ_(i≥j) g_i exp(x_j - out_i) is summed in logs, split by the sign of g, so that no exponent
    exceeds log Σ|g| (see the text above)."""

    @staticmethod
    def forward(ctx, a, dim=0):
        out = np.logaddexp.accumulate(a, axis=dim) if a.size else a.copy()
        ctx.dim = dim
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        if not a.size:
            return np.zeros_like(a)

        def from_the_end(logs):  # log Σ_(i≥j) exp(logs_i), along dim
            return np.flip(np.logaddexp.accumulate(np.flip(logs, ctx.dim), axis=ctx.dim), ctx.dim)

        with np.errstate(divide="ignore", invalid="ignore"):
            up = from_the_end(np.log(np.maximum(grad, 0)) - out)
            down = from_the_end(np.log(np.maximum(-grad, 0)) - out)
            return (np.exp(a + up) - np.exp(a + down)).astype(grad.dtype)  # NaN at a leading -inf, as PyTorch


def _logcumsumexp(self, dim):
    if not self.is_floating_point():
        raise NotImplementedError(f'"logcumsumexp" not implemented for {self.dtype}: convert to a float dtype first')
    return LogcumsumexpOp.apply(self, dim=dim % max(self.ndim, 1))


def logcumsumexp(input, dim):
    return input.logcumsumexp(dim)


Tensor.vdot, Tensor.ger, Tensor.addbmm = vdot, ger, _addbmm
Tensor.diag_embed, Tensor.diagflat = _diag_embed, diagflat
Tensor.cov, Tensor.corrcoef = _cov, _corrcoef
Tensor.take_along_dim, Tensor.scatter_reduce = _take_along_dim, _scatter_reduce
Tensor.msort, Tensor.ravel = msort, ravel
Tensor.logcumsumexp = _logcumsumexp


def _elementwise_op(name, function, derivative, doc):
    """A Function of one float tensor: `function` forward, grad · `derivative`(a) back (NaN / inf as NumPy, silently)."""
    def forward(ctx, a):
        ctx.save_for_backward(a)
        with np.errstate(invalid="ignore", divide="ignore"):
            return function(a)

    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return (grad * derivative(a)).astype(grad.dtype, copy=False)
    return type(name, (Function,), {"__doc__": doc, "forward": staticmethod(forward),
                                    "backward": staticmethod(backward)})


AsinOp = _elementwise_op("AsinOp", np.arcsin, lambda x: 1 / np.sqrt(1 - x * x), "arcsin; derivative 1/√(1 − x²).")
AcosOp = _elementwise_op("AcosOp", np.arccos, lambda x: -1 / np.sqrt(1 - x * x), "arccos; derivative −1/√(1 − x²).")
AtanhOp = _elementwise_op("AtanhOp", np.arctanh, lambda x: 1 / (1 - x * x), "artanh; derivative 1/(1 − x²).")
AsinhOp = _elementwise_op("AsinhOp", np.arcsinh, lambda x: 1 / np.sqrt(x * x + 1), "arsinh; derivative 1/√(x² + 1).")
AcoshOp = _elementwise_op("AcoshOp", np.arccosh, lambda x: 1 / np.sqrt(x * x - 1), "arcosh; derivative 1/√(x² − 1).")


class LogitOp(Function):
    """log(p / (1 − p)), p clamped to [eps, 1 − eps] when eps is given. Its derivative 1/(p(1 − p)) is 0
    outside [eps, 1 − eps] (with eps) and NaN outside [0, 1] (without), as PyTorch."""

    @staticmethod
    def forward(ctx, a, eps=None):
        ctx.save_for_backward(a)
        ctx.eps = eps
        p = a if eps is None else np.clip(a, eps, 1 - eps)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.log(p / (1 - p))

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = grad / (a * (1 - a))
        if ctx.eps is None:
            return np.where((a < 0) | (a > 1), np.nan, slope).astype(grad.dtype, copy=False)
        return np.where((a < ctx.eps) | (a > 1 - ctx.eps), 0, slope).astype(grad.dtype, copy=False)


def _times_log_op(name, log, pole):
    """The Function of x · log(y − pole), written with ``log`` (np.log for xlogy, pole 0; np.log1p for
    xlog1py, pole −1): 0 where x = 0 (unless y is NaN). Gradients as PyTorch: log(...) for x (0 where
    x = 0 and y ≤ pole), x / (y − pole) for y."""

    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(np.isnan(y), np.nan, np.where(x == 0, 0, x * log(y))).astype(np.result_type(x, y))

    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        with np.errstate(invalid="ignore", divide="ignore"):
            grad_x = np.where(np.isnan(y), np.nan, np.where(grad == 0, 0, grad * log(y)))
            grad_x = np.where((x == 0) & (y <= pole), 0, grad_x)
            return grad_x.astype(grad.dtype, copy=False), (grad * x / (y - pole)).astype(grad.dtype, copy=False)

    return type(name, (Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward),
                                    "__doc__": f"x · {log.__name__}(y), 0 where x = 0 (unless y is NaN)."})


XlogyOp = _times_log_op("XlogyOp", np.log, 0)


def _logit(self, eps=None):
    """log(p / (1 − p)), the inverse of sigmoid; eps clamps p to [eps, 1 − eps] first."""
    return LogitOp.apply(self if self.is_floating_point() else self.float(), eps=eps)


def _xlogy(self, other):
    """x · log(y) with 0 · log(0) = 0 (torch.xlogy); numbers allowed on either side."""
    return XlogyOp.apply(*_promoted(self, other, floating=True))


def xlogy(input, other):
    """torch.xlogy: input · log(other), 0 where input is 0; either may be a number."""
    return _xlogy(input if isinstance(input, Tensor) else Tensor._wrap(np.asarray(input)), other)


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Whether each of `elements` is among `test_elements` (either may be a number), as a bool tensor."""
    found = np.isin(_data(elements), _data(test_elements), assume_unique=assume_unique, invert=invert)
    return Tensor._wrap(np.asarray(found))


def broadcast_tensors(*tensors):
    """The tensors expanded to their common broadcast shape (views: gradients sum back)."""
    shape = np.broadcast_shapes(*(t.shape for t in tensors))
    return tuple(t.expand(*shape) for t in tensors)


def _tensor_split(self, indices_or_sections, dim=0):
    """Split along `dim` into n near-equal parts (the first size % n one longer) or at a list of indices."""
    if self.ndim == 0:
        raise RuntimeError("tensor_split expects at least a 1-dimensional tensor, but got a 0-d tensor")
    size = self.shape[dim]
    if isinstance(indices_or_sections, Tensor):
        indices_or_sections = indices_or_sections.item() if indices_or_sections.ndim == 0 \
            else indices_or_sections.tolist()
    if isinstance(indices_or_sections, (int, np.integer)):
        n = int(indices_or_sections)
        if n <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {n}")
        lengths = [size // n + (1 if i < size % n else 0) for i in range(n)]
        cuts = list(np.cumsum([0] + lengths))
    else:
        cuts = [0, *indices_or_sections, size]
    index = [slice(None)] * self.ndim
    pieces = []
    for start, end in zip(cuts[:-1], cuts[1:]):
        index[dim] = slice(int(start), int(end))
        pieces.append(self[tuple(index)])
    return tuple(pieces)


def _even_split(dim_of, name):
    """hsplit / vsplit: tensor_split along a fixed dim; a number of sections must divide it evenly."""
    def method(self, indices_or_sections):
        dim = dim_of(self)
        if isinstance(indices_or_sections, int) and self.shape[dim] % max(indices_or_sections, 1):
            raise RuntimeError(f"torch.{name} attempted to split along dimension {dim}, but the size of the "
                               f"dimension {self.shape[dim]} is not divisible by {indices_or_sections}")
        return _tensor_split(self, indices_or_sections, dim)
    return method


def _hsplit_dim(self):
    if self.ndim < 1:
        raise RuntimeError("torch.hsplit requires a tensor with at least 1 dimension, but got a 0-d tensor")
    return 1 if self.ndim > 1 else 0


def _vsplit_dim(self):
    if self.ndim < 2:
        raise RuntimeError(f"torch.vsplit requires a tensor with at least 2 dimension, but got a {self.ndim}-d tensor")
    return 0


Tensor.asin = Tensor.arcsin = _floating(_apply_of(AsinOp))
Tensor.acos = Tensor.arccos = _floating(_apply_of(AcosOp))
Tensor.atanh = Tensor.arctanh = _floating(_apply_of(AtanhOp))
Tensor.asinh = Tensor.arcsinh = _floating(_apply_of(AsinhOp))
Tensor.acosh = Tensor.arccosh = _floating(_apply_of(AcoshOp))
Tensor.signbit = lambda self: Tensor._wrap(np.signbit(self.data) if self.dtype != np.bool_ else np.zeros(self.shape, bool))
Tensor.logit, Tensor.xlogy = _logit, _xlogy
Tensor.floor_divide = lambda self, other: self // other
Tensor.tensor_split = _tensor_split
Tensor.hsplit, Tensor.vsplit = _even_split(_hsplit_dim, "hsplit"), _even_split(_vsplit_dim, "vsplit")

# %%
def test_unit_more_torch_functions():
    """Checks the given `vdot`, `ger`, `addbmm`, `diag_embed`, `vander`, `cov`, `corrcoef`, `trapezoid`,
    `take_along_dim`, `scatter_reduce`, `logcumsumexp` and the generator's state on numbers worked by
    hand, and the gradients of `scatter_reduce` ("mean") and of `logcumsumexp` at 1000, where
    exp(1000) would overflow: d/dx_j Σ_i out_i = Σ_(i≥j) exp(x_j - out_i) = 1 + ½ and ½."""
    assert vdot(Tensor([1.0, 2.0, 3.0]), Tensor([4.0, 5.0, 6.0])).item() == 32.0
    assert ger(Tensor([1.0, 2.0]), Tensor([3.0, 4.0])).data.tolist() == [[3, 4], [6, 8]]
    assert addbmm(Tensor(np.zeros((2, 2))), Tensor(np.ones((3, 2, 1))), Tensor(np.ones((3, 1, 2)))).data.tolist() == [
        [3, 3], [3, 3]]
    assert diag_embed(Tensor([1.0, 2.0]), offset=1).data.tolist() == [[0, 1, 0], [0, 0, 2], [0, 0, 0]]
    assert vander(Tensor([1, 2, 3])).data.tolist() == [[1, 1, 1], [4, 2, 1], [9, 3, 1]]
    rows = Tensor([[0.0, 1.0, 2.0], [0.0, 2.0, 4.0]])
    assert np.allclose(cov(rows).data, [[1, 2], [2, 4]]) and np.allclose(corrcoef(rows).data, 1)
    assert trapezoid(Tensor([1.0, 2.0, 3.0])).item() == 4.0
    assert trapezoid(Tensor([1.0, 2.0, 3.0]), Tensor([0.0, 1.0, 3.0])).item() == 6.5
    assert take_along_dim(Tensor([[1.0, 9.0], [8.0, 2.0]]), Tensor([[1], [0]]), dim=1).data.tolist() == [[9], [8]]
    x, index, src = Tensor([10.0, 20.0, 30.0], requires_grad=True), Tensor([0, 0, 1]), Tensor([1.0, 2.0, 4.0])
    assert x.scatter_reduce(0, index, src, "sum").data.tolist() == [13, 24, 30]
    assert x.scatter_reduce(0, index, src, "amin").data.tolist() == [1, 4, 30]
    assert x.scatter_reduce(0, index, src, "amax", include_self=False).data.tolist() == [2, 4, 30]
    x.scatter_reduce(0, index, src, "mean").sum().backward()  # (10+1+2)/3, (20+4)/2, 30 alone
    assert np.allclose(x.grad.data, [1 / 3, 1 / 2, 1])
    big = Tensor([1000.0, 1000.0], dtype=np.float64, requires_grad=True)  # float32 holds 1000 only to 6e-5
    out = big.logcumsumexp(0)
    out.sum().backward()
    assert np.allclose(out.data, [1000, 1000 + math.log(2)]) and np.allclose(big.grad.data, [1.5, 0.5])
    state = get_rng_state()
    first = np.random.random(3)
    set_rng_state(state)
    assert np.array_equal(np.random.random(3), first), "the same state draws the same numbers"
    assert promote_types(np.int8, np.uint8) == np.int16 and not can_cast(np.float32, np.int64)


if __name__ == "__main__":
    test_unit_more_torch_functions()

# %% [markdown]
# ### More of PyTorch's functions, given: quantiles, mode, bitwise operations, lgamma and digamma
#
# `quantile(q, dim)` sorts and reads the value at rank `q · (n − 1)`; between two ranks the
# "linear" interpolation mixes the two neighbours with `lerp`, so the gradient goes to those
# two elements (as PyTorch's), and "lower", "higher", "nearest" and "midpoint" round the
# rank or mix half and half. `nanquantile` / `nanmedian` count only the non-NaN values.
# `mode` is the most frequent value (the smallest among equally frequent ones), with the
# index of its last occurrence, as PyTorch reports it. `lgamma` (log |Γ(x)|) uses Python's
# `math.lgamma`; its derivative is `digamma` ψ(x), computed, like PyTorch, by stepping x up
# with ψ(x) = ψ(x + 1) − 1/x and then an asymptotic series; ψ's own derivative, the trigamma
# function ψ′(x), is built the same way.

# %%
#| export
_nanmedian_result = namedtuple("nanmedian", ["values", "indices"])
_mode_result = namedtuple("mode", ["values", "indices"])
_QUANTILE_MODES = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(self, q, dim=None, keepdim=False, *, interpolation="linear", ignore_nan=False):
    """The q-quantiles along `dim` (of all elements when None); q a number or a 1-D tensor, whose
    quantiles then make a new first dimension. A NaN makes the quantile NaN unless `ignore_nan`."""
    name = "nanquantile" if ignore_nan else "quantile"
    if not self.is_floating_point():
        raise RuntimeError(f"{name}() input tensor must be either float or double dtype")
    if self.numel() == 0:
        raise RuntimeError(f"{name}() input tensor must be non-empty")
    if isinstance(q, Tensor) and q.dtype != self.dtype:
        raise RuntimeError(f"{name}() q tensor must be same dtype as the input tensor")
    qs = np.asarray(_data(q), dtype=self.dtype)
    if qs.ndim > 1:
        raise RuntimeError(f"{name}() q must be a scalar or 1D tensor")
    if ((qs < 0) | (qs > 1) | np.isnan(qs)).any():
        raise RuntimeError(f"{name}() q values must be in the range [0, 1]")
    if interpolation not in _QUANTILE_MODES:
        raise RuntimeError(f"{name}() interpolation must be one of {', '.join(_QUANTILE_MODES)}, "
                           f"but got {interpolation}")
    whole = dim is None or self.ndim == 0
    if not whole and not -self.ndim <= dim < self.ndim:
        raise IndexError(f"{name}(): dim {dim} is out of range for a tensor of {self.ndim} dimensions")
    ordered = (self.reshape(-1) if whole else self.movedim(dim, -1)).sort(dim=-1).values  # NaN last
    nan, last = np.isnan(ordered.data), ordered.shape[-1] - 1
    with np.errstate(invalid="ignore"):
        if ignore_nan:  # the rank among the non-NaN values (0 when all are NaN: the quantile is NaN)
            ranks = np.maximum(qs.reshape(-1) * ((~nan).sum(axis=-1, keepdims=True) - 1).astype(self.dtype), 0)
        else:  # a NaN: the last rank, which holds a NaN
            ranks = np.where(nan.any(axis=-1, keepdims=True), last, qs.reshape(-1) * self.dtype.type(last))
    ranks = np.broadcast_to(ranks, ordered.shape[:-1] + (qs.size,)).astype(self.dtype)
    ranks = {"lower": np.floor, "higher": np.ceil, "nearest": np.round}.get(interpolation, lambda r: r)(ranks)
    below = ranks.astype(np.int64)
    values = ordered.gather(-1, Tensor._wrap(below))
    if interpolation in ("linear", "midpoint"):
        weights = np.full_like(ranks, 0.5) if interpolation == "midpoint" else ranks - below
        above = ordered.gather(-1, Tensor._wrap(np.ceil(ranks).astype(np.int64)))
        values = values.lerp(above, Tensor._wrap(weights.astype(self.dtype)))
    values = values.movedim(-1, 0)  # one row per q
    if keepdim:
        values = values.reshape(qs.size, *(1,) * self.ndim) if whole else values.unsqueeze(dim % self.ndim + 1)
    return values.reshape(values.shape[1:]) if qs.ndim == 0 else values


def _nanmedian(self, dim=None, keepdim=False):
    """median() ignoring NaN: the lower middle of the non-NaN values (NaN where all are NaN);
    with `dim`, (values, indices)."""
    if dim is None:
        return MedianOp.apply(self, ignore_nan=True)
    if self.ndim == 0:
        return _nanmedian_result(self.clone(), Tensor._wrap(np.zeros((), np.int64)))
    ordered = self.sort(dim=dim, stable=True)
    count = self.shape[dim]
    nans = np.isnan(self.data).sum(axis=dim, keepdims=True) if self.is_floating_point() else 0
    at = np.maximum((count - nans - 1) // 2, 0)  # the middle of the non-NaN values, sorted first
    at = Tensor._wrap(np.broadcast_to(at, self.shape[:dim % self.ndim] + (1,) + self.shape[dim % self.ndim + 1:])
                      .astype(np.int64))
    values, indices = ordered.values.gather(dim, at), ordered.indices.gather(dim, at)
    if not keepdim:
        values, indices = values.squeeze(dim), indices.squeeze(dim)
    return _nanmedian_result(values, indices)


def _mode(self, dim=-1, keepdim=False):
    """The most frequent value along `dim` (the smallest of equally frequent ones; each NaN counts
    alone) and the index of its last occurrence; the gradient goes to that element."""
    if self.ndim == 0:
        return _mode_result(self.clone(), Tensor._wrap(np.zeros((), np.int64)))
    dim, size = dim % self.ndim, self.shape[dim]
    if size == 0:
        raise RuntimeError(f"mode(): Expected reduction dim {dim} to have non-zero size.")
    rows = np.moveaxis(self.data, dim, -1).reshape(-1, size)
    order = np.argsort(rows, axis=-1, kind="stable")
    picked = np.zeros(len(rows), dtype=np.int64)
    for r, (values, positions) in enumerate(zip(np.take_along_axis(rows, order, axis=-1), order)):
        ends = np.r_[np.flatnonzero(values[1:] != values[:-1]), size - 1]  # the last element of each run
        counts = np.diff(np.r_[-1, ends])
        picked[r] = positions[ends[np.argmax(counts)]]  # the first longest run: the smallest value
    index = Tensor._wrap(np.expand_dims(picked.reshape(np.moveaxis(self.data, dim, -1).shape[:-1]), dim))
    values = self.gather(dim, index)
    return _mode_result(values, index) if keepdim else _mode_result(values.squeeze(dim), index.squeeze(dim))


def _bitwise(ufunc, name, shift=False):
    """A bitwise operation of integer (or bool) tensors; a number on either side, as PyTorch."""
    def method(self, other):
        a, b = _promoted(self, other)
        if a.dtype.kind not in ("iu" if shift else "biu"):
            raise RuntimeError(f'"{name}" not implemented for {a.dtype}')
        return Tensor._wrap(ufunc(a.data, b.data).astype(a.dtype, copy=False))
    method.__name__ = name
    return method


def _bitwise_not(self):
    if self.dtype.kind not in "biu":
        raise RuntimeError(f'"bitwise_not" not implemented for {self.dtype}')
    return Tensor._wrap(~self.data)


def _lgamma_of(value):
    try:
        return math.lgamma(value)
    except ValueError:  # the poles 0, -1, -2, ...: log |Γ| is +inf there, as PyTorch's
        return math.inf


def _lgamma_array(x):
    if x.size == 0:
        return x.copy()
    return np.vectorize(_lgamma_of, otypes=[np.float64])(x.astype(np.float64)).astype(x.dtype)


def _digamma_array(x):
    """ψ(x) = d/dx log Γ(x): ψ(x) = ψ(x + 1) − 1/x up to x ≥ 10, then log x − 1/(2x) − Σ B₂ₖ/(2k x²ᵏ);
    x < 0 by the reflection ψ(x) = ψ(1 − x) − π / tan(πx). Poles: NaN at −1, −2, ..., ∓inf at ±0."""
    v = x.astype(np.float64)
    with np.errstate(all="ignore"):
        z, total = np.where(v < 0, 1 - v, v), np.zeros_like(v)
        for _ in range(10):
            small = z < 10
            total -= np.where(small, 1 / z, 0)
            z = np.where(small, z + 1, z)
        zz = 1 / (z * z)
        series = zz * (1 / 12 - zz * (1 / 120 - zz * (1 / 252 - zz * (1 / 240 - zz * (1 / 132 - zz * (
            691 / 32760 - zz / 12))))))
        psi = total + np.log(z) - 0.5 / z - series
        fraction = v - np.trunc(v)
        psi = np.where(v < 0, psi - np.pi / np.tan(np.pi * fraction), psi)
        psi = np.where((v < 0) & (fraction == 0) | np.isneginf(v), np.nan, psi)
        psi = np.where(v == 0, np.copysign(np.inf, -v), psi)
    return psi.astype(x.dtype)


def _trigamma_array(x):
    """ψ′(x): ψ′(x) = ψ′(x + 1) + 1/x² up to x ≥ 10, then 1/x + 1/(2x²) + Σ B₂ₖ/x²ᵏ⁺¹; x < ½ by the
    reflection ψ′(x) = π² / sin²(πx) − ψ′(1 − x) (+inf at 0, −1, −2, ...)."""
    v = x.astype(np.float64)
    with np.errstate(all="ignore"):
        z, total = np.where(v < 0.5, 1 - v, v), np.zeros_like(v)
        for _ in range(10):
            small = z < 10
            total += np.where(small, 1 / (z * z), 0)
            z = np.where(small, z + 1, z)
        iz = 1 / z
        iz2 = iz * iz
        series = iz + iz2 / 2 + iz * iz2 * (1 / 6 - iz2 * (1 / 30 - iz2 * (1 / 42 - iz2 * (1 / 30 - iz2 * (
            5 / 66 - iz2 * (691 / 2730 - iz2 * 7 / 6))))))
        trigamma = total + series
        reflected = np.pi ** 2 / np.sin(np.pi * (v - np.trunc(v))) ** 2 - trigamma
        trigamma = np.where(v < 0.5, reflected, trigamma)
    return trigamma.astype(x.dtype)


LgammaOp = _elementwise_op("LgammaOp", _lgamma_array, _digamma_array, "log |Γ(x)|; derivative ψ(x) (digamma).")
DigammaOp = _elementwise_op("DigammaOp", _digamma_array, _trigamma_array, "ψ(x); derivative ψ′(x) (trigamma).")


def _index_copy(self, dim, index, source):
    """A copy with the slices of `source` put at positions `index` along `dim` (torch.index_copy);
    the gradient reaches self where it was kept, and source."""
    if source.dtype != self.dtype:
        raise RuntimeError(f"index_copy_(): self and source expected to have the same dtype, but got (self) "
                           f"{self.dtype} and (source) {source.dtype}")
    index = np.asarray(_data(index)).astype(np.int64)
    size = self.shape[dim] if self.ndim else 1
    if ((index < 0) | (index >= size)).any():
        raise IndexError(f"index_copy_(): an index of {index.tolist()} is out of bounds for dimension {dim} with size {size}")
    return self.index_fill(dim, index, 0).index_add(dim, index, source)


def unravel_index(indices, shape):
    """The coordinates in a tensor of `shape` of each flat index (one int64 tensor per dim); a
    negative index counts from the end."""
    data = np.asarray(_data(indices))
    if data.dtype.kind not in "iu":
        raise TypeError(f"unravel_index: expected 'indices' to be integer dtype, but got {data.dtype}")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise RuntimeError(f"unravel_index: 'shape' cannot have negative values, but got {shape}")
    coordinates, rest = [], data.astype(np.int64)
    for size in reversed(shape):
        if size == 0:
            raise RuntimeError(f"unravel_index: index out of bounds for a shape {shape} with no elements")
        coordinates.append(rest % size)
        rest = rest // size
    return tuple(Tensor._wrap(c) for c in reversed(coordinates))


Tensor.quantile = lambda self, q, dim=None, keepdim=False, *, interpolation="linear": _quantile(
    self, q, dim, keepdim, interpolation=interpolation)
Tensor.nanquantile = lambda self, q, dim=None, keepdim=False, *, interpolation="linear": _quantile(
    self, q, dim, keepdim, interpolation=interpolation, ignore_nan=True)
Tensor.nanmedian, Tensor.mode = _nanmedian, _mode
Tensor.unique_consecutive = lambda self, return_inverse=False, return_counts=False, dim=None: unique_consecutive(
    self, return_inverse, return_counts, dim)
Tensor.bitwise_and = _bitwise(np.bitwise_and, "bitwise_and")
Tensor.bitwise_or = _bitwise(np.bitwise_or, "bitwise_or")
Tensor.bitwise_xor = _bitwise(np.bitwise_xor, "bitwise_xor")
Tensor.bitwise_left_shift = Tensor.__lshift__ = _bitwise(np.left_shift, "bitwise_left_shift", shift=True)
Tensor.bitwise_right_shift = Tensor.__rshift__ = _bitwise(np.right_shift, "bitwise_right_shift", shift=True)
Tensor.bitwise_not = _bitwise_not
Tensor.lgamma, Tensor.digamma = _floating(_apply_of(LgammaOp)), _floating(_apply_of(DigammaOp))
Tensor.index_copy = _index_copy
Tensor.index_copy_ = lambda self, dim, index, source: self._inplace(lambda t: t.index_copy(dim, index, source))

# %%
def test_unit_quantiles_mode_and_special_functions():
    """Checks the given `quantile` (rank q·(n−1) = 1.2 between 2 and 3: 2.2, its gradient 0.8 and 0.2 on
    those two), `nanmedian`, `mode` (the smallest most frequent value, its last index), `einsum` with a
    repeated letter (the trace, its gradient the identity), `lgamma` (Γ(5) = 24) and `digamma`
    (ψ(1) = −γ, ψ′(1) = π²/6)."""
    x = Tensor([3.0, 1.0, 2.0, 4.0], dtype=np.float64, requires_grad=True)
    out = x.quantile(0.4)
    out.backward()
    assert np.isclose(out.item(), 2.2) and np.allclose(x.grad.data, [0.2, 0, 0.8, 0])
    assert Tensor([1.0, np.nan, 3.0, 2.0]).nanmedian().item() == 2.0
    values, indices = Tensor([1, 2, 2, 3, 3, 0]).mode()
    assert values.item() == 2 and indices.item() == 2
    m = Tensor(np.arange(9.0).reshape(3, 3), dtype=np.float64, requires_grad=True)
    trace = einsum("ii", m)
    trace.backward()
    assert trace.item() == 12.0 and np.array_equal(m.grad.data, np.eye(3))
    assert np.isclose(Tensor([5.0], dtype=np.float64).lgamma().item(), math.log(24))
    one = Tensor([1.0], dtype=np.float64, requires_grad=True)
    psi = one.digamma()
    psi.backward()
    assert np.isclose(psi.item(), -0.5772156649015329) and np.isclose(one.grad.item(), math.pi ** 2 / 6)


if __name__ == "__main__":
    test_unit_quantiles_mode_and_special_functions()

# %% [markdown]
# ### Still more of PyTorch's functions, given: erfinv, polygamma, sinc, i0, the scatters and friends
#
# Elementwise functions with a derivative of their own, each one `Function`:
#
# - `erfinv` inverts the error function. NumPy has neither, so `_erf_erfc` evaluates erf and erfc
#   in float64 (a series of positive terms below 2.5, Laplace's continued fraction beyond, a few
#   ulp either way), and `erfinv` starts from Winitzki's approximation (0.2% off) and takes three
#   Halley steps on erf(x) = y, solving erfc(x) = 1 − y near ±1 where 1 − y is exact. Its
#   derivative is the reciprocal of erf′: √π/2 · exp(erfinv(y)²).
# - `sinc(x) = sin(πx)/(πx)`, 1 at 0; the derivative (πx cos πx − sin πx)/(πx²) is 0 at 0 (its limit).
# - `i0`, the modified Bessel function I₀ (NumPy's `np.i0`); its derivative is I₁, summed from its
#   power series up to |x| = 20 and from its asymptotic series beyond.
# - `polygamma(n, x)`, the n-th derivative of digamma: ψ for n = 0, ψ′ (trigamma) for n = 1 and,
#   as PyTorch, (−1)ⁿ⁺¹ n! ζ(n + 1, x) beyond, with Hurwitz's zeta ζ(s, q) = Σₖ (q + k)⁻ˢ summed
#   term by term and finished by Euler–Maclaurin. The derivative of polygamma(n) is polygamma(n + 1).
# - `copysign(x, y)`: |x| with y's sign. Its derivative for x is ±1 (the ratio result / x), 0 at
#   x = 0 as PyTorch; y only lends a sign, so its gradient is 0.
# - `logaddexp2(x, y) = log₂(2ˣ + 2ʸ)`, computed as max + log₂(1 + 2^−|x−y|) so that nothing
#   overflows; the derivative for x is 1/(1 + 2^(y−x)) (½ each where x = y).
# - `torch.special`'s `ndtr` (the normal CDF Φ(x) = ½ erfc(−x/√2), derivative the normal density),
#   `ndtri` (Φ⁻¹, from erfinv plus Newton steps on log Φ; derivative 1/density), `log_ndtr` (log Φ,
#   read from the continued fraction's logarithm far in the left tail, where Φ underflows),
#   `erfcx(x) = exp(x²) erfc(x)` (derivative 2x·erfcx(x) − 2/√π), `entr(x) = −x log x`
#   (derivative −(1 + log x)) and `xlog1py(x, y) = x · log(1 + y)` (0 where x = 0, as `xlogy`).
#
# The rest are compositions of what exists, so their gradients come for free: `deg2rad` and
# `rad2deg` multiply by a constant, `float_power` raises float64 copies (its result is always
# float64), `ldexp(x, e) = x · 2ᵉ`, and the frexp mantissa is x / 2^exponent. `select_scatter`,
# `slice_scatter` and `diagonal_scatter` write `src` into a copy of the input at one index, a
# slice or a diagonal: that is `SetItemOp`, whose gradient reaches both the input (outside the
# written part) and `src`. `masked_scatter` fills the positions where a mask is true with the
# first elements of `source`, in order; the gradient goes back the same way.
#
# Not differentiable, as in PyTorch (their results carry no gradient): `frexp`'s exponents, `gcd`
# and `lcm` (integers only), `heaviside` (0 below zero, 1 above, `values` at zero), `nextafter`,
# `isposinf`, `isneginf`, `isreal`, `histogram` (with PyTorch's evenly spaced edges, or given
# ones; the last bin includes its right edge) and `poisson` (draws from NumPy's global generator,
# the one `manual_seed` seeds). PyTorch marks the results of `heaviside` and `poisson` as needing a
# gradient (which then raises, or is 0); here they are plain tensors. And PyTorch's trigamma is
# finite at the poles −1, −2, ... in floating point (sin(πx) is not exactly 0 there); here it is +inf.

# %%
#| export
_frexp_result = namedtuple("frexp", ["mantissa", "exponent"])
_histogram_result = namedtuple("histogram", ["hist", "bin_edges"])
_TORCH_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int",
                     "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _type_name(dtype):
    """PyTorch's name of a dtype in its error messages: 'Float', 'Long', ..."""
    return repr(_TORCH_TYPE_NAMES.get(np.dtype(dtype).name, np.dtype(dtype).name))


def _needs_tensor(function, value, name="other", position=2):
    if not isinstance(value, Tensor):
        raise TypeError(f"{function}(): argument '{name}' (position {position}) must be Tensor, not "
                        f"{type(value).__name__}")


def _erfc_fraction(x):
    """Laplace's continued fraction x + ½/(x + 1/(x + (3/2)/(x + ...))), 60 levels (for x ≥ 2.5):
    erfc(x) = e^(−x²)/√π / fraction."""
    fraction = x.copy()
    for k in range(60, 0, -1):
        fraction = x + (k / 2) / fraction
    return fraction


def _erf_erfc(x):
    """(erf(x), erfc(x)) in float64, to a few ulp: below |x| = 2.5 the series of positive terms
    erf(x) = 2/√π · e^(−x²) · Σₖ (2x²)ᵏ x / (1·3···(2k+1)), beyond it Laplace's continued fraction
    erfc(x) = e^(−x²)/√π / (x + ½/(x + 1/(x + (3/2)/(x + ...)))); also the fraction's denominator."""
    v = np.asarray(x, np.float64)
    a = np.abs(v)
    with np.errstate(all="ignore"):
        near = np.where(a < 2.5, a, 0.0)
        term, total = near.copy(), near.copy()
        for k in range(1, 60):
            term = term * (2 * near * near) / (2 * k + 1)
            total = total + term
        erf_near = 2 / math.sqrt(math.pi) * np.exp(-near * near) * total
        far = np.where(a < 2.5, 2.5, a)
        fraction = _erfc_fraction(far)
        erfc_far = np.where(np.isinf(far), 0.0, np.exp(-far * far) / math.sqrt(math.pi) / fraction)
        erf_a, erfc_a = np.where(a < 2.5, erf_near, 1 - erfc_far), np.where(a < 2.5, 1 - erf_near, erfc_far)
        erf = np.where(np.isnan(v), np.nan, np.copysign(erf_a, v))
        erfc = np.where(np.isnan(v), np.nan, np.where(v < 0, 2 - erfc_a, erfc_a))
    return erf, erfc


def _log_erfc(x):
    """log erfc(x), also where erfc underflows (x ≳ 26): −x² − ½ log π − log(continued fraction)."""
    v = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        far = np.where(v >= 2.5, v, 2.5)
        fraction = _erfc_fraction(far)
        tail = -far * far - 0.5 * math.log(math.pi) - np.log(fraction)
        return np.where(v >= 2.5, tail, np.log(_erf_erfc(v)[1]))


def _erfinv_array(y):
    """erfinv in float64: Winitzki's approximation, then three Halley steps (see the text above)."""
    v = np.asarray(y, np.float64)
    a = np.abs(v)
    with np.errstate(all="ignore"):
        inside = a < 1
        p = np.where(inside, a, 0.5)
        log_term = np.log1p(-p * p)
        c = 2 / (math.pi * 0.147) + log_term / 2
        x = np.sqrt(np.sqrt(c * c - log_term / 0.147) - c)
        rest = 1 - p  # exact for p ≥ ½: near 1 the residual erfc(x) − (1 − p) keeps its digits
        for _ in range(3):
            erf, erfc = _erf_erfc(x)
            step = np.where(p < 0.5, erf - p, rest - erfc) / (2 / math.sqrt(math.pi) * np.exp(-x * x))
            x = x - step / (1 + x * step)
        out = np.where(inside, x, np.where(a == 1, np.inf, np.nan))
    return np.copysign(out, v)


def _i1_array(x):
    """I₁(x): Σₖ (x/2)^(2k+1) / (k!(k+1)!) up to |x| = 20; e^x/√(2πx) · Σₖ (−1)ᵏ aₖ/xᵏ beyond (odd)."""
    v = np.asarray(x, np.float64)
    a = np.abs(v)
    with np.errstate(all="ignore"):
        near = np.where(a <= 20, a, 0.0)
        term = near / 2
        total, square = term.copy(), term * term
        for k in range(1, 60):
            term = term * square / (k * (k + 1))
            total = total + term
        far = np.where(a > 20, a, 21.0)
        series, term = np.ones_like(far), np.ones_like(far)
        for k in range(1, 30):
            term = -term * (4 - (2 * k - 1) ** 2) / (k * 8 * far)
            series = series + term
        out = np.where(a <= 20, total, np.exp(far) / np.sqrt(2 * np.pi * far) * series)
        return np.where(np.isnan(v), np.nan, np.copysign(out, v))


_ZETA_A = (12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9, 7.47242496e10,
           -2.950130727918164224e12, 1.1646782814350067249e14, -4.5979787224074726105e15,
           1.8152105401943546773e17, -7.1661652561756670113e18)
_MACHEP = 1.11022302462515654042e-16


def _hurwitz_zeta(s, q):
    """ζ(s, q) = Σₖ (q + k)⁻ˢ for an integer s ≥ 2, step for step as PyTorch's (Cephes') zeta: terms
    until q + k > 9 (at least nine), then the Euler–Maclaurin tail; +inf at q = 0, −1, −2, ...
    All elements step together, as long as the most negative one needs."""
    q = np.asarray(q, np.float64)
    with np.errstate(all="ignore"):
        pole = (q <= 0) & (q == np.floor(q))
        total, a, b, done = q ** -s, q.copy(), np.zeros_like(q), pole.copy()
        finite = q[np.isfinite(q) & ~pole]
        steps = max(9, int(math.ceil(9 - finite.min())) + 1) if finite.size else 9
        for i in range(1, steps + 1):
            active = ~done & ((i <= 9) | (a <= 9))
            a = np.where(active, a + 1, a)
            term = a ** -s
            b, total = np.where(active, term, b), np.where(active, total + term, total)
            done |= active & (-_MACHEP * total < term) & (term < _MACHEP * total)
        w, factor, k = a, np.ones_like(q), 0.0
        tail, finished = total + b * w / (s - 1) - 0.5 * b, done.copy()
        for coefficient in _ZETA_A:
            factor, b = factor * (s + k), b / w
            correction = factor * b / coefficient
            tail = np.where(finished, tail, tail + correction)
            finished |= np.abs(correction / tail) < _MACHEP
            k += 1
            factor, b, k = factor * (s + k), b / w, k + 1
        return np.where(pole, np.inf, np.where(done, total, tail))


def _polygamma_array(n, x):
    """ψ⁽ⁿ⁾(x) computed in float64 (digamma, trigamma, or (−1)ⁿ⁺¹ n! ζ(n + 1, x)), in x's dtype."""
    if n == 0:
        return _digamma_array(x)
    if n == 1:
        return _trigamma_array(x)
    with np.errstate(all="ignore"):
        out = (1.0 if n % 2 else -1.0) * math.exp(math.lgamma(n + 1.0)) * _hurwitz_zeta(n + 1, x)
    return out.astype(x.dtype)


class ErfinvOp(Function):
    """erfinv(y); derivative √π/2 · exp(erfinv(y)²) (inf at ±1, NaN outside [−1, 1])."""

    @staticmethod
    def forward(ctx, a):
        out = _erfinv_array(a).astype(a.dtype)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        with np.errstate(over="ignore", invalid="ignore"):
            return (grad * (0.5 * math.sqrt(math.pi)) * np.exp(out * out)).astype(grad.dtype, copy=False)


def _sinc_array(a):
    product = a * math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(a == 0, 1, np.sin(product) / product).astype(a.dtype)


def _sinc_derivative(a):
    product, squared = a * math.pi, a * a * math.pi
    return np.where(squared == 0, 0, (product * np.cos(product) - np.sin(product)) / squared)


SincOp = _elementwise_op("SincOp", _sinc_array, _sinc_derivative, "sin(πx)/(πx), 1 at 0; derivative 0 at 0.")
I0Op = _elementwise_op("I0Op", lambda a: np.i0(a).astype(a.dtype), lambda a: _i1_array(a).astype(a.dtype),
                       "I₀(x), the modified Bessel function; derivative I₁(x).")
NdtrOp = _elementwise_op("NdtrOp", lambda a: (0.5 * _erf_erfc(-a * math.sqrt(0.5))[1]).astype(a.dtype),
                         lambda a: np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi),
                         "Φ(x) = ½ erfc(−x/√2), the normal CDF; derivative the normal density.")
ErfcxOp = _elementwise_op("ErfcxOp", lambda a: _erfcx_array(a).astype(a.dtype),
                          lambda a: 2 * a * _erfcx_array(a) - 2 / math.sqrt(math.pi),
                          "exp(x²) erfc(x); derivative 2x·erfcx(x) − 2/√π.")


def _erfcx_array(a):
    v = np.asarray(a, np.float64)
    with np.errstate(all="ignore"):
        far = np.where(v >= 2.5, v, 2.5)
        fraction = _erfc_fraction(far)
        near = np.exp(v * v) * _erf_erfc(v)[1]
        return np.where(v >= 2.5, np.where(np.isinf(v), 0.0, 1 / (math.sqrt(math.pi) * fraction)), near)


def _log_ndtr_array(a):
    """log Φ(x): log(½ erfc(−x/√2)) for x < −1 (by the log of the continued fraction far out), else
    log1p(−½ erfc(x/√2))."""
    t = np.asarray(a, np.float64) * math.sqrt(0.5)
    with np.errstate(all="ignore"):
        return np.where(t < -math.sqrt(0.5), _log_erfc(-t) - math.log(2), np.log1p(-0.5 * _erf_erfc(t)[1]))


class LogNdtrOp(Function):
    """log Φ(x); derivative the normal density over Φ: exp(−x²/2 − log Φ(x)) / √(2π)."""

    @staticmethod
    def forward(ctx, a):
        out = _log_ndtr_array(a)
        ctx.save_for_backward(a, out)
        return out.astype(a.dtype)

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        with np.errstate(all="ignore"):
            return (grad * np.exp(-0.5 * a.astype(np.float64) ** 2 - out) / math.sqrt(2 * math.pi)).astype(grad.dtype)


class NdtriOp(Function):
    """Φ⁻¹(p): for the smaller tail q = min(p, 1 − p) (1 − p is exact for p ≥ ½), x = √2 · erfinv(2q − 1),
    or −√(−2 log q) where that rounds to −inf, then Newton steps on log Φ(x) = log q (log Φ is concave:
    they converge from below, also far in the tail). Derivative √(2π) · exp(x²/2). −inf at 0, +inf at 1,
    NaN outside [0, 1]."""

    @staticmethod
    def forward(ctx, a):
        p = np.asarray(a, np.float64)
        with np.errstate(all="ignore"):
            inside = (p > 0) & (p < 1)
            q = np.where(inside, np.where(p < 0.5, p, 1 - p), 0.25)
            x = math.sqrt(2) * _erfinv_array(2 * q - 1)
            x = np.where(np.isfinite(x), x, -np.sqrt(-2 * np.log(q)))
            for _ in range(4):
                log_cdf = _log_ndtr_array(x)
                x = x - (log_cdf - np.log(q)) * math.sqrt(2 * math.pi) * np.exp(log_cdf + 0.5 * x * x)
            x = np.where(p < 0.5, x, -x)
            x = np.where(inside, x, np.where(p == 0, -np.inf, np.where(p == 1, np.inf, np.nan)))
        out = x.astype(a.dtype)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        with np.errstate(over="ignore", invalid="ignore"):
            return (grad * math.sqrt(2 * math.pi) * np.exp(0.5 * out * out)).astype(grad.dtype, copy=False)


class EntrOp(Function):
    """−x log x (0 at 0, −inf below 0); derivative −(1 + log x), as PyTorch's (+inf at 0, NaN below)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        with np.errstate(all="ignore"):
            out = np.where(a > 0, -a * np.log(a), np.where(a == 0, 0, -np.inf))
            return np.where(np.isnan(a), np.nan, out).astype(a.dtype)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        with np.errstate(all="ignore"):
            return (grad * -(1 + np.log(a))).astype(grad.dtype, copy=False)


Xlog1pyOp = _times_log_op("Xlog1pyOp", np.log1p, -1)  # log1p keeps a tiny y's digits


class PolygammaOp(Function):
    """ψ⁽ⁿ⁾(x); derivative ψ⁽ⁿ⁺¹⁾(x)."""

    @staticmethod
    def forward(ctx, a, n=1):
        ctx.n = n
        ctx.save_for_backward(a)
        return _polygamma_array(n, a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        with np.errstate(all="ignore"):
            return (grad * _polygamma_array(ctx.n + 1, a)).astype(grad.dtype, copy=False)


class CopysignOp(Function):
    """|a| with b's sign. Gradient for a: the ratio result / a (±1; 0 where a = 0, NaN at ±inf as
    PyTorch's); for b: 0."""

    @staticmethod
    def forward(ctx, a, b):
        out = np.copysign(a, b)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(a == 0, 0, out / a)
        return (grad * ratio).astype(grad.dtype, copy=False), np.zeros_like(grad)


class LogAddExp2Op(Function):
    """log₂(2ᵃ + 2ᵇ) = max + log₂(1 + 2^−|a−b|) (a where a = b = ±inf). Gradients 1/(1 + 2^(b−a))
    for a and 1/(1 + 2^(a−b)) for b."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        with np.errstate(invalid="ignore", over="ignore"):
            out = np.maximum(a, b) + np.log1p(np.exp2(-np.abs(a - b))) * (1 / math.log(2))
            return np.where(np.isinf(a) & (a == b), a, out).astype(np.result_type(a, b), copy=False)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        with np.errstate(invalid="ignore", over="ignore"):
            return ((grad / (1 + np.exp2(b - a))).astype(grad.dtype, copy=False),
                    (grad / (1 + np.exp2(a - b))).astype(grad.dtype, copy=False))


class MantissaOp(Function):
    """frexp's mantissa x / 2^exponent (in [0.5, 1)); gradient grad / 2^exponent."""

    @staticmethod
    def forward(ctx, a):
        mantissa, exponent = np.frexp(a)
        ctx.exponent = exponent
        return mantissa.astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        with np.errstate(over="ignore"):
            return (grad / np.exp2(ctx.exponent.astype(grad.dtype))).astype(grad.dtype, copy=False)


class MaskedScatterOp(Function):
    """a (broadcast with mask) with source's first elements, in order, where mask is true. The
    gradient goes to a where mask is false, and to those first elements of source."""

    @staticmethod
    def forward(ctx, a, source, mask=None):
        out = np.array(np.broadcast_to(a, mask.shape))
        count = int(mask.sum())
        out[mask] = source.reshape(-1)[:count]
        ctx.mask, ctx.count, ctx.source_shape = mask, count, source.shape
        return out

    @staticmethod
    def backward(ctx, grad):
        grad_source = np.zeros(math.prod(ctx.source_shape), dtype=grad.dtype)
        grad_source[:ctx.count] = grad[ctx.mask]
        return np.where(ctx.mask, 0, grad).astype(grad.dtype), grad_source.reshape(ctx.source_shape)


def _erfinv(self):
    return ErfinvOp.apply(self if self.is_floating_point() else self.to(np.float32))


def _copysign(self, other):
    return CopysignOp.apply(*_promoted(self, other, floating=True))


def _float_power(self, exponent):
    """self ** exponent computed in float64 (always a float64 result, as PyTorch)."""
    base = self.to(np.float64)
    return base ** (exponent.to(np.float64) if isinstance(exponent, Tensor) else exponent)


def _frexp(self):
    """(mantissa, exponent): self = mantissa · 2^exponent, |mantissa| in [0.5, 1), exponent int32."""
    if not self.is_floating_point():
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    exponent = np.frexp(self.data)[1].astype(np.int32)
    return _frexp_result(MantissaOp.apply(self), Tensor._wrap(exponent))


def _ldexp(self, other):
    """self · 2^other (PyTorch's composition: mul(self, pow(2.0, other)))."""
    _needs_tensor("ldexp", other)
    return self * (2.0 ** other)


def _integer_op(ufunc, name):
    """gcd / lcm: integer tensors only (a number is refused, as PyTorch)."""
    def method(self, other):
        _needs_tensor(name, other)
        a, b = _promoted(self, other)
        if a.dtype.kind not in "iu":
            raise NotImplementedError(f'"{name}_cpu" not implemented for {_type_name(a.dtype)}')
        return Tensor._wrap(np.asarray(ufunc(a.data, b.data)).astype(a.dtype, copy=False))
    method.__name__ = name
    return method


def _heaviside(self, values):
    """0 where self < 0, 1 where self > 0, `values` where self == 0 (and 0 at NaN, as PyTorch)."""
    _needs_tensor("heaviside", values, "values")
    if values.dtype != self.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    with np.errstate(invalid="ignore"):
        out = np.where(self.data == 0, values.data, (self.data > 0).astype(self.dtype))
    return Tensor._wrap(np.asarray(out, dtype=self.dtype))


def _infinite(sign):
    def method(self):
        if self.dtype.kind != "f":
            return Tensor._wrap(np.zeros(self.shape, dtype=bool))
        return Tensor._wrap(np.asarray(self.data == sign * np.inf))
    return method


def _float_pair(self, other, name):
    """Both operands promoted; PyTorch has these only for floating dtypes."""
    _needs_tensor(name, other)
    a, b = _promoted(self, other)
    if a.dtype.kind != "f":
        raise NotImplementedError(f'"{name}_cpu" not implemented for {_type_name(a.dtype)}')
    return a, b


def _logaddexp2(self, other):
    return LogAddExp2Op.apply(*_float_pair(self, other, "logaddexp2"))


def _nextafter(self, other):
    a, b = _float_pair(self, other, "nextafter")
    return Tensor._wrap(np.asarray(np.nextafter(a.data, b.data)))


def _wrap_dim(dim, ndim):
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of [{-max(ndim, 1)}, "
                         f"{max(ndim, 1) - 1}], but got {dim})")
    return dim % max(ndim, 1)


def _write_part(self, src, key):
    """A copy of self with src written at self[key] (SetItemOp: the gradient reaches both)."""
    part = self.data[key].shape
    if tuple(src.shape) != part:
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src size = {list(src.shape)}, "
                           f"slice size = {list(part)}")
    return SetItemOp.apply(self, src.to(self.dtype), keys=(key,))


def _select_scatter(self, src, dim, index):
    """A copy of self with src as self.select(dim, index)."""
    if self.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    dim = _wrap_dim(dim, self.ndim)
    size = self.shape[dim]
    if not -size <= index < size:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(self.shape)} at dimension "
                         f"{dim}")
    return _write_part(self, src, (slice(None),) * dim + (index % size,))


def _slice_scatter(self, src, dim=0, start=None, end=None, step=1):
    """A copy of self with src as self[start:end:step] along dim."""
    if self.ndim == 0:
        raise IndexError("slice() cannot be applied to a 0-dim tensor.")
    dim = _wrap_dim(dim, self.ndim)
    if step <= 0:
        raise RuntimeError("slice step must be positive")
    return _write_part(self, src, (slice(None),) * dim + (slice(start, end, step),))


def _diagonal_scatter(self, src, offset=0, dim1=0, dim2=1):
    """A copy of self with src as self.diagonal(offset, dim1, dim2) (the diagonal the last dim of src)."""
    dim1, dim2 = _wrap_dim(dim1, self.ndim), _wrap_dim(dim2, self.ndim)
    if dim1 == dim2:  # always so for fewer than two dimensions
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    n = max(0, min(self.shape[dim1] - max(-offset, 0), self.shape[dim2] - max(offset, 0)))
    others = [d for d in range(self.ndim) if d not in (dim1, dim2)]
    key = [None] * self.ndim
    for position, d in enumerate(others):  # every index an array, broadcast to diagonal()'s shape
        key[d] = np.arange(self.shape[d]).reshape([-1 if p == position else 1 for p in range(len(others) + 1)])
    key[dim1] = np.arange(n) + max(-offset, 0)
    key[dim2] = np.arange(n) + max(offset, 0)
    return _write_part(self, src, tuple(key))


def _masked_scatter(self, mask, source):
    """self (broadcast with mask) with source's elements, in order, where mask is true."""
    mask_data = np.asarray(_data(mask))
    if mask_data.dtype != np.bool_:
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with dtype "
                           f"{_type_name(mask_data.dtype)[1:-1]}")
    if source.dtype != self.dtype:
        raise RuntimeError(f"masked_scatter: expected self and source to have same dtypes but got"
                           f"{_type_name(self.dtype)[1:-1]} and {_type_name(source.dtype)[1:-1]}")
    try:
        shape = np.broadcast_shapes(self.shape, mask_data.shape)
    except ValueError:
        raise RuntimeError(f"masked_scatter: the shape of the mask {list(mask_data.shape)} does not broadcast "
                           f"with the shape of self {list(self.shape)}") from None
    mask_data = np.broadcast_to(mask_data, shape)
    if int(mask_data.sum()) > source.numel():
        raise RuntimeError("Number of elements of source < number of ones in mask")
    return MaskedScatterOp.apply(self, source, mask=mask_data)


def polygamma(n, input):
    """torch.polygamma: the n-th derivative of digamma (n = 0: digamma itself)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"polygamma(): argument 'n' (position 1) must be int, not {type(n).__name__}")
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    x = input if isinstance(input, Tensor) else Tensor(input)
    x = x if x.is_floating_point() else x.to(np.float32)
    return x.digamma() if n == 0 else PolygammaOp.apply(x, n=int(n))


def poisson(input, generator=None):
    """Poisson draws with the rates in input, in input's dtype (NumPy's global generator)."""
    if generator is not None:
        raise NotImplementedError("poisson(): tinytorch has no Generator objects: seed with tinytorch.manual_seed")
    if not input.is_floating_point():
        raise NotImplementedError(f'"poisson_cpu" not implemented for {_type_name(input.dtype)}')
    rates = input.data.astype(np.float64)
    if not (rates >= 0).all():
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    try:
        draws = np.random.poisson(rates)
    except ValueError as err:  # rates beyond ~9e18 (PyTorch returns garbage there)
        raise RuntimeError(f"invalid Poisson rate: {err}") from None
    return Tensor._wrap(np.asarray(draws).astype(input.dtype))


def _linspace_edges(low, high, bins, dtype):
    """PyTorch's linspace in dtype: from the left up to half way, from the right after."""
    step = (dtype.type(high) - dtype.type(low)) / dtype.type(bins)
    i = np.arange(bins + 1)
    with np.errstate(invalid="ignore"):
        edges = np.where(i < (bins + 1) // 2, dtype.type(low) + i.astype(dtype) * step,
                         dtype.type(high) - (bins - i).astype(dtype) * step)
    return edges.astype(dtype)


def histogram(input, bins=100, *, range=None, weight=None, density=False):
    """(hist, bin_edges): counts (or summed weights) of input's elements in `bins` equal bins over
    `range` (the data's range by default) or between the given edges; the last bin includes its
    right edge, values outside are left out. density=True divides by the total and the widths."""
    data = np.asarray(_data(input))
    if data.dtype.kind != "f":
        raise NotImplementedError(f'"histogramdd" not implemented for {_type_name(data.dtype)}')
    flat = data.reshape(-1)
    if isinstance(bins, Tensor):
        if bins.dtype != data.dtype:
            raise RuntimeError(f"torch.histogramdd: input tensor and bins tensors should have the same dtype, but got "
                               f"input with dtype {data.dtype} and bins for dimension 0 with dtype {bins.dtype}")
        if bins.ndim != 1 or bins.numel() < 2:
            raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {max(bins.numel() - 1, 0)} for "
                               "dimension 0")
        edges = bins.data.copy()
    else:
        if bins <= 0:
            raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {bins} for dimension 0")
        if range is not None:
            low, high = float(range[0]), float(range[1])
        elif flat.size:
            low, high = float(flat.min()), float(flat.max())
        else:
            low, high = 0.0, 1.0
        if not (math.isfinite(low) and math.isfinite(high)):
            raise RuntimeError(f"torch.histogramdd: dimension 0's range [{low:g}, {high:g}] is not finite")
        if low > high:
            raise RuntimeError(f"torch.histogramdd: min should not exceed max, but got min {low:g} max {high:g} "
                               "for dimension 0")
        if low == high:
            low, high = low - 0.5, high + 0.5
        edges = _linspace_edges(low, high, int(bins), data.dtype)
    if weight is not None and tuple(weight.shape) != data.shape:
        raise RuntimeError("torch.histogramdd: if weight tensor is provided it should have the same shape as the "
                           "input tensor excluding its innermost dimension")
    count = max(edges.size - 1, 0)
    with np.errstate(invalid="ignore"):
        inside = (flat >= edges[0]) & (flat <= edges[-1])
    position = np.minimum(np.searchsorted(edges, flat[inside], side="right") - 1, count - 1)
    weights = None if weight is None else np.asarray(_data(weight)).reshape(-1)[inside].astype(np.float64)
    hist = np.bincount(position, weights=weights, minlength=count)[:count].astype(np.float64)
    if density:
        with np.errstate(invalid="ignore", divide="ignore"):
            hist = hist / (hist.sum() * np.diff(edges.astype(np.float64)))
    return _histogram_result(Tensor._wrap(hist.astype(data.dtype)), Tensor._wrap(edges))


Tensor.erfinv, Tensor.copysign, Tensor.float_power = _erfinv, _copysign, _float_power
Tensor.deg2rad = _floating(lambda self: self * (math.pi / 180))
Tensor.rad2deg = _floating(lambda self: self * (180 / math.pi))
Tensor.frexp, Tensor.ldexp, Tensor.heaviside = _frexp, _ldexp, _heaviside
Tensor.gcd, Tensor.lcm = _integer_op(np.gcd, "gcd"), _integer_op(np.lcm, "lcm")
Tensor.isposinf, Tensor.isneginf = _infinite(1), _infinite(-1)
Tensor.isreal = lambda self: Tensor._wrap(np.ones(self.shape, dtype=bool))
Tensor.logaddexp2, Tensor.nextafter = _logaddexp2, _nextafter
Tensor.sinc, Tensor.i0 = _floating(_apply_of(SincOp)), _floating(_apply_of(I0Op))
Tensor.polygamma = lambda self, n: polygamma(n, self)
Tensor.select_scatter, Tensor.slice_scatter = _select_scatter, _slice_scatter
Tensor.diagonal_scatter, Tensor.masked_scatter = _diagonal_scatter, _masked_scatter
Tensor.histogram = lambda self, bins=100, *, range=None, weight=None, density=False: histogram(
    self, bins, range=range, weight=weight, density=density)

# %%
def test_unit_erfinv_polygamma_and_scatters():
    """Checks the given functions on numbers worked by hand: erfinv(erf(0.5)) = 0.5 with derivative
    √π/2 · e^(0.25); sinc(0.5) = 2/π and its gradient 0 at 0; ψ″(1) = −2ζ(3); copysign's gradient
    (−1 where the sign flips, 0 for the sign); frexp(12) = 0.75 · 2⁴; gcd/lcm; slice_scatter's gradient
    (to the input outside the slice, to src inside); masked_scatter in order; histogram's last bin."""
    y = Tensor([math.erf(0.5)], dtype=np.float64, requires_grad=True)
    x = y.erfinv()
    x.backward()
    assert abs(x.item() - 0.5) < 1e-13 and abs(y.grad.item() - math.sqrt(math.pi) / 2 * math.exp(0.25)) < 1e-12
    s = Tensor([0.5, 0.0], dtype=np.float64, requires_grad=True)
    s.sinc().sum().backward()
    assert np.allclose(s.sinc().data, [2 / math.pi, 1]) and s.grad.data[1] == 0 and np.isclose(s.grad.data[0], -4 / math.pi)
    assert np.isclose(polygamma(2, Tensor([1.0], dtype=np.float64)).item(), -2 * 1.2020569031595942)
    a, b = Tensor([2.0, -3.0], requires_grad=True), Tensor([-1.0, -1.0], requires_grad=True)
    a.copysign(b).sum().backward()
    assert a.grad.data.tolist() == [-1, 1] and b.grad.data.tolist() == [0, 0]
    mantissa, exponent = Tensor([12.0]).frexp()
    assert mantissa.item() == 0.75 and exponent.item() == 4 and exponent.dtype == np.int32
    assert Tensor([12, -4]).gcd(Tensor([18, 6])).data.tolist() == [6, 2]
    assert Tensor([4, 0]).lcm(Tensor([6, 5])).data.tolist() == [12, 0]
    base, src = Tensor(np.zeros((2, 3)), requires_grad=True), Tensor(np.ones((2, 1)), requires_grad=True)
    out = base.slice_scatter(src, dim=1, start=1, end=2)
    (out * Tensor(np.arange(6.0).reshape(2, 3))).sum().backward()
    assert out.data.tolist() == [[0, 1, 0], [0, 1, 0]] and src.grad.data.tolist() == [[1], [4]]
    assert base.grad.data.tolist() == [[0, 0, 2], [3, 0, 5]]
    filled = Tensor([0.0, 0.0, 0.0]).masked_scatter(Tensor([True, False, True]), Tensor([7.0, 8.0, 9.0]))
    assert filled.data.tolist() == [7, 0, 8]
    hist, edges = histogram(Tensor([1.0, 2.0, 1.0, 5.0]), bins=4)
    assert hist.data.tolist() == [2, 1, 0, 1] and edges.data.tolist() == [1, 2, 3, 4, 5]


if __name__ == "__main__":
    test_unit_erfinv_polygamma_and_scatters()

# %% [markdown]
# ## Checking gradients against calculus-free arithmetic
#
# How do we know a backward is right? Compare it with a **finite difference**:
# ∂f/∂x ≈ (f(x + ε) − f(x − ε)) / 2ε, one input number at a time. It is slow (two
# forward passes per number) but needs no calculus at all, so it catches any mistake in
# a backward. We use float64 so that ε can be small without rounding noise.

# %%
#| export
def numerical_gradient(f, x, eps=1e-6):
    """∂f/∂x by central differences: `f(x)` returns a number; `x` (float64) is nudged in place."""
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f(x)
        x[i] = old - eps
        down = f(x)
        x[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


# %%
def check_gradients(fn, *shapes, seed=0):
    """Compare autograd with finite differences for `fn(*tensors) -> Tensor`."""
    __tracebackhide__ = True  # a failure points at the test's line, not inside this helper
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(0.5, 1.5, size=s) * rng.choice([-1, 1], size=s) for s in shapes]
    tensors = [Tensor(a, dtype=np.float64, requires_grad=True) for a in arrays]
    fn(*tensors).sum().backward()
    what = f"{_source_of(fn)} with inputs of shapes {', '.join(map(str, shapes))}"
    for k, (array, tensor) in enumerate(zip(arrays, tensors)):
        def scalar(x, k=k):
            inputs = [Tensor(x if j == k else a, dtype=np.float64) for j, a in enumerate(arrays)]
            return fn(*inputs).sum().item()
        expected = numerical_gradient(scalar, array.copy())
        assert tensor.grad is not None, f"{what}: input {k} got no gradient"
        error = np.abs(tensor.grad.data - expected).max()
        assert np.allclose(tensor.grad.data, expected, atol=1e-5, rtol=1e-4), (
            f"{what}: the gradient of input {k} {tuple(array.shape)} is wrong (largest error {error:.3g}):\n"
            f"autograd            {np.round(tensor.grad.data, 4).tolist()}\n"
            f"finite differences  {np.round(expected, 4).tolist()}"
        )


def _source_of(fn):
    """`lambda a: a.sigmoid()` — the expression a gradient check tested, for its message."""
    import inspect

    try:
        line = inspect.getsource(fn).strip()
    except (OSError, TypeError):
        return getattr(fn, "__name__", "the function")
    start = line.find("lambda")
    return line[start:].split(", (")[0] if start >= 0 else line


def test_unit_arithmetic_gradients():
    """Checks the backward passes of `AddOp`, `SubOp`, `MulOp`, `DivOp`, `PowOp` and `NegOp` against
    finite differences, with broadcast inputs like `(3, 4) + (4,)`; the message names the expression
    and the input whose gradient is wrong. Each backward returns one gradient per input, in input
    order: the incoming `grad` times the local derivative (d(a/b)/db = −a/b²). Do not sum to the
    input's shape yourself: `unbroadcast` does that after every backward.
    """
    check_gradients(lambda a, b: a + b, (3, 4), (4,))
    check_gradients(lambda a, b: a - b, (3, 1), (1, 4))
    check_gradients(lambda a, b: a * b, (2, 3), (2, 3))
    check_gradients(lambda a, b: a / b, (3,), (2, 3))
    check_gradients(lambda a: a ** 3, (2, 2))
    check_gradients(lambda a, b: a.abs() ** b, (2, 3), (3,))
    check_gradients(lambda a: 2 ** a, (4,))
    check_gradients(lambda a: -a * 2 + 1 - 3 / a, (4,))


if __name__ == "__main__":
    test_unit_arithmetic_gradients()

# %%
def test_unit_pow_at_zero():
    """Checks the two special cases of `PowOp.backward` from the text: `x ** 0` has gradient 0, not
    NaN, at x = 0, and in `0 ** e` the exponent gets gradient 0 where e > 0 (log 0 is −inf).
    Multiplying by 0 does not cure it (0 · inf is NaN): compute the general formula, then choose 0
    at those positions with the `np.where` family, inside `np.errstate` to keep NumPy quiet.
    """
    x = Tensor([0.0, 2.0], requires_grad=True)
    (x ** 0).sum().backward()
    assert x.grad.data.tolist() == [0.0, 0.0], "x ** 0 is flat: gradient 0, not NaN, at x = 0"
    e = Tensor([2.0, 3.0], requires_grad=True)
    (Tensor([0.0, 2.0]) ** e).sum().backward()
    assert np.allclose(e.grad.data, [0.0, 8 * np.log(2)]), "0 ** e does not change with e > 0"


if __name__ == "__main__":
    test_unit_pow_at_zero()

# %%
def test_unit_matmul_gradients():
    """Checks `MatMulOp.backward` for matrices, batches like `(2, 3, 4) @ (4, 5)`, and every case
    with a 1-D operand. G @ Bᵀ and Aᵀ @ G transpose only the *last two* axes (`np.swapaxes`; `.T`
    reverses all of them), and a vector must become a one-row or one-column matrix first, with the
    squeezed dimensions put back into `grad`, and its gradient a vector again.
    """
    check_gradients(lambda a, b: a @ b, (3, 4), (4, 2))
    check_gradients(lambda a, b: a @ b, (2, 3, 4), (4, 5))
    check_gradients(lambda a, b: a @ b, (2, 3, 4), (2, 4, 5))
    check_gradients(lambda a, b: a @ b, (4,), (4, 3))
    check_gradients(lambda a, b: a @ b, (3, 4), (4,))
    check_gradients(lambda a, b: a @ b, (4,), (4,))
    check_gradients(lambda a, b: a @ b, (4,), (2, 4, 3))
    check_gradients(lambda a, b: a @ b, (2, 3, 4), (4,))


if __name__ == "__main__":
    test_unit_matmul_gradients()

# %%
def test_unit_reduction_and_shape_gradients():
    """Checks the backward passes of `SumOp`, `MeanOp`, `MaxOp`/`MinOp`, `ReshapeOp`, `PermuteOp`
    and `GetItemOp` (and through them `var`, `std`, `.T`, `flatten`, `squeeze`). A reduction spreads
    its gradient back over the input's shape (put the reduced axes back when `keepdims` was False),
    a permutation is undone by the *inverse* permutation, and indexing must *add* the gradient at a
    repeated index (`a[[0, 0, 2]]`), which fancy assignment does not (the `np.add.at` family) — at
    `ctx.keys[-1]` in `_select(full, ctx.keys[:-1])` (module 01's `_index` keys).
    """
    check_gradients(lambda a: a.sum(axis=1), (3, 4))
    check_gradients(lambda a: a.mean(dim=0, keepdim=True) * a, (3, 4))
    check_gradients(lambda a: a.mean(), (3, 4))
    check_gradients(lambda a: a.max(axis=-1), (3, 4))
    check_gradients(lambda a: a.max(dim=-1).values + a.min(dim=0).values.sum(), (3, 4))
    check_gradients(lambda a: a.var(dim=1) + a.std(), (3, 4))
    check_gradients(lambda a: a.reshape(4, 3) @ a, (3, 4))
    check_gradients(lambda a: a.transpose(0, 2).exp(), (2, 3, 4))
    check_gradients(lambda a: a.T @ a, (3, 2))
    check_gradients(lambda a: a[1:, [0, 0, 2]], (3, 4))
    check_gradients(lambda a: a[1, :, [0, 0, 2]], (2, 3, 4))  # two keys: the integer first, as PyTorch
    check_gradients(lambda a: a.unsqueeze(1).flatten(1).squeeze(), (3, 4))


if __name__ == "__main__":
    test_unit_reduction_and_shape_gradients()

# %%
def test_unit_elementwise_gradients():
    """Checks the backward passes of `ExpOp`, `LogOp`, `SqrtOp`, `SigmoidOp`, `TanhOp` and `ReLUOp`
    (and the provided `abs` and `clamp`) against finite differences. Several forwards save their
    *output*, not their input (σ' = σ(1 − σ), tanh' = 1 − tanh²): look at what each forward put into
    `ctx.save_for_backward` before using it, and multiply the local derivative by `grad`.
    """
    check_gradients(lambda a: (a * a).log(), (3, 4))
    check_gradients(lambda a: (a * a).sqrt(), (3, 4))
    check_gradients(lambda a: a.exp(), (3,))
    check_gradients(lambda a: a.sigmoid(), (3, 4))
    check_gradients(lambda a: a.tanh(), (3, 4))
    check_gradients(lambda a: a.relu(), (3, 4))
    check_gradients(lambda a: a.abs() + a.clamp(-0.9, 1.2), (3, 4))


if __name__ == "__main__":
    test_unit_elementwise_gradients()

# %%
def test_unit_choose_and_join_gradients():
    """Checks the backward passes of `WhereOp` and `CatOp` (and through them `stack`, `masked_fill`,
    and the provided `maximum`, `minimum`, `expand`, `repeat`). `where` has three inputs, so its
    backward returns three gradients, `None` for the condition; `cat` cuts the gradient back into
    pieces of the sizes its forward recorded, along the same `dim` — the `np.split` family wants
    split *points*, not sizes.
    """
    check_gradients(lambda a, b: where(a > 0, a, b), (3, 4), (4,))
    check_gradients(lambda a, b: cat([a, b * 2], dim=1), (3, 2), (3, 4))
    check_gradients(lambda a, b: stack([a, b], dim=-1), (3, 4), (3, 4))
    check_gradients(lambda a, b: maximum(a, b) + minimum(a, b) * 2, (3, 4), (4,))
    check_gradients(lambda a: a.masked_fill(a < 0, 0.5), (3, 4))
    check_gradients(lambda a: a.expand(2, 3, 4) * a.repeat(2, 1, 2)[:, :, :4], (3, 4))
    x = Tensor([1.0, 2.0], requires_grad=True)
    maximum(x, Tensor([1.0, 0.0])).sum().backward()
    assert x.grad.data.tolist() == [0.5, 1.0], "a tie splits the gradient"


if __name__ == "__main__":
    test_unit_choose_and_join_gradients()

# %%
def test_unit_more_of_torchs_api():
    """Checks the provided `split`, `chunk`, `cumsum`, `norm`, `logsumexp`, `sort`, `topk`, `prod`,
    `flip`, `tril`/`triu`, `sin`/`cos`, `einsum`, `roll` and `index_select`: their values, and
    their gradients against finite differences. This code is provided and mostly built from your
    operations: a failure here points at the backward it goes through (`GetItemOp` for `split`,
    `chunk`, `flip`, `sort`, `topk` and `index_select`, `SumOp`/`ExpOp`/`LogOp` for
    `logsumexp`, `WhereOp` for `tril`/`triu`, `AbsOp` and `PowOp` for `norm` with p other than 2).
    """
    x = Tensor(np.arange(10.0).reshape(2, 5))
    assert [p.shape for p in x.split(2, dim=1)] == [(2, 2), (2, 2), (2, 1)]
    assert [p.shape for p in x.split([1, 4], dim=1)] == [(2, 1), (2, 4)]
    assert [p.shape for p in x.chunk(3, dim=1)] == [(2, 2), (2, 2), (2, 1)]
    assert x.cumsum(dim=1).data[1].tolist() == [5.0, 11.0, 18.0, 26.0, 35.0]
    assert float(Tensor([3.0, 4.0]).norm().data) == 5.0
    assert np.isclose(float(Tensor([1000.0, 1000.0]).logsumexp(dim=0).data), 1000.0 + math.log(2.0))
    values, indices = Tensor([3.0, 1.0, 2.0, 1.0]).sort()
    assert values.data.tolist() == [1.0, 1.0, 2.0, 3.0] and indices.data.tolist() == [1, 3, 2, 0]
    assert Tensor([3.0, 1.0, 2.0]).topk(2).indices.data.tolist() == [0, 2]
    check_gradients(lambda a: cat([p * (i + 1) for i, p in enumerate(a.split(2, dim=1))], dim=1), (3, 5))
    check_gradients(lambda a: a.chunk(2, dim=0)[1] * a.cumsum(dim=0)[:2], (4, 3))
    check_gradients(lambda a: a.norm(dim=1) + a.norm(p=1) + a.logsumexp(dim=-1), (3, 4))
    check_gradients(lambda a: a.sort(dim=1, descending=True).values * a.topk(4, dim=1).values, (3, 4))
    zero = Tensor([0.0, 0.0], requires_grad=True)
    zero.norm().backward()
    assert zero.grad.data.tolist() == [0.0, 0.0], "the length of the zero vector has gradient 0, as in PyTorch"
    assert Tensor([[1.0, 2.0], [3.0, 4.0]]).tril().data.tolist() == [[1.0, 0.0], [3.0, 4.0]]
    assert Tensor([1.0, 2.0, 3.0]).flip(0).data.tolist() == [3.0, 2.0, 1.0]
    check_gradients(lambda a: a.prod(dim=1) + a.sin().cos().sum(dim=1) + a.flip(1).triu().sum(dim=1), (3, 3))
    has_zero = Tensor([2.0, 0.0, 3.0], requires_grad=True)
    has_zero.prod().backward()
    assert has_zero.grad.data.tolist() == [0.0, 6.0, 0.0], "a zero factor: the product of the others, no 0/0"
    check_gradients(lambda a, b: einsum("ij,kj->ik", a, b) + einsum("ij->i", a)[:, None], (3, 4), (2, 4))
    check_gradients(lambda a: a.roll(1, 0) * a.index_select(1, Tensor([2, 0, 2])), (3, 3))
    w = Tensor([1.0, 2.0], requires_grad=True)
    h = w * 3
    h.retain_grad()
    (h * h + h).sum().backward()
    assert h.grad.data.tolist() == [7.0, 13.0] and h.retains_grad, "retain_grad keeps the sum over both paths"


if __name__ == "__main__":
    test_unit_more_of_torchs_api()

# %% [markdown]
# ## The rules of the graph
#
# Gradients accumulate, `zero_grad` resets them, `no_grad` builds nothing, and a
# tensor used twice gets the sum of both paths (`x * x` → 2x). A graph is walked once
# unless `retain_graph=True`; integers cannot require gradients; `.grad` holds a Tensor.

# %%
def test_unit_graph_rules():
    """Checks `Function.apply` and `_backward` together: a tensor used twice gets the sum of both
    paths, gradients accumulate across `backward()` calls, `no_grad` records nothing, only leaves
    keep `.grad`, and `grad_fn` is the node whose `function` is the op. The usual slips: a gradient
    reaching a node twice overwritten instead of added, a `.grad` on a non-leaf, or a result marked
    `requires_grad` while gradients are off.
    """
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.data.tolist() == [2.0, 4.0, 6.0], "a tensor used twice sums both paths"
    (x * 3).sum().backward()
    assert x.grad.data.tolist() == [5.0, 7.0, 9.0], "gradients accumulate"
    x.zero_grad()
    assert x.grad is None
    with no_grad():
        y = x * 2
        with enable_grad():
            assert (x * 2).requires_grad, "enable_grad switches recording back on"
    assert not y.requires_grad and y._ctx is None, "no_grad builds no graph"
    assert no_grad()(lambda t: t * 2)(x).grad_fn is None, "no_grad() decorates too"
    assert is_grad_enabled()
    w = Tensor([[1.0, 2.0]], requires_grad=True)
    h = w * 2
    (h + h).sum().backward()
    assert w.grad.data.tolist() == [[4.0, 4.0]]
    assert h.grad is None and not h.is_leaf and w.is_leaf, "only leaves keep .grad"
    assert isinstance(h.grad_fn, Context) and h.grad_fn.function is MulOp and w.grad_fn is None
    assert x.detach()._ctx is None and not x.detach().requires_grad


if __name__ == "__main__":
    test_unit_graph_rules()

# %%
def test_unit_backward_errors():
    """Checks `_backward`'s errors and options: `backward()` of a non-scalar without `gradient=`
    names the shape, a tensor that does not require grad raises, `gradient=` seeds the walk, and a
    graph is freed after one walk unless `retain_graph=True`. Free each node with
    `Context.release()` once it has passed its gradient on, and let `saved_tensors` raise PyTorch's
    error.
    """
    x = Tensor([1.0, 2.0], requires_grad=True)
    try:
        (x * 2).backward()
    except RuntimeError as err:
        assert "shape (2,)" in str(err) and "gradient" in str(err)
    else:
        raise AssertionError("backward() on a non-scalar without a gradient must raise")
    (x * 2).backward(gradient=np.array([1.0, 10.0]))
    assert x.grad.data.tolist() == [2.0, 20.0]
    try:
        Tensor([1.0]).backward()
    except RuntimeError as err:
        assert "does not require grad" in str(err)
    else:
        raise AssertionError("backward() without requires_grad must raise")
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    try:
        loss.backward()
    except RuntimeError as err:
        assert "retain_graph=True" in str(err)
    else:
        raise AssertionError("a freed graph cannot be walked a second time")


if __name__ == "__main__":
    test_unit_backward_errors()

# %%
def test_unit_deep_graph():
    """Checks that `backward()` walks a chain of 5,000 multiplications without hitting Python's
    recursion limit. The provided `_graph_order` already uses an explicit stack; if this fails, your
    `_backward` (or `apply`) calls itself, directly or not, once per node.
    """
    x = Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.data.tolist() == [1.0], "no recursion limit on deep graphs"


if __name__ == "__main__":
    test_unit_deep_graph()

# %% [markdown]
# ## In-place operations, and why autograd refuses some
#
# `p -= lr * p.grad` changes `p`'s own memory: nothing is allocated, and every alias and
# view of `p` sees the new values. Inside `no_grad()` — an optimizer's update — that is all
# there is to it. While the graph is being recorded, two things can go wrong:
#
# 1. **A leaf that requires grad.** `w += 1` on a parameter: `w` is what we differentiate
#    *with respect to*; once its value changes in place, `w.grad` would be the gradient at
#    a value `w` no longer has. PyTorch refuses it, and so do we. (Inside `no_grad()` it is
#    allowed: that is the update step.)
# 2. **A value saved for backward.** `y = x.exp()` saves `y` for its backward
#    (d eˣ/dx = eˣ = y). After `y += 1` the saved array holds eˣ + 1, and the gradient
#    would be silently wrong. Copying every saved array just in case would double the
#    memory of training. Instead every tensor carries a **version counter** (`t._version`,
#    shared with its views), which each in-place operation increments. `Function.apply`
#    records the version of every array a node saved (`_note_memory`), and backward checks
#    it (`ctx.check_versions()`): a change raises an error that names the operation. This
#    is exactly PyTorch's mechanism, and its error message.
#
# What does an allowed in-place operation do to the graph? `y += x`, on a `y` computed
# from parameters, means: new y = old y + x. We compute that out of place, on a copy that
# keeps the old value and the old `y`'s node, write the result into `y`'s memory, and move
# `y` to the new node. Tensors computed from `y` *before* the change keep pointing to its
# old node (they were computed from the old value) — that is why a node remembers its
# parents' *nodes* rather than the tensors.
#
# One limit, on purpose: an in-place change of a **view** (a slice `t[0]`, a reshape) of
# a tensor in the graph would have to rewrite the history of the tensor it views too.
# PyTorch does that with a special node; tinytorch refuses, and the message shows the
# out-of-place spelling: `t[0] = t[0] + 1` (an assignment into `t` itself is fine).
#
# Write `_inplace(self, compute)`, which every in-place operation calls while gradients are
# recorded. `compute(t)` gives the out-of-place result for a tensor `t` (for `y += x` it is
# `lambda t: t + x`):
#
# 1. a leaf that requires grad: raise PyTorch's `RuntimeError("a leaf Variable that requires
#    grad is being used in an in-place operation.")`;
# 2. `before`: a tensor holding a *copy* of `self.data`, which takes over `self`'s node and
#    flag (`_ctx`, `_requires_grad`), and `result = compute(before)`;
# 3. if the result requires grad and `self` is a view (`self._base` is not None), raise:
#    `"a view of a leaf Variable that requires grad is being used in an in-place operation."`
#    when the base is such a leaf (PyTorch's message), `_VIEW_MESSAGE` otherwise;
# 4. `_write_into(self, result)` (module 01) copies the result into `self`'s memory and
#    increments the version; then `self` takes over the result's node and flag.

# %%
#| export
_VIEW_MESSAGE = (
    "an in-place operation on a view (a slice or reshape) of a tensor that autograd records is "
    "not supported by tinytorch: assign into the tensor itself, e.g. t[0] = t[0] + 1"
)


def _inplace(self, compute):
    """`compute(self)` written into self's memory, keeping the graph right (or refusing)."""
    if not _grad_enabled:  # an optimizer update, or other bookkeeping: no graph at all
        _write_into(self, compute(self))
        return self
    ### BEGIN SOLUTION
    if self.requires_grad and self._ctx is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    before = Tensor._wrap(self.data.copy())  # the old value keeps self's old place in the graph
    before._ctx, before._requires_grad = self._ctx, self._requires_grad
    result = compute(before)
    if result.requires_grad and self._base is not None:
        if self._base.requires_grad and self._base._ctx is None:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")
        raise RuntimeError(_VIEW_MESSAGE)
    _write_into(self, result)
    self._ctx, self._requires_grad = result._ctx, result._requires_grad
    return self
    ### END SOLUTION


def _setitem_recorded(self, index, value):
    """`t[index] = value`, recorded in the graph when `t` or `value` requires grad."""
    if _grad_enabled and (self.requires_grad or (isinstance(value, Tensor) and value.requires_grad)):
        keys = _index(index)
        self._inplace(lambda t: SetItemOp.apply(t, value, keys=keys))
    else:
        _setitem(self, index, value)


Tensor._inplace, Tensor.__setitem__ = _inplace, _setitem_recorded

# %%
def test_unit_in_place_and_autograd():
    """Checks `_inplace` while gradients are recorded: `w += 1` on a leaf that requires grad raises
    (inside `no_grad()` it is allowed), `y += 1` moves `y` to a new `AddOp` node with the right
    gradient, a saved array changed in place makes backward raise, and `x[0] = 5.0` sends no
    gradient to the overwritten element. Follow the four steps of the text in order; computing on
    `self` instead of on a *copy* that takes over its node makes the graph loop onto itself.
    """
    w = Tensor([1.0, 2.0], requires_grad=True)
    try:
        w += 1
    except RuntimeError as err:
        assert "leaf Variable" in str(err)
    else:
        raise AssertionError("an in-place change of a leaf that requires grad must raise")
    alias = w
    with no_grad():
        w -= 0.5  # the optimizer's update: allowed, in place
    assert alias.data.tolist() == [0.5, 1.5] and w.is_leaf and w.requires_grad
    y = w * 2
    y += 1  # y = 2w + 1, now made by AddOp
    assert y.grad_fn.function is AddOp
    (y * y).sum().backward()  # d/dw (2w + 1)^2 = 4 (2w + 1)
    assert np.allclose(w.grad.data, 4 * (2 * np.array([0.5, 1.5]) + 1))
    e = w.exp()
    e += 1  # ExpOp saved e for its backward: now it is wrong
    try:
        e.sum().backward()
    except RuntimeError as err:
        assert "ExpOp" in str(err) and "version" in str(err)
    else:
        raise AssertionError("backward through a saved array changed in place must raise")
    w.zero_grad()
    x = w * 1
    x[0] = 5.0
    x.sum().backward()
    assert w.grad.data.tolist() == [0.0, 1.0] and x.data.tolist() == [5.0, 1.5]


if __name__ == "__main__":
    test_unit_in_place_and_autograd()

# %% [markdown]
# ## Every in-place form, and the small methods PyTorch users reach for
#
# PyTorch spells the in-place form of almost every operation with a trailing underscore:
# `x.exp_()`, `x.clamp_min_(0)`, `x.index_add_(0, i, s)`. They need no new mathematics:
# each is `self._inplace(lambda t: t.NAME(...))`, so each inherits `_inplace`'s rules —
# the result is written into `self`'s memory (every alias and view sees it) and cast to
# `self`'s dtype (an `int64` tensor cannot take `exp`'s floats: PyTorch's error), the
# version counter goes up, and a non-leaf moves to the new node so gradients stay right.
# A **leaf that requires grad** refuses, for the reason above: its gradient would belong
# to a value it no longer holds. One loop over a list of names defines them all.
#
# A few change the *shape* instead of the values (`t_`, `transpose_`, `squeeze_`,
# `unsqueeze_`, `swapaxes_`): no number moves, so `self` simply takes the out-of-place
# view's array (the same memory, seen another way) and its node, as PyTorch does. The
# random fills (`bernoulli_`, `exponential_`, ...) draw from NumPy's global generator.

# %%
#| export
_INPLACE_FORMS = (
    "abs absolute neg negative exp exp2 expm1 log log2 log10 log1p sqrt rsqrt square reciprocal "
    "sin cos tan sinh cosh tanh asin arcsin acos arccos atan arctan asinh arcsinh acosh arccosh atanh "
    "arctanh atan2 arctan2 sigmoid relu sign sgn floor ceil round trunc fix frac clamp_min clamp_max clip "
    "erf erfc erfinv lgamma digamma polygamma logit sinc i0 deg2rad rad2deg nan_to_num copysign hypot "
    "fmod remainder floor_divide true_divide divide multiply subtract lerp addcmul addcdiv xlogy ldexp "
    "gcd lcm nextafter heaviside logical_and logical_or logical_xor logical_not bitwise_and bitwise_or "
    "bitwise_xor bitwise_not bitwise_left_shift bitwise_right_shift eq ne lt le gt ge greater "
    "greater_equal less less_equal not_equal cumsum cumprod tril triu index_add index_fill scatter "
    "scatter_add scatter_reduce masked_scatter addmm addmv addr baddbmm renorm index_put put "
    "index_reduce mvlgamma float_power"
).split()
_VIEW_FORMS = ("t", "transpose", "squeeze", "unsqueeze", "swapaxes", "swapdims")


def _inplace_of(name):
    """`self.NAME_(...)`: `self.NAME(...)` written into self's memory by `_inplace`."""
    def method(self, *args, **kwargs):
        if name == "float_power" and self.dtype != np.float64:  # its result is always float64
            raise RuntimeError(f"the base given to float_power_ has dtype {self.dtype} but the "
                               "operation's result requires dtype float64")
        return self._inplace(lambda t: getattr(t, name)(*args, **kwargs))
    method.__name__ = method.__qualname__ = name + "_"
    return method


def _view_inplace_of(name):
    """`self.NAME_(...)` for a view operation: self takes the view's shape (same memory) and node."""
    def method(self, *args, **kwargs):
        if _grad_enabled and self.requires_grad and self._ctx is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        self._version_counter[0] += 1  # first: the view's node records the version it is made at
        before = Tensor._wrap(self.data)  # self's old shape and node, as the new node's input
        before._ctx, before._requires_grad, before._base = self._ctx, self._requires_grad, self._base
        before._version_counter = self._version_counter
        result = getattr(before, name)(*args, **kwargs)
        self.data = result.data  # a NumPy view of the same memory: aliases and old views still share it
        if _grad_enabled and result.requires_grad:
            self._ctx, self._requires_grad = result._ctx, result._requires_grad
        return self
    method.__name__ = method.__qualname__ = name + "_"
    return method


def _fill_diagonal_(self, fill_value, wrap=False):
    """The main diagonal (every index equal) set to fill_value, in place (torch's fill_diagonal_)."""
    if self.ndim < 2:
        raise RuntimeError("dimensions must larger than 1")
    if self.ndim > 2 and len(set(self.shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    mask = np.zeros(self.shape, dtype=bool)
    np.fill_diagonal(mask, True, wrap=wrap)
    return self.masked_fill_(Tensor._wrap(mask), fill_value)


def _continuous(name, draw):
    """A random fill of a floating tensor (PyTorch refuses integer dtypes for continuous distributions)."""
    def method(self, *args, generator=None, **kwargs):
        if self.dtype.kind != "f":
            raise RuntimeError(f"{name}: a continuous distribution needs a floating dtype, not {self.dtype}")
        return self._inplace(lambda t: Tensor._wrap(np.asarray(draw(*args, size=t.shape, **kwargs), t.dtype)))
    method.__name__ = method.__qualname__ = name
    return method


def _random_(self, low=None, high=None, *, generator=None):
    """Integers in [low, high) (random_(high): from 0), by default as many as self's dtype holds exactly."""
    if high is None:
        low, high = 0, low
    if high is None:
        kind = self.dtype.kind
        high = (2 if kind == "b" else 2 ** (np.finfo(self.dtype).nmant + 1) + 1 if kind == "f"
                else int(np.iinfo(self.dtype).max) + 1)
    return self._inplace(lambda t: Tensor._wrap(np.random.randint(low, high, size=t.shape, dtype=np.int64).astype(t.dtype)))


def _bernoulli_(self, p=0.5, *, generator=None):
    return self._inplace(lambda t: Tensor._wrap((np.random.random(t.shape) < _data(p)).astype(t.dtype)))


def _geometric_(self, p, *, generator=None):
    return self._inplace(lambda t: Tensor._wrap(np.random.geometric(p, size=t.shape).astype(t.dtype)))


for _name in _INPLACE_FORMS:
    if not hasattr(Tensor, _name + "_"):
        setattr(Tensor, _name + "_", _inplace_of(_name))
for _name in _VIEW_FORMS:
    setattr(Tensor, _name + "_", _view_inplace_of(_name))
Tensor.fill_diagonal_ = _fill_diagonal_
Tensor.random_, Tensor.bernoulli_, Tensor.geometric_ = _random_, _bernoulli_, _geometric_
Tensor.exponential_ = _continuous("exponential_", lambda lambd=1.0, size=None: np.random.exponential(1 / lambd, size))
Tensor.cauchy_ = _continuous("cauchy_", lambda median=0.0, sigma=1.0, size=None:
                             median + sigma * np.random.standard_cauchy(size))
Tensor.log_normal_ = _continuous("log_normal_", lambda mean=1.0, std=2.0, size=None: np.random.lognormal(mean, std, size))

# %% [markdown]
# The rest are small methods whose functions already exist, or one line of existing ones:
# PyTorch's other spellings (`greater` is `gt`), questions about the tensor (`is_signed`,
# `is_nonzero`), and indexed writes (`index_put`, `put`, `index_reduce`) built on
# `index_add`/`index_copy`/`scatter_reduce`, so their gradients come for free.

# %%
#| export
def _positive(self):
    if self.dtype == np.bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return self


def _adjoint(self):
    if self.ndim < 2:
        raise RuntimeError(f"tensor.adjoint() is only supported on matrices or batches of matrices. Got {self.ndim}-D tensor.")
    return self.transpose(-2, -1)


def _add_product(product):
    """addmv / addr: beta·self + alpha·product(a, b) (beta = 0 ignores self, NaN included)."""
    def method(self, a, b, *, beta=1, alpha=1):
        out = product(a, b)
        out = out if alpha == 1 else out * alpha
        return out + (self if beta == 1 else self * beta) if beta != 0 else out + self.new_zeros(self.shape)
    return method


def _dsplit_dim(self):
    if self.ndim < 3:
        raise RuntimeError(f"torch.dsplit requires a tensor with at least 3 dimension, but got a tensor with {self.ndim} dimensions!")
    return 2


def _split_with_sizes(self, split_sizes, dim=0):
    sizes = [int(s) for s in split_sizes]
    if sum(sizes) != self.shape[dim]:
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {self.shape[dim]} (input tensor's "
                           f"size at dimension {dim}), but got split_sizes={sizes}")
    return self.split(sizes, dim)


def _sum_to_size(self, *size):
    """Sum the broadcast dimensions away, to a shape that `size` broadcasts to self's."""
    size = tuple(_shape_args(size))
    lead = self.ndim - len(size)
    if lead < 0 or any(n != 1 and n != m for n, m in zip(size, self.shape[lead:])):
        raise RuntimeError(f"size {{{list(size)}}} is not expandable to size {{{list(self.shape)}}}.")
    out = self.sum(dim=tuple(range(lead))) if lead else self
    dims = tuple(d for d, n in enumerate(size) if n == 1 and out.shape[d] != 1)
    return out.sum(dim=dims, keepdim=True) if dims else out


def _is_nonzero(self):
    if self.numel() != 1:
        raise RuntimeError("Boolean value of Tensor with " + ("no values" if self.numel() == 0 else "more than one value")
                           + " is ambiguous")
    return bool(self.data.reshape(()) != 0)


def _positions(self, indices):
    """The flat positions (into self.reshape(-1)) that self[indices] addresses, in its shape."""
    keys = tuple(np.asarray(_data(i)) for i in (indices if isinstance(indices, (tuple, list)) else (indices,)))
    return np.arange(self.numel()).reshape(self.shape)[keys]


def _write_flat(self, where, values, accumulate):
    """self with `values` (broadcast to where's shape) written, or added, at the flat positions `where`."""
    if not isinstance(values, Tensor):
        values = Tensor._wrap(np.asarray(values, self.dtype))
    elif values.dtype != self.dtype:
        raise RuntimeError(f"Index put requires the source and destination dtypes match, got {self.dtype} for "
                           f"the destination and {values.dtype} for the source.")
    values, index = values.expand(*where.shape).reshape(-1), Tensor._wrap(where.reshape(-1))
    flat = self.reshape(-1)
    out = flat.index_add(0, index, values) if accumulate else flat.index_copy(0, index, values)
    return out.reshape(*self.shape)


def _index_put(self, indices, values, accumulate=False):
    """self with values written (or, accumulating, added: repeats add up) at self[indices]."""
    return _write_flat(self, _positions(self, indices), values, accumulate)


def _put(self, index, source, accumulate=False):
    """source's elements written (or added) at flat positions of self; negative ones count from the end."""
    index = np.asarray(_data(index))
    if source.numel() != index.size:
        raise IndexError(f"put_(): Expected source and index to have the same number of elements, but got "
                           f"source.numel() = {source.numel()}, index.numel() = {index.size}")
    return _write_flat(self, np.arange(self.numel())[index.reshape(-1)], source.reshape(-1), accumulate)


def _index_reduce(self, dim, index, source, reduce, *, include_self=True):
    """source's slices reduced ("prod", "mean", "amax", "amin") into self at `index` along dim."""
    dim = dim % max(self.ndim, 1)
    index = np.asarray(_data(index)).astype(np.int64)
    full = np.broadcast_to(index.reshape([-1 if d == dim else 1 for d in range(source.ndim)]), source.shape)
    return self.scatter_reduce(dim, Tensor._wrap(np.ascontiguousarray(full)), source, reduce, include_self=include_self)


def _renorm(self, p, dim, maxnorm):
    """Each slice along `dim` whose p-norm exceeds maxnorm scaled down to norm maxnorm."""
    dim = dim % self.ndim
    others = tuple(d for d in range(self.ndim) if d != dim)
    norm = (self.abs() ** p).sum(dim=others, keepdim=True) ** (1.0 / p) if others else self.abs()
    factor = where(norm > maxnorm, maxnorm / (norm + 1e-7), 1.0)
    return self * factor.to(self.dtype)


def _mvlgamma(self, p):
    """The multivariate log-gamma: Σ_{i<p} lgamma(x - i/2) + p(p-1)/4·log π."""
    shifts = Tensor._wrap(-np.arange(p, dtype=self.dtype) / 2)
    return (self.unsqueeze(-1) + shifts).lgamma().sum(dim=-1) + p * (p - 1) / 4 * np.log(np.pi)


def _storage_offset(self):
    """How many elements into its memory this tensor (a view) starts."""
    root = self.data
    while isinstance(root.base, np.ndarray):
        root = root.base
    start = self.data.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    return start // max(self.data.itemsize, 1)


def _functional(name):
    """A method whose function module 03 builds (tinytorch.nn.functional), looked up when called."""
    def method(self, *args, **kwargs):
        from tinytorch.nn import functional
        return getattr(functional, name)(self, *args, **kwargs)
    method.__name__ = method.__qualname__ = name
    return method


Tensor.greater, Tensor.greater_equal, Tensor.less, Tensor.less_equal = Tensor.gt, Tensor.ge, Tensor.lt, Tensor.le
Tensor.not_equal = Tensor.ne
for _name in ("greater", "greater_equal", "less", "less_equal", "not_equal"):
    setattr(Tensor, _name + "_", _inplace_of(_name))
Tensor.positive, Tensor.fix, Tensor.adjoint = _positive, Tensor.trunc, _adjoint
Tensor.addmv, Tensor.addr = _add_product(lambda a, b: a.mv(b)), _add_product(lambda a, b: a.outer(b))
Tensor.dsplit = _even_split(_dsplit_dim, "dsplit")
Tensor.split_with_sizes, Tensor.sum_to_size = _split_with_sizes, _sum_to_size
Tensor.narrow_copy = lambda self, dim, start, length: self.narrow(dim, start, length).clone()
Tensor.is_signed = lambda self: self.dtype.kind in "fi"
Tensor.is_complex = lambda self: False
Tensor.is_inference = lambda self: False
Tensor.is_nonzero = _is_nonzero
Tensor.is_same_size = lambda self, other: tuple(self.shape) == tuple(other.shape)
Tensor.is_cpu, Tensor.is_cuda = property(lambda self: True), property(lambda self: False)
Tensor.get_device = lambda self: -1
Tensor.hardshrink, Tensor.prelu = _functional("hardshrink"), _functional("prelu")
Tensor.bincount = lambda self, weights=None, minlength=0: bincount(self, weights, minlength)
Tensor.histc = lambda self, bins=100, min=0, max=0: histc(self, bins, min, max)
Tensor.multinomial = lambda self, num_samples, replacement=False, *, generator=None: multinomial(
    self, num_samples, replacement)
Tensor.byte, Tensor.char, Tensor.short = (lambda self: self.to(np.uint8)), (lambda self: self.to(np.int8)), \
    (lambda self: self.to(np.int16))
Tensor.index_put, Tensor.put, Tensor.index_reduce = _index_put, _put, _index_reduce
Tensor.renorm, Tensor.mvlgamma, Tensor.storage_offset = _renorm, _mvlgamma, _storage_offset
for _name in ("addmv", "addr", "index_put", "put", "index_reduce", "renorm", "mvlgamma"):
    setattr(Tensor, _name + "_", _inplace_of(_name))

# %%
def test_unit_inplace_forms():
    """Checks the in-place forms on hand-worked numbers: `y.exp_()` returns y itself, an alias sees
    the new values, the gradient through `y = x * 2; y.sqrt_()` is 1/sqrt(2x), an int64 tensor
    refuses exp_, `t_` turns the tensor itself around, and index_put with accumulate adds repeats.
    """
    x = Tensor([0.0, 1.0, 2.0])
    alias = x
    assert x.exp_() is x and np.allclose(alias.data, np.exp([0.0, 1.0, 2.0]))
    w = Tensor([2.0, 8.0], requires_grad=True)
    y = w * 2
    y.sqrt_()  # y = sqrt(2w) = [2, 4]; dy/dw = 1 / sqrt(2w) = [0.5, 0.25]
    y.sum().backward()
    assert y.data.tolist() == [2.0, 4.0] and w.grad.data.tolist() == [0.5, 0.25]
    try:
        w.exp_()
    except RuntimeError as err:
        assert "leaf Variable" in str(err)
    else:
        raise AssertionError("an in-place change of a leaf that requires grad must raise")
    try:
        Tensor([1, 2]).exp_()
    except RuntimeError as err:
        assert "can't be cast" in str(err)
    else:
        raise AssertionError("exp_ on an int64 tensor must raise: its floats do not fit")
    m = Tensor([[1, 2, 3], [4, 5, 6]])
    assert m.t_() is m and m.shape == (3, 2) and m.data.tolist() == [[1, 4], [2, 5], [3, 6]]
    z = Tensor([0.0, 0.0, 0.0]).index_put((Tensor([0, 2, 0]),), Tensor([1.0, 2.0, 3.0]), accumulate=True)
    assert z.data.tolist() == [4.0, 0.0, 2.0]
    assert Tensor([[1.0, 2.0], [3.0, 4.0]]).sum_to_size(1, 2).data.tolist() == [[4.0, 6.0]]


if __name__ == "__main__":
    test_unit_inplace_forms()

# %% [markdown]
# ## Done
#
# `tito module complete 02` tests and exports your autograd — and unlocks the first
# milestone: the **1957 perceptron**, trained by gradient descent on gradients your
# code computes. Run it with `tito milestone run perceptron`.
