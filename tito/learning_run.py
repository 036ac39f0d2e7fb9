"""Run one milestone's learning test, sealed, and decide its verdict (tito's, not pytest's).

A milestone run passes only when every one of these holds:

* the one learning-test node was collected and nothing else;
* its setup, call and teardown were reported ``passed`` by tito's plugin (not skipped, not
  xfailed, not errored), and the test function returned normally;
* the test reached its last line (``run.complete()`` reported ``finished``);
* it reported metrics, and every bar in the tracker's ``MILESTONES[id]["required"]`` is met
  (checked here, from the reported metrics);
* the pytest session ended normally (no ``os._exit``, ``pytest.exit``, interrupt, crash or
  timeout).

Anything else is a failure whose ``reason`` says what happened, e.g. "the learning test was
skipped at tinytorch/core/tensor.py:88: …" or "pytest ended early: os._exit(0) called from …".
"""

from dataclasses import dataclass, field
from pathlib import Path

from tito.exporter import source_location
from tito.sealed import run_sealed

DEFAULT_TIMEOUT_FLOOR = 120  # seconds; at least 10x the milestone's usual time


def default_timeout(entry):
    """The wall-clock limit of a milestone run: generous, 10x its usual time, 2 minutes at least."""
    return max(DEFAULT_TIMEOUT_FLOOR, 10 * float(entry.get("seconds") or 10))


@dataclass
class LearningVerdict:
    milestone_id: str
    passed: bool = False
    reason: str = ""  # why it is not a pass ("" when it passed)
    metrics: dict = field(default_factory=dict)
    unmet: list = field(default_factory=list)  # bars not met
    failed_test: bool = False  # the test ran and failed (an assertion or an error in it)
    failure: str = ""  # the test's failure text (pytest's report)
    blame: list = field(default_factory=list)  # project files on the failing path, deepest last
    output: str = ""
    duration: float = 0.0
    sealed: object = None

    def to_dict(self):
        return {"passed": self.passed, "reason": self.reason or None, "metrics": self.metrics,
                "unmet": self.unmet, "duration": round(self.duration, 3)}


def run_learning_test(root, tracker_module, milestone_id, timeout=None, on_event=None, imports=()):
    """Run the milestone's learning test in ``root``; returns a :class:`LearningVerdict`."""
    root = Path(root).resolve()
    entry = tracker_module.milestone(milestone_id)
    milestone_id = entry["id"]
    nodeid = tracker_module.nodeid(milestone_id)
    timeout = timeout or default_timeout(entry)
    test_file = Path(tracker_module.TEST_FILE)
    # Named as a module on the learning tests' own folder (--pyargs), not by its path: pytest
    # reads a "[" in a path as the start of a parameter id (a course folder "CS 101 [fall]").
    sealed = run_sealed(
        root, f"{test_file.stem}::{nodeid.partition('::')[2]}", timeout=timeout, imports=imports, on_event=on_event,
        sys_path=[root / test_file.parent], pytest_args=["--pyargs"],
    )
    verdict = LearningVerdict(milestone_id, sealed=sealed, output=sealed.output, duration=sealed.duration)
    metrics_event = sealed.first("metrics")
    if metrics_event is not None and isinstance(metrics_event.get("metrics"), dict):
        verdict.metrics = metrics_event["metrics"]
    verdict.reason = _judge(root, sealed, nodeid, milestone_id, verdict).replace(f"{root}/", "")
    if not verdict.reason:
        verdict.unmet = tracker_module.unmet_bars(milestone_id, verdict.metrics)
        if verdict.unmet:
            verdict.reason = "the metrics miss the milestone's bars: " + "; ".join(verdict.unmet)
    else:
        verdict.unmet = tracker_module.unmet_bars(milestone_id, verdict.metrics) if verdict.metrics else []
    verdict.passed = not verdict.reason
    return verdict


def _where(root, path, line):
    """``tinytorch/core/tensor.py:88`` (relative to the project when inside it)."""
    try:
        rel = Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        rel = str(path)
    return f"{rel}:{line}"


