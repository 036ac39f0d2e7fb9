"""The cnn milestone's learning test fails when the convolution's filters get no gradient
(DESIGN §2; its pass with exactly modules 00–05 and its failure without 05_spatial are
in test_milestone_honesty.py).

This broken case matters most: a network whose convolution weights never learn still
has a trainable `Linear` head (and conv biases) on top of fixed random filters, which
can look like learning. ``test_cnn_learning`` must catch it. The run goes through the
same command and environment as ``tito milestone run cnn``, in a temp copy of the project.
"""

from honesty import assert_failed, break_class, probe, run_learning_test

# Appended to the copy's exported tinytorch/nn/spatial.py: Conv2dOp still computes the
# input and bias gradients, but its weight gradient is all zeros.
BREAK_WEIGHT_GRAD = """
def _zero_weight_grad(ctx, grad, _original=Conv2dOp.backward):
    grad_x, grad_weight, grad_bias = _original(ctx, grad)
    return grad_x, np.zeros_like(grad_weight), grad_bias


Conv2dOp.backward = staticmethod(_zero_weight_grad)
"""

# Run in the copy: are the weight and bias gradients zero?
PROBE = """
import numpy as np
import tinytorch.nn.spatial as spatial
from tinytorch.core.tensor import Tensor
np.random.seed(0)
conv = spatial.Conv2d(1, 2, 3, padding=1)
(conv(Tensor(np.random.rand(2, 1, 5, 5))) * Tensor(np.random.rand(2, 2, 5, 5))).sum().backward()
print("zero" if not np.any(conv.weight.grad.data) else "nonzero")
print("zero" if not np.any(conv.bias.grad.data) else "nonzero")
"""


def test_cnn_learning_fails_when_conv_weight_gradient_is_zero(exported_project):
    assert probe(exported_project, PROBE) == ["nonzero", "nonzero"]  # the intact copy
    break_class(exported_project, "Conv2dOp", BREAK_WEIGHT_GRAD)
    assert probe(exported_project, PROBE) == ["zero", "nonzero"], "the patch did not break exactly the weight gradient"

    result, metrics = run_learning_test(exported_project, "cnn")
    assert_failed(result, "AssertionError", "all-zero gradient")
    assert metrics is not None and metrics["milestone"] == "cnn"  # it trained, then was judged
