"""Grade a class (``tito grade``): every submission against the course's own, untouched tests.

The verdicts are tito's own (:mod:`tito.runner` for a module's tests, :mod:`tito.learning_run`
for a milestone); this module decides *what* they run on and keeps one submission from
touching another.

**What is graded.** The course is released once per grading run (:func:`prepare_course`: a
pristine student copy built by :func:`tito.student_copy.build_release` in a temporary
folder, with its manifest). For each submission, in a scratch folder of its own, a copy of
that pristine release receives *only* the student's module sources
(``modules/NN_name/name.py``) with every protected test function put back from the manifest
(:func:`tito.manifest.restore_tests`; a module whose tests differed is reported "tests
tampered with" and graded on the course's tests), and bound once more at the end of the file
(:func:`bind_tests_last`). Then, in course order, each module's tests run on exactly those
bytes; a module that passes, whose prerequisites passed, is
exported from that snapshot and its export must import; then each requested milestone
whose required modules all passed runs the pristine learning test (else it is "locked").
Nothing else the student sent is read, let alone used.

**Isolation.** Each submission is graded by a worker process (``python -m tito.grading``) in
a new session, with ``resource.setrlimit`` limits (address space, CPU time, file size, no
core dumps), its own ``HOME``, ``TINYTORCH_HOME`` and ``TMPDIR`` in its scratch folder and
a wall-clock limit for the whole submission, on whose expiry every process of the worker is
killed. On Linux the worker and the grader are child subreapers: a process that student code
forked and detached (``setsid``) is re-parented to them and killed after each test run.

**Trust.** Student code runs as the grading user, so everything on disk it could reach is
treated as forgeable. The worker reads its whole job (the spec and the student's sources)
from a pipe before any student code runs; its copy of the pristine release is checked
against hashes taken when the release was built, and so is its copy of the bytecode cache
the grader compiled once for the whole class (pytest's and NumPy's, :func:`prepare_course`);
protected files are restored from memory before each test run, and a learning run during
which one of them changed (inode, size or ctime, which a user cannot set back) does not
count. Results come back over the worker's stdout, each line authenticated with a key the
grader handed over on stdin: a result file that student code could overwrite is never
read. The grader also hashes tito's own source before and after grading and says so when
it changed.
"""

import ast
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path

from tito import exporter, files, manifest
from tito.learning_run import run_learning_test
from tito.project import ProjectError, discover_modules, resolve_module
from tito.runner import run_module_tests
from tito.sealed import BoundedOutput, bytecode_cache
from tito.student_copy import build_release
from tito.tracker import load_tracker

MODULE_STATUSES = ("passed", "failed", "not attempted", "blocked", "not graded")
MILESTONE_STATUSES = ("passed", "failed", "locked", "not graded")
DEFAULT_TIMEOUT = 120  # seconds for one test run (a module's tests, an import check, a milestone)
DEFAULT_MEMORY_MB = 2048  # address space of each process of a submission
FILE_SIZE_LIMIT = 512 << 20  # the largest file a submission's processes may write
_MAX_LINE = 4 << 20  # the longest message a worker may send


class GradingError(Exception):
    """Grading this submission cannot go on (the course copy changed under it, ...)."""


# ---------------------------------------------------------------------------------------
# The course: released once per grading run


@dataclass
class Course:
    root: Path  # the instructor's course repository
    pristine: Path  # its student copy, built for this grading run
    modules: list  # [{"id", "relpath", "requires"}] in course order (the release's own `#| requires`)
    milestones: dict  # id -> {"name", "requires", "required"} (the release's tracker)
    milestone_order: list
    manifest: dict  # the release's manifest (protected files and tests)
    manifest_sha256: str
    files: dict  # relpath -> sha256 of every file of the release (but .tito/)
    fingerprint: str  # the release's content: a changed course invalidates cached grades
    bytecode: Path = None  # a warmed bytecode cache (tito.sealed.bytecode_cache) each submission gets a copy of
    bytecode_files: dict = field(default_factory=dict)  # relpath -> sha256 of every file in it

    def module(self, module_id):
        return next(module for module in self.modules if module["id"] == module_id)

    @property
    def module_paths(self):
        return [module["relpath"] for module in self.modules]


