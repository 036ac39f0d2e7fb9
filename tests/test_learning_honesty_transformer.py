"""The transformer milestone's learning test can fail: broken attention gradients fail it.

A learning test that passes whatever the student wrote would be a defect. Here a copy of
the project gets an attention whose softmax passes no gradient back (so the queries and
keys never learn where to look); ``test_transformer_learning`` must then fail — and it
must pass on the same copy unpatched, so the failure is the patch's doing. Both runs go
through the same command and environment as ``tito milestone run transformer``.
"""

import json
import subprocess
import sys
from pathlib import Path

from tito.commands.milestone import learning_test_command, learning_test_env

LEARNING_TEST = "tests/milestones/test_learning_verification.py::test_transformer_learning"

# Appended to the copy's exported attention: the softmax's backward returns zeros.
BREAK_SOFTMAX_BACKWARD = """

# --- test_learning_honesty_transformer: attention's softmax passes no gradient back ---
SoftmaxOp.backward = staticmethod(lambda ctx, grad: np.zeros_like(grad))
"""

# Run in the copy: is the broken backward the one that attention really uses?
PROBE = """
import numpy as np
import tinytorch.nn.attention as attention
from tinytorch.core.tensor import Tensor
rng = np.random.default_rng(0)
q = Tensor(rng.normal(size=(1, 3, 2)), requires_grad=True)  # reaches the output only through the softmax
k, v = Tensor(rng.normal(size=(1, 3, 2))), Tensor(rng.normal(size=(1, 3, 2)))
(attention.scaled_dot_product_attention(q, k, v) * Tensor(rng.normal(size=(1, 3, 2)))).sum().backward()
print(attention.__file__)
print("zero" if not np.any(q.grad.data) else "nonzero")
"""


def _attention_file(project):
    path = project / "tinytorch" / "nn" / "attention.py"
    assert path.is_file(), "the exported_project copy lacks tinytorch/nn/attention.py: run `tito module complete 07`"
    return path


def _run_learning_test(project, tmp_path):
    metrics_file = tmp_path / "metrics.json"
    env = learning_test_env(project, metrics_file=metrics_file)
    result = subprocess.run(
        learning_test_command(LEARNING_TEST), cwd=project, env=env,
        capture_output=True, text=True, encoding="utf-8", timeout=600,
    )
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
    return result, metrics


def test_transformer_learning_passes_on_the_reference(exported_project, tmp_path):
    _attention_file(exported_project)
    result, metrics = _run_learning_test(exported_project, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert metrics["accuracy"] >= 0.95 and metrics["loss_drop"] >= 0.5


def test_transformer_learning_fails_when_attention_backward_is_broken(exported_project, tmp_path):
    path = _attention_file(exported_project)
    path.write_text(path.read_text(encoding="utf-8") + BREAK_SOFTMAX_BACKWARD, encoding="utf-8")

    probe = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=exported_project, env=learning_test_env(exported_project),
        capture_output=True, text=True, encoding="utf-8", timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    where, verdict = probe.stdout.split()
    assert Path(where).resolve() == path.resolve(), f"the copy's attention was not the one imported: {where}"
    assert verdict == "zero", "the patch did not take: attention still passes gradients to its queries"

    result, metrics = _run_learning_test(exported_project, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "1 failed" in output, output  # a failed assertion, not a crash
    assert "attention's q_proj weights received no gradient" in output, output
    assert metrics["accuracy"] < 0.95, f"it still reversed {metrics['accuracy']:.0%} of tokens"
