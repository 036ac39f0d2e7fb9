"""Differential (property-based) tests of tinytorch's core tensor and autograd operations against
PyTorch: random shapes (0-d, size-0 and size-1 dimensions, broadcasting pairs), dtypes, values
(negative zero, ties, large and tiny magnitudes) and arguments; each compares the result's values,
dtype and shape, and, for float64 inputs, every input's gradient under a random upstream gradient.

Inputs are built with explicit dtypes on both sides: tinytorch's one documented dtype difference
(Python floats and float64 *arrays* default to float32, module 01) never enters.

Differences found, and what was done (a: tinytorch bug, fixed, with a regression test at the end
of this file; b: documented difference, excluded; c: PyTorch quirk or harmless leniency, excluded
with a comment where it is excluded):
  a  reductions over dim 0/-1 of a 0-d tensor (mean, var, std, max/min(dim), argmax, logsumexp, prod,
     squeeze(0), transpose(0, -1)) raised or returned shape (1,); cumsum/cumprod of a 0-d gave (1,)
  a  logsumexp over an empty dim raised (PyTorch: -inf); prod's backward of an empty tensor raised
  a  chunk/split of an empty dim returned no pieces (PyTorch: empty pieces)
  a  flatten and batched matmul with a zero-size dim: reshape(-1, 0) is ambiguous and raised
  a  narrow with a negative start returned an empty slice
  a  setitem on a 0-d non-leaf: backward raised (a 0-d gradient arrives as a NumPy scalar)
  a  log1p's gradient below -1 was NaN (PyTorch: 1/(1+x)); atan2's gradient NaN where x²+y² underflows
  a  an int and an index array with a slice between them, x[0, :, [1, 2]], followed NumPy (the int
     counted as an index array: shape (2, 3)); PyTorch selects with the int first (shape (3, 2))
  c  floor/ceil/round/trunc/sign: no gradient in tinytorch, an all-zero one in PyTorch (checked zero)
  c  PyTorch refuses bool sub/pow/floordiv/mod/argmax, negative integer powers, integer division by
     zero, negative slice steps; bool add_ with alpha is a logical or; logsumexp needs a dim
  c  signed zeros: PyTorch's -1 % 1.0 and cumsum([-0.0]) and some dot products differ from NumPy's
  c  atan2's gradient with a float32 input squares it in float32 in PyTorch (underflows)
  c  PyTorch's cumprod gradient underflows for subnormal inputs (it divides); |x|^p norms of subnormals
  c  0.0 and -0.0 tie in max/min/amax/relu/clamp: which sign comes out is the kernel's choice
  c  Tensor.norm with a 3-tuple of dims raises in PyTorch (a matrix norm); tinytorch reduces over them
  c  max/min(dim) over ties: both report the first position (checked, not excluded)
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradcheck import input_gradients, torch
from tinytorch.core.autograd import cat, maximum, minimum, stack, where
from tinytorch.core.tensor import Tensor

# NumPy warns where PyTorch silently gives nan/inf (log1p below -1, 0/0): the values are compared instead
# (and PyTorch notes where std's or var's degrees of freedom are <= 0)
pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:std():UserWarning"),
              pytest.mark.filterwarnings("ignore:var():UserWarning")]

# derandomize: the same examples on every run, so that a CI run is repeatable (other seeds were tried by hand)
FAST = settings(max_examples=40, deadline=None, derandomize=True)
FLOATS = [np.float32, np.float64]
ALL = [np.float32, np.float64, np.int64, np.bool_]
NICE = [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, -2.5, 3.0]  # ties, zeros of both signs, kinks


def elements(dtype, special=False):
    if dtype == np.bool_:
        return st.booleans()
    if np.issubdtype(dtype, np.integer):
        return st.integers(-6, 6)
    width = 32 if dtype == np.float32 else 64
    tiny = st.floats(-2.0 ** -100, 2.0 ** -100, width=width)
    general = st.floats(-100, 100, width=width) | tiny | st.sampled_from(NICE)
    if special:
        general |= st.sampled_from([np.nan, np.inf, -np.inf, 1e30, -1e30])
    return general


def arrays(dtype, shape, special=False):
    return hnp.arrays(dtype, shape, elements=elements(dtype, special))


shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3)
nonempty_shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=3)


def tiny_of(a, grad):
    return Tensor(a.copy(), dtype=a.dtype, requires_grad=grad)


def torch_of(a, grad):
    return torch().from_numpy(a.copy()).requires_grad_(grad)


def flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def assert_same(tiny, ref, rtol, atol, what="value", signed_zero=True):
    ref_np = ref.detach().numpy()
    assert tiny.shape == tuple(ref.shape), f"{what} shape {tiny.shape} != {tuple(ref.shape)}"
    assert tiny.dtype == ref_np.dtype, f"{what} dtype {tiny.dtype} != {ref_np.dtype}"
    np.testing.assert_allclose(tiny.data, ref_np, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
    # the sign of zero counts too where both are exact zeros
    zeros = (ref_np == 0) & (tiny.data == 0)
    if signed_zero and np.issubdtype(ref_np.dtype, np.floating):
        assert (np.signbit(tiny.data[zeros]) == np.signbit(ref_np[zeros])).all(), "sign of zero"


def check(tiny_fn, torch_fn, *inputs, grad=True, rtol=None, atol=None, seed=0, signed_zero=True):
    """Compare tiny_fn(*tensors) with torch_fn(*tensors): values, dtypes, shapes; gradients of
    every float64 input under a random upstream gradient of the first floating output."""
    th = torch()
    inputs = [np.asarray(a) for a in inputs]
    wants = [grad and a.dtype == np.float64 for a in inputs]
    low = any(a.dtype == np.float32 for a in inputs)
    rtol = rtol if rtol is not None else (2e-5 if low else 1e-9)
    atol = atol if atol is not None else (1e-6 if low else 1e-12)
    t_in = [tiny_of(a, w) for a, w in zip(inputs, wants)]
    r_in = [torch_of(a, w) for a, w in zip(inputs, wants)]
    try:
        r_out = flat(torch_fn(*r_in))
    except (RuntimeError, IndexError, ValueError, TypeError):  # where PyTorch refuses, tinytorch raises too
        with pytest.raises(Exception):
            tiny_fn(*t_in)
        return
    t_out = flat(tiny_fn(*t_in))
    if any(r.dtype == torch().float32 for r in r_out):  # integers to a float32 result (atan2, mean...)
        rtol, atol = max(rtol, 2e-5), max(atol, 1e-6)
    assert len(t_out) == len(r_out)
    for k, (t, r) in enumerate(zip(t_out, r_out)):
        assert_same(t, r, rtol, atol, f"output {k}", signed_zero)
    if not any(wants):
        return
    for t, r in zip(t_out, r_out):
        if r.requires_grad and r.dtype == th.float64:
            w = np.random.default_rng(seed).normal(size=r.shape)
            if t.requires_grad:  # (c) floor, round, sign...: no gradient in tinytorch, a zero one in PyTorch
                (t * Tensor(w, dtype=np.float64)).sum().backward()
            (r * th.from_numpy(w)).sum().backward()
            break
    else:
        return
    for k, got, ref in input_gradients(t_in, r_in, wants):
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol, equal_nan=True, err_msg=f"grad {k}")


# -- elementwise binary ops with broadcasting ----------------------------------------------------

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "pow": (lambda a, b: a ** b, lambda a, b: a ** b),
    "floordiv": (lambda a, b: a // b, lambda a, b: a // b),
    "mod": (lambda a, b: a % b, lambda a, b: a % b),
    "eq": (lambda a, b: a == b, lambda a, b: a == b),
    "ne": (lambda a, b: a != b, lambda a, b: a != b),
    "lt": (lambda a, b: a < b, lambda a, b: a < b),
    "le": (lambda a, b: a <= b, lambda a, b: a <= b),
    "gt": (lambda a, b: a > b, lambda a, b: a > b),
    "ge": (lambda a, b: a >= b, lambda a, b: a >= b),
    "maximum": (maximum, lambda a, b: torch().maximum(a, b)),
    "minimum": (minimum, lambda a, b: torch().minimum(a, b)),
    "atan2": (lambda a, b: a.atan2(b), lambda a, b: torch().atan2(a, b)),
}


@FAST
@given(data=st.data(), name=st.sampled_from(sorted(BINARY)),
       dtypes=st.tuples(st.sampled_from(ALL), st.sampled_from(ALL)),
       pair=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=3))
def test_binary_broadcasting(data, name, dtypes, pair):
    da, db = dtypes
    ints = [d in (np.int64, np.bool_) for d in dtypes]
    # (c) PyTorch refuses bool subtraction; NumPy's arithmetic decides there
    assume(not (name == "sub" and np.bool_ in dtypes))
    assume(not (name in ("pow", "floordiv", "mod") and np.bool_ in dtypes))  # (c) PyTorch has no bool kernels for these
    # (c) PyTorch's atan2 backward negates the bool input itself, and raises
    assume(not (name == "atan2" and np.bool_ in dtypes))
    a = data.draw(arrays(da, pair.input_shapes[0]))
    b = data.draw(arrays(db, pair.input_shapes[1]))
    if name in ("floordiv", "mod") and all(ints) and (b == 0).any():
        b = np.where(b == 0, 1, b)  # (c) integer division by zero raises in PyTorch, garbage in NumPy
    if name == "pow":
        if all(ints):
            b = np.abs(b)  # (c) integers to negative integer powers: PyTorch raises
        a = np.abs(a) + 0.25 if not ints[0] else a  # (c) fractional powers of negatives are NaN on both: skip
    if name in ("floordiv", "mod") and not all(ints):
        b = np.where(np.abs(b) < 1e-3, 1.5, b).astype(b.dtype)  # (c) x // 0, x % 0: inf/nan sign conventions
        a = np.where(np.abs(a) > 50, 1.25, a).astype(a.dtype)
    if name == "atan2" and np.float32 in dtypes:
        # (c) PyTorch's gradient squares a float32 input in float32 (1e-31² underflows to 0, and it then
        # answers 0); tinytorch promotes both inputs to float64 first
        a, b = (np.where(np.abs(v) < 1e-15, 0, v).astype(v.dtype) for v in (a, b))
    tiny_fn, torch_fn = BINARY[name]
    grad = name not in ("floordiv", "mod")  # floor is flat: checked only for values
    check(tiny_fn, torch_fn, a, b, grad=grad, rtol=1e-4 if name in ("pow", "mod") else None,
          atol=1e-4 if name == "mod" else None,
          # (c) PyTorch's -1 % 1.0 is -0.0 (Python's and NumPy's 0.0); maximum(0.0, -0.0) is a tie
          signed_zero=name not in ("mod", "maximum", "minimum"))


@FAST
@given(data=st.data(), dtypes=st.tuples(st.sampled_from(ALL), st.sampled_from(ALL)),
       shapes3=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, min_side=0, max_side=3))
def test_where(data, dtypes, shapes3):
    c = data.draw(arrays(np.bool_, shapes3.input_shapes[0]))
    a = data.draw(arrays(dtypes[0], shapes3.input_shapes[1]))
    b = data.draw(arrays(dtypes[1], shapes3.input_shapes[2]))
    check(lambda c, a, b: where(c, a, b), lambda c, a, b: torch().where(c, a, b), c, a, b)


@FAST
@given(data=st.data(), dtype=st.sampled_from(ALL), shape=shapes,
       scalar=st.sampled_from([2, -3, 0.5, -1.5, True]),
       name=st.sampled_from(["add", "sub", "mul", "div", "eq", "lt", "maximum"]), reflected=st.booleans())
def test_binary_with_python_number(data, dtype, shape, scalar, name, reflected):
    assume(not (name == "sub" and (dtype == np.bool_ or scalar is True)))  # (c) PyTorch refuses bool subtraction
    assume(name != "maximum")  # torch.maximum takes no Python number
    a = data.draw(arrays(dtype, shape))
    fn = BINARY[name][0]
    op = (lambda t: fn(scalar, t)) if reflected else (lambda t: fn(t, scalar))
    check(op, op, a)


# -- unary ops -----------------------------------------------------------------------------------

UNARY = {
    "exp": (lambda t: t.exp(), lambda t: t.exp()),
    "log": (lambda t: t.log(), lambda t: t.log()),
    "sqrt": (lambda t: t.sqrt(), lambda t: t.sqrt()),
    "abs": (lambda t: t.abs(), lambda t: t.abs()),
    "neg": (lambda t: -t, lambda t: -t),
    "sign": (lambda t: t.sign(), lambda t: t.sign()),
    "sigmoid": (lambda t: t.sigmoid(), lambda t: t.sigmoid()),
    "tanh": (lambda t: t.tanh(), lambda t: t.tanh()),
    "relu": (lambda t: t.relu(), lambda t: t.relu()),
    "clamp_min": (lambda t: t.clamp(min=-0.5), lambda t: t.clamp(min=-0.5)),
    "clamp_max": (lambda t: t.clamp(max=1.0), lambda t: t.clamp(max=1.0)),
    "clamp_both": (lambda t: t.clamp(-1, 2), lambda t: t.clamp(-1, 2)),
    "clamp_crossed": (lambda t: t.clamp(2, -1), lambda t: t.clamp(2, -1)),
    "square": (lambda t: t.square(), lambda t: t.square()),
    "sin": (lambda t: t.sin(), lambda t: t.sin()),
    "cos": (lambda t: t.cos(), lambda t: t.cos()),
    "log1p": (lambda t: t.log1p(), lambda t: t.log1p()),
    "floor": (lambda t: t.floor(), lambda t: t.floor()),
    "ceil": (lambda t: t.ceil(), lambda t: t.ceil()),
    "round": (lambda t: t.round(), lambda t: t.round()),
    "trunc": (lambda t: t.trunc(), lambda t: t.trunc()),
    "reciprocal": (lambda t: t.reciprocal(), lambda t: t.reciprocal()),
    "rsqrt": (lambda t: t.rsqrt(), lambda t: t.rsqrt()),
}
INT_OK = {"abs", "neg", "sign", "relu", "clamp_min", "clamp_max", "clamp_both", "clamp_crossed", "square",
          "exp", "log", "sqrt", "sigmoid", "tanh", "sin", "cos", "log1p", "reciprocal", "rsqrt"}


@FAST
@given(data=st.data(), name=st.sampled_from(sorted(UNARY)), dtype=st.sampled_from([np.float32, np.float64, np.int64]),
       shape=shapes, special=st.booleans())
def test_unary(data, name, dtype, shape, special):
    # (c) PyTorch keeps integers through floor/ceil/round/trunc; not every op has an integer kernel
    assume(not (dtype == np.int64 and name not in INT_OK))
    a = data.draw(arrays(dtype, shape, special=special))
    grad = not special  # gradients at inf/nan are convention; values are compared with equal_nan
    check(*UNARY[name], a, grad=grad, rtol=1e-5 if dtype != np.float64 else 1e-9,
          signed_zero=not name.startswith(("relu", "clamp")))  # (c) relu(-0.0): max(-0.0, 0) ties


# -- reductions ----------------------------------------------------------------------------------

def dims_for(ndim, allow_tuple=True):
    single = st.integers(-ndim, ndim - 1) if ndim else st.sampled_from([0, -1])
    options = st.none() | single
    if allow_tuple and ndim:
        options |= st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(
            lambda ds: tuple(d - ndim if i % 2 else d for i, d in enumerate(ds)))
    return options


REDUCTIONS = {
    "sum": (lambda t, d, k: t.sum(dim=d, keepdim=k), lambda t, d, k: t.sum(dim=d, keepdim=k)),
    "mean": (lambda t, d, k: t.mean(dim=d, keepdim=k), lambda t, d, k: t.mean(dim=d, keepdim=k)),
    "amax": (lambda t, d, k: t.amax(dim=d, keepdim=k), lambda t, d, k: t.amax(dim=() if d is None else d,
                                                                              keepdim=k)),
    "amin": (lambda t, d, k: t.amin(dim=d, keepdim=k), lambda t, d, k: t.amin(dim=() if d is None else d,
                                                                              keepdim=k)),
    "var": (lambda t, d, k: t.var(dim=d, keepdim=k), lambda t, d, k: t.var(dim=d, keepdim=k)),
    "var0": (lambda t, d, k: t.var(dim=d, keepdim=k, correction=0),
             lambda t, d, k: t.var(dim=d, keepdim=k, correction=0)),
    "std": (lambda t, d, k: t.std(dim=d, keepdim=k), lambda t, d, k: t.std(dim=d, keepdim=k)),
    "std2": (lambda t, d, k: t.std(dim=d, keepdim=k, correction=2),
             lambda t, d, k: t.std(dim=d, keepdim=k, correction=2)),
    "logsumexp": (lambda t, d, k: t.logsumexp(dim=d, keepdim=k), lambda t, d, k: t.logsumexp(dim=d, keepdim=k)),
    "norm": (lambda t, d, k: t.norm(dim=d, keepdim=k), lambda t, d, k: t.norm(dim=d, keepdim=k)),
    "norm1": (lambda t, d, k: t.norm(p=1, dim=d, keepdim=k), lambda t, d, k: t.norm(p=1, dim=d, keepdim=k)),
    "norm3": (lambda t, d, k: t.norm(p=3, dim=d, keepdim=k), lambda t, d, k: t.norm(p=3, dim=d, keepdim=k)),
    "norminf": (lambda t, d, k: t.norm(p=float("inf"), dim=d, keepdim=k),
                lambda t, d, k: t.norm(p=float("inf"), dim=d, keepdim=k)),
    "argmax": (lambda t, d, k: t.argmax(dim=d, keepdim=k), lambda t, d, k: t.argmax(dim=d, keepdim=k)),
    "argmin": (lambda t, d, k: t.argmin(dim=d, keepdim=k), lambda t, d, k: t.argmin(dim=d, keepdim=k)),
    "any": (lambda t, d, k: t.any(dim=d, keepdim=k), lambda t, d, k: t.any(dim=d, keepdim=k)),
    "all": (lambda t, d, k: t.all(dim=d, keepdim=k), lambda t, d, k: t.all(dim=d, keepdim=k)),
}
NEEDS_FLOAT = {"mean", "var", "var0", "std", "std2", "logsumexp", "norm", "norm1", "norm3", "norminf"}
NEEDS_ELEMENTS = {"amax", "amin", "argmax", "argmin"}  # of an empty dimension: an error on both
SINGLE_DIM = {"argmax", "argmin", "any", "all"}  # PyTorch takes one int (or None) there


@FAST
@given(data=st.data(), name=st.sampled_from(sorted(REDUCTIONS)), dtype=st.sampled_from(ALL), shape=shapes,
       keepdim=st.booleans())
def test_reduction(data, name, dtype, shape, keepdim):
    assume(not (name in NEEDS_FLOAT and dtype not in FLOATS))
    # (c) PyTorch has no bool argmax; tinytorch's (NumPy's) is harmless
    assume(not (name in ("argmax", "argmin") and dtype == np.bool_))
    ndim = len(shape)
    dim = data.draw(dims_for(ndim, allow_tuple=name not in SINGLE_DIM))
    reduced = range(ndim) if dim is None else [dim] if isinstance(dim, int) else dim
    empty_reduction = 0 in shape and (dim is None or any(shape[d] == 0 for d in reduced) or name in ("amax", "amin"))
    assume(not (name in NEEDS_ELEMENTS and empty_reduction))
    assume(not (name == "logsumexp" and dim is None))  # PyTorch's logsumexp needs a dim
    if name in ("argmax", "argmin", "any", "all") and dim is None and keepdim:
        keepdim = False  # (c) PyTorch 2.x keeps every dim of a full argmax with keepdim; not worth copying
    a = data.draw(arrays(dtype, shape))
    # (c) Tensor.norm takes a 3-tuple of dims as a matrix norm and raises; tinytorch reduces them all
    assume(not (name.startswith("norm") and isinstance(dim, tuple) and len(dim) > 2))
    if name.startswith("norm") and dtype == np.float64:
        # the norm's gradient at 0 is a subgradient convention; (c) |x|^p of subnormal x underflows differently
        a = np.where(np.abs(a) < 1e-100, 0.75, a)
    if name in ("std", "std2"):
        a = a + np.arange(a.size).reshape(a.shape) * 0.01  # std's gradient where all values are equal: 0/0
    check(lambda t: REDUCTIONS[name][0](t, dim, keepdim), lambda t: REDUCTIONS[name][1](t, dim, keepdim), a,
          rtol=1e-4 if dtype == np.float32 else 1e-8,
          atol=1e-4 if dtype == np.float32 else 1e-10,
          signed_zero=name not in ("amax", "amin", "norminf"))  # (c) 0.0 and -0.0 tie: either may come out


@FAST
@given(data=st.data(), dtype=st.sampled_from(ALL), shape=nonempty_shapes, keepdim=st.booleans(),
       largest=st.booleans(), ties=st.booleans())
def test_max_min_with_and_without_dim(data, dtype, shape, keepdim, largest, ties):
    ndim = len(shape)
    a = data.draw(arrays(dtype, shape)) if not ties else data.draw(
        hnp.arrays(dtype, shape, elements=st.sampled_from([0, 1]))).astype(dtype)
    name = "max" if largest else "min"
    # no dim: ties share the gradient. (c) 0.0 and -0.0 tie: which sign comes out is the kernel's choice
    check(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), a, signed_zero=False)
    dim = data.draw(st.integers(-ndim, ndim - 1) if ndim else st.sampled_from([0, -1]))
    assume(dtype != np.bool_)  # (c) PyTorch's max(dim) has no bool kernel
    # with ties, max(dim) reports the first of the tied positions on both, and only it gets the gradient
    check(lambda t: getattr(t, name)(dim, keepdim), lambda t: getattr(t, name)(dim, keepdim), a, signed_zero=False)


@FAST
@given(data=st.data(), dtype=st.sampled_from(ALL), shape=shapes, reverse=st.booleans())
def test_cumulative(data, dtype, shape, reverse):
    ndim = len(shape)
    dim = data.draw(st.integers(-ndim, ndim - 1) if ndim else st.sampled_from([0, -1]))
    a = data.draw(arrays(dtype, shape))
    # (c) PyTorch's cumsum([-0.0]) is 0.0 (it adds to a +0 start); NumPy's keeps -0.0 as the first sum
    check(lambda t: t.cumsum(dim), lambda t: t.cumsum(dim), a, signed_zero=False)
    if dtype != np.bool_:
        # (c) PyTorch's cumprod gradient divides by the inputs: it underflows for subnormal ones
        b = np.where(np.abs(a) < 1e-100, 0, np.clip(a, -3, 3)).astype(dtype)
        check(lambda t: t.cumprod(dim), lambda t: t.cumprod(dim), b, rtol=1e-4, atol=1e-4)


@FAST
@given(data=st.data(), dtype=st.sampled_from(ALL), shape=shapes, keepdim=st.booleans())
def test_prod(data, dtype, shape, keepdim):
    ndim = len(shape)
    dim = data.draw(st.none() | (st.integers(-ndim, ndim - 1) if ndim else st.sampled_from([0, -1])))
    a = np.clip(data.draw(arrays(dtype, shape)), -3, 3).astype(dtype)
    if dim is None:
        check(lambda t: t.prod(), lambda t: t.prod(), a, rtol=1e-4, atol=1e-4)
    else:
        check(lambda t: t.prod(dim, keepdim), lambda t: t.prod(dim, keepdim), a, rtol=1e-4, atol=1e-4)


# -- shape ops -----------------------------------------------------------------------------------

@st.composite
def shape_case(draw):
    shape = draw(shapes)
    ndim = len(shape)
    a = draw(arrays(draw(st.sampled_from(ALL)), shape))
    axis = st.integers(-ndim, ndim - 1) if ndim else st.sampled_from([0, -1])
    kind = draw(st.sampled_from(["reshape", "view", "permute", "transpose", "squeeze", "squeeze_dim", "unsqueeze",
                                 "flatten", "expand", "repeat", "flip", "roll", "narrow", "T", "mT", "split",
                                 "chunk", "squeeze_tuple", "unbind", "movedim", "select"]))
    if kind in ("reshape", "view"):
        size = a.size
        options = [(-1,), (size,), (1, -1) if size else (1, 0), shape[::-1], ()] if size == 1 else \
            [(-1,), (size,), (1, -1) if size else (1, 0), shape[::-1]]
        new = draw(st.sampled_from(options))
        return kind, a, (lambda t: getattr(t, kind)(new)), (lambda t: getattr(t, kind)(new))
    if kind == "permute":
        perm = draw(st.permutations(range(ndim)))
        perm = [p - ndim if i % 2 else p for i, p in enumerate(perm)]
        return kind, a, (lambda t: t.permute(tuple(perm))), (lambda t: t.permute(tuple(perm)))
    if kind == "transpose":
        d0, d1 = draw(axis), draw(axis)
        return kind, a, (lambda t: t.transpose(d0, d1)), (lambda t: t.transpose(d0, d1))
    if kind == "squeeze":
        return kind, a, (lambda t: t.squeeze()), (lambda t: t.squeeze())
    if kind == "squeeze_dim":
        d = draw(axis)
        return kind, a, (lambda t: t.squeeze(d)), (lambda t: t.squeeze(d))
    if kind == "squeeze_tuple":
        ds = tuple(draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))) if ndim else ()
        return kind, a, (lambda t: t.squeeze(ds)), (lambda t: t.squeeze(ds))
    if kind == "unsqueeze":
        d = draw(st.integers(-ndim - 1, ndim))
        return kind, a, (lambda t: t.unsqueeze(d)), (lambda t: t.unsqueeze(d))
    if kind == "flatten":
        if ndim == 0:
            return kind, a, (lambda t: t.flatten()), (lambda t: t.flatten())
        s, e = sorted([draw(st.integers(0, ndim - 1)), draw(st.integers(0, ndim - 1))])
        s, e = draw(st.sampled_from([s, s - ndim])), draw(st.sampled_from([e, e - ndim]))
        return kind, a, (lambda t: t.flatten(s, e)), (lambda t: t.flatten(s, e))
    if kind == "expand":
        lead = draw(st.lists(st.integers(0, 3), max_size=2))
        new = tuple(lead) + tuple(draw(st.sampled_from([-1, 2, 3])) if n == 1 else draw(st.sampled_from([-1, n]))
                                  for n in shape)
        return kind, a, (lambda t: t.expand(new)), (lambda t: t.expand(new))
    if kind == "repeat":
        reps = tuple(draw(st.lists(st.integers(0, 3), min_size=ndim, max_size=ndim + 2)))
        if not reps:
            reps = ()
            return kind, a, (lambda t: t.repeat(())), (lambda t: t.repeat(()))
        return kind, a, (lambda t: t.repeat(*reps)), (lambda t: t.repeat(*reps))
    if kind == "flip":
        ds = tuple(draw(st.lists(axis, unique_by=lambda d: d % max(ndim, 1), max_size=ndim))) if ndim else ()
        return kind, a, (lambda t: t.flip(ds)), (lambda t: t.flip(ds))
    if kind == "roll":
        if ndim == 0:
            return kind, a, (lambda t: t.roll(1)), (lambda t: t.roll(1))
        d, s = draw(axis), draw(st.integers(-5, 5))
        flat_roll = draw(st.booleans())
        if flat_roll:
            return kind, a, (lambda t: t.roll(s)), (lambda t: t.roll(s))
        return kind, a, (lambda t: t.roll(s, d)), (lambda t: t.roll(s, d))
    if kind in ("narrow", "select"):
        if ndim == 0 or 0 in shape:
            return kind, a, (lambda t: t), (lambda t: t)
        d = draw(axis)
        n = shape[d]
        start = draw(st.integers(-n, n - 1))
        if kind == "select":
            return kind, a, (lambda t: t.select(d, start)), (lambda t: t.select(d, start))
        length = draw(st.integers(0, n - (start % n)))
        return kind, a, (lambda t: t.narrow(d, start, length)), (lambda t: t.narrow(d, start, length))
    if kind == "T":
        if ndim != 2:
            return kind, a, (lambda t: t), (lambda t: t)  # (c) Tensor.T on ndim != 2 is deprecated in PyTorch
        return kind, a, (lambda t: t.T), (lambda t: t.T)
    if kind == "mT":
        if ndim < 2:
            return kind, a, (lambda t: t), (lambda t: t)
        return kind, a, (lambda t: t.mT), (lambda t: t.mT)
    if kind in ("split", "chunk"):
        if ndim == 0:
            return kind, a, (lambda t: t), (lambda t: t)
        d = draw(axis)
        n = draw(st.integers(1, 4))
        if kind == "split" and draw(st.booleans()):
            total, sizes = shape[d], []
            while total:
                sizes.append(draw(st.integers(0, total)))
                total -= sizes[-1]
            sizes = sizes + [0] * draw(st.integers(0, 1))
            return kind, a, (lambda t: t.split(sizes, d)), (lambda t: t.split(sizes, d))
        return kind, a, (lambda t: getattr(t, kind)(n, d)), (lambda t: getattr(t, kind)(n, d))
    if kind == "unbind":
        if ndim == 0:
            return kind, a, (lambda t: t), (lambda t: t)
        d = draw(axis)
        return kind, a, (lambda t: t.unbind(d)), (lambda t: t.unbind(d))
    if kind == "movedim":
        if ndim == 0:
            return kind, a, (lambda t: t), (lambda t: t)
        s, d = draw(axis), draw(axis)
        return kind, a, (lambda t: t.movedim(s, d)), (lambda t: t.movedim(s, d))
    raise AssertionError(kind)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(case=shape_case())
def test_shape_ops(case):
    kind, a, tiny_fn, torch_fn = case
    check(tiny_fn, torch_fn, a)
    if a.dtype == np.float64 and kind in ("split", "chunk", "unbind"):  # gradient through every piece
        check(lambda t: stack_pieces(tiny_fn(t)), lambda t: stack_pieces(torch_fn(t)), a)


def stack_pieces(pieces):
    """One output from pieces (split, chunk, unbind), each weighted differently."""
    out = None
    for i, p in enumerate(pieces):
        s = (p * (i + 1)).sum()
        out = s if out is None else out + s
    return out


@FAST
@given(data=st.data(), dtype=st.sampled_from(ALL), shape=nonempty_shapes, count=st.integers(1, 3),
       use_stack=st.booleans())
def test_cat_stack(data, dtype, shape, count, use_stack):
    ndim = len(shape)
    if use_stack:
        dim = data.draw(st.integers(-ndim - 1, ndim))
        arrs = [data.draw(arrays(dtype, shape)) for _ in range(count)]
        check(lambda *ts: stack(list(ts), dim), lambda *ts: torch().stack(list(ts), dim), *arrs)
        return
    assume(ndim != 0)  # zero-dimensional tensors cannot be concatenated (both)
    dim = data.draw(st.integers(-ndim, ndim - 1))
    arrs = []
    for _ in range(count):
        s = list(shape)
        s[dim] = data.draw(st.integers(0, 3))
        arrs.append(data.draw(arrays(dtype, tuple(s))))
    check(lambda *ts: cat(list(ts), dim), lambda *ts: torch().cat(list(ts), dim), *arrs)


# -- indexing ------------------------------------------------------------------------------------

@st.composite
def index_case(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
    dtype = draw(st.sampled_from(ALL))
    a = draw(arrays(dtype, shape))
    ndim = len(shape)
    parts = []
    advanced = 0
    used = 0
    while used < ndim and draw(st.booleans() | st.just(used == 0)):
        n = shape[used]
        kind = draw(st.sampled_from(["int", "slice", "none", "array", "ellipsis"]))
        if kind == "int" and n:
            parts.append(draw(st.integers(-n, n - 1)))
            used += 1
        elif kind == "slice":
            step = draw(st.sampled_from([None, 1, 2, -1, -2]))
            start = draw(st.none() | st.integers(-5, 5))
            stop = draw(st.none() | st.integers(-5, 5))
            parts.append(slice(start, stop, step))
            used += 1
        elif kind == "none":
            parts.append(None)
        elif kind == "array" and n and advanced < 2:
            parts.append(np.array(draw(st.lists(st.integers(-n, n - 1), max_size=3)), dtype=np.int64))
            advanced += 1
            used += 1
        elif kind == "ellipsis" and not any(p is Ellipsis for p in parts):
            parts.append(Ellipsis)
            used = ndim
    if advanced == 2:  # two integer arrays broadcast together: give them the same length
        arrs = [i for i, p in enumerate(parts) if isinstance(p, np.ndarray)]
        length = min(len(parts[i]) for i in arrs)
        for i in arrs:
            parts[i] = parts[i][:length]
    if not parts and ndim:
        if draw(st.booleans()):  # a boolean mask over the leading dims
            k = draw(st.integers(1, ndim))
            mask = draw(hnp.arrays(np.bool_, shape[:k]))
            return a, mask, None
    return a, tuple(parts), None


def as_torch_index(index):
    th = torch()
    if isinstance(index, np.ndarray):
        return th.from_numpy(index)
    if isinstance(index, tuple):
        return tuple(as_torch_index(i) for i in index)
    return index


@settings(max_examples=60, deadline=None, derandomize=True)
@given(case=index_case())
def test_getitem(case):
    a, index, _ = case
    if isinstance(index, tuple) and any(isinstance(i, slice) and (i.step or 1) < 0 for i in index):
        # (c) PyTorch refuses negative slice steps; tinytorch follows NumPy: compare with NumPy
        tiny = Tensor(a, dtype=a.dtype)[index]
        np.testing.assert_array_equal(tiny.data, a[index])
        assert tiny.dtype == a.dtype
        return
    check(lambda t: t[index], lambda t: t[as_torch_index(index)], a)


# integers with index arrays (lists, Tensors, masks) in one index: PyTorch selects with the integers first
MIXED_INDICES = [
    (0, slice(None), [1, 2]), (slice(None), 0, [1, 2]), (None, 0, slice(None), [2, 0]), (Ellipsis, 1, [0, 3]),
    (0, Ellipsis, [1, 2]), ([0, 1], slice(None), 0), (0, [[0], [1]], [1, 2]), (1, slice(1, None), [3, 3, 0]),
    (0, slice(None), np.array([True, False, True, False])), (np.array(1), slice(None), np.array([2, 1])),
    (-1, slice(None, None, 2), [0], None),
]


@pytest.mark.parametrize("index", MIXED_INDICES, ids=str)
def test_integers_select_before_index_arrays(index):
    a = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7
    tidx = as_torch_index(tuple(np.asarray(i) if isinstance(i, list) else i for i in index))
    check(lambda t: t[index], lambda t: t[tidx], a)  # values, shape and the gradient (GetItemOp)
    assert Tensor(a)[tuple(Tensor(i) if isinstance(i, np.ndarray) else i for i in index)].shape == \
        tuple(torch().from_numpy(a)[tidx].shape), "Tensors inside the index too"
    sub = torch().from_numpy(a)[tidx]
    v = np.linspace(-1, 1, sub.numel()).reshape(tuple(sub.shape))

    def run(t, w, idx):  # setitem: the value has PyTorch's shape; gradients of both inputs
        y = t * 2.0
        y[idx] = w * 3.0
        return y * y

    check(lambda t, w: run(t, w, index), lambda t, w: run(t, w, tidx), a, v)
    plain = Tensor(a, dtype=np.float64)  # setitem without autograd (module 01's path)
    plain[index] = Tensor(v, dtype=np.float64)
    expected = torch().from_numpy(a.copy())
    expected[tidx] = torch().from_numpy(v)
    np.testing.assert_array_equal(plain.data, expected.numpy())


@FAST
@given(data=st.data(), shape=nonempty_shapes.filter(lambda s: len(s) >= 1), dtype=st.sampled_from(FLOATS))
def test_gather_scatter_index_select(data, shape, dtype):
    ndim = len(shape)
    dim = data.draw(st.integers(-ndim, ndim - 1))
    a = data.draw(arrays(dtype, shape))
    n = shape[dim]
    ishape = tuple(data.draw(st.integers(0, s)) if i != dim % ndim else data.draw(st.integers(0, 4))
                   for i, s in enumerate(shape))
    index = data.draw(hnp.arrays(np.int64, ishape, elements=st.integers(0, n - 1)))
    check(lambda t: t.gather(dim, Tensor(index)), lambda t: t.gather(dim, torch().from_numpy(index)), a)
    src = data.draw(arrays(dtype, ishape))
    check(lambda t, s: t.scatter_add(dim, Tensor(index), s),
          lambda t, s: t.scatter_add(dim, torch().from_numpy(index), s), a, src)
    # scatter with repeated positions writes an unspecified one of the values (PyTorch): unique only
    uniq = np.broadcast_to(np.arange(ishape[dim % ndim])[(slice(None),) + (None,) * (ndim - 1 - dim % ndim)],
                           ishape) if ishape[dim % ndim] <= n else None
    if uniq is not None:
        uniq = np.ascontiguousarray(uniq).astype(np.int64)
        check(lambda t, s: t.scatter(dim, Tensor(uniq), s),
              lambda t, s: t.scatter(dim, torch().from_numpy(uniq), s), a, src)
    sel = data.draw(hnp.arrays(np.int64, data.draw(st.integers(0, 4)), elements=st.integers(0, n - 1)))
    check(lambda t: t.index_select(dim, Tensor(sel)), lambda t: t.index_select(dim, torch().from_numpy(sel)), a)


@FAST
@given(case=index_case(), value=st.sampled_from(["scalar", "tensor"]))
def test_setitem_on_non_leaf(case, value):
    a, index, _ = case
    a = a.astype(np.float64)
    # (c) PyTorch refuses negative slice steps
    assume(not (isinstance(index, tuple) and any(isinstance(i, slice) and (i.step or 1) < 0 for i in index)))
    tidx = as_torch_index(index)
    if isinstance(index, tuple) and any(isinstance(i, np.ndarray) for i in index):
        # (c) repeated advanced indices write an unspecified one of the values: unique positions only
        target = np.arange(a.size).reshape(a.shape)[index].ravel()
        if len(set(target.tolist())) != target.size:
            return
    sub_shape = tuple(torch().from_numpy(a)[tidx].shape)  # PyTorch's: x[0, :, [1, 2]] is x[0][:, [1, 2]]
    v = np.linspace(-1, 1, int(np.prod(sub_shape))).reshape(sub_shape)

    def run(t, w, idx):
        y = t * 2.0
        y[idx] = 7.5 if value == "scalar" else w * 3.0
        return y * y

    check(lambda t, w: run(t, w, index), lambda t, w: run(t, w, tidx), a, v)


# -- matmul --------------------------------------------------------------------------------------

@st.composite
def matmul_shapes(draw):
    n, m, k = (draw(st.integers(0, 3)) for _ in range(3))
    ra, rb = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, min_side=1, max_side=3))
    a = (k,) if ra == 1 else batch.input_shapes[0][:ra - 2] + (n, k)
    b = (k,) if rb == 1 else batch.input_shapes[1][:rb - 2] + (k, m)
    return a, b


@FAST
@given(data=st.data(), pair=matmul_shapes(), dtype=st.sampled_from([np.float32, np.float64, np.int64]))
def test_matmul_all_ranks(data, pair, dtype):
    a = data.draw(arrays(dtype, pair[0]))
    b = data.draw(arrays(dtype, pair[1]))
    # (c) the sign of a zero dot product (0 * -0) depends on how the BLAS starts its sum
    check(lambda x, y: x @ y, lambda x, y: x @ y, a, b, rtol=1e-4, atol=1e-3, signed_zero=False)


# -- in-place ops --------------------------------------------------------------------------------

INPLACE = {
    "add_": lambda t, o: t.add_(o), "sub_": lambda t, o: t.sub_(o), "mul_": lambda t, o: t.mul_(o),
    "div_": lambda t, o: t.div_(o), "iadd": lambda t, o: t.__iadd__(o), "imul": lambda t, o: t.__imul__(o),
    "clamp_": lambda t, o: t.clamp_(-0.5, 0.5), "fill_": lambda t, o: t.fill_(2.5), "zero_": lambda t, o: t.zero_(),
    "add_alpha": lambda t, o: t.add_(o, alpha=2),
}


@FAST
@given(data=st.data(), name=st.sampled_from(sorted(INPLACE)), dtypes=st.tuples(st.sampled_from(ALL),
                                                                                st.sampled_from(ALL)),
       pair=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=3))
def test_inplace_values(data, name, dtypes, pair):
    th = torch()
    shape = pair.result_shape  # the target has the broadcast shape
    a = data.draw(arrays(dtypes[0], shape))
    b = data.draw(arrays(dtypes[1], pair.input_shapes[1]))
    assume(not (name in ("div_",) and dtypes[0] != np.float32 and dtypes[0] != np.float64))  # int /= : an error on both
    # (c) bool subtraction is refused; a bool add_ with alpha=2 is a logical or in PyTorch
    assume(not (name == "sub_" and np.bool_ in dtypes or name == "add_alpha" and dtypes[0] == np.bool_))
    t, r = Tensor(a.copy(), dtype=a.dtype), th.from_numpy(a.copy())
    try:
        INPLACE[name](r, th.from_numpy(b.copy()))
    except RuntimeError:
        with pytest.raises((RuntimeError, TypeError)):
            INPLACE[name](t, Tensor(b.copy(), dtype=b.dtype))
        return
    out = INPLACE[name](t, Tensor(b.copy(), dtype=b.dtype))
    assert out is t
    assert_same(t, r, 2e-5, 1e-6)


# -- regression tests: the differences found, one plain example each (category a, fixed) -----------


def test_reductions_of_a_0d_tensor_over_dim_0():
    """mean/var/std/max/min/argmax over dim 0 (or -1) of a 0-d tensor: the tensor itself, as PyTorch
    (NumPy refuses axis 0 of a 0-d array; `_reduce_args` now drops it)."""
    for tiny_fn, torch_fn in [
        (lambda t: t.mean(0), lambda t: t.mean(0)),
        (lambda t: t.var(-1, correction=0), lambda t: t.var(-1, correction=0)),
        (lambda t: t.max(0), lambda t: t.max(0)), (lambda t: t.min(-1, keepdim=True), lambda t: t.min(-1, True)),
        (lambda t: t.argmax(0, keepdim=True), lambda t: t.argmax(0, keepdim=True)),
        (lambda t: t.logsumexp(0), lambda t: t.logsumexp(0)), (lambda t: t.prod(0, keepdim=True),
                                                             lambda t: t.prod(0, keepdim=True)),
        (lambda t: t.cumsum(0), lambda t: t.cumsum(0)), (lambda t: t.cumprod(-1), lambda t: t.cumprod(-1)),
        (lambda t: t.squeeze(0), lambda t: t.squeeze(0)), (lambda t: t.transpose(0, -1), lambda t: t.transpose(0, -1)),
    ]:
        check(tiny_fn, torch_fn, np.array(1.5))


def test_empty_dimension_edge_cases():
    """logsumexp over an empty dim is -inf; prod's gradient of an empty tensor; chunk/split of an
    empty dim give empty pieces; flatten and batched matmul with a zero-size dimension."""
    check(lambda t: t.logsumexp(0), lambda t: t.logsumexp(0), np.zeros((0, 2)))
    check(lambda t: t.prod(), lambda t: t.prod(), np.zeros((0,)))
    check(lambda t: t.prod(1), lambda t: t.prod(1), np.zeros((0, 0)))
    check(lambda t: t.chunk(3), lambda t: t.chunk(3), np.zeros((0,)))
    check(lambda t: t.split(2), lambda t: t.split(2), np.zeros((0, 2)))
    check(lambda t: t.flatten(0, -2), lambda t: t.flatten(0, -2), np.zeros((2, 0)))
    check(lambda t: t.flatten(1), lambda t: t.flatten(1), np.zeros((0, 3)))
    check(lambda a, b: a @ b, lambda a, b: a @ b, np.zeros((1, 0, 0)), np.zeros((0, 0)))
    check(lambda a, b: a @ b, lambda a, b: a @ b, np.zeros((2, 0, 3)), np.ones((3, 2)))


def test_narrow_with_a_negative_start():
    check(lambda t: t.narrow(0, -2, 2), lambda t: t.narrow(0, -2, 2), np.arange(4.0))
    check(lambda t: t.narrow(-1, -1, 1), lambda t: t.narrow(-1, -1, 1), np.arange(6.0).reshape(2, 3))


def test_setitem_on_a_0d_non_leaf():
    """The gradient of a 0-d result arrives as a NumPy scalar: SetItemOp's backward copies it to an array."""
    def run(t):
        y = t * 2.0
        y[()] = 7.5
        return y * t
    check(run, run, np.array(3.0))


def test_log1p_gradient_below_minus_one_and_atan2_underflow():
    """log1p's gradient is 1/(1 + x) even where its value is NaN; atan2's is 0 where x² + y² underflows."""
    check(lambda t: t.log1p(), lambda t: t.log1p(), np.array([-2.0, -0.5, 3.0]))
    check(lambda y, x: y.atan2(x), lambda y, x: torch().atan2(y, x), np.array([0.0, 1e-200]), np.array([1e-176, 0.0]))
