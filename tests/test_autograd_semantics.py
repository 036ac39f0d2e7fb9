"""Autograd semantics a PyTorch user relies on (issue 11): vector matmul, powers at zero,
floating-point-only gradients, `.grad` assignment, in-place operations with version counters,
retain_graph, grad modes, and every new differentiable op — each against finite differences,
against PyTorch where it is installed, and against hand values."""

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch
from gradcheck import assert_gradients_match, assert_matches_torch, normal, rng, torch
from tinytorch.core.autograd import (
    Context, cat, einsum, enable_grad, is_grad_enabled, maximum, minimum, no_grad, set_grad_enabled, stack, where,
)
from tinytorch.core.tensor import Tensor


def away_from_zero(*shape):
    return rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def distinct(*shape):
    """Values with no ties and no two within 0.1 (safe around max, clamp and abs kinks)."""
    values = rng.permutation(np.prod(shape, dtype=int)).reshape(shape) * 0.37 - 1.1
    return values + rng.uniform(0.02, 0.05, size=shape)


# -- matmul with vectors -----------------------------------------------------------------


def test_vector_dot_product_backward_hand_values():
    a = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = Tensor([4.0, 5.0, 6.0], requires_grad=True)
    out = a @ b
    assert out.shape == () and out.item() == 32.0
    out.backward()
    assert a.grad.tolist() == [4.0, 5.0, 6.0] and b.grad.tolist() == [1.0, 2.0, 3.0]


MATMUL_SHAPES = [
    ((4,), (4,)), ((4,), (4, 3)), ((3, 4), (4,)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,)),
    ((3, 4), (4, 2)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 2, 4, 3)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_every_vector_and_batch_combination(shapes):
    a, b = normal(*shapes[0]), normal(*shapes[1])
    assert_gradients_match(lambda x, y: x @ y, a, b)
    assert_matches_torch(lambda x, y: x @ y, lambda x, y: x @ y, a, b)


# -- powers --------------------------------------------------------------------------------


def test_pow_zero_at_zero_has_zero_gradient():
    x = Tensor([0.0, 1.5, -2.0], requires_grad=True)
    (x ** 0).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("exponent", [0, 0.0, 0.5, 1, 2, 3, -1, 2.5])
def test_pow_at_zero_matches_torch(exponent):
    th = torch()
    data = np.array([0.0, 0.5, 2.0])
    x = Tensor(data, dtype=np.float64, requires_grad=True)
    t = th.tensor(data, requires_grad=True)
    out, ref = x ** exponent, t ** exponent
    # within an ulp: PyTorch's vectorized pow and NumPy's may round x ** 0.5 differently
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-15, atol=0)
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-12)  # inf and nan agree too


def test_tensor_exponents_and_reflected_pow():
    base, exponent = np.abs(away_from_zero(3, 4)), away_from_zero(4)
    assert_gradients_match(lambda a, b: a ** b, base, exponent)
    assert_matches_torch(lambda a, b: a ** b, lambda a, b: a ** b, base, exponent)
    assert_gradients_match(lambda a: 2 ** a, away_from_zero(5))
    assert_matches_torch(lambda a: 2.5 ** a, lambda a: 2.5 ** a, away_from_zero(5))
    x = Tensor([1.0, 2.0], requires_grad=True)
    (2 ** x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2 * np.log(2), 4 * np.log(2)], rtol=1e-6)


def test_pow_of_a_zero_base_with_a_tensor_exponent_matches_torch():
    th = torch()
    base, exponent = np.array([0.0, 0.0, 0.0, 2.0]), np.array([0.0, 1.0, 2.5, 3.0])
    b, e = Tensor(base, dtype=np.float64, requires_grad=True), Tensor(exponent, dtype=np.float64, requires_grad=True)
    tb, te = th.tensor(base, requires_grad=True), th.tensor(exponent, requires_grad=True)
    (b ** e).sum().backward()
    (tb ** te).sum().backward()
    np.testing.assert_allclose(e.grad.data, te.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad.data, tb.grad.numpy(), rtol=1e-12)
    assert e.grad.data[:3].tolist() == [0.0, 0.0, 0.0]


# -- floating point only, and .grad --------------------------------------------------------


def test_only_floating_point_tensors_require_grad():
    for make in (lambda: Tensor([1, 2], requires_grad=True), lambda: Tensor([True], requires_grad=True),
                 lambda: Tensor([1, 2]).requires_grad_(), lambda: setattr(Tensor([1]), "requires_grad", True)):
        with pytest.raises(RuntimeError, match="floating point"):
            make()
    w = Tensor([1.0, 2.0], requires_grad=True)
    (w * Tensor([2, 3])).sum().backward()  # an int operand: no truncated gradient anywhere
    assert w.grad.tolist() == [2.0, 3.0] and w.grad.dtype == np.float32
    x = Tensor([1.0, 2.5], requires_grad=True)
    assert not x.long().requires_grad and not (x > 1).requires_grad, "integer results have no gradient"
    (x.long() + x * 2.5).sum().backward()
    assert x.grad.tolist() == [2.5, 2.5]
    th = torch()
    with pytest.raises(RuntimeError, match="floating point"):
        th.tensor([1, 2], requires_grad=True)


def test_grad_is_a_tensor_property():
    p = Tensor([1.0, 2.0], requires_grad=True)
    p.grad = np.array([0.5, 0.5], dtype=np.float32)
    assert isinstance(p.grad, Tensor) and p.grad.tolist() == [0.5, 0.5]
    with pytest.raises(RuntimeError, match="shape"):
        p.grad = np.ones(3, dtype=np.float32)
    with pytest.raises(RuntimeError, match="dtype"):
        p.grad = Tensor([1.0, 1.0], dtype=np.float64)
    with pytest.raises(RuntimeError, match="dtype"):
        p.grad = np.ones(2)  # NumPy's float64 for a float32 tensor
    p.grad = None
    assert p.grad is None
    optim = pytest.importorskip("tinytorch.optim")
    p.grad = np.array([1.0, -1.0], dtype=np.float32)
    optim.SGD([p], lr=0.5).step()
    assert p.tolist() == [0.5, 2.5], "step() works after assigning a NumPy gradient"
    th = torch()
    with pytest.raises(RuntimeError, match="size"):
        th.ones(2, requires_grad=True).grad = th.ones(3)


# -- in place ------------------------------------------------------------------------------


