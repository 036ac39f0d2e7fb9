"""Milestone integrity: "complete" only when the learning test really ran and passed, on this
project's current, untampered code. Each test below tries one way a student's code (or a
student) could get a false "complete", and shows it is refused with a clear message; the
honest runs beside them still complete.

Every run is the real ``tito`` in a subprocess, in a project copy, with a temp TINYTORCH_HOME.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tito.exporter import export_module
from tito.project import resolve_module

from conftest import REPO, cli_env, milestone_progress, run_tracker_script
from honesty import ZERO_BACKWARD, inject

CORE = ["00_setup", "01_tensor", "02_autograd"]


# -- fixtures: a student copy with 00-02 written (the reference solutions pasted in) ------------
@pytest.fixture(scope="module")
def solved(released, tmp_path_factory):
    """The student copy with 00-02 written and exported (the tests are run per test, not here)."""
    copy = tmp_path_factory.mktemp("solved") / "course"
    shutil.copytree(released, copy)
    for module_id in CORE:
        info = resolve_module(REPO, module_id)
        (copy / info.source.relative_to(REPO)).write_text(info.source.read_text(encoding="utf-8"), encoding="utf-8")
        export_module(copy, resolve_module(copy, module_id), warn=lambda message: None)
    return copy


@pytest.fixture
def student(solved, tmp_path, _isolated_home):
    """A fresh student copy with 00-02 exported and recorded complete: the perceptron is unlocked."""
    copy = tmp_path / "student"
    shutil.copytree(solved, copy)
    result = run_tracker_script("complete", *CORE, cwd=copy, home=_isolated_home)
    assert result.returncode == 0, result.stderr
    return copy


@pytest.fixture
def course(exported_project, _isolated_home):
    """A copy of the course repository itself (no manifest), 00-02 recorded complete."""
    result = run_tracker_script("complete", *CORE, cwd=exported_project, home=_isolated_home)
    assert result.returncode == 0, result.stderr
    return exported_project


def run_json(tito, *args, cwd):
    result = tito(*args, "--json", cwd=cwd)
    try:
        return result, json.loads(result.stdout)
    except ValueError:
        raise AssertionError(f"not one JSON document on stdout:\n{result.stdout}\n{result.stderr}") from None


def assert_not_completed(home, project, result, data, *expected):
    """The run failed, said why, and nothing was recorded as complete."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert data["passed"] is False
    text = json.dumps(data) + result.stderr
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in:\n{text[-4000:]}"
    assert "MILESTONE COMPLETED" not in result.stdout + result.stderr
    section = milestone_progress(home, project)
    assert section is None or "perceptron" not in section["completed_milestones"]


def test_an_honest_student_copy_completes_the_perceptron(tito, student, _isolated_home):
    result, data = run_json(tito, "milestone", "run", "perceptron", cwd=student)
    assert result.returncode == 0, result.stdout + result.stderr
    assert data["passed"] is True and data["tampered"] == [] and data["reason"] is None
    assert data["metrics"]["accuracy"] >= 0.95
    section = milestone_progress(_isolated_home, student)
    assert section["completed_milestones"] == ["perceptron"]
    (run,) = section["runs"]["perceptron"]
    assert run["passed"] and run["root"] == str(student.resolve())