def manifest_sha256(data):
    """The hash of what a manifest protects (its creation time left out)."""
    core = {"files": data.get("files", {}), "tests": data.get("tests", {})}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode("utf-8")).hexdigest()


def _listing(root):
    """``{relpath: sha256}`` of every file under ``root`` except its ``.tito/`` state."""
    root = Path(root)
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".tito/") or not path.is_file():
            continue
        found[rel] = manifest.sha256_file(path)
    return found


def prepare_course(course_root, workdir):
    """Release the course into ``workdir/pristine`` and read what grading needs from it."""
    pristine = Path(workdir) / "pristine"
    build_release(course_root, pristine)
    data = manifest.read_manifest(pristine)
    modules = []
    for info in discover_modules(pristine):
        parsed = exporter.parse_module(pristine, info, check_syntax=False)
        modules.append({"id": info.id, "relpath": info.source.relative_to(pristine).as_posix(),
                        "requires": list(parsed.requires)})
    tracker = load_tracker(pristine)
    milestones = {mid: {"name": tracker.MILESTONES[mid]["name"], "requires": list(tracker.MILESTONES[mid]["requires"]),
                        "required": {k: list(v) for k, v in tracker.MILESTONES[mid]["required"].items()}}
                  for mid in tracker.MILESTONE_ORDER}
    listing = _listing(pristine)
    digest = manifest_sha256(data)
    fingerprint = hashlib.sha256(json.dumps([listing, digest], sort_keys=True).encode("utf-8")).hexdigest()
    # pytest's and NumPy's bytecode, compiled once here rather than once per submission (~1 s each)
    bytecode = Path(workdir) / "bytecode"
    warmed = bytecode_cache(pristine, home=bytecode) is not None
    return Course(Path(course_root).resolve(), pristine, modules, milestones, list(tracker.MILESTONE_ORDER),
                  data, digest, listing, fingerprint, bytecode if warmed else None,
                  _listing(bytecode) if warmed else {})