def test_manual_sgd_update_in_no_grad_changes_the_parameters_in_place():
    nn = pytest.importorskip("tinytorch.nn")
    tinytorch.manual_seed(0)
    model = nn.Linear(3, 2)
    params = model.parameters()
    weight_view, bias_alias = model.weight.data, model.bias
    x = Tensor(normal(4, 3))
    before = [p.data.copy() for p in params]
    model(x).sum().backward()
    with no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    for p, old in zip(params, before):
        np.testing.assert_allclose(p.data, old - 0.1 * p.grad.data, rtol=1e-6)
        assert p.is_leaf and p.requires_grad
    assert weight_view is model.weight.data and bias_alias is model.bias
    np.testing.assert_allclose(weight_view, before[0] - 0.1 * model.weight.grad.data, rtol=1e-6)
    th = torch()
    layer = th.nn.Linear(3, 2)
    with th.no_grad():
        layer.weight.copy_(th.tensor(before[0]))
        layer.bias.copy_(th.tensor(before[1]))
    layer(th.tensor(x.data)).sum().backward()
    with th.no_grad():
        for p in layer.parameters():
            p -= 0.1 * p.grad
    np.testing.assert_allclose(model.weight.data, layer.weight.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(model.bias.data, layer.bias.detach().numpy(), rtol=1e-5)


def test_in_place_on_a_leaf_that_requires_grad_is_refused():
    w = Tensor([1.0, 2.0], requires_grad=True)
    for change in (lambda: w.__iadd__(1), lambda: w.mul_(2), lambda: w.zero_(), lambda: w.__setitem__(0, 5.0)):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            change()
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        w[0:1].add_(1)
    assert w.tolist() == [1.0, 2.0], "nothing was changed"
    th = torch()
    tw = th.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        tw += 1
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        tw[0:1].add_(1)


def test_a_changed_saved_value_is_detected_by_its_version():
    w = Tensor([0.5, 1.0], requires_grad=True)
    y = w.exp()
    assert y._version == 0
    y += 1
    assert y._version == 1
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation.*ExpOp.*version 1; expected version 0"):
        y.sum().backward()
    h = w * 2
    z = h * h  # MulOp saves h
    h[0] = 0.0
    with pytest.raises(RuntimeError, match="MulOp"):
        z.sum().backward()
    th = torch()
    tw = th.tensor([0.5, 1.0], requires_grad=True)
    ty = tw.exp()
    ty += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.sum().backward()


def test_in_place_on_an_intermediate_tensor_matches_torch():
    x0, w0 = np.array([0.3, -0.7, 1.2]), np.array([0.5, 0.25, -0.4])

    def run(make):
        x, w = make(x0), make(w0)
        y = x * 2
        y += 1
        y *= w
        y[0] = 0.0
        y.clamp_(-0.6, 0.6)
        y.sub_(x, alpha=2)
        y.div_(2)
        y.pow_(2)
        (y * y).sum().backward()
        return y.detach().numpy(), x.grad.numpy(), w.grad.numpy(), y._version

    tiny = run(lambda a: Tensor(a, dtype=np.float64, requires_grad=True))
    assert tiny[3] == 7
    th = torch()
    ref = run(lambda a: th.tensor(a, requires_grad=True))
    for mine, theirs in zip(tiny[:3], ref[:3]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)
    assert tiny[3] == ref[3], "the same number of version bumps"


def test_setitem_records_the_graph_like_torch():
    def run(make):
        w = make(np.array([1.0, 2.0, 3.0]))
        v = make(np.array([10.0]))
        buf = make(np.zeros(4), grad=False)
        buf[1:] = w * 2  # a tensor that did not require grad becomes part of the graph
        buf[0] = v.sum()
        x = buf * 1
        x[x > 4] = 0.0
        (x * x).sum().backward()
        return x.detach().numpy(), w.grad.numpy(), v.grad.numpy(), buf.requires_grad

    tiny = run(lambda a, grad=True: Tensor(a, dtype=np.float64, requires_grad=grad))
    assert tiny[3] and tiny[1].tolist() == [8.0, 16.0, 0.0] and tiny[2].tolist() == [0.0]
    th = torch()
    ref = run(lambda a, grad=True: th.tensor(a, requires_grad=grad))
    for mine, theirs in zip(tiny, ref):
        np.testing.assert_allclose(mine, theirs)


def test_in_place_on_a_view_of_a_recorded_tensor_is_refused_not_wrong():
    """A deliberate limit (PyTorch rewrites the base's history; tinytorch refuses)."""
    w = Tensor([1.0, 2.0], requires_grad=True)
    y = w * 1
    with pytest.raises(RuntimeError, match="view"):
        y[0:1].mul_(3)
    v = y[0:1]  # a view made before the base changes in place
    y.mul_(3)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        v.sum().backward()
    y.sum().backward()  # the base itself is fine: d(3w)/dw
    assert w.grad.tolist() == [3.0, 3.0]


def test_detach_shares_memory_and_version():
    w = Tensor([1.0, 2.0], requires_grad=True)
    y = w.exp()
    d = y.detach()
    d += 1  # allowed (d does not require grad), but it changes y's memory
    assert y.data.tolist() == d.data.tolist() and y._version == 1
    with pytest.raises(RuntimeError, match="ExpOp"):
        y.sum().backward()


# -- the graph's own API ---------------------------------------------------------------------


def test_retain_graph():
    x = Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert x.grad.tolist() == [4.0, 8.0]
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()
    plus = (x + 1).sum()  # saves nothing: may be walked again, as in PyTorch
    plus.backward()
    plus.backward()
    assert x.grad.tolist() == [6.0, 10.0]
    th = torch()
    t = th.tensor([1.0, 2.0], requires_grad=True)
    tl = (t * t).sum()
    tl.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        tl.backward()


def test_leaves_grad_fn_and_requires_grad_():
    w = Tensor([1.0], requires_grad=True)
    c = Tensor([2.0])
    y = w * c
    assert w.is_leaf and c.is_leaf and not y.is_leaf
    assert w.grad_fn is None and isinstance(y.grad_fn, Context) and y.grad_fn.function.__name__ == "MulOp"
    assert "MulOp" in repr(y.grad_fn) and y.grad_fn.name() == "MulOpBackward"
    assert c.requires_grad_() is c and c.requires_grad and c.requires_grad_(False) is c and not c.requires_grad
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    th = torch()
    tw = th.ones(1, requires_grad=True)
    ty = tw * 2
    assert tw.is_leaf and not ty.is_leaf and tw.grad_fn is None
    with pytest.raises(RuntimeError, match="leaf"):
        ty.requires_grad_(False)


def test_grad_modes():
    w = Tensor([1.0], requires_grad=True)

    @no_grad()
    def evaluate(x):
        return x * 2

    @no_grad
    def evaluate_bare(x):
        return x * 2

    @enable_grad()
    def train(x):
        return x * 2

    assert not evaluate(w).requires_grad and not evaluate_bare(w).requires_grad
    with no_grad():
        assert not is_grad_enabled() and train(w).requires_grad
        with enable_grad():
            assert (w * 2).requires_grad
        assert not (w * 2).requires_grad
    set_grad_enabled(False)
    assert not is_grad_enabled()
    set_grad_enabled(True)
    with set_grad_enabled(False):
        assert not (w * 2).requires_grad
    assert is_grad_enabled()

    @set_grad_enabled(False)
    def frozen(x):
        return x * 2

    assert is_grad_enabled(), "decorating alone changes nothing"
    assert not frozen(w).requires_grad and is_grad_enabled()
    with pytest.raises(ValueError):
        with no_grad():
            raise ValueError("an exception inside restores the mode")
    assert is_grad_enabled()


def test_mixed_precision_gradients_keep_each_leaf_dtype():
    th = torch()
    w32 = Tensor([1.0, 2.0], requires_grad=True)
    x64 = Tensor([0.5, 0.25], dtype=np.float64, requires_grad=True)
    out = w32 * x64
    assert out.dtype == np.float64
    out.sum().backward()
    assert w32.grad.dtype == np.float32 and x64.grad.dtype == np.float64
    tw, tx = th.tensor([1.0, 2.0], requires_grad=True), th.tensor([0.5, 0.25], dtype=th.float64, requires_grad=True)
    (tw * tx).sum().backward()
    np.testing.assert_allclose(w32.grad.data, tw.grad.numpy())
    assert tw.grad.dtype == th.float32


# -- every new differentiable operation: finite differences and PyTorch ----------------------

NEW_OPS = {
    "abs": (lambda a: a.abs(), lambda a: a.abs(), distinct),
    "clamp": (lambda a: a.clamp(-0.5, 0.6), lambda a: a.clamp(-0.5, 0.6), distinct),
    "clamp_min": (lambda a: a.clamp(min=0.1), lambda a: a.clamp(min=0.1), distinct),
    "amax": (lambda a: a.amax(dim=1), lambda a: a.amax(dim=1), distinct),
    "amin_all": (lambda a: a.amin(), lambda a: a.amin(), distinct),
    "min_all": (lambda a: a.min(), lambda a: a.min(), distinct),
    "max_dim": (lambda a: a.max(dim=-1).values, lambda a: a.max(dim=-1).values, distinct),
    "min_dim_keep": (lambda a: a.min(0, keepdim=True).values, lambda a: a.min(0, keepdim=True).values, distinct),
    "var": (lambda a: a.var(dim=1), lambda a: a.var(dim=1), normal),
    "var_all_biased": (lambda a: a.var(correction=0), lambda a: a.var(correction=0), normal),
    "std": (lambda a: a.std(dim=(0, 2), keepdim=True), lambda a: a.std(dim=(0, 2), keepdim=True), normal),
    "mean_dim": (lambda a: a.mean(dim=-1, keepdim=True), lambda a: a.mean(dim=-1, keepdim=True), normal),
    "sum_dims": (lambda a: a.sum(dim=[0, 2]), lambda a: a.sum(dim=[0, 2]), normal),
    "view": (lambda a: a.view(4, -1), lambda a: a.view(4, -1), normal),
    "flatten": (lambda a: a.flatten(1), lambda a: a.flatten(1), normal),
    "squeeze_unsqueeze": (lambda a: a.unsqueeze(1).squeeze(), lambda a: a.unsqueeze(1).squeeze(), normal),
    "expand": (lambda a: a[:, :1].expand(3, 2, 5, 4), lambda a: a[:, :1].expand(3, 2, 5, 4), normal),
    "expand_as": (lambda a: a[:1].expand_as(a) * a, lambda a: a[:1].expand_as(a) * a, normal),
    "repeat": (lambda a: a.repeat(2, 1, 3), lambda a: a.repeat(2, 1, 3), normal),
    "repeat_new_dims": (lambda a: a.repeat(2, 1, 1, 2), lambda a: a.repeat(2, 1, 1, 2), normal),
    "masked_fill": (lambda a: a.masked_fill(a > 0, -2.0), lambda a: a.masked_fill(a > 0, -2.0), normal),
    "gather": (lambda a: a.gather(2, a.argmin(dim=2, keepdim=True)), lambda a: a.gather(2, a.argmin(dim=2, keepdim=True)),
               distinct),
    "clone": (lambda a: a.clone() * a.double(), lambda a: a.clone() * a.double(), normal),
    "rpow_sub": (lambda a: 1.5 ** a - a, lambda a: 1.5 ** a - a, normal),
    "getitem_tensor_index": (lambda a: a[Tensor([1, 0, 1])], lambda a: a[torch().tensor([1, 0, 1])], normal),
    "split": (lambda a: cat([p * (i + 1) for i, p in enumerate(a.split(3, dim=-1))], dim=-1),
              lambda a: torch().cat([p * (i + 1) for i, p in enumerate(a.split(3, dim=-1))], dim=-1), normal),
    "split_sizes": (lambda a: a.split([1, 2], dim=1)[1] * 2, lambda a: a.split([1, 2], dim=1)[1] * 2, normal),
    "chunk": (lambda a: a.chunk(3, dim=2)[1] - a.chunk(3, dim=2)[0], lambda a: a.chunk(3, dim=2)[1] - a.chunk(3, dim=2)[0],
              normal),
    "cumsum": (lambda a: a.cumsum(dim=1), lambda a: a.cumsum(dim=1), normal),
    "cumsum_last": (lambda a: a.cumsum(-1) * a, lambda a: a.cumsum(-1) * a, normal),
    "norm": (lambda a: a.norm(), lambda a: a.norm(), normal),
    "norm_dim": (lambda a: a.norm(dim=-1, keepdim=True), lambda a: a.norm(dim=-1, keepdim=True), normal),
    "norm_p1_dims": (lambda a: a.norm(p=1, dim=(0, 2)), lambda a: a.norm(p=1, dim=(0, 2)), distinct),
    "norm_p3": (lambda a: a.norm(p=3, dim=1), lambda a: a.norm(p=3, dim=1), distinct),
    "norm_inf": (lambda a: a.norm(p=float("inf"), dim=0), lambda a: a.norm(p=float("inf"), dim=0), distinct),
    "logsumexp": (lambda a: a.logsumexp(dim=1), lambda a: a.logsumexp(dim=1), normal),
    "logsumexp_dims_keep": (lambda a: a.logsumexp(dim=(0, 2), keepdim=True), lambda a: a.logsumexp(dim=(0, 2), keepdim=True),
                            normal),
    "sort": (lambda a: a.sort(dim=1).values, lambda a: a.sort(dim=1).values, distinct),
    "sort_descending_last": (lambda a: a.sort(descending=True).values * 2, lambda a: a.sort(descending=True).values * 2,
                             distinct),
    "topk": (lambda a: a.topk(2, dim=-1).values, lambda a: a.topk(2, dim=-1).values, distinct),
    "prod": (lambda a: a.prod(), lambda a: a.prod(), away_from_zero),
    "prod_dim_keep": (lambda a: a.prod(dim=1, keepdim=True), lambda a: a.prod(dim=1, keepdim=True), away_from_zero),
    "prod_last": (lambda a: a.prod(-1), lambda a: a.prod(-1), normal),
    "flip": (lambda a: a.flip(0) * a.flip([1, 2]), lambda a: a.flip(0) * a.flip([1, 2]), normal),
    "tril_triu": (lambda a: a.tril() + a.triu(1) * 2 + a.tril(-1), lambda a: a.tril() + a.triu(1) * 2 + a.tril(-1), normal),
    "sin_cos": (lambda a: a.sin() * a.cos(), lambda a: a.sin() * a.cos(), normal),
    "log1p_expm1": (lambda a: a.abs().log1p() + a.expm1(), lambda a: a.abs().log1p() + a.expm1(), normal),
    "square_reciprocal_rsqrt": (lambda a: a.square() + a.reciprocal() + a.abs().rsqrt(),
                                lambda a: a.square() + a.reciprocal() + a.abs().rsqrt(), away_from_zero),
    "pow_method": (lambda a: a.pow(3), lambda a: a.pow(3), normal),
    "matmul_bmm": (lambda a: a.matmul(a.transpose(1, 2)) + a.bmm(a.transpose(1, 2)),
                   lambda a: a.matmul(a.transpose(1, 2)) + a.bmm(a.transpose(1, 2)), normal),
    "mm_t": (lambda a: a[0].mm(a[1].t()), lambda a: a[0].mm(a[1].t()), normal),
    "select_negative": (lambda a: a.select(-2, -1) * 2, lambda a: a.select(-2, -1) * 2, normal),
    "narrow_select_unbind": (lambda a: a.narrow(2, 1, 2) * a.select(1, 0).unsqueeze(1)[..., :2] + a.unbind(0)[1][:, :2],
                             lambda a: a.narrow(2, 1, 2) * a.select(1, 0).unsqueeze(1)[..., :2] + a.unbind(0)[1][:, :2],
                             normal),
    "einsum_unary": (lambda a: einsum("ijk->kj", a), lambda a: torch().einsum("ijk->kj", a), normal),
    "einsum_method_trace_free": (lambda a: a.einsum("ijk,ijk->i", a), lambda a: torch().einsum("ijk,ijk->i", a, a), normal),
    "roll": (lambda a: a.roll(2, 2) * a, lambda a: a.roll(2, 2) * a, normal),
    "roll_dims": (lambda a: a.roll((1, -1), (0, 1)), lambda a: a.roll((1, -1), (0, 1)), normal),
    "index_select_repeats": (lambda a: a.index_select(2, Tensor([3, 0, 3])), lambda a: a.index_select(2, torch().tensor([3, 0, 3])),
                             normal),
    "outer": (lambda a: a[0, 0].outer(a[1, 1]), lambda a: a[0, 0].outer(a[1, 1]), normal),
    "topk_smallest": (lambda a: a.topk(2, dim=1, largest=False).values, lambda a: a.topk(2, dim=1, largest=False).values,
                      distinct),
    # PyTorch's other spellings (module 02's last given cell)
    "add_sub_alpha": (lambda a: a.add(a.flip(0), alpha=2).sub(a * a, alpha=0.5),
                      lambda a: a.add(a.flip(0), alpha=2).sub(a * a, alpha=0.5), normal),
    "mul_div_neg": (lambda a: a.mul(a.flip(1)).div(a.abs() + 1).neg() + a.true_divide(2).negative(),
                    lambda a: a.mul(a.flip(1)).div(a.abs() + 1).neg() + a.true_divide(2).negative(), normal),
    "fmod_remainder_frac": (lambda a: a.fmod(0.7) + a.remainder(0.45) * a.frac(),
                            lambda a: a.fmod(0.7) + a.remainder(0.45) * a.frac(), distinct),
    "fmod_tensor_divisor": (lambda a: (a * 3).fmod(a.flip(2).abs() + 0.5), lambda a: (a * 3).fmod(a.flip(2).abs() + 0.5),
                            distinct),
    "where_method": (lambda a: a.where(a > 0, a.flip(0) * 2), lambda a: a.where(a > 0, a.flip(0) * 2), distinct),
    "view_as_swapaxes_movedim": (lambda a: a.view_as(a.reshape(4, 6)).swapaxes(0, 1) * a.movedim(0, 2).reshape(6, 4),
                                 lambda a: a.view_as(a.reshape(4, 6)).swapaxes(0, 1) * a.movedim(0, 2).reshape(6, 4),
                                 normal),
    "movedim_several": (lambda a: a.movedim((0, 1), (2, 0)) * a.movedim((0, 1), (1, 0)).movedim((1, 2, 0), (2, 1, 0)),
                        lambda a: a.movedim((0, 1), (2, 0)) * a.movedim((0, 1), (1, 0)).movedim((1, 2, 0), (2, 1, 0)),
                        normal),
    "unflatten_tile": (lambda a: a.unflatten(-1, (2, 2)).tile((2, 1, 1, 1, 1)),
                       lambda a: a.unflatten(-1, (2, 2)).tile((2, 1, 1, 1, 1)), normal),
    "tile_fewer_dims": (lambda a: a.tile((3,)), lambda a: a.tile((3,)), normal),
    "repeat_interleave": (lambda a: a.repeat_interleave(2, dim=1) + 0, lambda a: a.repeat_interleave(2, dim=1) + 0, normal),
    "repeat_interleave_counts": (lambda a: a.repeat_interleave(Tensor([2, 0, 1, 3]), dim=-1),
                                 lambda a: a.repeat_interleave(torch().tensor([2, 0, 1, 3]), dim=-1), normal),
    "diagonal_trace": (lambda a: a.diagonal(1, 1, 2) * a[0].trace(), lambda a: a.diagonal(1, 1, 2) * a[0].trace(), normal),
    "diag_of_vector_and_matrix": (lambda a: a[0, 0, :1].diag(-1) + a[1, :, :3].diag(1).diag(),
                                  lambda a: a[0, 0, :1].diag(-1) + a[1, :, :3].diag(1).diag(), normal),
    "diag_offsets": (lambda a: cat([a[0, 0].diag(1).reshape(-1), a[0, 1].diag(-2).reshape(-1)]),
                     lambda a: torch().cat([a[0, 0].diag(1).reshape(-1), a[0, 1].diag(-2).reshape(-1)]), normal),
    "cumprod": (lambda a: a.cumprod(1) + a.cumprod(-1), lambda a: a.cumprod(1) + a.cumprod(-1), away_from_zero),
    "log2_log10_exp2": (lambda a: a.abs().log2() + a.abs().log10() * a.exp2(),
                        lambda a: a.abs().log2() + a.abs().log10() * a.exp2(), away_from_zero),
    "sinh_cosh_hypot": (lambda a: a.sinh() * a.cosh() + a.hypot(a.flip(0)), lambda a: a.sinh() * a.cosh() + a.hypot(a.flip(0)),
                        away_from_zero),
    "lerp_addcmul_addcdiv": (lambda a: a.lerp(a.flip(1), 0.3).addcmul(a, a.flip(2), value=0.5).addcdiv(a, a.abs() + 1, value=2),
                             lambda a: a.lerp(a.flip(1), 0.3).addcmul(a, a.flip(2), value=0.5).addcdiv(a, a.abs() + 1, value=2),
                             normal),
    "lerp_tensor_weight": (lambda a: a.lerp(a.flip(0), a.sigmoid()), lambda a: a.lerp(a.flip(0), a.sigmoid()), normal),
    "addmm": (lambda a: a[0, :, :2].addmm(a[1], a[0, :2].T, beta=0.5, alpha=2),
              lambda a: a[0, :, :2].addmm(a[1], a[0, :2].T, beta=0.5, alpha=2), normal),
    "logaddexp": (lambda a: a.logaddexp(a.flip(1) * 3), lambda a: a.logaddexp(a.flip(1) * 3), normal),
    "median": (lambda a: a.median() + a.median(dim=1).values.sum() + a.median(-1, keepdim=True).values,
               lambda a: a.median() + a.median(dim=1).values.sum() + a.median(-1, keepdim=True).values, distinct),
    "nansum_nanmean": (lambda a: a.nansum(dim=1) + a.nanmean(dim=(0, 2), keepdim=True).sum(),
                       lambda a: a.nansum(dim=1) + a.nanmean(dim=(0, 2), keepdim=True).sum(), normal),
    "masked_select": (lambda a: a.masked_select(a > 0) * 2, lambda a: a.masked_select(a > 0) * 2, distinct),
    "tan_atan_atan2": (lambda a: (a * 0.5).tan() + a.atan() + a.atan2(a.flip(0)), lambda a: (a * 0.5).tan() + a.atan()
                       + a.atan2(a.flip(0)), normal),
    "diff_rot90_take": (lambda a: a.diff(n=2, dim=-1).sum() + a.rot90(1, [1, 2]).rot90(3, [0, 1]).sum() * a.take(Tensor([[0, 7]])),
                        lambda a: a.diff(n=2, dim=-1).sum() + a.rot90(1, [1, 2]).rot90(3, [0, 1]).sum()
                        * a.take(torch().tensor([[0, 7]])), normal),
    "dist_std_mean": (lambda a: a.dist(a.flip(1), p=3) + tinytorch.std_mean(a, dim=1)[0]
                      * tinytorch.var_mean(a, dim=(0, 2), keepdim=True)[1].sum(),
                      lambda a: a.dist(a.flip(1), p=3) + torch().std_mean(a, dim=1)[0]
                      * torch().var_mean(a, dim=(0, 2), keepdim=True)[1].sum(), normal),
    "stacks": (lambda a: tinytorch.hstack([a[0], a[1]]) + tinytorch.vstack([a[0, 0], a[1, :2]]).sum()
               + tinytorch.dstack([a[0], a[1]]).sum(dim=2) @ tinytorch.broadcast_to(a[0, :1].T, (4, 8)),
               lambda a: torch().hstack([a[0], a[1]]) + torch().vstack([a[0, 0], a[1, :2]]).sum()
               + torch().dstack([a[0], a[1]]).sum(dim=2) @ torch().broadcast_to(a[0, :1].T, (4, 8)), normal),
    "masked_select_broadcast": (lambda a: a.masked_select(Tensor([True, False, False, True])),
                                lambda a: a.masked_select(torch().tensor([True, False, False, True])), normal),
}


@pytest.mark.parametrize("name", NEW_OPS)
def test_new_unary_ops_match_finite_differences(name):
    tiny_fn, _, make = NEW_OPS[name]
    assert_gradients_match(tiny_fn, make(2, 3, 4), atol=1e-4)


@pytest.mark.parametrize("name", NEW_OPS)
def test_new_unary_ops_match_torch(name):
    tiny_fn, torch_fn, make = NEW_OPS[name]
    assert_matches_torch(tiny_fn, torch_fn, make(2, 3, 4))


def test_retain_grad_keeps_an_intermediate_gradient_like_torch():
    th = torch()
    data = normal(3, 3)
    mine, theirs = Tensor(data, dtype=np.float64, requires_grad=True), th.tensor(data, requires_grad=True)
    kept = []
    for x, package in ((mine, "tiny"), (theirs, "torch")):
        h = x @ x  # used by three paths below: the gradient kept is their sum
        h.retain_grad()
        h.retain_grad()  # twice is once
        out = (h.relu() * h).sum() + h.sum() * 2
        out.backward()
        kept.append(np.asarray(h.grad.data if package == "tiny" else h.grad.numpy()))
        assert h.retains_grad and not (x * 2).retains_grad
    np.testing.assert_allclose(kept[0], kept[1])
    np.testing.assert_allclose(mine.grad.data, theirs.grad.numpy())
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        Tensor([1.0]).retain_grad()


def test_sort_and_topk_indices_and_the_edges_of_the_new_reductions_match_torch():
    th = torch()
    data = np.array([[3.0, 1.0, 2.0, 1.0], [0.5, 0.5, -1.0, 4.0]], dtype=np.float32)
    for descending in (False, True):
        mine, theirs = Tensor(data).sort(dim=1, descending=descending, stable=True), \
            th.tensor(data).sort(dim=1, descending=descending, stable=True)
        assert mine.indices.data.tolist() == theirs.indices.tolist() and mine.indices.dtype == np.int64
    distinct_rows = np.array([[3.0, 1.0, 2.0, 0.0], [0.5, 0.25, -1.0, 4.0]])  # topk's order among ties is PyTorch's own
    for largest in (True, False):
        assert Tensor(distinct_rows).topk(3, largest=largest).indices.data.tolist() == \
            th.tensor(distinct_rows).topk(3, largest=largest).indices.tolist()
    ints = np.array([[3, -1, 2]], dtype=np.int64)
    assert Tensor(ints).sort(descending=True).values.data.tolist() == th.tensor(ints).sort(descending=True).values.tolist()
    assert Tensor(ints).cumsum(dim=1).data.tolist() == th.tensor(ints).cumsum(dim=1).tolist()
    zero, torch_zero = Tensor(np.zeros(3), requires_grad=True), th.zeros(3, dtype=th.float64, requires_grad=True)
    zero.norm().backward()
    torch_zero.norm().backward()
    assert zero.grad.data.tolist() == torch_zero.grad.tolist() == [0.0, 0.0, 0.0]
    masked = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])
    np.testing.assert_array_equal(Tensor(masked).logsumexp(dim=1).data, th.tensor(masked).logsumexp(dim=1).numpy())
    big = np.array([1000.0, 1000.0])
    np.testing.assert_allclose(Tensor(big).logsumexp(dim=0).data, th.tensor(big).logsumexp(dim=0).numpy())
    assert [p.shape for p in Tensor(np.zeros((7, 2))).chunk(4)] == [tuple(p.shape) for p in th.zeros(7, 2).chunk(4)]
    assert [p.shape for p in Tensor(np.zeros((6, 2))).chunk(4)] == [tuple(p.shape) for p in th.zeros(6, 2).chunk(4)]
    has_zero = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 1.0]])
    assert_matches_torch(lambda a: a.prod(dim=1), lambda a: a.prod(dim=1), has_zero)
    assert_matches_torch(lambda a: a.prod(), lambda a: a.prod(), has_zero[:1])
    odd = np.array([[-1.5, 0.0, 2.0], [np.nan, np.inf, -3.0]])
    for name in ("sign", "isnan", "isinf"):
        np.testing.assert_array_equal(getattr(Tensor(odd), name)().data, getattr(th.tensor(odd), name)().numpy())
    assert Tensor(data).argsort(dim=1).data.tolist() == th.tensor(data).argsort(dim=1, stable=True).tolist()
    assert Tensor(data).new_zeros(2, 3).shape == (2, 3) and Tensor(data).new_ones((1,)).dtype == np.float32
    assert Tensor(np.ones(3)).dot(Tensor(np.ones(3))).item() == 3.0 and Tensor(data).contiguous().shape == (2, 4)
    with pytest.raises(RuntimeError, match="<= 2 dimensions"):
        Tensor(np.zeros((2, 2, 2))).t()
    mixed = np.array([[0.0, 1.5, -2.5], [2.5, 0.0, 3.0]])
    assert Tensor(mixed).nonzero().data.tolist() == th.tensor(mixed).nonzero().tolist()
    assert [t.data.tolist() for t in Tensor(mixed).nonzero(as_tuple=True)] == \
        [t.tolist() for t in th.tensor(mixed).nonzero(as_tuple=True)]
    labels = np.array([[3, 1], [3, 2]])
    assert [t.data.tolist() for t in Tensor(labels).unique(return_inverse=True, return_counts=True)] == \
        [t.tolist() for t in th.tensor(labels).unique(return_inverse=True, return_counts=True)]
    for name in ("round", "floor", "ceil"):
        np.testing.assert_array_equal(getattr(Tensor(mixed, dtype=np.float64), name)().data,
                                      getattr(th.tensor(mixed), name)().numpy())
    assert Tensor([1, 2]).type_as(Tensor([0.5])).dtype == np.float32
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)  # implicit output: the letters seen once
    np.testing.assert_allclose(einsum("ij,jk", Tensor(a), Tensor(b)).data, th.einsum("ij,jk", th.tensor(a), th.tensor(b)).numpy())
    np.testing.assert_allclose(einsum("kj,ji", Tensor(b.T), Tensor(a.T)).data,
                               th.einsum("kj,ji", th.tensor(b.T), th.tensor(a.T)).numpy())
    with pytest.raises(RuntimeError, match="out of range"):
        Tensor(data).topk(5)
    with pytest.raises(ValueError, match="add up to"):
        Tensor(data).split([1, 1], dim=1)