# -- 1. the verdict is tito's, not pytest's exit code -----------------------------------------
TRAINING_CHEATS = {
    "os._exit": ("import os\n_calls = [0]\n_original = Tensor.backward\n"
                 "def _backward(self, *args, **kwargs):\n    _calls[0] += 1\n    if _calls[0] == 5:\n"
                 "        os._exit(0)\n    return _original(self, *args, **kwargs)\nTensor.backward = _backward\n",
                 ["pytest ended early: os._exit(0) called from tinytorch/core/autograd.py:"]),
    "pytest.exit": ("import pytest\n_original = Tensor.backward\n"
                    "def _backward(self, *args, **kwargs):\n    pytest.exit('done', returncode=0)\n"
                    "Tensor.backward = _backward\n",
                    ["pytest ended early: pytest.exit at tinytorch/core/autograd.py:"]),
    "skip": ("import pytest\n_original = Tensor.backward\n"
             "def _backward(self, *args, **kwargs):\n    pytest.skip('nothing to see')\n"
             "Tensor.backward = _backward\n",
             ["the learning test was skipped at tinytorch/core/autograd.py:", "nothing to see"]),
    "xfail": ("import pytest\n_original = Tensor.backward\n"
              "def _backward(self, *args, **kwargs):\n    pytest.xfail('expected')\n"
              "Tensor.backward = _backward\n",
              ["xfail"]),
    "KeyboardInterrupt": ("def _backward(self, *args, **kwargs):\n    raise KeyboardInterrupt\n"
                          "Tensor.backward = _backward\n",
                          ["pytest ended early: KeyboardInterrupt"]),
    "sys.exit": ("import sys\ndef _backward(self, *args, **kwargs):\n    sys.exit(0)\n"
                 "Tensor.backward = _backward\n",
                 ["SystemExit"]),
    "skip-at-import": ("import pytest\npytest.skip('nothing to see', allow_module_level=True)\n",
                       ["the learning test was skipped at tinytorch/core/autograd.py:"]),
    "os._exit-at-import": ("import os\nos._exit(0)\n",
                           ["pytest ended early: os._exit(0) called from tinytorch/core/autograd.py:"]),
    "patched-pytest-reports": (
        # Rewrites every report to "passed" and breaks the gradients: the test fails for real.
        "import _pytest.reports as _reports\n_made = _reports.TestReport.from_item_and_call\n"
        "def _passed(item, call):\n    report = _made(item, call)\n    report.outcome, report.longrepr = 'passed', None\n"
        "    return report\n_reports.TestReport.from_item_and_call = staticmethod(_passed)\n"
        + ZERO_BACKWARD.format(op="MatMulOp"),
        ["did not return normally"]),
}


@pytest.mark.parametrize("cheat", TRAINING_CHEATS, ids=list(TRAINING_CHEATS))
def test_student_code_cannot_end_or_skip_its_way_to_complete(tito, student, _isolated_home, cheat):
    code, expected = TRAINING_CHEATS[cheat]
    inject(student, "02_autograd", code)
    result, data = run_json(tito, "milestone", "run", "perceptron", cwd=student)
    assert_not_completed(_isolated_home, student, result, data, *expected)
    (run,) = milestone_progress(_isolated_home, student)["runs"]["perceptron"]
    assert run["passed"] is False and run["reason"], "the failed run is recorded, with why"


def test_a_missed_bar_is_a_failure_even_when_the_test_asserts_nothing(tito, course, _isolated_home):
    # In the course repository (no manifest) an instructor may edit a test; tito still checks
    # the tracker's bars itself: a test that no longer asserts cannot pass a network that
    # did not learn.
    test_file = course / "tests" / "milestones" / "test_learning_verification.py"
    text = test_file.read_text(encoding="utf-8")
    perceptron = text.split("def test_xor_learning")[0]
    gutted = (perceptron.replace("epochs, lr, eps = 40, 0.5, 1e-7", "epochs, lr, eps = 2, 0.0001, 1e-7")
              .replace("    assert_learned(run.losses, params, before, min_drop=0.5)\n", "")
              .replace("    assert acc >= 0.95,", "    assert True,")
              .replace("    run.assert_required()\n", ""))
    assert gutted != perceptron
    test_file.write_text(gutted + "def test_xor_learning" + text.split("def test_xor_learning")[1], encoding="utf-8")
    result, data = run_json(tito, "milestone", "run", "perceptron", cwd=course)
    assert_not_completed(_isolated_home, course, result, data, "the metrics miss the milestone's bars", "accuracy")
    human = tito("milestone", "run", "perceptron", cwd=course)
    assert "❌" in next(line for line in human.stdout.splitlines() if line.startswith("│ accuracy"))


