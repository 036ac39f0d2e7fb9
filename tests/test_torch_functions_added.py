"""Deterministic tests against PyTorch of the torch functions added to module 02 after the property tests
of test_torch_functions_vs_torch_fuzz.py found them missing: einsum with '...' and with a repeated letter,
quantile/nanquantile (five interpolations), nanmedian, mode, unique(dim=)/unique_consecutive(dim=),
diff(prepend=, append=), repeat_interleave(repeats), the bitwise operations and shifts, lgamma, digamma,
index_copy and unravel_index. Values, dtypes and shapes of every output; float64 gradients under a random
upstream gradient (and by finite differences for the new backward passes); where PyTorch raises, tinytorch
raises.
"""

import math

import numpy as np
import pytest

import tinytorch
from gradcheck import assert_gradients_match
from test_torch_functions_vs_torch_fuzz import check, th  # the same comparison as the property tests
from tinytorch.core.tensor import Tensor

pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

NAN = float("nan")


def arr(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


# -- einsum: '...', repeated letters, implicit output ---------------------------------------------------

EINSUM_CASES = [
    ("ii->i", [(4, 4)]), ("ii", [(3, 3)]), ("ii->", [(3, 3)]), ("bii->bi", [(2, 3, 3)]), ("bii", [(2, 3, 3)]),
    ("iij->ij", [(3, 3, 2)]), ("iii->i", [(3, 3, 3)]), ("ij,jj->i", [(2, 3), (3, 3)]), ("ii,i->i", [(3, 3), (3,)]),
    ("...ij->...ji", [(2, 3, 4)]), ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]), ("...ij,...jk->...ik", [(2, 3, 4), (4, 2)]),
    ("i...,i...->...", [(2, 3, 4), (2, 1, 4)]), ("...", [(2, 3)]), ("i...->i", [(2, 3, 4)]), ("...->", [(2, 3)]),
    ("a...b->...", [(2, 3, 4, 5)]), ("...ii->...i", [(2, 3, 3)]), ("ij", [(2, 3)]), ("ji", [(2, 3)]),
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ba,ca->bc", [(2, 3), (4, 3)]), ("i,i->", [(3,), (3,)]), ("ij,kj->ik", [(2, 3), (4, 3)]),
    ("b i j , b j k -> b i k", [(2, 3, 4), (2, 4, 5)]), ("...,...->...", [(3, 1), (4,)]), ("i,j->ij", [(2,), (3,)]),
]


@pytest.mark.parametrize("equation, shapes", EINSUM_CASES)
def test_einsum_ellipsis_repeated_letters_and_implicit_output(equation, shapes):
    operands = [arr(*s, seed=k) for k, s in enumerate(shapes)]
    check(lambda *ts: tinytorch.einsum(equation, *ts), lambda *ts: th().einsum(equation, *ts), *operands)
    check(lambda *ts: tinytorch.einsum(equation, *ts), lambda *ts: th().einsum(equation, *ts),
          *(o.astype(np.float32) for o in operands))
    assert_gradients_match(lambda *ts: tinytorch.einsum(equation, *ts), *operands)


def test_einsum_forms_dtypes_and_errors():
    m = arr(3, 3)
    check(lambda t: tinytorch.einsum("ii->i", [t]), lambda t: th().einsum("ii->i", [t]), m)  # a list of operands
    check(lambda t: tinytorch.einsum("ii", t), lambda t: th().einsum("ii", t), np.arange(9).reshape(3, 3))  # int64
    check(lambda a, b: tinytorch.einsum("...i,i->...", a, b), lambda a, b: th().einsum("...i,i->...", a, b),
          np.arange(6).reshape(2, 3), np.arange(3))
    # (c) mixed dtypes: PyTorch's einsum raises, tinytorch promotes them (as its other binary operations)
    for equation in ("ij,jk", "...ij,...jk", "ij,ij", "ba,ac"):  # implicit outputs of several operands
        check(lambda a, b: tinytorch.einsum(equation, a, b), lambda a, b: th().einsum(equation, a, b),
              arr(2, 2, seed=1), arr(2, 2, seed=2))
    for equation, shapes in [("ij->ii", [(2, 2)]), ("ij->k", [(2, 2)]), ("ij", [(2, 2, 2)]), ("ii", [(2, 3)]),
                             ("...ij,...jk->...ik", [(2, 3, 4), (3, 4, 2)]), ("ij,jk->ik", [(2, 3), (4, 2)]),
                             ("ij,jk->ik", [(2, 3)]), ("i.j", [(2, 2)])]:
        operands = [arr(*s, seed=k) for k, s in enumerate(shapes)]
        check(lambda *ts: tinytorch.einsum(equation, *ts), lambda *ts: th().einsum(equation, *ts), *operands)
        with pytest.raises(Exception):
            tinytorch.einsum(equation, *(Tensor(o) for o in operands))


