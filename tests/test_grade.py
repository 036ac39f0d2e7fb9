"""`tito grade`: a class graded against the course's pristine tests, each submission isolated.

The class is generated here from the course (tests/grade_class.py: a fresh release with the
reference sources pasted in, then each student's twist), graded once by the real CLI in a
subprocess (module-scoped), and every assertion reads that one gradebook.
"""

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time

import pytest

from tito import grading
from tito.gradebook import Weights, cache_key, load_weights, render_csv, score
from tito.project import ProjectError, discover_modules
from tito.student_copy import solution_only_lines
from tito.submissions import Limits, read_submission

from conftest import REPO, cli_env
from grade_class import (ADD_FOREVER, CORE, PID_DIR_ENV, add_tar_member, append_cell, as_tar, as_zip, exits, make_class,
                         paste, zipslip)

TIMEOUT = 12  # seconds for one test run: the endless loop costs this much, once
MILESTONES = ["perceptron", "xor", "mlp_digits"]
MODULES = ["00_setup", "01_tensor", "02_autograd", "03_nn", "04_training"]

P, F, NA, B = "passed", "failed", "not attempted", "blocked"
EXPECTED = {  # student: (modules 00-04, milestones perceptron xor mlp_digits)
    "honest": ([P, P, P, P, P], [P, P, P]),
    "partial": ([P, P, P, NA, NA], [P, "locked", "locked"]),
    "tampered": ([P, P, P, F, B], [P, "locked", "locked"]),
    "endless": ([P, F, B, B, B], ["locked"] * 3),
    "syntax": ([P, P, F, B, B], ["locked"] * 3),
    "liar": ([P, P, P, P, P], [P, P, F]),
    "exits": ([P, P, P, F, B], [F, "locked", "locked"]),
    "rewriter": ([P, P, P, F, NA], [F, "locked", "locked"]),
}


def grade(*args, cwd=REPO, home, env_extra=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "tito", "grade", *map(str, args)], cwd=cwd,
                          env=cli_env(home, **(env_extra or {})), capture_output=True, text=True, encoding="utf-8",
                          timeout=timeout)


@pytest.fixture(scope="module")
def pristine(released):
    """conftest's fresh release of the course (tests copy it before changing anything)."""
    return released


class Graded:
    def __init__(self, base, folder, out, result, seconds, pids):
        self.base, self.folder, self.out, self.result, self.seconds, self.pids = base, folder, out, result, seconds, pids
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        self.document = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
        self.rows = {row["student"]: row for row in self.document["students"]}


@pytest.fixture(scope="module")
def graded(pristine, tmp_path_factory):
    """The whole class, graded once: -j 2, a 12 s limit per test run, three milestones."""
    base = tmp_path_factory.mktemp("class")
    folder = make_class(base / "submissions", base, pristine=pristine)
    zipslip(folder, pristine)
    pids = base / "pids"
    pids.mkdir()
    out = base / "out" / "grades.csv"
    started = time.monotonic()
    result = grade(folder, "--out", out, "--milestones", ",".join(MILESTONES), "--timeout", TIMEOUT, "-j", 2,
                   home=base / "home", env_extra={PID_DIR_ENV: str(pids)})
    return Graded(base, folder, out, result, time.monotonic() - started, pids)


def statuses(row):
    return ([row["modules"][m]["status"] for m in MODULES], [row["milestones"][m]["status"] for m in MILESTONES])


def test_each_submission_gets_exactly_what_it_deserves(graded):
    assert graded.document["modules"] == MODULES and graded.document["milestones"] == MILESTONES
    assert set(graded.rows) == set(EXPECTED) | {"zipslip"}
    for student, expected in EXPECTED.items():
        assert statuses(graded.rows[student]) == expected, (student, graded.rows[student])
        assert graded.rows[student]["status"] == "graded", graded.rows[student]
    honest_row = graded.rows["honest"]
    assert honest_row["total"] == honest_row["max"] == 5 * 1 + 3 * 2 and honest_row["percent"] == 100.0
    assert graded.rows["partial"]["total"] == 3 + 2
    assert honest_row["milestones"]["mlp_digits"]["metrics"]["accuracy"] >= 0.9


