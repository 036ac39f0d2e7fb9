"""Nothing lost, nothing leaked: reset, release, export and progress files under faults.

Each test reproduces one way tito lost data, leaked solutions, trusted the wrong project,
locked others out, or crashed, and shows the new behaviour. Kills are simulated at a chosen
point by patching the function that would be running; read-only places by permissions;
another user's folder by chown (the suite runs as root on CI; those tests skip otherwise).
"""

import errno
import json
import os
import stat
import subprocess
import sys
import threading

import pytest

from tito import exporter, files
from tito.json_store import JsonStore, StoreError
from tito.project import copy_project, find_project_root, resolve_module
from tito.solutions import strip_solutions

from conftest import REPO, cli_env, run_tito, run_tracker_script

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# -- data loss: reset never overwrites its own backup ------------------------------------------
def test_two_resets_at_once_keep_every_backup_and_the_students_code(exported_project, tito):
    source = exported_project / "modules" / "01_tensor" / "tensor.py"
    solved = source.read_text(encoding="utf-8")
    results = []

    def reset():
        results.append(run_tito("module", "reset", "01", "--yes", cwd=exported_project))

    threads = [threading.Thread(target=reset) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.returncode for r in results] == [0, 0], [r.stdout + r.stderr for r in results]
    backups = sorted(source.parent.glob("tensor.py.bak-*"))
    assert len(backups) == 1, "the second reset found the student form and made no backup"
    assert backups[0].read_text(encoding="utf-8") == solved, "the student's code is in the backup"
    assert any("already in its student form" in r.stdout for r in results)

    # A reset of a changed file later in the same second gets a backup of its own.
    source.write_text(solved, encoding="utf-8")
    assert tito("module", "reset", "01", "--yes", cwd=exported_project).returncode == 0
    source.write_text(solved.replace("import numpy as np", "import numpy as np  # edited"), encoding="utf-8")
    assert tito("module", "reset", "01", "--yes", cwd=exported_project).returncode == 0
    backups = sorted(source.parent.glob("tensor.py.bak-*"))
    assert len(backups) == 3 and len({b.read_text(encoding="utf-8") for b in backups}) == 2