# -- quantile, nanquantile, nanmedian ------------------------------------------------------------------

MODES = ["linear", "lower", "higher", "midpoint", "nearest"]


@pytest.mark.parametrize("interpolation", MODES)
def test_quantile_and_nanquantile(interpolation):
    a = np.random.default_rng(1).permutation(24).reshape(2, 3, 4) * 0.37 - 3.0  # distinct: gradients unambiguous
    qs = [0.0, 0.25, 0.4, 0.5, 0.9, 1.0, np.array(0.3), np.array([0.1, 0.5, 0.75]), np.array([1.0, 0.0]),
          np.array([0.5])]
    for name in ("quantile", "nanquantile"):
        for q in qs:
            for dim, keepdim in [(None, False), (None, True), (0, False), (1, True), (-1, False), (-1, True)]:
                def tiny(t, q=q):
                    q = Tensor(q, dtype=np.float64) if isinstance(q, np.ndarray) else q
                    return getattr(t, name)(q, dim, keepdim, interpolation=interpolation)

                def ref(t, q=q):
                    q = th().from_numpy(q) if isinstance(q, np.ndarray) else q
                    return getattr(t, name)(q, dim, keepdim, interpolation=interpolation)
                check(tiny, ref, a)
        q32 = np.array([0.2, 0.7], dtype=np.float32)
        check(lambda t: getattr(tinytorch, name)(t, Tensor(q32), dim=1, interpolation=interpolation),
              lambda t: getattr(th(), name)(t, th().from_numpy(q32), dim=1, interpolation=interpolation),
              a.astype(np.float32))
    assert_gradients_match(lambda t: t.quantile(0.3, dim=1, interpolation=interpolation), a)
    assert_gradients_match(lambda t: t.nanquantile(Tensor(np.array([0.2, 0.9]), dtype=np.float64), interpolation=interpolation), a)


@pytest.mark.parametrize("interpolation", MODES)
def test_quantile_with_nan_and_edges(interpolation):
    a = np.array([[1.0, NAN, 3.0, 2.0, -1.0], [NAN, NAN, NAN, NAN, NAN], [0.5, 4.0, NAN, NAN, 2.5]])
    for q in (0.0, 0.3, 0.5, 1.0):
        for dim in (None, 1, 0):
            check(lambda t: t.quantile(q, dim, interpolation=interpolation),
                  lambda t: t.quantile(q, dim, interpolation=interpolation), a, grad=False)
            check(lambda t: t.nanquantile(q, dim, interpolation=interpolation),
                  lambda t: t.nanquantile(q, dim, interpolation=interpolation), a, grad=False)
    finite = np.array([[1.0, 5.0, 3.0, 2.0, -1.0], [0.5, 4.0, 0.25, 7.0, 2.5]])
    check(lambda t: t.nanquantile(0.6, 1, interpolation=interpolation),
          lambda t: t.nanquantile(0.6, 1, interpolation=interpolation), np.where(finite > 4, NAN, finite))
    check(lambda t: t.quantile(0.5, 0, True, interpolation=interpolation),
          lambda t: t.quantile(0.5, 0, True, interpolation=interpolation), np.array(2.5))  # 0-d
    check(lambda t: t.quantile(0.5, interpolation=interpolation),
          lambda t: t.quantile(0.5, interpolation=interpolation), np.array([7.0]))