BINARY_NEW = {
    "where": (lambda a, b: where(a > 0, a, b), lambda a, b: torch().where(a > 0, a, b)),
    "where_scalar": (lambda a, b: where(b < 0, a, 0.5) * b, lambda a, b: torch().where(b < 0, a, 0.5) * b),
    "maximum": (lambda a, b: maximum(a, b), lambda a, b: torch().maximum(a, b)),
    "minimum": (lambda a, b: minimum(a, b), lambda a, b: torch().minimum(a, b)),
    "method_maximum": (lambda a, b: a.maximum(b) * 2, lambda a, b: a.maximum(b) * 2),
    "cat": (lambda a, b: cat([a, b * 2, a], dim=-1), lambda a, b: torch().cat([a, b * 2, a], dim=-1)),
    "stack": (lambda a, b: stack([a, b], dim=1), lambda a, b: torch().stack([a, b], dim=1)),
    "stack_last": (lambda a, b: stack([a, b, a], dim=-1), lambda a, b: torch().stack([a, b, a], dim=-1)),
    "pow": (lambda a, b: a.abs() ** b, lambda a, b: a.abs() ** b),
    "einsum_matmul_t": (lambda a, b: einsum("ij,kj->ik", a, b), lambda a, b: torch().einsum("ij,kj->ik", a, b)),
    "einsum_outer_sum": (lambda a, b: einsum("ij,kl->ik", a, b), lambda a, b: torch().einsum("ij,kl->ik", a, b)),
    "einsum_list": (lambda a, b: einsum("ij,ij->j", [a, b]), lambda a, b: torch().einsum("ij,ij->j", [a, b])),
}


