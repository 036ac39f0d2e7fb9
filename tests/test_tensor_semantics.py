"""Tensor semantics a PyTorch user relies on (issue 11): dtypes and promotion, comparisons,
Python/NumPy conversions, `size()`, in-place updates, creation functions and the rest of the
Tensor API — against PyTorch where it is installed, and against hand values everywhere."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch
from gradcheck import torch
from tinytorch.core.tensor import Tensor, result_type

DTYPES = [np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64]


def torch_dtype(th, dtype):
    return getattr(th, "bool" if dtype is np.bool_ else np.dtype(dtype).name)


def as_numpy(value):
    """A torch tensor's values (0-d tensors included) as a NumPy array."""
    return value.detach().numpy() if hasattr(value, "detach") else np.asarray(value)


# -- dtypes ---------------------------------------------------------------------------


def test_dtype_follows_the_data_like_torch_tensor():
    assert Tensor([1, 2, 3]).dtype == np.int64
    assert Tensor([True, False]).dtype == np.bool_
    assert Tensor([1.0, 2.0]).dtype == np.float32 and Tensor(2.5).dtype == np.float32
    assert Tensor([1, 2.5]).dtype == np.float32, "a float among ints makes floats"
    assert Tensor(3).dtype == np.int64 and Tensor(True).dtype == np.bool_
    assert Tensor(np.zeros(2, dtype=np.int32)).dtype == np.int32, "an integer array keeps its dtype"
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert Tensor(Tensor([1.0], dtype=np.float64)).dtype == np.float64
    th = torch()
    for data in ([1, 2, 3], [True, False], [1.0, 2.0], [1, 2.5], 3, 2.5, True, [[1, 2], [3, 4]]):
        assert torch_dtype(th, Tensor(data).dtype.type) == th.tensor(data).dtype, data


def test_float64_arrays_become_float32_unless_asked():
    """A deliberate difference from torch.tensor(np_array): float64 only when asked for."""
    assert Tensor(np.zeros(3)).dtype == np.float32
    assert Tensor(np.zeros(3), dtype=np.float64).dtype == np.float64
    assert Tensor(np.zeros(3)).double().dtype == np.float64
    assert tinytorch.tensor(np.zeros(3)).dtype == np.float32


def test_an_integer_tensor_indexes_and_a_bool_tensor_masks():
    x = Tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    assert x[Tensor([0, 2])].tolist() == [[0.0, 1.0], [4.0, 5.0]]
    assert x[Tensor([True, False, True])].tolist() == [[0.0, 1.0], [4.0, 5.0]]
    assert x[x > 2].tolist() == [3.0, 4.0, 5.0]
    assert x[:, Tensor(1)].tolist() == [1.0, 3.0, 5.0]
    th = torch()
    tx = th.tensor(x.data)
    np.testing.assert_array_equal(x[Tensor([2, 0, 2])].data, tx[th.tensor([2, 0, 2])].numpy())
    np.testing.assert_array_equal(x[x > 2].data, tx[tx > 2].numpy())


@pytest.mark.parametrize(
    "left, right, expected",
    [
        (Tensor([1, 2]), 2, np.int64),
        (Tensor([1, 2]), 2.5, np.float32),
        (Tensor([1.0]), np.float64(2), np.float32),
        (Tensor([1.0]), Tensor([1.0], dtype=np.float64), np.float64),
        (Tensor([1]), Tensor([1.0]), np.float32),
        (Tensor([True]), 1, np.int64),
        (Tensor([1.0]), Tensor(2.0, dtype=np.float64), np.float32),
        (Tensor([1], dtype=np.int32), Tensor([1], dtype=np.int64), np.int64),
    ],
    ids=str,
)
def test_promotion_hand_values(left, right, expected):
    assert result_type(left, right) == expected
    assert (left + right).dtype == expected and (right * left).dtype == expected


def test_true_division_and_scalars_do_not_promote():
    assert (Tensor([3]) / 2).dtype == np.float32 and (Tensor([3]) / 2).tolist() == [1.5]
    assert (Tensor([3]) / Tensor([2])).tolist() == [1.5] and (2 / Tensor([4])).tolist() == [0.5]
    assert (Tensor([1.0]) * np.float64(2)).dtype == np.float32
    assert (np.float64(2) * Tensor([1.0])).dtype == np.float32
    assert (Tensor([2]) * 0.5).dtype == np.float32 and (Tensor([2]) ** 2).dtype == np.int64
    assert (Tensor([0, 1]).exp()).dtype == np.float32