def test_quantile_errors():
    a = np.arange(6.0).reshape(2, 3)
    for tiny, ref, x in [
        (lambda t: t.quantile(1.5), lambda t: t.quantile(1.5), a),
        (lambda t: t.quantile(-0.1), lambda t: t.quantile(-0.1), a),
        (lambda t: t.quantile(0.5), lambda t: t.quantile(0.5), np.arange(6)),  # integer input
        (lambda t: t.quantile(Tensor(np.array([[0.5]]))), lambda t: t.quantile(th().tensor([[0.5]], dtype=th().float64)), a),
        (lambda t: t.quantile(Tensor(np.array([0.5], np.float32))), lambda t: t.quantile(th().tensor([0.5])), a),
        (lambda t: t.quantile(0.5, interpolation="cubic"), lambda t: t.quantile(0.5, interpolation="cubic"), a),
        (lambda t: t.quantile(0.5), lambda t: t.quantile(0.5), np.zeros(0)),
        (lambda t: t.nanquantile(0.5, dim=2), lambda t: t.nanquantile(0.5, dim=2), a),
    ]:
        check(tiny, ref, x)
        with pytest.raises(Exception):
            tiny(Tensor(x, dtype=x.dtype))


def test_nanmedian():
    a = np.array([[1.0, NAN, 3.0, 2.0], [NAN, NAN, NAN, NAN], [0.5, -4.0, NAN, 2.5], [5.0, 1.0, 2.0, -2.0]])
    check(lambda t: t.nanmedian(), lambda t: t.nanmedian(), a)
    check(lambda t: tinytorch.nanmedian(t), lambda t: th().nanmedian(t), a[2])
    check(lambda t: t.nanmedian(), lambda t: t.nanmedian(), a[1])  # all NaN: NaN, the gradient shared by the NaNs
    check(lambda t: t.nanmedian(), lambda t: t.nanmedian(), np.array([2.0, 1.0, 2.0, NAN, 2.0]))  # ties share it
    some = a[[0, 2, 3]]
    for dim in (0, 1, -1):
        for keepdim in (False, True):
            check(lambda t: t.nanmedian(dim, keepdim), lambda t: t.nanmedian(dim, keepdim), some)
            check(lambda t: tinytorch.nanmedian(t, dim=dim, keepdim=keepdim),
                  lambda t: th().nanmedian(t, dim=dim, keepdim=keepdim), some.astype(np.float32))
            # (c) a row of NaNs only: which NaN's index PyTorch reports is its kernel's choice
            check(lambda t: t.nanmedian(dim, keepdim), lambda t: t.nanmedian(dim, keepdim), a, only=(0,), grad=False)
    ints = np.array([[3, 1, 2], [7, 9, 8]])
    check(lambda t: t.nanmedian(), lambda t: t.nanmedian(), ints)
    check(lambda t: t.nanmedian(1), lambda t: t.nanmedian(1), ints)
    check(lambda t: t.nanmedian(0), lambda t: t.nanmedian(0), np.array(4.0))
    out = tinytorch.nanmedian(Tensor(a), 1)
    assert type(out).__name__ == "nanmedian" and out.values is out[0] and out.indices is out[1]
    assert_gradients_match(lambda t: t.nanmedian(1).values, np.where(np.isnan(a), 9.0, a) + np.arange(4) * 0.01)


# -- mode -------------------------------------------------------------------------------------------------

def test_mode():
    ints = np.array([[3, 1, 1, 3, 2, 0], [5, 5, 4, 4, 4, 5], [2, 2, 2, 1, 1, 1], [7, 6, 5, 4, 3, 2]])
    for a in (ints, ints.astype(np.float64), ints.astype(np.float32), ints % 2 == 0):
        for dim in (0, 1, -1):
            for keepdim in (False, True):
                check(lambda t: t.mode(dim, keepdim), lambda t: t.mode(dim, keepdim), a)
                check(lambda t: tinytorch.mode(t, dim=dim, keepdim=keepdim),
                      lambda t: th().mode(t, dim=dim, keepdim=keepdim), a)
        check(lambda t: t.mode(), lambda t: t.mode(), a)
    for a in (np.array([1.0, 2, 2, 3, 3, 0]), np.array([2.0, NAN, NAN, 1.0]), np.array(3.0), np.array([4.0]),
              np.array([[1.0, 1.0], [2.0, 3.0]]), np.zeros((0, 3)), np.zeros((3, 0)), np.array([-0.0, 0.0, 1.0])):
        check(lambda t: t.mode(), lambda t: t.mode(), a)
        check(lambda t: t.mode(0), lambda t: t.mode(0), a)
    out = tinytorch.mode(Tensor(ints))
    assert type(out).__name__ == "mode" and out.values is out[0] and out.indices is out[1]
    # (finite differences cannot check mode's gradient: any change of a tied value changes the mode; the
    # float64 checks above compare it with PyTorch's: all of it to the element at the index)


