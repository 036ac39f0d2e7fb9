"""Build a student copy (``tito release DIR``): nothing leaks, nothing half-made is left.

* **An allow-list, not a deny-list.** Only what a student copy needs is taken: each
  module's one source (``modules/NN_name/name.py``, in its student form) and
  ``modules/README.md``; the package skeleton (the hand-written ``__init__.py`` files and
  ``_exports.py``, a fresh ``_catalog.json``); ``tito/``'s Python files; the milestone
  tests and their pages (``tests/milestones/``); the data (``datasets/``); ``pyproject.toml``
  and ``jupytext.toml``. Paired notebooks, extra ``.py`` files in module folders, misnamed
  folders, leftover temp files, generated exports and progress files are never copied.
  Notebooks are made from the stripped source by ``tito module start`` in the copy.
* **Solutions never touch the disk of the copy**: each module is written already stripped.
* **Built in a temporary folder beside the destination**, checked by a mandatory leak scan
  (no line that exists only inside a reference solution may appear in any file of the
  copy), and only then renamed into place. A failure or Ctrl-C removes the work.
* The copy gets its own identity (``.tito/project.json``, kind ``student``), the manifest of
  protected files (:mod:`tito.manifest`), a student README and a student ``.gitignore``.
"""

import io
import json
import os
import re
import shutil
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

from tito import exporter, files, manifest
from tito.identity import new_identity
from tito.project import ProjectError, discover_modules, is_generated
from tito.solutions import SolutionMarkerError, solution_blocks, solution_lines, strip_solutions

# Course files copied verbatim: (folder, glob pattern).
VERBATIM = (
    ("tito", "**/*.py"),
    ("tests/milestones", "*.py"),
    ("tests/milestones", "*.md"),
    ("datasets", "**/*.npz"),
    ("datasets", "**/*.md"),
    ("datasets", "**/*.py"),
    (".", "pyproject.toml"),
    (".", "jupytext.toml"),
    ("modules", "README.md"),
)
_TEXT_SUFFIXES = {".py", ".md", ".toml", ".json", ".txt", ".ipynb", ".cfg", ".yml", ".yaml", ""}


@dataclass
class Release:
    destination: Path
    modules: list  # [(module id, solution blocks replaced)]
    files: int


def check_destination(root, destination):
    """Refuse a destination that exists (and is not an empty folder) or lies inside the project."""
    root = Path(root).resolve()
    if destination == root or root in destination.parents:
        raise ProjectError(f"{destination} is inside this project ({root}): choose a folder outside it.")
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise ProjectError(
            f"{destination} already exists and is not empty: refusing to overwrite it. "
            "Choose a new folder for the student copy."
        )
    if not destination.parent.is_dir():
        raise ProjectError(f"{destination.parent} does not exist: create it first, or choose another folder.")


def build_release(root, destination, extra=None):
    """Write a student copy of the project at ``root`` into ``destination``; returns a :class:`Release`.

    ``extra(stage)`` may add files to the copy before the scan (``--ci github``).
    """
    root, destination = Path(root).resolve(), Path(destination).resolve()
    check_destination(root, destination)
    modules = discover_modules(root)
    student_forms = {}
    for module in modules:  # every module is checked before anything is written
        text = module.source.read_text(encoding="utf-8")
        try:
            student_forms[module] = (strip_solutions(text, module.id), len(solution_blocks(text)))
        except SolutionMarkerError as err:
            raise ProjectError(f"{module.source.relative_to(root)}: {err}") from None
    stage = Path(tempfile.mkdtemp(prefix=f".{destination.name}.release-", dir=destination.parent))
    try:
        count = _copy_verbatim(root, stage)
        for module, (text, _) in student_forms.items():
            files.write_atomic(stage / module.source.relative_to(root), text)
            count += 1
        count += _copy_skeleton(root, stage, modules)
        files.write_atomic(stage / "README.md", student_readme(root, modules))
        files.write_atomic(stage / ".gitignore", STUDENT_GITIGNORE)
        if extra is not None:
            extra(stage)
        new_identity(stage, kind="student")
        manifest.write_manifest(stage, manifest.build_manifest(stage))
        leaks = leak_scan(root, stage, modules)
        if leaks:
            shown = "; ".join(f"{path}:{line}: {text[:60]!r}" for path, line, text in leaks[:5])
            raise ProjectError(f"release aborted: solution text found in the copy ({shown}). Nothing was written.")
        if destination.exists():
            destination.rmdir()  # an empty folder the user made for it
        os.rename(stage, destination)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return Release(destination, [(m.id, blocks) for m, (_, blocks) in student_forms.items()], count + 4)


def _copy_verbatim(root, stage):
    count = 0
    for folder, pattern in VERBATIM:
        for path in sorted((root / folder).glob(pattern)):
            if path.is_file() and "__pycache__" not in path.parts and not path.name.startswith("."):
                target = stage / path.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
                count += 1
    return count


def _copy_skeleton(root, stage, modules):
    """The package skeleton: every hand-written file of ``tinytorch/`` and a fresh catalog."""
    count = 0
    package = root / exporter.PACKAGE
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts or is_generated(path) or path.name.startswith("."):
            continue
        target = stage / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        count += 1
    parsed, _ = exporter.parse_all(root, strict=False)
    files.write_atomic(stage / exporter.PACKAGE / exporter.CATALOG, exporter.render_catalog(exporter.build_catalog(parsed)))
    return count + 1