def grader_fingerprint():
    """The hash of the running tito's own source: another grader, another cache."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _split(values):
    """``["00,01", "02"]`` -> ``["00", "01", "02"]``."""
    found = []
    for value in values or []:
        found.extend(part.strip() for part in str(value).replace(",", " ").split() if part.strip())
    return found


def select(course, modules=None, milestones=None):
    """``(module ids, milestone ids)`` to grade, in course order.

    Neither given: everything. Only milestones: the modules they require. Only modules:
    the milestones those modules are enough for. Modules always come with their
    prerequisites. ``--milestones none`` grades no milestone.
    """
    modules, milestones = _split(modules) or None, _split(milestones) or None
    order = [module["id"] for module in course.modules]
    chosen_milestones = None
    if milestones is not None:
        chosen_milestones = []
        for key in milestones:
            if key.lower() == "none":
                continue
            mid = key.strip().lower()
            if mid not in course.milestones:
                raise ProjectError(f"Unknown milestone {key!r}. Valid milestones: {', '.join(course.milestone_order)}.",
                                   exit_code=2)
            if mid not in chosen_milestones:
                chosen_milestones.append(mid)
    wanted = set()
    if modules is not None:
        wanted = {resolve_module(course.pristine, key).id for key in modules}
    elif chosen_milestones is not None:
        wanted = {mid for milestone in chosen_milestones for mid in course.milestones[milestone]["requires"]}
    else:
        wanted = set(order)
    requires = {module["id"]: module["requires"] for module in course.modules}
    changed = True
    while changed:  # prerequisites, and theirs
        changed = False
        for module_id in list(wanted):
            for required in requires.get(module_id, []):
                if required not in wanted:
                    wanted.add(required)
                    changed = True
    chosen_modules = [module_id for module_id in order if module_id in wanted]
    if chosen_milestones is None:
        chosen_milestones = [mid for mid in course.milestone_order
                             if set(course.milestones[mid]["requires"]) <= wanted]
    else:
        chosen_milestones = [mid for mid in course.milestone_order if mid in chosen_milestones]
    return chosen_modules, chosen_milestones


# ---------------------------------------------------------------------------------------
# The worker: one submission, in its own process


class _Channel:
    """Authenticated JSON lines to the grader (an HMAC over each line, with its number)."""

    def __init__(self, key, stream):
        self.key, self.stream, self.seq = key, stream, 0

    def send(self, event, **fields):
        self.seq += 1
        body = json.dumps({"event": event, "seq": self.seq, **fields}, default=str, allow_nan=False)
        mac = hmac.new(self.key, body.encode("utf-8"), hashlib.sha256).hexdigest()
        self.stream.write(f"{mac} {body}\n")
        self.stream.flush()


def _clean_json(value, depth=0):
    """Metrics as JSON can hold them: finite numbers, strings, small lists and dicts."""
    if depth > 6:
        return None
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value if not isinstance(value, str) else value[:2000]
    if isinstance(value, (int, float)):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, dict):
        return {str(k)[:200]: _clean_json(v, depth + 1) for k, v in list(value.items())[:100]}
    if isinstance(value, (list, tuple)):
        return [_clean_json(v, depth + 1) for v in list(value)[:50]]
    return str(value)[:2000]


def _children(pid):
    """The pids whose parent is ``pid`` (Linux ``/proc``; elsewhere none are found)."""
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def kill_orphans(skip=(), rounds=50):
    """Kill (and reap) every child of this process not in ``skip``: what detached student
    code left behind, re-parented here because this process is a child subreaper."""
    me, killed = os.getpid(), 0
    for _ in range(rounds):
        strays = [pid for pid in _children(me) if pid not in skip]
        if not strays:
            break
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + 2
        for pid in strays:
            while time.monotonic() < deadline:
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if done:
                    break
                time.sleep(0.01)
    return killed


def _prctl(option, value):
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError, ValueError):
        return False


def become_subreaper():
    """Linux: orphaned descendants are re-parented to this process (to be killed)."""
    return _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER


def _limit_resources(limits):
    try:
        import resource
    except ImportError:  # Windows
        return
    wanted = [("RLIMIT_CORE", 0)]
    if limits.get("memory_mb"):
        wanted.append(("RLIMIT_AS", int(limits["memory_mb"]) << 20))
    if limits.get("cpu_s"):
        wanted.append(("RLIMIT_CPU", int(limits["cpu_s"])))
    if limits.get("file_bytes"):
        wanted.append(("RLIMIT_FSIZE", int(limits["file_bytes"])))
    for name, value in wanted:
        which = getattr(resource, name, None)
        if which is None:
            continue
        try:
            _, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, hard if hard != resource.RLIM_INFINITY else value))
        except (ValueError, OSError):
            pass


def worker_main():
    """``python -m tito.grading``: read the job from stdin, grade, report on stdout."""
    payload = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    sys.stdin.close()
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")  # the channel; stray prints go to stderr
    os.dup2(2, 1)
    channel = _Channel(bytes.fromhex(payload["key"]), out)
    spec = payload["spec"]
    _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: the grader gone, this worker goes too
    if os.getppid() == 1:
        os._exit(1)
    become_subreaper()
    _limit_resources(spec["limits"])
    try:
        grade_submission(spec, channel)
    except GradingError as err:
        channel.send("error", message=str(err))
    except BaseException as err:  # noqa: BLE001 - a bug in tito costs this submission, reported
        traceback.print_exc()
        channel.send("error", message=f"internal error: {type(err).__name__}: {err}")
    finally:
        kill_orphans()
    channel.send("done")
    out.close()
    os._exit(0)


def _quiet(message):
    pass


class _Protected:
    """The release's protected files, kept in memory; restored before every test run."""

    def __init__(self, root, data):
        self.root, self.manifest = root, data
        self.bytes = {rel: (root / rel).read_bytes() for rel in data["files"]}

    def restore(self):
        for rel, data in self.bytes.items():
            path = self.root / rel
            try:
                same = not path.is_symlink() and path.read_bytes() == data
            except OSError:
                same = False
            if not same:
                _remove(path)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        for folder in manifest.GUARDED_FOLDERS:  # a .py planted where the course's code lives
            for path in (self.root / folder).rglob("*.py"):
                if path.relative_to(self.root).as_posix() not in self.bytes:
                    _remove(path)

    def stats(self):
        """What a change to any protected file (or its folder) would change, ctime included."""
        found = {}
        paths = {self.root / rel for rel in self.bytes}
        paths |= {path.parent for path in list(paths)}
        for path in sorted(paths):
            try:
                info = os.lstat(path)
                found[str(path)] = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_mode)
            except OSError:
                found[str(path)] = None
        return found


