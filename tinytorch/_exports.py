"""Skeleton: how `tinytorch` exposes whatever the student has exported so far.

This file is not generated. Each package's ``__init__`` calls :func:`gather` with the
files that modules may export into it. Files that do not exist yet are skipped, so
``import tinytorch`` works at every stage of the course; a name asked for before its
module is exported raises an ``AttributeError`` that says which module to complete.
"""

import importlib
import importlib.util
import json
import warnings
from pathlib import Path

_CATALOG = Path(__file__).with_name("_catalog.json")


def gather(package, namespace, submodules):
    """Import each existing ``package.<submodule>`` and copy its ``__all__`` into ``namespace``.

    Returns the list of names gathered, for the package's own ``__all__``. A name never
    hides a submodule of the package (the function ``tensor`` stays out of ``tinytorch.core``,
    where ``tinytorch.core.tensor`` is the module; ``tinytorch/__init__`` gathers it directly).
    """
    names = []
    own = {sub.split(".")[0] for sub in submodules}
    for sub in submodules:
        full = f"{package}.{sub}"
        if importlib.util.find_spec(full) is None:
            continue
        try:
            module = importlib.import_module(full)
        except ImportError as err:
            warnings.warn(
                f"{full} is exported but could not be imported ({err}). "
                "Re-export the modules it builds on with `tito module complete`.",
                stacklevel=2,
            )
            continue
        public = [name for name in getattr(module, "__all__", []) if name not in own]
        namespace.update({name: getattr(module, name) for name in public})
        names.extend(name for name in public if name not in names)
    return names


def missing_name(package, name):
    """The ``AttributeError`` for a name that is not (yet) exported into ``package``."""
    where = _catalog().get(name)
    if where is None:
        return AttributeError(f"module {package!r} has no attribute {name!r}")
    module = where["module"]
    return AttributeError(
        f"{package}.{name} is not exported yet: it comes from module {module}. "
        f"Run `tito module complete {module.split('_')[0]}` to add it."
    )


def _catalog():
    """Which module exports each public name (written by the exporter)."""
    try:
        return json.loads(_CATALOG.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
