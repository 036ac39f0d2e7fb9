"""Student copies as instructors and students get them: release, reset, start, Jupyter."""

import json
import os
import shutil
import subprocess
import sys
import time

import jupytext
import pytest

from tito.project import discover_modules, generated_files, resolve_module
from tito.solutions import BEGIN, END, solution_blocks, solution_lines, strip_solutions

from conftest import REPO


def lines_only_in_solutions(text):
    """Solution lines that appear nowhere outside a solution block of the same source."""
    lines = text.splitlines()
    inside = {i for begin, end in solution_blocks(text) for i in range(begin, end + 1)}
    outside = {line.strip() for i, line in enumerate(lines) if i not in inside}
    return [line for line in solution_lines(text) if line not in outside and line not in (BEGIN, END)]


@pytest.fixture
def course(released, tmp_path):
    """A copy of an instructor's `tito release` of this repository (conftest's ``released``:
    the real CLI, once per test module), for a test to change."""
    return shutil.copytree(released, tmp_path / "course", symlinks=True)


def test_release_leaves_no_solution_text(course):
    modules = discover_modules(REPO)
    assert len(modules) >= 3
    for module in modules:
        original = module.source.read_text(encoding="utf-8")
        student = (course / module.source.relative_to(REPO)).read_text(encoding="utf-8")
        secret = lines_only_in_solutions(original)
        assert secret, f"{module.id} has solution blocks to hide"
        student_lines = {line.strip() for line in student.splitlines()}
        leaked = [line for line in secret if line in student_lines]
        assert not leaked, f"{module.id} leaks solution lines: {leaked[:5]}"
        assert student.count("raise NotImplementedError(") >= len(solution_blocks(original))


def test_release_keeps_everything_but_the_solutions(course):
    for module in discover_modules(REPO):
        original = module.source.read_text(encoding="utf-8")
        student = (course / module.source.relative_to(REPO)).read_text(encoding="utf-8")
        assert student == strip_solutions(original, module.id)
        for keep in ("# %% [markdown]", "def test_unit_", "#| export", "#| default_exp"):
            assert original.count(keep) == student.count(keep), f"{module.id} lost {keep!r} lines"
    assert generated_files(course) == [], "tinytorch/ holds only its skeleton"
    assert (course / "tinytorch" / "__init__.py").exists()
    assert not list(course.rglob("progress.json")), "no progress files"


