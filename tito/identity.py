"""Which project this is: an id written into the project, so copies never share progress.

``.tito/project.json`` holds ``{"id": "…", "kind": "course" | "student", "created": "…"}``.
``tito release`` writes a fresh one into every student copy; any other project gets one
on first use. The user's milestone progress (``$TINYTORCH_HOME/progress.json``) keeps one
section per id, and the tracker notices a copy that carries another folder's id (a second
``git clone``, a copied folder) and gives it an id of its own (:func:`new_identity`).

A project that cannot be written (a read-only folder) is identified by its path, without
writing anything: reads never need write access.
"""

import hashlib
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

from tito import files

STATE_DIR = ".tito"
IDENTITY_FILE = f"{STATE_DIR}/project.json"


def identity_path(root):
    return Path(root) / IDENTITY_FILE


def read_identity(root):
    """The project's identity record, or None when it has none (or it is unreadable)."""
    try:
        data = json.loads(identity_path(root).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if isinstance(data, dict) and isinstance(data.get("id"), str) and data["id"]:
        return data
    return None


def new_identity(root, kind=None):
    """Write a fresh identity into the project (``kind`` kept from the old one by default)."""
    old = read_identity(root) or {}
    record = {
        "id": uuid.uuid4().hex,
        "kind": kind or old.get("kind") or "course",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    text = json.dumps(record, indent=2) + "\n"
    try:
        files.write_atomic(identity_path(root), text)
    except OSError:
        return path_identity(root, record["kind"])
    return record


def _create_identity(root):
    """Write a first identity unless another process just did (then that one is used)."""
    record = {"id": uuid.uuid4().hex, "kind": "course",
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    try:
        files.create_new(identity_path(root), json.dumps(record, indent=2) + "\n")
    except FileExistsError:
        return read_identity(root) or path_identity(root)
    except OSError:
        return path_identity(root)
    return record


def path_identity(root, kind="course"):
    """An identity derived from the project's path (for a project tito cannot write to)."""
    digest = hashlib.sha256(str(Path(root).resolve()).encode("utf-8")).hexdigest()[:32]
    return {"id": f"path-{digest}", "kind": kind, "created": None}


def project_identity(root):
    """The project's identity, written on first use."""
    return read_identity(root) or _create_identity(root)


def is_student_copy(root):
    return (read_identity(root) or {}).get("kind") == "student"
