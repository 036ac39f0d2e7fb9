"""Where the project is and which modules it has.

A project folder holds ``modules/NN_name/name.py`` sources, the ``tinytorch/`` package
they export into, and ``tests/milestones/milestone_tracker.py``. ``tito`` works on the
project that contains the current directory.
"""

import ast
import contextlib
import difflib
import functools
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

MODULE_DIR = re.compile(r"^(\d{2})_([a-z][a-z0-9_]*)$")


class ProjectError(Exception):
    """A problem the user can fix; ``str()`` says what to do. ``exit_code`` is the CLI's."""

    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code


@functools.lru_cache(maxsize=24)  # a course's modules and a few more; ~3 MB a tree at most
def parse_source(text, filename="<unknown>"):
    """``ast.parse(text)``, once per text: one command reads each module source more than once
    (the manifest check before and after a run, the export and its catalog). The tree is
    shared -- read it, never change it."""
    return ast.parse(text, filename=filename)


@dataclass(frozen=True)
class ModuleInfo:
    id: str  # "01_tensor"
    number: str  # "01"
    name: str  # "tensor"
    source: Path  # modules/01_tensor/tensor.py

    @property
    def notebook(self):
        return self.source.with_suffix(".ipynb")


def is_project(path):
    path = Path(path)
    return (path / "modules").is_dir() and (path / "tinytorch" / "__init__.py").is_file()


def _owned_by_someone_else(path):
    """True when another user could have put ``path`` there (POSIX; never on Windows): it is
    not the current user's, nor root's and closed to others (as /home is)."""
    getuid = getattr(os, "getuid", None)
    if getuid is None:
        return False
    try:
        info = path.stat()
    except OSError:
        return True
    if info.st_uid == getuid():
        return False
    return not (info.st_uid == 0 and not info.st_mode & 0o002)


def find_project_root(start=None):
    """The nearest folder at or above ``start`` (default: cwd) that is a TinyTorch project.

    tito runs a project's code (its tracker, its tests), so, like git after CVE-2022-24765,
    it never takes a project from a folder another user owns, and its search upwards stops at
    the user's home folder and at a filesystem boundary: a project planted in a shared
    folder such as /tmp is never run by someone working below it.
    """
    here = Path(start or Path.cwd()).resolve()
    home = Path.home().resolve()
    try:
        device = here.stat().st_dev
    except OSError as err:
        raise ProjectError(f"cannot read {here}: {err.strerror}.") from None
    for folder in (here, *here.parents):
        try:
            if folder.stat().st_dev != device:
                break  # another filesystem
        except OSError:
            break
        if is_project(folder):
            if _owned_by_someone_else(folder):
                raise ProjectError(
                    f"{folder} looks like a TinyTorch project but belongs to another user: tito will not run "
                    "its code. Copy it into a folder of your own (or run tito as its owner)."
                )
            return folder
        if folder == home or (folder != here and _owned_by_someone_else(folder)):
            break
    raise ProjectError(
        f"{here} is not inside a TinyTorch project (no modules/ and tinytorch/ found here "
        "or above). cd into your course folder, or create one with `tito release DIR`."
    )


@contextlib.contextmanager
def project_lock(root):
    """One tito at a time changes a project (``complete``, ``check``, ``reset``): ``.tito/lock``."""
    from tito import files

    folder = Path(root) / ".tito"
    try:
        folder.mkdir(exist_ok=True)
        lock = files.exclusive_lock(folder / "lock")
        lock.__enter__()
    except OSError as err:
        raise ProjectError(f"cannot change the project {root}: {folder} is not writable ({err.strerror}).") from None
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def discover_modules(root):
    """All modules of the project, in course order."""
    found = []
    for folder in sorted((Path(root) / "modules").iterdir()):
        match = MODULE_DIR.match(folder.name)
        source = folder / f"{match.group(2)}.py" if match else None
        if source is not None and source.is_file():
            found.append(ModuleInfo(folder.name, match.group(1), match.group(2), source))
    return found


def resolve_module(root, text):
    """Find a module by ``1``, ``01``, ``tensor`` or ``01_tensor``; a clear error otherwise."""
    modules = discover_modules(root)
    key = str(text).strip().lower()
    for module in modules:
        if key in (module.id, module.name, module.number) or (
            key.isdigit() and int(key) == int(module.number)
        ):
            return module
    names = [m.id for m in modules]
    close = difflib.get_close_matches(key, names + [m.name for m in modules], n=1, cutoff=0.5)
    hint = ""
    if close:
        match = next(m.id for m in modules if close[0] in (m.id, m.name))
        hint = f" Did you mean {match}?"
    raise ProjectError(
        f"Unknown module {text!r}.{hint} Valid modules: {', '.join(names)}.", exit_code=2
    )


# Every file the exporter writes starts with this line; the skeleton files do not.
GENERATED_HEADER = "# AUTOGENERATED by tito from"

# What a copy of a project takes along (release, demo, tests): the module sources, the
# package skeleton, the CLI, the milestones and their data; never the developer test
# suite, progress files, caches or virtual environments.
PROJECT_PARTS = (
    "modules", "tinytorch", "tito", "tests/milestones", "datasets",
    "pyproject.toml", "jupytext.toml", "README.md", ".gitignore",
)
_IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info", "progress.json*", "*.bak-*", ".pytest_cache",
    ".*.tmp",
)


def is_generated(path):
    """True for a file that the exporter wrote (it starts with GENERATED_HEADER)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.readline().startswith(GENERATED_HEADER)
    except (OSError, UnicodeDecodeError):
        return False


def generated_files(root):
    return sorted(p for p in (Path(root) / "tinytorch").rglob("*.py") if is_generated(p))


def copy_project(root, destination, keep_exports=False):
    """Copy the project at ``root`` to a new folder ``destination``.

    Without ``keep_exports`` the copy's ``tinytorch/`` holds only its skeleton, so the
    copy starts as a student's would: nothing exported, nothing complete.
    """
    root, destination = Path(root), Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    for part in PROJECT_PARTS:
        source = root / part
        if source.is_dir():
            shutil.copytree(source, destination / part, ignore=_IGNORED)
        elif source.is_file():
            shutil.copy2(source, destination / part)
    if not keep_exports:
        for path in generated_files(destination):
            path.unlink()
    return destination
