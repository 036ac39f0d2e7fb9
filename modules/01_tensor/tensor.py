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
# | PyTorch's dtype rules (`float32` by default) | half the memory of float64; integer ids that can index |
# | broadcasting `+ - * / **` | adding a bias `(out,)` to a batch `(N, out)` without copies |
# | `@` (incl. batched) | a layer is a matrix product; attention is a batched one |
# | `sum`, `mean`, `max` with `dim` | losses, normalization, pooling |
# | `reshape`, `transpose`, indexing | moving between layouts (heads, patches, tokens) |
# | `exp`, `log`, `sigmoid`, `tanh`, `relu` | activations and losses |
#
# The names and signatures are PyTorch's, so code moves between the two in both
# directions. At the end of the module, provided code adds the rest of the API a PyTorch
# user reaches for (`zeros`, `randn`, `arange`, `argmax`, `view`, comparisons, ...).

# %%
#| default_exp core.tensor
#| requires 00_setup
#| export
import numbers
from collections import namedtuple

import numpy as np

# %% [markdown]
# ## The data and its dtype
#
# `Tensor(data)` accepts a number, a (nested) list, a NumPy array or another Tensor and
# stores a NumPy array in `.data`. Which dtype? PyTorch's rule (`torch.tensor`):
#
# | data | dtype |
# |---|---|
# | Python ints, integer arrays | `int64` (an integer NumPy array keeps its own integer dtype) |
# | Python bools, bool arrays | `bool` |
# | Python floats, float arrays (float64 too*) | `float32`, the default floating dtype |
# | another Tensor | its dtype |
# | `dtype=...` given | what you ask for |
#
# So `Tensor([1, 2, 3])` holds integers — token ids, class labels, indices — and
# `Tensor([1.0, 2.0])` or `Tensor(np.random.rand(3))` hold float32, half the memory of
# NumPy's float64 and what GPUs and PyTorch use. float64 only appears when you ask
# for it: `dtype=np.float64` (we do, for gradient checks) or `.double()`. (*The one
# deliberate difference: `torch.tensor(np_float64_array)` keeps float64, but NumPy makes
# float64 by default, and a course tensor should not silently double its memory.)
#
# Only floating-point tensors may have `requires_grad=True`: a gradient says how to move a
# number a tiny bit, and an integer cannot move by 0.001. (`requires_grad` and `grad` are
# stored here already; module 02 gives them meaning. `grad` holds a Tensor of the same
# shape and dtype, or None; a NumPy array assigned to it is wrapped.)
#
# Results of operations are made with `Tensor._wrap(array)`, which keeps the dtype the
# operation computed and does not copy.

# %%
#| export
def _data(value):
    """The NumPy array behind a Tensor, or the value itself (a number, an array)."""
    return value.data if isinstance(value, Tensor) else value


def _default_dtype(data):
    """The dtype of `Tensor(data)` when no dtype is given (PyTorch's rule, table above)."""
    ### BEGIN SOLUTION
    if isinstance(data, Tensor):
        return data.dtype
    dtype = np.asarray(data).dtype
    return np.dtype(np.float32) if dtype.kind == "f" else dtype
    ### END SOLUTION


class Tensor:
    """An n-dimensional array that (after module 02) remembers how it was computed."""

    # Makes `numpy_array * tensor` call Tensor.__rmul__ instead of numpy's own loop.
    __array_priority__ = 1000

    # Defaults every tensor starts with (set on the instance when they change).
    _requires_grad = False
    _grad = None
    _ctx = None  # module 02: the operation that made this tensor
    _base = None  # module 02: the tensor whose memory this one is a view of

    def __init__(self, data, dtype=None, requires_grad=False):
        ### BEGIN SOLUTION
        self.data = np.array(_data(data), dtype=dtype if dtype is not None else _default_dtype(data))
        ### END SOLUTION
        self._version_counter = [0]  # module 02: in-place changes of this memory (shared by views)
        self.requires_grad = requires_grad

    @classmethod
    def _wrap(cls, array):
        """A Tensor around an operation's result, keeping its dtype (no copy)."""
        tensor = cls.__new__(cls)
        tensor.data = np.asarray(array)
        tensor._version_counter = [0]
        return tensor

    # -- what it is ---------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    def size(self, dim=None):
        """The shape (PyTorch's `x.size()`), or the length of one dimension: `x.size(0)`."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self):
        """How many numbers the tensor holds."""
        return self.data.size

    def dim(self):
        return self.data.ndim

    def is_floating_point(self):
        return self.data.dtype.kind == "f"

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        if value and not self.is_floating_point():
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients, not {self.dtype}")
        if not value and self._ctx is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables; use .detach() for a "
                "tensor cut off from the graph"
            )
        self._requires_grad = bool(value)

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):  # a NumPy array (or number) is wrapped
                value = Tensor._wrap(np.asarray(value))
            if value.shape != self.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of shape {value.shape} to a tensor of shape {self.shape}"
                )
            if value.dtype != self.dtype:
                raise RuntimeError(
                    f"attempting to assign a gradient of dtype {value.dtype} to a tensor of dtype {self.dtype}"
                )
        self._grad = value

    def numpy(self):
        """The underlying NumPy array (shared, not copied)."""
        return self.data

    def item(self):
        """The single number inside a one-element tensor, as a Python float/int/bool."""
        if self.data.size != 1:
            raise RuntimeError(f"a Tensor with {self.data.size} elements cannot be converted to Scalar")
        return self.data.item()

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __repr__(self):
        body = np.array2string(self.data, precision=4, separator=", ", prefix="Tensor(")
        grad = ", requires_grad=True" if self.requires_grad else ""
        shown = self.data.dtype not in (np.float32, np.int64, np.bool_)
        return f"Tensor({body}{f', dtype={self.data.dtype}' if shown else ''}{grad})"

    def backward(self, gradient=None, retain_graph=None):
        raise NotImplementedError(
            "Gradients arrive in module 02_autograd: complete it with `tito module complete 02`."
        )


# %%
def test_unit_tensor_creation():
    """Checks `Tensor(data, dtype=None)` and `_default_dtype`: the shape queries, and the dtype
    table above — floats (float64 arrays too) become float32, ints stay int64, bools stay bool, and
    an explicit dtype or another Tensor's dtype wins. NumPy alone keeps float64: decide from the
    *kind* of dtype NumPy infers (floating or not), and look inside a Tensor argument for its own
    dtype.
    """
    t = Tensor([[1.0, 2, 3], [4, 5, 6]])
    assert t.shape == (2, 3) and t.ndim == 2 and t.numel() == 6
    assert t.size() == (2, 3) and t.size(0) == 2 and t.size(-1) == 3
    assert t.dtype == np.float32, "floats default to float32"
    assert Tensor(np.zeros(3, dtype=np.float64)).dtype == np.float32, "float64 arrays too"
    assert Tensor([1, 2, 3]).dtype == np.int64, "integers stay integers"
    assert Tensor([True, False]).dtype == np.bool_, "bools stay bools"
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64, "unless a dtype is asked for"
    assert Tensor(Tensor([1.0], dtype=np.float64)).dtype == np.float64, "a Tensor keeps its dtype"
    assert Tensor(3.5).item() == 3.5 and Tensor(3).item() == 3
    assert "Tensor(" in repr(t)
    assert t.grad is None and t.requires_grad is False
    try:
        Tensor([1, 2], requires_grad=True)
    except RuntimeError as err:
        assert "floating point" in str(err)
    else:
        raise AssertionError("an integer tensor cannot require gradients")


if __name__ == "__main__":
    test_unit_tensor_creation()

# %% [markdown]
# Converting between dtypes (provided): `to(dtype)`, `float()`, `double()`, `half()`, `long()`,
# `int()`, `bool()`, and `type(dtype)`, as in PyTorch; `clone()` is a copy. A conversion to
# the dtype a tensor already has returns the tensor itself.

# %%
#| export
_TYPE_NAMES = {"float16": "HalfTensor", "float32": "FloatTensor", "float64": "DoubleTensor",
               "uint8": "ByteTensor", "int8": "CharTensor", "int16": "ShortTensor",
               "int32": "IntTensor", "int64": "LongTensor", "bool": "BoolTensor"}


def _to(self, *args, dtype=None, copy=False):
    """`t.to(np.float64)`, `t.to(other_tensor)` (its dtype), `t.to("cpu")` (a no-op)."""
    for arg in args:
        if isinstance(arg, Tensor):
            dtype = arg.dtype
        elif arg is not None and not (isinstance(arg, str) and arg == "cpu"):
            dtype = arg
    if dtype is None or np.dtype(dtype) == self.dtype:
        return self._convert(self.dtype) if copy else self
    return self._convert(np.dtype(dtype))


def _type(self, dtype=None):
    """Without an argument PyTorch's type name (`"tinytorch.FloatTensor"`); with one, `to(dtype)`."""
    if dtype is None:
        return f"tinytorch.{_TYPE_NAMES.get(self.dtype.name, self.dtype.name)}"
    return self.to(dtype)


