"""Where the project is and which modules it has.

A project folder holds ``modules/NN_name/name.py`` sources, the ``tinytorch/`` package
they export into, and ``tests/milestones/milestone_tracker.py``. ``tito`` works on the
project that contains the current directory.
"""

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

MODULE_DIR = re.compile(r"^(\d{2})_([a-z][a-z0-9_]*)$")


class ProjectError(Exception):
    """A problem the user can fix; ``str()`` says what to do. ``exit_code`` is the CLI's."""

    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code


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


def find_project_root(start=None):
    """The nearest folder at or above ``start`` (default: cwd) that is a TinyTorch project."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_project(folder):
            return folder
    raise ProjectError(
        f"{here} is not inside a TinyTorch project (no modules/ and tinytorch/ found here "
        "or above). cd into your course folder, or create one with `tito release DIR`."
    )


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