def test_reset_takes_dependents_and_their_exports_down(exported_project, tito):
    for number in ("00", "01", "02", "03"):
        assert tito("module", "complete", number, cwd=exported_project).returncode == 0
    result = tito("module", "reset", "01", "--yes", cwd=exported_project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "02_autograd" in result.stdout and "no longer complete" in result.stdout
    assert not (exported_project / "tinytorch" / "core" / "autograd.py").exists()
    assert not (exported_project / "tinytorch" / "nn" / "modules.py").exists()
    progress = json.loads((exported_project / "progress.json").read_text(encoding="utf-8"))
    assert list(progress["completed"]) == ["00_setup"]
    probe = subprocess.run([sys.executable, "-W", "error", "-c", "import tinytorch"], cwd=exported_project,
                           env=cli_env(PYTHONPATH=str(exported_project)), capture_output=True, text=True)
    assert probe.returncode == 0, "no export is left that cannot import: " + probe.stderr


def test_check_all_removes_the_exports_of_modules_it_no_longer_counts(exported_project, tito):
    source = exported_project / "modules" / "03_nn" / "nn.py"
    source.write_text(strip_solutions(source.read_text(encoding="utf-8"), "03_nn"), encoding="utf-8")
    result = tito("module", "check", "--all", "--json", cwd=exported_project, timeout=900)
    data = json.loads(result.stdout)
    assert "03_nn" not in data["completed"] and "04_training" not in data["completed"]
    assert "tinytorch/nn/modules.py" in data["removed_exports"]
    assert not (exported_project / "tinytorch" / "nn" / "modules.py").exists()


# -- exports are written as a unit -------------------------------------------------------------
def test_a_failure_while_exporting_changes_no_file(exported_project, monkeypatch):
    info = resolve_module(exported_project, "04")
    targets = list(exporter.plan_export(exported_project, info))
    assert len(targets) >= 3, "04 exports several files"
    before = {path: path.read_text(encoding="utf-8") for path in targets}
    source = info.source.read_text(encoding="utf-8")
    info.source.write_text(source.replace("# %% [markdown]", "# %% [markdown]\n# edited", 1), encoding="utf-8")
    staged = []
    real_stage = files.stage

    def stage_then_die(path, data):
        if len(staged) == 2:
            raise KeyboardInterrupt  # killed while the third file is written
        staged.append(path)
        return real_stage(path, data)

    monkeypatch.setattr(files, "stage", stage_then_die)
    with pytest.raises(KeyboardInterrupt):
        exporter.export_module(exported_project, info, warn=lambda message: None)
    assert {path: path.read_text(encoding="utf-8") for path in targets} == before, "all old, none new"
    assert not list((exported_project / "tinytorch").rglob(".*.tmp")), "no temp file left behind"


def test_stale_temp_files_of_a_killed_export_are_removed(exported_project):
    stale = exported_project / "tinytorch" / "core" / ".tensor.py.abc123.tmp"
    stale.write_text("half a file", encoding="utf-8")
    os.utime(stale, (1, 1))
    exporter.export_module(exported_project, resolve_module(exported_project, "01"), warn=lambda message: None)
    assert not stale.exists()


# -- files and permissions -----------------------------------------------------------------------
def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(exported_project, tito, tmp_path):
    old = os.umask(0o022)
    try:
        target = tmp_path / "written.py"
        files.write_atomic(target, "x = 1\n")
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
        os.chmod(target, 0o640)
        files.write_atomic(target, "x = 2\n")
        assert stat.S_IMODE(target.stat().st_mode) == 0o640, "a replaced file keeps its mode"
    finally:
        os.umask(old)
    os.chmod(exported_project / "tinytorch" / "core" / "setup.py", 0o640)
    result = subprocess.run([sys.executable, "-m", "tito", "module", "complete", "00"], cwd=exported_project,
                            env=cli_env(tmp_path / "home"), capture_output=True, text=True,
                            preexec_fn=lambda: os.umask(0o002))
    assert result.returncode == 0, result.stdout + result.stderr
    assert stat.S_IMODE((exported_project / "tinytorch" / "core" / "setup.py").stat().st_mode) == 0o640
    assert stat.S_IMODE((exported_project / "progress.json").stat().st_mode) == 0o664
    assert stat.S_IMODE((tmp_path / "home" / "progress.json").stat().st_mode) == 0o664


def unwritable(path):
    """Make writes to a progress file fail even for root: its lock file becomes a folder."""
    lock = path.with_name(path.name + ".lock")
    if lock.exists():
        lock.unlink()
    lock.mkdir(parents=True)


def test_reads_never_need_write_access(project, tmp_path, tito):
    home = tmp_path / "home"
    assert tito("module", "complete", "00", cwd=project, home=home).returncode == 0
    unwritable(project / "progress.json")
    unwritable(home / "progress.json")
    for args in (["module", "list"], ["module", "status", "--json"], ["milestone", "progress", "--json"],
                 ["milestone", "list"]):
        result = tito(*args, cwd=project, home=home)
        assert result.returncode == 0, (args, result.stdout + result.stderr)
        assert "Traceback" not in result.stderr
    assert "00_setup" in json.loads(tito("module", "status", "--json", cwd=project, home=home).stdout)["completed"]
    result = tito("module", "complete", "01", cwd=project, home=home)
    assert result.returncode == 1 and "cannot write" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(IS_ROOT or not hasattr(os, "geteuid"), reason="root ignores file permissions")
def test_a_read_only_project_folder_can_be_listed(project, tito):
    for path in [project, *project.rglob("*")]:
        os.chmod(path, stat.S_IMODE(path.stat().st_mode) & ~0o222)
    try:
        result = tito("module", "list", cwd=project)
    finally:
        for path in [project, *project.rglob("*")]:
            os.chmod(path, stat.S_IMODE(path.stat().st_mode) | 0o200)
    assert result.returncode == 0 and "Traceback" not in result.stderr


def test_an_unwritable_home_is_one_clear_line(project, tmp_path):
    home_file = tmp_path / "not-a-folder"
    home_file.write_text("", encoding="utf-8")
    result = run_tito("milestone", "progress", "--json", cwd=project, home=home_file)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {m["status"] for m in data["milestones"]} == {"locked"}
    assert "is a file, not a folder" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "tests/milestones/milestone_tracker.py", "complete", "00_setup"],
                            cwd=project, env=cli_env(home_file), capture_output=True, text=True)
    assert result.returncode == 1 and "cannot write" in result.stderr and "Traceback" not in result.stderr