Tensor.to, Tensor.type = _to, _type
Tensor._convert = lambda self, dtype: Tensor._wrap(self.data.astype(dtype))  # always a copy
Tensor.clone = lambda self: self.to(self.dtype, copy=True)
Tensor.float = lambda self: self.to(np.float32)
Tensor.double = lambda self: self.to(np.float64)
Tensor.half = lambda self: self.to(np.float16)
Tensor.long = lambda self: self.to(np.int64)
Tensor.int = lambda self: self.to(np.int32)
Tensor.bool = lambda self: self.to(np.bool_)

# %% [markdown]
# ## Mixing dtypes: type promotion
#
# What is `int_tensor + 0.5`, or `float32_tensor * float64_tensor`? NumPy and PyTorch
# answer differently, and we follow PyTorch (provided code below):
#
# 1. **Categories** rank `bool < integer < floating`. The result has the highest category
#    among the operands: `int64 + float32 -> float32` (NumPy would say float64).
# 2. **Python numbers and NumPy scalars do not promote a tensor within its category**:
#    `float32 * 2.5 -> float32`, `float32 * np.float64(2) -> float32`, `int64 * 3 -> int64`.
#    Across categories they do: `int64 * 2.5 -> float32` (the default float).
# 3. **Tensors of the same category promote as usual**: `float32 + float64 -> float64`
#    (that is how a float64 gradient check stays float64), `int32 + int64 -> int64`.
#    A 0-d tensor counts less than a tensor with dimensions, exactly like a number.
# 4. **True division always gives floats**: `Tensor([3]) / 2 -> 1.5` (float32).
#
# Every binary operator calls `_promoted(a, b)`, which returns both operands as Tensors of
# the result dtype; your operator code then never has to think about dtypes.

# %%
#| export
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}  # bool < integer < floating point


def _operand_dtype(value):
    """(dtype, priority) of an operand: tensors with dimensions 2, 0-d tensors 1, numbers 0."""
    if isinstance(value, Tensor):
        return value.data.dtype, (2 if value.data.ndim else 1)
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(np.bool_), 0
    if isinstance(value, (numbers.Integral, np.integer)):
        return np.dtype(np.int64), 0
    if isinstance(value, (numbers.Real, np.floating)):
        return np.dtype(np.float32), 0
    array = np.asarray(value)  # a NumPy array or a list counts as Tensor(value) would
    if array.dtype.kind not in _CATEGORY:
        raise TypeError(f"unsupported operand of type {type(value).__name__} (dtype {array.dtype})")
    return np.dtype(_default_dtype(array)), (2 if array.ndim else 1)


def _promote_types(a, b):
    """PyTorch's promotion of two dtypes: the higher category wins, else NumPy's rule."""
    if _CATEGORY[a.kind] != _CATEGORY[b.kind]:
        return a if _CATEGORY[a.kind] > _CATEGORY[b.kind] else b
    return np.promote_types(a, b)


def result_type(*operands):
    """The dtype PyTorch gives `operands[0] OP operands[1] ...` (torch.result_type)."""
    best = {}
    for value in operands:
        dtype, priority = _operand_dtype(value)
        best[priority] = dtype if priority not in best else _promote_types(best[priority], dtype)
    result = None
    for priority in (2, 1, 0):  # a lower priority only counts when its category is higher
        dtype = best.get(priority)
        if dtype is not None and (result is None or _CATEGORY[dtype.kind] > _CATEGORY[result.kind]):
            result = dtype if result is None else _promote_types(result, dtype)
    return result


