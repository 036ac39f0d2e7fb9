"""The tools of the honesty tests (DESIGN §2): export some modules into a project copy,
break its exported code on purpose, check that the break took effect, and run a
milestone's learning test there exactly as ``tito milestone run`` does.

    from honesty import assert_failed, break_backward, break_class, export_only, probe, run_learning_test
"""

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tito.exporter import export_module, generated_source
from tito.learning_run import run_learning_test as run_sealed_learning_test
from tito.project import is_generated, resolve_module
from tito.tracker import load_tracker

from conftest import project_env

__all__ = ["assert_failed", "break_backward", "break_class", "export_only", "inject", "probe", "run_learning_test"]


def export_only(project, modules):
    """Export just these modules (``01``, ``tensor`` or ``01_tensor``) into the copy's ``tinytorch/``."""
    for module in modules:
        export_module(project, resolve_module(project, module), warn=lambda message: None)


@dataclass
class LearningResult:
    """A milestone run's verdict as the honesty tests read it."""

    passed: bool
    failed_test: bool  # the learning test ran and failed (not a crash, a refusal or an import error)
    reason: str
    output: str  # the reason, the test's failure report and pytest's output
    verdict: object


def run_learning_test(project, milestone_id, timeout=600):
    """Run one milestone's learning test in ``project`` exactly as ``tito milestone run`` does
    (sealed, verdict by tito). Returns ``(result, metrics)``: a :class:`LearningResult`, and the
    metrics the test reported, or None where it stopped before reporting any (an import error)."""
    verdict = run_sealed_learning_test(project, load_tracker(project), milestone_id, timeout=timeout)
    output = "\n".join([verdict.reason, verdict.failure, verdict.output])
    result = LearningResult(verdict.passed, verdict.failed_test, verdict.reason, output, verdict)
    return result, (verdict.metrics or None)


def assert_failed(result, *expected):
    """The learning test ran and failed (a failed test, not a crash or a refusal), and the
    report says each of ``expected``; returns the output."""
    assert not result.passed and result.failed_test, result.output[-3000:]
    for text in expected:
        assert text in result.output, f"{text!r} is not in the output:\n{result.output[-3000:]}"
    return result.output


def inject(project, module, code, target=None):
    """Add ``code`` where a student would: as an exported cell at the end of the module's source
    (into ``target``, default the module's own file), then re-export that module without its
    tests, as if they had not caught it. Returns the module's info."""
    info = resolve_module(project, module)
    directive = f"#| export {target}" if target else "#| export"
    info.source.write_text(info.source.read_text(encoding="utf-8")
                           + f"\n\n# %%\n{directive}\n# --- added on purpose by a test ---\n{code}\n",
                           encoding="utf-8")
    export_module(project, info, warn=lambda message: None)
    return info


def break_class(project, name, patch):
    """Break the copy's code in the module source that defines ``class name`` (the patch goes
    into the same package file, see :func:`inject`). Returns the exported file. Fails if no
    file (or more than one) defines the class: the patch would not apply."""
    project = Path(project)
    package = project / "tinytorch"
    targets = [path for path in sorted(package.rglob("*.py"))
               if is_generated(path) and re.search(rf"\nclass {name}[(:]", path.read_text(encoding="utf-8"))]
    assert len(targets) == 1, f"the exported files defining class {name}: {targets}; the patch would not apply"
    (path,) = targets
    module_id = Path(generated_source(path)).parent.name
    inject(project, module_id, patch, target=".".join(path.relative_to(package).with_suffix("").parts))
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
    result = subprocess.run([sys.executable, "-c", code], cwd=project, env=project_env(project),
                            capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert result.returncode == 0, f"{problem}:\n{result.stderr[-3000:]}"
    *lines, where = result.stdout.splitlines()
    assert Path(where).is_relative_to(Path(project).resolve()), f"tinytorch came from {where}, not from the copy"
    return lines