def test_student_form_raises_at_the_right_indentation():
    source = (
        "class A:\n"
        "    @property\n"
        "    def value(self):\n"
        "        ### BEGIN SOLUTION\n"
        "        if True:\n"
        "            return 1\n"
        "        ### END SOLUTION\n"
        "\n"
        "def f(x):\n"
        "    def inner():\n"
        "        ### BEGIN SOLUTION\n"
        "        return x\n"
        "        ### END SOLUTION\n"
        "    return inner\n"
    )
    student = strip_solutions(source, "99_demo")
    namespace = {}
    exec(compile(student, "student.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="A.value"):
        namespace["A"]().value
    with pytest.raises(NotImplementedError, match="f.inner"):
        namespace["f"](1)()
    assert "return 1" not in student and "return x" not in student


def test_release_refuses_an_existing_project(course, tito):
    marker = course / "modules" / "01_tensor" / "tensor.py"
    before = marker.read_text(encoding="utf-8")
    result = tito("release", course, cwd=REPO)
    assert result.returncode == 1
    assert "not empty" in result.stderr and "refusing" in result.stderr
    assert marker.read_text(encoding="utf-8") == before


def test_student_copy_is_a_working_project(course, tito):
    listing = tito("module", "list", cwd=course)
    assert listing.returncode == 0, listing.stderr
    assert "01_tensor" in listing.stdout and "08_transformer" in listing.stdout and "14_benchmarking" in listing.stdout
    progress = tito("milestone", "progress", "--json", cwd=course)
    assert progress.returncode == 0, progress.stderr
    milestones = json.loads(progress.stdout)["milestones"]
    assert len(milestones) == 6 and {m["status"] for m in milestones} == {"locked"}, "every milestone starts locked"
    test01 = tito("module", "test", "01", cwd=course)
    assert test01.returncode == 1
    assert "NotImplementedError" in test01.stdout and "Tensor.__init__" in test01.stdout
    complete00 = tito("module", "complete", "00", cwd=course)
    assert complete00.returncode == 1, "00_setup is unsolved in the student copy"
    assert "nothing was exported" in complete00.stdout
    assert generated_files(course) == []
    locked = tito("milestone", "run", "perceptron", cwd=course)
    assert locked.returncode == 1 and "00_setup" in locked.stdout + locked.stderr


def test_pasting_the_solutions_back_unlocks_and_passes_the_perceptron(course, tito):
    for number in ("00", "01", "02"):
        module = resolve_module(REPO, number)
        (course / module.source.relative_to(REPO)).write_text(module.source.read_text(encoding="utf-8"), encoding="utf-8")
        result = tito("module", "complete", number, cwd=course)
        assert result.returncode == 0, result.stdout + result.stderr
    assert "MILESTONE UNLOCKED" in result.stdout and "Perceptron" in result.stdout
    run = tito("milestone", "run", "perceptron", cwd=course)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "MILESTONE COMPLETED" in run.stdout


def test_reset_backs_up_restores_the_student_form_and_removes_exports(exported_project, tito):
    for number in ("00", "01"):
        assert tito("module", "complete", number, cwd=exported_project).returncode == 0
    source = exported_project / "modules" / "01_tensor" / "tensor.py"
    solved = source.read_text(encoding="utf-8")

    refused = tito("module", "reset", "01", cwd=exported_project, input="")
    assert refused.returncode == 1 and "--yes" in refused.stdout
    assert source.read_text(encoding="utf-8") == solved, "nothing changes without --yes"

    result = tito("module", "reset", "01", "--yes", cwd=exported_project)
    assert result.returncode == 0, result.stdout + result.stderr
    backups = list(source.parent.glob("tensor.py.bak-*"))
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == solved
    assert source.read_text(encoding="utf-8") == strip_solutions(solved, "01_tensor")
    assert not (exported_project / "tinytorch" / "core" / "tensor.py").exists()
    status = tito("module", "list", "--json", cwd=exported_project)
    assert '"01_tensor"' in status.stdout
    again = tito("module", "complete", "01", cwd=exported_project)
    assert again.returncode == 1 and "NotImplementedError" in again.stdout


def test_start_creates_a_paired_notebook_and_records_the_module(project, tito):
    result = tito("module", "start", "01", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    notebook = project / "modules" / "01_tensor" / "tensor.ipynb"
    assert notebook.exists()
    assert "jupyter lab modules/01_tensor/tensor.ipynb" in result.stdout
    assert "tito module complete 01" in result.stdout
    assert jupytext.read(notebook).metadata["jupytext"]["formats"] == "ipynb,py:percent"
    progress = (project / "progress.json").read_text(encoding="utf-8")
    assert "01_tensor" in progress


def test_an_edit_made_in_the_notebook_is_exported(project, tito):
    assert tito("module", "complete", "00", cwd=project).returncode == 0
    assert tito("module", "start", "01", cwd=project).returncode == 0
    notebook_path = project / "modules" / "01_tensor" / "tensor.ipynb"
    notebook = jupytext.read(notebook_path)
    cell = next(c for c in notebook.cells if c.cell_type == "code" and c.source.startswith("#| export\ndef _data"))
    cell.source += "\n\n\nNOTEBOOK_EDIT = 'made in Jupyter'\n"
    jupytext.write(notebook, notebook_path, fmt="ipynb")
    # What Jupyter's jupytext pairing does on save: the paired .py follows the notebook.
    sync = subprocess.run(
        [sys.executable, "-m", "jupytext", "--sync", str(notebook_path)], capture_output=True, text=True
    )
    assert sync.returncode == 0, sync.stderr
    result = tito("module", "complete", "01", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    exported = (project / "tinytorch" / "core" / "tensor.py").read_text(encoding="utf-8")
    assert "NOTEBOOK_EDIT = 'made in Jupyter'" in exported
    assert "NOTEBOOK_EDIT" in exported.split("__all__ = ", 1)[1].split("\n", 1)[0]


def test_complete_warns_when_the_notebook_has_unsynced_edits(project, tito):
    assert tito("module", "start", "00", cwd=project).returncode == 0
    notebook_path = project / "modules" / "00_setup" / "setup.ipynb"
    later = time.time() + 10
    os.utime(notebook_path, (later, later))
    touched = tito("module", "complete", "00", cwd=project)
    assert touched.returncode == 0 and "newer" not in touched.stderr, "a notebook saved unchanged is no warning"

    notebook = jupytext.read(notebook_path)
    notebook.cells[-1].source += "\nAn edit made in Jupyter, not yet in the .py."
    jupytext.write(notebook, notebook_path, fmt="ipynb")
    os.utime(notebook_path, (later + 10, later + 10))
    edited = tito("module", "test", "00", cwd=project)
    assert "newer" in edited.stderr and "jupytext --sync" in edited.stderr
