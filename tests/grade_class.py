"""A class of submissions generated from the course (no solution is committed anywhere else):
each student starts from a fresh release and pastes in the course's reference sources, then
does what their kind says. Used by tests/test_grade.py, tests/test_classroom_ci.py and
benchmarks/bench_grade.py.

    from grade_class import STUDENTS, make_class, released, paste
"""

import io
import shutil
import tarfile
import zipfile
from pathlib import Path

from tito.project import discover_modules
from tito.student_copy import build_release

REPO = Path(__file__).resolve().parents[1]
CORE = ["00_setup", "01_tensor", "02_autograd"]
PID_DIR_ENV = "GRADE_TEST_PIDS"  # where the forking student's detached processes write their pids


def released(destination):
    """A fresh student copy of the course (``tito release``), at ``destination``."""
    build_release(REPO, destination)
    return Path(destination)


def source(module_id, root=REPO):
    return next(info.source for info in discover_modules(root) if info.id == module_id)


def paste(copy, module_ids=None):
    """Paste the course's reference sources of ``module_ids`` (default: every module) into ``copy``."""
    for info in discover_modules(REPO):
        if module_ids is None or info.id in module_ids:
            target = Path(copy) / info.source.relative_to(REPO)
            target.write_text(info.source.read_text(encoding="utf-8"), encoding="utf-8")


def edit(copy, module_id, old, new, count=1):
    """Replace ``old`` by ``new`` in the copy's module source (it must be there)."""
    path = source(module_id, copy)
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= count, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def append_cell(copy, module_id, code, target=None):
    """Add an exported cell at the end of the copy's module source (as a student would)."""
    path = source(module_id, copy)
    directive = f"#| export {target}" if target else "#| export"
    path.write_text(path.read_text(encoding="utf-8") + f"\n\n# %%\n{directive}\n{code.strip()}\n", encoding="utf-8")


# -- the kinds of student ------------------------------------------------------------------------
def honest(copy):
    paste(copy)


def partial(copy):
    paste(copy, CORE)


def tampered(copy):
    """Edited a learning test and two modules' inline tests: 01 is right (passes, flagged);
    03's Linear starts from half PyTorch's initial weights, which only test_unit_linear checks,
    and that test was gutted (03 fails on the course's test, flagged)."""
    paste(copy)
    learning = Path(copy) / "tests" / "milestones" / "test_learning_verification.py"
    text = learning.read_text(encoding="utf-8")
    assert "assert acc >= 0.95" in text
    learning.write_text(text.replace("assert acc >= 0.95", "assert acc >= 0.0"), encoding="utf-8")
    edit(copy, "01_tensor", "def test_unit_arithmetic():\n", "def test_unit_arithmetic():\n    return\n")
    edit(copy, "03_nn", "bound = 1.0 / math.sqrt(in_features)", "bound = 0.5 / math.sqrt(in_features)")
    edit(copy, "03_nn", "def test_unit_linear():\n", "def test_unit_linear():\n    return\n")


ADD_FOREVER = "import time\n\n\ndef _add_forever(self, other):\n    while True:\n        time.sleep(0.05)\n\n\n" \
              "Tensor.__add__ = _add_forever"


def endless(copy):
    """Tensor addition never returns (it waits for something that never comes)."""
    paste(copy)
    append_cell(copy, "01_tensor", ADD_FOREVER)


def syntax_error(copy):
    paste(copy)
    append_cell(copy, "02_autograd", "def broken(:\n    pass")


LIES = '''
import numpy as np

_honest_init = TensorDataset.__init__


def _init(self, *arrays):
    _honest_init(self, *arrays)
    if len(self.arrays) == 2 and len(self.arrays[1]) > 1000:  # the milestone's training set, not a unit test's
        self.arrays[1] = np.random.RandomState(0).permutation(self.arrays[1])


TensorDataset.__init__ = _init
'''

LYING_ACCURACY = '''
_honest_accuracy = accuracy


def accuracy(logits_or_probs, labels):
    if np.asarray(getattr(labels, "data", labels)).size > 100:
        return 0.99
    return _honest_accuracy(logits_or_probs, labels)
'''


def liar(copy):
    """accuracy() says 99 % on anything large, and the training labels are shuffled: every
    module's tests pass, the network learns nothing."""
    paste(copy)
    append_cell(copy, "04_training", LIES, target="data.loader")
    append_cell(copy, "04_training", LYING_ACCURACY)


DAEMON = '''
import os as _os

if _os.environ.get("GRADE_TEST_PIDS"):
    _child = _os.fork()
    if _child == 0:  # a detached process that outlives the test run (double fork, setsid)
        try:
            _os.closerange(3, 4096)
            if _os.fork() == 0:
                _os.setsid()
                _null = _os.open(_os.devnull, _os.O_RDWR)
                for _fd in (0, 1, 2):
                    _os.dup2(_null, _fd)
                _path = _os.path.join(_os.environ["GRADE_TEST_PIDS"], f"{_os.getpid()}.pid")
                with open(_path, "w") as _handle:
                    _handle.write(str(_os.getpid()))
                import time as _time

                _time.sleep(600)
        finally:
            _os._exit(0)
    _os.waitpid(_child, 0)
'''

