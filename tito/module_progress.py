"""The project's module progress: ``progress.json`` at the project root.

Project-specific (the user's milestone progress lives in ``$TINYTORCH_HOME``)::

    {
      "schema": 1,
      "started":   {"01_tensor": "2025-01-31T10:02:11+00:00", ...},
      "completed": {"00_setup":  "2025-01-31T10:00:40+00:00", ...},
      "last_module": "01_tensor"
    }

It is a record that can be rebuilt: ``tito module check --all`` re-runs every module's
tests and rewrites it (:meth:`ModuleProgress.rebuild`). A damaged file is moved aside
by :class:`tito.json_store.JsonStore` and progress starts clean.
"""

from datetime import datetime, timezone
from pathlib import Path

from tito.json_store import JsonStore

FILENAME = "progress.json"
SCHEMA = 1


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _default():
    return {"schema": SCHEMA, "started": {}, "completed": {}, "last_module": None}


def validate(data):
    """The problems with a progress object's shape ([] when it is right)."""
    if not isinstance(data, dict):
        return [f"expected a JSON object, found {type(data).__name__}"]
    problems = []
    for key in ("started", "completed"):
        value = data.get(key, {})
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            problems.append(f"{key!r} must map module ids to timestamps")
    last = data.get("last_module")
    if last is not None and not isinstance(last, str):
        problems.append("'last_module' must be a module id or null")
    schema = data.get("schema", SCHEMA)
    if not isinstance(schema, int) or isinstance(schema, bool):
        problems.append("'schema' must be an integer")
    return problems


def _normalized(data):
    full = _default()
    full.update(data)
    return full


class ModuleProgress:
    """Read and update a project's ``progress.json`` (atomic, locked writes)."""

    def __init__(self, root, warn=None):
        self.path = Path(root) / FILENAME
        self.store = JsonStore(self.path, _default, validate=validate, warn=warn)

    def read(self):
        return _normalized(self.store.read())

    def completed(self, order=None):
        """Completed module ids; in ``order`` (a list of ids, e.g. course order) if given."""
        done = self.read()["completed"]
        if order is None:
            return sorted(done)
        return [module_id for module_id in order if module_id in done]

    def is_complete(self, module_id):
        return module_id in self.read()["completed"]

    def mark_started(self, module_id):
        with self.store.update() as data:
            data.update(_normalized(data))
            data["started"].setdefault(module_id, _now())
            data["last_module"] = module_id

    def mark_completed(self, module_id):
        with self.store.update() as data:
            data.update(_normalized(data))
            now = _now()
            data["started"].setdefault(module_id, now)
            data["completed"][module_id] = now
            data["last_module"] = module_id

    def mark_incomplete(self, module_id):
        """Forget that a module was completed (``tito module reset``); it stays started."""
        with self.store.update() as data:
            data.update(_normalized(data))
            data["completed"].pop(module_id, None)

    def rebuild(self, completed_ids):
        """Rewrite the completed set to exactly ``completed_ids`` (``tito module check --all``).

        Timestamps of modules that stay complete are kept; newly found ones get now.
        """
        with self.store.update() as data:
            data.update(_normalized(data))
            now = _now()
            old = data["completed"]
            data["completed"] = {module_id: old.get(module_id, now) for module_id in completed_ids}
            for module_id in completed_ids:
                data["started"].setdefault(module_id, data["completed"][module_id])
