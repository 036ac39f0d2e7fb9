"""Sealed pytest runs: student code is untrusted input, so tito decides every verdict itself.

A sealed run is ``python -m pytest`` in a subprocess that

* starts in a scratch folder tito owns, with tito's own plugin (:mod:`tito.seal_plugin`,
  copied there as ``_tito_seal``) and an empty ini file pinned with ``-c``; pytest's plugin
  autoloading, its cache and every ``conftest.py`` are off (``--noconftest``), ``PYTHONPATH``
  and ``PYTEST_ADDOPTS`` are dropped, and Python reads bytecode only from tito's own cache
  (:func:`bytecode_cache`: the libraries', compiled once; never the project's — a
  ``__pycache__`` planted in the project is never read, and nothing is written);
* imports ``tinytorch`` from the project only (the plugin's finder);
* runs in its own process group under a wall-clock limit: on expiry or Ctrl-C every process
  of the group is killed;
* reports through a pipe (JSON lines, see the plugin) rather than its exit code; its printed
  output is kept bounded (the head and the tail), so a test printing 100 MB costs nothing.

:func:`run_sealed` returns a :class:`SealedRun` with every event; the callers
(:mod:`tito.runner` for module tests, :mod:`tito.learning_run` for milestones) judge it.
"""

import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PLUGIN_NAME = "_tito_seal"
_PLUGIN_SOURCE = Path(__file__).with_name("seal_plugin.py")
_DROPPED_ENV = ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTHONSTARTUP", "PYTHONINSPECT",
                "PYTHONHOME", "PYTHONSAFEPATH", "PYTHONNOUSERSITE_OVERRIDE")
_MAX_EVENTS = 100_000
_MAX_EVENT_LINE = 1_000_000


class BoundedOutput:
    """The first ``head`` and last ``tail`` characters of a stream, and how much there was."""

    def __init__(self, head=8_000, tail=48_000):
        self.head_limit, self.tail_limit = head, tail
        self.head, self.tail, self.total = "", "", 0

    def add(self, text):
        self.total += len(text)
        if len(self.head) < self.head_limit:
            room = self.head_limit - len(self.head)
            self.head, text = self.head + text[:room], text[room:]
        if text:
            self.tail = (self.tail + text)[-self.tail_limit:]

    @property
    def text(self):
        skipped = self.total - len(self.head) - len(self.tail)
        middle = f"\n[... {skipped:,} characters of output left out ...]\n" if skipped > 0 else ""
        return self.head + middle + self.tail


@dataclass
class SealedRun:
    """Everything a sealed run reported; the verdict is the caller's."""

    events: list = field(default_factory=list)
    returncode: int = None
    timed_out: bool = False
    timeout: float = 0.0
    duration: float = 0.0
    output: str = ""
    output_chars: int = 0

    def of(self, kind):
        return [event for event in self.events if event.get("event") == kind]

    def first(self, kind):
        return next(iter(self.of(kind)), None)

    @property
    def finished(self):
        """pytest reached the end of its session and unconfigured normally."""
        return self.first("session_finish") is not None and self.first("unconfigure") is not None

    def reports(self, nodeid=None):
        return [event for event in self.of("report") if nodeid is None or event.get("nodeid") == nodeid]

    def ended_early_message(self):
        """Why the session did not end normally, or "" if it did."""
        if self.timed_out:
            return (f"the run did not finish within {self.timeout:g} s (an endless loop?) and was stopped "
                    "(use --timeout to allow more)")
        exits = [e for e in self.of("exit_called") if e.get("how") == "os._exit"]
        if exits:
            return f"pytest ended early: os._exit({exits[-1].get('code')}) called from {exits[-1].get('where')}"
        interrupted = self.first("interrupted")
        if interrupted is not None and "during collection" in interrupted.get("message", ""):
            interrupted = None  # pytest stops after a collection error: that error is the report
        if interrupted is not None:
            kind = interrupted.get("kind", "")
            what = "pytest.exit" if kind == "Exit" else kind
            return f"pytest ended early: {what} at {interrupted.get('where')} ({interrupted.get('message', '').strip()})"
        if not self.finished:
            exits = self.of("exit_called")
            if exits:
                last = exits[-1]
                return f"pytest ended early: {last.get('how')}({last.get('code')}) called from {last.get('where')}"
            if self.first("start") is None:
                return f"pytest did not start (exit code {self.returncode}):\n{self.output[-2000:]}"
            return f"pytest ended early without finishing its session (exit code {self.returncode})"
        return ""