def test_a_zip_that_climbs_out_of_its_folder_is_rejected(graded):
    row = graded.rows["zipslip"]
    assert row["status"] == "rejected" and "../evil.py" in row["reason"], row
    assert row["total"] == 0 and row["modules"] == {} and row["milestones"] == {}
    assert not (graded.base / "evil.py").exists() and not (graded.folder.parent / "evil.py").exists()


def test_tampered_tests_are_reported_and_the_course_tests_decide(graded):
    row = graded.rows["tampered"]
    assert row["modules"]["01_tensor"]["tampered"] == ["test_unit_arithmetic"]
    assert row["modules"]["01_tensor"]["status"] == P, "the code is right: the course's own test passes"
    linear = row["modules"]["03_nn"]
    assert linear["tampered"] == ["test_unit_linear"] and linear["status"] == F
    assert linear["message"].startswith("test_unit_linear: AssertionError"), "only the course's own test catches it"
    assert row["protected_changed"] == ["tests/milestones/test_learning_verification.py"]
    assert all(not graded.rows[s]["modules"][m]["tampered"] for s in ("honest", "partial") for m in MODULES)
    assert graded.rows["honest"]["protected_changed"] == []


def test_failures_say_what_happened(graded):
    endless = graded.rows["endless"]["modules"]["01_tensor"]["message"]
    assert f"did not finish within {TIMEOUT} s" in endless
    assert graded.rows["syntax"]["modules"]["02_autograd"]["message"].startswith("syntax error at line ")
    exits_row = graded.rows["exits"]
    assert "SystemExit: 3" in exits_row["modules"]["03_nn"]["message"]
    assert exits_row["milestones"]["perceptron"]["reason"].startswith("pytest ended early: os._exit(0)")
    assert exits_row["modules"]["04_training"]["message"] == "needs 03_nn to pass first"
    assert graded.rows["partial"]["modules"]["03_nn"]["message"] == "unchanged from the release"
    assert graded.rows["partial"]["milestones"]["xor"]["missing"] == ["03_nn"]


def test_a_lying_accuracy_does_not_pass_a_milestone(graded):
    mlp = graded.rows["liar"]["milestones"]["mlp_digits"]
    assert mlp["status"] == F and mlp["metrics"]["accuracy"] < 0.5, mlp
    assert "loss did not fall" in mlp["reason"] or "recognizes" in mlp["reason"], mlp["reason"]


def test_a_test_replaced_at_import_time_is_bound_again(graded):
    linear = graded.rows["rewriter"]["modules"]["03_nn"]
    assert linear["tampered"] == [], "the source's tests are the course's: only the run-time swap cheats"
    assert linear["status"] == F and linear["message"].startswith("test_unit_linear: AssertionError"), linear
    reported = int(re.search(r"modules/03_nn/nn\.py:(\d+)", linear["details"]).group(1))
    source = (REPO / "modules" / "03_nn" / "nn.py").read_text(encoding="utf-8").splitlines()
    start = next(n for n, line in enumerate(source, 1) if line.startswith("def test_unit_linear("))
    end = next(n for n, line in enumerate(source[start:], start + 1) if line and not line[0].isspace())
    assert start < reported < end, "the failure points at a line of the course's own test_unit_linear"


def test_a_learning_test_rewritten_during_the_run_does_not_count(graded):
    perceptron = graded.rows["rewriter"]["milestones"]["perceptron"]
    assert perceptron["metrics"]["accuracy"] == 1.0, "the rewritten test ran (the cheat took effect)"
    assert perceptron["status"] == F and "changed while the learning test ran" in perceptron["reason"]