# -- 2. nothing on pytest's path is obeyed; protected files are checked --------------------------
PASSING_CONFTEST = '''
import pytest

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report.outcome, report.longrepr = "passed", None
    return report
'''


@pytest.mark.parametrize("place", [".", "tests/milestones", "modules/02_autograd", "tests"])
def test_a_planted_conftest_is_never_loaded(tito, course, _isolated_home, place):
    (course / place / "conftest.py").write_text(PASSING_CONFTEST, encoding="utf-8")
    (course / "pytest.ini").write_text("[pytest]\naddopts = -p no:nothing\n", encoding="utf-8")
    inject(course, "02_autograd", ZERO_BACKWARD.format(op="MatMulOp"))
    result, data = run_json(tito, "milestone", "run", "perceptron", cwd=course)
    assert_not_completed(_isolated_home, course, result, data, "The loss did not fall enough")


def test_a_package_named_like_the_learning_test_is_never_run(tito, course, _isolated_home):
    """tito names the learning test as a module of its folder (--pyargs); a package of that
    name beside it, with a test that passes at once, is not what runs."""
    package = course / "tests" / "milestones" / "test_learning_verification"
    package.mkdir()
    (package / "__init__.py").write_text("def test_perceptron_learning():\n    pass\n", encoding="utf-8")
    result, data = run_json(tito, "milestone", "run", "perceptron", cwd=course)
    assert_not_completed(_isolated_home, course, result, data, "was not collected")


TAMPERING = {
    "edited learning test": ("tests/milestones/test_learning_verification.py",
                             lambda text: text.replace("assert acc >= 0.95", "assert acc >= 0.0")),
    "edited harness": ("tests/milestones/learning_checks.py",
                       lambda text: text.replace("def assert_learned(", "def assert_learned(*a, **k):\n    return\n\n\ndef _old(")),
    "emptied requires": ("tests/milestones/milestone_tracker.py",
                         lambda text: text.replace('"requires": _CORE + ["03_nn", "04_training", "06_embeddings", '
                                                   '"07_attention", "08_transformer"]', '"requires": []')),
    "planted conftest": ("tests/milestones/conftest.py", lambda text: PASSING_CONFTEST),
    "edited tito": ("tito/learning_run.py", lambda text: text.replace("verdict.passed = not verdict.reason",
                                                                      "verdict.passed = True")),
}


@pytest.mark.parametrize("what", TAMPERING, ids=list(TAMPERING))
def test_tampered_protected_files_stop_every_recording_command(tito, student, _isolated_home, what):
    relpath, edit = TAMPERING[what]
    path = student / relpath
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    after = edit(before)
    assert after != before, "the edit must change the file"
    path.write_text(after, encoding="utf-8")
    for milestone in ("perceptron", "transformer"):
        result, data = run_json(tito, "milestone", "run", milestone, cwd=student)
        assert result.returncode == 1 and data["passed"] is False
        assert [t["path"] for t in data["tampered"]] == [relpath], data
        assert "differ from the release manifest" in result.stderr and relpath in result.stderr
    human = tito("milestone", "run", "perceptron", cwd=student)
    restore = "rm " if what == "planted conftest" else "git checkout -- "  # an added file is removed, not restored
    assert "Next: " + restore + relpath in human.stdout
    check, report = run_json(tito, "module", "check", "--all", cwd=student)
    assert check.returncode == 1 and [t["path"] for t in report["tampered"]] == [relpath]
    complete = tito("module", "complete", "00", cwd=student)
    assert complete.returncode == 1 and relpath in complete.stdout
    section = milestone_progress(_isolated_home, student)
    assert section["completed_milestones"] == [] and section["runs"] == {}, "nothing ran, nothing recorded"


