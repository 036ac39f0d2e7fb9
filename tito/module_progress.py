"""The project's module progress: ``progress.json`` at the project root.

Project-specific (the user's milestone progress lives in ``$TINYTORCH_HOME``)::

    {
      "schema": 1,
      "started":   {"01_tensor": "2025-01-31T10:02:11+00:00", ...},
      "completed": {"00_setup":  "2025-01-31T10:00:40+00:00", ...},
      "last_module": "01_tensor",
      "exports": {"00_setup": {"source_sha256": "…", "files": {"tinytorch/core/setup.py": "…"},
                               "at": "2025-01-31T10:00:40+00:00"}}
    }

``exports`` records, for each completed module, the SHA-256 of the exact source bytes that
were tested and exported, and of each file written (what `tito module status` compares).

It is a record that can be rebuilt: ``tito module check --all`` re-runs every module's
tests and rewrites it (:meth:`ModuleProgress.rebuild`). A damaged file is moved aside by
:class:`tito.json_store.JsonStore` and progress starts clean; a file missing keys or holding
a few bad entries is repaired, with a warning naming what was dropped.
"""

from datetime import datetime, timezone
from pathlib import Path

from tito.json_store import JsonStore

FILENAME = "progress.json"
SCHEMA = 1
_MAPS = ("started", "completed")


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _default():
    return {"schema": SCHEMA, "started": {}, "completed": {}, "last_module": None, "exports": {}}


def validate(data):
    """What makes a progress object unusable ([] when it can be used or repaired)."""
    if not isinstance(data, dict):
        return [f"expected a JSON object, found {type(data).__name__}"]
    problems = []
    for key in (*_MAPS, "exports"):
        if key in data and not isinstance(data[key], dict):
            problems.append(f"{key!r} must be an object mapping module ids")
    return problems


def normalize(data, report=lambda message: None):
    """Fill missing keys and drop malformed entries (each reported)."""
    full = _default()
    for key in _MAPS:
        for module_id, stamp in (data.get(key) or {}).items():
            if isinstance(stamp, str):
                full[key][module_id] = stamp
            else:
                report(f"dropped the malformed {key!r} entry for {module_id!r}")
    last = data.get("last_module")
    if last is None or isinstance(last, str):
        full["last_module"] = last
    else:
        report("dropped the malformed 'last_module'")
    for module_id, record in (data.get("exports") or {}).items():
        if isinstance(record, dict) and isinstance(record.get("source_sha256"), str) and isinstance(record.get("files", {}), dict):
            full["exports"][module_id] = record
        else:
            report(f"dropped the malformed export record of {module_id!r}")
    schema = data.get("schema", SCHEMA)
    full["schema"] = schema if isinstance(schema, int) and not isinstance(schema, bool) else SCHEMA
    return full


class ModuleProgress:
    """Read and update a project's ``progress.json`` (atomic, locked writes)."""

    def __init__(self, root, warn=None):
        self.path = Path(root) / FILENAME
        self.store = JsonStore(self.path, _default, validate=validate, warn=warn, normalize=normalize)

    def read(self):
        return normalize(self.store.read())

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
            data["started"].setdefault(module_id, _now())
            data["last_module"] = module_id

    def mark_completed(self, module_id, export=None):
        """Record a completed module; ``export`` is its record (source hash, files written)."""
        with self.store.update() as data:
            now = _now()
            data["started"].setdefault(module_id, now)
            data["completed"][module_id] = now
            data["last_module"] = module_id
            if export is not None:
                data["exports"][module_id] = {**export, "at": now}

    def mark_incomplete(self, *module_ids):
        """Forget that modules were completed (``tito module reset``); they stay started."""
        with self.store.update() as data:
            for module_id in module_ids:
                data["completed"].pop(module_id, None)
                data["exports"].pop(module_id, None)

    def rebuild(self, completed_ids, exports=None):
        """Rewrite the completed set to exactly ``completed_ids`` (``tito module check --all``).

        Timestamps of modules that stay complete are kept; newly found ones get now.
        ``exports`` replaces the export records of the modules it names.
        """
        with self.store.update() as data:
            now = _now()
            old = data["completed"]
            data["completed"] = {module_id: old.get(module_id, now) for module_id in completed_ids}
            for module_id in completed_ids:
                data["started"].setdefault(module_id, data["completed"][module_id])
            data["exports"] = {m: r for m, r in data["exports"].items() if m in data["completed"]}
            for module_id, record in (exports or {}).items():
                if module_id in data["completed"]:
                    data["exports"][module_id] = {**record, "at": now}
