"""Run a module's inline tests (``test_unit_*``) sealed, and decide the verdict.

``tito module test`` / ``complete`` / ``check`` read the module's source **once** (the
snapshot), run its tests on exactly those bytes in a sealed pytest subprocess
(:mod:`tito.sealed`), and ``complete`` exports that same snapshot — an autosave during the
tests cannot slip untested code into the package.

A module passes only when every top-level ``test_unit_*`` its snapshot defines (counted from
the source, not from what pytest says it collected) was reported passed by tito's plugin and
returned normally, and the pytest session ended normally. No tests, a test that did not run,
a skip, an ``os._exit``/``pytest.exit``, an interrupt, a crash or a timeout is a failure whose
message says which.
"""

import glob
import hashlib
import re
import shlex
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tito.learning_run import blame_frames
from tito.manifest import test_function_lines, test_function_names
from tito.sealed import run_sealed

DEFAULT_TIMEOUT = 300
_ARTIFACTS = re.compile(r"^\s*(Use -v to get (more|the full) diff|\(pytest_assertion plugin:.*\))\s*$")


@dataclass
class CaseResult:
    name: str  # "test_unit_matmul"
    outcome: str  # "passed", "failed", "error", "skipped" or "not run"
    duration: float
    message: str = ""  # the exception, as the student should read it
    details: str = ""  # pytest's full report (shown with -v)
    location: str = ""  # the student's line: "modules/01_tensor/tensor.py:130"
    test_line: str = ""  # the test's own line and expression
    blame: str = ""  # the deepest frame in the student's module code, with its expression


@dataclass
class TestRun:
    """What one run of a module's inline tests found."""

    __test__ = False  # not a pytest test class

    module_id: str
    cases: list = field(default_factory=list)
    duration: float = 0.0
    returncode: int = None
    problem: str = ""  # why the run failed besides failing tests (no tests, crash, ...)
    output: str = ""  # pytest's output (head and tail)
    source_text: str = ""  # the snapshot that was tested
    expected: list = field(default_factory=list)  # the test_unit_* functions the snapshot defines
    export_errors: dict = field(default_factory=dict)  # staged export module -> why it does not import

    @property
    def source_sha256(self):
        return hashlib.sha256(self.source_text.encode("utf-8")).hexdigest()

    def count(self, outcome):
        return sum(case.outcome == outcome for case in self.cases)

    @property
    def tests(self):
        return len(self.cases)

    @property
    def passed(self):
        return self.count("passed")

    @property
    def failed(self):
        return self.count("failed")

    @property
    def errors(self):
        return self.count("error")

    @property
    def skipped(self):
        return self.count("skipped")

    @property
    def not_run(self):
        return self.count("not run")

    @property
    def failures(self):
        return [case for case in self.cases if case.outcome not in ("passed",)]

    @property
    def ok(self):
        return not self.problem and bool(self.expected) and not self.failures and self.passed >= len(self.expected)

    def summary(self):
        """pytest's style: ``12 passed in 0.84s`` / ``1 failed, 11 passed in 0.90s``."""
        parts = [
            f"{n} {label}"
            for n, label in (
                (self.failed, "failed"),
                (self.passed, "passed"),
                (self.skipped, "skipped"),
                (self.not_run, "not run"),
                (self.errors, "error" if self.errors == 1 else "errors"),
            )
            if n
        ]
        return f"{', '.join(parts) or 'no tests ran'} in {self.duration:.2f}s"

    def to_dict(self):
        return {
            "module": self.module_id,
            "ok": self.ok,
            "tests": self.tests,
            "expected": len(self.expected),
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
            "not_run": self.not_run,
            "duration": round(self.duration, 3),
            "problem": self.problem,
            "source_sha256": self.source_sha256,
            "cases": [
                {
                    "name": case.name,
                    "outcome": case.outcome,
                    "duration": round(case.duration, 4),
                    "message": case.message,
                    "location": case.location,
                    "test_line": case.test_line,
                    "blame": case.blame,
                }
                for case in self.cases
            ],
        }


def snapshot_source(info):
    """The module source's bytes as text, read once (what gets tested and exported)."""
    return Path(info.source).read_bytes().decode("utf-8")


def _only(path):
    """A ``python_files`` pattern that matches ``path`` and nothing else. pytest rewrites the
    asserts of every imported file that matches, so ``*.py`` rewrote all of NumPy on each run
    (0.3 s of a module's 0.8 s); the module under test is the only file whose asserts matter."""
    return shlex.quote(glob.escape(str(path)))