def _remove(path):
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def _verify_copy(root, listing, what="the course's release"):
    found = _listing(root)
    if found != listing:
        changed = sorted(set(found.items()) ^ set(listing.items()))
        where = changed[0][0] if changed else "?"
        raise GradingError(f"{what} changed during grading ({where}): this submission was not graded")


def grade_submission(spec, channel):
    """Grade one submission in ``spec["scratch"]``; every result is sent on ``channel``."""
    started = time.perf_counter()
    scratch = Path(spec["scratch"])
    root = scratch / "project"
    shutil.copytree(spec["pristine"], root, symlinks=True)
    _verify_copy(root, spec["files"])
    data = spec["manifest"]
    protected = _Protected(root, data)
    stubs = {module["relpath"]: (root / module["relpath"]).read_text(encoding="utf-8") for module in spec["modules"]}
    channel.send("step", what="preparing")
    # This submission's own bytecode cache (tito.sealed.bytecode_cache): a copy of the one the
    # grader warmed, checked against its hashes before any student code runs (else warmed by
    # the first sealed run); no other submission ever reads it.
    if spec["bytecode"]:
        shutil.copytree(spec["bytecode"], scratch / "cache", symlinks=True)
        _verify_copy(scratch / "cache", spec["bytecode_files"], what="the grader's bytecode cache")
    os.environ["TITO_CACHE_DIR"] = str(scratch / "cache")
    channel.send("prepared", seconds=round(time.perf_counter() - started, 3))
    infos = {info.id: info for info in discover_modules(root)}
    passed, exported = set(), {}
    for module in spec["modules"]:
        channel.send("step", what=module["id"])
        entry = _grade_module(root, infos[module["id"]], module, spec, stubs[module["relpath"]], passed, exported,
                              protected)
        channel.send("module", id=module["id"], entry=entry)
    tracker = None
    for milestone in spec["milestones"]:
        missing = [module_id for module_id in milestone["requires"] if module_id not in passed]
        if missing:
            channel.send("milestone", id=milestone["id"],
                         entry={"status": "locked", "missing": missing, "reason": f"needs {', '.join(missing)}"})
            continue
        channel.send("step", what=milestone["id"])
        if tracker is None:
            protected.restore()
            tracker = load_tracker(root)
        protected.restore()
        before = protected.stats()
        imports = [name for module_id in milestone["requires"] for name in exported[module_id]]
        verdict = run_learning_test(root, tracker, milestone["id"], timeout=spec["timeout"], imports=imports)
        kill_orphans()
        entry = {"status": "passed" if verdict.passed else "failed", "reason": verdict.reason or "",
                 "metrics": _clean_json(verdict.metrics), "unmet": verdict.unmet, "duration": round(verdict.duration, 3)}
        if protected.stats() != before:
            entry.update(status="failed", reason="a protected file of the course changed while the learning test ran: "
                                                 "the run does not count")
        channel.send("milestone", id=milestone["id"], entry=entry)


