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
# side (the shape of PyTorch's `torch.autograd.Function`):
#
# ```python
# class MulOp(Function):
#     @staticmethod
#     def forward(ctx, a, b):          # numpy arrays in, a numpy array out
#         ctx.save_for_backward(a, b)  # what backward will need
#         return a * b
#
#     @staticmethod
#     def backward(ctx, grad):         # ∂loss/∂output in
#         a, b = ctx.saved_tensors
#         return grad * b, grad * a    # ∂loss/∂a, ∂loss/∂b out
# ```
#
# At the end of the module we connect these classes to `Tensor`'s operators, so that
# `a * b` on tensors that require gradients builds the graph, and `loss.backward()`
# fills every parameter's `.grad`.

# %%
#| default_exp core.autograd
#| requires 00_setup 01_tensor
#| export
import numpy as np

from tinytorch.core.tensor import Tensor, _check_matmul, _data

# %% [markdown]
# ## Switching the graph off: `no_grad`
#
# Building the graph costs time and memory. When we only evaluate a model, or update
# parameters inside an optimizer, no gradient is wanted: `with no_grad():` turns graph
# building off for the block, exactly like `torch.no_grad()`.

# %%
#| export
_grad_enabled = True


def is_grad_enabled():
    """True unless inside a `with no_grad():` block."""
    return _grad_enabled


class no_grad:
    """Context manager: operations inside the block build no graph."""

    def __enter__(self):
        global _grad_enabled
        self._previous, _grad_enabled = _grad_enabled, False

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._previous
        return False

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
# `Function.apply` calls this for every input, so each backward may return a gradient
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
# `Function.apply(*inputs, **options)` is the one place where the graph is built:
#
# 1. unwrap the input tensors to NumPy arrays and call `forward(ctx, *arrays, **options)`;
# 2. wrap the result in a new `Tensor`;
# 3. if gradients are enabled and some input requires them, remember `(Function, ctx,
#    inputs)` on the result: `result._ctx = ctx`. The context also records which inputs
#    want a gradient (`ctx.needs_input_grad`), so a backward can skip the others.
#
# Inputs that are not tensors (a Python number in `x * 2`) take part in the forward but
# get no gradient. `backward` returns one gradient per input (`None` for "no gradient").

# %%
#| export
class Context:
    """What a Function's forward leaves for its backward.

    `needs_input_grad[i]` says whether input i wants a gradient (PyTorch's name): a
    backward may skip the work for an input that does not, such as a batch of images.
    """

    def __init__(self, function, inputs, needs_input_grad):
        self.function = function
        self.inputs = inputs
        self.needs_input_grad = needs_input_grad
        self.saved_tensors = ()

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays


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
        if any(needs):
            result.requires_grad = True
            result._ctx = ctx
        return result
        ### END SOLUTION

# %% [markdown]
# ## The operations
#
# Each class below is one operation with its local derivative. Read them as a table of
# calculus you already know: d(a·b)/da = b, d(eᵃ)/da = eᵃ, d(log a)/da = 1/a, ...
#
# For a matrix product C = A @ B, the chain rule gives ∂L/∂A = ∂L/∂C @ Bᵀ and
# ∂L/∂B = Aᵀ @ ∂L/∂C — check the shapes: (n, m) = (n, p) @ (p, m). Batched products
# work the same on the last two dimensions; vectors are treated as one-row/one-column
# matrices and squeezed back.

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
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        a, b = ctx.saved_tensors
        return grad * b, grad * a
        ### END SOLUTION