def _common_dtype(a, b):
    """The result dtype of the common cases, quickly: one dtype, or a tensor and a Python number."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            return a.data.dtype if a.data.dtype is b.data.dtype or a.data.dtype == b.data.dtype else None
        a, b = b, a
    elif not isinstance(b, Tensor):
        return None
    kind = b.data.dtype.kind  # b is the tensor, a the other operand
    if type(a) is float and kind == "f" or type(a) is int and kind in "fiu":
        return b.data.dtype
    return None


def _promoted(*operands, floating=False):
    """The operands as Tensors of their common dtype (a float one if `floating`)."""
    dtype = _common_dtype(*operands) if len(operands) == 2 else None
    if dtype is None:
        dtype = result_type(*operands)
    if floating and dtype.kind != "f":
        dtype = np.dtype(np.float32)
    elif all(isinstance(x, Tensor) for x in operands) and all(x.data.dtype == dtype for x in operands):
        return operands  # nothing to convert
    return [
        (x if x.dtype == dtype else x.to(dtype)) if isinstance(x, Tensor) else Tensor._wrap(np.asarray(x, dtype))
        for x in operands
    ]


def _is_operand(value):
    return isinstance(value, (Tensor, np.ndarray, numbers.Number, np.generic, list, tuple))


def _binary(op, floating=False, reflected=False):
    """`self OP other` as a method (`other OP self` if reflected, as in `2 - t`):
    both operands promoted to one dtype, then `op(a, b)` on two Tensors."""
    def method(self, other):
        if not _is_operand(other):
            return NotImplemented
        a, b = (other, self) if reflected else (self, other)
        return op(*_promoted(a, b, floating=floating))
    return method


def _reflected(op, floating=False):
    return _binary(op, floating, reflected=True)


# %%
def test_unit_type_promotion():
    """Checks PyTorch's promotion rules in the provided `result_type` and `_promoted`: int64 with
    float32 gives float32, a Python number or NumPy scalar never widens a tensor of its own
    category, a 0-d tensor counts like a number. The code is given; if it fails, look at what it
    calls: your `_default_dtype` (for lists and arrays) and the dtype your `Tensor(...)` keeps when
    one is asked for.
    """
    f32, f64 = Tensor([1.0]), Tensor([1.0], dtype=np.float64)
    i64 = Tensor([1])
    assert result_type(i64, f32) == np.float32, "int64 + float32 is float32, not NumPy's float64"
    assert result_type(f32, f64) == np.float64
    assert result_type(f32, np.float64(2)) == np.float32, "a NumPy scalar does not promote"
    assert result_type(i64, 2) == np.int64 and result_type(i64, 2.5) == np.float32
    assert result_type(Tensor([True]), 1) == np.int64
    assert result_type(f32, Tensor(1.0, dtype=np.float64)) == np.float32, "0-d counts as a number"
    a, b = _promoted(i64, 0.5)
    assert a.dtype == b.dtype == np.float32 and isinstance(b, Tensor)
    assert _promoted(i64, i64, floating=True)[0].dtype == np.float32


if __name__ == "__main__":
    test_unit_type_promotion()

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
# is what makes gradients computable later. You write each operation for two Tensors
# `self` and `other` of the same dtype (`_binary` promotes them first); the reflected
# versions (`__radd__`, ...) make `2 * t` work like `t * 2`, and `2 ** t` too.

# %%
#| export
def _add(self, other):
    ### BEGIN SOLUTION
    return Tensor._wrap(self.data + other.data)
    ### END SOLUTION


def _sub(self, other):
    ### BEGIN SOLUTION
    return Tensor._wrap(self.data - other.data)
    ### END SOLUTION


def _mul(self, other):
    ### BEGIN SOLUTION
    return Tensor._wrap(self.data * other.data)
    ### END SOLUTION


def _truediv(self, other):
    ### BEGIN SOLUTION
    return Tensor._wrap(self.data / other.data)
    ### END SOLUTION


def _pow(self, exponent):
    ### BEGIN SOLUTION
    return Tensor._wrap(self.data ** exponent.data)
    ### END SOLUTION


def _neg(self):
    ### BEGIN SOLUTION
    return Tensor._wrap(-self.data)
    ### END SOLUTION


Tensor.__add__, Tensor.__radd__ = _binary(_add), _reflected(_add)
Tensor.__sub__, Tensor.__rsub__ = _binary(_sub), _reflected(_sub)
Tensor.__mul__, Tensor.__rmul__ = _binary(_mul), _reflected(_mul)
Tensor.__truediv__ = _binary(_truediv, floating=True)
Tensor.__rtruediv__ = _reflected(_truediv, floating=True)
Tensor.__pow__, Tensor.__rpow__ = _binary(_pow), _reflected(_pow)
Tensor.__neg__ = _neg

# %%
def test_unit_arithmetic():
    """Checks `+ - * / **` and unary `-` with broadcasting, the reflected forms (`2 * a`, `1 - a`,
    `6 / a`, `2 ** a`) and the dtypes of the results. `_binary` has already promoted both operands
    to Tensors of one dtype and put them in order, so each of `_add` … `_pow` is one NumPy operation
    on the two `.data` arrays, wrapped in a new Tensor. Mixing a Tensor into NumPy arithmetic, or
    updating `self.data` in place, are the usual slips.
    """
    a = Tensor([[1.0, 2, 3], [4, 5, 6]])
    b = Tensor([10.0, 20, 30])
    assert (a + b).data.tolist() == [[11, 22, 33], [14, 25, 36]]
    assert (a - 1).data.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert (2 * a).data.tolist() == [[2, 4, 6], [8, 10, 12]]
    assert (a / Tensor([[2.0], [4.0]])).data.tolist() == [[0.5, 1, 1.5], [1, 1.25, 1.5]]
    assert (a ** 2).data[1, 2] == 36 and (2 ** a).data[0].tolist() == [2, 4, 8]
    assert (-a).data[0, 0] == -1
    assert (1 - a).data[0].tolist() == [0, -1, -2]
    assert (6 / a).data[0].tolist() == [6, 3, 2]
    assert (a + b).dtype == np.float32 and (a * np.float64(2)).dtype == np.float32
    assert (Tensor([3]) / 2).data.tolist() == [1.5], "int / int is a float division"
    assert (Tensor([3]) + 1).dtype == np.int64 and (Tensor([3]) * 0.5).dtype == np.float32
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
# attention head's score matrix at once. A 1-D operand is a vector: `(n, k) @ (k,) -> (n,)`,
# `(k,) @ (k, m) -> (m,)`, and `(k,) @ (k,)` is the dot product, a 0-d tensor.
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
    _check_matmul(self.shape, other.shape)
    return Tensor._wrap(self.data @ other.data)
    ### END SOLUTION


Tensor.__matmul__, Tensor.__rmatmul__ = _binary(_matmul), _reflected(_matmul)

# %%
def test_unit_matmul():
    """Checks `@` through `_matmul`: 2-D products, a batch `(5, 3, 2) @ (2, 2)`, matrix @ vector,
    vector @ vector (a 0-d result), and a `ValueError` naming both shapes on a mismatch. NumPy's `@`
    already broadcasts batches and handles 1-D operands, but its own error does not name both shapes
    the way the provided `_check_matmul` does.
    """
    a = Tensor([[1, 2], [3, 4]])
    b = Tensor([[5, 6], [7, 8]])
    assert (a @ b).data.tolist() == [[19, 22], [43, 50]]
    batch = Tensor(np.ones((5, 3, 2)))
    assert (batch @ a).shape == (5, 3, 2), "batched: (5, 3, 2) @ (2, 2)"
    assert (a @ Tensor([1, 1])).data.tolist() == [3, 7], "matrix @ vector"
    assert (Tensor([1, 2, 3]) @ Tensor([4, 5, 6])).item() == 32, "vector @ vector: a dot product"
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
# A loss is a *reduction*: many numbers in, one number out. `dim` says which
# dimensions disappear; `keepdim=True` keeps them with size 1, so the result still
# broadcasts against the input (`x - x.amax(dim=1, keepdim=True)` subtracts each row's
# maximum from that row — the trick that makes softmax numerically stable).
#
# Both spellings work: PyTorch's `dim=`/`keepdim=` and NumPy's `axis=`/`keepdims=` (provided
# `_reduction` translates them; you write each reduction with NumPy's names).
#
# `max` has two meanings, as in PyTorch: `x.max()` is the largest number, and
# `x.max(dim=1)` returns a pair `(values, indices)` — the maximum of each row *and where it
# is* (provided code at the end of the module builds it from `argmax`). `x.amax(dim=1)`
# (and NumPy's spelling `x.max(axis=1)`) gives the values alone. `mean` needs floating
# point numbers, as in PyTorch: `(pred == y).float().mean()` is an accuracy.

# %%
#| export
def _reduce_args(dim, keepdim, axis, keepdims, ndim=None):
    """One (axis, keepdims) pair from PyTorch's `dim`/`keepdim` or NumPy's `axis`/`keepdims`.
    A 0-d tensor (`ndim` 0) reduced over its "dimension" 0 or -1 is, as in PyTorch, reduced over all of it."""
    if axis is not None:
        if dim is not None:
            raise TypeError("give dim= or axis=, not both")
        dim = axis
    if isinstance(dim, list):
        dim = tuple(dim)
    if ndim == 0:
        dim = None
    return dim, bool(keepdim if keepdims is None else keepdims)


def _reduction(op, name=None):
    """A reduction method taking both spellings; `name` marks one that needs floats. With
    `dtype=`, the tensor is converted first (PyTorch's `x.sum(dtype=torch.float64)`)."""
    def method(self, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
        if dtype is not None:
            self = self.to(dtype)
        if name and not self.is_floating_point():
            raise RuntimeError(
                f"{name}(): input dtype must be floating point, got {self.dtype} "
                f"(convert first, e.g. x.float().{name}())"
            )
        axis, keepdims = _reduce_args(dim, keepdim, axis, keepdims, self.ndim)
        return op(self, axis=axis, keepdims=keepdims)
    return method


def _sum(self, axis=None, keepdims=False):
    ### BEGIN SOLUTION
    return Tensor._wrap(self.data.sum(axis=axis, keepdims=keepdims))
    ### END SOLUTION


def _mean(self, axis=None, keepdims=False):
    ### BEGIN SOLUTION
    return Tensor._wrap(self.data.mean(axis=axis, keepdims=keepdims))
    ### END SOLUTION


def _amax(self, axis=None, keepdims=False):
    ### BEGIN SOLUTION
    return Tensor._wrap(self.data.max(axis=axis, keepdims=keepdims))
    ### END SOLUTION


def _amin(self, axis=None, keepdims=False):
    """The smallest value is minus the largest of minus the values."""
    return -(-self).amax(axis=axis, keepdims=keepdims)


Tensor.sum, Tensor.mean = _reduction(_sum), _reduction(_mean, "mean")
Tensor.amax, Tensor.amin = _reduction(_amax), _reduction(_amin)

# %%
def test_unit_reductions():
    """Checks `_sum`, `_mean` and `_amax` with `dim`/`axis` (an int or a tuple), `keepdim=True`
    keeping the reduced axes with size 1, and a sum of bools. `_reduction` has already translated
    PyTorch's names into `axis`/`keepdims`: pass both on to NumPy. A result that lost its kept axis
    no longer broadcasts against its input.
    """
    t = Tensor([[1.0, 2, 3], [4, 5, 6]])
    assert t.sum().item() == 21
    assert t.sum(dim=0).data.tolist() == [5, 7, 9] and t.sum(axis=0).data.tolist() == [5, 7, 9]
    assert t.sum(1, keepdim=True).shape == (2, 1) and t.sum(axis=1, keepdims=True).shape == (2, 1)
    assert t.mean().item() == 3.5
    assert t.mean(dim=(0, 1)).item() == 3.5
    assert t.amax(dim=1).data.tolist() == [3, 6] and t.amin(dim=0).data.tolist() == [1, 2, 3]
    assert (t - t.amax(dim=1, keepdim=True)).data.max() == 0
    assert Tensor([True, True, False]).sum().item() == 2, "summing bools counts them"


if __name__ == "__main__":
    test_unit_reductions()

# %% [markdown]
# ## Shapes: reshape, transpose, indexing
#
# `reshape` reinterprets the same numbers under a new shape (one dimension may be `-1`:
# "whatever is left"). `transpose(dim0, dim1)` swaps two dimensions (default: the last
# two, as a matrix transpose), `permute(*dims)` reorders them all, `.T` reverses
# them and `.mT` transposes the last two (a batch of matrices). Indexing (`t[0]`, `t[:, 1:3]`, `t[[0, 2]]`, `t[mask]`) selects as in NumPy,
# and an integer (or bool) *Tensor* works as an index too: `x[Tensor([0, 2])]`. One corner
# differs: with integers *and* index lists in one index, PyTorch selects with the integers
# first, so `x[0, :, [1, 2]]` of a (2, 3, 4) tensor is `x[0][:, [1, 2]]`, shape (3, 2), where
# NumPy gives (2, 3). The given `_index` turns an index into the NumPy keys that give
# PyTorch's answer and `_select(array, keys)` applies them: index through those two.

# %%
#| export
def _shape_args(args):
    """`reshape(2, 3)`, `reshape((2, 3))` and `reshape([2, 3])` all mean the shape (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _is_integer_index(i):
    """A Python or NumPy integer, or a 0-d integer array (an integer Tensor's): PyTorch selects with it."""
    if isinstance(i, np.ndarray):
        return i.ndim == 0 and i.dtype.kind in "iu"
    return isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))


def _index(index):
    """PyTorch's ``t[index]`` as NumPy keys to apply one after another (see ``_select``), with any
    Tensors in the index replaced by their arrays.

    One key, except in the one place where NumPy and PyTorch place dimensions differently: an
    index with both integers and index arrays. NumPy counts the integers as index arrays too,
    so in ``x[0, :, [1, 2]]`` the "advanced" indices are not side by side and their dimension
    goes first: shape (2, 3) for x of shape (2, 3, 4). PyTorch selects with the integers first,
    ``x[0][:, [1, 2]]``: shape (3, 2). Two keys do exactly that: the integers (with everything
    else kept whole), then the rest.
    """
    if not isinstance(index, tuple):
        return (_data(index),)
    index = tuple(np.asarray(i) if isinstance(i, list) else _data(i) for i in index)
    arrays = [isinstance(i, np.ndarray) and not _is_integer_index(i) for i in index]
    if not any(arrays) or not any(_is_integer_index(i) for i in index):
        return (index,)
    integers, rest = [], []
    for i, is_array in zip(index, arrays):
        if _is_integer_index(i):
            integers.append(int(i))
        elif is_array:  # kept whole by the first key: a boolean mask spans as many dims as it has
            integers.extend([slice(None)] * (i.ndim if i.dtype == np.bool_ else 1))
            rest.append(i)
        else:  # a slice or None is applied by the first key, Ellipsis by both
            integers.append(i)
            rest.append(Ellipsis if i is Ellipsis else slice(None))
    return tuple(integers), tuple(rest)


def _select(array, keys):
    """``array`` indexed by each of ``keys`` in turn (``_index``'s keys: all but the last give views)."""
    for key in keys:
        array = array[key]
    return array


def _reshape(self, *shape):
    ### BEGIN SOLUTION
    return Tensor._wrap(self.data.reshape(_shape_args(shape)))
    ### END SOLUTION


def _permute(self, *dims):
    ### BEGIN SOLUTION
    return Tensor._wrap(np.transpose(self.data, _shape_args(dims)))
    ### END SOLUTION


def _transpose(self, dim0=-2, dim1=-1):
    """Swap two dimensions (default: the last two). Built on permute."""
    dims = list(range(self.ndim))
    if dims:  # a 0-d tensor's transpose(0, -1) is itself, as in PyTorch
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return self.permute(*dims)


def _getitem(self, index):
    ### BEGIN SOLUTION
    return Tensor._wrap(_select(self.data, _index(index)))
    ### END SOLUTION


Tensor.reshape = _reshape
Tensor.permute = _permute
Tensor.transpose = _transpose
Tensor.T = property(lambda self: self.permute(*reversed(range(self.ndim))))
Tensor.__getitem__ = _getitem


def _matrix_transpose(self):
    """A batch of matrices, each transposed (``.mT``; ``.mH`` too: the numbers here are real)."""
    if self.ndim < 2:
        raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. Got {self.ndim}-D tensor.")
    return self.transpose(-2, -1)


def _adjoint(self):
    """``.H``: a matrix transposed (conjugated, which real numbers need not be)."""
    if self.ndim not in (0, 2):
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {self.ndim}-D tensor.")
    return self.T


Tensor.mT = Tensor.mH = property(_matrix_transpose)
Tensor.H = property(_adjoint)

# %%
def test_unit_shapes():
    """Checks `reshape` (with `-1`, and with one tuple), `permute`, `transpose` and `.T` (both built
    on your `permute`), and indexing with slices, lists, integer Tensors and bool Tensors.
    `_shape_args` makes `reshape(2, 3)` and `reshape((2, 3))` one tuple, and `_index` replaces
    Tensors inside an index by their arrays (NumPy does not know what a Tensor index is) and
    gives the keys `_select` applies: use them.
    """
    t = Tensor(np.arange(6))
    assert t.reshape(2, 3).shape == (2, 3)
    assert t.reshape((3, -1)).shape == (3, 2)
    m = t.reshape(2, 3)
    assert m.T.shape == (3, 2) and m.T.data[2, 1] == 5
    x = Tensor(np.zeros((2, 3, 4, 5)))
    assert x.transpose(1, 2).shape == (2, 4, 3, 5)
    assert x.transpose().shape == (2, 3, 5, 4) and x.mT.shape == (2, 3, 5, 4)
    assert x.permute(0, 2, 1, 3).shape == (2, 4, 3, 5)
    assert m[1].data.tolist() == [3, 4, 5]
    assert m[:, 1:].shape == (2, 2)
    assert m[[1, 0]].data[0].tolist() == [3, 4, 5]
    assert m[Tensor([1, 1])].shape == (2, 3), "an integer Tensor indexes"
    assert t[Tensor([True, False, True, False, False, True])].data.tolist() == [0, 2, 5], "a bool one masks"
    assert x[0, :, [1, 2]].shape == (3, 2, 5), "integers select first, as in PyTorch: x[0][:, [1, 2]]"


if __name__ == "__main__":
    test_unit_shapes()

# %% [markdown]
# ## Elementwise functions
#
# `exp` and `log` build losses; `sigmoid`, `tanh` and `relu` are the classic
# nonlinearities that let a stack of layers represent more than a single linear map.
# The first five give floats even for integer input (`Tensor([0, 1]).exp()` is float32):
# provided `_floating` converts first.
#
# `sigmoid(x) = 1 / (1 + e^-x)` overflows for large negative `x` if computed naively
# (`e^1000` is `inf`). The identity `sigmoid(x) = (1 + tanh(x / 2)) / 2` is exact and
# never overflows.

# %%
#| export
def _floating(op):
    """A method that applies `op` to this tensor, converted to float32 first if needed."""
    return lambda self: op(self if self.is_floating_point() else self.to(np.float32))


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


Tensor.exp, Tensor.log, Tensor.sqrt = _floating(_exp), _floating(_log), _floating(_sqrt)
Tensor.sigmoid, Tensor.tanh = _floating(_sigmoid), _floating(_tanh)
Tensor.relu = _relu

# %%
def test_unit_elementwise():
    """Checks `exp`, `log`, `sqrt`, `sigmoid`, `tanh` and `relu`, and that integer input becomes
    float32 first. `sigmoid(-1000)` must be exactly 0 without an overflow: the textbook form
    `1 / (1 + np.exp(-x))` computes e^1000 = inf on the way, the tanh identity of the text never
    does.
    """
    t = Tensor([-1000.0, 0.0, 2.0])
    assert np.allclose(Tensor([0.0, 1.0]).exp().data, [1.0, np.e])
    assert np.allclose(Tensor([1.0, np.e]).log().data, [0.0, 1.0])
    assert np.allclose(Tensor([4.0, 9.0]).sqrt().data, [2.0, 3.0])
    s = t.sigmoid().data
    assert np.all(np.isfinite(s)) and s[0] == 0.0 and s[1] == 0.5, "sigmoid is stable"
    assert np.isclose(s[2], 1 / (1 + np.exp(-2.0)))
    assert t.tanh().data[1] == 0.0
    assert t.relu().data.tolist() == [0.0, 0.0, 2.0]
    assert Tensor([0, 1]).exp().dtype == np.float32, "integers become float32 first"


if __name__ == "__main__":
    test_unit_elementwise()

# %% [markdown]
# ## Provided: the rest of the Tensor API
#
# What follows is plumbing you are given, not exercises: the rest of what a PyTorch user
# types. Read it once; every piece is built from what you wrote above, so module 02 makes
# all of it differentiable when it teaches your operations to.
#
# **Python and NumPy.** `float(t)`, `int(t)`, `bool(t)` work for one-element tensors (and
# `bool` of a bigger one is an error: is `[1, 0]` true?); `np.asarray(t)`, `np.allclose(t, ...)`
# and `np.abs(t)` see the array; `t.tolist()`; `f"{loss:.3f}"` formats a 0-d tensor.
#
# **Comparisons** `== != < <= > >=` are elementwise and give bool tensors, as in PyTorch:
# `(pred == y).float().mean()` is an accuracy. So `==` does not mean "the same object":
# tensors hash by identity and work as dictionary keys, but `t in some_list` compares
# elementwise after the first non-identical entry, as in PyTorch (use `id()` or `is`).
# `& | ~ ^` combine bool masks.
#
# **Shapes**: `view` (a reshape), `flatten(start_dim, end_dim)`, `squeeze`, `unsqueeze`.
#
# **More reductions**: `min`, `argmax`, `argmin`, `max(dim)`/`min(dim)` as `(values, indices)`,
# `var`/`std` (unbiased by default, `correction=` or `unbiased=` as in PyTorch), `any`, `all`,
# `gather(dim, index)`.
#
# **In place**: `a += b` (also `-= *= /= **=`), `t[index] = value`, `add_` `sub_` `mul_` `div_`
# `pow_` `zero_` `fill_` `copy_` write into the tensor's own memory, so every alias sees the
# change: after `alias = a; a += 1`, `alias` is changed too. (Module 02 explains why autograd
# must refuse some of them.)
#
# **Creating tensors** — functions, as in `torch`:
#
# | function | gives |
# |---|---|
# | `tensor(data, dtype=None, requires_grad=False)` | `Tensor(data, ...)`: the dtype rule above |
# | `zeros(2, 3)`, `ones(...)`, `full((2, 3), 7.0)`, `eye(n)` | filled tensors (float32; `full` takes the value's dtype) |
# | `arange(5)`, `arange(0, 1, 0.25)` | a range: int64 for ints, float32 if any bound is a float |
# | `rand(2, 3)`, `randn(2, 3)`, `randint(0, 10, (4,))` | uniform [0, 1), standard normal, integers |
# | `zeros_like(t)`, `ones_like`, `full_like`, `rand_like`, `randn_like` | the same shape (and dtype) as `t` |
# | `manual_seed(0)` | seeds NumPy's global generator, which all of tinytorch draws from |
# | `linspace(0, 1, 5)`, `randperm(n)`, `empty(2, 3)` | evenly spaced points, a shuffled 0..n-1, zeros |
# | `from_numpy(a)`, `is_tensor(x)`, `allclose(a, b)`, `equal(a, b)` | a Tensor sharing `a`'s memory; tests |
#
# Each takes `dtype=` and `requires_grad=` (keyword-only, as in PyTorch); the dtype names
# `float32`, `float64`, `int64`, `long`, ... are NumPy's dtypes, importable from `tinytorch`.

# %%
#| export
def _to_python(self, convert):
    if self.data.size != 1:
        raise ValueError("only one element tensors can be converted to Python scalars")
    return convert(self.data.item())


def _bool(self):
    if self.data.size != 1:
        amount = "no values" if self.data.size == 0 else "more than one value"
        raise RuntimeError(f"Boolean value of Tensor with {amount} is ambiguous")
    return bool(self.data.item())


def _index_value(self):
    if self.data.dtype.kind not in "iu" or self.data.size != 1:
        raise TypeError("only integer tensors of a single element can be converted to an index")
    return int(self.data.item())


def _array(self, dtype=None, copy=None):
    """NumPy's protocol: `np.asarray(t)` is the data (shared unless a copy is asked for)."""
    if dtype is not None and np.dtype(dtype) != self.data.dtype:
        return self.data.astype(dtype)
    return self.data.copy() if copy else self.data


def _format(self, spec):
    return format(self.data.item(), spec) if self.data.ndim == 0 else object.__format__(self, spec)


def _iter(self):
    if self.data.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (self[i] for i in range(len(self)))


Tensor.__float__ = lambda self: _to_python(self, float)
Tensor.__int__ = lambda self: _to_python(self, int)
Tensor.__bool__, Tensor.__index__, Tensor.__array__ = _bool, _index_value, _array
Tensor.__format__, Tensor.__iter__ = _format, _iter
Tensor.__hash__ = object.__hash__  # by identity, as in PyTorch, although == is elementwise
Tensor.tolist = lambda self: self.data.tolist()
Tensor.cpu = lambda self: self
Tensor.device = property(lambda self: "cpu")


def _compare(ufunc):
    """An elementwise comparison, logical or rounding operation (no gradient)."""
    return _binary(lambda a, b: Tensor._wrap(ufunc(a.data, b.data)))


Tensor.__eq__, Tensor.__ne__ = _compare(np.equal), _compare(np.not_equal)
Tensor.__lt__, Tensor.__le__ = _compare(np.less), _compare(np.less_equal)
Tensor.__gt__, Tensor.__ge__ = _compare(np.greater), _compare(np.greater_equal)
Tensor.eq, Tensor.ne, Tensor.lt = Tensor.__eq__, Tensor.__ne__, Tensor.__lt__
Tensor.le, Tensor.gt, Tensor.ge = Tensor.__le__, Tensor.__gt__, Tensor.__ge__
Tensor.__and__ = Tensor.__rand__ = _compare(np.bitwise_and)
Tensor.__or__ = Tensor.__ror__ = _compare(np.bitwise_or)
Tensor.__xor__ = Tensor.__rxor__ = _compare(np.bitwise_xor)
Tensor.__invert__ = lambda self: Tensor._wrap(~self.data)
_floor_divide = _compare(np.floor_divide)  # no gradient: floor is flat almost everywhere (PyTorch has none)
Tensor.__floordiv__, Tensor.__rfloordiv__ = _floor_divide, _reflected(lambda a, b: _floor_divide(a, b))
Tensor.__mod__ = lambda self, other: self - (self // other) * other  # Python's (and torch's) sign rule
Tensor.__rmod__ = lambda self, other: other - (other // self) * self
Tensor.__contains__ = lambda self, value: bool((self == value).any())

# %%
#| export
def _flatten(self, start_dim=0, end_dim=-1):
    """Merge dimensions start_dim..end_dim into one: (N, C, H, W).flatten(1) is (N, C*H*W)."""
    if self.ndim == 0:
        return self.reshape(1)
    for dim in (start_dim, end_dim):  # PyTorch's checks
        if not -self.ndim <= dim < self.ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-self.ndim}, {self.ndim - 1}], "
                             f"but got {dim})")
    start, end = start_dim % self.ndim, end_dim % self.ndim
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    merged = int(np.prod(self.shape[start:end + 1]))  # not -1: ambiguous when another dimension is 0
    return self.reshape(*self.shape[:start], merged, *self.shape[end + 1:])


