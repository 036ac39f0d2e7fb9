"""Skeleton: how `tinytorch` exposes whatever the student has exported so far.

This file is not generated. Each package's ``__init__`` calls :func:`gather` with the
files that modules may export into it. Files that do not exist yet are skipped, so
``import tinytorch`` works at every stage of the course; a name asked for before its
module is exported raises :class:`NotExportedYet` (an ImportError) that says which module
to complete — also for ``from tinytorch import Tensor``.

A package may also take a few names from another package's file, where PyTorch keeps
them in one place and the course builds them elsewhere (``tinytorch.nn.Embedding`` is
built in module 06 into ``tinytorch.text.embeddings``): ``gather(..., only=[...])``.
A file of layers holds classes (``Linear``) and, in lowercase, the same operations as
functions (``linear``): as in PyTorch, the classes go to ``tinytorch.nn`` and the
functions to ``tinytorch.nn.functional`` (``kind="classes"`` / ``kind="functions"``).
Submodules that are namespaces of their own (``tinytorch.nn.functional``,
``tinytorch.nn.init``, ``tinytorch.optim.lr_scheduler``) are imported, not gathered,
with :func:`load_submodules`.
"""

import importlib
import importlib.util
import json
import warnings
from pathlib import Path

_CATALOG = Path(__file__).with_name("_catalog.json")

# package -> [(full name of a file it gathers from, the names it takes or None, kind or None)]
_SOURCES = {}


def _is_function_name(name):
    """Functional operations have lowercase names (``relu``); classes and constants do not."""
    return name[:1].islower()


def _takes(name, only, kind):
    if only is not None and name not in only:
        return False
    if kind == "functions":
        return _is_function_name(name)
    if kind == "classes":
        return not _is_function_name(name)
    return True


def _import(full):
    """The module ``full``, or None where it is not exported (or does not import: warned)."""
    if importlib.util.find_spec(full) is None:
        return None
    try:
        return importlib.import_module(full)
    except ImportError as err:
        warnings.warn(
            f"{full} is exported but could not be imported ({err}). "
            "Re-export the modules it builds on with `tito module complete`.",
            stacklevel=3,
        )
        return None


def gather(package, namespace, submodules, only=None, kind=None):
    """Import each existing ``package.<submodule>`` and copy its ``__all__`` into ``namespace``.

    A submodule starting with ``tinytorch.`` is a full name (a file of another package).
    With ``only``, just those names are taken; with ``kind="classes"`` or ``"functions"``
    just the names of that kind. Returns the names gathered, for the package's ``__all__``.
    A name never hides a submodule of the package (the function ``tensor`` stays out of
    ``tinytorch.core``, where ``tinytorch.core.tensor`` is the module; ``tinytorch/__init__``
    gathers it directly).
    """
    names = []
    only = None if only is None else tuple(only)
    own = {sub.split(".")[0] for sub in submodules if not sub.startswith("tinytorch.")}
    for sub in submodules:
        full = sub if sub.startswith("tinytorch.") else f"{package}.{sub}"
        _SOURCES.setdefault(package, []).append((full, only, kind))
        module = _import(full)
        if module is None:
            continue
        public = [name for name in getattr(module, "__all__", []) if _takes(name, only, kind) and name not in own]
        namespace.update({name: getattr(module, name) for name in public})
        names.extend(name for name in public if name not in names)
    return names


def load_submodules(package, submodules):
    """Import each existing ``package.<submodule>`` so that ``package.<submodule>`` works."""
    for sub in submodules:
        _import(f"{package}.{sub}")


def _provides(package, target, name):
    """Does ``package`` take ``name`` from the file ``target`` (directly or through a subpackage)?"""
    for full, only, kind in _SOURCES.get(package, []):
        if not _takes(name, only, kind):
            continue
        if full == target or _provides(full, target, name):
            return True
    return False


class NotExportedYet(ImportError):
    """A name the course defines, asked for before its module is exported.

    An ImportError (not an AttributeError) on purpose: ``from tinytorch import Tensor`` then
    shows this message instead of Python's bare "cannot import name 'Tensor'"."""


def missing_name(package, name):
    """The error for a name that is not (yet) exported into ``package``: :class:`NotExportedYet`
    for a name of the course, ``AttributeError`` for any other."""
    catalog = _catalog()
    where = catalog.get(name)
    if where is None:  # a submodule that is a namespace of its own: tinytorch.nn.init
        where = next((w for w in catalog.values() if w["target"] == f"{package}.{name}"), None)
    elif not _provides(package, where["target"], name):
        where = None
    if where is None:
        return AttributeError(f"module {package!r} has no attribute {name!r}")
    module = where["module"]
    try:
        exported = importlib.util.find_spec(where["target"]) is not None
    except ImportError:
        exported = False
    if exported:
        return NotExportedYet(
            f"{package}.{name} comes from module {module}, whose export {where['target']} could not be "
            f"imported (see the warning above). Run `tito module complete {module.split('_')[0]}` again.",
            name=f"{package}.{name}",
        )
    return NotExportedYet(
        f"{package}.{name} is not exported yet ({where['target']}): it comes from module {module}. "
        f"Run `tito module complete {module.split('_')[0]}` to add it.",
        name=f"{package}.{name}",
    )


def _catalog():
    """Which module exports each public name (written by the exporter)."""
    try:
        return json.loads(_CATALOG.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