def sealed_env(extra=None):
    """The subprocess environment: no inherited Python/pytest path or options, UTF-8."""
    env = {key: value for key, value in os.environ.items() if key not in _DROPPED_ENV}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # BLAS threads are left to tinytorch (module 00 puts only large products on every core)
    # and to the user's own OPENBLAS/OMP/MKL_NUM_THREADS, inherited with the environment.
    env.update(extra or {})
    return env


def cache_home():
    """tito's cache folder: ``$TITO_CACHE_DIR``, else ``$XDG_CACHE_HOME/tito`` or ``~/.cache/tito``."""
    if os.environ.get("TITO_CACHE_DIR"):
        return Path(os.environ["TITO_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tito"


_WARM_TEST = "import numpy\n\n\ndef test_warm():\n    assert numpy.zeros(1).sum() == 0\n"


def bytecode_cache(root, home=None):
    """The bytecode folder of sealed runs (``PYTHONPYCACHEPREFIX``), or None to compile everything.

    Compiling pytest and NumPy from source costs ~0.7 s a run, so their bytecode is written
    once, by a run of a trivial test with no project code in it, into a per-user cache;
    later runs only read it (``PYTHONDONTWRITEBYTECODE``). The part of the cache that would
    mirror the project is removed before every run, so a planted ``.pyc`` never stands in for
    the project's sources -- all of it but the mirror of the virtual environment tito runs in,
    when that lies inside the project (``python -m venv .venv`` in the course folder): that
    is library bytecode, and removing it would compile NumPy and pytest again on every run.
    ``home``: the cache folder (default: :func:`cache_home`).
    """
    tag = f"{sys.implementation.cache_tag}-{hashlib.sha256(sys.prefix.encode()).hexdigest()[:10]}"
    folder = Path(home or cache_home()) / "bytecode" / tag
    try:
        if not _is_warm(folder):
            folder.mkdir(parents=True, exist_ok=True)
            _warm(root, folder)
        clear_mirror(folder, Path(root).resolve(), keep=Path(sys.prefix).resolve())
    except OSError:
        return None  # an unwritable cache: every run compiles from source
    return folder


def _is_warm(folder):
    """A warm-up finished in ``folder`` and pytest's own bytecode is still there: a cache whose
    library part was removed since (by hand, or by a tito that kept no virtual environment's
    mirror) is warmed again instead of compiling pytest and NumPy on every run."""
    if not (folder / ".warm").is_file():
        return False
    spec = importlib.util.find_spec("pytest")
    if spec is None or not spec.origin:
        return True
    source = Path(spec.origin)
    return (folder / str(source.parent).lstrip(os.sep) / f"{source.stem}.{sys.implementation.cache_tag}.pyc").is_file()


def clear_mirror(folder, root, keep):
    """Remove the cache ``folder``'s mirror of the folder ``root``, except the mirror of ``keep``
    when ``keep`` lies strictly inside ``root`` (the entries beside the path to it go, level by level)."""
    mirror = folder / str(root).lstrip(os.sep)
    inside = keep.parts[len(root.parts):] if keep != root and keep.is_relative_to(root) else ()
    for part in inside:
        if mirror.is_symlink() or not mirror.is_dir():
            break
        for entry in mirror.iterdir():
            if entry.name != part:
                _remove(entry)
        mirror = mirror / part
    else:
        if inside:
            return  # arrived at the mirror of ``keep``: it stays
    _remove(mirror)


def _remove(path):
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _warm(root, folder):
    scratch = Path(tempfile.mkdtemp(prefix="tito-warm-"))
    try:
        (scratch / "test_warm.py").write_text(_WARM_TEST, encoding="utf-8")
        run = _run_child(root, lambda here: ["-m", "pytest", "test_warm.py", "-p", PLUGIN_NAME, "-q",
                                             "-p", "no:cacheprovider", "--noconftest", "-c", str(here / "pytest.ini")],
                         {}, timeout=300, env={"PYTHONDONTWRITEBYTECODE": ""}, pycache=folder, scratch=scratch)
        if run.returncode == 0:
            (folder / ".warm").write_text("warmed by a run with no project code\n", encoding="utf-8")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_sealed(root, target, *, timeout, pytest_args=(), imports=(), sys_path=(), on_event=None, scratch=None,
               package=None, env=None):
    """Run pytest on ``target`` (a file or node id) sealed; returns a :class:`SealedRun`.

    ``imports``: dotted modules the plugin imports first and reports on (a learning test's
    required exports); ``sys_path``: folders put first on ``sys.path`` (the learning tests'
    own folder); ``on_event(event)`` is called for each report as it arrives (live status).
    ``scratch``: a folder tito owns to work in (default: a new temporary one). ``package``:
    the ``tinytorch`` folder to import from (default: the project's own); ``env``: extra
    environment variables.
    """
    def command(folder):
        return [
            "-m", "pytest", str(target), "-p", PLUGIN_NAME, "-p", "no:cacheprovider",
            "--noconftest", "-c", str(folder / "pytest.ini"), "--rootdir", str(root), "--confcutdir", str(root),
            "-q", "--tb=short", "--no-header", "-W", "ignore::pytest.PytestAssertRewriteWarning", *pytest_args,
        ]  # fmt: skip

    settings = {"imports": list(imports), "sys_path": [str(p) for p in sys_path],
                "package": None if package is None else str(package)}
    return _run_child(root, command, settings, timeout=timeout, on_event=on_event, scratch=scratch, env=env,
                      pycache=bytecode_cache(root))


def _run_child(root, command, settings, *, timeout, on_event=None, scratch=None, env=None, pycache=None):
    """``python COMMAND`` in a scratch folder with the plugin's settings; a :class:`SealedRun`."""
    root = Path(root).resolve()
    own_scratch = scratch is None
    scratch = Path(tempfile.mkdtemp(prefix="tito-sealed-") if own_scratch else scratch)
    run = SealedRun(timeout=timeout)
    try:
        shutil.copyfile(_PLUGIN_SOURCE, scratch / f"{PLUGIN_NAME}.py")
        (scratch / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        read_end, write_end = os.pipe()
        settings = {"root": str(root), "fd": write_end, **settings}
        env = sealed_env({"PYTHONPYCACHEPREFIX": str(pycache or scratch / "pycache"), **(env or {}),
                          "TITO_SEAL": json.dumps(settings)})
        output = BoundedOutput()
        start = time.perf_counter()
        try:
            process = subprocess.Popen(
                [sys.executable, *command(scratch)], cwd=scratch, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(write_end,), start_new_session=True,
            )
        finally:
            os.close(write_end)
        readers = [
            threading.Thread(target=_read_events, args=(read_end, run, on_event), daemon=True),
            threading.Thread(target=_read_output, args=(process.stdout, output), daemon=True),
        ]
        for reader in readers:
            reader.start()
        # A blocking wait and a timer that ends the run at the timeout: wait(timeout=...) polls,
        # sleeping up to 50 ms past the moment the child ends.
        timer = threading.Timer(timeout, _time_out, args=(process, run))
        timer.daemon = True
        timer.start()
        try:
            returncode = process.wait()
            run.returncode = None if run.timed_out else returncode
        finally:  # on a timeout, Ctrl-C in tito, or children the test left behind
            timer.cancel()
            _kill_group(process)
            for reader in readers:
                reader.join(timeout=5)
        run.duration = time.perf_counter() - start
        run.output, run.output_chars = output.text, output.total
        return run
    finally:
        if own_scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _time_out(process, run):
    run.timed_out = True
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass


def _kill_group(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass
    if process.poll() is None:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    elif process.returncode is None:
        process.wait()


def _read_events(fd, run, on_event):
    with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as stream:
        for line in stream:
            if len(run.events) >= _MAX_EVENTS or len(line) > _MAX_EVENT_LINE:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            run.events.append(event)
            if on_event is not None:
                try:
                    on_event(event)
                except Exception:  # a display problem never loses a report
                    pass


def _read_output(stream, output):
    for chunk in iter(lambda: stream.read1(65536), b""):
        output.add(chunk.decode("utf-8", errors="replace"))
    stream.close()
