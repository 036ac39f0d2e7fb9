"""Read a class's submissions safely: only the files grading needs, never anything else.

Each entry of a submissions folder is one student's project: a folder, a ``.zip`` or a
``.tar.gz`` (``.tgz``, ``.tar``). Nothing is unpacked to disk. An archive is checked whole
first, and refused (a ``rejected: why`` row in the gradebook, never a crash) when any member

* has an absolute path, a ``..`` component, a drive letter or a NUL byte;
* is a link whose target leaves the archive, or a device file, FIFO or socket;
* takes the archive past ``Limits.files`` members or ``Limits.total_bytes`` unpacked bytes;

then only the course's module sources (``modules/NN_name/name.py``) and the protected files
(to report that they were changed: they are never used) are read, each at most
``Limits.file_bytes``. In a folder submission a file is read only when it is a regular file
whose real path lies inside the folder (a link to the instructor's solutions is not followed).

The project may sit at the top of the submission or inside one folder of it (``alice/``,
``assignment-alice-main/``): the prefix under which the most course modules are found is
taken.
"""

import hashlib
import os
import posixpath
import stat
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")


@dataclass(frozen=True)
class Limits:
    archive_bytes: int = 200 << 20  # the archive file itself
    total_bytes: int = 500 << 20  # every member, unpacked
    files: int = 20_000  # members of an archive
    file_bytes: int = 4 << 20  # one file that is read (a module source, a protected file)


class Rejected(Exception):
    """The submission cannot be graded; ``str()`` says why (it becomes the gradebook's reason)."""


@dataclass
class Submission:
    name: str  # the student, as the gradebook shows them: "alice"
    path: Path  # the folder or archive
    kind: str  # "folder", "zip" or "tar"
    sources: dict = field(default_factory=dict)  # "modules/01_tensor/tensor.py" -> text
    problems: dict = field(default_factory=dict)  # relpath -> why it could not be read
    protected: dict = field(default_factory=dict)  # protected relpath -> sha256 of the student's copy
    rejected: str = ""  # why the whole submission is refused ("" when it is not)
    prefix: str = ""  # where the project sits inside the submission
    extra: dict = field(default_factory=dict)  # other files asked for by name (CI artifacts): relpath -> text

    def content_sha256(self):
        """A hash of exactly what is graded (the module sources, and what could not be read)."""
        digest = hashlib.sha256()
        for relpath in sorted(self.sources):
            digest.update(f"S\0{relpath}\0".encode())
            digest.update(hashlib.sha256(self.sources[relpath].encode("utf-8")).digest())
        for relpath in sorted(self.problems):
            digest.update(f"P\0{relpath}\0{self.problems[relpath]}\0".encode())
        return digest.hexdigest()


