"""Tamper evidence, as nbgrader does for locked cells: a manifest of what a student must not change.

``tito release`` writes ``.tito/manifest.json`` into the student copy:

* the SHA-256 of every protected file — the milestone tests and tracker
  (``tests/milestones/*.py``), tito itself (``tito/**/*.py``) and the data the learning tests
  read (``datasets/**/*.npz``); a ``.py`` file *added* to ``tests/milestones/`` or ``tito/``
  (a planted ``conftest.py``) counts as tampering too;
* for each module, the fingerprint and the source of every protected function: the
  top-level functions of its test cells (cells without ``#| export``) — the ``test_unit_*``
  tests and the helpers they call. A fingerprint is taken over the function's tokens, so
  reformatting or a comment is not a change, while any change to what the code does is.

``tito module complete``, ``module check`` and ``milestone run`` call :func:`verify`; while it
reports anything, nothing is marked complete. :func:`restore_tests` puts the protected
functions of a module back from the manifest (``tito module reset NN --tests``), and
``tito grade`` uses the same function with the course's pristine copy.

A project without a manifest (the course repository itself) is not checked; a student copy
(``.tito/project.json`` says so) whose manifest is missing is reported as tampered.
"""

import ast
import functools
import hashlib
import io
import json
import re
import sys
import textwrap
import tokenize
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tito import files
from tito.identity import STATE_DIR, is_student_copy
from tito.project import discover_modules, parse_source

MANIFEST_FILE = f"{STATE_DIR}/manifest.json"
VERSION = 1
PROTECTED_FILES = (("tests/milestones", "*.py"), ("tito", "**/*.py"), ("datasets", "**/*.npz"))
GUARDED_FOLDERS = ("tests/milestones", "tito")  # no .py file may be added here
_EXPORT_DIRECTIVE = re.compile(r"^#\|\s*export\b")
_CELL = re.compile(r"^# %%")
_SKIP_TOKENS = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                tokenize.ENCODING, tokenize.ENDMARKER}


@dataclass(frozen=True)
class Finding:
    """One protected thing that differs from the manifest."""

    path: str  # "tests/milestones/test_learning_verification.py" or "modules/02_autograd/autograd.py"
    problem: str  # "changed", "missing", "added", "test changed", "test missing", "test redefined", ...
    name: str = ""  # the protected function, for module tests
    fix: str = ""

    def describe(self):
        what = f"{self.path}::{self.name}" if self.name else self.path
        return f"{what}: {self.problem}" + (f" — {self.fix}" if self.fix else "")

    def to_dict(self):
        return {"path": self.path, "name": self.name or None, "problem": self.problem, "fix": self.fix}


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _protected_paths(root):
    root = Path(root)
    found = set()
    for folder, pattern in PROTECTED_FILES:
        for path in (root / folder).glob(pattern):
            if path.is_file() and "__pycache__" not in path.parts:
                found.add(path.relative_to(root).as_posix())
    return sorted(found)


def _guarded_py_files(root):
    root = Path(root)
    return sorted(
        path.relative_to(root).as_posix()
        for folder in GUARDED_FOLDERS
        for path in (root / folder).rglob("*.py")
        if path.is_file() and "__pycache__" not in path.parts
    )


# -- protected functions of a module --------------------------------------------------------
def _test_cell_lines(text):
    """The line numbers (1-based) that belong to code cells without ``#| export``."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _CELL.match(line)]
    bounds = list(zip([0] + starts, starts + [len(lines)]))
    inside = set()
    for begin, end in bounds:
        cell = lines[begin:end]
        if not cell:
            continue
        header = cell[0]
        if _CELL.match(header) and "[" in header and "[code]" not in header:
            continue  # markdown (or another non-code) cell
        body = cell[1:] if _CELL.match(header) else cell
        directives = []
        for line in body:
            if line.startswith("#|"):
                directives.append(line)
            elif line.strip():
                break
        if not any(_EXPORT_DIRECTIVE.match(line) for line in directives):
            inside.update(range(begin + 1, end + 1))
    return inside


def _top_level_definitions(tree):
    """``[(name, node)]`` for every top-level def/class and simple assignment target."""
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.append((node.name, node))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found.extend((target.id, node) for target in targets if isinstance(target, ast.Name))
    return found


def _segment(lines, node):
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return "\n".join(lines[start - 1 : node.end_lineno]) + "\n", start, node.end_lineno


def fingerprint(source):
    """SHA-256 over a function's tokens: formatting and comments do not count."""
    tokens = tokenize.generate_tokens(io.StringIO(textwrap.dedent(source)).readline)
    kept = "\x1f".join(tok.string for tok in tokens if tok.type not in _SKIP_TOKENS)
    return hashlib.sha256(kept.encode("utf-8")).hexdigest()


