"""The tools of the honesty tests (DESIGN §2): export some modules into a project copy,
break its exported code on purpose, check that the break took effect, and run a
milestone's learning test there exactly as ``tito milestone run`` does.

    from honesty import assert_failed, break_backward, break_class, export_only, probe, run_learning_test
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tito.commands.milestone import learning_test_command, learning_test_env
from tito.exporter import export_module
from tito.project import is_generated, resolve_module
from tito.tracker import load_tracker

__all__ = ["assert_failed", "break_backward", "break_class", "export_only", "probe", "run_learning_test"]


def export_only(project, modules):
    """Export just these modules (``01``, ``tensor`` or ``01_tensor``) into the copy's ``tinytorch/``."""
    for module in modules:
        export_module(project, resolve_module(project, module), warn=lambda message: None)


def run_learning_test(project, milestone_id, timeout=600):
    """Run one milestone's learning test in ``project`` with tito's command and environment.

    Returns ``(process, metrics)``: the finished process (text output) and the metrics the
    test reported, or None where it stopped before reporting any (an import error)."""
    nodeid = load_tracker(project).nodeid(milestone_id)
    with tempfile.TemporaryDirectory(prefix="tinytorch-honesty-") as scratch:
        metrics_file = Path(scratch) / "metrics.json"
        result = subprocess.run(
            learning_test_command(nodeid), cwd=project, env=learning_test_env(project, metrics_file=metrics_file),
            capture_output=True, text=True, encoding="utf-8", timeout=timeout,
        )
        metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else None
    return result, metrics


def assert_failed(result, *expected):
    """The learning test ran and failed (pytest's exit 1 with one failed test, not a crash
    or a refusal), and its output says each of ``expected``; returns the output."""
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "1 failed" in output, output[-3000:]
    for text in expected:
        assert text in output, f"{text!r} is not in the output:\n{output[-3000:]}"
    return output


def break_class(project, name, patch):
    """Append ``patch`` to the one exported file of the copy that defines ``class name``;
    returns that file. Fails if no file (or more than one) defines it: the patch would not apply."""
    package = Path(project) / "tinytorch"
    targets = [path for path in sorted(package.rglob("*.py"))
               if is_generated(path) and re.search(rf"\nclass {name}[(:]", path.read_text(encoding="utf-8"))]
    assert len(targets) == 1, f"the exported files defining class {name}: {targets}; the patch would not apply"
    (path,) = targets
    path.write_text(path.read_text(encoding="utf-8") + f"\n\n# --- broken on purpose by a test ---\n{patch}\n",
                    encoding="utf-8")
    return path


ZERO_BACKWARD = '''
import numpy as _np


def _zero_backward(ctx, grad, _original={op}.backward):
    grads = _original(ctx, grad)
    grads = grads if isinstance(grads, tuple) else (grads,)
    return tuple(None if g is None else _np.zeros_like(g) for g in grads)


{op}.backward = staticmethod(_zero_backward)
'''


def break_backward(project, op):
    """Make the autograd Function ``op`` of the copy return all-zero gradients."""
    return break_class(project, op, ZERO_BACKWARD.format(op=op))


def probe(project, code, problem="the probe failed"):
    """Run ``python -c code`` in the copy with the learning test's environment; returns
    what it printed, as lines. Asserts that it ran (else says ``problem``) and that
    ``tinytorch`` was the copy's, so that a probe of a patched file probes the patch."""
    code += "\nimport pathlib, tinytorch\nprint(pathlib.Path(tinytorch.__file__).resolve())\n"
    result = subprocess.run([sys.executable, "-c", code], cwd=project, env=learning_test_env(project),
                            capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert result.returncode == 0, f"{problem}:\n{result.stderr[-3000:]}"
    *lines, where = result.stdout.splitlines()
    assert Path(where).is_relative_to(Path(project).resolve()), f"tinytorch came from {where}, not from the copy"
    return lines