# -- 3. metrics are computed by the test, not by the student's code ------------------------------
def test_a_lying_accuracy_and_shuffled_labels_do_not_pass_mlp_digits(tito, exported_project, _isolated_home):
    assert run_tracker_script("complete", *CORE, "03_nn", "04_training", cwd=exported_project,
                              home=_isolated_home).returncode == 0
    lies = (
        "import numpy as _np\n"
        "def accuracy(logits_or_probs, labels):\n    return 0.99\n"
        "_loader = load_tinydigits\n"
        "def load_tinydigits():\n    (a, b), (c, d) = _loader()\n    return (a, b), (c, _np.random.permutation(d))\n"
    )
    inject(exported_project, "04_training", lies, target="data.loader")
    inject(exported_project, "04_training", "def accuracy(logits_or_probs, labels):\n    return 0.99\n",
           target="core.training")
    inject(exported_project, "03_nn", ZERO_BACKWARD.format(op="LinearOp"))
    result, data = run_json(tito, "milestone", "run", "mlp_digits", cwd=exported_project)
    assert result.returncode == 1 and data["passed"] is False
    assert data["metrics"].get("accuracy", 0) < 0.9, "the accuracy is measured, not taken from the student"


# -- 4. each project has its own progress ------------------------------------------------------
def test_copies_on_one_account_never_share_progress(tito, student, released, tmp_path, _isolated_home):
    first = tito("milestone", "run", "perceptron", cwd=student)
    assert first.returncode == 0, first.stdout + first.stderr
    second = tmp_path / "second"
    assert tito("release", second, cwd=REPO).returncode == 0

    result, data = run_json(tito, "milestone", "progress", cwd=second)
    assert {m["status"] for m in data["milestones"]} == {"locked"}
    assert data["milestones"][0]["modules_done"] == 0
    assert data["completed_elsewhere"] == [{"root": str(student.resolve()), "milestones": ["perceptron"]}]
    refused = tito("milestone", "run", "perceptron", cwd=second)
    assert refused.returncode == 1 and "locked" in refused.stdout and "ModuleNotFoundError" not in refused.stdout
    assert tito("module", "check", "--all", cwd=second).returncode == 1

    mine = milestone_progress(_isolated_home, student)
    assert mine["completed_modules"] == CORE and mine["completed_milestones"] == ["perceptron"]
    assert len(mine["runs"]["perceptron"]) == 1, "the other copy's refused run is not in this history"
    assert tito("milestone", "list", cwd=student).stdout.count("completed") >= 1

    # A copy of the folder (a second clone) carries the id; it reads as a new project, and the
    # first command that records anything gives it an id of its own.
    clone = tmp_path / "clone"
    shutil.copytree(student, clone)
    result, data = run_json(tito, "milestone", "progress", cwd=clone)
    assert data["milestones"][0]["status"] == "locked" and data["completed_elsewhere"]
    rebuilt, report = run_json(tito, "module", "check", "00", cwd=clone)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert json.loads((clone / ".tito/project.json").read_text())["id"] != \
        json.loads((student / ".tito/project.json").read_text())["id"]
    assert milestone_progress(_isolated_home, clone)["completed_milestones"] == []
    assert milestone_progress(_isolated_home, student)["completed_milestones"] == ["perceptron"]


# -- 5. stale exports ------------------------------------------------------------------------------
def test_a_source_changed_since_its_export_is_refused(tito, student, _isolated_home):
    source = student / "modules" / "02_autograd" / "autograd.py"
    text = source.read_text(encoding="utf-8")
    source.write_text(text.replace("return grad * out * (1.0 - out)", "return grad * 0.0"), encoding="utf-8")
    result, data = run_json(tito, "milestone", "run", "perceptron", cwd=student)
    assert result.returncode == 1 and data["error"] == "stale exports"
    assert data["next_step"] == "tito module complete 02"
    assert "tinytorch/core/autograd.py is not what modules/02_autograd/autograd.py exports now" in data["stale"][0]
    human = tito("milestone", "run", "perceptron", cwd=student)
    assert "Next: tito module complete 02" in human.stdout
    assert milestone_progress(_isolated_home, student)["runs"] == {}


