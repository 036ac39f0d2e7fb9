"""`tito module ...` end to end: the real CLI in a subprocess against temp projects.

Most tests use a *toy* project (a copy of this one whose modules are replaced by two
tiny ones), so each run costs one short pytest subprocess; the real sequence
00 -> 01 -> 02 runs once against a copy of the real course.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from tito.project import copy_project

from conftest import REPO, write_module

BASE = '''
# %% [markdown]
# # Module 00 — Base

# %%
#| default_exp toy.base
#| export
def one():
    """The number one."""
    ### BEGIN SOLUTION
    return 1
    ### END SOLUTION

# %%
def test_unit_one():
    assert one() == 1
'''

NEXT = '''
# %% [markdown]
# # Module 01 — Next

# %%
#| default_exp toy.next
#| requires 00_base
#| export
from tinytorch.toy.base import one


def two():
    return one() + one()

# %%
def test_unit_two():
    assert two() == 2


def test_unit_two_is_int():
    assert isinstance(two(), int)
'''


@pytest.fixture
def toy(tmp_path):
    """A project with two tiny modules: 00_base and 01_next (which requires 00_base)."""
    root = copy_project(REPO, tmp_path / "toy")
    for folder in (root / "modules").iterdir():
        if folder.is_dir():
            shutil.rmtree(folder)
    write_module(root, "00_base", BASE)
    write_module(root, "01_next", NEXT)
    return root


def progress(root):
    path = Path(root) / "progress.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def assert_no_traceback(result):
    assert "Traceback" not in result.stdout + result.stderr


# ---------------------------------------------------------------------------------------
# list / status / errors that need no test run


def test_list_and_status_show_modules_status_and_next(tito, toy):
    listed = tito("module", "list", cwd=toy)
    assert listed.returncode == 0, listed.stderr
    for text in ("00_base", "01_next", "Base", "Next", "not started", "Next: tito module complete 00"):
        assert text in listed.stdout
    row = next(line for line in listed.stdout.splitlines() if "01_next" in line)
    assert "00_base" in row  # its prerequisite

    status = tito("module", "status", cwd=toy)
    assert status.returncode == 0, status.stderr
    assert "0 of 2 modules complete" in status.stdout
    assert "Next module: 00_base" in status.stdout

    data = json.loads(tito("module", "status", "--json", cwd=toy).stdout)
    assert data["next_module"] == "00_base" and data["completed"] == []
    assert [m["requires"] for m in data["modules"]] == [[], ["00_base"]]


def test_unknown_module_exits_2_with_valid_list(tito, toy):
    result = tito("module", "complete", "42", cwd=toy)
    assert result.returncode == 2
    assert "Unknown module '42'" in result.stderr and "00_base, 01_next" in result.stderr
    assert_no_traceback(result)


def test_misspelled_module_suggests_the_right_one(tito, project):
    result = tito("module", "complete", "tensr", cwd=project)
    assert result.returncode == 2
    assert "Did you mean 01_tensor?" in result.stderr
    assert_no_traceback(result)


def test_prerequisites_must_be_complete_first(tito, toy):
    result = tito("module", "complete", "01", cwd=toy)
    assert result.returncode == 1
    assert "00_base" in result.stdout and "first" in result.stdout
    assert "tito module complete 00" in result.stdout
    assert progress(toy) is None
    assert not (toy / "tinytorch/toy/next.py").exists()


def test_outside_a_project_is_a_clear_error(tito, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = tito("module", "list", cwd=elsewhere)
    assert result.returncode == 1
    assert "not inside a TinyTorch project" in result.stderr
    assert_no_traceback(result)


@pytest.mark.parametrize("content", ["", "{not json", '["a list"]', '{"completed": ["00_base"]}'])
def test_damaged_progress_file_is_moved_aside(tito, toy, content):
    (toy / "progress.json").write_text(content, encoding="utf-8")
    result = tito("module", "status", cwd=toy)
    assert result.returncode == 0, result.stderr
    assert "was damaged" in result.stderr and "tito module check --all" in result.stderr
    assert "0 of 2 modules complete" in result.stdout
    backups = list(toy.glob("progress.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == content


# ---------------------------------------------------------------------------------------
# test / complete on the toy project


def test_complete_runs_tests_exports_records_and_points_on(tito, toy):
    result = tito("module", "complete", "base", cwd=toy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed in " in result.stdout
    assert "tinytorch/toy/base.py" in result.stdout
    assert "00_base complete (1 of 2 modules)" in result.stdout
    assert "Next: tito module complete 01" in result.stdout
    assert (toy / "tinytorch/toy/base.py").read_text(encoding="utf-8").startswith("# AUTOGENERATED by tito from")
    data = progress(toy)
    assert list(data["completed"]) == ["00_base"] and data["last_module"] == "00_base"

    result = tito("module", "complete", "01_next", cwd=toy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed in " in result.stdout
    assert set(progress(toy)["completed"]) == {"00_base", "01_next"}
    assert "Next: tito milestone progress" in result.stdout

    listed = tito("module", "list", cwd=toy)
    assert listed.stdout.count("complete") >= 2 and "not started" not in listed.stdout


def test_failing_test_stops_before_export(tito, toy):
    source = BASE.replace("return 1\n", "return 2\n")
    write_module(toy, "00_base", source)
    result = tito("module", "complete", "00", cwd=toy)
    assert result.returncode == 1
    out = result.stdout
    assert "test_unit_one" in out and "1 failed in " in out
    assert "assert 2 == 1" in out  # pytest's rewritten assertion
    assert "modules/00_base/base.py:" in out
    assert "nothing was exported" in out and "Next: tito module test 00" in out
    assert not (toy / "tinytorch/toy/base.py").exists()
    assert progress(toy) is None


def test_module_test_shows_each_test_and_json(tito, toy):
    tito("module", "complete", "00", cwd=toy)
    source = toy / "modules/01_next/next.py"
    notebook = source.with_suffix(".ipynb")
    notebook.write_text("{}", encoding="utf-8")
    os.utime(notebook, (source.stat().st_mtime + 60,) * 2)
    result = tito("module", "test", "1", cwd=toy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "next.ipynb is newer" in result.stderr and "jupytext --sync" in result.stderr
    assert "test_unit_two" in result.stdout and "test_unit_two_is_int" in result.stdout
    assert "2 passed in " in result.stdout and "Next: tito module complete 01" in result.stdout
    assert progress(toy)["last_module"] == "01_next" and "01_next" in progress(toy)["started"]

    write_module(toy, "01_next", NEXT.replace("return one() + one()", "return 2.0"))
    result = tito("module", "test", "01", "--json", cwd=toy)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert (data["ok"], data["passed"], data["failed"]) == (False, 1, 1)
    failed = next(case for case in data["cases"] if case["outcome"] == "failed")
    assert failed["name"] == "test_unit_two_is_int" and "isinstance" in failed["message"]


def test_module_without_tests_is_not_a_pass(tito, toy):
    write_module(toy, "00_base", BASE.split("# %%\ndef test_unit_one")[0])
    result = tito("module", "complete", "00", cwd=toy)
    assert result.returncode == 1
    assert "no tests found" in result.stdout
    assert not (toy / "tinytorch/toy/base.py").exists() and progress(toy) is None


def test_import_error_is_a_failure_with_a_hint(tito, toy):
    # 01_next imports tinytorch.toy.base, which is not exported: progress says 00 is
    # complete, but the package does not have it.
    (toy / "progress.json").write_text(json.dumps({"completed": {"00_base": "2025-01-01T00:00:00+00:00"}}))
    result = tito("module", "complete", "01", cwd=toy)
    assert result.returncode == 1
    assert "No module named 'tinytorch.toy" in result.stdout
    assert "exported by 00_base" in result.stdout
    assert not (toy / "tinytorch/toy/next.py").exists()
    assert list(progress(toy)["completed"]) == ["00_base"]


def test_syntax_error_is_reported_with_file_and_line(tito, toy):
    path = write_module(toy, "00_base", BASE.replace("def one():", "def one(:"))
    line = path.read_text(encoding="utf-8").splitlines().index("def one(:") + 1
    result = tito("module", "complete", "00", cwd=toy)
    assert result.returncode == 1
    assert f"modules/00_base/base.py:{line}: syntax error" in result.stderr
    assert_no_traceback(result)
    assert progress(toy) is None


def test_broken_tracker_warns_but_completes(tito, toy):
    (toy / "tests/milestones/milestone_tracker.py").write_text('raise RuntimeError("tracker boom")\n')
    result = tito("module", "complete", "00", cwd=toy)
    assert result.returncode == 0, result.stdout + result.stderr
    warning = [line for line in result.stderr.splitlines() if "milestone tracker unavailable" in line]
    assert warning, result.stderr
    assert "tracker boom" in result.stderr
    assert_no_traceback(result)
    assert list(progress(toy)["completed"]) == ["00_base"]
    assert "Next: tito module complete 01" in result.stdout


def test_check_all_rebuilds_progress(tito, toy):
    # Passing tests are not enough: a module is complete once it is exported.
    result = tito("module", "check", "--all", "--json", cwd=toy)
    assert result.returncode == 1
    verdicts = {m["module"]: m["verdict"] for m in json.loads(result.stdout)["modules"]}
    assert verdicts == {"00_base": "not exported", "01_next": "blocked"}
    assert progress(toy)["completed"] == {}

    tito("module", "complete", "00", cwd=toy)
    tito("module", "complete", "01", cwd=toy)
    (toy / "progress.json").unlink()
    result = tito("module", "check", "--all", cwd=toy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "progress.json rebuilt: 2 of 2" in result.stdout
    assert set(progress(toy)["completed"]) == {"00_base", "01_next"}

    # A module whose prerequisite fails is not complete (its tests are not even run).
    write_module(toy, "00_base", BASE.replace("assert one() == 1", "assert one() == 3"))
    result = tito("module", "check", "--all", "--json", cwd=toy)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["completed"] == []
    verdicts = {m["module"]: (m["verdict"], m["tests"] and m["tests"]["failed"]) for m in data["modules"]}
    assert verdicts == {"00_base": ("failed", 1), "01_next": ("blocked", None)}
    assert progress(toy)["completed"] == {}


def test_check_needs_a_module_or_all(tito, toy):
    result = tito("module", "check", cwd=toy)
    assert result.returncode == 2
    assert "--all" in result.stderr


# ---------------------------------------------------------------------------------------
# The real course: 00 -> 01 -> 02 unlocks the perceptron


def test_real_sequence_unlocks_the_perceptron(tito, project):
    for number in ("00", "01"):
        result = tito("module", "complete", number, cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr
        assert " passed in " in result.stdout
        assert "MILESTONE UNLOCKED" not in result.stdout
    result = tito("module", "complete", "02", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MILESTONE UNLOCKED" in result.stdout and "Perceptron" in result.stdout
    assert "Next: tito milestone run perceptron" in result.stdout
    assert "milestone tracker unavailable" not in result.stderr
    assert set(progress(project)["completed"]) == {"00_setup", "01_tensor", "02_autograd"}

    # The package now holds exactly what the exporter says (header + __all__) and imports.
    assert (project / "tinytorch/core/tensor.py").read_text(encoding="utf-8").startswith("# AUTOGENERATED by tito")

    # A lost progress file costs one command.
    (project / "progress.json").unlink()
    result = tito("module", "check", "--all", "--json", cwd=project)
    data = json.loads(result.stdout)
    assert data["completed"][:3] == ["00_setup", "01_tensor", "02_autograd"]
    assert set(progress(project)["completed"]) == set(data["completed"])


# ---------------------------------------------------------------------------------------
# The runner: only this project's tinytorch, and no way to pass by crashing


def test_tests_never_see_another_checkouts_tinytorch(tito, toy):
    # An editable install maps `tinytorch.<child>` to the course checkout when the
    # project lacks it: with tinytorch/optim/ gone from the toy copy, importing it must
    # fail rather than borrow the checkout's package.
    shutil.rmtree(toy / "tinytorch" / "optim")
    write_module(toy, "00_base", BASE + "\n\ndef test_unit_borrow():\n    import tinytorch.optim\n")
    result = tito("module", "test", "00", cwd=toy)
    assert result.returncode == 1
    assert "No module named 'tinytorch.optim'" in result.stdout
    assert "1 failed, 1 passed in " in result.stdout


def test_a_crashing_test_run_is_a_failure(toy):
    from tito.project import resolve_module
    from tito.runner import run_module_tests

    write_module(toy, "00_base", BASE + "\n\ndef test_unit_crash():\n    import os\n    os._exit(3)\n")
    run = run_module_tests(toy, resolve_module(toy, "00"))
    assert not run.ok
    assert run.returncode == 3
    assert "pytest ended early: os._exit(3) called from modules/00_base/base.py:" in run.problem


# ---------------------------------------------------------------------------------------
# Module progress (in-process)


def test_module_progress_records_and_rebuilds(tmp_path):
    from tito.module_progress import ModuleProgress

    progress = ModuleProgress(tmp_path, warn=pytest.fail)
    progress.mark_started("01_tensor")
    progress.mark_completed("00_setup")
    data = progress.read()
    assert data["last_module"] == "00_setup"
    assert set(data["started"]) == {"00_setup", "01_tensor"}
    assert progress.completed(["00_setup", "01_tensor"]) == ["00_setup"]

    stamp = data["completed"]["00_setup"]
    progress.rebuild(["00_setup", "01_tensor"])
    assert progress.read()["completed"]["00_setup"] == stamp  # kept, not reset
    progress.mark_incomplete("00_setup")
    assert progress.completed() == ["01_tensor"] and progress.is_complete("01_tensor")


def test_module_progress_repairs_bad_entries_and_fills_missing_keys(tmp_path):
    from tito.module_progress import ModuleProgress

    (tmp_path / "progress.json").write_text(
        '{"completed": {"00_setup": 3, "01_tensor": "2025-01-01T00:00:00+00:00"}, "last_module": 1}')
    messages = []
    progress = ModuleProgress(tmp_path, warn=messages.append)
    assert progress.completed() == ["01_tensor"], "the good entry is kept"
    assert any("'completed' entry for '00_setup'" in m for m in messages)
    assert any("'last_module'" in m for m in messages)
    assert not list(tmp_path.glob("progress.json.corrupt-*")), "a repairable file is not thrown away"
    data = progress.read()
    assert data["started"] == {} and data["exports"] == {} and data["last_module"] is None


def test_module_progress_wrong_shape_starts_clean(tmp_path):
    from tito.module_progress import ModuleProgress

    (tmp_path / "progress.json").write_text('{"completed": ["00_setup"]}')
    messages = []
    assert ModuleProgress(tmp_path, warn=messages.append).completed() == []
    assert len(messages) == 1 and "'completed' must be an object" in messages[0]
    assert len(list(tmp_path.glob("progress.json.corrupt-*"))) == 1