# -- unique / unique_consecutive with dim -------------------------------------------------------------------

def test_unique_and_unique_consecutive_with_dim():  # no gradients: unique has none in PyTorch
    rows = np.array([[1, 2, 0], [1, 2, 0], [0, 5, 1], [1, 2, 0], [0, 5, 1], [-3, 9, 9]])
    for a in (rows, rows.astype(np.float64), rows.astype(np.float32), rows > 0, rows.reshape(3, 2, 3),
              np.zeros((0, 2)), np.zeros((2, 0)), np.array([3, 1, 3])):
        for dim in range(-a.ndim, a.ndim):
            for inverse in (False, True):
                for counts in (False, True):
                    check(lambda t: t.unique(return_inverse=inverse, return_counts=counts, dim=dim),
                          lambda t: t.unique(return_inverse=inverse, return_counts=counts, dim=dim), a, grad=False)
                    check(lambda t: tinytorch.unique(t, sorted=True, return_inverse=inverse, return_counts=counts, dim=dim),
                          lambda t: th().unique(t, sorted=True, return_inverse=inverse, return_counts=counts, dim=dim), a, grad=False)
                    # keywords: PyTorch's function takes return_counts as its second positional argument
                    check(lambda t: tinytorch.unique_consecutive(t, return_inverse=inverse, return_counts=counts, dim=dim),
                          lambda t: th().unique_consecutive(t, return_inverse=inverse, return_counts=counts, dim=dim), a, grad=False)
                    check(lambda t: t.unique_consecutive(return_inverse=inverse, return_counts=counts, dim=dim),
                          lambda t: t.unique_consecutive(return_inverse=inverse, return_counts=counts, dim=dim), a, grad=False)
        check(lambda t: t.unique_consecutive(return_inverse=True), lambda t: t.unique_consecutive(return_inverse=True), a, grad=False)
    for dim in (0, 3, -3):  # out of range, and 0-d: both raise
        check(lambda t: t.unique(dim=dim), lambda t: t.unique(dim=dim), rows if dim else np.array(3), grad=False)
        check(lambda t: tinytorch.unique_consecutive(t, dim=dim), lambda t: th().unique_consecutive(t, dim=dim),
              rows if dim else np.array(3), grad=False)


# -- diff with prepend / append, repeat_interleave(repeats) ------------------------------------------------

def test_diff_with_prepend_and_append():
    a = arr(3, 4)
    for n in (0, 1, 2, 3, 5):
        for dim in (0, 1, -1):
            pre, post = (arr(2, 4, seed=1), arr(1, 4, seed=2)) if dim == 0 else (arr(3, 2, seed=1), arr(3, 1, seed=2))
            check(lambda t, p, q: t.diff(n, dim, p, q), lambda t, p, q: t.diff(n, dim, p, q), a, pre, post)
            check(lambda t, p: tinytorch.diff(t, n=n, dim=dim, prepend=p),
                  lambda t, p: th().diff(t, n=n, dim=dim, prepend=p), a, pre)
            check(lambda t, q: tinytorch.diff(t, n=n, dim=dim, append=q),
                  lambda t, q: th().diff(t, n=n, dim=dim, append=q), a.astype(np.float32), post.astype(np.float32))
    v = np.array([1.0, 3.0, 6.0])
    check(lambda t, p, q: t.diff(prepend=p, append=q), lambda t, p, q: t.diff(prepend=p, append=q),
          v, np.array([0.0]), np.array([10.0, 20.0]))
    check(lambda t, p: t.diff(prepend=p), lambda t, p: t.diff(prepend=p), np.array([1, 4]), np.array([0.5]))  # int, float
    check(lambda t, p: t.diff(prepend=p), lambda t, p: t.diff(prepend=p), np.array([True, False]), np.array([True]))
    check(lambda t, p: t.diff(2, append=p), lambda t, p: t.diff(2, append=p), np.array([1, 4]), np.array([3, 2]))
    check(lambda t, p: t.diff(prepend=p), lambda t, p: t.diff(prepend=p), v, np.array(0.5))  # 0-d: both raise
    check(lambda t, p: t.diff(dim=0, prepend=p), lambda t, p: t.diff(dim=0, prepend=p), a, arr(1, 3))  # shapes: both raise
    assert_gradients_match(lambda t, p, q: t.diff(2, 0, p, q), a, arr(1, 4, seed=3), arr(2, 4, seed=4))