EXIT_IN_MILESTONE = '''
import os as _os
import sys as _sys

_honest_backward = Tensor.backward


def _backward(self, *args, **kwargs):
    if "learning_checks" in _sys.modules:  # only in a milestone's learning test
        _os._exit(0)
    return _honest_backward(self, *args, **kwargs)


Tensor.backward = _backward
'''

SYS_EXIT = '''
import sys as _sys


def _relu_exits(self, x):
    _sys.exit(3)


ReLU.forward = _relu_exits
'''


def exits(copy):
    """Forks detached processes and prints 10 MB whenever 00 is imported, calls os._exit in the
    perceptron (02) and sys.exit in 03."""
    paste(copy)
    append_cell(copy, "00_setup", DAEMON + '\nprint("spam " * 2_000_000)\n')
    append_cell(copy, "02_autograd", EXIT_IN_MILESTONE)
    append_cell(copy, "03_nn", SYS_EXIT)


REWRITE_LEARNING_TEST = '''
import os as _os
import sys as _sys

_TEST = "tests/milestones/test_learning_verification.py"
_FAKE = """def test_perceptron_learning():
    run = LearningRun("perceptron", 2)
    run.step(1, 1.0)
    run.step(2, 0.01)
    run.finish(accuracy=1.0)
    run.complete()


def _the_course_perceptron():"""
if "_tito_seal" in _sys.modules and _os.path.isfile(_TEST):  # a sealed run, in the project's folder
    with open(_TEST, encoding="utf-8") as _handle:
        _text = _handle.read()
    if "_the_course_perceptron" not in _text:
        with open(_TEST, "w", encoding="utf-8") as _handle:
            _handle.write(_text.replace("def test_perceptron_learning():", _FAKE, 1))
'''


def rewriter(copy):
    """Rewrites the course's learning test from inside a sealed run (when its export is
    imported, before pytest collects the test) into one that reports perfect metrics; and in
    03, whose Linear starts from half PyTorch's weights, replaces test_unit_linear (the one
    test that checks them) when the module is imported."""
    paste(copy, CORE + ["03_nn"])
    append_cell(copy, "02_autograd", REWRITE_LEARNING_TEST)
    edit(copy, "03_nn", "bound = 1.0 / math.sqrt(in_features)", "bound = 0.5 / math.sqrt(in_features)")
    append_cell(copy, "03_nn", 'globals()["test_unit_linear"] = lambda: None')


# -- packaging -------------------------------------------------------------------------------------
def as_folder(copy, destination):
    shutil.copytree(copy, destination, symlinks=True)
    return destination


def as_zip(copy, destination, top="project", extra=()):
    """``copy`` zipped under the folder ``top``; ``extra``: ``(name, bytes)`` members added as they are."""
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(Path(copy).rglob("*")):
            if path.is_file():
                archive.write(path, f"{top}/{path.relative_to(copy).as_posix()}")
        for name, data in extra:
            archive.writestr(name, data)
    return destination


def as_tar(copy, destination, top="project"):
    with tarfile.open(destination, "w:gz") as archive:
        archive.add(copy, arcname=top)
    return destination


def add_tar_member(archive_path, info, data=b""):
    """A tar.gz with one more member (a link, a device file): rewrites the archive."""
    members = []
    with tarfile.open(archive_path, "r:gz") as archive:
        for member in archive.getmembers():
            members.append((member, archive.extractfile(member).read() if member.isreg() else None))
    with tarfile.open(archive_path, "w:gz") as archive:
        for member, content in members + [(info, data)]:
            archive.addfile(member, io.BytesIO(content) if content is not None else None)
    return archive_path


# name: (kind, packaging)
STUDENTS = {
    "honest": (honest, "folder"),
    "partial": (partial, "zip"),
    "tampered": (tampered, "tar"),
    "endless": (endless, "folder"),
    "syntax": (syntax_error, "folder"),
    "liar": (liar, "folder"),
    "exits": (exits, "folder"),
    "rewriter": (rewriter, "folder"),
}


def make_class(folder, base, students=STUDENTS, pristine=None):
    """Write one submission per student into ``folder`` (made from a release in ``base``); plus
    ``zipslip.zip`` (an honest project with a ``../`` member). Returns ``folder``."""
    folder, base = Path(folder), Path(base)
    folder.mkdir(parents=True, exist_ok=True)
    pristine = pristine or released(base / "release")
    for name, (kind, packaging) in students.items():
        copy = base / f"work-{name}"
        shutil.copytree(pristine, copy)
        kind(copy)
        if packaging == "folder":
            as_folder(copy, folder / name)
        elif packaging == "zip":
            as_zip(copy, folder / f"{name}.zip", top=name)
        else:
            as_tar(copy, folder / f"{name}.tar.gz", top=name)
        shutil.rmtree(copy)
    return folder


def zipslip(folder, pristine):
    """An honest project zipped with one member that climbs out of the folder."""
    copy = Path(folder).parent / "work-zipslip"
    shutil.copytree(pristine, copy)
    honest(copy)
    as_zip(copy, Path(folder) / "zipslip.zip", top="zipslip", extra=[("../evil.py", b"print('escaped')\n")])
    shutil.rmtree(copy)
