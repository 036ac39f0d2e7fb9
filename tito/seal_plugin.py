"""tito's pytest plugin for sealed test runs (standalone: the standard library and pytest only).

tito copies this file into a scratch folder it owns and runs
``python -m pytest -p _tito_seal ...`` there (see :mod:`tito.sealed`). The plugin:

* reads its settings from ``$TITO_SEAL`` (and removes the variable, so the code under test
  does not see where the reports go);
* makes ``import tinytorch`` resolve to the project's own ``tinytorch/`` and nothing else
  (an installed or editable copy of another checkout is refused);
* reports, as JSON lines on a pipe that tito reads, everything tito needs to decide the
  verdict itself: which tests were collected, each phase's outcome with the exception and
  its frames, whether each test function returned normally, and how the session ended —
  including an ``os._exit``/``sys.exit``/``pytest.exit`` and where it was called from.

pytest's exit code is never the verdict: a run that ends without the ``session_finish``
report ended early, whatever its exit code.
"""

import json
import os
import sys
import traceback

SETTINGS_ENV = "TITO_SEAL"
_MAX_TEXT = 20_000


def _load_settings():
    raw = os.environ.pop(SETTINGS_ENV, None)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


_settings = _load_settings()
_channel = None
if _settings is not None:
    try:
        _channel = os.fdopen(int(_settings["fd"]), "w", encoding="utf-8", buffering=1)
    except (OSError, KeyError, ValueError):
        _channel = None


def send(event, **fields):
    """Write one report line for tito (a no-op outside a sealed run)."""
    if _channel is None:
        return
    try:
        _channel.write(json.dumps({"event": event, **fields}, default=str) + "\n")
        _channel.flush()
    except (OSError, ValueError):
        pass


def _clip(text):
    text = str(text)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT // 2] + "\n[...]\n" + text[-_MAX_TEXT // 2 :]


def _caller(skip_prefixes=()):
    """``file:line`` of the first frame outside this plugin, pytest and pluggy."""
    here = os.path.abspath(__file__)
    for frame in reversed(traceback.extract_stack()[:-1]):
        path = os.path.abspath(frame.filename)
        if path == here or any(part in path for part in ("_pytest", "pluggy", *skip_prefixes)):
            continue
        return f"{frame.filename}:{frame.lineno}"
    return "?"


# -- import resolution: the project's tinytorch, nothing else ---------------------------------
def _is_tinytorch(name):
    return name == "tinytorch" or name.startswith("tinytorch.")


class ProjectTinytorchFinder:
    """First on ``sys.meta_path``: ``tinytorch`` comes from the project's folder, always."""

    def __init__(self, package):
        self.package = os.path.abspath(package)

    def find_spec(self, name, path=None, target=None):
        if name != "tinytorch":
            return None  # submodules: the path finder searches the package's own folder
        import importlib.util

        init = os.path.join(self.package, "__init__.py")
        if not os.path.isfile(init):
            raise ModuleNotFoundError(f"No module named {name!r} (no {init})", name=name)
        return importlib.util.spec_from_file_location(name, init, submodule_search_locations=[self.package])


class NoOtherTinytorch:
    """Wraps a meta-path finder (an editable install's, say): it may not supply ``tinytorch.*``.

    Without it, an editable install of another checkout would quietly supply any file the
    project has not exported yet, and a test would pass on someone else's code."""

    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if _is_tinytorch(name):
            return None
        find = getattr(self.finder, "find_spec", None)
        return find(name, path, target) if find else None

    def __getattr__(self, attribute):
        return getattr(self.finder, attribute)


def _die_with_parent():
    """Linux: if tito dies, even by SIGKILL, this process is killed too (no orphaned run)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent is already gone
            os._exit(1)
    except (OSError, AttributeError, ValueError):
        pass


def _install(settings):
    import importlib.machinery

    _die_with_parent()
    root = settings["root"]
    standard = (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter,
                importlib.machinery.PathFinder)
    sys.meta_path[:] = [finder if finder in standard else NoOtherTinytorch(finder) for finder in sys.meta_path]
    # The package is the project's own, or a staged copy of it holding an export about to be
    # written (tito module complete checks that the new export imports, in the same run).
    sys.meta_path.insert(0, ProjectTinytorchFinder(settings.get("package") or os.path.join(root, "tinytorch")))
    for folder in settings.get("sys_path", []):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    os.chdir(root)
    _watch_exits()


def _watch_exits():
    """Report an ``os._exit`` or ``sys.exit`` before it happens, with the caller's line."""
    real_os_exit, real_sys_exit = os._exit, sys.exit

    def os_exit(code=0):
        send("exit_called", how="os._exit", code=code, where=_caller())
        real_os_exit(code)

    def sys_exit(code=None):
        send("exit_called", how="sys.exit", code=code, where=_caller())
        real_sys_exit(code)

    os._exit, sys.exit = os_exit, sys_exit