def submission_name(path):
    """``alice.tar.gz`` -> ``alice``; a folder keeps its name."""
    name = Path(path).name
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def list_submissions(folder):
    """``([(name, path, kind)], [ignored names])`` for the entries of a submissions folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of submissions")
    found, ignored = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        lower = path.name.lower()
        if path.is_dir():
            found.append((path.name, path, "folder"))
        elif lower.endswith(".zip"):
            found.append((submission_name(path), path, "zip"))
        elif lower.endswith((".tar.gz", ".tgz", ".tar")):
            found.append((submission_name(path), path, "tar"))
        else:
            ignored.append(path.name)
    names = [name for name, _, _ in found]
    # two entries for one student (alice/ and alice.zip): each keeps its full file name
    return [(name if names.count(name) == 1 else path.name, path, kind) for name, path, kind in found], ignored


def read_submission(name, path, kind, wanted, protected=(), extra=(), limits=Limits()):
    """Read one submission; returns a :class:`Submission` (``rejected`` says why it was refused).

    ``wanted``: the module source paths to read; ``protected``: the protected files whose
    hashes are reported; ``extra``: other relative paths to read as text when present.
    """
    submission = Submission(name, Path(path), kind)
    try:
        if kind == "folder":
            reader = _FolderReader(Path(path), limits)
        elif kind == "zip":
            reader = _ZipReader(Path(path), limits)
        else:
            reader = _TarReader(Path(path), limits)
        with reader:
            _read(reader, submission, list(wanted), list(protected), list(extra), limits)
    except Rejected as err:
        submission.rejected = str(err)
        submission.sources, submission.problems, submission.protected = {}, {}, {}
    return submission


def _read(reader, submission, wanted, protected, extra, limits):
    names = reader.names()
    prefix = find_prefix(names, wanted)
    if prefix is None:
        raise Rejected("no module sources found (expected modules/NN_name/name.py, e.g. "
                       f"{wanted[0] if wanted else 'modules/00_setup/setup.py'})")
    submission.prefix = prefix
    for relpath in wanted:
        try:
            data = reader.read(prefix + relpath)
        except FileNotFoundError:
            continue
        except _Unreadable as err:
            submission.problems[relpath] = str(err)
            continue
        try:
            submission.sources[relpath] = data.decode("utf-8")
        except UnicodeDecodeError as err:
            submission.problems[relpath] = f"not UTF-8 text (byte {err.start})"
    for relpath in protected:
        try:
            submission.protected[relpath] = hashlib.sha256(reader.read(prefix + relpath)).hexdigest()
        except FileNotFoundError:
            submission.protected[relpath] = None
        except _Unreadable as err:
            submission.protected[relpath] = f"unreadable: {err}"
    for relpath in extra:
        try:
            submission.extra[relpath] = reader.read(prefix + relpath).decode("utf-8")
        except (FileNotFoundError, _Unreadable, UnicodeDecodeError):
            continue


def find_prefix(names, wanted):
    """The folder (``""`` or ``"alice/"``) under which the most of ``wanted`` are found."""
    counts = {}
    for name in names:
        for relpath in wanted:
            if name == relpath or name.endswith("/" + relpath):
                prefix = name[: len(name) - len(relpath)]
                counts[prefix] = counts.get(prefix, 0) + 1
    if not counts:
        return None
    return min(counts, key=lambda prefix: (-counts[prefix], prefix.count("/"), prefix))


class _Unreadable(Exception):
    """This one file cannot be read (too large, not a regular file); the rest can."""


def check_member_name(name):
    """The member's path, normalized (``a/b.py``); :class:`Rejected` when it is unsafe."""
    if "\0" in name:
        raise Rejected(f"unsafe path {name!r} (a NUL byte)")
    clean = name.replace("\\", "/")
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":"):
        raise Rejected(f"unsafe path {name} (an absolute path)")
    parts = [part for part in clean.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise Rejected(f"unsafe path {name} (it leaves the folder with ..)")
    return "/".join(parts)


def _check_link(name, target, hard=False):
    target = target.replace("\\", "/")
    base = "" if hard else posixpath.dirname(name)
    resolved = posixpath.normpath(posixpath.join(base, target))
    if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
        raise Rejected(f"a link leaving the folder: {name} -> {target}")


class _Reader:
    def __init__(self, path, limits):
        self.path, self.limits = path, limits

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        pass


class _FolderReader(_Reader):
    def __init__(self, path, limits):
        super().__init__(path, limits)
        self.real = Path(os.path.realpath(path))

    def names(self):
        """The module sources can be at most two folders down: list just what is needed."""
        found = []
        for depth in range(3):
            pattern = "/".join(["*"] * depth + ["modules", "*", "*.py"])
            for item in self.path.glob(pattern):
                found.append(item.relative_to(self.path).as_posix())
            if found:
                break
        return found

    def read(self, relpath):
        path = self.path / relpath
        real = os.path.realpath(path)
        if not os.path.lexists(path):
            raise FileNotFoundError(relpath)
        if self.real not in Path(real).parents:
            raise _Unreadable(f"{relpath} is a link to a file outside the submission")
        try:
            info = os.stat(real)
        except OSError as err:
            raise _Unreadable(f"{relpath} cannot be read ({err.strerror})") from None
        if not stat.S_ISREG(info.st_mode):
            raise _Unreadable(f"{relpath} is not a regular file")
        if info.st_size > self.limits.file_bytes:
            raise _Unreadable(f"{relpath} is larger than {self.limits.file_bytes >> 20} MB")
        with open(real, "rb") as handle:
            data = handle.read(self.limits.file_bytes + 1)
        if len(data) > self.limits.file_bytes:
            raise _Unreadable(f"{relpath} is larger than {self.limits.file_bytes >> 20} MB")
        return data


class _ArchiveReader(_Reader):
    """Checks every member when opened; ``self.regular`` maps a clean name to its member."""

    def __init__(self, path, limits):
        super().__init__(path, limits)
        try:
            size = os.stat(path).st_size
        except OSError as err:
            raise Rejected(f"cannot read the archive ({err.strerror})") from None
        if size > limits.archive_bytes:
            raise Rejected(f"the archive is larger than {limits.archive_bytes >> 20} MB")
        self.regular = {}

    def _count(self, count, total):
        if count > self.limits.files:
            raise Rejected(f"the archive holds more than {self.limits.files:,} files")
        if total > self.limits.total_bytes:
            raise Rejected(f"the archive unpacks to more than {self.limits.total_bytes >> 20} MB")

    def names(self):
        return list(self.regular)

    def read(self, relpath):
        member = self.regular.get(relpath)
        if member is None:
            raise FileNotFoundError(relpath)
        if self._size(member) > self.limits.file_bytes:
            raise _Unreadable(f"{relpath} is larger than {self.limits.file_bytes >> 20} MB")
        try:
            with self._open(member) as handle:
                data = handle.read(self.limits.file_bytes + 1)
        except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, RuntimeError, ValueError) as err:
            raise _Unreadable(f"{relpath} cannot be unpacked ({err})") from None
        if len(data) > self.limits.file_bytes:
            raise _Unreadable(f"{relpath} is larger than {self.limits.file_bytes >> 20} MB")
        return data


