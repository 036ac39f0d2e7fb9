# %% [markdown]
# # Module 01 — Tensor
#
# A **tensor** is an n-dimensional array of numbers with a shape and a dtype. Images are
# tensors of shape `(batch, channels, height, width)`, a sentence is a tensor of token
# ids `(batch, length)`, a layer's weights are a matrix `(out_features, in_features)`.
# Every model in this course is a chain of operations on tensors.
#
# NumPy already has n-dimensional arrays, so why wrap them? Because in the next module
# each tensor will *remember the operation that produced it*, and that memory is what
# lets us compute gradients automatically. This module builds the wrapper and its
# arithmetic; module 02 teaches it to differentiate.
#
# What you build here:
#
# | feature | why a network needs it |
# |---|---|
# | `float32` by default | half the memory of float64, what GPUs and PyTorch use |
# | broadcasting `+ - * / **` | adding a bias `(out,)` to a batch `(N, out)` without copies |
# | `@` (incl. batched) | a layer is a matrix product; attention is a batched one |
# | `sum`, `mean`, `max` with `axis` | losses, normalization, pooling |
# | `reshape`, `transpose`, indexing | moving between layouts (heads, patches, tokens) |
# | `exp`, `log`, `sigmoid`, `tanh`, `relu` | activations and losses |

# %%
#| default_exp core.tensor
#| requires 00_setup
#| export
import numpy as np

# %% [markdown]
# ## The data and its dtype
#
# `Tensor(data)` accepts a number, a (nested) list or a NumPy array and stores a NumPy
# array in `.data`. The default dtype is `float32`, whatever the input: a student who
# writes `Tensor([1, 2, 3])` wants numbers to compute with. Pass `dtype=np.int64` for
# class labels or token ids, and `dtype=np.float64` for gradient checks.
#
# Results of operations are made with `Tensor._wrap(array)`, which keeps the dtype NumPy
# computed instead of converting again (so a float64 computation stays float64).
#
# `requires_grad` and `grad` are stored here already; module 02 gives them meaning.

# %%
#| export
def _data(value):
    """The NumPy array behind a Tensor, or the value itself (a number, an array)."""
    return value.data if isinstance(value, Tensor) else value