def blame_frames(root, frames):
    """The frames of ``frames`` in the project's own code (its package and module sources),
    each as ``{"where", "source", "function", "code"}`` — ``source`` is the module source
    line a generated file's line came from."""
    package = root / "tinytorch"
    found = []
    for frame in frames or []:
        path = Path(frame.get("path", ""))
        if package in path.parents:
            found.append({"where": _where(root, path, frame.get("line")),
                          "source": source_location(root, path, frame.get("line")),
                          "function": frame.get("function"), "code": frame.get("code", "")})
    return found


def _judge(root, sealed, nodeid, milestone_id, verdict):
    """Why the run is not a pass ("" when nothing is wrong before the bars are checked)."""
    early = sealed.ended_early_message()
    if sealed.timed_out or early.startswith("pytest ended early: os._exit"):
        return early
    failed_imports = sealed.of("import_failed")
    if failed_imports:
        first = failed_imports[0]
        verdict.blame = blame_frames(root, first.get("frames"))
        where = verdict.blame[-1]["where"] if verdict.blame else first["module"]
        if first.get("kind") in ("Skipped", "XFailed"):
            what = "skipped" if first["kind"] == "Skipped" else "marked xfail"
            return f"the learning test was {what} at {where} (importing {first['module']}): {first.get('error', '').strip()}"
        return f"{first['module']} does not import: {first.get('error', '').strip()}"
    if early:
        return early
    collected = sealed.first("collected")
    nodeids = collected.get("nodeids", []) if collected else []
    if nodeid not in nodeids:
        errors = sealed.of("collect_error")
        detail = f": {errors[0].get('longrepr', '').strip()[-1500:]}" if errors else ""
        return f"the learning test {nodeid} was not collected{detail}"
    if len(nodeids) != 1:
        return f"expected exactly one learning test, collected {len(nodeids)}"
    location = (collected.get("locations") or [None])[0]
    expected = _defined_at(root, nodeid)
    if expected is not None and (location is None or (Path(location[0]), location[1]) != expected):
        return (f"the learning test that ran is not the one {nodeid.split('::')[0]} defines at line {expected[1]}: "
                "something replaced it, so its result does not count")
    reports = {event.get("when"): event for event in sealed.reports(nodeid)}
    for phase in ("setup", "call", "teardown"):
        report = reports.get(phase)
        if report is None:
            return f"the learning test's {phase} was never reported: it did not run to its end"
        if report.get("wasxfail"):
            return f"the learning test was marked xfail at its {phase}; an expected failure is not a pass"
        if report.get("outcome") == "skipped":
            skip = report.get("skip") or {}
            where = _where(root, skip.get("path", "?"), skip.get("line", "?")) if skip else "?"
            return f"the learning test was skipped at {where}: {skip.get('reason', '').strip()}"
        if report.get("outcome") != "passed":
            verdict.failed_test = phase == "call"
            verdict.failure = report.get("longrepr", "") or report.get("exception", "")
            verdict.blame = blame_frames(root, report.get("frames"))
            return f"the learning test failed: {_first_line(report.get('exception') or report.get('longrepr'))}"
    returned = [e for e in sealed.of("returned") if e.get("nodeid") == nodeid]
    if not returned or not returned[-1].get("ok"):
        return "the learning test function did not return normally"
    finished = [e for e in sealed.of("finished") if e.get("milestone") == milestone_id]
    if not finished:
        return "the learning test did not reach its end (no run.complete() report)"
    if not verdict.metrics:
        return "the learning test reported no metrics"
    if sealed.returncode != 0:
        return f"pytest exited with code {sealed.returncode} although the test passed"
    return ""


def _defined_at(root, nodeid):
    """``(file, first line)`` where the test file defines the node's function, or None."""
    import ast

    relpath, _, name = nodeid.partition("::")
    path = (root / relpath).resolve()
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return path, min([node.lineno] + [d.lineno for d in node.decorator_list])
    return None


def _first_line(text):
    lines = [line for line in str(text or "").splitlines() if line.strip()]
    return lines[0].strip() if lines else "(no message)"