def test_repeat_interleave_of_the_repeats_alone():
    for reps in (np.array([2, 1]), np.array([0, 3, 0, 1]), np.zeros(0, dtype=np.int64), np.array([1, 0]),
                 np.array([4], dtype=np.int32)):
        check(lambda r: tinytorch.repeat_interleave(r), lambda r: th().repeat_interleave(r), reps)
    for bad in (np.array([[2, 1]]), np.array([1, -2]), np.array([1.0, 2.0]), np.array(2)):
        check(lambda r: tinytorch.repeat_interleave(r), lambda r: th().repeat_interleave(r), bad)
    assert tinytorch.repeat_interleave(Tensor([2, 1])).data.tolist() == [0, 0, 1]


# -- bitwise operations and shifts --------------------------------------------------------------------------

BITWISE = ["bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift"]


@pytest.mark.parametrize("name", BITWISE)
def test_bitwise_binary(name):
    ints = np.array([5, -8, 0, 12, -1, 3]), np.array([3, 1, 2, 2, 4, 0])
    for a, b in (ints, (ints[0].astype(np.int32), ints[1].astype(np.int32)), (ints[0], ints[1].astype(np.int32)),
                 (ints[0] > 0, ints[1] > 1), (ints[0] > 0, ints[1]), (ints[0].reshape(2, 3), ints[1][:3]),
                 (ints[0].astype(np.float64), ints[1]), (ints[0], ints[1].astype(np.float32)),
                 (ints[0].astype(np.uint8) % 8, ints[1].astype(np.uint8))):
        check(lambda s, t: getattr(s, name)(t), lambda s, t: getattr(s, name)(t), a, b)
        check(lambda s, t: getattr(tinytorch, name)(s, t), lambda s, t: getattr(th(), name)(s, t), a, b)
    for other in (1, 2, True):
        check(lambda s: getattr(s, name)(other), lambda s: getattr(s, name)(other), ints[0])
        check(lambda s: getattr(s, name)(other), lambda s: getattr(s, name)(other), ints[0] > 0)


def test_bitwise_not_and_shift_operators():
    for a in (np.array([5, -8, 0, -1]), np.array([True, False]), np.array([1, 200], dtype=np.uint8),
              np.array([3], dtype=np.int16), np.array([1.5])):
        check(lambda t: t.bitwise_not(), lambda t: t.bitwise_not(), a)
        check(lambda t: tinytorch.bitwise_not(t), lambda t: th().bitwise_not(t), a)
    a, b = np.array([1, -4, 7]), np.array([2, 1, 0])
    check(lambda s, t: s << t, lambda s, t: s << t, a, b)
    check(lambda s, t: s >> t, lambda s, t: s >> t, a, b)
    check(lambda s: s << 3, lambda s: s << 3, a)


# -- lgamma, digamma -------------------------------------------------------------------------------------

POINTS = np.array([0.5, 1.0, 1.5, 2.0, 3.7, 9.99, 10.0, 10.5, 25.0, 171.3, 1e5, 1e20, 0.1, 1e-8, -0.5, -1.5,
                   -2.25, -7.3, -30.6, 1e-300])
EDGES = np.array([0.0, -0.0, -1.0, -2.0, -50.0, np.inf, -np.inf, NAN])


@pytest.mark.parametrize("name", ["lgamma", "digamma"])
def test_lgamma_and_digamma(name):
    # values to 1e-12 (the gradients below: PyTorch's trigamma is good to ~5e-10 only, tinytorch's to ~1e-15)
    check(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), POINTS, rtol=1e-12, atol=1e-12, grad=False)
    check(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), EDGES, grad=False)
    check(lambda t: getattr(tinytorch, name)(t), lambda t: getattr(th(), name)(t), POINTS.astype(np.float32))
    check(lambda t: getattr(tinytorch, name)(t), lambda t: getattr(th(), name)(t), np.array([1, 2, 5, -3]),
          rtol=2e-6)  # float32
    check(lambda t: getattr(tinytorch, name)(t), lambda t: getattr(th(), name)(t), np.zeros((2, 0)))
    # gradients: lgamma's is digamma; digamma's is trigamma (PyTorch's own series is good to ~1e-9)
    smooth = np.array([0.3, 1.0, 2.5, 9.5, 12.0, 40.0, -0.5, -2.25])
    check(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), smooth, rtol=1e-8, atol=1e-10)
    assert_gradients_match(lambda t: getattr(t, name)(), smooth, rtol=1e-6)