def run_module_tests(root, info, console=None, timeout=DEFAULT_TIMEOUT, source_text=None, staged=None):
    """Run ``info``'s ``test_unit_*`` functions on a snapshot of its source; returns a :class:`TestRun`.

    With a ``console``, shows a live status (tests done / collected and the last result).
    ``staged`` (``{path: text}``, the export ``tito module complete`` is about to write): the
    run imports ``tinytorch`` from a copy of the package with those files in place, checks
    first that each of them imports (``run.export_errors``), and the project's own package
    is not touched until everything passed.
    """
    root = Path(root).resolve()
    text = snapshot_source(info) if source_text is None else source_text
    run = TestRun(info.id, source_text=text)
    try:
        run.expected = test_function_names(text)
    except SyntaxError:
        run.expected = []
    relpath = Path(info.source).resolve().relative_to(root).as_posix()
    with tempfile.TemporaryDirectory(prefix="tito-test-") as scratch:
        snapshot = Path(scratch, "snapshot", Path(info.source).name)
        snapshot.parent.mkdir()
        snapshot.write_text(text, encoding="utf-8")
        package, imports, env = None, [], None
        if staged:
            package, imports = _stage_package(root, Path(scratch, "staged"), staged)
            env = {"TINYTORCH_DATA": str(root / "datasets" / "tinydigits")}  # the data stays where it is
        status = _LiveStatus(info, console)
        with status:
            sealed = run_sealed(  # the snapshot named from the scratch folder: no "[" of TMPDIR in pytest's argument
                root, snapshot.relative_to(scratch), timeout=timeout, on_event=status.update, scratch=Path(scratch),
                pytest_args=["--import-mode=importlib", "-o", "python_functions=test_unit_*",
                             "-o", "python_classes=", "-o", f"python_files={_only(snapshot)}"],
                package=package, imports=imports, env=env,
            )
    run.export_errors = {e.get("module"): e.get("error", "") for e in sealed.of("import_failed")}
    run.returncode, run.output = sealed.returncode, _unsnapshot(sealed.output, snapshot, relpath)
    run.duration = sealed.duration
    _collect_cases(run, sealed, root, snapshot, relpath)
    _judge(run, sealed, root, relpath, snapshot)
    return run


def _stage_package(root, folder, staged):
    """A copy of the project's ``tinytorch/`` with the staged files written in; returns the
    package folder and the dotted modules the staged ``.py`` files define."""
    import shutil

    package = folder / "tinytorch"
    shutil.copytree(root / "tinytorch", package, ignore=shutil.ignore_patterns("__pycache__", ".*.tmp"))
    modules = []
    for path, text in staged.items():
        rel = Path(path).resolve().relative_to(root)
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")
        if rel.suffix == ".py":
            modules.append(".".join(rel.with_suffix("").parts))
    return package, modules


class _LiveStatus:
    """``Running 01_tensor tests 3/7 — test_unit_matmul passed`` while the tests run."""

    def __init__(self, info, console):
        self.info, self.console, self.total, self.done, self.last = info, console, None, 0, ""
        self.status = None

    def __enter__(self):
        if self.console is not None:
            self.status = self.console.status(f"Running {self.info.id} tests...")
            self.status.__enter__()
        return self

    def __exit__(self, *exc):
        if self.status is not None:
            self.status.__exit__(*exc)

    def update(self, event):
        if event.get("event") == "collected":
            self.total = len(event.get("nodeids", []))
        elif event.get("event") == "report" and (event.get("when") == "call" or event.get("outcome") != "passed"):
            self.done += 1
            self.last = f" — {event.get('name')} {event.get('outcome')}"
        else:
            return
        if self.status is not None:
            count = f" {self.done}/{self.total}" if self.total is not None else ""
            self.status.update(f"Running {self.info.id} tests{count}{self.last}")


def _unsnapshot(text, snapshot, relpath):
    """Messages name the student's file, not tito's snapshot of it."""
    return str(text or "").replace(str(snapshot), relpath)


def _clean(text):
    """The message without pytest's leftovers (no "-v" hints: tito's -v shows everything)."""
    return "\n".join(line for line in str(text or "").splitlines() if not _ARTIFACTS.match(line)).strip()


