"""Export module sources into the ``tinytorch`` package (our own small nbdev).

A module source (``modules/NN_name/name.py``) is a jupytext percent-format file: cells
start at lines beginning with ``# %%``; ``# %% [markdown]`` cells are prose. The first
lines of a code cell may hold directives:

* ``#| default_exp core.tensor`` — exactly once per module: the default target,
  ``tinytorch/core/tensor.py``;
* ``#| export`` — the cell goes to the default target; ``#| export optim.sgd`` sends it
  to ``tinytorch/optim/sgd.py`` instead;
* ``#| requires 00_setup 01_tensor`` — the modules this one builds on.

Each target file gets a two-line header (:data:`tito.project.GENERATED_HEADER` naming
the source, then how to change it), an ``__all__`` built with :mod:`ast` from the
top-level public names of its cells, and the cells themselves with directive and
``### BEGIN/END SOLUTION`` marker lines dropped. Files are written atomically.
``tinytorch/_catalog.json`` records which module exports each public name.

Every mistake in a source raises :class:`ExportError` naming the file and line.
``python -m tito.exporter [ROOT]`` re-exports every module of a project.
"""

import ast
import contextlib
import functools
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tito import files
from tito.project import GENERATED_HEADER, ProjectError, discover_modules, is_generated, parse_source

PACKAGE = "tinytorch"
CATALOG = "_catalog.json"
DIRECTIVES = ("default_exp", "export", "requires")

_CELL = re.compile(r"^# %%(?=\s|$)(?:\s+\[(\w+)\])?")
_DIRECTIVE = re.compile(r"^#\|\s*(\S+)(.*)$")
_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_MODULE_ID = re.compile(r"^\d{2}_[a-z][a-z0-9_]*$")
_HEADER_SOURCE = re.compile(re.escape(GENERATED_HEADER) + r" (\S+)")


class ExportError(ProjectError):
    """A problem in a module source or its targets; the message names file and line."""


@dataclass
class Cell:
    kind: str  # "code" or "markdown" (any non-code cell)
    line: int  # 1-based line of the cell's first line (its `# %%` marker, if any)
    lines: list  # the cell's lines, marker included, without line endings
    directives: list = field(default_factory=list)  # (line, name, args)


@dataclass
class ExportCell:
    target: str  # dotted, relative to the package: "core.tensor"
    line: int  # 1-based line of the cell's first line
    code: str  # exported text: directives and solution markers dropped
    names: list  # top-level public names, in order
    source_lines: list = field(default_factory=list)  # the source line of each line of `code`


@dataclass
class ParsedModule:
    info: object  # tito.project.ModuleInfo
    relpath: str  # "modules/01_tensor/tensor.py"
    title: str
    default_exp: str
    requires: list
    cells: list  # ExportCell, in source order

    @property
    def targets(self):
        """Dotted target -> its cells, in first-appearance order."""
        grouped = {}
        for cell in self.cells:
            grouped.setdefault(cell.target, []).append(cell)
        return grouped


# ---------------------------------------------------------------------------------------
# Parsing


def _relpath(root, path):
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def split_cells(text):
    """Split percent-format text into cells (text before the first ``# %%`` is a code cell)."""
    cells = []
    current = Cell("code", 1, [])
    for number, line in enumerate(text.splitlines(), start=1):
        match = _CELL.match(line)
        if match:
            if current.lines:
                cells.append(current)
            kind = "code" if match.group(1) in (None, "code") else "markdown"
            current = Cell(kind, number, [line])
        else:
            current.lines.append(line)
    if current.lines:
        cells.append(current)
    return cells