def protected_functions(text):
    """``{name: source}`` of the top-level functions in a module's test cells."""
    tree = parse_source(text)
    lines = text.splitlines()
    test_lines = _test_cell_lines(text)
    found = {}
    for name, node in _top_level_definitions(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno in test_lines:
            found.setdefault(name, _segment(lines, node)[0])
    return found


def test_function_lines(text):
    """``{name: first line}`` of each top-level ``test_unit_*`` function (its first decorator's
    line when it has one: what the function's code object reports)."""
    try:
        tree = parse_source(text)
    except SyntaxError:
        return {}
    lines = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_unit_"):
            lines[node.name] = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return lines


def test_function_names(text):
    """The top-level ``test_unit_*`` functions a module defines, in order (what must pass)."""
    tree = parse_source(text)
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_unit_"):
            if node.name not in names:
                names.append(node.name)
    return names


# -- building and reading -------------------------------------------------------------------
def build_manifest(root):
    """The manifest of a project as it is now (``tito release`` runs this on the student copy)."""
    root = Path(root)
    tests = {}
    for info in discover_modules(root):
        text = info.source.read_text(encoding="utf-8")
        relpath = info.source.relative_to(root).as_posix()
        tests[relpath] = {name: {"sha256": fingerprint(source), "source": source}
                          for name, source in protected_functions(text).items()}
    return {
        "version": VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": {rel: sha256_file(root / rel) for rel in _protected_paths(root)},
        "tests": tests,
    }


def write_manifest(root, manifest):
    files.write_atomic(Path(root) / MANIFEST_FILE, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(root):
    """The manifest, None when the project has none; raises ValueError when it is unreadable."""
    path = Path(root) / MANIFEST_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ValueError(f"cannot read {MANIFEST_FILE}: {err.strerror}") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ValueError(f"{MANIFEST_FILE} is not valid JSON") from None
    if not (isinstance(data, dict) and isinstance(data.get("files"), dict) and isinstance(data.get("tests"), dict)):
        raise ValueError(f"{MANIFEST_FILE} does not have a manifest's shape")
    return data


# -- verifying ------------------------------------------------------------------------------
def _file_fix(rel):
    return f"restore it with `git checkout -- {rel}` (or copy it from a fresh release of the course)"


def _test_fix(relpath):
    module = Path(relpath).parent.name.split("_", 1)[0]
    return f"restore it with `tito module reset {module} --tests` (your solutions are kept)"


def changed_during_run(root):
    """After a run of the code under test: up to three protected files it changed, described
    in one line ("" when nothing differs from the manifest)."""
    return "; ".join(finding.describe() for finding in verify(root)[:3])


def verify(root, manifest=None):
    """Every protected thing that differs from the manifest (``[]``: nothing, or no manifest)."""
    root = Path(root)
    if manifest is None:
        try:
            manifest = read_manifest(root)
        except ValueError as err:
            return [Finding(MANIFEST_FILE, str(err), fix="copy it from a fresh release of the course")]
    if manifest is None:
        if is_student_copy(root):
            return [Finding(MANIFEST_FILE, "missing", fix="copy it from a fresh release of the course")]
        return []
    findings = []
    for rel, digest in sorted(manifest["files"].items()):
        path = root / rel
        if not path.is_file():
            findings.append(Finding(rel, "missing", fix=_file_fix(rel)))
        elif sha256_file(path) != digest:
            findings.append(Finding(rel, "changed", fix=_file_fix(rel)))
    for rel in _guarded_py_files(root):
        if rel not in manifest["files"]:
            findings.append(Finding(rel, "added (not part of the course)", fix=f"remove {rel}"))
    for relpath, expected in sorted(manifest["tests"].items()):
        findings.extend(_verify_tests(root, relpath, expected))
    return findings


def _verify_tests(root, relpath, expected):
    path = root / relpath
    try:
        lines, definitions = _definitions(path.read_text(encoding="utf-8"), relpath)
    except FileNotFoundError:
        return [Finding(relpath, "missing", fix=_file_fix(relpath))] if expected else []
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return []  # a module that does not parse cannot complete anyway; its error is reported there
    findings = []
    for name, record in sorted(expected.items()):
        nodes = definitions.get(name, [])
        if not nodes:
            findings.append(Finding(relpath, "test missing", name, _test_fix(relpath)))
        elif len(nodes) > 1:
            findings.append(Finding(relpath, "test redefined (defined more than once)", name, _test_fix(relpath)))
        elif not isinstance(nodes[0], (ast.FunctionDef, ast.AsyncFunctionDef)) or \
                not _same_test(_segment(lines, nodes[0])[0], record):
            findings.append(Finding(relpath, "test changed", name, _test_fix(relpath)))
    return findings


@functools.lru_cache(maxsize=24)  # a course's modules and a few more; ~3 MB a tree at most
def _definitions(text, relpath):
    """``(lines, {name: [nodes]})`` of a module's text. Kept for the text: the check after a
    run reads the same sources as the check before it, and parsing them is most of its cost."""
    definitions = {}
    for name, node in _top_level_definitions(parse_source(text, relpath)):
        definitions.setdefault(name, []).append(node)
    return text.splitlines(), definitions


def _same_test(source, record):
    """Whether a test function's ``source`` is the one ``record`` protects: the very text the
    release shipped (no tokenizing: a test a student never touched costs one comparison), else
    the same tokens (reformatted or commented)."""
    return source == record.get("source") or fingerprint(source) == record.get("sha256")


def restore_tests(text, expected):
    """``text`` with every protected function put back from ``expected`` (the manifest's
    ``{name: {"sha256", "source"}}`` of this module); extra definitions of a protected name
    are removed and a missing one is appended. Returns ``(new text, restored names)``."""
    tree = parse_source(text)
    lines = text.splitlines()
    definitions = {}
    for name, node in _top_level_definitions(tree):
        definitions.setdefault(name, []).append(node)
    edits, appended, restored = [], [], []
    test_lines = _test_cell_lines(text)
    for name, record in sorted(expected.items()):
        nodes = definitions.get(name, [])
        intact = len(nodes) == 1 and isinstance(nodes[0], (ast.FunctionDef, ast.AsyncFunctionDef)) and \
            fingerprint(_segment(lines, nodes[0])[0]) == record["sha256"]
        if intact:
            continue
        restored.append(name)
        if not nodes:
            appended.append(record["source"])
            continue
        keep = next((n for n in nodes if n.lineno in test_lines), nodes[0])
        for node in nodes:
            _, start, end = _segment(lines, node)
            edits.append((start, end, record["source"].rstrip("\n").splitlines() if node is keep else []))
    for start, end, replacement in sorted(edits, reverse=True):
        lines[start - 1 : end] = replacement
    new = "\n".join(lines) + ("\n" if text.endswith("\n") or not lines else "")
    for source in appended:
        new += "\n\n# %%\n" + source.rstrip("\n") + "\n"
    return new, restored


def tampered_message(findings, limit=8):
    """A short human summary of the findings (the CLI prints it before refusing)."""
    shown = [f"  • {finding.describe()}" for finding in findings[:limit]]
    if len(findings) > limit:
        shown.append(f"  • … and {len(findings) - limit} more")
    return "\n".join(shown)


def main(argv=None):  # pragma: no cover - a debugging aid: python -m tito.manifest [ROOT]
    root = Path(argv[0] if argv else ".")
    for finding in verify(root):
        print(finding.describe())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
