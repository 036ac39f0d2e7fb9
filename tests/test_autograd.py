"""Every Tensor operation's gradient, against finite differences and (when installed) PyTorch."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradcheck import assert_gradients_match, assert_matches_torch, rng, torch
from tinytorch.core.autograd import no_grad, unbroadcast
from tinytorch.core.tensor import Tensor

def away_from_zero(*shape):
    """Values in ±[0.5, 1.5]: safe for log, sqrt, division and the kink of relu."""
    return rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def positive(*shape):
    return rng.uniform(0.5, 1.5, size=shape)


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}

UNARY = {
    "neg": (lambda a: -a, away_from_zero),
    "pow3": (lambda a: a ** 3, away_from_zero),
    "pow_half": (lambda a: a ** 0.5, positive),
    "exp": (lambda a: a.exp(), away_from_zero),
    "log": (lambda a: a.log(), positive),
    "sqrt": (lambda a: a.sqrt(), positive),
    "sigmoid": (lambda a: a.sigmoid(), away_from_zero),
    "tanh": (lambda a: a.tanh(), away_from_zero),
    "relu": (lambda a: a.relu(), away_from_zero),
    "sum_axis": (lambda a: a.sum(axis=1), away_from_zero),
    "sum_keepdims": (lambda a: a.sum(axis=(0, 2), keepdims=True), away_from_zero),
    "mean": (lambda a: a.mean(axis=-1), away_from_zero),
    "max_axis": (lambda a: a.max(axis=1), away_from_zero),
    "max_all": (lambda a: a.max(), away_from_zero),
    "reshape": (lambda a: a.reshape(4, -1), away_from_zero),
    "transpose": (lambda a: a.transpose(0, 2), away_from_zero),
    "permute": (lambda a: a.permute(2, 0, 1), away_from_zero),
    "T": (lambda a: a.T, away_from_zero),
    "slice": (lambda a: a[:, 1:, ::2], away_from_zero),
    "fancy_index_repeats": (lambda a: a[[0, 1, 0]], away_from_zero),
}


# Broadcast pairs: same shape, a row, a column, a scalar, leading batch dimensions.
BROADCAST_SHAPES = [((2, 3), (2, 3)), ((4, 3), (3,)), ((4, 1), (1, 3)), ((2, 3), ()), ((2, 1, 3), (4, 3))]


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
def test_binary_gradients_match_finite_differences(name, shapes):
    a, b = (away_from_zero(*s) for s in shapes)
    assert_gradients_match(BINARY[name], a, b)
    assert_gradients_match(BINARY[name], b, a)


@pytest.mark.parametrize("name", UNARY)
def test_unary_gradients_match_finite_differences(name):
    fn, make = UNARY[name]
    assert_gradients_match(fn, make(2, 3, 4))


@pytest.mark.parametrize(
    "shapes", [((3, 4), (4, 2)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (4, 3)), ((3, 4), (4,))],
    ids=str,
)
def test_matmul_gradients_match_finite_differences(shapes):
    a, b = (away_from_zero(*s) for s in shapes)
    assert_gradients_match(lambda x, y: x @ y, a, b)


def test_reflected_operators_and_composites():
    a = away_from_zero(3, 4)
    assert_gradients_match(lambda x: 2 - x * 3 + 1 / x, a)
    assert_gradients_match(lambda x: (x - x.max(axis=1, keepdims=True)).exp().sum(axis=1).log(), a)
    assert_gradients_match(lambda x: x * x.mean(axis=0), a)  # a tensor used twice


@settings(max_examples=40, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
    op=st.sampled_from(sorted(BINARY)),
)
def test_broadcast_gradients_have_input_shapes_and_match(shapes, op):
    a, b = (away_from_zero(*s) for s in shapes.input_shapes)
    x = Tensor(a, dtype=np.float64, requires_grad=True)
    y = Tensor(b, dtype=np.float64, requires_grad=True)
    BINARY[op](x, y).sum().backward()
    assert x.grad.shape == a.shape and y.grad.shape == b.shape
    assert_gradients_match(BINARY[op], a, b)


@settings(max_examples=40, deadline=None)
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4))
def test_unbroadcast_sums_back_to_the_input_shape(shapes):
    shape = shapes.input_shapes[0]
    grad = np.ones(shapes.result_shape)
    reduced = unbroadcast(grad, shape)
    assert reduced.shape == tuple(shape)
    assert reduced.sum() == grad.sum(), "unbroadcast only sums: nothing is lost"


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
def test_binary_ops_match_pytorch(name):
    a, b = away_from_zero(4, 1, 3), away_from_zero(5, 3)
    assert_matches_torch(BINARY[name], BINARY[name], a, b)


def test_unary_and_matmul_ops_match_pytorch():
    th = torch()
    a = away_from_zero(2, 3, 4)
    pairs = [
        (lambda x: x.exp(), th.exp), (lambda x: x.sigmoid(), th.sigmoid), (lambda x: x.tanh(), th.tanh),
        (lambda x: x.relu(), th.relu), (lambda x: x ** 3, lambda x: x ** 3),
        (lambda x: x.sum(axis=1), lambda x: x.sum(dim=1)), (lambda x: x.mean(axis=(0, 2)), lambda x: x.mean(dim=(0, 2))),
        (lambda x: x.max(axis=2), lambda x: x.max(dim=2).values), (lambda x: x.transpose(0, 2), lambda x: x.transpose(0, 2)),
        (lambda x: x[:, 1:, [0, 0, 3]], lambda x: x[:, 1:, [0, 0, 3]]),
    ]
    for tiny_fn, torch_fn in pairs:
        assert_matches_torch(tiny_fn, torch_fn, a)
    assert_matches_torch(lambda x: x.log(), th.log, positive(3, 2))
    assert_matches_torch(lambda x, y: x @ y, lambda x, y: x @ y, away_from_zero(2, 3, 4), away_from_zero(4, 5))


def test_gradients_accumulate_until_zero_grad():
    w = Tensor([1.0, -2.0], requires_grad=True)
    for expected in ([3.0, 3.0], [6.0, 6.0]):
        (w * 3).sum().backward()
        assert w.grad.data.tolist() == expected
    w.zero_grad()
    assert w.grad is None


def test_no_grad_builds_no_graph_and_restores():
    w = Tensor([1.0], requires_grad=True)
    with no_grad():
        y = w * 2 + 1
    assert not y.requires_grad
    assert (w * 2).requires_grad, "gradient tracking comes back after the block"


def test_clear_errors():
    with pytest.raises(RuntimeError, match=r"shape \(2, 2\)"):
        (Tensor(np.ones((2, 2)), requires_grad=True) * 2).backward()
    with pytest.raises(ValueError, match=r"\(3, 4\) @ \(5, 6\)"):
        Tensor(np.ones((3, 4)), requires_grad=True) @ Tensor(np.ones((5, 6)))


def test_context_says_which_inputs_need_a_gradient():
    from tinytorch.core.autograd import Function

    seen = []

    class ScaleOp(Function):
        @staticmethod
        def forward(ctx, a, b, factor):
            ctx.save_for_backward(a, b)
            ctx.factor = factor
            return a * b * factor

        @staticmethod
        def backward(ctx, grad):
            seen.append(ctx.needs_input_grad)
            a, b = ctx.saved_tensors
            return grad * b * ctx.factor, grad * a * ctx.factor, None

    weight, data = Tensor([2.0], requires_grad=True), Tensor([3.0])
    ScaleOp.apply(weight, data, 4.0).sum().backward()
    assert seen == [(True, False, False)]
    assert weight.grad.data.tolist() == [12.0]
    with no_grad():
        assert ScaleOp.apply(weight, data, 4.0)._ctx is None


def test_matmul_computes_no_gradient_for_data():
    x = Tensor(np.ones((4, 3)))
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    out = x @ w
    grad_x, grad_w = out._ctx.function.backward(out._ctx, np.ones((4, 2)))
    assert grad_x is None and grad_w.shape == (3, 2)