def _grade_module(root, info, module, spec, student_form, passed, exported, protected):
    relpath, timeout = module["relpath"], spec["timeout"]
    entry = {"status": "", "message": "", "details": "", "tampered": [], "duration": 0.0, "tests": None}
    text = spec["sources"].get(relpath)
    if relpath in spec["problems"]:
        entry.update(status="failed", message=spec["problems"][relpath])
        return entry
    if text is None:
        entry.update(status="not attempted", message=f"{relpath} is not in the submission")
        return entry
    try:
        restored, names = manifest.restore_tests(text, spec["manifest"]["tests"].get(relpath, {}))
    except SyntaxError as err:
        entry.update(status="failed", message=f"syntax error at line {err.lineno}: {err.msg}",
                     details=f"{relpath}:{err.lineno}: {(err.text or '').rstrip()}")
        return entry
    except (RecursionError, MemoryError, ValueError) as err:
        entry.update(status="failed", message=f"{relpath} could not be parsed ({type(err).__name__})")
        return entry
    entry["tampered"] = names
    if restored == student_form:
        entry.update(status="not attempted", message="unchanged from the release")
        return entry
    missing = [module_id for module_id in module["requires"] if module_id not in passed]
    if missing:
        entry.update(status="blocked", message=f"needs {', '.join(missing)} to pass first")
        return entry
    files.write_atomic(info.source, restored)
    protected.restore()
    tested = bind_tests_last(restored, spec["manifest"]["tests"].get(relpath, {}))
    try:
        planned = exporter.plan_export(root, info, text=restored, warn=_quiet)
    except (exporter.ExportError, ProjectError) as err:
        entry.update(status="failed", message=f"the module cannot be exported: {err}")
        return entry
    run = run_module_tests(root, info, timeout=timeout, source_text=tested, staged=planned)
    kill_orphans()
    report = run.to_dict()
    entry["tests"] = {key: report[key] for key in ("tests", "expected", "passed", "failed", "errors", "skipped", "not_run")}
    entry["tests"]["summary"] = run.summary()
    entry["duration"] = round(run.duration, 3)
    if not run.ok:
        entry.update(status="failed", **_failure(run))
        return entry
    if run.export_errors:
        shown = "; ".join(f"{name}: {error.splitlines()[0] if error else ''}" for name, error in run.export_errors.items())
        entry.update(status="failed", message=f"the tests pass but the export does not import ({shown})"[:2000])
        return entry
    exporter.export_module(root, info, warn=_quiet, text=restored)
    dotted = [".".join(Path(path).relative_to(root).with_suffix("").parts) for path in planned
              if Path(path).suffix == ".py"]
    passed.add(module["id"])
    exported[module["id"]] = dotted
    entry["status"] = "passed"
    return entry


def bind_tests_last(text, tests):
    """``text`` with one more cell at its end that defines every protected function again, from
    the manifest, each compiled at its own line of the file: the course's tests are what pytest
    collects even when the student's code replaced one at import time
    (``globals()["test_unit_x"] = lambda: None``). The names are looked up in ``text``, which
    holds each protected function exactly once (:func:`tito.manifest.restore_tests`)."""
    lines = {}
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in tests:
            lines.setdefault(node.name, min([node.lineno] + [d.lineno for d in node.decorator_list]))
    sources = ["\n" * (lines[name] - 1) + tests[name]["source"] for name in sorted(tests) if name in lines]
    if not sources:
        return text
    return (text.rstrip("\n") + "\n\n\n# %%\n# tito grade: the course's own tests and helpers, bound last.\n"
            f"for _tito_source in {sources!r}:\n"
            "    exec(compile(_tito_source, __file__, 'exec'), globals())\n"
            "del _tito_source\n")


def _failure(run):
    """The first thing that went wrong, as the student should read it."""
    if run.failures and not (run.problem and any(case.outcome == "not run" for case in run.failures)):
        first = run.failures[0]
        lines = (first.message or first.outcome).strip().splitlines() or [first.outcome]
        details = [line for line in (first.test_line and f"test: {first.test_line}",
                                     first.blame and f"from: {first.blame}") if line]
        return {"message": f"{first.name}: {lines[0]}"[:500],
                "details": "\n".join(details + [(first.message or first.details or "").strip()])[:3000]}
    return {"message": (run.problem.splitlines() or ["failed"])[0][:500], "details": run.problem[:3000]}


# ---------------------------------------------------------------------------------------
# The grader: many workers, each with a time limit