@pytest.mark.parametrize("name", BINARY_NEW)
def test_new_binary_ops_match_finite_differences_and_torch(name):
    tiny_fn, torch_fn = BINARY_NEW[name]
    a, b = distinct(3, 4), distinct(3, 4)
    assert_gradients_match(tiny_fn, a, b)
    assert_matches_torch(tiny_fn, torch_fn, a, b)


def test_maximum_minimum_ties_split_the_gradient_like_torch():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0])
    x, y = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    (maximum(x, y) + 2 * minimum(x, y)).sum().backward()
    assert x.grad.tolist() == [1.5, 1.0, 1.5] and y.grad.tolist() == [1.5, 2.0, 1.5]
    th = torch()
    tx, ty = th.tensor(a, requires_grad=True), th.tensor(b, requires_grad=True)
    (th.maximum(tx, ty) + 2 * th.minimum(tx, ty)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, tx.grad.numpy())
    np.testing.assert_array_equal(y.grad.data, ty.grad.numpy())


def test_max_ties_follow_torch():
    """max() shares the gradient among ties (amax); max(dim) gives it to the first index."""
    data = np.array([[2.0, 2.0, 1.0], [0.0, 3.0, 3.0]])
    x = Tensor(data, dtype=np.float64, requires_grad=True)
    (x.max() + x.max(dim=1).values.sum() + x.amax(dim=1).sum()).backward()
    assert x.grad.tolist() == [[1.5, 0.5, 0.0], [0.0, 2.0, 1.0]]
    th = torch()
    t = th.tensor(data, requires_grad=True)
    (t.max() + t.max(dim=1).values.sum() + t.amax(dim=1).sum()).backward()
    np.testing.assert_array_equal(x.grad.data, t.grad.numpy())