class Tensor:
    """An n-dimensional array that (after module 02) remembers how it was computed."""

    # Makes `numpy_array * tensor` call Tensor.__rmul__ instead of numpy's own loop.
    __array_priority__ = 1000

    def __init__(self, data, dtype=None, requires_grad=False):
        ### BEGIN SOLUTION
        self.data = np.array(_data(data), dtype=dtype or np.float32)
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._ctx = None
        ### END SOLUTION

    @classmethod
    def _wrap(cls, array):
        """A Tensor around an operation's result, keeping its dtype (no copy)."""
        tensor = cls.__new__(cls)
        tensor.data = np.asarray(array)
        tensor.requires_grad = False
        tensor.grad = None
        tensor._ctx = None
        return tensor

    # -- what it is ---------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    def numpy(self):
        """The underlying NumPy array (shared, not copied)."""
        return self.data

    def item(self):
        """The single number inside a one-element tensor, as a Python float/int."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, not shape {self.shape}")
        return self.data.item()

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = np.array2string(self.data, precision=4, separator=", ", prefix="Tensor(")
        grad = ", requires_grad=True" if self.requires_grad else ""
        dtype = "" if self.data.dtype == np.float32 else f", dtype={self.data.dtype}"
        return f"Tensor({body}{dtype}{grad})"

    def backward(self, gradient=None):
        raise NotImplementedError(
            "Gradients arrive in module 02_autograd: complete it with `tito module complete 02`."
        )


# %%
def test_unit_tensor_creation():
    t = Tensor([[1, 2, 3], [4, 5, 6]])
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6
    assert t.dtype == np.float32, "the default dtype is float32"
    assert Tensor(np.zeros(3, dtype=np.float64)).dtype == np.float32
    assert Tensor([1, 2], dtype=np.int64).dtype == np.int64
    assert Tensor(3.5).item() == 3.5
    assert Tensor(Tensor([1.0])).shape == (1,)
    assert "Tensor(" in repr(t)
    assert t.grad is None and t.requires_grad is False


if __name__ == "__main__":
    test_unit_tensor_creation()

# %% [markdown]
# ## Arithmetic with broadcasting
#
# NumPy's **broadcasting** lines shapes up from the right; a dimension of size 1 (or a
# missing one) is stretched to match. A bias of shape `(3,)` added to a batch of shape
# `(4, 3)` is added to each of the 4 rows, without copying the bias 4 times:
#
# ```
# (4, 3) + (3,)   -> (4, 3)
# (4, 1) * (1, 5) -> (4, 5)
# ```
#
# Each operator returns a **new** tensor: operations never modify their inputs, which
# is what makes gradients computable later. The reflected versions (`__radd__`, ...)
# make `2 * t` work like `t * 2`.

# %%
#| export
def _add(self, other):
    ### BEGIN SOLUTION
    return Tensor._wrap(self.data + _data(other))
    ### END SOLUTION


def _sub(self, other):
    ### BEGIN SOLUTION
    return Tensor._wrap(self.data - _data(other))
    ### END SOLUTION


def _mul(self, other):
    ### BEGIN SOLUTION
    return Tensor._wrap(self.data * _data(other))
    ### END SOLUTION


def _truediv(self, other):
    ### BEGIN SOLUTION
    return Tensor._wrap(self.data / _data(other))
    ### END SOLUTION


def _pow(self, exponent):
    ### BEGIN SOLUTION
    return Tensor._wrap(self.data ** exponent)
    ### END SOLUTION


def _neg(self):
    ### BEGIN SOLUTION
    return Tensor._wrap(-self.data)
    ### END SOLUTION


Tensor.__add__ = _add
Tensor.__sub__ = _sub
Tensor.__mul__ = _mul
Tensor.__truediv__ = _truediv
Tensor.__pow__ = _pow
Tensor.__neg__ = _neg
Tensor.__radd__ = lambda self, other: Tensor(other, dtype=self.dtype) + self
Tensor.__rsub__ = lambda self, other: Tensor(other, dtype=self.dtype) - self
Tensor.__rmul__ = lambda self, other: Tensor(other, dtype=self.dtype) * self
Tensor.__rtruediv__ = lambda self, other: Tensor(other, dtype=self.dtype) / self

# %%
def test_unit_arithmetic():
    a = Tensor([[1, 2, 3], [4, 5, 6]])
    b = Tensor([10, 20, 30])
    assert (a + b).data.tolist() == [[11, 22, 33], [14, 25, 36]]
    assert (a - 1).data.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert (2 * a).data.tolist() == [[2, 4, 6], [8, 10, 12]]
    assert (a / Tensor([[2], [4]])).data.tolist() == [[0.5, 1, 1.5], [1, 1.25, 1.5]]
    assert (a ** 2).data[1, 2] == 36
    assert (-a).data[0, 0] == -1
    assert (1 - a).data[0].tolist() == [0, -1, -2]
    assert (6 / a).data[0].tolist() == [6, 3, 2]
    assert (a + b).dtype == np.float32, "float32 stays float32"
    assert (np.ones(3) * b).data.tolist() == [10, 20, 30], "numpy on the left works too"
    assert a.data[0, 0] == 1, "operations never modify their inputs"


if __name__ == "__main__":
    test_unit_arithmetic()

# %% [markdown]
# ## Matrix multiplication
#
# `a @ b` multiplies the last two dimensions and broadcasts the ones before them, so
# one call multiplies a whole batch: `(B, T, D) @ (D, E) -> (B, T, E)` is a linear layer
# applied to every token of every sequence, and `(B, H, T, D) @ (B, H, D, T)` is every
# attention head's score matrix at once.
#
# The most common bug in a network is a shape mismatch, so the error names both shapes.

# %%
#| export
def _check_matmul(a_shape, b_shape):
    """Raise a ValueError naming both shapes when `a @ b` cannot be computed."""
    if len(a_shape) == 0 or len(b_shape) == 0:
        raise ValueError(f"matmul needs tensors with at least 1 dimension, got {a_shape} @ {b_shape}")
    inner_a = a_shape[-1]
    inner_b = b_shape[-2] if len(b_shape) > 1 else b_shape[0]
    if inner_a != inner_b:
        raise ValueError(
            f"matmul shape mismatch: {a_shape} @ {b_shape} — the last dimension of the left "
            f"({inner_a}) must equal the {'first' if len(b_shape) == 1 else 'second-to-last'} "
            f"dimension of the right ({inner_b})"
        )


def _matmul(self, other):
    ### BEGIN SOLUTION
    other = _data(other)
    _check_matmul(self.shape, np.shape(other))
    return Tensor._wrap(self.data @ other)
    ### END SOLUTION


Tensor.__matmul__ = _matmul
Tensor.__rmatmul__ = lambda self, other: Tensor(other, dtype=self.dtype) @ self

# %%
def test_unit_matmul():
    a = Tensor([[1, 2], [3, 4]])
    b = Tensor([[5, 6], [7, 8]])
    assert (a @ b).data.tolist() == [[19, 22], [43, 50]]
    batch = Tensor(np.ones((5, 3, 2)))
    assert (batch @ a).shape == (5, 3, 2), "batched: (5, 3, 2) @ (2, 2)"
    assert (a @ Tensor([1, 1])).data.tolist() == [3, 7], "matrix @ vector"
    try:
        Tensor(np.ones((3, 4))) @ Tensor(np.ones((5, 2)))
    except ValueError as err:
        assert "(3, 4)" in str(err) and "(5, 2)" in str(err), "the error names both shapes"
    else:
        raise AssertionError("a shape mismatch must raise ValueError")


if __name__ == "__main__":
    test_unit_matmul()

# %% [markdown]
# ## Reductions: sum, mean, max
#
# A loss is a *reduction*: many numbers in, one number out. `axis` says which
# dimensions disappear; `keepdims=True` keeps them with size 1, so the result still
# broadcasts against the input (`x - x.max(axis=1, keepdims=True)` subtracts each row's
# maximum from that row — the trick that makes softmax numerically stable).

# %%
#| export
def _sum(self, axis=None, keepdims=False):
    ### BEGIN SOLUTION
    return Tensor._wrap(self.data.sum(axis=axis, keepdims=keepdims))
    ### END SOLUTION


def _mean(self, axis=None, keepdims=False):
    ### BEGIN SOLUTION
    return Tensor._wrap(self.data.mean(axis=axis, keepdims=keepdims))
    ### END SOLUTION


def _max(self, axis=None, keepdims=False):
    ### BEGIN SOLUTION
    return Tensor._wrap(self.data.max(axis=axis, keepdims=keepdims))
    ### END SOLUTION


Tensor.sum = _sum
Tensor.mean = _mean
Tensor.max = _max

# %%
def test_unit_reductions():
    t = Tensor([[1, 2, 3], [4, 5, 6]])
    assert t.sum().item() == 21
    assert t.sum(axis=0).data.tolist() == [5, 7, 9]
    assert t.sum(axis=1, keepdims=True).shape == (2, 1)
    assert t.mean().item() == 3.5
    assert t.mean(axis=(0, 1)).item() == 3.5
    assert t.max(axis=1).data.tolist() == [3, 6]
    assert (t - t.max(axis=1, keepdims=True)).data.max() == 0


if __name__ == "__main__":
    test_unit_reductions()

# %% [markdown]
# ## Shapes: reshape, transpose, indexing
#
# `reshape` reinterprets the same numbers under a new shape (one dimension may be `-1`:
# "whatever is left"). `transpose(dim0, dim1)` swaps two dimensions (default: the last
# two, as a matrix transpose), `permute(*dims)` reorders them all, and `.T` reverses
# them. Indexing (`t[0]`, `t[:, 1:3]`, `t[[0, 2]]`) selects, exactly as in NumPy.

# %%
#| export
def _reshape(self, *shape):
    ### BEGIN SOLUTION
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Tensor._wrap(self.data.reshape(shape))
    ### END SOLUTION


def _permute(self, *dims):
    ### BEGIN SOLUTION
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    return Tensor._wrap(np.transpose(self.data, dims))
    ### END SOLUTION


def _transpose(self, dim0=-2, dim1=-1):
    """Swap two dimensions (default: the last two). Built on permute."""
    dims = list(range(self.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return self.permute(*dims)


def _getitem(self, index):
    ### BEGIN SOLUTION
    if isinstance(index, tuple):
        index = tuple(_data(i) for i in index)
    return Tensor._wrap(self.data[_data(index)])
    ### END SOLUTION


Tensor.reshape = _reshape
Tensor.permute = _permute
Tensor.transpose = _transpose
Tensor.T = property(lambda self: self.permute(*reversed(range(self.ndim))))
Tensor.__getitem__ = _getitem

# %%
def test_unit_shapes():
    t = Tensor(np.arange(6))
    assert t.reshape(2, 3).shape == (2, 3)
    assert t.reshape((3, -1)).shape == (3, 2)
    m = t.reshape(2, 3)
    assert m.T.shape == (3, 2) and m.T.data[2, 1] == 5
    x = Tensor(np.zeros((2, 3, 4, 5)))
    assert x.transpose(1, 2).shape == (2, 4, 3, 5)
    assert x.transpose().shape == (2, 3, 5, 4)
    assert x.permute(0, 2, 1, 3).shape == (2, 4, 3, 5)
    assert m[1].data.tolist() == [3, 4, 5]
    assert m[:, 1:].shape == (2, 2)
    assert m[[1, 0]].data[0].tolist() == [3, 4, 5]
    assert m[Tensor([1, 1], dtype=np.int64)].shape == (2, 3), "a Tensor of ids indexes too"


if __name__ == "__main__":
    test_unit_shapes()

# %% [markdown]
# ## Elementwise functions
#
# `exp` and `log` build losses; `sigmoid`, `tanh` and `relu` are the classic
# nonlinearities that let a stack of layers represent more than a single linear map.
#
# `sigmoid(x) = 1 / (1 + e^-x)` overflows for large negative `x` if computed naively
# (`e^1000` is `inf`). The identity `sigmoid(x) = (1 + tanh(x / 2)) / 2` is exact and
# never overflows.

# %%
#| export
def _exp(self):
    ### BEGIN SOLUTION
    return Tensor._wrap(np.exp(self.data))
    ### END SOLUTION


def _log(self):
    ### BEGIN SOLUTION
    return Tensor._wrap(np.log(self.data))
    ### END SOLUTION


def _sqrt(self):
    ### BEGIN SOLUTION
    return Tensor._wrap(np.sqrt(self.data))
    ### END SOLUTION


def _sigmoid(self):
    ### BEGIN SOLUTION
    return Tensor._wrap(0.5 * (1.0 + np.tanh(0.5 * self.data)))
    ### END SOLUTION


def _tanh(self):
    ### BEGIN SOLUTION
    return Tensor._wrap(np.tanh(self.data))
    ### END SOLUTION


def _relu(self):
    ### BEGIN SOLUTION
    return Tensor._wrap(np.maximum(self.data, 0))
    ### END SOLUTION


Tensor.exp = _exp
Tensor.log = _log
Tensor.sqrt = _sqrt
Tensor.sigmoid = _sigmoid
Tensor.tanh = _tanh
Tensor.relu = _relu

# %%
def test_unit_elementwise():
    t = Tensor([-1000.0, 0.0, 2.0])
    assert np.allclose(Tensor([0.0, 1.0]).exp().data, [1.0, np.e])
    assert np.allclose(Tensor([1.0, np.e]).log().data, [0.0, 1.0])
    assert np.allclose(Tensor([4.0, 9.0]).sqrt().data, [2.0, 3.0])
    s = t.sigmoid().data
    assert np.all(np.isfinite(s)) and s[0] == 0.0 and s[1] == 0.5, "sigmoid is stable"
    assert np.isclose(s[2], 1 / (1 + np.exp(-2.0)))
    assert t.tanh().data[1] == 0.0
    assert t.relu().data.tolist() == [0.0, 0.0, 2.0]


if __name__ == "__main__":
    test_unit_elementwise()

# %% [markdown]
# ## Done
#
# `tito module complete 01` tests and exports your `Tensor`. It can compute anything a
# small network needs — but it cannot yet say how to *change* its inputs to lower a
# loss. That is module 02: autograd.