def test_a_failed_run_names_the_module_at_fault(tito, student):
    inject(student, "02_autograd", ZERO_BACKWARD.format(op="MatMulOp"))
    result = tito("milestone", "run", "perceptron", cwd=student)
    assert result.returncode == 1
    assert "The loss did not fall enough" in result.stdout
    next_line = next(line for line in result.stdout.splitlines() if "Next:" in line)
    assert "tito milestone run perceptron" in next_line and "tito module complete" in next_line


# -- 6. the exported code is the tested code -----------------------------------------------------
TOY = '''
# %% [markdown]
# # Module 00 — Base

# %%
#| default_exp toy.base
#| export
def one():
    ### BEGIN SOLUTION
    return 1
    ### END SOLUTION
'''


@pytest.fixture
def toy(bare_project):
    """A project of one tiny module (00_base), written per test."""
    return bare_project


def write_toy(root, tests, extra=""):
    folder = root / "modules" / "00_base"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "base.py"
    path.write_text(TOY + extra + "\n# %%\n" + tests, encoding="utf-8")
    return path


def test_an_autosave_during_the_tests_is_not_exported(tito, toy):
    path = write_toy(toy, (
        "import pathlib\n\n"
        "def test_unit_one():\n"
        "    assert one() == 1\n"
        "    source = pathlib.Path('modules/00_base/base.py')\n"
        "    source.write_text(source.read_text().replace('return 1', 'return 2  # saved mid-run'))\n"
    ))
    result = tito("module", "complete", "00", cwd=toy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "saved mid-run" in path.read_text(encoding="utf-8"), "the editor's save happened"
    exported = (toy / "tinytorch" / "toy" / "base.py").read_text(encoding="utf-8")
    assert "return 1" in exported and "saved mid-run" not in exported, "what was tested is what is exported"
    progress = json.loads((toy / "progress.json").read_text(encoding="utf-8"))
    record = progress["exports"]["00_base"]
    assert record["files"]["tinytorch/toy/base.py"] and len(record["source_sha256"]) == 64


def test_an_export_that_does_not_import_is_rolled_back(tito, toy):
    write_toy(toy, "def helper():\n    return 1\n\n\ndef test_unit_value():\n    assert VALUE == 1\n",
              extra="\n# %%\ndef helper():\n    return 1\n\n# %%\n#| export\nVALUE = helper()\n")
    result = tito("module", "complete", "00", cwd=toy)
    assert result.returncode == 1, result.stdout
    assert "The export does not import" in result.stdout and "NameError" in result.stdout
    assert not (toy / "tinytorch" / "toy" / "base.py").exists(), "rolled back"
    assert not (toy / "progress.json").exists() or "00_base" not in json.loads(
        (toy / "progress.json").read_text(encoding="utf-8"))["completed"]
    probe = subprocess.run([sys.executable, "-c", "import tinytorch"], cwd=toy, capture_output=True, text=True,
                           env=cli_env(PYTHONPATH=str(toy)))
    assert probe.returncode == 0 and not probe.stderr, probe.stderr


# -- 7. module tests that did not all run do not pass ---------------------------------------------
MODULE_CHEATS = {
    "pytest.exit": ("import pytest\n\ndef test_unit_a():\n    pytest.exit('bye', returncode=0)\n\n\n"
                    "def test_unit_b():\n    assert one() == 2\n", "pytest ended early: pytest.exit"),
    "os._exit": ("import os\n\ndef test_unit_a():\n    os._exit(0)\n\n\ndef test_unit_b():\n    assert False\n",
                 "pytest ended early: os._exit(0) called from modules/00_base/base.py:"),
    "KeyboardInterrupt": ("def test_unit_a():\n    raise KeyboardInterrupt\n\n\ndef test_unit_b():\n    assert False\n",
                          "pytest ended early: KeyboardInterrupt"),
    "skip": ("import pytest\n\ndef test_unit_a():\n    pytest.skip('later')\n", "skipped at modules/00_base/base.py:"),
    "skip-at-import": ("import pytest\npytest.skip('later', allow_module_level=True)\n\n\ndef test_unit_a():\n    pass\n",
                       "the whole module was skipped at modules/00_base/base.py:"),
    "xfail": ("import pytest\n\n@pytest.mark.xfail(strict=False)\ndef test_unit_a():\n    assert False\n", "xfail"),
}


@pytest.mark.parametrize("cheat", MODULE_CHEATS, ids=list(MODULE_CHEATS))
def test_module_tests_that_did_not_all_pass_do_not_complete(tito, toy, cheat):
    tests, expected = MODULE_CHEATS[cheat]
    write_toy(toy, tests)
    result = tito("module", "complete", "00", cwd=toy)
    assert result.returncode == 1, result.stdout
    assert expected in result.stdout, result.stdout
    assert not (toy / "tinytorch" / "toy" / "base.py").exists()
    data = json.loads(tito("module", "test", "00", "--json", cwd=toy).stdout)
    assert data["ok"] is False


def test_edited_inline_tests_are_refused_and_reset_tests_restores_them(tito, student, _isolated_home):
    assert tito("module", "complete", "00", cwd=student).returncode == 0
    source = student / "modules" / "01_tensor" / "tensor.py"
    solved = source.read_text(encoding="utf-8")
    gutted = solved.replace("def test_unit_matmul():\n", "def test_unit_matmul():\n    return\n")
    source.write_text(gutted, encoding="utf-8")
    result = tito("module", "complete", "01", cwd=student)
    assert result.returncode == 1
    assert "modules/01_tensor/tensor.py::test_unit_matmul: test changed" in result.stdout
    assert "Next: tito module reset 01 --tests" in result.stdout

    restored = tito("module", "reset", "01", "--tests", cwd=student)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "test_unit_matmul" in restored.stdout
    assert source.read_text(encoding="utf-8") == solved, "the test is back and the solutions were kept"
    assert tito("module", "complete", "01", cwd=student).returncode == 0

    # Redefining a protected test later in the file is the same tampering.
    source.write_text(solved + "\n\n# %%\ndef test_unit_matmul():\n    pass\n", encoding="utf-8")
    result = tito("module", "complete", "01", cwd=student)
    assert result.returncode == 1 and "test redefined" in result.stdout


# -- 8. the tracker script is an instructor's tool, and says so ----------------------------------
def test_tracker_script_validates_modules_and_records_without_unlocking_a_run(tito, released, tmp_path, _isolated_home):
    copy = tmp_path / "copy"
    shutil.copytree(released, copy)
    bogus = run_tracker_script("complete", "99_bogus", cwd=copy, home=_isolated_home)
    assert bogus.returncode == 2 and "not a module of this project" in bogus.stderr and "Traceback" not in bogus.stderr
    typo = run_tracker_script("complete", "01_tensr", cwd=copy, home=_isolated_home)
    assert typo.returncode == 2 and "Did you mean 01_tensor?" in typo.stderr
    usage = run_tracker_script("--help", cwd=copy, home=_isolated_home)
    assert "WITHOUT running their tests" in usage.stdout

    recorded = run_tracker_script("complete", *CORE, cwd=copy, home=_isolated_home)
    assert recorded.returncode == 0 and "recorded as complete (no tests were run)" in recorded.stdout
    result, data = run_json(tito, "milestone", "run", "perceptron", cwd=copy)
    assert result.returncode == 1 and data["error"] == "stale exports"
    assert "00_setup is not exported" in data["stale"][0] and data["next_step"] == "tito module complete 00"


def test_tracker_script_outside_the_environment_says_what_to_do(tmp_path):
    base = getattr(sys, "_base_executable", None) or shutil.which("python3")
    probe = subprocess.run([base, "-c", "import rich"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("this machine's base Python has rich installed: the environment is not missing")
    result = subprocess.run([base, "tests/milestones/milestone_tracker.py", "progress"], cwd=REPO,
                            capture_output=True, text=True, env={"PATH": os.environ.get("PATH", ""),
                                                                 "TINYTORCH_HOME": str(tmp_path)})
    assert result.returncode == 1
    assert "Activate the course's virtual environment" in result.stderr and "Traceback" not in result.stderr


# -- 9. a time limit, and no process left behind ---------------------------------------------------
ENDLESS = "import os, pathlib\npathlib.Path(os.environ['TITO_TEST_PIDFILE']).write_text(str(os.getpid()))\nwhile True:\n    pass\n"


def test_an_endless_loop_is_stopped_at_the_timeout(tito, student, tmp_path, _isolated_home, monkeypatch):
    monkeypatch.setenv("TITO_TEST_PIDFILE", str(tmp_path / "pid"))
    inject(student, "02_autograd", ENDLESS)
    started = time.monotonic()
    result, data = run_json(tito, "milestone", "run", "perceptron", "--timeout", "5", cwd=student)
    assert time.monotonic() - started < 90
    assert_not_completed(_isolated_home, student, result, data, "did not finish within 5 s")
    assert_gone(int((tmp_path / "pid").read_text()))


def assert_gone(pid, wait=10.0):
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError(f"process {pid} is still running")


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "term", "kill"])
def test_killing_tito_takes_the_test_run_down_with_it(student, tmp_path, _isolated_home, how):
    pidfile = tmp_path / "pid"
    inject(student, "02_autograd", ENDLESS)
    tito = subprocess.Popen([sys.executable, "-m", "tito", "milestone", "run", "perceptron"], cwd=student,
                            env=cli_env(_isolated_home, TITO_TEST_PIDFILE=str(pidfile)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline and tito.poll() is None, "the learning test never started"
        time.sleep(0.1)
    tito.send_signal(how)
    tito.wait(timeout=30)
    assert_gone(int(pidfile.read_text()))


# -- bytecode: tito's cache never stands in for the project's sources ------------------------------
def _timestamp_pyc(code, source):
    """The bytes of a .pyc that Python (and pytest's rewriter) would accept for ``source``."""
    import importlib._bootstrap_external as external

    stat = source.stat()
    return bytes(external._code_to_timestamp_pyc(code, int(stat.st_mtime), stat.st_size))


def test_a_planted_bytecode_file_is_never_read(tito, course, tmp_path, monkeypatch):
    """A .pyc planted in tito's cache for every project file -- as Python would name it, and as
    pytest's assertion rewriter would -- is not read: the next run compiles the sources."""
    cache = tmp_path / "tito-cache"
    monkeypatch.setenv("TITO_CACHE_DIR", str(cache))
    first = tito("milestone", "run", "perceptron", cwd=course)
    assert first.returncode == 0, first.stdout + first.stderr
    (folder,) = (cache / "bytecode").iterdir()
    marker = tmp_path / "planted-bytecode-ran"
    evil = f"open({str(marker)!r}, 'w').close()\n"
    pytest_tag = f"{sys.implementation.cache_tag}-pytest-{pytest.__version__}"
    for source in [*(course / "tinytorch").rglob("*.py"), *(course / "tests" / "milestones").glob("*.py")]:
        data = _timestamp_pyc(compile(evil, str(source), "exec"), source)
        mirror = folder / str(source.resolve().parent).lstrip(os.sep)
        mirror.mkdir(parents=True, exist_ok=True)
        for tag in (sys.implementation.cache_tag, pytest_tag):
            (mirror / f"{source.stem}.{tag}.pyc").write_bytes(data)
    again = tito("milestone", "run", "perceptron", cwd=course)
    assert not marker.exists(), "a planted .pyc was executed"
    assert again.returncode == 0, again.stdout + again.stderr


def test_the_cache_keeps_a_virtual_environment_inside_the_project(tmp_path):
    """The mirror of the project goes before every run, but not the mirror of the virtual
    environment tito runs in when that lies inside the project (library bytecode)."""
    from tito.sealed import clear_mirror

    folder, root = tmp_path / "cache", tmp_path / "course"
    for relpath in ["tinytorch/core/tensor.cpython-311.pyc", "modules/x.pyc", ".venv/lib/numpy/core.pyc", ".venvx/a.pyc"]:
        path = folder / str(root / relpath).lstrip(os.sep)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"pyc")
    mirror = folder / str(root).lstrip(os.sep)
    clear_mirror(folder, root, keep=root / ".venv")
    assert sorted(p.relative_to(mirror).as_posix() for p in mirror.rglob("*") if p.is_file()) == [".venv/lib/numpy/core.pyc"]
    clear_mirror(folder, root, keep=tmp_path / "elsewhere" / ".venv")  # a virtual environment outside: all goes
    assert not mirror.exists()
    (mirror / "tinytorch").mkdir(parents=True)
    clear_mirror(folder, root, keep=root)  # the project is the environment: nothing of it is library code
    assert not mirror.exists()


# -- code under test cannot rewrite what judges it ---------------------------------------------------
def test_rewriting_the_learning_test_during_the_run_does_not_count(tito, student, _isolated_home):
    """Honest code that also edits the learning test when it is imported: the run itself
    passes, but the manifest, verified again after it, voids it."""
    test_file = student / "tests" / "milestones" / "test_learning_verification.py"
    rewrite = (
        "import pathlib\n"
        f"_test = pathlib.Path({str(test_file)!r})\n"
        "_test.write_text(_test.read_text() + '\\n# edited during the run\\n')\n"
    )
    inject(student, "02_autograd", rewrite)
    result, data = run_json(tito, "milestone", "run", "perceptron", cwd=student)
    assert test_file.read_text(encoding="utf-8").endswith("# edited during the run\n"), "the rewrite happened"
    assert data["metrics"]["accuracy"] >= 0.95, "the run itself passed"
    assert_not_completed(_isolated_home, student, result, data, "changed while the learning test ran")


def test_a_protected_file_changed_while_the_module_tests_ran_is_not_a_pass(tito, student, _isolated_home):
    checks = student / "tests" / "milestones" / "learning_checks.py"
    touch = f"import pathlib\n_checks = pathlib.Path({str(checks)!r})\n_checks.write_text(_checks.read_text() + '\\n# touched\\n')\n"
    info = resolve_module(student, "00_setup")
    info.source.write_text(info.source.read_text(encoding="utf-8") + f"\n\n# %%\n{touch}", encoding="utf-8")
    result = tito("module", "complete", "00", cwd=student)
    assert checks.read_text(encoding="utf-8").endswith("# touched\n"), "the module's code changed the file"
    assert result.returncode == 1 and "changed while the tests ran" in result.stdout, result.stdout
    assert "00_setup is not complete: nothing was exported" in result.stdout and "Exported:" not in result.stdout


def test_a_test_replaced_while_the_module_runs_is_not_a_pass(tito, toy):
    write_toy(toy, 'def test_unit_one():\n    assert one() == 2\n\n\n# %%\n#| export\nglobals()["test_unit_one"] = lambda: None\n')
    result = tito("module", "complete", "00", cwd=toy)
    assert result.returncode == 1, result.stdout
    assert "is not the test the module defines" in result.stdout
    assert not (toy / "tinytorch" / "toy" / "base.py").exists()