@settings(max_examples=30, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3),
    op=st.sampled_from(["where", "maximum", "minimum"]),
)
def test_broadcasting_choice_ops_gradients(shapes, op):
    condition_shape, a_shape, b_shape = shapes.input_shapes
    a, b = distinct(*a_shape), distinct(*b_shape) + 0.013
    condition = rng.random(condition_shape) > 0.5
    fns = {"where": lambda x, y: where(Tensor(condition), x, y), "maximum": maximum, "minimum": minimum}
    assert_gradients_match(fns[op], a, b)
    th = torch()
    torch_fns = {"where": lambda x, y: th.where(th.tensor(condition), x, y), "maximum": th.maximum,
                 "minimum": th.minimum}
    assert_matches_torch(fns[op], torch_fns[op], a, b)


@settings(max_examples=25, deadline=None)
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=3),
    count=st.integers(1, 3),
    data=st.data(),
)
def test_cat_and_stack_gradients_for_any_shape(shape, count, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    arrays = [normal(*shape) for _ in range(count)]
    assert_gradients_match(lambda *xs: cat(list(xs), dim=dim), *arrays)
    assert_gradients_match(lambda *xs: stack(list(xs), dim=dim), *arrays)
    th = torch()
    assert_matches_torch(lambda *xs: cat(list(xs), dim=dim), lambda *xs: th.cat(list(xs), dim=dim), *arrays)
    assert_matches_torch(lambda *xs: stack(list(xs), dim=dim), lambda *xs: th.stack(list(xs), dim=dim), *arrays)


def test_in_place_ops_get_gradients_against_finite_differences():
    def fn(a, b):
        y = a * 1
        y += b
        y *= a
        y[0] = b[1] * 3
        y.clamp_(-2.0, 2.0)
        return y

    assert_gradients_match(fn, away_from_zero(2, 3), away_from_zero(2, 3) * 0.5)

    def torch_fn(a, b):
        y = a * 1
        y += b
        y *= a
        y[0] = b[1] * 3
        return y.clamp_(-2.0, 2.0)

    assert_matches_torch(fn, torch_fn, away_from_zero(2, 3), away_from_zero(2, 3) * 0.5)


def test_dtype_casts_carry_the_gradient_back_in_the_input_dtype():
    data = normal(2, 3)
    x = Tensor(data, dtype=np.float64, requires_grad=True)
    y = x.float()
    assert y.dtype == np.float32 and y.requires_grad and y.grad_fn.function.__name__ == "CastOp"
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.data, 2 * data, rtol=1e-6)
    assert_matches_torch(lambda a: a.float() * 3, lambda a: a.float() * 3, data, rtol=1e-5)
    assert_matches_torch(lambda a: a.to(np.float32).half().double(), lambda a: a.to(torch().float32).half().double(),
                         data, atol=1e-2, rtol=1e-2)


def test_comparisons_and_argmax_build_no_graph():
    w = Tensor([1.0, -1.0], requires_grad=True)
    for result in (w > 0, w == w, w.argmax(), w.max(dim=0).indices, ~(w < 0)):
        assert not result.requires_grad and result.grad_fn is None
    assert (w > 0).float().requires_grad is False


def test_integer_pairs_keep_integer_results():
    for a, b in itertools.product([Tensor([3, 4])], [Tensor([2, 2]), 2]):
        assert (a + b).dtype == np.int64 and (a * b).dtype == np.int64 and (a ** b).dtype == np.int64
        assert (a / b).dtype == np.float32


def test_cumprod_gradient_is_exact_at_zeros_like_torch():
    """cumprod's backward divides by nothing: one zero, two zeros and a leading zero in a row."""
    rows = np.array([[1.5, 0.0, -2.0, 0.5], [0.0, 2.0, 0.0, 3.0], [0.7, -1.2, 0.9, 0.0]])
    for dim in (0, 1):
        assert_matches_torch(lambda a: a.cumprod(dim), lambda a: a.cumprod(dim), rows)
        assert_gradients_match(lambda a: a.cumprod(dim), rows)


def test_rounding_logical_and_metadata_spellings_match_torch():
    th = torch()
    ints, divisors = np.array([[7, -7, 5], [-5, 3, 0]]), np.array([[2, 2, -3], [3, -2, 1]])
    floats = np.array([[2.5, -2.5, 0.0], [np.nan, np.inf, -np.inf]])
    for mode in (None, "floor", "trunc"):
        mine, theirs = Tensor(ints).div(Tensor(divisors), rounding_mode=mode), th.tensor(ints).div(th.tensor(divisors),
                                                                                                   rounding_mode=mode)
        assert mine.data.tolist() == theirs.tolist() and mine.dtype == getattr(np, str(theirs.dtype)[6:]), mode
    with pytest.raises(ValueError, match="rounding_mode"):
        Tensor(ints).div(2, rounding_mode="round")
    assert Tensor(ints).fmod(Tensor(divisors)).data.tolist() == th.tensor(ints).fmod(th.tensor(divisors)).tolist()
    assert Tensor(ints).remainder(Tensor(divisors)).data.tolist() == th.tensor(ints).remainder(th.tensor(divisors)).tolist()
    assert Tensor(ints).cumprod(1).data.tolist() == th.tensor(ints).cumprod(1).tolist()
    assert Tensor(ints).median().item() == th.tensor(ints).median().item()
    assert Tensor(ints).median(dim=1).indices.data.tolist() == th.tensor(ints).median(dim=1).indices.tolist()
    assert Tensor(ints).count_nonzero().item() == th.tensor(ints).count_nonzero().item()
    assert Tensor(ints).count_nonzero(dim=0).data.tolist() == th.tensor(ints).count_nonzero(dim=0).tolist()
    for name in ("isfinite", "trunc", "nan_to_num"):
        np.testing.assert_array_equal(getattr(Tensor(floats, dtype=np.float64), name)().data,
                                      getattr(th.tensor(floats), name)().numpy(), err_msg=name)
    np.testing.assert_array_equal(Tensor(floats).nan_to_num(1.0, 2.0, -3.0).data,
                                  th.tensor(floats, dtype=th.float32).nan_to_num(1.0, 2.0, -3.0).numpy())
    a, b = Tensor(ints), Tensor(divisors)
    assert a.logical_and(b).logical_or(a.logical_not()).logical_xor(b).data.tolist() == \
        th.tensor(ints).logical_and(th.tensor(divisors)).logical_or(th.tensor(ints).logical_not()).logical_xor(
            th.tensor(divisors)).tolist()
    near = Tensor([1.0, 2.0, np.nan])
    assert near.isclose(Tensor([1.0 + 1e-7, 2.1, np.nan])).data.tolist() == [True, False, False]
    assert near.isclose(Tensor([1.0, 2.0, np.nan]), equal_nan=True).data.tolist() == [True, True, True]
    assert Tensor([1.0, 2.0]).allclose(Tensor([1.0, 2.0 + 1e-7])) and not Tensor([1.0]).equal(Tensor([1.0 + 1e-3]))
    x = Tensor(np.zeros((2, 3)))
    assert (x.nelement(), x.element_size(), x.itemsize, x.nbytes, x.is_contiguous()) == (6, 4, 4, 24, True)
    assert x.new_full((2, 1), 1.5).data.tolist() == [[1.5], [1.5]] and x.new_full((1,), 2).dtype == np.float32
    assert x.new_tensor([1, 2]).dtype == np.float32 and x.new_empty(3).shape == (3,)
    assert Tensor(np.zeros(0)).diag().shape == (0, 0) and Tensor(np.ones(2)).diag(3).shape == (5, 5)
    cube = np.arange(24).reshape(2, 3, 4)
    for source, destination in (((0, 1), (1, 0)), ((0, 2), (2, 0)), (1, 0), (-1, 0), ((2, 0), (0, 1)),
                                ((0, 1, 2), (2, 0, 1)), ((1, 2), (0, 1))):
        assert Tensor(cube).movedim(source, destination).data.tolist() == \
            th.tensor(cube).movedim(source, destination).tolist(), (source, destination)
    with pytest.raises(RuntimeError, match="trace"):
        Tensor(np.zeros(3)).trace()