class _ZipReader(_ArchiveReader):
    def __init__(self, path, limits):
        super().__init__(path, limits)
        try:
            self.archive = zipfile.ZipFile(path)
            infos = self.archive.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
            raise Rejected(f"not a valid zip file ({err})") from None
        total = 0
        for count, info in enumerate(infos, start=1):
            name = check_member_name(info.filename)
            mode = info.external_attr >> 16
            total += info.file_size
            self._count(count, total)
            if stat.S_ISLNK(mode):
                _check_link(name, self.archive.read(info)[:4096].decode("utf-8", "replace"))
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                raise Rejected(f"a device file, FIFO or socket: {info.filename}")
            elif not info.is_dir() and name:
                self.regular[name] = info

    def _size(self, info):
        return info.file_size

    def _open(self, info):
        return self.archive.open(info)

    def close(self):
        self.archive.close()


class _TarReader(_ArchiveReader):
    def __init__(self, path, limits):
        super().__init__(path, limits)
        try:
            self.archive = tarfile.open(path, "r:*")
        except (tarfile.TarError, OSError, EOFError, ValueError) as err:
            raise Rejected(f"not a valid tar archive ({err})") from None
        total = count = 0
        try:
            for member in self.archive:
                count += 1
                name = check_member_name(member.name)
                total += max(member.size, 0)
                self._count(count, total)
                if member.issym():
                    _check_link(name, member.linkname)
                elif member.islnk():
                    check_member_name(member.linkname)
                    _check_link(name, member.linkname, hard=True)
                elif member.isdev() or member.isfifo() or not (member.isreg() or member.isdir()):
                    raise Rejected(f"a device file, FIFO or other special file: {member.name}")
                elif member.isreg() and name:
                    self.regular[name] = member
        except (tarfile.TarError, OSError, EOFError, ValueError) as err:
            self.archive.close()
            raise Rejected(f"not a valid tar archive ({err})") from None
        except Rejected:
            self.archive.close()
            raise

    def _size(self, member):
        return member.size

    def _open(self, member):
        handle = self.archive.extractfile(member)
        if handle is None:
            raise OSError("not a regular file")
        return handle

    def close(self):
        self.archive.close()