def _squeeze(self, dim=None):
    """Drop dimensions of size 1 (all of them, or the given ones if they have size 1)."""
    dims = range(self.ndim) if dim is None else [dim] if isinstance(dim, int) else dim
    drop = {d % self.ndim for d in dims if self.ndim and self.shape[d] == 1}  # a 0-d tensor: nothing to drop
    return self.reshape(*(n for d, n in enumerate(self.shape) if d not in drop))


def _unsqueeze(self, dim):
    """Insert a dimension of size 1 at `dim` (negative counts from the end of the result)."""
    dim = dim % (self.ndim + 1)
    return self.reshape(*self.shape[:dim], 1, *self.shape[dim:])


Tensor.view = lambda self, *shape: self.reshape(*shape)
Tensor.flatten, Tensor.squeeze, Tensor.unsqueeze = _flatten, _squeeze, _unsqueeze

# %%
#| export
_max_result = namedtuple("max", ["values", "indices"])  # PyTorch's torch.return_types.max
_min_result = namedtuple("min", ["values", "indices"])


def _gather(self, dim, index):
    """PyTorch's gather: `out[i][j] = self[index[i][j]][j]` for dim=0 (any dimension likewise)."""
    index = np.asarray(_data(index))
    if index.ndim == 0:  # a 0-d tensor (dim 0 or -1): gather as from a one-element vector
        return self.reshape(1).gather(0, index.reshape(1)).reshape(())
    where = list(np.ix_(*(np.arange(n) for n in index.shape)))
    where[dim] = index
    return self[tuple(where)]