def test_function_forms_of_the_spellings_match_torch():
    th = torch()
    data = np.array([[1.5, -2.0, 0.5], [3.0, 0.25, -1.0]])
    for name, args in (("add", (2.0,)), ("sub", (1.0,)), ("mul", (3.0,)), ("div", (2.0,)), ("neg", ()),
                       ("diag", ()), ("trace", ()), ("cumprod", (1,)), ("exp2", ()), ("tile", ((2,),)),
                       ("logaddexp", (None,)), ("median", ()), ("isfinite", ()), ("swapaxes", (0, 1))):
        mine_args = [Tensor(data, dtype=np.float64) if a is None else a for a in args]
        theirs_args = [th.tensor(data) if a is None else a for a in args]
        mine, theirs = getattr(tinytorch, name)(Tensor(data, dtype=np.float64), *mine_args), \
            getattr(th, name)(th.tensor(data), *theirs_args)
        np.testing.assert_allclose(mine.data, theirs.numpy(), err_msg=name)


@pytest.mark.parametrize("kind, dim, index", [
    ("scatter", 1, [[0, 2, 4, 1], [3, 4, 0, 2], [1, 0, 2, 4]]),
    ("scatter", 0, [[0, 1, 2, 0, 1], [2, 0, 1, 1, 0]]),
    ("scatter_add", 1, [[0, 2, 4, 1], [3, 3, 0, 2], [1, 1, 1, 4]]),  # repeated positions add up
    ("scatter_add", 0, [[0, 2, 1, 0, 2], [2, 2, 0, 1, 0]]),
])
def test_scatter_and_scatter_add_match_torch_and_finite_differences(kind, dim, index):
    index = np.array(index)
    source = normal(*index.shape)
    th = torch()
    assert_matches_torch(lambda a, s: getattr(a, kind)(dim, Tensor(index), s),
                         lambda a, s: getattr(a, kind)(dim, th.tensor(index), s), normal(3, 5), source)
    assert_gradients_match(lambda a, s: getattr(a, kind)(dim, Tensor(index), s), normal(3, 5), source)


def test_index_add_scatter_values_meshgrid_cdist_and_torch_max_of_two():
    th = torch()
    assert_matches_torch(lambda a, s: a.index_add(1, Tensor([0, 4, 0]), s, alpha=2),
                         lambda a, s: a.index_add(1, th.tensor([0, 4, 0]), s, alpha=2), normal(3, 5), normal(3, 3))
    assert_gradients_match(lambda a, s: a.index_add(0, Tensor([2, 2]), s), normal(3, 4), normal(2, 4))
    labels = np.array([[1], [3]])
    assert Tensor(np.zeros((2, 4))).scatter(1, Tensor(labels), value=1.0).data.tolist() == \
        th.zeros(2, 4).scatter(1, th.tensor(labels), value=1.0).tolist()
    with warnings.catch_warnings():  # PyTorch deprecates scatter's reduce= (scatter_reduce replaces it)
        warnings.simplefilter("ignore")
        theirs = th.full((2, 4), 3.0).scatter(1, th.tensor(labels), 2.0, reduce="multiply").tolist()
    assert Tensor(np.full((2, 4), 3.0)).scatter(1, Tensor(labels), 2.0, reduce="multiply").data.tolist() == theirs
    for indexing in ("ij", "xy"):
        mine = tinytorch.meshgrid(tinytorch.arange(2), tinytorch.arange(3), tinytorch.arange(4), indexing=indexing)
        theirs = th.meshgrid(th.arange(2), th.arange(3), th.arange(4), indexing=indexing)
        assert [m.data.tolist() for m in mine] == [t.tolist() for t in theirs], indexing
    for p in (2.0, 1.0):
        assert_matches_torch(lambda a, b: tinytorch.cdist(a, b, p=p), lambda a, b: th.cdist(a, b, p=p),
                             normal(2, 4, 3), normal(2, 5, 3))
    assert_matches_torch(lambda a, b: tinytorch.max(a, b) + tinytorch.min(a, b) * 2 + a.max(b.flip(0)),
                         lambda a, b: th.max(a, b) + th.min(a, b) * 2 + a.max(b.flip(0)), normal(3, 4) * 3, normal(3, 4))
    assert Tensor([1, 2]).sum(dtype=np.float64).dtype == np.float64 and Tensor([1, 3]).mean(dtype=np.float32).item() == 2.0
    assert Tensor([1.26, -0.35]).round(decimals=1).data.tolist() == pytest.approx(th.tensor([1.26, -0.35]).round(decimals=1).tolist())
    array = np.zeros(3)
    shared = tinytorch.as_tensor(array)
    array[0] = 5.0
    assert shared.data[0] == 5.0 and shared.dtype == np.float64 and tinytorch.as_tensor([1, 2]).dtype == np.int64
    np.testing.assert_allclose(tinytorch.softmax(Tensor([[1.0, 2.0]]), dim=1).data,
                               th.softmax(th.tensor([[1.0, 2.0]]), dim=1).numpy(), rtol=1e-6)


def test_samplers_inference_mode_and_in_place_fills_behave_like_torch():
    th = torch()
    np.random.seed(0)
    weights = np.array([[0.2, 0.0, 0.3, 0.5], [1.0, 1.0, 0.0, 2.0]])
    draws = tinytorch.multinomial(Tensor(weights), 4000, replacement=True).data
    assert draws.shape == tuple(th.multinomial(th.tensor(weights), 4000, replacement=True).shape) and draws.dtype == np.int64
    for row, w in zip(draws, weights):
        np.testing.assert_allclose(np.bincount(row, minlength=4) / len(row), w / w.sum(), atol=0.03)
    without = tinytorch.multinomial(Tensor(weights), 3).data
    assert all(len(set(row)) == 3 and all(weights[i, j] > 0 for j in row) for i, row in enumerate(without))
    first = np.bincount(np.array([tinytorch.multinomial(Tensor(weights[0]), 1).item() for _ in range(3000)]), minlength=4)
    np.testing.assert_allclose(first / 3000, weights[0], atol=0.03)  # one draw without replacement: the weights
    with pytest.raises(RuntimeError, match="non-zero"):
        tinytorch.multinomial(Tensor(weights), 4)
    assert tinytorch.normal(2.0, 0.5, size=(3, 2)).shape == (3, 2) and tinytorch.normal(2.0, 0.5, size=(3,)).dtype == np.float32
    spread = tinytorch.normal(Tensor(np.zeros(20000)), Tensor(np.full(20000, 3.0))).data
    assert abs(spread.std() - 3.0) < 0.1 and spread.dtype == np.float32
    coins = tinytorch.bernoulli(Tensor(np.full(20000, 0.25))).data
    assert set(np.unique(coins)) <= {0.0, 1.0} and abs(coins.mean() - 0.25) < 0.02
    with tinytorch.inference_mode():
        assert not tinytorch.is_grad_enabled() and not (Tensor([1.0], requires_grad=True) * 2).requires_grad
    assert tinytorch.inference_mode()(lambda: tinytorch.is_grad_enabled())() is False
    assert tinytorch.inference_mode(lambda: tinytorch.is_grad_enabled())() is False
    with tinytorch.no_grad(), tinytorch.inference_mode(False):
        assert tinytorch.is_grad_enabled()
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    assert y.detach_() is y and not y.requires_grad and y.grad_fn is None
    z = Tensor(np.zeros(5000))
    storage = z.data
    assert z.uniform_(-2.0, 3.0) is z and z.data is storage and -2.0 <= z.data.min() and z.data.max() <= 3.0
    assert abs(z.normal_(5.0, 0.5).data.mean() - 5.0) < 0.05 and z.dtype == np.float32
    assert Tensor([-1.0, 2.0]).clamp_min(0.0).data.tolist() == [0.0, 2.0] == th.tensor([-1.0, 2.0]).clamp_min(0.0).tolist()
    assert tinytorch.argwhere(Tensor([[0, 1], [2, 0]])).data.tolist() == th.argwhere(th.tensor([[0, 1], [2, 0]])).tolist()
    assert tinytorch.is_floating_point(Tensor([1.0])) and not tinytorch.is_floating_point(Tensor([1]))


