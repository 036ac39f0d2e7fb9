"""The xor and mlp_digits learning tests can fail: they catch broken student code.

Each case copies the project with every module exported, breaks one thing in the
*exported* package (as a student's bug would), checks that the break took effect, and
runs the two milestone tests in a subprocess against that copy. They must pass on the
intact copy and fail, with an assertion (not an import error), on the broken one.
"""

import os
import subprocess
import sys
from xml.etree import ElementTree

import pytest

TESTS = {"xor": "test_xor_learning", "mlp_digits": "test_mlp_digits_learning"}

# name -> (file to patch: the one that defines this class, lines appended to it,
#          a check that the break is live, the milestones that must fail)
BREAKS = {
    "relu_backward_returns_zeros": (
        "class ReLUOp(",
        "ReLUOp.backward = staticmethod(lambda ctx, grad: grad * 0.0)",
        "x = Tensor([2.0, -1.0], requires_grad=True); x.relu().sum().backward();"
        "assert x.grad is None or not x.grad.data.any()",
        ("xor", "mlp_digits"),
    ),
    "relu_backward_forgets_the_mask": (
        "class ReLUOp(",
        "ReLUOp.backward = staticmethod(lambda ctx, grad: grad)",
        "x = Tensor([2.0, -1.0], requires_grad=True); x.relu().sum().backward();"
        "assert x.grad.data.tolist() == [1.0, 1.0]",
        ("xor",),  # a linear gradient still trains a digit classifier; XOR needs the real one
    ),
    "optimizer_step_does_nothing": (
        "class SGD(",
        "SGD.step = lambda self: None\nfrom tinytorch.optim.adam import Adam\nAdam.step = lambda self: None",
        "from tinytorch.optim.sgd import SGD; from tinytorch.optim.adam import Adam;"
        "from tinytorch.nn.modules import Linear; m = Linear(2, 1); before = m.weight.data.copy();"
        "m(Tensor([[1.0, 2.0]])).sum().backward(); SGD(m.parameters(), lr=1.0).step();"
        "Adam(m.parameters(), lr=1.0).step(); assert (m.weight.data == before).all()",
        ("xor", "mlp_digits"),
    ),
}


def _env(project):
    env = dict(os.environ, PYTHONPATH=str(project), PYTHONIOENCODING="utf-8")
    for key in ("TINYTORCH_PROGRESS_FILE", "TINYTORCH_METRICS_FILE", "TINYTORCH_DATA"):
        env.pop(key, None)
    return env


def _python(project, code):
    return subprocess.run([sys.executable, "-c", code], cwd=project, env=_env(project),
                          capture_output=True, text=True, timeout=120)


def _run_milestones(project):
    """Run both learning tests in the copy; returns {milestone: 'passed' | 'failure: <message>'}."""
    report = project / "milestones.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", f"--junitxml={report}",
         "tests/milestones/test_learning_verification.py", "-k", " or ".join(TESTS.values())],
        cwd=project, env=_env(project), capture_output=True, text=True, timeout=300,
    )
    assert report.is_file(), f"pytest did not run:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}"
    cases = {case.get("name"): case for case in ElementTree.parse(report).iter("testcase")}
    outcome = {}
    for milestone, test in TESTS.items():
        assert test in cases, f"{test} did not run:\n{result.stdout[-3000:]}"
        problem = cases[test].find("failure")
        if problem is None:
            problem = cases[test].find("error")
        if cases[test].find("skipped") is not None:
            outcome[milestone] = "skipped"
        else:
            outcome[milestone] = "passed" if problem is None else f"{problem.tag}: {problem.get('message')}"
    return outcome


def _uses_the_copy(project):
    check = _python(project, "import tinytorch, pathlib; print(pathlib.Path(tinytorch.__file__).resolve())")
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().startswith(str(project.resolve())), check.stdout


def test_learning_tests_pass_on_the_intact_copy(exported_project):
    _uses_the_copy(exported_project)
    assert _run_milestones(exported_project) == {"xor": "passed", "mlp_digits": "passed"}


def test_xor_needs_only_modules_00_to_03(exported_project):
    """The honesty rule: xor imports nothing from 04 onwards, so it runs right after 03."""
    from tito.exporter import remove_exports
    from tito.project import discover_modules

    for info in discover_modules(exported_project):
        if int(info.number) >= 4:
            remove_exports(exported_project, info)
    assert not (exported_project / "tinytorch" / "optim" / "adam.py").exists()
    outcome = _run_milestones(exported_project)
    assert outcome["xor"] == "passed", outcome["xor"]
    assert outcome["mlp_digits"] != "passed", "mlp_digits cannot run without module 04"


@pytest.mark.parametrize("name", list(BREAKS))
def test_learning_tests_fail_on_broken_code(exported_project, name):
    marker, patch, check, must_fail = BREAKS[name]
    _uses_the_copy(exported_project)
    targets = [p for p in (exported_project / "tinytorch").rglob("*.py") if marker in p.read_text(encoding="utf-8")]
    assert len(targets) == 1, f"{marker!r} is defined in {targets}"
    target = targets[0]
    target.write_text(target.read_text(encoding="utf-8") + f"\n\n# test patch: {name}\n{patch}\n", encoding="utf-8")

    live = _python(exported_project, f"from tinytorch.core.tensor import Tensor; import tinytorch.nn; {check}")
    assert live.returncode == 0, f"the patch {name!r} did not take effect:\n{live.stderr}"

    outcome = _run_milestones(exported_project)
    for milestone in must_fail:
        assert outcome[milestone] != "passed", f"{milestone} passed although {name}"
        assert outcome[milestone].startswith("failure: AssertionError"), (
            f"{milestone} must fail on an assertion about learning, not crash: {outcome[milestone]}"
        )