@pytest.mark.parametrize("shapes", [((2,), (2,)), ((2,), ()), ((), (2,)), ((), ())], ids=str)
def test_promotion_grid_matches_torch(shapes):
    th = torch()
    ops = {"add": lambda x, y: x + y, "mul": lambda x, y: x * y, "div": lambda x, y: x / y,
           "sub": lambda x, y: x - y, "lt": lambda x, y: x < y}
    for a, b in itertools.product(DTYPES, DTYPES):
        x, y = Tensor(np.ones(shapes[0]), dtype=a), Tensor(np.ones(shapes[1]), dtype=b)
        tx, ty = th.ones(shapes[0], dtype=torch_dtype(th, a)), th.ones(shapes[1], dtype=torch_dtype(th, b))
        assert torch_dtype(th, result_type(x, y).type) == th.result_type(tx, ty), (a, b)
        for name, op in ops.items():
            try:
                expected = op(tx, ty).dtype
            except RuntimeError:
                continue  # torch refuses (e.g. bool - bool)
            assert torch_dtype(th, op(x, y).dtype.type) == expected, (name, a, b)


@pytest.mark.parametrize("scalar", [True, 3, 2.5, np.float64(2.0), np.int32(3), np.float32(1.5)], ids=repr)
def test_promotion_with_numbers_matches_torch(scalar):
    th = torch()
    plain = scalar.item() if isinstance(scalar, np.generic) else scalar
    for a in DTYPES:
        x, tx = Tensor(np.ones(2), dtype=a), th.ones(2, dtype=torch_dtype(th, a))
        for op in (lambda p, q: p + q, lambda p, q: p * q, lambda p, q: p / q):
            for flip in (False, True):
                try:
                    expected = (op(plain, tx) if flip else op(tx, plain)).dtype
                except RuntimeError:
                    continue
                got = (op(scalar, x) if flip else op(x, scalar)).dtype
                assert torch_dtype(th, got.type) == expected, (a, scalar, flip)


# -- comparisons, Python and NumPy ------------------------------------------------------


def test_comparisons_are_elementwise_bool_tensors():
    pred, y = Tensor([0, 1, 2, 2]), Tensor([0, 1, 1, 2])
    assert (pred == y).dtype == np.bool_ and (pred == y).tolist() == [True, True, False, True]
    assert (pred == y).float().mean().item() == 0.75
    assert (pred != y).tolist() == [False, False, True, False]
    assert (pred < 2).tolist() == [True, True, False, False] and (pred >= y).all().item()
    assert (2 > pred).tolist() == [True, True, False, False], "reflected comparisons"
    assert (np.array([0, 1, 5, 5]) == pred).tolist() == [True, True, False, False], "NumPy on the left"
    assert (pred == None) is False and (pred != "x") is True  # noqa: E711 - not a tensor operand
    th = torch()
    a, b = np.array([0.5, 1.0, 2.0]), np.array([[1.0], [2.0]])
    for op in (lambda p, q: p == q, lambda p, q: p != q, lambda p, q: p < q,
               lambda p, q: p <= q, lambda p, q: p > q, lambda p, q: p >= q):
        np.testing.assert_array_equal(op(Tensor(a), Tensor(b)).data, op(th.tensor(a), th.tensor(b)).numpy())


def test_tensors_hash_by_identity():
    a, b = Tensor([1.0, 2.0]), Tensor([1.0, 2.0])
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b" and len({a, b, a}) == 2
    params = [a, b]
    assert a in params and params.index(a) == 0, "Python checks identity before =="
    with pytest.raises(RuntimeError, match="ambiguous"):
        b in params  # noqa: B015 - then a == b, elementwise, as in PyTorch: use id() or a dict
    th = torch()
    ta, tb = th.ones(2), th.ones(2)
    with pytest.raises(RuntimeError, match="ambiguous"):
        tb in [ta, tb]  # noqa: B015


