"""Writing files so that nothing is lost and nobody else is locked out.

* A write goes to a temp file in the same folder and is renamed into place (``os.replace``):
  a reader, or a kill at any moment, sees the old file or the new one, never half a file.
* A new file gets the mode ``0o666 & ~umask`` (what ``open()`` would give it, not
  ``mkstemp``'s 0600); a replaced file keeps its mode, so a TA account, a Docker bind mount
  or a shared JupyterHub folder can still read what tito writes.
* A symbolic link is written through: its target is replaced, the link stays a link.
* Several files that belong together (one module's exports) are staged first and renamed
  in a row (:func:`write_group`), so a failure before the renames changes nothing.
"""

import contextlib
import os
import stat
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

TEMP_SUFFIX = ".tmp"


def umask():
    """The process's umask (read without changing it for longer than a moment)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _target(path):
    """Where a write to ``path`` lands: through a symlink to its target."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _mode_for(path):
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~umask()


def stage(path, data):
    """Write ``data`` (str or bytes) to a temp file beside ``path``; returns ``(temp, target)``."""
    target = _target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, _mode_for(target))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return Path(temp), target


def write_atomic(path, data):
    """Replace ``path`` with ``data`` atomically (mode and symlinks as described above)."""
    temp, target = stage(path, data)
    try:
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return target


def write_group(files):
    """Write ``{path: data}`` as a unit: every file is staged before any is replaced.

    Returns the paths written. A failure while staging leaves every target untouched.
    """
    staged = []
    try:
        for path, data in files.items():
            staged.append(stage(path, data))
        for temp, target in staged:
            os.replace(temp, target)
    except BaseException:
        for temp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        raise
    return [target for _, target in staged]


@contextlib.contextmanager
def exclusive_lock(lock_path):
    """Hold an exclusive lock on ``lock_path`` (created if missing) for the ``with`` block.

    Raises OSError when the lock file cannot be created or opened (a read-only place)."""
    with open(lock_path, "a+") as handle:
        _lock(handle)
        try:
            yield
        finally:
            _unlock(handle)


def remove_stale_temps(folder, older_than=60.0):
    """Delete temp files this module left behind (a write killed mid-way) under ``folder``."""
    removed = []
    now = time.time()
    for temp in Path(folder).rglob(f".*{TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            if temp.is_file() and now - temp.stat().st_mtime > older_than:
                temp.unlink()
                removed.append(temp)
    return removed


def create_new(path, data):
    """Create ``path`` whole, only if it does not exist yet (``FileExistsError`` otherwise).

    The content is staged first and linked into place, so nobody ever reads a half-written
    file, and of two processes creating the same file exactly one wins.
    """
    temp, target = stage(path, data)
    try:
        os.link(temp, target)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)
    return target