def _plain_reduction(numpy_reduce, dtype):
    """A reduction without a gradient (argmax, any, ...), taking both keyword spellings."""
    def method(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        axis, keepdims = _reduce_args(dim, keepdim, axis, keepdims, self.ndim)
        return Tensor._wrap(np.asarray(numpy_reduce(self.data, axis=axis, keepdims=keepdims), dtype=dtype))
    return method


def _extreme(largest):
    """`max`/`min`: the number, or with `dim` the (values, indices) pair PyTorch returns."""
    def method(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        if isinstance(dim, Tensor):  # torch.max(a, b): the elementwise maximum
            return (self.maximum if largest else self.minimum)(dim)
        if dim is None:  # no dim, or NumPy's axis= spelling: the values alone
            return (self.amax if largest else self.amin)(axis=axis, keepdims=keepdims)
        indices = (self.argmax if largest else self.argmin)(dim, keepdim=True)
        values = self.gather(dim, indices)
        if not (keepdims if keepdims is not None else keepdim):
            values, indices = values.squeeze(dim), indices.squeeze(dim)
        return (_max_result if largest else _min_result)(values, indices)
    return method


def _var(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=None):
    """The variance, divided by n - correction (correction=1, unbiased, by default)."""
    if not self.is_floating_point():
        raise RuntimeError(f"std and var need a floating point dtype, got {self.dtype}")
    axis, keepdims = _reduce_args(dim, keepdim, axis, keepdims, self.ndim)
    if correction is None:
        correction = 0 if unbiased is False else 1
    axes = range(self.ndim) if axis is None else [axis] if isinstance(axis, int) else axis
    count = int(np.prod([self.shape[d] for d in axes]))
    centered = self - self.mean(dim=axis, keepdim=True)
    return (centered * centered).sum(dim=axis, keepdim=keepdims) / max(count - correction, 0)


Tensor.gather = _gather
Tensor.argmax, Tensor.argmin = _plain_reduction(np.argmax, np.int64), _plain_reduction(np.argmin, np.int64)
Tensor.any, Tensor.all = _plain_reduction(np.any, np.bool_), _plain_reduction(np.all, np.bool_)
Tensor.max, Tensor.min = _extreme(True), _extreme(False)
Tensor.var = _var
Tensor.std = lambda self, *args, **kwargs: self.var(*args, **kwargs).sqrt()

# %%
#| export
def _write_into(self, result):
    """Copy `result` into this tensor's own memory, so that every alias and view sees it."""
    if result.shape != self.shape:
        raise RuntimeError(f"output with shape {self.shape} doesn't match the broadcast shape {result.shape}")
    if not np.can_cast(result.dtype, self.dtype, casting="same_kind"):
        raise RuntimeError(f"result type {result.dtype} can't be cast to the desired output type {self.dtype}")
    self.data[...] = result.data
    self._version_counter[0] += 1


def _inplace(self, compute):
    """The in-place form of an operation: `compute(self)` written into self (module 02 adds autograd)."""
    _write_into(self, compute(self))
    return self


def _setitem(self, index, value):
    """`t[index] = value`: NumPy's assignment into the tensor's memory."""
    *first, last = _index(index)
    _select(self.data, first)[last] = _data(value)
    self._version_counter[0] += 1


def _fill(self, value):
    self[...] = value
    return self


Tensor._inplace, Tensor.__setitem__ = _inplace, _setitem
def _scaled(other, alpha):
    return other if alpha == 1 else other * alpha


Tensor.__iadd__ = Tensor.add_ = lambda self, other, alpha=1: self._inplace(lambda t: t + _scaled(other, alpha))
Tensor.__isub__ = Tensor.sub_ = lambda self, other, alpha=1: self._inplace(lambda t: t - _scaled(other, alpha))
Tensor.__imul__ = Tensor.mul_ = lambda self, other: self._inplace(lambda t: t * other)
Tensor.__itruediv__ = Tensor.div_ = lambda self, other: self._inplace(lambda t: t / other)
Tensor.__ipow__ = Tensor.pow_ = lambda self, other: self._inplace(lambda t: t ** other)
Tensor.fill_, Tensor.copy_ = _fill, _fill
Tensor.zero_ = lambda self: self.fill_(0)

# %%
#| export
float16, float32, float64, half, double = np.float16, np.float32, np.float64, np.float16, np.float64
uint8, int8, int16, int32, int64, long = np.uint8, np.int8, np.int16, np.int32, np.int64, np.int64


def tensor(data, dtype=None, requires_grad=False):
    """PyTorch's `torch.tensor`: a new Tensor holding a copy of `data`."""
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


_SEEDS = {"initial": None}  # the last seed given (torch.initial_seed; module 02)


def manual_seed(seed):
    """Seed NumPy's global generator: layers' initial weights, rand/randn, shuffling all use it."""
    np.random.seed(seed)
    _SEEDS["initial"] = int(seed)


def _created(array, dtype, requires_grad):
    result = Tensor._wrap(array if dtype is None else array.astype(dtype, copy=False))
    result.requires_grad = requires_grad
    return result


def zeros(*size, dtype=None, requires_grad=False):
    return _created(np.zeros(_shape_args(size), dtype=dtype or np.float32), None, requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    return _created(np.ones(_shape_args(size), dtype=dtype or np.float32), None, requires_grad)


def full(size, fill_value, *, dtype=None, requires_grad=False):
    """A tensor of `size` filled with `fill_value` (its dtype follows the value: 7 -> int64)."""
    dtype = dtype or _default_dtype(fill_value)
    return _created(np.full(_shape_args((size,)), fill_value, dtype=dtype), None, requires_grad)


def eye(n, m=None, *, dtype=None, requires_grad=False):
    return _created(np.eye(n, m, dtype=dtype or np.float32), None, requires_grad)


def arange(start, end=None, step=1, *, dtype=None, requires_grad=False):
    """`arange(5)` is 0..4 (int64); any float bound makes it float32."""
    if end is None:
        start, end = 0, start
    if step == 0 or (end - start) * step < 0:
        raise RuntimeError(f"arange: upper bound and larger bound inconsistent with step sign (start={start}, "
                           f"end={end}, step={step})")
    dtype = dtype or _default_dtype([start, end, step])
    return _created(np.arange(start, end, step, dtype=dtype), None, requires_grad)


def rand(*size, dtype=None, requires_grad=False):
    return _created(np.random.random_sample(_shape_args(size)), dtype or np.float32, requires_grad)


def randn(*size, dtype=None, requires_grad=False):
    return _created(np.random.standard_normal(_shape_args(size)), dtype or np.float32, requires_grad)


def randint(low, high=None, size=(), *, dtype=None, requires_grad=False):
    """Integers from [low, high) (or [0, low) when high is omitted), as `torch.randint`."""
    if high is None:
        low, high = 0, low
    return _created(np.random.randint(low, high, size=_shape_args((size,))), dtype or np.int64, requires_grad)


def zeros_like(t, *, dtype=None, requires_grad=False):
    return zeros(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def ones_like(t, *, dtype=None, requires_grad=False):
    return ones(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def full_like(t, fill_value, *, dtype=None, requires_grad=False):
    return full(t.shape, fill_value, dtype=dtype or t.dtype, requires_grad=requires_grad)


def rand_like(t, *, dtype=None, requires_grad=False):
    return rand(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def randn_like(t, *, dtype=None, requires_grad=False):
    return randn(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def empty(*size, dtype=None, requires_grad=False):
    """PyTorch leaves an empty tensor's memory as it finds it; here it is zeros."""
    return zeros(*size, dtype=dtype, requires_grad=requires_grad)


def linspace(start, end, steps, *, dtype=None, requires_grad=False):
    return _created(np.linspace(start, end, steps), dtype or np.float32, requires_grad)


def randperm(n, *, dtype=None, requires_grad=False):
    return _created(np.random.permutation(n), dtype or np.int64, requires_grad)


def from_numpy(array):
    """A Tensor sharing `array`'s memory and dtype (float64 stays float64), as `torch.from_numpy`."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a NumPy array, got {type(array).__name__}")
    return Tensor._wrap(array)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(np.allclose(_data(input), _data(other), rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input, other):
    """True when both have the same shape and the same values."""
    return bool(np.array_equal(_data(input), _data(other)))


# %%
def test_unit_python_and_numpy():
    """Checks the provided bridges to Python and NumPy: `float(t)`, `int(t)`, `bool(t)` (an error
    for more than one value), `np.allclose(t, ...)`, formatting, and a Tensor as a list index. They
    read `.data` directly, so a failure here usually means `Tensor(...)` stored the wrong thing:
    `.data` must be a NumPy array of the dtype the table prescribes, not a list or a Tensor.
    """
    assert float(Tensor([2.5])) == 2.5 and int(Tensor(3.0)) == 3
    assert bool(Tensor([0.0])) is False and bool(Tensor(1.0)) is True
    try:
        bool(Tensor([1.0, 0.0]))
    except RuntimeError as err:
        assert "ambiguous" in str(err)
    else:
        raise AssertionError("bool() of a tensor with two values must raise")
    t = Tensor([1.0, -2.0])
    assert np.allclose(t, [1.0, -2.0]) and np.abs(t).tolist() == [1.0, 2.0]
    assert f"{Tensor(0.12345):.2f}" == "0.12" and [10, 20, 30][Tensor(1)] == 20


if __name__ == "__main__":
    test_unit_python_and_numpy()


# %%
def test_unit_comparisons():
    """Checks the provided comparisons (`== != < <= > >=`, `& | ~`), which give bool tensors, floor
    division and remainder (`// %`), and that tensors hash by identity. They go through `_binary`
    like your arithmetic; the accuracy line also needs `float()` and your `_mean`, and the count
    needs your `_sum` to count bools.
    """
    pred, y = Tensor([0, 1, 2, 2]), Tensor([0, 1, 1, 2])
    same = pred == y
    assert same.dtype == np.bool_ and same.tolist() == [True, True, False, True]
    assert same.float().mean().item() == 0.75, "an accuracy"
    assert (pred != y).tolist() == [False, False, True, False]
    assert (pred > 1).tolist() == [False, False, True, True] and (pred <= 0).tolist() == [True, False, False, False]
    assert ((pred > 0) & (y > 1)).tolist() == [False, False, False, True] and (~same).sum().item() == 1
    assert pred in {pred: 1} and len({pred, y}) == 2, "tensors hash by identity"
    k = Tensor([5, -5, 7])
    assert (k // 2).tolist() == [2, -3, 3] and (k % 3).tolist() == [2, 1, 1], "floor division, Python's signs"
    assert (7 // Tensor([2])).tolist() == [3] and (Tensor([5.5]) % 2).tolist() == [1.5]


if __name__ == "__main__":
    test_unit_comparisons()


# %%
def test_unit_more_api():
    """Checks the provided rest of the API: `max(dim)` as `(values, indices)`, `argmax`, `var`/`std`
    (unbiased by default), `gather`, `view`, `flatten`, `squeeze`/`unsqueeze`, conversions and
    `clone`. All of it is built from what you wrote, so a failure points at the piece it calls:
    often `keepdims` ignored in `_mean` or `_amax`, or `reshape` not accepting one tuple.
    """
    x = Tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 5.0]])
    values, indices = x.max(dim=1)
    assert values.tolist() == [3, 5] and indices.tolist() == [0, 1], "the first maximum"
    assert x.max(1).indices.tolist() == [0, 1] and x.max().item() == 5 and x.min().item() == 0
    assert x.min(dim=0, keepdim=True).values.shape == (1, 3)
    assert x.argmax().item() == 4 and x.argmax(dim=0).tolist() == [0, 1, 1]
    assert np.isclose(x.var().item(), np.var(x.data, ddof=1)), "unbiased by default"
    assert np.allclose(x.std(dim=1, correction=0).data, np.std(x.data, axis=1))
    assert x.gather(1, Tensor([[2], [0]])).tolist() == [[2.0], [0.0]]
    assert x.view(3, 2).shape == (3, 2) and x.flatten().shape == (6,)
    assert x.unsqueeze(0).shape == (1, 2, 3) and x.unsqueeze(-1).shape == (2, 3, 1)
    assert x.unsqueeze(1).squeeze().shape == (2, 3) and x.squeeze(0).shape == (2, 3)
    assert x.long().dtype == np.int64 and x.double().dtype == np.float64 and x.bool().dtype == np.bool_
    assert x.to(np.float64).dtype == np.float64 and x.type() == "tinytorch.FloatTensor"
    c = x.clone()
    c.data[0, 0] = -1
    assert x.data[0, 0] == 3.0, "clone copies"


if __name__ == "__main__":
    test_unit_more_api()


# %%
def test_unit_in_place():
    """Checks the provided in-place operations: `a += 1` changes `a`'s own memory (an alias and a
    NumPy view see it), `t[i, j] = v`, `zero_()`, `add_(x, alpha=2)`, and an int tensor refusing a
    float result. They compute the result with your operators and copy it into `self.data`, so your
    operators must return a *new* array of the broadcast shape and the promoted dtype.
    """
    a = Tensor([1.0, 2.0])
    alias = a
    a += 1
    assert alias.data.tolist() == [2.0, 3.0] and alias is a, "an alias sees the change"
    row = Tensor([[1.0, 2.0], [3.0, 4.0]])
    first = row.data[0]  # a NumPy view into the same memory
    row *= 10
    row[1, 0] = -1.0
    assert first.tolist() == [10.0, 20.0] and row.data[1].tolist() == [-1.0, 40.0]
    assert row.zero_().data.sum() == 0 and a.add_(1, alpha=2).data.tolist() == [4.0, 5.0]
    try:
        ids = Tensor([1, 2])
        ids += 0.5
    except RuntimeError as err:
        assert "can't be cast" in str(err)
    else:
        raise AssertionError("an int tensor cannot hold a float result in place")


if __name__ == "__main__":
    test_unit_in_place()


# %%
def test_unit_creation_functions():
    """Checks the provided creation functions (`zeros`, `ones`, `full`, `arange`, `eye`, `rand`,
    `randn`, `randint`, the `*_like` ones, `manual_seed`, `tensor`, `linspace`, `randperm`,
    `from_numpy` and the comparisons `allclose`/`equal`). They are thin wrappers around
    NumPy that take their dtype from your `_default_dtype` (`full((2,), 7)` is int64,
    `full((2,), 0.5)` float32) and from the dtype of the Tensor you built.
    """
    assert zeros(2, 3).shape == (2, 3) and zeros((2, 3)).dtype == np.float32
    assert ones(4).data.sum() == 4 and full((2,), 7).dtype == np.int64 and full((2,), 0.5).dtype == np.float32
    assert arange(4).tolist() == [0, 1, 2, 3] and arange(0, 1, 0.5).dtype == np.float32
    assert eye(3).data.trace() == 3 and zeros_like(Tensor([1, 2])).dtype == np.int64
    manual_seed(0)
    first = randn(3)
    manual_seed(0)
    assert randn(3).tolist() == first.tolist() and first.dtype == np.float32, "seeded, reproducible"
    assert 0 <= rand(5).data.min() and rand(5).data.max() < 1 and randn_like(first).shape == (3,)
    assert randint(0, 3, (10,)).dtype == np.int64 and tensor([1.5]).dtype == np.float32
    assert linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0] and sorted(randperm(4).tolist()) == [0, 1, 2, 3]
    shared = np.zeros(2)
    from_numpy(shared).data[0] = 1.0
    assert shared[0] == 1.0 and from_numpy(shared).dtype == np.float64, "from_numpy shares memory and keeps the dtype"
    assert allclose(Tensor([1.0]), [1.0 + 1e-9]) and equal(Tensor([1, 2]), Tensor([1, 2])) and is_tensor(empty(2))


if __name__ == "__main__":
    test_unit_creation_functions()

# %% [markdown]
# ## Done
#
# `tito module complete 01` tests and exports your `Tensor`. It can compute anything a
# small network needs — but it cannot yet say how to *change* its inputs to lower a
# loss. That is module 02: autograd.