def test_bool_float_int_index_like_torch():
    assert bool(Tensor([0.0])) is False and bool(Tensor(0.0)) is False and bool(Tensor([2])) is True
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(Tensor([1.0, 0.0]))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(Tensor([]))
    assert float(Tensor([[2.5]])) == 2.5 and int(Tensor(3.9)) == 3
    with pytest.raises(ValueError, match="one element"):
        float(Tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="2 elements"):
        Tensor([1.0, 2.0]).item()
    assert ["a", "b", "c"][Tensor(2)] == "c" and list(range(Tensor(3))) == [0, 1, 2]
    with pytest.raises(TypeError):
        ["a"][Tensor(0.0)]
    assert f"{Tensor(1 / 3):.3f}" == "0.333" and Tensor([1, 2]).tolist() == [1, 2]
    th = torch()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(th.tensor([1.0, 0.0]))
    assert bool(th.tensor([0.0])) is bool(Tensor([0.0]))


def test_numpy_protocol():
    w = Tensor([1.0, -2.0], requires_grad=True)
    (w * w).sum().backward()
    assert np.allclose(w.grad, [2.0, -4.0]) and np.abs(w.grad).tolist() == [2.0, 4.0]
    assert np.asarray(w.grad) is w.grad.data, "shared, not copied"
    copy = np.array(w.grad, copy=True)
    copy[0] = 99
    assert w.grad.data[0] == 2.0
    assert np.asarray(Tensor([1, 2]), dtype=np.float64).dtype == np.float64
    stacked = np.stack([Tensor([1.0, 2.0]), Tensor([3.0, 4.0])])
    assert stacked.shape == (2, 2)


def test_size_numel_dim():
    x = Tensor(np.zeros((2, 3, 4)))
    assert x.size() == (2, 3, 4) and x.size(0) == 2 and x.size(-1) == 4 and x.size(dim=1) == 3
    assert x.numel() == 24 and x.dim() == 3 and x.ndim == 3 and x.shape == (2, 3, 4)
    th = torch()
    t = th.zeros(2, 3, 4)
    assert tuple(t.size()) == x.size() and t.size(1) == x.size(1) and t.numel() == x.numel()


def test_len_iter_and_repr():
    x = Tensor([[1, 2], [3, 4]])
    assert len(x) == 2 and [row.tolist() for row in x] == [[1, 2], [3, 4]]
    with pytest.raises(TypeError):
        len(Tensor(1.0))
    with pytest.raises(TypeError):
        iter(Tensor(1.0))
    assert "dtype" not in repr(x) and "dtype=float64" in repr(Tensor([1.0], dtype=np.float64))


# -- in place ----------------------------------------------------------------------------


def test_in_place_operators_change_the_storage():
    a = Tensor([1.0, 2.0])
    alias, numpy_view = a, a.data
    view = a[0:1]
    a += 1
    a -= Tensor([0.5, 0.5])
    a *= 2
    a /= 3
    a **= 2
    expected = (((np.array([1.0, 2.0]) + 1 - 0.5) * 2) / 3) ** 2
    assert alias is a and np.allclose(alias.data, expected)
    assert np.allclose(numpy_view, expected) and np.allclose(view.data, expected[:1]), "views see it"
    th = torch()
    t = th.tensor([1.0, 2.0])
    t_alias = t
    t += 1
    t -= th.tensor([0.5, 0.5])
    t *= 2
    t /= 3
    t **= 2
    np.testing.assert_allclose(alias.data, t_alias.numpy(), rtol=1e-6)


def test_in_place_methods_match_torch():
    base = np.array([[0.5, -1.5, 2.0], [3.0, -0.25, 1.0]], dtype=np.float32)
    mask = base < 0

    def steps(t, make):
        t.add_(make(np.ones(3, dtype=np.float32)), alpha=2)
        t.sub_(0.5)
        t.mul_(make(np.array([[2.0], [0.5]], dtype=np.float32)))
        t.div_(3)
        t.clamp_(-0.5, 1.5)
        t.masked_fill_(make(mask), 7.0)
        t.pow_(2)
        t[0, 1] = -3.0
        t[make(np.array([False, True]))] = 4.0
        return t

    tiny = steps(Tensor(base.copy()), Tensor)
    assert tiny.dtype == np.float32
    assert Tensor([1.0, 2.0]).zero_().tolist() == [0.0, 0.0] and Tensor([1, 2]).fill_(5).tolist() == [5, 5]
    target = Tensor([0.0, 0.0, 0.0])
    assert target.copy_(Tensor([1, 2, 3])).tolist() == [1.0, 2.0, 3.0] and target.dtype == np.float32
    th = torch()
    reference = steps(th.tensor(base.copy()), th.tensor)
    np.testing.assert_allclose(tiny.data, reference.numpy(), rtol=1e-6)