def test_digamma_against_high_precision_values():
    gamma = 0.57721566490153286061
    x = Tensor(np.array([1.0, 0.5, 2.0, 1 / 3, 100.0]), dtype=np.float64, requires_grad=True)
    psi = x.digamma()
    expected = [-gamma, -gamma - 2 * math.log(2), 1 - gamma, -gamma - math.pi / (2 * math.sqrt(3)) - 1.5 * math.log(3),
                4.600161852738087]
    np.testing.assert_allclose(psi.data, expected, rtol=1e-13)
    psi.sum().backward()  # trigamma: π²/6, π²/2, π²/6 − 1, 2π²/3 + 3√3 Cl₂... (checked: the first three)
    np.testing.assert_allclose(x.grad.data[:3], [math.pi ** 2 / 6, math.pi ** 2 / 2, math.pi ** 2 / 6 - 1], rtol=1e-13)
    np.testing.assert_allclose(Tensor(np.array([0.5, 4.0, 100.0]), dtype=np.float64).lgamma().data,
                               [0.5 * math.log(math.pi), math.log(6), 359.13420536957539878], rtol=1e-14)


# -- index_copy, unravel_index ------------------------------------------------------------------------------

def test_index_copy():
    a = arr(4, 3)
    for dim, index, source in [(0, np.array([2, 0]), arr(2, 3, seed=1)), (1, np.array([1]), arr(4, 1, seed=2)),
                               (-1, np.array([2, 0, 1]), arr(4, 3, seed=3)), (0, np.zeros(0, np.int64), arr(0, 3)),
                               (0, np.array([-1]), arr(1, 3, seed=4)), (0, np.array([4]), arr(1, 3, seed=4))]:
        check(lambda t, s: t.index_copy(dim, Tensor(index), s), lambda t, s: t.index_copy(dim, th().from_numpy(index), s),
              a, source)
        check(lambda t, s: tinytorch.index_copy(t, dim, Tensor(index), s),
              lambda t, s: th().index_copy(t, dim, th().from_numpy(index), s), a.astype(np.float32), source.astype(np.float32))
    check(lambda t, s: t.index_copy(0, Tensor(np.array([1])), s), lambda t, s: t.index_copy(0, th().tensor([1]), s),
          np.arange(6).reshape(3, 2), np.array([[7, 8]]))
    check(lambda t, s: t.index_copy(0, Tensor(np.array([1])), s), lambda t, s: t.index_copy(0, th().tensor([1]), s),
          np.array([True, False]), np.array([True]))
    check(lambda t, s: t.index_copy(0, Tensor(np.array([1])), s), lambda t, s: t.index_copy(0, th().tensor([1]), s),
          a, np.ones((1, 3), np.float32))  # dtypes differ: both raise
    t = Tensor(np.zeros(3))
    assert t.index_copy_(0, Tensor(np.array([1])), Tensor(np.array([5.0]))) is t and t.data.tolist() == [0, 5, 0]
    assert_gradients_match(lambda t, s: t.index_copy(1, Tensor(np.array([2, 0])), s), a, arr(4, 2, seed=5))


def test_unravel_index():
    for indices, shape in [(np.array([5, 7, 0]), (2, 4)), (np.array(5), (2, 4)), (np.array([[3, 11], [0, 23]]), (2, 3, 4)),
                           (np.array([-1, 8]), (2, 4)), (np.array([4]), 6), (np.array([4]), ()), (np.zeros(0, np.int64), (3,)),
                           (np.array([1], np.int32), (2, 2)), (np.array([1.0]), (2, 2)), (np.array([1]), (2, -1))]:
        check(lambda i: tinytorch.unravel_index(i, shape), lambda i: th().unravel_index(i, shape), indices)


@pytest.mark.parametrize("shape, start, end", [((3,), 1, -1), ((3,), 0, -1), ((), 0, -1), ((2, 3), 0, 2),
                                               ((2, 3), -3, -1), ((2, 3, 4), 2, 1), ((2, 3, 4), 1, 2)])
def test_flatten_checks_its_dims(shape, start, end):
    """flatten's dims must lie in [-ndim, ndim - 1] and start may not come after end (PyTorch raises)."""
    check(lambda t: t.flatten(start, end), lambda t: t.flatten(start, end), arr(*shape))
