"""Progress files: atomic, locked, never a crash when one is damaged or out of reach.

Both progress files (the user's milestone progress in ``$TINYTORCH_HOME`` and the
project's module progress) go through :class:`JsonStore`:

* every write goes to a temp file in the same folder, then ``os.replace`` — a reader
  never sees half a file; new files get ``0o666 & ~umask``, replaced files keep their mode,
  a symlinked file is written through (:mod:`tito.files`);
* read-modify-write happens under an exclusive lock on ``<file>.lock``, so two ``tito``
  processes at once lose nothing; a read takes the lock only where it can (reads never need
  write access: a read-only project or home can still be shown);
* a file that cannot be parsed (not JSON, nested too deeply, a folder where the file should
  be, not an object) is moved aside to ``<file>.corrupt-<timestamp>``, the user is told, and
  progress starts clean; a file with the right shape but missing keys or a few bad entries
  is repaired (``normalize``), not thrown away; ``NaN``/``Infinity`` are read as null, so
  what tito prints with ``--json`` is always strict JSON;
* a place that cannot be written raises :class:`StoreError`, one line naming the path and
  the reason (the CLI prints it and exits 1).
"""

import contextlib
import json
import os
import time
from pathlib import Path

from tito import files
from tito.project import ProjectError

class StoreError(ProjectError):
    """A progress file that cannot be read or written; ``str()`` names the path and why."""


def describe_os_error(err):
    """``Permission denied`` / ``No space left on device`` / ... for an OSError."""
    return err.strerror or err.__class__.__name__


def _no_constants(name):
    return None  # NaN, Infinity, -Infinity -> null


def strict(value):
    """``value`` with every non-finite float replaced by None (strict JSON can hold it)."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {str(key): strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(item) for item in value]
    return value


def parse_json(text):
    """JSON with NaN/Infinity read as None; raises ValueError for anything unparsable."""
    try:
        return json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise ValueError("nested too deeply") from None


class JsonStore:
    """A JSON object on disk.

    ``default()`` builds a fresh object; ``validate(data)`` returns a list of problems that
    make the file unusable (empty when it can be used); ``normalize(data, report)`` repairs
    what can be repaired in place (missing keys, bad entries; ``report(message)`` says what
    was dropped) and returns the object; ``warn(message)`` tells the user (default: stderr).
    """

    def __init__(self, path, default, validate=None, warn=None, normalize=None):
        self.path = Path(path)
        self.default = default
        self.validate = validate or (lambda data: [] if isinstance(data, dict) else ["not an object"])
        self.normalize = normalize or (lambda data, report: data)
        self.warn = warn or _print_warning

    def read(self):
        """The current object (a fresh default if the file is missing, damaged or unreadable)."""
        with self._locked(write=False):
            return self._read_unlocked(repair=False)

    @contextlib.contextmanager
    def update(self):
        """``with store.update() as data: data[...] = ...`` — locked read-modify-write."""
        with self._locked(write=True):
            data = self._read_unlocked(repair=True)
            yield data
            self._write_unlocked(data)

    def write(self, data):
        with self._locked(write=True):
            self._write_unlocked(data)

    def _error(self, action, err):
        return StoreError(f"cannot {action} {self.path}: {describe_os_error(err)}.")

    @contextlib.contextmanager
    def _locked(self, write):
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            if write:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = files.exclusive_lock(lock_path)
            lock.__enter__()
        except OSError as err:
            if write:
                raise self._error("write", err) from None
            yield  # a read-only place: read without the lock
            return
        try:
            yield
        finally:
            lock.__exit__(None, None, None)

    def _read_unlocked(self, repair):
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return self.default()
        except NotADirectoryError:
            if repair:
                raise StoreError(f"cannot write {self.path}: {self.path.parent} is a file, not a folder.") from None
            self.warn(f"{self.path.parent} is a file, not a folder: no progress can be read there.")
            return self.default()
        except IsADirectoryError:
            return self._set_aside(["a folder, not a file"])
        except UnicodeDecodeError:
            return self._set_aside(["not UTF-8 text"])
        except OSError as err:
            if repair:
                raise self._error("read", err) from None
            self.warn(f"cannot read {self.path} ({describe_os_error(err)}); showing no progress.")
            return self.default()
        try:
            data = parse_json(text)
        except ValueError as err:
            return self._set_aside([f"not valid JSON ({err.__class__.__name__}: {str(err)[:80]})"])
        problems = self.validate(data)
        if problems:
            return self._set_aside(problems)
        dropped = []
        data = self.normalize(data, dropped.append)
        for message in dropped:
            self.warn(f"{self.path}: {message}")
        return data

    def _set_aside(self, problems):
        backup = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        try:
            os.replace(self.path, backup)
        except OSError as err:
            self.warn(
                f"{self.path} is damaged ({'; '.join(problems)}) and could not be moved aside "
                f"({describe_os_error(err)}); progress is shown as empty."
            )
            return self.default()
        self.warn(
            f"{self.path} was damaged ({'; '.join(problems)}). It was moved to {backup.name} "
            "and progress starts clean; `tito module check --all` rebuilds it."
        )
        return self.default()

    def _write_unlocked(self, data):
        text = json.dumps(strict(data), indent=2, sort_keys=True, allow_nan=False) + "\n"
        try:
            files.write_atomic(self.path, text)
        except OSError as err:
            raise self._error("write", err) from None


def _print_warning(message):
    import sys

    print(f"Warning: {message}", file=sys.stderr)
