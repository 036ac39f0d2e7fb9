"""The xor and mlp_digits learning tests can fail: they catch broken student code.

Each case copies the project with every module exported, breaks one thing in the
*exported* package (as a student's bug would), checks that the break took effect, and
runs the milestone tests that must catch it exactly as ``tito milestone run`` does. They
must fail with an assertion about learning, not an import error or a crash. (That both
pass on the unbroken code is checked in test_milestone_honesty.py.)
"""

import pytest

from honesty import assert_failed, break_class, probe, run_learning_test

# name -> (the class whose file gets the patch, the lines appended to it,
#          a check that the break is live, the milestones that must fail)
BREAKS = {
    "relu_backward_returns_zeros": (
        "ReLUOp",
        "ReLUOp.backward = staticmethod(lambda ctx, grad: grad * 0.0)",
        "x = Tensor([2.0, -1.0], requires_grad=True); x.relu().sum().backward();"
        "assert x.grad is None or not x.grad.data.any()",
        ("xor", "mlp_digits"),
    ),
    "relu_backward_forgets_the_mask": (
        "ReLUOp",
        "ReLUOp.backward = staticmethod(lambda ctx, grad: grad)",
        "x = Tensor([2.0, -1.0], requires_grad=True); x.relu().sum().backward();"
        "assert x.grad.data.tolist() == [1.0, 1.0]",
        ("xor",),  # a linear gradient still trains a digit classifier; XOR needs the real one
    ),
    "optimizer_step_does_nothing": (
        "SGD",
        "SGD.step = lambda self: None\nfrom tinytorch.optim.adam import Adam\nAdam.step = lambda self: None",
        "from tinytorch.optim.sgd import SGD; from tinytorch.optim.adam import Adam;"
        "from tinytorch.nn.modules import Linear; m = Linear(2, 1); before = m.weight.data.copy();"
        "m(Tensor([[1.0, 2.0]])).sum().backward(); SGD(m.parameters(), lr=1.0).step();"
        "Adam(m.parameters(), lr=1.0).step(); assert (m.weight.data == before).all()",
        ("xor", "mlp_digits"),
    ),
}


@pytest.mark.parametrize("name", list(BREAKS))
def test_learning_tests_fail_on_broken_code(exported_project, name):
    cls, patch, check, must_fail = BREAKS[name]
    break_class(exported_project, cls, patch)
    probe(exported_project, f"from tinytorch.core.tensor import Tensor; import tinytorch.nn; {check}",
          problem=f"the patch {name!r} did not take effect")

    for milestone in must_fail:
        result, _ = run_learning_test(exported_project, milestone)
        # pytest's short traceback ends in "E   AssertionError: <why it did not learn>"
        assert_failed(result, "\nE   AssertionError: ")
