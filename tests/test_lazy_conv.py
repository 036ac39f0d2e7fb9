"""Module 05's given lazy convolutions (LazyConv1d/2d/3d, LazyConvTranspose1d/2d/3d) against PyTorch:
the class before and after the first call, in_channels from the first input (batched or not), the
weight and bias shapes and their default initialization, outputs and gradients, the same Parameter
objects across the first call (an optimizer built before it trains them), reprs and errors."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tinytorch.nn as nn
from tinytorch.core.tensor import Tensor
from tinytorch.optim import SGD

# (lazy class, plain class, out_channels, kernel_size, options, batched input shape)
CASES = [
    ("LazyConv1d", "Conv1d", 4, 3, dict(stride=2, padding=1), (2, 3, 9)),
    ("LazyConv2d", "Conv2d", 6, (3, 2), dict(groups=2, dilation=(1, 2), padding=1), (2, 4, 7, 6)),
    ("LazyConv3d", "Conv3d", 3, 2, dict(stride=(1, 2, 1), bias=False), (1, 2, 4, 5, 4)),
    ("LazyConvTranspose1d", "ConvTranspose1d", 4, 3, dict(stride=2, output_padding=1), (2, 3, 5)),
    ("LazyConvTranspose2d", "ConvTranspose2d", 6, (2, 3), dict(groups=2, dilation=2, padding=1), (2, 4, 4, 3)),
    ("LazyConvTranspose3d", "ConvTranspose3d", 2, 2, dict(stride=2, bias=False), (1, 3, 2, 3, 2)),
]
IDS = [case[0] for case in CASES]


def make(case):
    lazy, _, out_channels, kernel_size, options, _ = case
    return getattr(nn, lazy)(out_channels, kernel_size, **options), getattr(torch.nn, lazy)(
        out_channels, kernel_size, **options)


def data(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_class_in_channels_and_shapes(case):
    ours, theirs = make(case)
    shape = case[5]
    assert isinstance(ours, getattr(nn, case[0])) and isinstance(ours, getattr(nn, case[1]))
    assert ours.in_channels == 0 and ours.weight.numel() == 0
    ours(Tensor(data(shape))), theirs(torch.from_numpy(data(shape)))
    assert type(ours) is getattr(nn, case[1]) and type(theirs) is getattr(torch.nn, case[1])
    assert not isinstance(ours, getattr(nn, case[0]))
    assert ours.in_channels == theirs.in_channels == shape[1]
    assert ours.weight.shape == tuple(theirs.weight.shape)
    assert (ours.bias is None) == (theirs.bias is None)
    if ours.bias is not None:
        assert ours.bias.shape == tuple(theirs.bias.shape)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_default_initialization(case):
    np.random.seed(1)
    ours, _ = make(case)
    ours(Tensor(data(case[5])))
    w = ours.weight.data
    bound = 1 / math.sqrt(w.shape[1] * np.prod(w.shape[2:]))  # PyTorch's fan_in, also for the transposed ones
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.5 * bound and w.std() > 0.2 * bound
    if ours.bias is not None:
        assert np.abs(ours.bias.data).max() <= bound and np.any(ours.bias.data != 0)


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_outputs_and_gradients_match_torch(case, batched):
    ours, theirs = make(case)
    shape = case[5] if batched else case[5][1:]
    x = data(shape, seed=2)
    xt = torch.from_numpy(x).requires_grad_()
    expected = theirs(xt)  # PyTorch initializes at this call; copy its numbers into ours after our own call
    xo = Tensor(x, requires_grad=True)
    ours(Tensor(x))
    assert ours.in_channels == shape[1 if batched else 0]
    ours.weight.data = theirs.weight.detach().numpy().copy()
    if ours.bias is not None:
        ours.bias.data = theirs.bias.detach().numpy().copy()
    got = ours(xo)
    assert got.shape == tuple(expected.shape)
    np.testing.assert_allclose(got.data, expected.detach().numpy(), rtol=1e-4, atol=1e-5)
    upstream = data(got.shape, seed=3)
    (got * Tensor(upstream)).sum().backward()
    (expected * torch.from_numpy(upstream)).sum().backward()
    np.testing.assert_allclose(xo.grad.data, xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    if ours.bias is not None:
        np.testing.assert_allclose(ours.bias.grad.data, theirs.bias.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_parameters_kept_across_the_first_call(case):
    ours, _ = make(case)
    before = list(ours.parameters())
    optimizer = SGD(ours.parameters(), lr=0.1)
    out = ours(Tensor(data(case[5])))
    after = list(ours.parameters())
    assert len(after) == len(before) and all(a is b for a, b in zip(after, before))
    assert ours.weight is before[0] and ours.weight.shape[0 if "Transpose" in case[0] else 1] > 0
    old = [p.data.copy() for p in after]
    out.sum().backward()
    optimizer.step()
    for p, o in zip(after, old):
        assert p.shape == o.shape and not np.allclose(p.data, o), "the optimizer made before the call updates them"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reprs_before_and_after(case):
    ours, theirs = make(case)
    assert repr(ours) == repr(theirs)
    ours(Tensor(data(case[5]))), theirs(torch.from_numpy(data(case[5])))
    assert repr(ours) == repr(theirs) and repr(ours).startswith(case[1] + "(")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_wrong_rank_and_groups_errors(case):
    ours, theirs = make(case)
    dims = len(case[5]) - 2
    bad = (2,) * (dims + 3)
    with pytest.raises(RuntimeError) as torchs:
        theirs(torch.ones(bad))
    with pytest.raises(RuntimeError) as mine:
        ours(Tensor(np.ones(bad, dtype=np.float32)))
    prefix = f"Expected {dims + 1}D (unbatched) or {dims + 2}D (batched) input to {case[0]}, but got input of size"
    assert str(mine.value).startswith(prefix) and str(torchs.value).startswith(prefix)
    assert type(ours) is getattr(nn, case[0]) and ours.in_channels == 0  # still lazy: the next call infers
    grouped = getattr(nn, case[0])(4, case[3], groups=2)
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        grouped(Tensor(np.ones((1, 3) + case[5][2:], dtype=np.float32)))
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        getattr(torch.nn, case[0])(4, case[3], groups=2)(torch.ones((1, 3) + case[5][2:]))
