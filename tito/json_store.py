"""Progress files: atomic, locked, and never a crash when one is damaged.

Both progress files (the user's milestone progress in ``$TINYTORCH_HOME`` and the
project's module progress) go through :class:`JsonStore`:

* every write goes to a temp file in the same folder, then ``os.replace`` — a reader
  never sees half a file;
* read-modify-write happens under an exclusive lock on ``<file>.lock``, so two ``tito``
  processes at once lose nothing;
* a file that is empty, not JSON, or of the wrong shape is moved aside to
  ``<file>.corrupt-<timestamp>``, the user is told, and progress starts clean.
"""

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

try:  # POSIX
    import fcntl

    def _lock(handle):
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)

    def _unlock(handle):
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

except ImportError:  # Windows
    import msvcrt

    def _lock(handle):
        while True:
            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                return
            except OSError:
                time.sleep(0.05)

    def _unlock(handle):
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)


class JsonStore:
    """A JSON object on disk.

    ``default`` builds a fresh object; ``validate(data)`` returns a list of problems
    (empty when the shape is right); ``warn(message)`` tells the user about a file that
    was moved aside (default: print to stderr).
    """

    def __init__(self, path, default, validate=None, warn=None):
        self.path = Path(path)
        self.default = default
        self.validate = validate or (lambda data: [] if isinstance(data, dict) else ["not an object"])
        self.warn = warn or _print_warning

    def read(self):
        """The current object (a fresh default if the file is missing or was corrupt)."""
        with self._locked():
            return self._read_unlocked()

    @contextlib.contextmanager
    def update(self):
        """``with store.update() as data: data[...] = ...`` — locked read-modify-write."""
        with self._locked():
            data = self._read_unlocked()
            yield data
            self._write_unlocked(data)

    def write(self, data):
        with self._locked():
            self._write_unlocked(data)

    @contextlib.contextmanager
    def _locked(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a+") as handle:
            _lock(handle)
            try:
                yield
            finally:
                _unlock(handle)

    def _read_unlocked(self):
        if not self.path.exists():
            return self.default()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            problems = self.validate(data)
        except (ValueError, UnicodeDecodeError) as err:
            problems = [f"not valid JSON ({err.__class__.__name__})"]
        if not problems:
            return data
        backup = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        os.replace(self.path, backup)
        self.warn(
            f"{self.path} was damaged ({'; '.join(problems)}). It was moved to {backup.name} "
            "and progress starts clean; `tito module check --all` rebuilds it."
        )
        return self.default()

    def _write_unlocked(self, data):
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.write("\n")
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise


def _print_warning(message):
    import sys

    print(f"Warning: {message}", file=sys.stderr)