def _collect_cases(run, sealed, root, snapshot, relpath):
    by_name = {}
    for event in sealed.of("collect_error"):
        details = _unsnapshot(event.get("longrepr", ""), snapshot, relpath)
        message = "\n".join(line[1:].strip() for line in details.splitlines() if line.startswith("E ")) or details
        run.cases.append(CaseResult("importing the module", "error", 0.0, _clean(message)[-3000:], details,
                                    _first_location(details, relpath)))
    for event in sealed.of("collect_skipped"):
        skip = event.get("skip") or {}
        where = _unsnapshot(f"{skip.get('path', '?')}:{skip.get('line', '?')}", snapshot, relpath)
        run.cases.append(CaseResult("importing the module", "skipped", 0.0,
                                    f"the whole module was skipped at {where}: {skip.get('reason', '')}", location=where))
    for event in sealed.of("report"):
        name = event.get("name") or event.get("nodeid", "?").rpartition("::")[2]
        case = by_name.get(name)
        if case is None:
            case = by_name[name] = CaseResult(name, "passed", 0.0)
            run.cases.append(case)
        case.duration += float(event.get("duration") or 0)
        outcome, when = event.get("outcome"), event.get("when")
        if outcome == "passed" or case.outcome != "passed":
            continue
        if event.get("wasxfail"):
            case.outcome, case.message = "failed", "marked xfail: an expected failure is not a pass"
        elif outcome == "skipped":
            skip = event.get("skip") or {}
            where = _unsnapshot(f"{skip.get('path', '?')}:{skip.get('line', '?')}", snapshot, relpath)
            case.outcome, case.message, case.location = "skipped", f"skipped at {where}: {skip.get('reason', '')}", where
        else:
            case.outcome = "failed" if when == "call" else "error"
            case.details = _unsnapshot(event.get("longrepr", ""), snapshot, relpath)
            case.message = _clean(_unsnapshot(event.get("exception", "") or case.details, snapshot, relpath))
            _blame(case, event.get("frames") or [], root, snapshot, relpath)
    returned = {e.get("nodeid", "").rpartition("::")[2]: e for e in sealed.of("returned")}
    for case in run.cases:
        if case.outcome == "passed" and case.name in returned and not returned[case.name].get("ok"):
            case.outcome, case.message = "failed", "the test did not return normally"
    _check_test_functions(run, sealed, snapshot)
    seen = {case.name for case in run.cases}
    if "importing the module" in seen:
        return  # the module did not import: that one error is the report, not every test after it
    for name in run.expected:
        if name not in seen:
            run.cases.append(CaseResult(name, "not run", 0.0, "this test never ran (the run stopped before it)"))


def _check_test_functions(run, sealed, snapshot):
    """Each test pytest ran must be the function the module's source defines at its line: a
    test replaced while the module ran (``globals()["test_unit_x"] = ...``) is not a pass."""
    collected = sealed.first("collected") or {}
    where = dict(zip(collected.get("names", []), collected.get("locations", [])))
    defined = test_function_lines(run.source_text)
    for case in run.cases:
        location, line = where.get(case.name), defined.get(case.name)
        if case.outcome != "passed" or line is None or location is None:
            continue
        if Path(location[0]) != Path(snapshot).resolve() or location[1] != line:
            case.outcome = "failed"
            case.message = (f"{case.name} is not the test the module defines at line {line}: something replaced it "
                            "while the module ran, so its result does not count")


def _blame(case, frames, root, snapshot, relpath):
    """The test's own line and the deepest frame in the student's code, each with its expression."""
    def is_test(frame):
        return Path(frame.get("path", "")) == snapshot and str(frame.get("function", "")).startswith("test_unit_")

    tests = [frame for frame in frames if is_test(frame)]
    if tests:
        case.test_line = f"{relpath}:{tests[-1]['line']}: {tests[-1].get('code', '').strip()}"
        case.location = f"{relpath}:{tests[-1]['line']}"
    for frame in reversed(frames):  # the deepest frame in the student's own code
        path = Path(frame.get("path", ""))
        if path == snapshot and not is_test(frame):
            where, function, code = f"{relpath}:{frame['line']}", frame.get("function"), frame.get("code", "")
        elif (root / "tinytorch") in path.parents:
            found = blame_frames(root, [frame])[0]
            where, function, code = found["source"] or found["where"], found["function"], found["code"]
        else:
            continue
        case.blame = f"{where} in {function}: {str(code).strip()}"
        case.location = where
        return


def _first_location(details, relpath):
    match = re.search(re.escape(relpath) + r":(\d+)", details)
    return f"{relpath}:{match.group(1)}" if match else ""


def _judge(run, sealed, root, relpath, snapshot):
    """Every way a run can fail without a failing test becomes ``run.problem``."""
    early = _unsnapshot(sealed.ended_early_message(), snapshot, relpath).replace(f"{root}/", "")
    if early:
        run.problem = early
        return
    if not run.expected and not any(case.name == "importing the module" for case in run.cases):
        run.problem = f"no tests found: {relpath} defines no top-level `test_unit_*` functions"
        return
    if run.failures:
        return
    missing = [name for name in run.expected if name not in {c.name for c in run.cases if c.outcome == "passed"}]
    if missing:
        run.problem = f"these tests did not pass: {', '.join(missing)}"
    elif sealed.returncode != 0:
        run.problem = f"pytest exited with code {sealed.returncode} although every test passed"