def test_in_place_refuses_a_result_its_dtype_cannot_hold():
    ids = Tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        ids += 0.5
    with pytest.raises(RuntimeError, match="shape"):
        row = Tensor([1.0, 2.0])
        row += Tensor([[1.0, 2.0], [3.0, 4.0]])
    ids += 1
    assert ids.tolist() == [2, 3] and ids.dtype == np.int64
    th = torch()
    with pytest.raises(RuntimeError, match="can't be cast"):
        t = th.tensor([1, 2])
        t += 0.5


# -- creation ----------------------------------------------------------------------------


def test_creation_functions_match_torch():
    th = torch()
    pairs = [
        (tinytorch.zeros(2, 3), th.zeros(2, 3)), (tinytorch.ones((2, 3)), th.ones((2, 3))),
        (tinytorch.full((2, 2), 7), th.full((2, 2), 7)), (tinytorch.full((2,), 0.5), th.full((2,), 0.5)),
        (tinytorch.full((2,), True), th.full((2,), True)),
        (tinytorch.arange(5), th.arange(5)), (tinytorch.arange(1, 7, 2), th.arange(1, 7, 2)),
        (tinytorch.arange(0, 1, 0.25), th.arange(0, 1, 0.25)), (tinytorch.eye(3), th.eye(3)),
        (tinytorch.eye(2, 3), th.eye(2, 3)), (tinytorch.tensor([1, 2]), th.tensor([1, 2])),
        (tinytorch.zeros_like(Tensor([1, 2])), th.zeros_like(th.tensor([1, 2]))),
        (tinytorch.ones_like(Tensor([1.0])), th.ones_like(th.tensor([1.0]))),
        (tinytorch.full_like(Tensor([1, 2]), 3), th.full_like(th.tensor([1, 2]), 3)),
        (tinytorch.zeros(2, dtype=np.int64), th.zeros(2, dtype=th.int64)),
        (tinytorch.linspace(-1, 2, 7), th.linspace(-1, 2, 7)), (tinytorch.empty(2, 3), th.zeros(2, 3)),
        (tinytorch.from_numpy(np.arange(3.0)), th.from_numpy(np.arange(3.0))),
        (tinytorch.from_numpy(np.arange(3)), th.from_numpy(np.arange(3))),
    ]
    for tiny, ref in pairs:
        assert torch_dtype(th, tiny.dtype.type) == ref.dtype, (tiny, ref)
        np.testing.assert_array_equal(tiny.data, ref.numpy())
    for tiny, ref in [(tinytorch.rand(2, 3), th.rand(2, 3)), (tinytorch.randn((4,)), th.randn((4,))),
                      (tinytorch.randint(0, 5, (3,)), th.randint(0, 5, (3,))),
                      (tinytorch.rand_like(Tensor([1.0])), th.rand_like(th.tensor([1.0]))),
                      (tinytorch.randperm(5), th.randperm(5))]:
        assert tiny.shape == tuple(ref.shape) and torch_dtype(th, tiny.dtype.type) == ref.dtype
    a, b = np.array([1.0, 2.0, np.nan]), np.array([1.0 + 1e-7, 2.0, np.nan])
    for equal_nan in (False, True):
        assert tinytorch.allclose(Tensor(a, dtype=np.float64), Tensor(b, dtype=np.float64), equal_nan=equal_nan) == \
            th.allclose(th.tensor(a), th.tensor(b), equal_nan=equal_nan)
    assert tinytorch.equal(Tensor([1, 2]), Tensor([1, 2])) and not tinytorch.equal(Tensor([1, 2]), Tensor([1, 2, 3]))
    assert tinytorch.is_tensor(Tensor([1])) and not tinytorch.is_tensor([1])
    with pytest.raises(TypeError, match="NumPy array"):
        tinytorch.from_numpy([1.0])