def test_index_helpers_and_dtype_names_match_torch():
    th = torch()
    for row, col, offset in ((3, 4, 0), (4, 3, -1), (3, 3, 1)):
        assert tinytorch.tril_indices(row, col, offset).data.tolist() == th.tril_indices(row, col, offset).tolist()
        assert tinytorch.triu_indices(row, col, offset).data.tolist() == th.triu_indices(row, col, offset).tolist()
    np.testing.assert_allclose(tinytorch.logspace(0, 2, 5).data, th.logspace(0, 2, 5).numpy(), rtol=1e-6)
    assert tinytorch.broadcast_shapes((2, 1), (1, 3)) == tuple(th.broadcast_shapes((2, 1), (1, 3)))
    assert tinytorch.empty_like(Tensor(np.zeros((2, 3), dtype=np.int64))).dtype == np.int64
    assert tinytorch.concatenate([Tensor([1.0]), Tensor([2.0])]).data.tolist() == [1.0, 2.0]
    for name in ("float", "double", "half", "long", "int", "short", "bool"):
        assert np.dtype(getattr(tinytorch, name)).name == str(getattr(th, name)).replace("torch.", ""), name
    assert tinytorch.zeros(2, dtype=tinytorch.float).dtype == np.float32
    star = {}
    exec("from tinytorch import *", star)  # PyTorch keeps these names out of __all__: builtins stay builtins
    assert not {"float", "int", "bool", "short"} & set(star) and {"tensor", "zeros", "long"} <= set(star)
    origin = Tensor([0.0], requires_grad=True)
    tinytorch.atan2(origin, Tensor([0.0])).sum().backward()
    assert origin.grad.data.tolist() == [0.0], "atan2's gradient at the origin is 0, as PyTorch's"


def _well_conditioned(*shape):
    """Square matrices far from singular: the identity plus a small random part."""
    return np.eye(shape[-1]) * 2 + normal(*shape) * 0.3


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4)])
def test_inverse_det_and_solve_match_torch_and_finite_differences(shape):
    th = torch()
    import tinytorch.linalg as linalg

    a = _well_conditioned(*shape)
    assert_matches_torch(lambda m: m.inverse() * 2, lambda m: m.inverse() * 2, a)
    assert_matches_torch(lambda m: tinytorch.det(m), lambda m: th.det(m), a)
    assert_matches_torch(lambda m: linalg.inv(m).sum(-1) + linalg.det(m)[..., None], lambda m: th.linalg.inv(m).sum(-1)
                         + th.linalg.det(m)[..., None], a)
    assert_gradients_match(lambda m: m.inverse(), a)
    assert_gradients_match(lambda m: m.det(), a)
    b_matrix, b_vector = normal(*shape[:-1], 2), normal(*shape[:-1])
    assert_matches_torch(lambda m, b: linalg.solve(m, b), lambda m, b: th.linalg.solve(m, b), a, b_matrix)
    assert_matches_torch(lambda m, b: linalg.solve(m, b), lambda m, b: th.linalg.solve(m, b), a, b_vector)
    assert_gradients_match(lambda m, b: linalg.solve(m, b), a, b_vector)
    x = normal(*shape)
    assert_matches_torch(lambda m: linalg.norm(m), lambda m: th.linalg.norm(m), x)
    assert_matches_torch(lambda m: linalg.vector_norm(m, ord=1, dim=-1), lambda m: th.linalg.vector_norm(m, ord=1, dim=-1), x)
    assert_matches_torch(lambda m: linalg.matrix_norm(m), lambda m: th.linalg.matrix_norm(m), x)
    with pytest.raises(RuntimeError, match="square"):
        Tensor(np.zeros((2, 3))).det()


# -- hooks, autograd.grad, autograd.backward ------------------------------------------------------


def _hook_scenario(lib):
    """Leaf and intermediate hooks, retain_grad after them, removal, accumulation over two backward
    passes and a post-accumulate hook: everything they record, as plain lists."""
    record = {"leaf": [], "middle": [], "post": []}
    w = lib.tensor([1.0, -2.0, 0.5], requires_grad=True)
    handle = w.register_hook(lambda g: record["leaf"].append(g.tolist()) or g * 2)
    w.register_post_accumulate_grad_hook(lambda t: record["post"].append(t.grad.tolist()))
    middle = w * 3
    middle.register_hook(lambda g: record["middle"].append(g.tolist()))  # sees the sum over both uses
    middle.register_hook(lambda g: g.clamp(-4.0, 4.0))  # runs second: sees the first's (unchanged) gradient
    middle.retain_grad()
    (middle * middle + middle).sum().backward(retain_graph=True)
    record["after_one"] = (w.grad.tolist(), middle.grad.tolist())
    handle.remove()
    (middle * 2).sum().backward()  # accumulates: the leaf hook is gone, the middle's stay
    record["after_two"] = (w.grad.tolist(), middle.grad.tolist())
    return record


def test_tensor_hooks_match_torch():
    th = torch()
    assert _hook_scenario(tinytorch) == _hook_scenario(th)
    got = _hook_scenario(tinytorch)
    assert got["middle"][0] == [7.0, -11.0, 4.0], "2·middle + 1 summed over both paths, before any clamp"
    assert got["after_one"] == ([24.0, -24.0, 24.0], [4.0, -4.0, 4.0]), "clamped, then ×3, then the leaf hook's ×2"


def test_hooks_check_what_they_are_given():
    leaf = Tensor([1.0, 2.0], requires_grad=True)
    leaf.register_hook(lambda g: Tensor([1.0, 2.0, 3.0]))
    with pytest.raises(RuntimeError, match="changed the size"):
        (leaf * 2).sum().backward()
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        Tensor([1.0]).register_hook(print)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (leaf * 2).register_post_accumulate_grad_hook(print)
    float32 = Tensor(np.ones(2, dtype=np.float32), dtype=np.float32, requires_grad=True)
    float32.register_hook(lambda g: Tensor(np.ones(2)) * 5)  # a float64 replacement keeps the leaf's dtype
    (float32 * 2).sum().backward()
    assert float32.grad.dtype == np.float32 and float32.grad.data.tolist() == [5.0, 5.0]
    dtypes, leaf32 = [], Tensor(np.ones(2, dtype=np.float32), dtype=np.float32, requires_grad=True)
    leaf32.register_hook(lambda g: dtypes.append(g.dtype))
    middle = leaf32 * 3
    middle.register_hook(lambda g: Tensor(np.ones(2), dtype=np.float64))  # float64 for a float32 intermediate
    middle.sum().backward()
    assert dtypes == [np.dtype(np.float32)] and leaf32.grad.data.tolist() == [3.0, 3.0], "it stays float32"
    with float32.register_hook(lambda g: g * 0) as handle:  # a handle is a context manager, as in PyTorch
        assert handle is not None
    float32.grad = None
    (float32 * 2).sum().backward()
    assert float32.grad.data.tolist() == [5.0, 5.0], "the removed hook no longer zeroes the gradient"


def _grad_scenario(lib, ag):
    """autograd.grad of a small two-layer computation: for leaves, an intermediate, two outputs with
    their own gradients, unused inputs; and proof that no .grad changed."""
    gen = np.random.default_rng(7)
    x = lib.tensor(gen.normal(size=(4, 3)), dtype=lib.float64, requires_grad=True)
    w = lib.tensor(gen.normal(size=(3, 2)), dtype=lib.float64, requires_grad=True)
    w.grad = lib.tensor(np.full((3, 2), 9.0), dtype=lib.float64)
    hidden = (x @ w).tanh()
    loss = (hidden * hidden).sum()
    gx, gw, gh = ag.grad(loss, [x, w, hidden], retain_graph=True)
    out = {"gx": gx.tolist(), "gw": gw.tolist(), "gh": gh.tolist(), "w.grad": w.grad.tolist(), "x.grad": x.grad}
    second = hidden.sum(dim=1)
    weights = [lib.tensor(2.0, dtype=lib.float64), lib.tensor([1.0, 0.0, -1.0, 3.0], dtype=lib.float64)]
    (both,) = ag.grad([loss, second], w, grad_outputs=weights)
    out["both"] = both.tolist()
    unused = lib.tensor([1.0], dtype=lib.float64, requires_grad=True)
    out["unused"] = [g is None for g in ag.grad((x * 2).sum(), [x, unused], allow_unused=True)]
    out["zeros"] = ag.grad((x * 2).sum(), [unused], materialize_grads=True)[0].tolist()
    ag.backward([(x * 3).sum(), (x * x).sum()])
    out["backward"] = x.grad.tolist()
    return out


def test_autograd_grad_and_backward_match_torch():
    th = torch()
    import tinytorch.autograd as tiny_autograd

    got, want = _grad_scenario(tinytorch, tiny_autograd), _grad_scenario(th, th.autograd)
    assert got.keys() == want.keys()
    for key in got:
        if key in ("w.grad", "x.grad", "unused"):
            assert got[key] == want[key], key
        else:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-10, atol=1e-12, err_msg=key)
    assert got["w.grad"] == [[9.0, 9.0]] * 3 and got["x.grad"] is None, "grad() stores no gradient"


def test_autograd_grad_errors_are_pytorchs():
    import tinytorch.autograd as tiny_autograd

    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="not have been used in the graph"):
        tiny_autograd.grad((x * 2).sum(), [x, Tensor([1.0], requires_grad=True)])
    with pytest.raises(RuntimeError, match="does not require grad"):
        tiny_autograd.grad((x * 2).sum(), [Tensor([1.0])])
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        tiny_autograd.grad(Tensor([1.0]).sum(), [x])
    with pytest.raises(NotImplementedError, match="create_graph"):
        tiny_autograd.grad((x * 2).sum(), [x], create_graph=True)
    with pytest.raises(RuntimeError, match="one per output"):
        tiny_autograd.grad([(x * 2).sum(), x.sum()], [x], grad_outputs=[None])
    y = (x * x).sum()
    tiny_autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        tiny_autograd.grad(y, x)  # the graph was freed, as after backward()
    assert tiny_autograd.Function is tinytorch.core.autograd.Function and "grad" in tiny_autograd.__all__


