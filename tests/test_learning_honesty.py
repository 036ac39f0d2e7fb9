"""Honesty of the learning tests (DESIGN §2): with exactly a milestone's required modules
exported its test passes; with one of them missing or broken it fails.

Each case runs the learning test exactly as ``tito milestone run`` does (same command,
same environment: the project copy first on the path, ``tinytorch`` only from the copy)
in a temp copy of the project.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tito.commands.milestone import learning_test_command, learning_test_env
from tito.exporter import export_module
from tito.project import resolve_module
from tito.tracker import load_tracker

REPO_ROOT = Path(__file__).resolve().parents[1]
PERCEPTRON_MODULES = ["00_setup", "01_tensor", "02_autograd"]


def export_only(project, modules):
    for module in modules:
        export_module(project, resolve_module(project, module), warn=lambda message: None)


def run_learning_test(project, milestone_id, tmp_path):
    """Run one milestone's learning test in ``project``; returns (process, metrics or None)."""
    metrics_file = tmp_path / f"{milestone_id}-metrics.json"
    nodeid = load_tracker(project).nodeid(milestone_id)
    result = subprocess.run(
        learning_test_command(nodeid), cwd=project, env=learning_test_env(project, metrics_file=metrics_file),
        capture_output=True, text=True, encoding="utf-8", timeout=300,
    )
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.exists() else None
    return result, metrics


BREAK_BACKWARD = '''

# --- broken on purpose by tests/test_learning_honesty.py: {op}'s gradients are zeros ---
import numpy as _np


def _zero_backward(ctx, grad, _original={op}.backward):
    grads = _original(ctx, grad)
    grads = grads if isinstance(grads, tuple) else (grads,)
    return tuple(None if g is None else _np.zeros_like(g) for g in grads)


{op}.backward = staticmethod(_zero_backward)
'''


def break_backward(project, relpath, op):
    """Make ``op``'s backward (a Function in the generated file ``relpath``) return zeros."""
    path = project / relpath
    text = path.read_text(encoding="utf-8")
    assert f"class {op}(" in text, f"{relpath} defines no {op}: the patch would not apply"
    path.write_text(text + BREAK_BACKWARD.format(op=op), encoding="utf-8")


def matmul_gradient_sizes(project):
    """(file autograd was loaded from, |grad a|, |grad b|) for a matmul in ``project``."""
    probe = (
        "import numpy as np, tinytorch.core.autograd as ag\n"
        "from tinytorch.core.tensor import Tensor\n"
        "a = Tensor(np.ones((2, 3)), requires_grad=True); b = Tensor(np.ones((3, 1)), requires_grad=True)\n"
        "(a @ b).sum().backward()\n"
        "print(ag.__file__); print(float(np.abs(a.grad.data).sum())); print(float(np.abs(b.grad.data).sum()))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=project, env=learning_test_env(project),
                            capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert result.returncode == 0, result.stderr
    where, grad_a, grad_b = result.stdout.split()
    return where, float(grad_a), float(grad_b)


def test_perceptron_passes_with_exactly_its_modules(project, tmp_path):
    export_only(project, PERCEPTRON_MODULES)
    assert not (project / "tinytorch" / "nn" / "modules.py").exists()
    result, metrics = run_learning_test(project, "perceptron", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert metrics["milestone"] == "perceptron"
    assert metrics["accuracy"] >= 0.95 and metrics["loss_drop"] >= 0.5


def test_perceptron_fails_when_matmul_backward_returns_zeros(exported_project, tmp_path):
    where, grad_a, grad_b = matmul_gradient_sizes(exported_project)
    assert grad_a > 0 and grad_b > 0  # the intact copy differentiates matmul
    break_backward(exported_project, "tinytorch/core/autograd.py", "MatMulOp")
    where, grad_a, grad_b = matmul_gradient_sizes(exported_project)
    assert where.startswith(str(exported_project)), where
    assert grad_a == 0 and grad_b == 0, "the patch did not break matmul's backward"

    result, metrics = run_learning_test(exported_project, "perceptron", tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 failed" in output
    assert "AssertionError: The loss did not fall enough" in output
    assert metrics is not None and metrics["milestone"] == "perceptron"


def test_perceptron_fails_without_autograd(project, tmp_path):
    export_only(project, ["00_setup", "01_tensor"])
    result, metrics = run_learning_test(project, "perceptron", tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "tinytorch.core.autograd" in output
    assert metrics is None



# -- the shared harness (tests/milestones/learning_checks.py) must fail bad runs -----------------
def _harness():
    import importlib.util

    path = REPO_ROOT / "tests" / "milestones" / "learning_checks.py"
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


def test_learning_run_reports_progress_and_metrics(tmp_path, monkeypatch):
    progress, metrics = tmp_path / "progress.jsonl", tmp_path / "metrics.json"
    monkeypatch.setenv("TINYTORCH_PROGRESS_FILE", str(progress))
    monkeypatch.setenv("TINYTORCH_METRICS_FILE", str(metrics))
    checks = _harness()
    run = checks.LearningRun("xor", epochs=3)
    for epoch, loss in enumerate([np.float32(0.8), 0.4, Param(0.2).data], start=1):
        run.step(epoch, loss, accuracy=np.float64(epoch / 4))
    result = run.finish(accuracy=1.0, required={"accuracy": 1.0})
    lines = [json.loads(line) for line in progress.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == {"epoch": 1, "epochs": 3, "loss": pytest.approx(0.8), "accuracy": 0.25}
    assert [line["epoch"] for line in lines] == [1, 2, 3]
    written = json.loads(metrics.read_text(encoding="utf-8"))
    assert written == result
    assert written["milestone"] == "xor" and written["epochs"] == 3
    assert written["initial_loss"] == pytest.approx(0.8) and written["final_loss"] == pytest.approx(0.2)
    assert written["loss_drop"] == pytest.approx(0.75)
    assert written["required"] == {"accuracy": 1.0}
    assert run.losses == pytest.approx([0.8, 0.4, 0.2])


def test_learning_run_without_tito_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYTORCH_PROGRESS_FILE", raising=False)
    monkeypatch.delenv("TINYTORCH_METRICS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    run = _harness().LearningRun("perceptron", epochs=1)
    run.step(1, 0.5)
    assert run.finish()["final_loss"] == 0.5
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(AssertionError, match="before any step"):
        _harness().LearningRun("perceptron", epochs=1).finish()