def test_creation_hand_values_and_requires_grad():
    assert tinytorch.zeros(2, 3).shape == (2, 3) and tinytorch.zeros(2, 3).dtype == np.float32
    assert tinytorch.arange(4).tolist() == [0, 1, 2, 3] and tinytorch.arange(4).dtype == np.int64
    assert tinytorch.full((2,), 7).dtype == np.int64 and tinytorch.eye(2).tolist() == [[1, 0], [0, 1]]
    w = tinytorch.randn(3, 2, requires_grad=True)
    assert w.requires_grad and w.is_leaf and w.dtype == np.float32
    assert tinytorch.zeros(2, dtype=tinytorch.float64).dtype == np.float64 and tinytorch.long is np.int64
    with pytest.raises(RuntimeError, match="floating point"):
        tinytorch.zeros(2, dtype=np.int64, requires_grad=True)


def test_manual_seed_fixes_every_random_draw():
    def draw():
        tinytorch.manual_seed(7)
        return tinytorch.randn(3).tolist(), tinytorch.rand(2).tolist(), tinytorch.Linear(2, 2).weight.tolist()

    assert draw() == draw()
    tinytorch.manual_seed(8)
    assert tinytorch.randn(3).tolist() != draw()[0]


def test_top_level_imports_torch_style():
    from tinytorch import cat, enable_grad, manual_seed, no_grad, stack, tensor, where, zeros  # noqa: F401

    assert callable(tinytorch.tensor) and tinytorch.core.tensor.__name__ == "tinytorch.core.tensor"


# -- the rest of the API ---------------------------------------------------------------


@pytest.mark.parametrize("name, args, kwargs", [
    ("exp", (), {}), ("sum", (), {"dim": 1}), ("mean", (0,), {}), ("max", (), {}), ("amax", (), {"dim": -1}),
    ("matmul", ("other",), {}), ("transpose", (0, 1), {}), ("reshape", ((4, 2),), {}), ("clamp", (), {"min": 0.0}),
    ("abs", (), {}), ("round", (), {}), ("cumsum", (1,), {}), ("flip", ((0,),), {}), ("tril", (), {}),
    ("norm", (), {}), ("logsumexp", (1,), {}), ("argmax", (), {"dim": 1}), ("unsqueeze", (0,), {}), ("sigmoid", (), {}),
])
def test_function_forms_match_torch(name, args, kwargs):
    """tinytorch.exp(x) is x.exp(), as torch.exp(x) is: values and (where differentiable) gradients."""
    th = torch()
    data = np.array([[0.5, -1.5, 2.0, 0.25], [1.0, 3.0, -0.5, -2.0]])
    other = np.ones((4, 3))

    def call(package, x, other_x):
        return getattr(package, name)(x, *(other_x if a == "other" else a for a in args), **kwargs)

    mine = call(tinytorch, Tensor(data, dtype=np.float64, requires_grad=True), Tensor(other, dtype=np.float64))
    theirs = call(th, th.tensor(data, requires_grad=True), th.tensor(other))
    np.testing.assert_allclose(mine.data, theirs.detach().numpy(), rtol=1e-12)
    assert getattr(tinytorch, name).__name__ == name and name in tinytorch.__all__
    assert tinytorch.sum([1.0, 2.0]).item() == 3.0, "a list is converted, as torch.sum refuses but numpy-minded students expect"


def test_max_min_with_dim_return_values_and_indices():
    data = np.array([[3.0, 1.0, 3.0], [0.0, 5.0, -1.0]], dtype=np.float32)
    x = Tensor(data)
    values, indices = x.max(dim=1)
    assert values.tolist() == [3.0, 5.0] and indices.tolist() == [0, 1] and indices.dtype == np.int64
    result = x.min(0, keepdim=True)
    assert result.values.tolist() == [[0.0, 1.0, -1.0]] and result.indices.tolist() == [[1, 0, 1]]
    assert x.max().item() == 5.0 and x.min().item() == -1.0 and x.max(axis=1).tolist() == [3.0, 5.0]
    th = torch()
    t = th.tensor(data)
    for dim, keepdim in itertools.product((0, 1, -1), (False, True)):
        for mine, ref in ((x.max(dim, keepdim=keepdim), t.max(dim, keepdim=keepdim)),
                          (x.min(dim=dim, keepdim=keepdim), t.min(dim=dim, keepdim=keepdim))):
            np.testing.assert_array_equal(mine.values.data, ref.values.numpy())
            np.testing.assert_array_equal(mine.indices.data, ref.indices.numpy())
        np.testing.assert_array_equal(x.argmax(dim, keepdim=keepdim).data, t.argmax(dim, keepdim=keepdim).numpy())
        np.testing.assert_array_equal(x.argmin(dim=dim).data, t.argmin(dim=dim).numpy())
    assert x.argmax().item() == t.argmax().item() and x.argmin().item() == t.argmin().item()