class DivOp(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        a, b = ctx.saved_tensors
        grad_a = grad / b
        return grad_a, -grad_a * a / b
        ### END SOLUTION


class PowOp(Function):
    """a ** exponent, for a number exponent."""

    @staticmethod
    def forward(ctx, a, exponent):
        ctx.save_for_backward(a)
        ctx.exponent = exponent
        return a ** exponent

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        (a,) = ctx.saved_tensors
        return grad * ctx.exponent * a ** (ctx.exponent - 1)
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


class MatMulOp(Function):
    @staticmethod
    def forward(ctx, a, b):
        _check_matmul(np.shape(a), np.shape(b))
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = grad
        if a.ndim == 1:
            g = np.expand_dims(g, -2)
        if b.ndim == 1:
            g = np.expand_dims(g, -1)
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = g @ np.swapaxes(b2, -1, -2)
            grad_a = grad_a.squeeze(-2) if a.ndim == 1 else grad_a
        if ctx.needs_input_grad[1]:
            if b2.ndim == 2 and a2.ndim > 2:  # (..., n, k) @ (k, m): fold the batch into rows
                grad_b = a2.reshape(-1, a2.shape[-1]).T @ g.reshape(-1, g.shape[-1])
            else:
                grad_b = np.swapaxes(a2, -1, -2) @ g
            grad_b = grad_b.squeeze(-1) if b.ndim == 1 else grad_b
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
        count = np.prod(ctx.shape) / max(np.size(grad), 1)
        if ctx.axis is not None and not ctx.keepdims:
            grad = np.expand_dims(grad, ctx.axis)
        return np.broadcast_to(grad / count, ctx.shape)
        ### END SOLUTION


class MaxOp(Function):
    """Gradient flows to the maximum; ties share it equally."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        peak = a.max(axis=axis, keepdims=True)
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
        return winners * (grad / winners.sum(axis=ctx.axis, keepdims=True))
        ### END SOLUTION

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
    """Indexing: the gradient goes back to the selected places (repeats add up)."""

    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.dtype, ctx.index = a.shape, a.dtype, index
        return a[index]

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        full = np.zeros(ctx.shape, dtype=grad.dtype)
        np.add.at(full, ctx.index, grad)
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
        return grad * (a > 0)
        ### END SOLUTION

# %% [markdown]
# ## Walking the graph backwards
#
# `loss.backward()` must visit every node *after* all the nodes that use it, so that a
# node's gradient is complete (summed over all its uses) before it is passed on. That
# order is a **topological order** of the graph, reversed. We build it with an explicit
# stack instead of recursion, so deep graphs (long training loops, deep models) never hit
# Python's recursion limit.
#
# Only **leaves** — tensors created by the user with `requires_grad=True`, such as
# parameters — keep their gradient in `.grad`, and they **accumulate** it: two
# `backward()` calls add up, until `zero_grad()`. That is PyTorch's rule, and why every
# training loop calls `optimizer.zero_grad()`.
#
# `backward()` without an argument is only defined for a single number (a loss); for a
# tensor of any other shape, say which gradient flows in with `gradient=`.

# %%
#| export
def _graph_order(root):
    """The nodes that need a gradient, each after every node it depends on."""
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
        if node._ctx is not None:
            for parent in node._ctx.inputs:
                if isinstance(parent, Tensor) and parent.requires_grad and id(parent) not in seen:
                    stack.append((parent, False))
    return order


def _backward(self, gradient=None):
    """Fill `.grad` of every leaf this tensor depends on with ∂self/∂leaf (accumulating)."""
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
    grads = {id(self): gradient}
    for node in reversed(_graph_order(self)):
        grad = grads.pop(id(node), None)
        if grad is None:
            continue
        ctx = node._ctx
        if ctx is None:  # a leaf: keep (and accumulate) its gradient
            grad = grad.astype(node.data.dtype, copy=True)
            node.grad = Tensor._wrap(grad if node.grad is None else node.grad.data + grad)
            continue
        input_grads = ctx.function.backward(ctx, grad)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        for parent, parent_grad in zip(ctx.inputs, input_grads):
            if parent_grad is None or not isinstance(parent, Tensor) or not parent.requires_grad:
                continue
            parent_grad = unbroadcast(parent_grad, parent.shape)
            key = id(parent)
            grads[key] = parent_grad if key not in grads else grads[key] + parent_grad
    ### END SOLUTION


def _zero_grad(self):
    """Forget the accumulated gradient."""
    self.grad = None


def _detach(self):
    """The same numbers, cut off from the graph (shares the data)."""
    return Tensor._wrap(self.data)

# %% [markdown]
# ## Teaching `Tensor` to remember
#
# Finally we route every `Tensor` operation through its `Function`. After this cell,
# `a * b` is `MulOp.apply(a, b)`: the same numbers as in module 01, plus a graph when
# gradients are wanted. (Reflected operators swap the inputs: `2 - t` is `SubOp(2, t)`.)

# %%
#| export
def _binary(op):
    return lambda self, other: op.apply(self, other)


def _reflected(op):
    return lambda self, other: op.apply(other, self)


def _reduction(op):
    return lambda self, axis=None, keepdims=False: op.apply(self, axis=axis, keepdims=keepdims)


def _unary(op):
    return lambda self: op.apply(self)


def _reshape(self, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return ReshapeOp.apply(self, shape=shape)


def _permute(self, *dims):
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    return PermuteOp.apply(self, dims=tuple(d % self.ndim for d in dims))


def _getitem(self, index):
    if isinstance(index, tuple):
        index = tuple(_data(i) for i in index)
    return GetItemOp.apply(self, index=_data(index))


Tensor.__add__, Tensor.__radd__ = _binary(AddOp), _reflected(AddOp)
Tensor.__sub__, Tensor.__rsub__ = _binary(SubOp), _reflected(SubOp)
Tensor.__mul__, Tensor.__rmul__ = _binary(MulOp), _reflected(MulOp)
Tensor.__truediv__, Tensor.__rtruediv__ = _binary(DivOp), _reflected(DivOp)
Tensor.__matmul__, Tensor.__rmatmul__ = _binary(MatMulOp), _reflected(MatMulOp)
Tensor.__pow__ = lambda self, exponent: PowOp.apply(self, exponent=exponent)
Tensor.__neg__ = _unary(NegOp)
Tensor.sum, Tensor.mean, Tensor.max = _reduction(SumOp), _reduction(MeanOp), _reduction(MaxOp)
Tensor.reshape, Tensor.permute, Tensor.__getitem__ = _reshape, _permute, _getitem
Tensor.exp, Tensor.log, Tensor.sqrt = _unary(ExpOp), _unary(LogOp), _unary(SqrtOp)
Tensor.sigmoid, Tensor.tanh, Tensor.relu = _unary(SigmoidOp), _unary(TanhOp), _unary(ReLUOp)
Tensor.backward, Tensor.zero_grad, Tensor.detach = _backward, _zero_grad, _detach

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
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(0.5, 1.5, size=s) * rng.choice([-1, 1], size=s) for s in shapes]
    tensors = [Tensor(a, dtype=np.float64, requires_grad=True) for a in arrays]
    fn(*tensors).sum().backward()
    for k, (array, tensor) in enumerate(zip(arrays, tensors)):
        def scalar(x, k=k):
            inputs = [Tensor(x if j == k else a, dtype=np.float64) for j, a in enumerate(arrays)]
            return fn(*inputs).sum().item()
        expected = numerical_gradient(scalar, array.copy())
        assert tensor.grad is not None, f"input {k} got no gradient"
        assert np.allclose(tensor.grad.data, expected, atol=1e-5, rtol=1e-4), (
            f"input {k}: autograd {tensor.grad.data} != finite differences {expected}"
        )


def test_unit_arithmetic_gradients():
    check_gradients(lambda a, b: a + b, (3, 4), (4,))
    check_gradients(lambda a, b: a - b, (3, 1), (1, 4))
    check_gradients(lambda a, b: a * b, (2, 3), (2, 3))
    check_gradients(lambda a, b: a / b, (3,), (2, 3))
    check_gradients(lambda a: a ** 3, (2, 2))
    check_gradients(lambda a: -a * 2 + 1 - 3 / a, (4,))


if __name__ == "__main__":
    test_unit_arithmetic_gradients()

# %%
def test_unit_matmul_gradients():
    check_gradients(lambda a, b: a @ b, (3, 4), (4, 2))
    check_gradients(lambda a, b: a @ b, (2, 3, 4), (4, 5))
    check_gradients(lambda a, b: a @ b, (2, 3, 4), (2, 4, 5))
    check_gradients(lambda a, b: a @ b, (4,), (4, 3))
    check_gradients(lambda a, b: a @ b, (3, 4), (4,))


if __name__ == "__main__":
    test_unit_matmul_gradients()

# %%
def test_unit_reduction_and_shape_gradients():
    check_gradients(lambda a: a.sum(axis=1), (3, 4))
    check_gradients(lambda a: a.mean(axis=0, keepdims=True) * a, (3, 4))
    check_gradients(lambda a: a.mean(), (3, 4))
    check_gradients(lambda a: a.max(axis=-1), (3, 4))
    check_gradients(lambda a: a.reshape(4, 3) @ a, (3, 4))
    check_gradients(lambda a: a.transpose(0, 2).exp(), (2, 3, 4))
    check_gradients(lambda a: a.T @ a, (3, 2))
    check_gradients(lambda a: a[1:, [0, 0, 2]], (3, 4))


if __name__ == "__main__":
    test_unit_reduction_and_shape_gradients()

# %%
def test_unit_elementwise_gradients():
    check_gradients(lambda a: (a * a).log(), (3, 4))
    check_gradients(lambda a: (a * a).sqrt(), (3, 4))
    check_gradients(lambda a: a.exp(), (3,))
    check_gradients(lambda a: a.sigmoid(), (3, 4))
    check_gradients(lambda a: a.tanh(), (3, 4))
    check_gradients(lambda a: a.relu(), (3, 4))


if __name__ == "__main__":
    test_unit_elementwise_gradients()

# %% [markdown]
# ## The rules of the graph
#
# Gradients accumulate, `zero_grad` resets them, `no_grad` builds nothing, and a
# tensor used twice gets the sum of both paths (`x * x` → 2x).

# %%
def test_unit_graph_rules():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.data.tolist() == [2.0, 4.0, 6.0], "a tensor used twice sums both paths"
    (x * 3).sum().backward()
    assert x.grad.data.tolist() == [5.0, 7.0, 9.0], "gradients accumulate"
    x.zero_grad()
    assert x.grad is None
    with no_grad():
        y = x * 2
    assert not y.requires_grad and y._ctx is None, "no_grad builds no graph"
    assert is_grad_enabled()
    w = Tensor([[1.0, 2.0]], requires_grad=True)
    h = w * 2
    (h + h).sum().backward()
    assert w.grad.data.tolist() == [[4.0, 4.0]]
    assert h.grad is None, "only leaves keep .grad"
    assert x.detach()._ctx is None and not x.detach().requires_grad


if __name__ == "__main__":
    test_unit_graph_rules()

# %%
def test_unit_backward_errors():
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
    try:
        Tensor(np.ones((2, 3)), requires_grad=True) @ Tensor(np.ones((2, 3)))
    except ValueError as err:
        assert "(2, 3) @ (2, 3)" in str(err)
    else:
        raise AssertionError("a matmul shape mismatch must raise and name both shapes")


if __name__ == "__main__":
    test_unit_backward_errors()

# %%
def test_unit_deep_graph():
    x = Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.data.tolist() == [1.0], "no recursion limit on deep graphs"


if __name__ == "__main__":
    test_unit_deep_graph()

# %% [markdown]
# ## Done
#
# `tito module complete 02` tests and exports your autograd — and unlocks the first
# milestone: the **1957 perceptron**, trained by gradient descent on gradients your
# code computes. Run it with `tito milestone run perceptron`.