def test_the_run_stays_within_its_limits(graded):
    assert graded.rows["endless"]["seconds"] < 60, "one test run hit the limit, the rest was blocked"
    assert max(row["seconds"] for row in graded.rows.values()) < 90
    assert graded.seconds < 300
    written = list(graded.pids.iterdir())
    assert written, "the forking student's detached processes ran"
    alive = [path.name for path in written if _alive(int(path.read_text()))]
    assert alive == [], f"detached processes outlived the grading: {alive}"
    assert not (graded.base / "home" / "progress.json").exists(), "grading records no progress anywhere"


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_csv_and_the_feedback_files(graded):
    rows = {row["student"]: row for row in csv.DictReader(io.StringIO(graded.out.read_text(encoding="utf-8")))}
    assert list(next(csv.reader(io.StringIO(graded.out.read_text(encoding="utf-8"))))) == [
        "student", "status", "total", "max", "percent", *MODULES, *MILESTONES, "tampered",
        "protected_files_changed", "flags", "reason", "seconds"]
    assert rows["honest"]["total"] == "11" and rows["honest"]["04_training"] == P
    assert rows["tampered"]["tampered"] == "01_tensor 03_nn"
    assert rows["zipslip"]["status"] == "rejected" and rows["zipslip"]["total"] == "0"
    feedback = graded.out.parent / "feedback"
    assert sorted(path.name for path in feedback.glob("*.md")) == sorted(f"{name}.md" for name in graded.rows)
    tampered = (feedback / "tampered.md").read_text(encoding="utf-8")
    assert "Total: 5 / 11 points" in tampered and "tests tampered with" in tampered
    assert "tito module reset 03 --tests" in tampered and "test_learning_verification.py" in tampered
    assert "did not finish within" in (feedback / "endless.md").read_text(encoding="utf-8")
    assert "could not be graded" in (feedback / "zipslip.md").read_text(encoding="utf-8")
    secret = solution_only_lines(REPO, discover_modules(REPO))
    for path in feedback.glob("*.md"):
        for line in path.read_text(encoding="utf-8").splitlines():
            assert " ".join(line.strip().lstrip("#").split()) not in secret, f"{path.name} shows a solution: {line}"


def test_a_second_run_reuses_unchanged_submissions(graded, tmp_path):
    """Same folder again (one submission changed, new weights): only the changed one is graded."""
    out = tmp_path / "out" / "grades.csv"
    shutil.copytree(graded.out.parent, out.parent)
    syntax = graded.folder / "syntax" / "modules" / "00_setup" / "setup.py"
    original = syntax.read_text(encoding="utf-8")
    weights = tmp_path / "weights.toml"
    weights.write_text('[modules]\ndefault = 2\n"03" = 5\n[milestones]\nperceptron = 10\n[penalties]\ntampered = 1\n',
                       encoding="utf-8")
    try:
        syntax.write_text(original + "\n# a comment added since the last run\n", encoding="utf-8")
        result = grade(graded.folder, "--out", out, "--milestones", ",".join(MILESTONES), "--timeout", TIMEOUT,
                       "--weights", weights, "--json", home=tmp_path / "home")
    finally:
        syntax.write_text(original, encoding="utf-8")
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)
    rows = {row["student"]: row for row in document["students"]}
    assert rows["syntax"]["cached"] is False and statuses(rows["syntax"]) == EXPECTED["syntax"]
    assert all(rows[s]["cached"] for s in EXPECTED if s != "syntax")
    assert "unchanged since the last run" in result.stderr
    assert rows["honest"]["total"] == rows["honest"]["max"] == 4 * 2 + 5 + 10 + 2 + 2
    assert rows["tampered"]["total"] == 3 * 2 + 10 - 2, "two modules' tests tampered with: 1 point each"
    assert json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))["weights"]["milestones"] == {"perceptron": 10}


def test_a_submission_over_its_time_limit_is_stopped_whole(pristine, tmp_path):
    """The wall-clock limit of a whole submission: its worker and every process it started go.
    (The student forks detached processes when 00 is imported, and 01's tests never end: the
    4 s limit of the submission comes long before the 60 s limit of a test run.)"""
    folder = tmp_path / "submissions"
    folder.mkdir()
    copy = tmp_path / "exits"
    shutil.copytree(pristine, copy)
    exits(copy)
    append_cell(copy, "01_tensor", ADD_FOREVER)
    shutil.copytree(copy, folder / "exits")
    pids = tmp_path / "pids"
    pids.mkdir()
    started = time.monotonic()
    result = grade(folder, "--out", tmp_path / "out" / "grades.csv", "--milestones", "perceptron", "--timeout", 60,
                   "--submission-timeout", 4, "--json", home=tmp_path / "home", env_extra={PID_DIR_ENV: str(pids)})
    assert result.returncode == 0, result.stderr[-3000:]
    (row,) = json.loads(result.stdout)["students"]
    assert row["status"] == "time limit" and "within 4 s" in row["reason"], row
    assert row["seconds"] < 12 and time.monotonic() - started < 60
    assert "not graded" in [entry["status"] for entry in row["modules"].values()] + \
        [row["milestones"]["perceptron"]["status"]]
    time.sleep(0.5)
    assert [p.name for p in pids.iterdir() if _alive(int(p.read_text()))] == []


