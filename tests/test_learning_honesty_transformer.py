"""The transformer milestone's learning test can fail: broken attention gradients fail it.

A learning test that passes whatever the student wrote would be a defect. Here a copy of
the project gets a softmax that passes no gradient back (so attention's queries and keys
never learn where to look); ``test_transformer_learning`` must then fail. That it passes
on the unbroken code is checked in test_milestone_honesty.py. The run goes through the
same command and environment as ``tito milestone run transformer``.
"""

from honesty import assert_failed, break_class, probe, run_learning_test

# Appended to the copy's exported tinytorch/nn/modules.py: the softmax that attention
# uses returns zeros from its backward.
BREAK_SOFTMAX_BACKWARD = "SoftmaxOp.backward = staticmethod(lambda ctx, grad: np.zeros_like(grad))"

# Run in the copy: does attention still pass gradients to its queries?
PROBE = """
import numpy as np
import tinytorch.nn.attention as attention
from tinytorch.core.tensor import Tensor
rng = np.random.default_rng(0)
q = Tensor(rng.normal(size=(1, 3, 2)), requires_grad=True)  # reaches the output only through the softmax
k, v = Tensor(rng.normal(size=(1, 3, 2))), Tensor(rng.normal(size=(1, 3, 2)))
(attention.scaled_dot_product_attention(q, k, v) * Tensor(rng.normal(size=(1, 3, 2)))).sum().backward()
print("zero" if not np.any(q.grad.data) else "nonzero")
"""


def test_transformer_learning_fails_when_attention_backward_is_broken(exported_project):
    assert probe(exported_project, PROBE) == ["nonzero"]  # the intact copy
    break_class(exported_project, "SoftmaxOp", BREAK_SOFTMAX_BACKWARD)
    assert probe(exported_project, PROBE) == ["zero"], "the patch did not take: attention still passes gradients back"

    result, metrics = run_learning_test(exported_project, "transformer")
    assert_failed(result, "attention's q_proj weights received no gradient")
    assert metrics is not None, "it stopped before training"
    assert metrics["accuracy"] < 0.95, f"it still reversed {metrics['accuracy']:.0%} of tokens"
