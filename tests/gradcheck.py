"""Gradient checks shared by the test suite: finite differences, and PyTorch when installed.

    from gradcheck import F, assert_gradients_match, assert_matches_torch, normal, rng

Each check reduces the output with fixed random weights (``sum(out * R)``) rather than a
plain sum, so that operations whose outputs sum to a constant (softmax, normalization)
still have their gradients checked.
"""

import numpy as np
import pytest

from tinytorch.core.autograd import numerical_gradient
from tinytorch.core.tensor import Tensor

__all__ = ["F", "assert_gradients_match", "assert_matches_torch", "input_gradients", "normal", "numerical_gradient", "rng",
           "torch"]

rng = np.random.default_rng(0)  # the test inputs' one generator


def normal(*shape):
    """A float64 array of ``shape`` drawn from the standard normal."""
    return rng.normal(size=shape)


def _weights_for(out, seed):
    return np.random.default_rng(seed).normal(size=np.shape(out))


def assert_gradients_match(fn, *arrays, atol=1e-5, rtol=1e-4, seed=0):
    """Autograd's gradient of ``fn(*tensors)`` equals finite differences, for every input.

    ``arrays`` are float64 inputs; integer arrays (ids, labels) are passed as constants.
    """
    arrays = [np.asarray(a) for a in arrays]
    differentiable = [np.issubdtype(a.dtype, np.floating) for a in arrays]

    def tensors(values):
        return [
            Tensor(v, dtype=v.dtype, requires_grad=d) for v, d in zip(values, differentiable)
        ]

    inputs = tensors(arrays)
    out = fn(*inputs)
    weights = _weights_for(out.data, seed)
    (out * Tensor(weights, dtype=np.float64)).sum().backward()
    for k, array in enumerate(arrays):
        if not differentiable[k]:
            continue

        def scalar(x, k=k):
            values = [x if j == k else a for j, a in enumerate(arrays)]
            return float((fn(*tensors(values)).data * weights).sum())

        expected = numerical_gradient(scalar, array.astype(np.float64).copy())
        got = inputs[k].grad
        assert got is not None, f"input {k} got no gradient"
        np.testing.assert_allclose(got.data, expected, atol=atol, rtol=rtol, err_msg=f"input {k}")


def torch():
    """PyTorch as an oracle; the test is skipped cleanly where it is not installed."""
    return pytest.importorskip("torch")


def F():
    """``torch.nn.functional``; the test is skipped where PyTorch is not installed."""
    return torch().nn.functional


def assert_matches_torch(tiny_fn, torch_fn, *arrays, atol=1e-5, rtol=1e-4, seed=0):
    """Forward values and input gradients of ``tiny_fn`` equal PyTorch's ``torch_fn``."""
    th = torch()
    arrays = [np.asarray(a) for a in arrays]
    differentiable = [np.issubdtype(a.dtype, np.floating) for a in arrays]
    tiny_inputs = [Tensor(a, dtype=a.dtype, requires_grad=d) for a, d in zip(arrays, differentiable)]
    torch_inputs = [th.tensor(a, requires_grad=d) for a, d in zip(arrays, differentiable)]
    tiny_out = tiny_fn(*tiny_inputs)
    torch_out = torch_fn(*torch_inputs)
    np.testing.assert_allclose(tiny_out.data, torch_out.detach().numpy(), atol=atol, rtol=rtol)
    weights = _weights_for(tiny_out.data, seed)
    (tiny_out * Tensor(weights, dtype=np.float64)).sum().backward()
    (torch_out * th.tensor(weights)).sum().backward()
    for k, (tiny, ref) in enumerate(zip(tiny_inputs, torch_inputs)):
        if differentiable[k]:
            np.testing.assert_allclose(
                tiny.grad.data, ref.grad.numpy(), atol=atol, rtol=rtol, err_msg=f"input {k}"
            )


def input_gradients(tiny_inputs, torch_inputs, wanted):
    """[(k, tinytorch's gradient, PyTorch's)] for each input k that wanted one, as arrays (zeros
    where no gradient arrived): what the differential tests compare after both backward passes."""
    return [(k, np.zeros(t.shape) if t.grad is None else t.grad.data, np.zeros(r.shape) if r.grad is None else r.grad.numpy())
            for k, (t, r, w) in enumerate(zip(tiny_inputs, torch_inputs, wanted)) if w]
