"""The cnn milestone's learning test is honest (DESIGN §2): it passes with exactly modules
00–05 exported, and fails when 05_spatial is missing or when the convolution's filters
get no gradient.

The broken case matters most: a network whose convolution weights never learn still
has a trainable `Linear` head (and conv biases) on top of fixed random filters, which
can look like learning. ``test_cnn_learning`` must catch it. Every run goes through the
same command and environment as ``tito milestone run cnn``, in a temp copy of the project.
"""

import json
import subprocess
import sys

from tito.commands.milestone import learning_test_command, learning_test_env
from tito.exporter import export_module
from tito.project import resolve_module

LEARNING_TEST = "tests/milestones/test_learning_verification.py::test_cnn_learning"
CNN_MODULES = ["00_setup", "01_tensor", "02_autograd", "03_nn", "04_training", "05_spatial"]

# Appended to the copy's exported tinytorch/nn/spatial.py: Conv2dOp still computes the
# input and bias gradients, but its weight gradient is all zeros.
BREAK_WEIGHT_GRAD = """

# --- broken on purpose by tests/test_learning_honesty_cnn.py: conv weight gradients are zeros ---
def _zero_weight_grad(ctx, grad, _original=Conv2dOp.backward):
    grad_x, grad_weight, grad_bias = _original(ctx, grad)
    return grad_x, np.zeros_like(grad_weight), grad_bias


Conv2dOp.backward = staticmethod(_zero_weight_grad)
"""

# Run in the copy: which spatial.py is loaded, and are the weight and bias gradients zero?
PROBE = """
import numpy as np
import tinytorch.nn.spatial as spatial
from tinytorch.core.tensor import Tensor
np.random.seed(0)
conv = spatial.Conv2d(1, 2, 3, padding=1)
(conv(Tensor(np.random.rand(2, 1, 5, 5))) * Tensor(np.random.rand(2, 2, 5, 5))).sum().backward()
print(spatial.__file__)
print("zero" if not np.any(conv.weight.grad.data) else "nonzero")
print("zero" if not np.any(conv.bias.grad.data) else "nonzero")
"""


def _run(project, tmp_path, code=None):
    """Run the cnn learning test (or ``code`` with python -c) in ``project`` as tito does."""
    metrics_file = tmp_path / "metrics.json"
    command = learning_test_command(LEARNING_TEST) if code is None else [sys.executable, "-c", code]
    result = subprocess.run(
        command, cwd=project, env=learning_test_env(project, metrics_file=metrics_file),
        capture_output=True, text=True, encoding="utf-8", timeout=300,
    )
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.exists() else None
    return result, metrics


def _export_only(project, modules):
    for module in modules:
        export_module(project, resolve_module(project, module), warn=lambda message: None)


def test_cnn_learning_passes_with_exactly_its_modules(project, tmp_path):
    _export_only(project, CNN_MODULES)
    assert not (project / "tinytorch" / "nn" / "attention.py").exists()  # 06-08 not exported
    result, metrics = _run(project, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert metrics["milestone"] == "cnn"
    assert metrics["accuracy"] >= 0.95 and metrics["loss_drop"] >= 0.5


def test_cnn_learning_fails_without_spatial(project, tmp_path):
    _export_only(project, CNN_MODULES[:-1])
    result, _ = _run(project, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 failed" in output and "tinytorch.nn.spatial" in output


def test_cnn_learning_fails_when_conv_weight_gradient_is_zero(exported_project, tmp_path):
    spatial = exported_project / "tinytorch" / "nn" / "spatial.py"
    text = spatial.read_text(encoding="utf-8")
    assert "class Conv2dOp(" in text, "the exported spatial.py defines no Conv2dOp: the patch would not apply"

    probe, _ = _run(exported_project, tmp_path, PROBE)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split()[1:] == ["nonzero", "nonzero"], probe.stdout  # intact copy

    spatial.write_text(text + BREAK_WEIGHT_GRAD, encoding="utf-8")
    probe, _ = _run(exported_project, tmp_path, PROBE)
    assert probe.returncode == 0, probe.stderr
    where, weight, bias = probe.stdout.split()
    assert where.startswith(str(exported_project)), where
    assert (weight, bias) == ("zero", "nonzero"), "the patch did not break exactly the weight gradient"

    result, metrics = _run(exported_project, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 failed" in output
    assert "AssertionError" in output and "all-zero gradient" in output, output
    assert metrics is not None and metrics["milestone"] == "cnn"  # it trained, then was judged