def test_a_full_disk_is_a_store_error_not_a_traceback(tmp_path, monkeypatch):
    store = JsonStore(tmp_path / "progress.json", default=dict)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "stage", full)
    with pytest.raises(StoreError, match="cannot write .*progress.json: No space left on device"):
        with store.update() as data:
            data["x"] = 1
    assert not (tmp_path / "progress.json").exists()


def test_a_pass_that_cannot_be_saved_is_still_shown(exported_project, tmp_path):
    home = tmp_path / "home"
    assert subprocess.run([sys.executable, "tests/milestones/milestone_tracker.py", "complete", "00_setup",
                           "01_tensor", "02_autograd"], cwd=exported_project, env=cli_env(home)).returncode == 0
    unwritable(home / "progress.json")
    result = run_tito("milestone", "run", "perceptron", cwd=exported_project, home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MILESTONE COMPLETED" in result.stdout
    assert "This run was not saved" in result.stdout and "cannot write" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


# -- damaged progress files ---------------------------------------------------------------------
@pytest.mark.parametrize("make, expect", [
    (lambda p: p.mkdir(), "a folder, not a file"),
    (lambda p: p.write_text("[" * 50_000 + "]" * 50_000), "not valid JSON"),
    (lambda p: p.write_bytes(b"\xff\xfe{}"), "not UTF-8"),
])
def test_unreadable_progress_files_are_moved_aside(tmp_path, make, expect):
    path = tmp_path / "progress.json"
    make(path)
    warnings = []
    store = JsonStore(path, default=lambda: {"fresh": True}, warn=warnings.append)
    assert store.read() == {"fresh": True}
    assert any(expect in w for w in warnings), warnings
    assert len(list(tmp_path.glob("progress.json.corrupt-*"))) == 1


def test_nan_in_a_progress_file_never_reaches_json_output(project, tmp_path):
    home = tmp_path / "home"
    assert run_tito("milestone", "progress", cwd=project, home=home).returncode == 0
    data = json.loads((project / ".tito" / "project.json").read_text())
    broken = {"version": 2, "projects": {data["id"]: {
        "root": str(project.resolve()), "completed_modules": [], "unlocked_milestones": [],
        "completed_milestones": [], "runs": {"perceptron": [
            {"timestamp": "2025-01-01T00:00:00+00:00", "passed": False, "metrics": {"loss": float("nan")},
             "duration": float("inf")}, [1, 2], "junk"]}}}}
    home.mkdir(exist_ok=True)
    (home / "progress.json").write_text(json.dumps(broken), encoding="utf-8")  # writes NaN / Infinity
    assert "NaN" in (home / "progress.json").read_text()
    result = run_tito("milestone", "progress", "--json", cwd=project, home=home)
    assert result.returncode == 0, result.stderr
    json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert "dropped 2 malformed runs of 'perceptron'" in result.stderr
    info = run_tito("milestone", "info", "perceptron", cwd=project, home=home)
    assert info.returncode == 0 and "Traceback" not in info.stderr


def test_a_symlinked_progress_file_is_written_through(project, tmp_path):
    real = tmp_path / "synced" / "progress.json"
    real.parent.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    (home / "progress.json").symlink_to(real)
    result = subprocess.run([sys.executable, "tests/milestones/milestone_tracker.py", "complete", "00_setup"],
                            cwd=project, env=cli_env(home), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (home / "progress.json").is_symlink(), "the link is still a link"
    assert "00_setup" in real.read_text(encoding="utf-8")


# -- trusting the wrong project -----------------------------------------------------------------
@pytest.mark.skipif(not IS_ROOT, reason="needs root to give a folder to another user")
def test_a_project_planted_in_a_shared_folder_is_never_run(tmp_path):
    shared = tmp_path / "shared"
    planted = copy_project(REPO, shared)
    marker = tmp_path / "ran"
    (planted / "tests" / "milestones" / "milestone_tracker.py").write_text(
        f"open({str(marker)!r}, 'w').write('pwned')\n", encoding="utf-8")
    for path in [shared, *shared.rglob("*")]:
        os.chown(path, 12345, 12345, follow_symlinks=False)
    mine = shared / "modules" / "mine"
    mine.mkdir()
    result = run_tito("milestone", "list", cwd=mine)  # the search stops at the other user's folder
    assert result.returncode == 1 and not marker.exists() and "Traceback" not in result.stderr
    result = run_tito("milestone", "list", cwd=shared)  # even from inside it
    assert result.returncode == 1 and not marker.exists()
    assert "belongs to another user" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(Exception, match="belongs to another user"):
        find_project_root(shared)


def test_the_search_upwards_stops_at_home(tmp_path, monkeypatch):
    fake_home = tmp_path / "project" / "home"
    copy_project(REPO, tmp_path / "project")
    inside = fake_home / "work"
    inside.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(fake_home))
    with pytest.raises(Exception, match="not inside a TinyTorch project"):
        find_project_root(inside)


def test_a_tracker_that_calls_sys_exit_is_reported(project, tito):
    tracker = project / "tests" / "milestones" / "milestone_tracker.py"
    tracker.write_text("import sys\nsys.exit(0)\n", encoding="utf-8")
    result = tito("milestone", "list", cwd=project)
    assert result.returncode == 1 and "called sys.exit(0)" in result.stderr


# -- output contracts --------------------------------------------------------------------------
@pytest.mark.parametrize("args, where", [
    (["module", "test", "42"], "project"),
    (["module", "list"], "outside"),
    (["milestone", "progress"], "outside"),
    (["module", "frobnicate"], "project"),
    (["milestone", "run", "nope"], "project"),
    (["module", "test", "00"], "syntax"),
])
def test_json_stdout_is_always_one_document(project, tmp_path, tito, args, where):
    cwd = tmp_path if where == "outside" else project
    if where == "syntax":
        source = project / "modules" / "00_setup" / "setup.py"
        source.write_text(source.read_text(encoding="utf-8") + "\ndef broken(:\n", encoding="utf-8")
    result = tito(*args, "--json", cwd=cwd)
    assert result.returncode != 0
    data = json.loads(result.stdout)
    assert data.get("error") and data.get("exit_code") == result.returncode, data


def test_milestone_ids_ignore_case_and_release_quotes_its_path(exported_project, tito, tmp_path):
    result = tito("milestone", "info", "PERCEPTRON", cwd=exported_project)
    assert result.returncode == 0 and "1957 - The Perceptron" in result.stdout
    spaced = tmp_path / "my course"
    result = tito("release", spaced, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert f"Next: cd '{spaced}' && tito module list" in result.stdout.replace("\n", "")


def test_a_course_folder_with_brackets_and_spaces_runs_its_tests_and_milestones(tito, tmp_path, _isolated_home,
                                                                                monkeypatch):
    """pytest reads a "[" in a path argument as the start of a parameter id; tito's runs must
    not depend on the folder's name ("CS 101 [fall]"), nor on the temporary folder's, nor on
    the cache's (a fresh one: the warm-up run is named from a bracketed folder too)."""
    course = copy_project(REPO, tmp_path / "CS 101 [fall]" / "course", keep_exports=True)
    for variable, folder in (("TMPDIR", "tmp [1]"), ("TITO_CACHE_DIR", "cache [2]")):
        (tmp_path / folder).mkdir()
        monkeypatch.setenv(variable, str(tmp_path / folder))
    completed = tito("module", "complete", "00", cwd=course)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    recorded = run_tracker_script("complete", "01_tensor", "02_autograd", cwd=course, home=_isolated_home)
    assert recorded.returncode == 0, recorded.stderr
    result = tito("milestone", "run", "perceptron", "--json", cwd=course)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["passed"] is True
    assert list((tmp_path / "cache [2]").rglob(".warm")), "the cache was warmed from its bracketed folder"


# -- solutions never leak from a release ---------------------------------------------------------
def test_release_copies_only_what_a_student_copy_needs(tmp_path, tito):
    course = copy_project(REPO, tmp_path / "course")
    tensor = course / "modules" / "01_tensor"
    (tensor / "tensor.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source":
                                         (tensor / "tensor.py").read_text(encoding="utf-8")}]}), encoding="utf-8")
    (tensor / "scratch.py").write_text((tensor / "tensor.py").read_text(encoding="utf-8"), encoding="utf-8")
    (tensor / ".tensor.py.abc123.tmp").write_text((tensor / "tensor.py").read_text(encoding="utf-8"))
    (course / "modules" / "1_misnamed").mkdir()
    (course / "modules" / "1_misnamed" / "misnamed.py").write_text("secret = 1\n", encoding="utf-8")
    (course / "notes.txt").write_text("instructor notes\n", encoding="utf-8")
    result = tito("release", tmp_path / "student", cwd=course)
    assert result.returncode == 0, result.stdout + result.stderr
    copy = tmp_path / "student"
    assert sorted(p.name for p in (copy / "modules" / "01_tensor").iterdir()) == ["tensor.py"]
    assert not (copy / "modules" / "1_misnamed").exists() and not (copy / "notes.txt").exists()
    assert not (copy / "benchmarks").exists() and not list(copy.rglob("*.ipynb"))
    assert (copy / ".tito" / "manifest.json").is_file()
    assert json.loads((copy / ".tito" / "project.json").read_text())["kind"] == "student"


