"""Honesty of the learning tests (DESIGN §2): the perceptron's test fails when matmul's
backward is broken, and the shared harness (tests/milestones/learning_checks.py) fails
bad runs. Every milestone's pass with exactly its modules and failure with one missing
or unsolved is in test_milestone_honesty.py; the tools are in honesty.py.
"""

import json
import sys

import numpy as np
import pytest

from conftest import REPO
from honesty import assert_failed, break_backward, probe, run_learning_test

# Run in the copy: the sizes of a matmul's two input gradients.
MATMUL_GRADIENTS = """
import numpy as np
from tinytorch.core.tensor import Tensor
a = Tensor(np.ones((2, 3)), requires_grad=True); b = Tensor(np.ones((3, 1)), requires_grad=True)
(a @ b).sum().backward()
print(float(np.abs(a.grad.data).sum())); print(float(np.abs(b.grad.data).sum()))
"""


def test_perceptron_fails_when_matmul_backward_returns_zeros(exported_project):
    grad_a, grad_b = map(float, probe(exported_project, MATMUL_GRADIENTS))
    assert grad_a > 0 and grad_b > 0  # the intact copy differentiates matmul
    break_backward(exported_project, "MatMulOp")
    grad_a, grad_b = map(float, probe(exported_project, MATMUL_GRADIENTS))
    assert grad_a == 0 and grad_b == 0, "the patch did not break matmul's backward"

    result, metrics = run_learning_test(exported_project, "perceptron")
    assert_failed(result, "AssertionError: The loss did not fall enough")
    assert metrics is not None and metrics["milestone"] == "perceptron"


# -- the shared harness (tests/milestones/learning_checks.py) must fail bad runs -----------------
def _harness():
    import importlib.util

    folder = str(REPO / "tests" / "milestones")
    if folder not in sys.path:  # learning_checks imports the tracker beside it
        sys.path.insert(0, folder)
    path = REPO / "tests" / "milestones" / "learning_checks.py"
    spec = importlib.util.spec_from_file_location("_learning_checks_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Param:
    def __init__(self, data, grad=None):
        self.data = np.asarray(data, dtype=np.float32)
        self.grad = None if grad is None else Param(grad)


def _trained():
    """Two parameters that changed and got gradients, and their snapshots."""
    checks = _harness()
    params = [Param([[1.0, 2.0]]), Param([0.5])]
    before = checks.snapshot(params)
    for p in params:
        p.data += 0.1
        p.grad = Param(np.ones_like(p.data))
    return checks, params, before


def test_assert_learned_passes_a_real_run():
    checks, params, before = _trained()
    checks.assert_learned([1.0, 0.6, 0.4], params, before)
    checks.assert_learned([1.0, 0.6, 0.4], {"w": params[0], "b": params[1]}, before)


@pytest.mark.parametrize("spoil, message", [
    (lambda losses, params: losses.__setitem__(-1, 0.6), "did not fall enough"),
    (lambda losses, params: losses.__setitem__(-1, float("nan")), "not finite"),
    (lambda losses, params: losses.clear(), "No losses"),
    (lambda losses, params: setattr(params[1], "grad", None), "received no gradient"),
    (lambda losses, params: setattr(params[0], "grad", Param([[0.0, 0.0]])), "all-zero gradient"),
    (lambda losses, params: setattr(params[0], "grad", Param([[np.inf, 0.0]])), "not finite"),
    (lambda losses, params: params[1].data.__isub__(0.1), "did not change"),
    (lambda losses, params: params.pop(), "snapshots"),
])
def test_assert_learned_fails_a_bad_run(spoil, message):
    checks, params, before = _trained()
    losses = [1.0, 0.7, 0.4]
    spoil(losses, params)
    with pytest.raises(AssertionError, match=message):
        checks.assert_learned(losses, params, before)


def test_min_drop_is_the_bar():
    checks, params, before = _trained()
    checks.assert_learned([1.0, 0.85], params, before, min_drop=0.1)
    with pytest.raises(AssertionError, match="at least 20 %"):
        checks.assert_learned([1.0, 0.85], params, before, min_drop=0.2)


class FakePlugin:
    """Stands in for tito's sealed pytest plugin (``_tito_seal``): records what is sent."""

    def __init__(self):
        self.events = []

    def send(self, event, **fields):
        self.events.append({"event": event, **fields})


def test_learning_run_reports_progress_metrics_and_its_end(monkeypatch):
    plugin = FakePlugin()
    monkeypatch.setitem(sys.modules, "_tito_seal", plugin)
    checks = _harness()
    run = checks.LearningRun("xor", epochs=3)
    for epoch, loss in enumerate([np.float32(0.8), 0.4, Param(0.05).data], start=1):
        run.step(epoch, loss, accuracy=np.float64(epoch / 4))
    result = run.finish(accuracy=1.0)
    epochs = [e for e in plugin.events if e["event"] == "epoch"]
    assert epochs[0] == {"event": "epoch", "epoch": 1, "epochs": 3, "loss": pytest.approx(0.8), "accuracy": 0.25}
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    (reported,) = [e["metrics"] for e in plugin.events if e["event"] == "metrics"]
    assert reported == result and json.loads(json.dumps(reported)) == reported
    assert reported["milestone"] == "xor" and reported["epochs"] == 3
    assert reported["initial_loss"] == pytest.approx(0.8) and reported["final_loss"] == pytest.approx(0.05)
    assert reported["loss_drop"] == pytest.approx(1 - 0.05 / 0.8)
    assert reported["required"]["accuracy"] == [">=", 1.0], "the bars come from the tracker"
    assert run.losses == pytest.approx([0.8, 0.4, 0.05])
    run.assert_required()
    assert not [e for e in plugin.events if e["event"] == "finished"], "finished only when the test says so"
    run.complete()
    assert plugin.events[-1] == {"event": "finished", "milestone": "xor"}


@pytest.mark.parametrize("metrics, message", [
    ({"accuracy": 0.75}, "accuracy 0.75 does not meet the bar"),
    ({}, "accuracy was not reported"),
])
def test_assert_required_fails_a_missed_bar(metrics, message):
    run = _harness().LearningRun("xor", epochs=2)
    run.step(1, 1.0)
    run.step(2, 0.05)
    run.finish(**metrics)
    with pytest.raises(AssertionError, match=message):
        run.assert_required()


def test_learning_run_without_tito_sends_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "_tito_seal", raising=False)
    monkeypatch.chdir(tmp_path)
    run = _harness().LearningRun("perceptron", epochs=1)
    run.step(1, 0.5)
    assert run.finish()["final_loss"] == 0.5
    run.complete()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(AssertionError, match="before any step"):
        _harness().LearningRun("perceptron", epochs=1).finish()


def test_metrics_are_computed_from_raw_outputs():
    checks = _harness()
    logits = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 0.0]])
    labels = np.array([0, 1, 1])
    assert checks.accuracy(logits, labels) == pytest.approx(2 / 3)
    expected = -np.mean([np.log(np.exp(2) / (np.exp(2) + 1)), np.log(np.exp(3) / (np.exp(3) + 1)),
                         np.log(1 / (np.e + 1))])
    assert checks.cross_entropy(Param(logits), labels) == pytest.approx(expected, rel=1e-6)
    assert checks.binary_cross_entropy(np.array([0.9, 0.2]), [1, 0]) == pytest.approx(-np.mean(np.log([0.9, 0.8])))
    (x_train, y_train), (x_test, y_test) = checks.load_tinydigits_arrays()
    assert x_train.shape[1:] == (8, 8) and x_train.dtype == np.float32 and y_test.dtype == np.int64
    assert len(x_test) == 359