@pytest.mark.parametrize("kwargs", [{}, {"dim": 1}, {"dim": 0, "keepdim": True}, {"dim": (0, 1)},
                                    {"correction": 0}, {"dim": 1, "unbiased": False}, {"dim": 1, "correction": 2}],
                         ids=str)
def test_var_and_std_match_torch(kwargs):
    data = np.random.default_rng(3).normal(size=(4, 5))
    x = Tensor(data, dtype=np.float64)
    assert np.isclose(Tensor(data, dtype=np.float64).var().item(), np.var(data, ddof=1)), "unbiased by default"
    th = torch()
    t = th.tensor(data)
    np.testing.assert_allclose(x.var(**kwargs).data, as_numpy(t.var(**kwargs)), rtol=1e-10)
    np.testing.assert_allclose(x.std(**kwargs).data, as_numpy(t.std(**kwargs)), rtol=1e-10)


def test_reductions_accept_torch_and_numpy_keywords():
    data = np.arange(24.0).reshape(2, 3, 4)
    x = Tensor(data, dtype=np.float64)
    for name in ("sum", "mean", "amax", "amin"):
        method = getattr(x, name)
        np.testing.assert_array_equal(method(dim=1).data, method(axis=1).data)
        np.testing.assert_array_equal(method(1, True).data, method(axis=1, keepdims=True).data)
        np.testing.assert_array_equal(method(dim=[0, 2]).data, method(axis=(0, 2)).data)
    with pytest.raises(TypeError):
        x.sum(dim=0, axis=1)
    with pytest.raises(RuntimeError, match="floating point"):
        Tensor([1, 2]).mean()
    assert Tensor([1, 2]).float().mean().item() == 1.5 and Tensor([True, True]).sum().dtype == np.int64
    th = torch()
    t = th.tensor(data)
    for name in ("sum", "mean", "amax", "amin"):
        np.testing.assert_allclose(getattr(x, name)(dim=(0, 2), keepdim=True).data,
                                   getattr(t, name)(dim=(0, 2), keepdim=True).numpy())
    with pytest.raises(RuntimeError):
        th.tensor([1, 2]).mean()


def test_shape_methods_match_torch():
    th = torch()
    data = np.arange(24.0).reshape(2, 1, 3, 4)
    x, t = Tensor(data), th.tensor(data, dtype=th.float32)
    cases = [
        (lambda a: a.view(6, 4), lambda a: a.view(6, 4)), (lambda a: a.view(-1), lambda a: a.view(-1)),
        (lambda a: a.flatten(), lambda a: a.flatten()), (lambda a: a.flatten(1), lambda a: a.flatten(1)),
        (lambda a: a.flatten(1, 2), lambda a: a.flatten(1, 2)), (lambda a: a.flatten(-2), lambda a: a.flatten(-2)),
        (lambda a: a.squeeze(), lambda a: a.squeeze()), (lambda a: a.squeeze(1), lambda a: a.squeeze(1)),
        (lambda a: a.squeeze(0), lambda a: a.squeeze(0)), (lambda a: a.unsqueeze(0), lambda a: a.unsqueeze(0)),
        (lambda a: a.unsqueeze(-1), lambda a: a.unsqueeze(-1)), (lambda a: a.unsqueeze(2), lambda a: a.unsqueeze(2)),
        (lambda a: a.expand(3, 2, 2, 3, 4), lambda a: a.expand(3, 2, 2, 3, 4)),
        (lambda a: a.expand(-1, 5, -1, -1), lambda a: a.expand(-1, 5, -1, -1)),
        (lambda a: a.repeat(1, 2, 1, 2), lambda a: a.repeat(1, 2, 1, 2)),
        (lambda a: a.repeat(2, 1, 1, 1, 1), lambda a: a.repeat(2, 1, 1, 1, 1)),
        (lambda a: a.gather(3, a.argmax(dim=3, keepdim=True)), lambda a: a.gather(3, a.argmax(dim=3, keepdim=True))),
        (lambda a: a.flatten(0, 2).T, lambda a: a.flatten(0, 2).T),
    ]
    for tiny_fn, torch_fn in cases:
        np.testing.assert_array_equal(tiny_fn(x).data, torch_fn(t).numpy())
    assert Tensor(5.0).flatten().shape == (1,) and th.tensor(5.0).flatten().shape == (1,)


