"""A student's first hours in a student copy: their own README, the learning tests under plain
pytest, messages that point at the fix, one consistent next step, watch mode and hints."""

import re
import shutil
import subprocess
import sys
import time

import pytest

from tito.project import resolve_module

from conftest import REPO, cli_env, project_env, run_tito, write_module

CORE = ["00_setup", "01_tensor", "02_autograd"]


@pytest.fixture
def student(released, tmp_path):
    copy = tmp_path / "student"
    shutil.copytree(released, copy)
    return copy


def paste_solutions(copy, *module_ids):
    for module_id in module_ids:
        info = resolve_module(REPO, module_id)
        (copy / info.source.relative_to(REPO)).write_text(info.source.read_text(encoding="utf-8"), encoding="utf-8")


def test_the_student_readme_is_the_students(student):
    readme = (student / "README.md").read_text(encoding="utf-8")
    for text in ('pip install -e ".[dev]"', "tito module list", "tito module start 00", "tito module complete 00",
                 "QUICKSTART.md", "STUDENT_GUIDE.md", "modules/01_tensor/tensor.py"):
        assert text in readme, text
    for instructor_only in ("tito demo", "tito release", "For instructors", "benchmarks/", "python -m pytest"):
        assert instructor_only not in readme, instructor_only
    for link in re.findall(r"\]\(([^)#]+)\)", readme):
        assert (student / link).exists(), f"the README links to {link}, which the copy does not have"


def test_demo_in_a_student_copy_says_it_needs_the_course(student, tito):
    result = tito("demo", cwd=student)
    assert result.returncode == 1
    assert "course repository" in result.stdout and "Next: tito module list" in result.stdout
    assert "did not complete on the reference solution" not in result.stdout


def test_no_page_of_a_student_copy_sends_a_student_to_tito_demo(student, tito):
    pages = ["README.md", *[p.relative_to(student).as_posix() for p in (student / "tests" / "milestones").glob("*.md")
                            if p.name in ("QUICKSTART.md", "STUDENT_GUIDE.md", "WORKFLOW.md")]]
    for page in pages:
        text = (student / page).read_text(encoding="utf-8")
        assert "tito demo" not in text, f"{page} suggests `tito demo` to a student"
    listing = tito("milestone", "list", cwd=student)
    assert "tito demo" not in listing.stdout