@dataclass
class Options:
    timeout: float = DEFAULT_TIMEOUT
    submission_timeout: float = None  # default: enough for every run to hit its own limit
    memory_mb: int = DEFAULT_MEMORY_MB  # 0: no limit
    jobs: int = 0  # 0: the number of cores
    keep: bool = False

    def limit_for(self, runs):
        return self.submission_timeout or self.timeout * (runs + 2) + 30

    def describe(self):
        return {"timeout": self.timeout, "submission_timeout": self.submission_timeout, "memory_mb": self.memory_mb}


@dataclass
class Job:
    """One submission to grade: who, what, and where its results go."""

    submission: object  # tito.submissions.Submission
    index: int
    result: dict = field(default_factory=dict)


class Grader:
    """Runs workers in parallel (``jobs`` at a time), kills what outlives them."""

    def __init__(self, course, options, module_ids, milestone_ids, workdir, on_event=None):
        self.course, self.options = course, options
        self.module_ids, self.milestone_ids = module_ids, milestone_ids
        self.workdir = Path(workdir)
        self.on_event = on_event or (lambda *args: None)
        self.lock = threading.Lock()
        self.live = {}  # pid -> Popen
        self.stopping = False

    def _emit(self, *args):
        try:
            self.on_event(*args)
        except Exception:  # a display problem never loses a grade
            pass

    def grade(self, jobs):
        """Grade every job (results land in ``job.result``)."""
        become_subreaper()
        workers = max(1, self.options.jobs or os.cpu_count() or 1)
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(self._grade_one, job) for job in jobs]
                for future in futures:
                    while True:
                        try:
                            future.result(timeout=0.5)
                            break
                        except FutureTimeout:  # wake up now and then: Ctrl-C is seen at once
                            continue
        except BaseException:
            self.stopping = True
            self._kill_all()
            raise
        finally:
            with self.lock:
                kill_orphans(skip=set(self.live))

    def _kill_all(self):
        with self.lock:
            for pid, process in list(self.live.items()):
                if process.returncode is None:
                    _kill_group(pid)

    def _spec(self, job, scratch):
        submission = job.submission
        runs = len(self.module_ids) * 2 + len(self.milestone_ids)
        limit = self.options.limit_for(runs)
        spec = {
            "scratch": str(scratch),
            "pristine": str(self.course.pristine),
            "files": self.course.files,
            "bytecode": self.course.bytecode and str(self.course.bytecode),
            "bytecode_files": self.course.bytecode_files,
            "manifest": self.course.manifest,
            "modules": [self.course.module(module_id) for module_id in self.module_ids],
            "milestones": [{"id": mid, "requires": self.course.milestones[mid]["requires"]} for mid in self.milestone_ids],
            "timeout": self.options.timeout,
            "limits": {"memory_mb": self.options.memory_mb, "cpu_s": int(limit) + 5, "file_bytes": FILE_SIZE_LIMIT},
            "sources": submission.sources,
            "problems": submission.problems,
        }
        return spec, limit

    def _grade_one(self, job):
        if self.stopping:
            return
        scratch = Path(tempfile.mkdtemp(prefix=f"s{job.index:04d}-", dir=self.workdir))
        for folder in ("home", "tinytorch-home", "tmp"):
            (scratch / folder).mkdir()
        spec, limit = self._spec(job, scratch)
        key = secrets.token_bytes(32)
        payload = json.dumps({"key": key.hex(), "spec": spec}).encode("utf-8")
        result = job.result
        result.update(modules={}, milestones={}, flags=[])
        self._emit("start", job)
        started = time.perf_counter()
        with self.lock:
            if self.stopping:
                return
            process = subprocess.Popen(
                [sys.executable, "-m", "tito.grading"], cwd=scratch, env=_worker_env(scratch),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            )
            self.live[process.pid] = process
        errors = BoundedOutput(head=2000, tail=6000)
        state = {"seq": 0, "done": False, "error": "", "bad": 0}
        threads = [
            threading.Thread(target=_feed, args=(process.stdin, payload), daemon=True),
            threading.Thread(target=self._read, args=(process.stdout, key, state, job), daemon=True),
            threading.Thread(target=_drain, args=(process.stderr, errors), daemon=True),
        ]
        for thread in threads:
            thread.start()
        timed_out = False
        try:
            process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            if process.returncode is None:  # not reaped yet: its pid is still its own
                _kill_group(process.pid)
                process.wait()
            for thread in threads:
                thread.join(timeout=5)
            with self.lock:
                self.live.pop(process.pid, None)
                kill_orphans(skip=set(self.live))
        result["seconds"] = round(time.perf_counter() - started, 2)
        if state["bad"]:
            result["flags"].append(f"{state['bad']} unauthenticated or out-of-order message(s) on the grader's channel "
                                   "were ignored (student code writing to the grader?)")
        if timed_out:
            result.update(status="time limit", reason=f"grading this submission did not finish within {limit:g} s "
                                                      "(every process of it was stopped)")
        elif state["error"]:
            result.update(status="error", reason=state["error"])
        elif not state["done"]:
            tail = errors.text.strip().splitlines()[-1:] or [f"exit code {process.returncode}"]
            result.update(status="error", reason=f"the grading worker ended unexpectedly ({tail[0][:300]})")
        else:
            result.update(status="graded", reason="")
        why = {"time limit": "the submission hit its time limit", "error": "grading stopped"}.get(result["status"], "")
        for module_id in self.module_ids:
            result["modules"].setdefault(module_id, {"status": "not graded", "message": why, "tampered": []})
        for mid in self.milestone_ids:
            result["milestones"].setdefault(mid, {"status": "not graded", "reason": why})
        if not self.options.keep:
            remove_tree(scratch)
        self._emit("finish", job)

    def _read(self, stream, key, state, job):
        for raw in iter(lambda: stream.readline(_MAX_LINE), b""):
            message = _verify_line(raw, key)
            if message is None or message.get("seq") != state["seq"] + 1:
                state["bad"] += 1
                continue
            state["seq"] = message["seq"]
            event = message.get("event")
            if event == "step":
                self._emit("step", job, str(message.get("what", "")))
            elif event == "module":
                job.result["modules"][message["id"]] = message["entry"]
            elif event == "milestone":
                job.result["milestones"][message["id"]] = message["entry"]
            elif event == "prepared":
                job.result["prepare_seconds"] = message.get("seconds")
            elif event == "error":
                state["error"] = str(message.get("message", "error"))
            elif event == "done":
                state["done"] = True
        stream.close()


