"""Run a module's inline tests (``test_unit_*``) with pytest in a subprocess.

The subprocess runs in the project root with the project first on ``PYTHONPATH``, so
``import tinytorch`` is *this* project's package. This file is also the pytest plugin
loaded into that subprocess (``-p tito.runner``): it refuses to run when ``tinytorch``
resolves outside the project, and reports each finished test so the parent can show a
live status. The verdict comes from pytest's JUnit XML and its exit code: no tests, a
collection or import error, a crash or a timeout is a failure, never a pass.
"""

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

_ROOT_ENV = "TITO_PROJECT_ROOT"
_PROGRESS_ENV = "TITO_PROGRESS_FILE"
_GUARD_PREFIX = "TITO-GUARD:"
GUARD_EXIT = 99
DEFAULT_TIMEOUT = 600


@dataclass
class CaseResult:
    name: str  # "test_unit_matmul"
    outcome: str  # "passed", "failed", "error" or "skipped"
    duration: float
    message: str = ""  # pytest's one-line-ish reason (the assertion with its explanation)
    details: str = ""  # the short traceback
    location: str = ""  # "modules/01_tensor/tensor.py:130"


@dataclass
class TestRun:
    """What one run of a module's inline tests found."""

    __test__ = False  # not a pytest test class

    module_id: str
    cases: list = field(default_factory=list)
    duration: float = 0.0  # pytest's own session time
    returncode: int = None
    problem: str = ""  # why the run failed besides failing tests (no tests, crash, ...)
    output: str = ""  # pytest's stdout and stderr

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
    def failures(self):
        return [case for case in self.cases if case.outcome in ("failed", "error")]

    @property
    def ok(self):
        return (
            self.returncode == 0
            and not self.problem
            and self.passed > 0
            and not self.failures
        )

    def summary(self):
        """pytest's style: ``12 passed in 0.84s`` / ``1 failed, 11 passed in 0.90s``."""
        parts = [
            f"{n} {label}"
            for n, label in (
                (self.failed, "failed"),
                (self.passed, "passed"),
                (self.skipped, "skipped"),
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
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
            "duration": round(self.duration, 3),
            "problem": self.problem,
            "cases": [
                {
                    "name": case.name,
                    "outcome": case.outcome,
                    "duration": round(case.duration, 4),
                    "message": case.message,
                    "location": case.location,
                }
                for case in self.cases
            ],
        }


def build_pytest_command(source, junit):
    return [
        sys.executable, "-m", "pytest", str(source),
        "-q", "--tb=short", "--import-mode=importlib",
        "-p", "no:cacheprovider", "-p", "tito.runner",
        "-o", "python_functions=test_unit_*", "-o", "python_classes=", "-o", "python_files=*.py",
        "-o", "junit_family=xunit2", f"--junitxml={junit}",
    ]  # fmt: skip


def subprocess_env(root, progress_file=None):
    """The subprocess environment: this project first on the path, UTF-8 output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only the plugins we name
    # The course's matrices are small: BLAS threads gain nothing on them, and on a busy
    # machine they fight other processes for the cores (a 0.5 s test took 10 s). One
    # thread each, unless the user chose otherwise.
    for threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(threads, "1")
    env[_ROOT_ENV] = str(root)
    env.pop("PYTEST_ADDOPTS", None)
    if progress_file:
        env[_PROGRESS_ENV] = str(progress_file)
    return env


def run_module_tests(root, info, console=None, timeout=DEFAULT_TIMEOUT):
    """Run ``info``'s ``test_unit_*`` functions; returns a :class:`TestRun`.

    With a ``console``, shows a live status (the test running count and the last result).
    """
    root = Path(root).resolve()
    run = TestRun(info.id)
    with tempfile.TemporaryDirectory(prefix="tito-test-") as scratch:
        junit = Path(scratch, "junit.xml")
        progress = Path(scratch, "progress.txt")
        output = Path(scratch, "output.txt")
        with open(output, "w+b") as out:
            proc = subprocess.Popen(
                build_pytest_command(info.source, junit),
                cwd=root, env=subprocess_env(root, progress), stdout=out, stderr=subprocess.STDOUT,
            )
            try:
                run.returncode = _wait(proc, info, progress, console, timeout)
            except subprocess.TimeoutExpired:
                run.problem = f"the tests did not finish within {timeout} s (an endless loop?) and were stopped"
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            out.seek(0)
            run.output = out.read().decode("utf-8", errors="replace")
        _read_junit(run, junit, root, info)
        run.problem = run.problem or _guard_message(progress)
    _judge(run, info, root)
    return run


def _wait(proc, info, progress, console, timeout):
    deadline = time.monotonic() + timeout
    if console is None:
        return proc.wait(timeout=timeout)
    with console.status(f"Running {info.id} tests...") as status:
        while proc.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(proc.args, timeout)
            status.update(_status_text(info, progress))
            time.sleep(0.1)
    return proc.returncode


def _status_text(info, progress):
    try:
        lines = progress.read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    total, done, last = None, 0, ""
    for line in lines:
        kind, _, rest = line.partition("\t")
        if kind == "collected":
            total = rest
        elif kind != "guard":
            done += 1
            last = f" — {rest} {kind}"
    count = f" {done}/{total}" if total else ""
    return f"Running {info.id} tests{count}{last}"


def _guard_message(progress):
    try:
        lines = progress.read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    return next((line.partition("\t")[2] for line in lines if line.startswith("guard\t")), "")


def _read_junit(run, junit, root, info):
    try:
        tree = ET.parse(junit)
    except (OSError, ET.ParseError):
        return
    suites = [tree.getroot()] if tree.getroot().tag == "testsuite" else list(tree.getroot().iter("testsuite"))
    for suite in suites:
        run.duration += float(suite.get("time") or 0)
        for case in suite.iter("testcase"):
            outcome, message, details = "passed", "", ""
            for tag in ("failure", "error", "skipped"):
                element = case.find(tag)
                if element is not None:
                    outcome = {"failure": "failed"}.get(tag, tag)
                    message = element.get("message") or ""
                    details = element.text or ""
                    break
            name = case.get("name") or "?"
            if outcome == "error" and message == "collection failure":
                name = "importing the module"  # an error importing the module itself
                message = _error_lines(details) or message
            run.cases.append(
                CaseResult(name, outcome, float(case.get("time") or 0), message.strip(), details.rstrip(), _location(details, root, info))
            )


def _error_lines(details):
    """The ``E   ...`` lines of a pytest traceback: what went wrong, without the frames."""
    import textwrap

    lines = [line[1:].rstrip() for line in details.splitlines() if line.startswith("E ")]
    return textwrap.dedent("\n".join(line for line in lines if line.strip()))


def _location(details, root, info):
    """The student's line: the last traceback frame in the module source, else in the project."""
    source = Path(info.source).resolve()
    found, in_source = "", ""
    for line in details.splitlines():
        head = line.split(": ", 1)[0] if ": " in line else line.rstrip(":")
        path, _, number = head.rpartition(":")
        if path and number.isdigit() and not path.startswith(" "):
            candidate = Path(path) if Path(path).is_absolute() else root / path
            if candidate.is_file() and root in candidate.resolve().parents:
                found = f"{Path(os.path.relpath(candidate.resolve(), root)).as_posix()}:{number}"
                if candidate.resolve() == source:
                    in_source = found
    return in_source or found


def _judge(run, info, root):
    """Every way a run can fail without a failing test becomes ``run.problem``."""
    if run.problem:
        return
    if run.failures:
        return
    elif run.returncode == 5 or (run.returncode == 0 and not run.cases):
        run.problem = (
            f"no tests found: {Path(os.path.relpath(info.source, root)).as_posix()} defines no "
            "top-level `test_unit_*` functions"
        )
    elif run.returncode not in (0, 1):
        tail = "\n".join(run.output.strip().splitlines()[-15:])
        run.problem = f"pytest stopped with exit code {run.returncode}:\n{tail}"
    elif run.returncode == 0 and run.passed == 0:
        run.problem = "every test was skipped; nothing was checked"


# ---------------------------------------------------------------------------------------
# The pytest plugin half (runs inside the test subprocess).


class ProjectOnlyFinder:
    """Wraps a meta-path finder: it may not supply ``tinytorch`` from outside the project.

    Without it an editable install of another checkout (setuptools appends a finder that
    maps ``tinytorch.*`` to that checkout) would quietly supply any file the project has
    not exported yet, and a test would pass on someone else's code. A spec from outside
    is dropped (``None``), so probing with ``find_spec`` still works and importing a
    file the project lacks is a plain ``ModuleNotFoundError``.
    """

    def __init__(self, finder, root):
        self.finder = finder
        self.package = Path(root).resolve() / "tinytorch"

    def find_spec(self, name, path=None, target=None):
        find = getattr(self.finder, "find_spec", None)
        spec = find(name, path, target) if find else None
        if spec is not None and (name == "tinytorch" or name.startswith("tinytorch.")):
            where = spec.origin if spec.has_location else next(iter(spec.submodule_search_locations or []), None)
            if where is None or self.package not in Path(where).resolve().parents:
                return None
        return spec

    def __getattr__(self, attribute):
        return getattr(self.finder, attribute)


def install_project_guard(root):
    """Wrap every added meta-path finder in :class:`ProjectOnlyFinder` (idempotent).

    The standard finders stay as they are: the path finder resolves ``tinytorch`` from
    ``sys.path`` (project root first) and its submodules from the package's own folder.
    """
    from importlib.machinery import BuiltinImporter, FrozenImporter, PathFinder

    standard = (BuiltinImporter, FrozenImporter, PathFinder)
    for index, finder in enumerate(sys.meta_path):
        if finder in standard or isinstance(finder, ProjectOnlyFinder):
            continue
        if type(finder).__name__ == "AssertionRewritingHook":  # pytest removes it by identity
            continue
        sys.meta_path[index] = ProjectOnlyFinder(finder, root)


def pytest_configure(config):
    root = os.environ.get(_ROOT_ENV)
    if root:
        install_project_guard(root)


def pytest_sessionstart(session):
    """Refuse to test against any ``tinytorch`` but the project's own."""
    import importlib.util

    root = os.environ.get(_ROOT_ENV)
    if not root:
        return
    root = Path(root).resolve()
    spec = importlib.util.find_spec("tinytorch")
    origin = Path(spec.origin).resolve() if spec is not None and spec.origin else None
    if origin is None or origin != root / "tinytorch" / "__init__.py":
        import pytest

        message = (
            f"`import tinytorch` would load {origin or 'nothing'}, not this project's "
            f"{root / 'tinytorch'}; refusing to test against another copy."
        )
        _report("guard", message)
        pytest.exit(f"{_GUARD_PREFIX} {message}", returncode=GUARD_EXIT)


def pytest_collection_finish(session):
    _report("collected", str(len(session.items)))


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        outcome = "error" if report.failed and report.when != "call" else report.outcome
        _report(outcome, report.nodeid.rpartition("::")[2])


def _report(kind, text):
    path = os.environ.get(_PROGRESS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{kind}\t{text}\n")