def test_plain_pytest_on_the_learning_tests_says_what_is_locked(student):
    paste_solutions(student, *CORE)
    for module_id in CORE:
        assert run_tito("module", "complete", module_id, cwd=student).returncode == 0
    result = subprocess.run([sys.executable, "-m", "pytest", "tests/milestones/test_learning_verification.py", "-q",
                             "-rs", "-p", "no:cacheprovider"], cwd=student, env=project_env(student),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout
    assert re.search(r"1 passed, \d+ skipped", result.stdout), result.stdout
    assert "xor is locked: tinytorch.nn.modules is not exported yet — complete 03_nn first" in result.stdout
    assert "tito module complete 03" in result.stdout
    assert "ModuleNotFoundError" not in result.stdout


def test_a_failure_shows_the_test_line_and_the_students_function(student, tito):
    paste_solutions(student, "00_setup", "01_tensor")
    source = student / "modules" / "01_tensor" / "tensor.py"
    text = source.read_text(encoding="utf-8")
    # An _amax that ignores keepdims: the shape goes wrong there, and breaks later, in a subtraction.
    broken = text.replace("return Tensor._wrap(self.data.max(axis=axis, keepdims=keepdims))",
                          "return Tensor._wrap(self.data.max(axis=axis))")
    assert broken != text
    source.write_text(broken, encoding="utf-8")
    assert tito("module", "complete", "00", cwd=student).returncode == 0
    result = tito("module", "test", "01", cwd=student)
    assert result.returncode == 1
    out = result.stdout
    assert "test:  modules/01_tensor/tensor.py:" in out, out
    assert "from:  modules/01_tensor/tensor.py:" in out, out
    assert "Use -v" not in out and "more lines; full report" not in out
    assert "(add -v to see the full traceback)" in out
    verbose = tito("module", "test", "01", "-v", cwd=student)
    assert "Traceback" not in verbose.stderr and verbose.stdout.count("tensor.py:") > out.count("tensor.py:")


def test_testing_a_module_before_its_prerequisite_points_at_the_prerequisite(student, tito):
    paste_solutions(student, *CORE)
    assert tito("module", "complete", "00", cwd=student).returncode == 0
    result = tito("module", "test", "02", cwd=student)
    assert result.returncode == 1
    next_lines = [line for line in result.stdout.splitlines() if "Next:" in line]
    assert next_lines == [next_lines[0]] and "tito module complete 01" in next_lines[0], result.stdout
    assert "It builds on 01_tensor" in result.stdout


HINTED = '''
# %% [markdown]
# # Module 00 — Base

# %%
#| default_exp toy.base
#| export
def one():
    ### BEGIN SOLUTION
    return 2
    ### END SOLUTION

# %%
def test_unit_one():
    """Hint: the number of the beast divided by six hundred and sixty-six."""
    assert one() == 1
'''


@pytest.fixture
def toy(bare_project):
    write_module(bare_project, "00_base", HINTED)
    return bare_project


def test_hint_shows_the_first_failing_tests_nudge(toy, tito):
    result = tito("module", "hint", "00", cwd=toy)
    assert result.returncode == 1
    assert "test_unit_one" in result.stdout and "number of the beast" in result.stdout
    assert "Next: tito module watch 00" in result.stdout
    (toy / "modules" / "00_base" / "base.py").write_text(HINTED.replace("return 2", "return 1"), encoding="utf-8")
    result = tito("module", "hint", "00", cwd=toy)
    assert result.returncode == 0 and "no hint needed" in result.stdout
    assert "Next: tito module complete 00" in result.stdout


def test_watch_reruns_on_save_hints_when_stuck_and_says_when_done(toy, _isolated_home):
    source = toy / "modules" / "00_base" / "base.py"
    log = toy / "watch.log"
    with open(log, "w", encoding="utf-8") as out:
        watcher = subprocess.Popen([sys.executable, "-m", "tito", "module", "watch", "00", "--max-runs", "3",
                                    "--poll", "--interval", "0.2"], cwd=toy, env=cli_env(_isolated_home),
                                   stdout=out, stderr=subprocess.STDOUT)

        def wait_for(count, text):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                seen = log.read_text(encoding="utf-8")
                if seen.count(text) >= count:
                    return seen
                assert watcher.poll() is None or seen.count(text) >= count, seen
                time.sleep(0.1)
            raise AssertionError(log.read_text(encoding="utf-8"))

        first = wait_for(1, "Waiting for you to save")
        assert "test_unit_one" in first and "number of the beast" not in first, "no hint at the first failure"
        source.write_text(HINTED + "\n", encoding="utf-8")  # saved, still wrong
        second = wait_for(2, "Waiting for you to save")
        assert "number of the beast" in second, "the hint comes after a second failure of the same test"
        source.write_text(HINTED.replace("return 2", "return 1"), encoding="utf-8")
        watcher.wait(timeout=60)
    done = log.read_text(encoding="utf-8")
    assert "complete it with tito module complete 00" in " ".join(done.split()), done
    assert watcher.returncode == 0 and "Traceback" not in done


def test_a_gradient_check_failure_names_the_expression_and_shapes(student, tito):
    paste_solutions(student, *CORE)
    source = student / "modules" / "02_autograd" / "autograd.py"
    text = source.read_text(encoding="utf-8")
    broken = text.replace("return grad * out * (1.0 - out)", "return grad * out")
    assert broken != text
    source.write_text(broken, encoding="utf-8")
    for number in ("00", "01"):
        assert tito("module", "complete", number, cwd=student).returncode == 0
    result = tito("module", "test", "02", cwd=student)
    assert result.returncode == 1
    assert "a.sigmoid()" in result.stdout and "(3, 4)" in result.stdout, result.stdout