def _read_directives(cell, where):
    """The directives at the top of a code cell; a directive further down is an error."""
    body_start = 1 if _CELL.match(cell.lines[0]) else 0
    at_top = True
    for offset, line in enumerate(cell.lines[body_start:], start=body_start):
        number = cell.line + offset
        match = _DIRECTIVE.match(line)
        if match:
            name, args = match.group(1), match.group(2).split()
            if name not in DIRECTIVES:
                raise ExportError(
                    f"{where}:{number}: unknown directive `#| {name}` "
                    f"(known: {', '.join('#| ' + d for d in DIRECTIVES)})."
                )
            if not at_top:
                raise ExportError(
                    f"{where}:{number}: `#| {name}` must be on the first lines of its cell "
                    "(right after `# %%`), before any code."
                )
            cell.directives.append((number, name, args))
        elif line.strip():
            at_top = False


def _title(cells, info):
    for cell in cells:
        if cell.kind != "markdown":
            continue
        for line in cell.lines[1:]:
            heading = re.match(r"^#\s+#+\s+(.*\S)", line)
            if heading:
                title = re.sub(r"^(?:module\s+)?\d+\s*[—–:.-]?\s*", "", heading.group(1), flags=re.I)
                return title.strip() or heading.group(1).strip()
    return info.name.replace("_", " ").title()