def test_matrix_transposes_need_matrices_as_in_torch():
    th = torch()
    for shape in [(3,), (2, 3), (2, 3, 4)]:
        for attribute in ("mT", "mH", "H"):
            try:
                want = tuple(getattr(th.ones(shape), attribute).shape)
            except RuntimeError:
                with pytest.raises(RuntimeError, match="only supported on matrices"):
                    getattr(Tensor(np.ones(shape)), attribute)
            else:
                assert getattr(Tensor(np.ones(shape)), attribute).shape == want


# -- more tensor methods and torch functions (module 02, given) ---------------------------------

_X, _Y = distinct(3, 5), away_from_zero(3, 5)
_WITH_NAN = np.where(np.arange(15).reshape(3, 5) % 4 == 1, np.nan, _X)
_TIES = np.array([[1.0, 3.0, 3.0, 2.0, 5.0, 5.0, 0.0], [0.0, 0.0, -1.0, 4.0, 4.0, 4.0, 2.0]])

MORE_METHODS = {  # name: (tinytorch or torch module -> function of the tensors, arrays, finite differences too)
    "kthvalue": (lambda lib: lambda a: a.kthvalue(2, 1).values, [_X], True),
    "kthvalue_keepdim_indices": (lambda lib: lambda a: a.kthvalue(3, 0, True).indices, [_X], False),
    "cummax": (lambda lib: lambda a: a.cummax(1).values, [_X], True),
    "cummax_ties_indices": (lambda lib: lambda a: a.cummax(1).indices, [_TIES], False),
    "cummin_ties": (lambda lib: lambda a: a.cummin(1).values * a.cummin(1).indices, [-_TIES], False),
    "cummax_nan_indices": (lambda lib: lambda a: a.cummax(1).indices, [_WITH_NAN], False),
    "cummax_dim0": (lambda lib: lambda a: a.cummax(0).values, [_X], True),
    "fmax_nan": (lambda lib: lambda a, b: a.fmax(b), [_WITH_NAN, _Y], False),
    "fmin_nan": (lambda lib: lambda a, b: b.fmin(a), [_WITH_NAN, _Y], False),
    "fmax": (lambda lib: lambda a, b: a.fmax(b), [_X, _Y], True),
    "index_fill": (lambda lib: lambda a: a.index_fill(1, lib.tensor([0, 3]), -1.5), [_X], True),
    "unfold": (lambda lib: lambda a: a.unfold(1, 2, 2), [_X], True),
    "unfold_overlapping": (lambda lib: lambda a: a.unfold(0, 2, 1), [_X], True),
    "tensordot_lists": (lambda lib: lambda a, b: lib.tensordot(a, b, dims=([1, 2], [1, 0])),
                        [normal(2, 3, 4), normal(4, 3, 5)], True),
    "tensordot_int": (lambda lib: lambda a, b: lib.tensordot(a, b, dims=1), [normal(2, 3, 4), normal(4, 3)], True),
    "inner": (lambda lib: lambda a, b: a.inner(b), [_X, _Y], True),
    "kron": (lambda lib: lambda a, b: a.kron(b), [normal(2, 3), normal(3, 2)], True),
    "kron_mixed_ndim": (lambda lib: lambda a, b: a.kron(b), [normal(2, 2, 2), normal(2, 3)], True),
    "cross_dim": (lambda lib: lambda a, b: a.cross(b, dim=-1), [normal(4, 3), normal(4, 3)], True),
    "cross_first_of_size_3": (lambda lib: lambda a, b: a.cross(b), [normal(3, 4), normal(3, 1)], True),
    "mv": (lambda lib: lambda a, b: a.mv(b), [_X, normal(5)], True),
    "baddbmm": (lambda lib: lambda s, a, b: s.baddbmm(a, b, beta=0.5, alpha=2.0),
                [normal(2, 3, 5), normal(2, 3, 4), normal(2, 4, 5)], True),
    "column_stack": (lambda lib: lambda a, b: lib.column_stack([a, b]), [normal(5), normal(5, 3)], True),
    "row_stack": (lambda lib: lambda a, b: lib.row_stack([a, b]), [normal(5), _X], True),
    "block_diag": (lambda lib: lambda a, b, c: lib.block_diag(a, b, c), [normal(2, 3), normal(4), np.array(2.0)], True),
    "cartesian_prod": (lambda lib: lambda a, b: lib.cartesian_prod(a, b), [normal(2), normal(3)], True),
    "combinations": (lambda lib: lambda a: lib.combinations(a, 2), [normal(4)], True),
    "combinations_with_replacement": (lambda lib: lambda a: lib.combinations(a, 3, with_replacement=True),
                                      [normal(3)], True),
}


@pytest.mark.parametrize("name", sorted(MORE_METHODS))
def test_more_tensor_methods_match_torch(name):
    th = torch()
    make, arrays, finite_differences = MORE_METHODS[name]
    tiny_fn, torch_fn = make(tinytorch), make(th)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch.cross without dim: a deprecation notice
        want = torch_fn(*[th.tensor(a) for a in arrays])
        got = tiny_fn(*[Tensor(a, dtype=a.dtype) for a in arrays])
        assert got.shape == tuple(want.shape) and got.dtype == want.numpy().dtype
        np.testing.assert_allclose(got.data, want.numpy(), rtol=1e-12, atol=1e-12)
        if want.is_floating_point() and not any(np.isnan(a).any() for a in arrays):
            assert_matches_torch(tiny_fn, torch_fn, *arrays)
    if finite_differences:
        assert_gradients_match(tiny_fn, *arrays)


def test_more_torch_functions_match_torch():
    th = torch()
    ints, weights = np.array([0, 3, 3, 1, 5]), np.array([0.5, 1.0, 2.0, 1.0, 1.0], dtype=np.float32)
    assert tinytorch.bincount(Tensor(ints)).tolist() == th.bincount(th.tensor(ints)).tolist()
    counted = tinytorch.bincount(Tensor(ints), Tensor(weights), minlength=8)
    assert counted.dtype == np.float32 and counted.tolist() == th.bincount(th.tensor(ints), th.tensor(weights), 8).tolist()
    rows, values = np.array([[1.0, 3, 5, 7, 9], [2, 4, 6, 8, 10]]), np.array([[3.0, 6, 9], [3, 6, 10]])
    for right in (False, True):
        for sequence in (rows[0], rows):
            got = tinytorch.searchsorted(Tensor(sequence), Tensor(values), right=right)
            assert got.dtype == np.int64
            assert got.tolist() == th.searchsorted(th.tensor(sequence), th.tensor(values), right=right).tolist()
        assert (tinytorch.bucketize(Tensor(values), Tensor(rows[0]), right=right).tolist()
                == th.bucketize(th.tensor(values), th.tensor(rows[0]), right=right).tolist())
    assert tinytorch.searchsorted(Tensor(rows[0]), Tensor(values), side="right", out_int32=True).dtype == np.int32
    sample = rng.normal(size=200).astype(np.float32)
    for options in ({"bins": 7}, {"bins": 4, "min": -1, "max": 1}):
        np.testing.assert_array_equal(tinytorch.histc(Tensor(sample), **options).data,
                                      th.histc(th.tensor(sample), **options).numpy())
    for name in ("atleast_1d", "atleast_2d", "atleast_3d"):
        for shape in [(), (3,), (2, 3), (2, 3, 4)]:
            assert getattr(tinytorch, name)(Tensor(np.ones(shape))).shape == tuple(getattr(th, name)(th.ones(shape)).shape)
    runs = np.array([1, 1, 2, 2, 3, 1, 1, 2])
    got = tinytorch.unique_consecutive(Tensor(runs), return_inverse=True, return_counts=True)
    want = th.unique_consecutive(th.tensor(runs), return_inverse=True, return_counts=True)
    assert [g.tolist() for g in got] == [w.tolist() for w in want]
    assert tinytorch.finfo().eps == th.finfo().eps and tinytorch.finfo(np.float64).max == th.finfo(th.float64).max
    assert tinytorch.iinfo(np.int64).max == th.iinfo(th.int64).max and tinytorch.get_default_dtype() == np.float32
    x = Tensor(_X)
    assert x.stride() == th.tensor(_X).stride() and x.T.stride() == th.tensor(_X).T.stride() and x.stride(1) == 1
    assert x.sgn().tolist() == th.tensor(_X).sgn().tolist() and x.ndimension() == 2
    low, high = Tensor(_X, dtype=np.float64).aminmax(dim=1)
    assert low.tolist() == th.tensor(_X).aminmax(dim=1).min.tolist() and high.tolist() == _X.max(axis=1).tolist()
    with pytest.raises(RuntimeError, match="out of range"):
        x.kthvalue(6, 1)
    with pytest.raises(RuntimeError, match="maximum size"):
        x.unfold(1, 6, 1)
    with pytest.raises(RuntimeError, match="length 3"):
        Tensor(normal(2, 4)).cross(Tensor(normal(2, 4)))


def test_std_of_equal_values_has_a_zero_gradient_like_torch():
    """std is sqrt(var), but its gradient where the spread is 0 is 0 in PyTorch, not 0·∞ = nan."""
    x = np.array([[1.0, 1.0, 1.0], [0.5, -2.0, 3.0]])  # a constant row beside an ordinary one
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no division-by-zero warning on the way
        assert_matches_torch(lambda t: t.std(dim=1), lambda t: t.std(dim=1), x)
        assert_matches_torch(lambda t: t.std(dim=1, keepdim=True, correction=0),
                             lambda t: t.std(dim=1, keepdim=True, correction=0), x)
        assert_matches_torch(lambda t: t.std_mean(dim=1)[0], lambda t: torch().std_mean(t, dim=1)[0], x)
        assert_matches_torch(lambda t: t[0].std(), lambda t: t[0].std(), x)