# -- reading submissions safely -----------------------------------------------------------------------
WANTED = [info.source.relative_to(REPO).as_posix() for info in discover_modules(REPO)]


def read(path, kind, limits=Limits()):
    return read_submission(path.name, path, kind, WANTED, limits=limits)


def small_project(tmp_path, name="alice"):
    folder = tmp_path / name
    for relpath in WANTED[:2]:
        (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
        (folder / relpath).write_text(f"# {relpath}\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("member, why", [
    ("../evil.py", "leaves the folder"), ("/etc/evil.py", "absolute path"), ("a/../../evil.py", "leaves the folder"),
    ("C:/evil.py", "absolute path"), ("..\\evil.py", "leaves the folder"),
])
def test_unsafe_zip_members_reject_the_archive(tmp_path, member, why):
    archive = as_zip(small_project(tmp_path), tmp_path / "alice.zip", extra=[(member, b"x")])
    submission = read(archive, "zip")
    assert why in submission.rejected and submission.sources == {}


def _tar_info(name, kind, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize("info, why", [
    (_tar_info("project/link", tarfile.SYMTYPE, "../../etc/passwd"), "a link leaving the folder"),
    (_tar_info("project/abs", tarfile.SYMTYPE, "/etc/passwd"), "a link leaving the folder"),
    (_tar_info("project/hard", tarfile.LNKTYPE, "../outside"), "unsafe path"),
    (_tar_info("project/dev", tarfile.CHRTYPE), "device file"),
    (_tar_info("project/fifo", tarfile.FIFOTYPE), "device file"),
    (_tar_info("../project/x.py", tarfile.REGTYPE), "leaves the folder"),
])
def test_unsafe_tar_members_reject_the_archive(tmp_path, info, why):
    archive = as_tar(small_project(tmp_path), tmp_path / "alice.tar.gz")
    add_tar_member(archive, info)
    submission = read(archive, "tar")
    assert why in submission.rejected, submission.rejected


def test_a_link_inside_a_tar_is_fine_and_the_project_may_sit_in_a_folder(tmp_path):
    archive = as_tar(small_project(tmp_path), tmp_path / "alice.tar.gz", top="alice-main")
    add_tar_member(archive, _tar_info("alice-main/modules/link.py", tarfile.SYMTYPE, "00_setup/setup.py"))
    submission = read(archive, "tar")
    assert submission.rejected == "" and submission.prefix == "alice-main/"
    assert sorted(submission.sources) == WANTED[:2]


def test_archive_limits(tmp_path):
    archive = as_zip(small_project(tmp_path), tmp_path / "alice.zip")
    assert "more than 1 files" in read(archive, "zip", Limits(files=1)).rejected
    assert "unpacks to more than" in read(archive, "zip", Limits(total_bytes=10)).rejected
    assert "larger than" in read(archive, "zip", Limits(archive_bytes=10)).rejected
    one = read(archive, "zip", Limits(file_bytes=5))
    assert one.rejected == "" and "larger than" in one.problems[WANTED[0]]
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    assert "not a valid zip" in read(tmp_path / "broken.zip", "zip").rejected
    (tmp_path / "broken.tar.gz").write_bytes(b"\x1f\x8b not really")
    assert "not a valid tar" in read(tmp_path / "broken.tar.gz", "tar").rejected


def test_a_folder_submission_never_follows_a_link_out_of_it(tmp_path):
    folder = small_project(tmp_path)
    target = folder / WANTED[1]
    target.unlink()
    target.symlink_to(REPO / WANTED[1])  # the instructor's reference solution
    fifo = folder / WANTED[2]
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    submission = read(folder, "folder")
    assert WANTED[1] not in submission.sources and "outside the submission" in submission.problems[WANTED[1]]
    assert "not a regular file" in submission.problems[WANTED[2]]
    assert WANTED[0] in submission.sources
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no module sources" in read(empty, "folder").rejected


def test_a_module_source_that_is_not_utf8_is_a_problem_of_that_module(tmp_path):
    folder = small_project(tmp_path)
    (folder / WANTED[0]).write_bytes(b"\xff\xfe not utf-8")
    submission = read(folder, "folder")
    assert "not UTF-8" in submission.problems[WANTED[0]] and WANTED[1] in submission.sources


# -- the pieces ----------------------------------------------------------------------------------------
def test_the_worker_channel_ignores_forged_and_replayed_lines():
    key = os.urandom(32)
    sent = io.StringIO()
    channel = grading._Channel(key, sent)
    channel.send("module", id="00_setup", entry={"status": "failed"})
    good = sent.getvalue().encode()
    forged = b"0" * 64 + b' {"event": "module", "seq": 2, "id": "00_setup", "entry": {"status": "passed"}}\n'

    class Job:
        result = {"modules": {}, "milestones": {}}

    grader = grading.Grader.__new__(grading.Grader)
    grader.on_event = lambda *args: None
    state = {"seq": 0, "done": False, "error": "", "bad": 0}
    grader._read(io.BytesIO(good + forged + good), key, state, Job)
    assert Job.result["modules"] == {"00_setup": {"status": "failed"}}
    assert state["bad"] == 2, "a forged line and a replayed one"


def test_the_memory_limit_applies_to_the_worker_and_its_children():
    code = ("from tito.grading import _limit_resources\n_limit_resources({'memory_mb': 300})\n"
            "import subprocess, sys\n"
            "r = subprocess.run([sys.executable, '-c', 'import numpy; numpy.ones(10**8)'], capture_output=True)\n"
            "print(r.returncode, b'MemoryError' in r.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.stdout.split() == ["1", "True"], result.stdout + result.stderr


def test_a_changed_release_is_refused_by_the_worker(pristine, tmp_path):
    listing = grading._listing(pristine)
    copy = tmp_path / "copy"
    shutil.copytree(pristine, copy)
    grading._verify_copy(copy, listing)
    (copy / "tests" / "milestones" / "learning_checks.py").write_text("# replaced\n", encoding="utf-8")
    with pytest.raises(grading.GradingError, match="changed during grading"):
        grading._verify_copy(copy, listing)


POISON_THE_SHARED_CACHE = '''
import importlib._bootstrap_external as _external
import os as _os
from pathlib import Path as _Path

import numpy as _numpy

# The grader warmed one bytecode cache for the class (its workdir/bytecode) and copies it to
# each submission: replace NumPy's compiled __init__ there by code that leaves a mark.
_workdir = _Path(_os.environ["TITO_CACHE_DIR"]).parents[2]
_source = _Path(_numpy.__file__)
_evil = compile(f"open({_os.environ['GRADE_TEST_POISONED']!r}, 'w').close()", str(_source), "exec")
_stat = _source.stat()
for _pyc in (_workdir / "bytecode").rglob("__init__.*.pyc"):
    if _pyc.parent.name == "numpy":
        _pyc.write_bytes(bytes(_external._code_to_timestamp_pyc(_evil, int(_stat.st_mtime), _stat.st_size)))
'''


def test_a_submission_cannot_poison_the_bytecode_the_next_one_gets(pristine, tmp_path):
    """The grader compiles pytest and NumPy once and gives each submission a copy, checked
    against its hashes: a submission that rewrites the shared copy reaches no other one."""
    folder = tmp_path / "submissions"
    for name, twist in (("a-poisoner", POISON_THE_SHARED_CACHE), ("b-honest", None)):
        copy = tmp_path / name
        shutil.copytree(pristine, copy)
        paste(copy, ["00_setup"])
        if twist:
            append_cell(copy, "00_setup", twist)
        shutil.copytree(copy, folder / name)
    marker = tmp_path / "poisoned-bytecode-ran"
    result = grade(folder, "--out", tmp_path / "out" / "grades.csv", "--modules", "00", "--milestones", "none",
                   "-j", 1, "--json", home=tmp_path / "home", env_extra={"GRADE_TEST_POISONED": str(marker)})
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {row["student"]: row for row in json.loads(result.stdout)["students"]}
    assert rows["a-poisoner"]["status"] == "graded", rows["a-poisoner"]
    assert not marker.exists(), "the bytecode one submission planted ran in another's tests"
    assert rows["b-honest"]["status"] == "error", rows["b-honest"]
    assert "the grader's bytecode cache changed during grading" in rows["b-honest"]["reason"]


class FakeCourse:
    def __init__(self, fingerprint="a", manifest="m"):
        self.fingerprint, self.manifest_sha256 = fingerprint, manifest


def test_the_cache_key_changes_with_the_course_the_grader_and_the_options():
    options = grading.Options(timeout=10)
    key = cache_key("content", FakeCourse(), "grader", ["00_setup"], ["perceptron"], options)
    assert key == cache_key("content", FakeCourse(), "grader", ["00_setup"], ["perceptron"], grading.Options(timeout=10))
    assert len({key, cache_key("other", FakeCourse(), "grader", ["00_setup"], ["perceptron"], options),
                cache_key("content", FakeCourse("b"), "grader", ["00_setup"], ["perceptron"], options),
                cache_key("content", FakeCourse(manifest="n"), "grader", ["00_setup"], ["perceptron"], options),
                cache_key("content", FakeCourse(), "tito 2", ["00_setup"], ["perceptron"], options),
                cache_key("content", FakeCourse(), "grader", ["00_setup"], [], options),
                cache_key("content", FakeCourse(), "grader", ["00_setup"], ["perceptron"], grading.Options(timeout=5)),
                }) == 7


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return grading.prepare_course(REPO, tmp_path_factory.mktemp("course"))


def test_selection_follows_prerequisites_and_milestones(course):
    assert grading.select(course, milestones=["perceptron"]) == (CORE, ["perceptron"])
    assert grading.select(course, modules=["3"]) == (CORE + ["03_nn"], ["perceptron", "xor"])
    assert grading.select(course, modules=["00,tensor"], milestones=["none"]) == (CORE[:2], [])
    everything = grading.select(course)
    assert everything[0] == [info.id for info in discover_modules(REPO)] and everything[1][-1] == "mlperf"
    with pytest.raises(ProjectError, match="Unknown milestone 'perceptrn'"):
        grading.select(course, milestones=["perceptrn"])
    with pytest.raises(ProjectError, match="Did you mean 01_tensor"):
        grading.select(course, modules=["tensr"])


def test_weights(course, tmp_path):
    example = load_weights(REPO / "docs" / "weights.example.toml", course)
    assert example.module("05_spatial") >= example.module_default and example.milestone("mlperf") > 0
    path = tmp_path / "w.toml"
    for text, message in [("[modules]\nnope = 1\n", "Unknown module"), ("[milestones]\nxorr = 1\n", "unknown milestone"),
                          ("[modules]\ndefault = -1\n", "must be a number"), ("[bonus]\nx = 1\n", "unknown section"),
                          ("[penalties]\nlate = 1\n", "unknown penalty"), ("[modules\n", "not valid TOML")]:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ProjectError, match=message):
            load_weights(path, course)
    row = {"modules": {"00_setup": {"status": P, "tampered": ["t"]}, "01_tensor": {"status": F, "tampered": []}},
           "milestones": {"perceptron": {"status": "locked"}}}
    weights = Weights(modules={"01_tensor": 3}, tampered_penalty=5)
    assert score(row, weights, ["00_setup", "01_tensor"], ["perceptron"]) == {"total": 0, "max": 6, "percent": 0.0}
    assert score(row, Weights(), ["00_setup", "01_tensor"], ["perceptron"])["total"] == 1


def test_csv_cells_are_never_formulas():
    document = {"source": {"artifacts": False}, "modules": [], "milestones": [], "students": [
        {"student": "=HYPERLINK(\"x\")", "status": "rejected", "total": 0, "max": 0, "percent": None, "modules": {},
         "milestones": {}, "reason": "+1", "flags": [], "protected_changed": [], "seconds": 0}]}
    (row,) = list(csv.DictReader(io.StringIO(render_csv(document))))
    assert row["student"] == "'=HYPERLINK(\"x\")" and row["reason"] == "'+1"


def test_usage_errors(tmp_path):
    result = grade(home=tmp_path / "home")
    assert result.returncode == 2 and "SUBMISSIONS_DIR or --from-artifacts" in result.stderr
    result = grade(tmp_path / "missing", home=tmp_path / "home")
    assert result.returncode == 2 and "is not a folder" in result.stderr
    (tmp_path / "class").mkdir()
    result = grade(tmp_path / "class", "--from-artifacts", tmp_path / "class", home=tmp_path / "home")
    assert result.returncode == 2
    result = grade("--from-artifacts", tmp_path / "class", "--verify-sample", "some", home=tmp_path / "home")
    assert result.returncode == 2 and "--verify-sample" in result.stderr
    result = grade(tmp_path / "class", "--out", tmp_path / "class" / "grades.csv", home=tmp_path / "home")
    assert result.returncode == 2 and "inside the submissions folder" in result.stderr