def read_source(root, info):
    """The module source's text (an ExportError naming the file if it cannot be read)."""
    try:
        return Path(info.source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ExportError(f"{_relpath(root, info.source)}: cannot be read ({err}).") from None


def parse_module(root, info, check_syntax=True, text=None):
    """Read a module source and return its :class:`ParsedModule` (or raise ExportError).

    ``text`` is the source to parse (default: the file as it is now); ``tito module
    complete`` passes the snapshot it tested, so the export is made from those bytes.
    ``check_syntax`` also compiles the whole file and every exported cell, so a syntax
    error is reported as ``file:line`` before anything is run or written.
    """
    if text is None:
        text = read_source(root, info)
    return _parse_text(info, _relpath(root, info.source), text, check_syntax)


def _parse_text(info, where, text, check_syntax):
    """:func:`parse_module` of this exact text. ``check_syntax`` parses the whole file first;
    the cells are read once per text for both kinds of call (exporting one module reads all
    the others too; ``complete`` plans its export twice), with their problems in source
    order, and a call raises the first one that applies to it (a cell's syntax error only
    when ``check_syntax``)."""
    tree = None
    if check_syntax:
        try:
            tree = parse_source(text, where)
        except SyntaxError as err:
            raise ExportError(_syntax_message(err, where)) from None
    key = (info, where, text)
    if key not in _PARSED:
        while len(_PARSED) >= 64:
            del _PARSED[next(iter(_PARSED))]
        _PARSED[key] = _parse_once(info, where, text, tree)
    parsed, problems = _PARSED[key]
    for problem, is_syntax in problems:
        if check_syntax or not is_syntax:
            raise problem
    return parsed


_PARSED = {}  # (info, where, text) -> _parse_once's result, oldest first


def _parse_once(info, where, text, tree):
    """(ParsedModule or None, [(ExportError, is_syntax), ...]): parsing stops at the first
    problem that is not a syntax error; a cell with a syntax error exports no names. ``tree``:
    the whole file's, when it was parsed (each cell's names are then read from it)."""
    problems = []
    try:
        return _parse_cells(info, where, text, tree, problems), problems
    except ExportError as err:
        problems.append((err, False))
        return None, problems


def _parse_cells(info, where, text, tree, problems):
    cells = split_cells(text)
    default_exp, default_line, requires, exported = None, None, [], []
    for cell in cells:
        if cell.kind != "code":
            continue
        _read_directives(cell, where)
        export = None
        for number, name, args in cell.directives:
            if name == "default_exp":
                if len(args) != 1 or not _DOTTED.match(args[0]):
                    raise ExportError(f"{where}:{number}: write `#| default_exp a.b` with one dotted name.")
                if default_exp is not None:
                    raise ExportError(
                        f"{where}:{number}: a second `#| default_exp` (the first is on line "
                        f"{default_line}); a module has exactly one."
                    )
                default_exp, default_line = args[0], number
            elif name == "export":
                if export is not None:
                    raise ExportError(f"{where}:{number}: a second `#| export` in the same cell.")
                if len(args) > 1 or (args and not _DOTTED.match(args[0])):
                    raise ExportError(f"{where}:{number}: write `#| export` or `#| export a.b`.")
                export = (number, args[0] if args else None)
            else:  # requires
                for module_id in args:
                    if not _MODULE_ID.match(module_id):
                        raise ExportError(
                            f"{where}:{number}: `#| requires` takes module ids like 01_tensor, not {module_id!r}."
                        )
                    if module_id not in requires:
                        requires.append(module_id)
        if export is not None:
            exported.append((cell, export))
    if default_exp is None:
        line = exported[0][1][0] if exported else 1
        raise ExportError(
            f"{where}:{line}: no `#| default_exp` directive; add one (e.g. `#| default_exp core.tensor`) "
            "to the first code cell."
        )
    parsed_cells = []
    for cell, (_, target) in exported:
        target = target or default_exp
        _check_target(target, where, cell.line)
        parsed_cells.append(_export_cell(cell, target, where, tree, problems))
    return ParsedModule(info, where, _title(cells, info), default_exp, requires, parsed_cells)


def _syntax_message(err, where):
    detail = f"\n    {err.text.rstrip()}" if err.text and err.text.strip() else ""
    return f"{where}:{err.lineno}: syntax error: {err.msg}{detail}"


def _check_target(target, where, line):
    parts = target.split(".")
    if any(part.startswith("_") for part in parts):
        raise ExportError(f"{where}:{line}: export target {target!r} may not name a private or __init__ file.")


def _export_cell(cell, target, where, tree, problems):
    """The cell's exported text and the public names it defines, read from ``tree`` (the whole
    file's) when the cell holds whole statements, else from the cell parsed on its own."""
    directive_lines = {number for number, _, _ in cell.directives}
    body = cell.lines[1:] if _CELL.match(cell.lines[0]) else cell.lines
    first = cell.line + (len(cell.lines) - len(body))
    statements = _statements_within(tree, first, first + len(body) - 1)
    if statements is None:
        # Parse with the original line numbers, so errors point into the source file.
        padded = "\n" * (first - 1) + "\n".join(body)
        try:
            statements = ast.parse(padded, filename=where).body
        except SyntaxError as err:
            message = _syntax_message(err, where) + "\n    (an exported cell must be valid Python on its own)"
            problems.append((ExportError(message), True))
            statements = []
    names = []
    for node in statements:
        for name in _defined_names(node):
            if name == "__all__":
                raise ExportError(f"{where}:{node.lineno}: do not set __all__ in an exported cell; tito builds it.")
            if not name.startswith("_") and name not in names:
                names.append(name)
    kept = [
        (number, line)
        for number, line in enumerate(body, start=first)
        if number not in directive_lines and not _MARKER.match(line)
    ]
    while kept and not kept[0][1].strip():
        kept.pop(0)
    while kept and not kept[-1][1].strip():
        kept.pop()
    code = "\n".join(line.rstrip() for _, line in kept)
    return ExportCell(target, cell.line, code, names, [number for number, _ in kept])


def _statements_within(tree, first, last):
    """The top-level statements of ``tree`` on lines ``first..last``, or None when there is no
    tree or a statement crosses either end (then the cell is not valid Python on its own)."""
    if tree is None:
        return None
    inside = []
    for node in tree.body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])
        if node.end_lineno < first or start > last:
            continue
        if start < first or node.end_lineno > last:
            return None
        inside.append(node)
    return inside


def _defined_names(node):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [name for target in node.targets for name in _target_names(target)]
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        return _target_names(node.target)
    return []


def _target_names(target):
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _target_names(element)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


def module_requires(root, info):
    """The ids a module names in ``#| requires`` (its prerequisites), in order."""
    return parse_module(root, info, check_syntax=False).requires


# ---------------------------------------------------------------------------------------
# Rendering