if _settings is not None:
    _install(_settings)


# -- pytest hooks ----------------------------------------------------------------------------
def pytest_configure(config):
    if _settings is not None:
        send("start", pid=os.getpid())
        for module in _settings.get("imports", []):
            _check_import(module)


def _check_import(module):
    import importlib

    try:
        importlib.import_module(module)
    except BaseException as err:  # noqa: BLE001 - every failure is reported, none escapes
        if isinstance(err, KeyboardInterrupt):
            raise
        send("import_failed", module=module, error=_clip(f"{type(err).__name__}: {err}"),
             kind=type(err).__name__, frames=_frames(err.__traceback__))
    else:
        send("import_ok", module=module)


def _code_location(item):
    """``[file, first line]`` of the function a test item will call (None if it has no code)."""
    code = getattr(getattr(item, "obj", None), "__code__", None)
    return None if code is None else [os.path.abspath(code.co_filename), code.co_firstlineno]


def pytest_collection_finish(session):
    send("collected", nodeids=[item.nodeid for item in session.items],
         names=[getattr(item, "originalname", None) or item.name for item in session.items],
         locations=[_code_location(item) for item in session.items])


def pytest_collectreport(report):
    if report.failed:
        send("collect_error", nodeid=report.nodeid, longrepr=_clip(report.longreprtext))
    elif report.skipped:
        fields = {"nodeid": report.nodeid, "longrepr": _clip(report.longreprtext)}
        if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
            path, line, reason = report.longrepr
            fields["skip"] = {"path": str(path), "line": line, "reason": str(reason)}
        send("collect_skipped", **fields)


def _frames(tb):
    frames = []
    for entry in traceback.extract_tb(tb)[-40:]:
        frames.append({"path": os.path.abspath(entry.filename), "line": entry.lineno,
                       "function": entry.name, "code": (entry.line or "")[:300]})
    return frames


def _hookwrapper(function):
    import pytest

    return pytest.hookimpl(wrapper=True)(function)


def _runtest_makereport(item, call):
    report = yield
    fields = {"nodeid": item.nodeid, "name": getattr(item, "originalname", None) or item.name,
              "when": report.when, "outcome": report.outcome, "duration": round(report.duration, 6),
              "wasxfail": hasattr(report, "wasxfail")}
    if call.excinfo is not None:
        fields["exception"] = _clip(call.excinfo.exconly())
        fields["exception_type"] = call.excinfo.typename
        fields["frames"] = _frames(call.excinfo.tb)
    if report.outcome != "passed":
        fields["longrepr"] = _clip(report.longreprtext)
        if report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
            path, line, reason = report.longrepr
            fields["skip"] = {"path": str(path), "line": line, "reason": str(reason)}
    send("report", **fields)
    return report


def _pyfunc_call(pyfuncitem):
    """Whether the test function itself returned (a report can be rewritten; this cannot)."""
    try:
        result = yield
    except BaseException as err:
        send("returned", nodeid=pyfuncitem.nodeid, ok=False, exception=_clip(f"{type(err).__name__}: {err}"))
        raise
    send("returned", nodeid=pyfuncitem.nodeid, ok=True)
    return result


pytest_runtest_makereport = _hookwrapper(_runtest_makereport)
pytest_pyfunc_call = _hookwrapper(_pyfunc_call)


def pytest_keyboard_interrupt(excinfo):
    where = "?"
    for entry in reversed(traceback.extract_tb(excinfo.tb)):
        if "_pytest" not in entry.filename and "pluggy" not in entry.filename:
            where = f"{entry.filename}:{entry.lineno}"
            break
    send("interrupted", kind=excinfo.typename, message=_clip(excinfo.exconly()), where=where)


def pytest_sessionfinish(session, exitstatus):
    send("session_finish", exitstatus=int(exitstatus), testscollected=session.testscollected,
         testsfailed=session.testsfailed)


def pytest_unconfigure(config):
    send("unconfigure")