def _verify_line(raw, key):
    try:
        mac, _, body = raw.decode("utf-8").rstrip("\n").partition(" ")
        expected = hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, expected):
            return None
        message = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return message if isinstance(message, dict) else None


def _feed(stream, payload):
    try:
        stream.write(payload)
        stream.close()
    except (BrokenPipeError, OSError, ValueError):
        pass


def _drain(stream, output):
    for chunk in iter(lambda: stream.read1(65536), b""):
        output.add(chunk.decode("utf-8", errors="replace"))
    stream.close()


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def _worker_env(scratch):
    """The worker's environment: its own HOME, TINYTORCH_HOME and TMPDIR; tito importable."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONINSPECT", "PYTEST_ADDOPTS")}
    env.setdefault("PYTHONUSERBASE", site.getuserbase() or "")  # a --user install stays importable
    env.update(HOME=str(scratch / "home"), TINYTORCH_HOME=str(scratch / "tinytorch-home"),
               TMPDIR=str(scratch / "tmp"), PYTHONPATH=str(Path(__file__).resolve().parents[1]),
               PYTHONDONTWRITEBYTECODE="1", PYTHONIOENCODING="utf-8")
    return env


def remove_tree(path):
    """Remove a scratch folder, whatever permissions student code left on it."""
    def retry(function, target, _):
        try:
            os.chmod(os.path.dirname(target), 0o700)
            os.chmod(target, 0o700)
            function(target)
        except OSError:
            pass

    shutil.rmtree(path, onerror=retry)


if __name__ == "__main__":
    # `python -m` put the scratch folder first on sys.path, where student code can write:
    # nothing is imported from there.
    sys.path[:] = [entry for entry in sys.path if entry and Path(entry).resolve() != Path.cwd().resolve()]
    worker_main()