def test_dtype_conversions_match_torch():
    th = torch()
    data = np.array([1.7, -2.2, 0.0])
    x, t = Tensor(data), th.tensor(data, dtype=th.float32)
    for name in ("float", "double", "half", "long", "int", "bool"):
        mine, ref = getattr(x, name)(), getattr(t, name)()
        assert torch_dtype(th, mine.dtype.type) == ref.dtype, name
        np.testing.assert_array_equal(mine.data, ref.numpy())
    assert x.to(np.float64).dtype == np.float64 and x.to(Tensor([1])).dtype == np.int64 and x.to("cpu") is x
    assert x.float() is x and x.type() == "tinytorch.FloatTensor" and x.type(np.int64).dtype == np.int64
    assert t.type() == "torch.FloatTensor" and x.long().type() == "tinytorch.LongTensor"
    c = x.clone()
    c[0] = 100.0
    assert x.data[0] == np.float32(1.7) and c.dtype == x.dtype, "clone is an independent copy"


@settings(max_examples=40, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
    dtypes=st.tuples(st.sampled_from([np.int64, np.float32, np.float64, np.bool_]),
                     st.sampled_from([np.int64, np.float32, np.float64, np.bool_])),
    op=st.sampled_from(["add", "mul", "div", "eq", "lt", "max"]),
)
def test_broadcasting_values_and_dtypes_match_torch(shapes, dtypes, op):
    th = torch()
    rng = np.random.default_rng(0)
    a, b = (rng.integers(1, 4, size=s) for s in shapes.input_shapes)
    fns = {"add": lambda p, q: p + q, "mul": lambda p, q: p * q, "div": lambda p, q: p / q,
           "eq": lambda p, q: p == q, "lt": lambda p, q: p < q,
           "max": lambda p, q: (tinytorch.maximum if isinstance(p, Tensor) else th.maximum)(p, q)}
    x, y = Tensor(a, dtype=dtypes[0]), Tensor(b, dtype=dtypes[1])
    tx, ty = th.tensor(a.astype(dtypes[0])), th.tensor(b.astype(dtypes[1]))
    try:
        expected = fns[op](tx, ty)
    except RuntimeError:
        return
    got = fns[op](x, y)
    assert got.shape == tuple(expected.shape)
    assert torch_dtype(th, got.dtype.type) == expected.dtype
    np.testing.assert_allclose(got.data.astype(np.float64), expected.numpy().astype(np.float64), rtol=1e-6)


@pytest.mark.parametrize("left, right", [([5.0, -5.0, 7.5, -0.5], [2.0, 3.0, -2.0, 0.25]), ([5, -5, 7, -1], [2, 3, -2, 4]),
                                         ([5, -5, 7, -1], 2.5), (7, [2.0, -3.0, 0.5, 4.0])])
def test_floor_division_and_remainder_match_torch(left, right):
    th = torch()
    ours = [Tensor(v) if isinstance(v, list) else v for v in (left, right)]
    theirs = [th.tensor(v) if isinstance(v, list) else v for v in (left, right)]
    for op in (lambda a, b: a // b, lambda a, b: a % b):
        got, want = op(*ours), op(*theirs)
        assert got.dtype == as_numpy(want).dtype and np.array_equal(got.data, as_numpy(want))


def test_remainder_gradients_match_torch_and_floor_division_has_none():
    th = torch()
    x, y = Tensor([5.5, -2.5, 3.0], requires_grad=True), Tensor([2.0, 1.5, -4.0], requires_grad=True)
    xt, yt = th.tensor([5.5, -2.5, 3.0], requires_grad=True), th.tensor([2.0, 1.5, -4.0], requires_grad=True)
    (x % y).sum().backward()
    (xt % yt).sum().backward()
    assert np.array_equal(x.grad.data, xt.grad.numpy()) and np.array_equal(y.grad.data, yt.grad.numpy())
    assert not (x // y).requires_grad
