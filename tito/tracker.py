"""Load the project's milestone tracker — tito never defines a milestone itself.

The single source of truth is ``tests/milestones/milestone_tracker.py`` in the project
(DESIGN §2). It is imported by file path, under a module name unique to the project
folder, so two projects (a course repo and a student copy) never share one.
"""

import hashlib
import importlib.util
import sys
from pathlib import Path

from tito.project import ProjectError

TRACKER_PATH = Path("tests") / "milestones" / "milestone_tracker.py"
_REQUIRED = ("MILESTONES", "MILESTONE_ORDER", "MilestoneTracker", "check_module_export")
_loaded = {}


def tracker_file(root):
    return Path(root).resolve() / TRACKER_PATH


def load_tracker(root):
    """The project's ``milestone_tracker`` module (imported once per project folder)."""
    path = tracker_file(root)
    if path in _loaded:
        return _loaded[path]
    if not path.is_file():
        raise ProjectError(
            f"{path} is missing: it defines the milestones. Restore it from the course "
            f"repository (e.g. `git checkout -- {TRACKER_PATH.as_posix()}`)."
        )
    name = "_tinytorch_milestone_tracker_" + hashlib.sha1(str(path).encode("utf-8")).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except KeyboardInterrupt:
        sys.modules.pop(name, None)
        raise
    except SystemExit as err:  # a tracker must never end tito silently
        sys.modules.pop(name, None)
        raise ProjectError(f"{path} called sys.exit({err.code!r}) while loading: restore it from the course repository.") from None
    except BaseException as err:
        sys.modules.pop(name, None)
        raise ProjectError(f"{path} could not be loaded: {err.__class__.__name__}: {err}") from err
    missing = [attr for attr in _REQUIRED if not hasattr(module, attr)]
    if missing:
        sys.modules.pop(name, None)
        raise ProjectError(f"{path} does not define {', '.join(missing)}: restore it from the course repository.")
    _loaded[path] = module
    return module