def _normalized(line):
    """A line as the scan compares it: no comment markers (prose is a comment in a module),
    no trailing comment, no indentation, single spaces."""
    line = line.strip().lstrip("#").strip()
    line = re.sub(r"\s+#.*$", "", line)  # `return a * b  # the product rule` hides nothing
    return re.sub(r"\s+", " ", line).strip()


def _code_line_numbers(text):
    """The 0-based numbers of the lines that are code: not prose or comments, not inside a
    multi-line string (a docstring, a test's hint). Only those can show that a line is
    not secret; a solution line quoted in prose or a docstring is still a leak."""
    lines = text.splitlines()
    strings = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.STRING and token.end[0] > token.start[0]:
                strings.update(range(token.start[0] - 1, token.end[0]))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return {i for i, line in enumerate(lines) if i not in strings and line.strip() and not line.lstrip().startswith("#")}


def solution_only_lines(root, modules):
    """The lines that exist only inside reference solutions (normalized), with the module of each.

    A solution line that also stands in code outside every solution block (in a module, or
    in a Python file the copy takes as it is) is not secret; one quoted only in prose, a
    comment, a docstring or a Markdown page is, and the scan finds it there."""
    inside, outside = {}, set()
    for module in modules:
        text = module.source.read_text(encoding="utf-8")
        lines = text.splitlines()
        blocks = {i for begin, end in solution_blocks(text) for i in range(begin, end + 1)}
        outside.update(_normalized(lines[i]) for i in _code_line_numbers(text) if i not in blocks)
        for line in solution_lines(text):
            inside.setdefault(_normalized(line), module.id)
    for folder, pattern in VERBATIM:  # course code copied as it is cannot leak a solution
        for path in (root / folder).glob(pattern):
            if path.is_file() and path.suffix == ".py":
                try:
                    code = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                lines = code.splitlines()
                outside.update(_normalized(lines[i]) for i in _code_line_numbers(code))
    return {line: module for line, module in inside.items() if line and line not in outside}


def leak_scan(root, stage, modules):
    """``[(relative path, line number, text)]`` of every solution-only line found in ``stage``."""
    secret = solution_only_lines(root, modules)
    leaks = []
    for path in sorted(stage.rglob("*")):
        if not path.is_file() or (path.suffix not in _TEXT_SUFFIXES and path.suffix != ".ipynb"):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for number, line in enumerate(_scannable_lines(path, text), start=1):
            if _normalized(line) in secret:
                leaks.append((path.relative_to(stage).as_posix(), number, line.strip()))
    return leaks


def _scannable_lines(path, text):
    """The lines of a file as a reader sees them (a JSON file's strings are split into lines)."""
    if path.suffix in (".json", ".ipynb"):
        try:
            data = json.loads(text)
        except ValueError:
            return text.splitlines()
        found = []

        def walk(value):
            if isinstance(value, str):
                found.extend(value.splitlines())
            elif isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        walk(data)
        return found
    return text.splitlines()


def _title(root, module):
    try:
        return exporter.parse_module(root, module, check_syntax=False).title
    except exporter.ExportError:
        return module.name.replace("_", " ").title()


STUDENT_GITIGNORE = """__pycache__/
*.pyc
*.egg-info/
build/
dist/
.venv/
.pytest_cache/
.hypothesis/
.ipynb_checkpoints/
.tito/lock
progress.json.lock
*.corrupt-*
*.bak-*
.*.tmp
"""


def student_readme(root, modules):
    """The README of a student copy: what the course is and the first commands, nothing else."""
    first = modules[0] if modules else None
    rows = "\n".join(f"| `modules/{m.id}/{m.name}.py` | {_title(root, m)} |" for m in modules)
    start = f"tito module start {first.number}" if first else "tito module list"
    complete = f"tito module complete {first.number}" if first else "tito module list"
    return f"""# TinyTorch — your course folder

You build a deep-learning library from scratch, module by module: a tensor, autograd,
layers, training, convolutions, attention, a transformer, and the tools that make models
small and fast. `tito` tests each module you write, exports it into **your own**
`tinytorch` package, and unlocks historical milestones (1957 perceptron → 2018 MLPerf)
that train real networks on your code and prove that they learn.

## Set up (once)

```bash
python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]"
```

Activate the environment (`. .venv/bin/activate`) in every new terminal.

## Your first three commands

```bash
tito module list        # the modules, what each builds on, and what to do next
{start}      # open the first module as a notebook (or edit the .py in your editor)
{complete}   # test it, export it into tinytorch/, record it
```

Every command ends with a `👉 Next:` line: the one next thing to do. `tito module test NN`
runs a module's tests while you work, `tito module watch NN` re-runs them on every save,
and `tito module hint NN` gives a nudge for the first failing test.

## Where things are

| path | what it is |
|---|---|
{rows}
| `tinytorch/` | your package: `tito module complete` exports your code into it |
| `tests/milestones/` | the milestones and the guides |

Start with [`tests/milestones/QUICKSTART.md`](tests/milestones/QUICKSTART.md) (your first
milestone, step by step); [`tests/milestones/STUDENT_GUIDE.md`](tests/milestones/STUDENT_GUIDE.md)
explains the workflow, Jupyter, hints and what to do when something fails.

Write your code between `### BEGIN SOLUTION` and `### END SOLUTION`. The tests in the
modules and everything in `tests/milestones/` and `tito/` are part of the course: they are
checked against the release manifest (`.tito/manifest.json`), and nothing is marked
complete while one of them differs. If you changed one by accident,
`tito module reset NN --tests` puts a module's tests back (your solutions stay).
"""