def target_path(root, target):
    return Path(root, PACKAGE, *target.split(".")).with_suffix(".py")


def target_relpath(target):
    return "/".join([PACKAGE, *target.split(".")]) + ".py"


def render_target(parsed, target, cells):
    """The text of one generated file."""
    return _render_with_lines(parsed, cells)[0]


def _render_with_lines(parsed, cells):
    """``(text, {generated line: source line})`` of one generated file."""
    lines = [
        f"{GENERATED_HEADER} {parsed.relpath} — do not edit.",
        f"# Edit {parsed.relpath}, then run `tito module complete {parsed.info.number}` to re-export it.",
    ]
    future, bodies = [], []
    for cell in cells:
        kept = []
        numbers = cell.source_lines or [None] * len(cell.code.splitlines())
        for line, number in zip(cell.code.splitlines(), numbers):
            if re.match(r"^from __future__ import ", line):
                if line not in future:
                    future.append(line)
            else:
                kept.append((line, number))
        while kept and not kept[0][0].strip():
            kept.pop(0)
        while kept and not kept[-1][0].strip():
            kept.pop()
        bodies.append((cell.line, kept))
    names = []
    for cell in cells:
        names.extend(name for name in cell.names if name not in names)
    lines += future
    lines += ["", f"__all__ = {names!r}"]
    line_map = {}
    for line, body in bodies:
        lines += ["", "", f"# %% {parsed.relpath}:{line}"]
        for text, number in body:
            lines.append(text)
            if number is not None:
                line_map[len(lines)] = number
    return "\n".join(lines) + "\n", line_map


def source_location(root, generated, line):
    """``modules/NN_name/name.py:LINE`` for a line of a generated file, or None.

    Maps a frame in ``tinytorch/`` back to the module source the student edits (as the
    source is now; a stale export maps to where the line was)."""
    relpath = generated_source(generated)
    if relpath is None:
        return None
    info = next((m for m in discover_modules(root) if _relpath(root, m.source) == relpath), None)
    if info is None:
        return None
    try:
        parsed = parse_module(root, info, check_syntax=False)
    except ExportError:
        return None
    rel = _relpath(root, generated)
    for target, cells in parsed.targets.items():
        if target_relpath(target) == rel:
            number = _render_with_lines(parsed, cells)[1].get(int(line))
            return f"{relpath}:{number}" if number else None
    return None


def render_module(parsed):
    """``{relative path: text}`` for every file one module exports."""
    return {target_relpath(target): render_target(parsed, target, cells) for target, cells in parsed.targets.items()}


def export_state(root, info, text=None):
    """``(absent, stale)``: the module's export files missing from ``tinytorch/``, and those that
    differ from what its source (``text``, default: the file now) exports."""
    fresh = render_module(parse_module(root, info, text=text, check_syntax=False))
    absent = [rel for rel in fresh if not (Path(root) / rel).is_file()]
    stale = [rel for rel in fresh if rel not in absent and (Path(root) / rel).read_text(encoding="utf-8") != fresh[rel]]
    return absent, stale


def build_catalog(parsed_modules):
    """``{public name: {"module", "target"}}``; a name exported twice belongs to the first module."""
    catalog = {}
    for parsed in parsed_modules:
        for cell in parsed.cells:
            for name in cell.names:
                catalog.setdefault(name, {"module": parsed.info.id, "target": f"{PACKAGE}.{cell.target}"})
    return dict(sorted(catalog.items()))