def test_a_leak_aborts_the_release_and_leaves_nothing(tmp_path, monkeypatch):
    from tito import student_copy

    monkeypatch.setattr(student_copy, "strip_solutions", lambda text, module_id: text)  # a broken stripper
    destination = tmp_path / "student"
    with pytest.raises(Exception, match="release aborted: solution text found in the copy"):
        student_copy.build_release(REPO, destination)
    assert not destination.exists() and list(tmp_path.iterdir()) == []


def test_an_interrupted_release_leaves_nothing_behind(tmp_path, monkeypatch):
    from tito import student_copy

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(student_copy, "leak_scan", interrupted)
    with pytest.raises(KeyboardInterrupt):
        student_copy.build_release(REPO, tmp_path / "student")
    assert list(tmp_path.iterdir()) == [], "no half-made copy, no temporary folder"
    monkeypatch.undo()
    student_copy.build_release(REPO, tmp_path / "student")  # and the next release works
    assert (tmp_path / "student" / "modules").is_dir()


def test_a_destination_inside_the_project_is_refused(tito, project):
    result = tito("release", project / "somewhere" / "copy", cwd=project)
    assert result.returncode == 1 and "is inside this project" in result.stderr
    assert not (project / "somewhere").exists()


def test_a_solution_quoted_in_prose_or_a_hint_aborts_the_release(tmp_path, tito):
    course = copy_project(REPO, tmp_path / "course")
    source = course / "modules" / "02_autograd" / "autograd.py"
    text = source.read_text(encoding="utf-8")
    assert "        grad = grad.sum(axis=stretched, keepdims=True)\n" in text, "the line must be a solution line"
    source.write_text(text.replace("# ## Broadcasting, backwards: `unbroadcast`\n",
                                   "# ## Broadcasting, backwards: `unbroadcast`\n#\n"
                                   "#     grad = grad.sum(axis=stretched, keepdims=True)  # the whole trick\n", 1),
                      encoding="utf-8")
    result = tito("release", tmp_path / "student", cwd=course)
    assert result.returncode == 1 and "release aborted: solution text found in the copy" in result.stderr
    assert "modules/02_autograd/autograd.py" in result.stderr
    assert not (tmp_path / "student").exists()