def render_catalog(catalog):
    return json.dumps(catalog, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def parse_all(root, strict=True):
    """Parse every module; with ``strict=False`` unreadable modules are returned as errors."""
    parsed, problems = [], []
    for info in discover_modules(root):
        try:
            parsed.append(parse_module(root, info))
        except ExportError as err:
            if strict:
                raise
            problems.append((info, err))
    return parsed, problems


def _check_conflicts(root, parsed_modules):
    """Two modules exporting into one file, or a target that clashes with the skeleton."""
    owners = {}
    for parsed in parsed_modules:
        for target, cells in parsed.targets.items():
            rel = target_relpath(target)
            if rel in owners and owners[rel][0] is not parsed:
                both = sorted([owners[rel], (parsed, cells[0].line)], key=lambda owner: owner[0].info.id)
                (first, first_line), (second, second_line) = both
                raise ExportError(
                    f"{second.relpath}:{second_line}: exports to {rel}, and so does {first.relpath}:{first_line}. "
                    "Two modules cannot share a target file; give one of them another target."
                )
            owners.setdefault(rel, (parsed, cells[0].line))
    return owners


def _check_on_disk(root, parsed, target, line):
    path = target_path(root, target)
    rel = target_relpath(target)
    where = f"{parsed.relpath}:{line}"
    if path.with_suffix("").is_dir():
        raise ExportError(f"{where}: export target {rel} clashes with the package folder {rel[:-3]}/.")
    package = Path(root, PACKAGE)
    for parent in path.parents:
        if parent == package or package not in parent.parents:
            break
        if parent.with_suffix(".py").is_file():
            raise ExportError(f"{where}: export target {rel} would need a folder where {_relpath(root, parent.with_suffix('.py'))} is a file.")
    if path.exists():
        if not is_generated(path):
            raise ExportError(
                f"{where}: export target {rel} is a hand-written file (no `{GENERATED_HEADER}` header); "
                "tito never overwrites it. Choose another target."
            )
        source = generated_source(path)
        if source is not None and source != parsed.relpath:
            raise ExportError(f"{where}: export target {rel} is already exported by {source}. Two modules cannot share a target file.")


def generated_source(path):
    """The module source a generated file names in its header (None if it names none)."""
    try:
        with open(path, encoding="utf-8") as handle:
            match = _HEADER_SOURCE.match(handle.readline())
    except (OSError, UnicodeDecodeError):
        return None
    return match.group(1) if match else None


def fresh_export(root):
    """A fresh export of every module, in memory: ``{relative path: text}``, catalog included.

    Raises ExportError on any broken module or conflict: this is what the committed
    ``tinytorch/`` is checked against.
    """
    parsed, _ = parse_all(root, strict=True)
    _check_conflicts(root, parsed)
    rendered = {}
    for module in parsed:
        rendered.update(render_module(module))
    rendered[f"{PACKAGE}/{CATALOG}"] = render_catalog(build_catalog(parsed))
    return dict(sorted(rendered.items()))


# ---------------------------------------------------------------------------------------
# Writing


def write_atomic(path, text):
    """Replace ``path`` atomically (see :func:`tito.files.write_atomic`)."""
    return files.write_atomic(path, text)


def notebook_warning(root, info):
    """A warning when the paired notebook is newer than the ``.py`` that export reads."""
    notebook, source = Path(info.notebook), Path(info.source)
    try:
        newer = notebook.stat().st_mtime > source.stat().st_mtime + 1e-3
    except OSError:
        return None
    if not newer or _same_cells(notebook, source):
        return None
    return (
        f"{_relpath(root, notebook)} is newer than {_relpath(root, source)}: changes made in Jupyter "
        f"are not in the .py that tito exports yet. Save the notebook (jupytext pairing) or run "
        f"`jupytext --sync {_relpath(root, notebook)}`, then run this command again."
    )


def _same_cells(notebook, source):
    """True when the notebook holds exactly the .py's cells (it was only saved or synced)."""
    import jupytext

    try:
        cells = [jupytext.read(notebook).cells, jupytext.read(source, fmt="py:percent").cells]
    except Exception:  # an unreadable notebook is "different": the warning says what to do
        return False
    first, second = ([(cell.cell_type, cell.source) for cell in each] for each in cells)
    return first == second


def _default_warn(message):
    print(f"Warning: {message}", file=sys.stderr)


def plan_export(root, info, text=None, warn=None):
    """What exporting one module would write: ``{path: text}`` (catalog included), checked.

    Checks everything before anything is written: the source parses, its targets are free
    (no other module and no skeleton file owns them). ``text`` is the source to export
    (default: the file as it is now).
    """
    root = Path(root)
    warn = warn or _default_warn
    parsed = parse_module(root, info, text=text)
    others, problems = parse_all(root, strict=False)
    others = [other for other in others if other.info.id != info.id]
    _check_conflicts(root, [parsed] + others)
    for target, cells in parsed.targets.items():
        _check_on_disk(root, parsed, target, cells[0].line)
    for other, err in problems:
        if other.id != info.id:
            warn(f"{other.id} could not be read ({err}); its names are left out of {PACKAGE}/{CATALOG}.")
    planned = {root / rel: text for rel, text in render_module(parsed).items()}
    catalog = build_catalog(sorted([parsed] + others, key=lambda p: p.info.id))
    planned[root / PACKAGE / CATALOG] = render_catalog(catalog)
    return planned


def export_module(root, info, warn=None, text=None):
    """Export one module into ``tinytorch/``; returns the paths written (catalog last).

    Every target is staged before any is replaced (:func:`tito.files.write_group`), so a
    kill or a full disk mid-way leaves the old export whole; files this module exported
    before but no longer targets are removed afterwards, and so are temp files an earlier,
    interrupted export left behind.
    """
    root = Path(root)
    warn = warn or _default_warn
    message = notebook_warning(root, info)
    if message:
        warn(message)
    planned = plan_export(root, info, text=text, warn=warn)
    written = files.write_group(planned)
    _remove_generated(root, _relpath(root, info.source), keep=set(planned))
    files.remove_stale_temps(root / PACKAGE)
    return written


def export_all(root, warn=None):
    """Export every module of the project (all checked first); returns the paths written."""
    root = Path(root)
    warn = warn or _default_warn
    planned = fresh_export(root)  # raises before anything is written
    parsed, _ = parse_all(root)
    for module in parsed:
        message = notebook_warning(root, module.info)
        if message:
            warn(message)
        for target, cells in module.targets.items():
            _check_on_disk(root, module, target, cells[0].line)
    written = files.write_group({root / rel: text for rel, text in planned.items()})
    for path in sorted(Path(root, PACKAGE).rglob("*.py")):
        if path not in written and is_generated(path):
            _remove_generated(root, generated_source(path), keep=set(written))
    return written


def remove_exports(root, info):
    """Delete every generated file whose header names this module; returns the paths removed."""
    return _remove_generated(Path(root), _relpath(root, info.source), keep=set())


def _remove_generated(root, relpath, keep):
    removed = []
    package = root / PACKAGE
    for path in sorted(package.rglob("*.py")):
        if path in keep or generated_source(path) != relpath:
            continue
        path.unlink()
        removed.append(path)
        cached = path.parent / "__pycache__"
        for pyc in cached.glob(f"{path.stem}.*.pyc"):
            with contextlib.suppress(OSError):
                pyc.unlink()
        for folder in (path.parent, *path.parent.parents):
            if folder == package or package not in folder.parents:
                break
            with contextlib.suppress(OSError):
                (folder / "__pycache__").rmdir()
            with contextlib.suppress(OSError):
                folder.rmdir()
    return removed


def main(argv=None):
    """``python -m tito.exporter [ROOT]``: re-export every module of the project."""
    import argparse

    from tito.project import find_project_root

    parser = argparse.ArgumentParser(
        prog="python -m tito.exporter", description="Re-export every module of a TinyTorch project into tinytorch/."
    )
    parser.add_argument("root", nargs="?", default=None, help="the project folder (default: the one containing the cwd)")
    args = parser.parse_args(argv)
    try:
        root = find_project_root(args.root)
        for path in export_all(root):
            print(f"wrote {_relpath(root, path)}")
    except ProjectError as err:
        print(f"Error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
