"""tito module list | status | test | complete | check.

Thin commands over the exporter (:mod:`tito.exporter`), the test runner
(:mod:`tito.runner`), the project's module progress (:mod:`tito.module_progress`) and
the milestone tracker (loaded with :func:`tito.tracker.load_tracker`; milestone logic
lives only there). ``NN`` is anything :func:`tito.project.resolve_module` accepts:
``1``, ``01``, ``tensor`` or ``01_tensor``.
"""

import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from tito import exporter
from tito.console import console, err_console, icon, next_step
from tito.exporter import ExportError
from tito.module_progress import ModuleProgress
from tito.project import ProjectError, discover_modules, find_project_root, resolve_module
from tito.runner import run_module_tests
from tito.solutions import SolutionMarkerError, strip_solutions

app = typer.Typer(no_args_is_help=True)

MODULE_ARG = typer.Argument(..., metavar="NN", help="Module: 1, 01, tensor or 01_tensor")
JSON_OPTION = typer.Option(False, "--json", help="Print the result as JSON (for programs, e.g. an autograder)")


# ---------------------------------------------------------------------------------------
# Shared helpers (also for `reset` and `start`, which live in this file too)


_warned = set()


def warn(message):
    """One visible warning line on stderr (never a silent swallow; each message once)."""
    if message in _warned:
        return
    _warned.add(message)
    err_console.print(f"{icon('⚠️')} [yellow]Warning:[/yellow] {escape(str(message))}", soft_wrap=True)


def notebook_check(root, info):
    """Warn first thing when the paired notebook holds changes the .py does not have."""
    message = exporter.notebook_warning(root, info)
    if message:
        warn(message)


def project_progress(root):
    return ModuleProgress(root, warn=warn)


@dataclass
class ModuleRow:
    info: object  # ModuleInfo
    title: str
    requires: list
    error: str = ""  # the source cannot be read (syntax, directives)


def module_rows(root):
    """Every module with its title and prerequisites; a broken source is reported, not fatal."""
    rows = []
    for info in discover_modules(root):
        try:
            parsed = exporter.parse_module(root, info, check_syntax=False)
            rows.append(ModuleRow(info, parsed.title, parsed.requires))
        except ExportError as err:
            rows.append(ModuleRow(info, info.name.replace("_", " ").title(), [], str(err)))
    return rows


def checked_requires(root, parsed):
    """The module's prerequisites; an id that is not a module of this project is an error."""
    known = {info.id for info in discover_modules(root)}
    unknown = [module_id for module_id in parsed.requires if module_id not in known]
    if unknown:
        raise ProjectError(
            f"{parsed.relpath}: `#| requires` names {', '.join(unknown)}, which "
            f"{'is' if len(unknown) == 1 else 'are'} not a module of this project "
            f"(modules: {', '.join(sorted(known))})."
        )
    return parsed.requires


def direct_requirements(required, requires_of):
    """``required`` without the modules that another required module already builds on
    (08 requires 00–04, 06 and 07; it *builds on* 06 and 07)."""
    implied = {deeper for module_id in required for deeper in requires_of.get(module_id, [])}
    return [module_id for module_id in required if module_id not in implied]


def number_of(module_id):
    return module_id.split("_", 1)[0]


def work_on_step(row_or_info):
    """The next step for a module the student has not completed yet."""
    info = getattr(row_or_info, "info", row_or_info)
    next_step(f"tito module complete {info.number}", f"when modules/{info.source.parent.name}/{info.source.name} is done")


def next_module(rows, completed):
    """The first incomplete module whose prerequisites are complete (else the first incomplete)."""
    pending = [row for row in rows if row.info.id not in completed]
    ready = [row for row in pending if all(req in completed for req in row.requires)]
    return (ready or pending or [None])[0]


def status_of(module_id, data):
    if module_id in data["completed"]:
        return "complete"
    if module_id in data["started"]:
        return "started"
    return "not started"


_STATUS_STYLE = {"complete": "green", "started": "yellow", "not started": "dim"}


def _status_cell(status):
    mark = {"complete": icon("✅") + " ", "started": "… ", "not started": ""}[status]
    style = _STATUS_STYLE[status]
    return f"[{style}]{mark}{status}[/{style}]"


def load_tracker_module(root):
    """The project's milestone tracker module; raises whatever went wrong loading it."""
    from tito.tracker import load_tracker

    return load_tracker(root)


def tracker_failed(err, what):
    warn(
        f"milestone tracker unavailable ({err.__class__.__name__}: {err}); {what} "
        "Milestones were not updated."
    )


def sync_tracker(root, completed_ids):
    """Tell the tracker exactly which modules are complete (after `check`).

    Shows an unlock panel for each milestone this newly unlocks and returns their ids.
    """
    try:
        tracker_module = load_tracker_module(root)
        tracker = tracker_module.MilestoneTracker(warn=warn)
        if not hasattr(tracker, "set_completed_modules"):  # an older tracker can only add
            return [m for module_id in completed_ids for m in tracker.mark_module_complete(module_id) or []]
        unlocked = list(tracker.set_completed_modules(list(completed_ids)) or [])
        for milestone_id in unlocked:
            message = tracker.unlock_message(milestone_id)
            if hasattr(tracker_module, "print_panel"):
                tracker_module.print_panel(message, console, style="yellow")
            else:
                console.print(message)
        return unlocked
    except (Exception, SystemExit) as err:  # the tracker must never take tito down
        tracker_failed(err, "module progress was saved.")
    return []


def import_hint(root, text):
    """For 'No module named tinytorch.x' / 'cannot import name X': which module exports it."""
    parsed, _ = exporter.parse_all(root, strict=False)
    match = re.search(r"No module named '(tinytorch(?:\.[\w.]+)?)'", text)
    if match:
        wanted = match.group(1)
        for module in parsed:
            for target in module.targets:
                full = f"{exporter.PACKAGE}.{target}"
                if full == wanted or full.startswith(wanted + "."):
                    return f"{wanted} is exported by {module.info.id}: run `tito module complete {module.info.number}` first."
    match = re.search(r"cannot import name '(\w+)' from '(tinytorch[\w.]*)'", text)
    if match:
        entry = exporter.build_catalog(parsed).get(match.group(1))
        if entry:
            return f"{match.group(1)} is exported by {entry['module']}: run `tito module complete {number_of(entry['module'])}` first."
    return ""


def show_run(root, run, show_cases=True):
    """Per-test results, the counts line, and every failure with its message."""
    if show_cases and run.cases:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("")
        table.add_column("test")
        table.add_column("time", justify="right")
        marks = {"passed": icon("✅"), "failed": icon("❌"), "error": icon("❌"), "skipped": "-"}
        for case in run.cases:
            table.add_row(marks.get(case.outcome, "?"), escape(case.name), f"{case.duration:.3f}s")
        console.print(table)
    style = "green" if run.ok else "red"
    console.print(f"[bold {style}]{escape(run.summary())}[/bold {style}]")
    for case in run.failures:
        where = f"  [dim]{escape(case.location)}[/dim]" if case.location else ""
        console.print(f"\n{icon('❌')} [bold red]{escape(case.name)}[/bold red] {case.outcome}{where}")
        console.print(_indent(case.message or case.details or "(no message)"), markup=False, soft_wrap=True)
        hint = import_hint(root, case.message + "\n" + case.details)
        if hint:
            console.print(f"  {icon('👉')} {escape(hint)}")
    if run.problem:
        console.print(f"\n{icon('❌')} [bold red]Not a pass:[/bold red] {escape(run.problem)}")


def _indent(text, prefix="    "):
    return "\n".join(prefix + line for line in text.splitlines())


def run_tests(root, info, quiet=False):
    """Run a module's inline tests with a live status (none when ``quiet``)."""
    return run_module_tests(root, info, console=None if quiet else console)


def print_json(data):
    print(json.dumps(data, indent=2, sort_keys=True))


# ---------------------------------------------------------------------------------------
# Commands


@app.command("list")
def list_modules(json_output: bool = JSON_OPTION):
    """Every module: title, status and prerequisites."""
    root = find_project_root()
    rows, data = module_rows(root), project_progress(root).read()
    if json_output:
        print_json([_row_dict(row, data) for row in rows])
        return
    table = Table(title="TinyTorch modules", header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("module")
    table.add_column("title")
    table.add_column("status")
    table.add_column("builds on")
    requires = {row.info.id: row.requires for row in rows}
    for row in rows:
        status = "error" if row.error else status_of(row.info.id, data)
        shown = "[red]source error[/red]" if row.error else _status_cell(status)
        direct = direct_requirements(row.requires, requires)
        table.add_row(row.info.number, row.info.id, escape(row.title), shown, ", ".join(direct) or "-")
    console.print(table)
    for row in rows:
        if row.error:
            console.print(f"{icon('❌')} {escape(row.error)}")
    _end_with_next(rows, data)


def _row_dict(row, data):
    return {
        "id": row.info.id,
        "title": row.title,
        "status": status_of(row.info.id, data),
        "requires": row.requires,
        "error": row.error or None,
    }


def _end_with_next(rows, data):
    upcoming = next_module(rows, data["completed"])
    if upcoming is None:
        next_step("tito milestone progress", "every module is complete")
    else:
        work_on_step(upcoming)


@app.command("status")
def status(json_output: bool = JSON_OPTION):
    """How far you are, and the next module to do."""
    root = find_project_root()
    rows, data = module_rows(root), project_progress(root).read()
    done = [row for row in rows if row.info.id in data["completed"]]
    upcoming = next_module(rows, data["completed"])
    if json_output:
        print_json({
            "modules": [_row_dict(row, data) for row in rows],
            "completed": [row.info.id for row in done],
            "last_module": data["last_module"],
            "next_module": upcoming.info.id if upcoming else None,
        })
        return
    console.print(f"[bold]{len(done)} of {len(rows)} modules complete[/bold]")
    for row in rows:
        state = status_of(row.info.id, data)
        console.print(f"  {_status_cell(state)}  {row.info.id}  [dim]{escape(row.title)}[/dim]")
    if data["last_module"]:
        console.print(f"Last worked on: [bold]{escape(data['last_module'])}[/bold]")
    if upcoming is not None:
        missing = [req for req in upcoming.requires if req not in data["completed"]]
        after = f" (after {', '.join(missing)})" if missing else ""
        console.print(f"Next module: [bold cyan]{upcoming.info.id}[/bold cyan] — {escape(upcoming.title)}{after}")
    _end_with_next(rows, data)


@app.command("test")
def test(module: str = MODULE_ARG, json_output: bool = JSON_OPTION):
    """Run a module's inline tests (its test_unit_* functions)."""
    root = find_project_root()
    info = resolve_module(root, module)
    parsed = exporter.parse_module(root, info)  # a syntax error is reported as file:line here
    notebook_check(root, info)
    project_progress(root).mark_started(info.id)
    if not json_output:
        console.print(f"Testing [bold]{info.id}[/bold] — {escape(parsed.title)}  [dim]({parsed.relpath})[/dim]")
    run = run_tests(root, info, quiet=json_output)
    if json_output:
        print_json(run.to_dict())
        raise typer.Exit(0 if run.ok else 1)
    show_run(root, run)
    if not run.ok:
        next_step(f"tito module test {info.number}", f"after fixing {parsed.relpath}")
        raise typer.Exit(1)
    next_step(f"tito module complete {info.number}", "export it into tinytorch/ and record it")


@app.command("complete")
def complete(module: str = MODULE_ARG):
    """Test a module, export it into tinytorch/, record it, and check milestone unlocks."""
    root = find_project_root()
    info = resolve_module(root, module)
    parsed = exporter.parse_module(root, info)
    notebook_check(root, info)
    progress = project_progress(root)
    rows = module_rows(root)
    order = [row.info.id for row in rows]

    # 1. prerequisites
    completed = progress.completed(order)
    missing = [req for req in checked_requires(root, parsed) if req not in completed]
    if missing:
        console.print(
            f"{icon('🔒')} [bold]{info.id}[/bold] builds on {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not complete yet. Do {missing[0]} first."
        )
        next_step(f"tito module complete {number_of(missing[0])}")
        raise typer.Exit(1)

    # 2. inline tests: a failure stops everything before the export
    console.print(f"Completing [bold]{info.id}[/bold] — {escape(parsed.title)}")
    run = run_tests(root, info)
    show_run(root, run, show_cases=not run.ok)
    if not run.ok:
        console.print(f"\n{info.id} is not complete: nothing was exported and your progress is unchanged.")
        next_step(f"tito module test {info.number}", f"after fixing {parsed.relpath}")
        raise typer.Exit(1)

    # 3. export
    written = exporter.export_module(root, info, warn=warn)
    console.print("Exported:")
    for path in written:
        console.print(f"  {path.relative_to(root).as_posix()}")

    # 4. project progress
    progress.mark_completed(info.id)
    completed = progress.completed(order)
    console.print(f"{icon('✅')} [bold green]{info.id} complete[/bold green] ({len(completed)} of {len(order)} modules).")

    # 5. milestones (the tracker decides and prints the unlock panel)
    unlocked = []
    try:
        result = load_tracker_module(root).check_module_export(info.id, console)
        if isinstance(result, dict):
            unlocked = list(result.get("newly_unlocked") or [])
    except (Exception, SystemExit) as err:  # the tracker must never take tito down
        tracker_failed(err, f"{info.id} was still exported and recorded.")

    # 6. the one next thing to do
    if unlocked:
        next_step(f"tito milestone run {unlocked[0]}", "train a network on your own code")
        return
    upcoming = next_module(rows, completed)
    if upcoming is None:
        next_step("tito milestone progress", "every module is complete")
    else:
        work_on_step(upcoming)


@app.command("check")
def check(
    module: Optional[str] = typer.Argument(None, metavar="[NN]", help="One module to check"),
    all_modules: bool = typer.Option(False, "--all", help="Check every module and rebuild progress.json"),
    json_output: bool = JSON_OPTION,
):
    """Re-run module tests and rewrite what is complete (rebuilds a lost progress.json)."""
    root = find_project_root()
    if all_modules == (module is not None):
        raise typer.BadParameter("give one module (NN) or --all", param_hint="NN / --all")
    rows = module_rows(root)
    order = [row.info.id for row in rows]
    progress = project_progress(root)
    if all_modules:
        targets, passing = rows, set()
    else:
        info = resolve_module(root, module)
        targets = [row for row in rows if row.info.id == info.id]
        passing = set(progress.completed(order)) - {info.id}

    results = []
    for row in targets:
        results.append(_check_one(root, row, passing, quiet=json_output))
        if results[-1]["complete"]:
            passing.add(row.info.id)

    completed = [module_id for module_id in order if module_id in passing]
    progress.rebuild(completed)
    if json_output:
        with console.capture():  # only the JSON goes to stdout
            unlocked = sync_tracker(root, completed)
        print_json({"completed": completed, "newly_unlocked": unlocked, "modules": results})
        raise typer.Exit(0 if all(r["complete"] for r in results) else 1)

    table = Table(title="Module check", header_style="bold")
    for column in ("module", "tests", "result", "note"):
        table.add_column(column)
    for result in results:
        mark = icon("✅") if result["complete"] else icon("❌")
        table.add_row(result["module"], escape(result["summary"]), f"{mark} {result['verdict']}", escape(result["note"]))
    console.print(table)
    console.print(f"progress.json rebuilt: {len(completed)} of {len(order)} modules complete.")
    unlocked = sync_tracker(root, completed)
    failing = [r for r in results if not r["complete"]]
    if failing:
        first = failing[0]
        if first["verdict"] == "blocked":
            next_step(f"tito module complete {number_of(first['needs'][0])}", f"{first['module']} builds on it")
        elif first["verdict"] == "not exported":
            next_step(f"tito module complete {number_of(first['module'])}", "export it into tinytorch/")
        else:
            next_step(f"tito module test {number_of(first['module'])}", f"see what fails in {first['module']}")
        raise typer.Exit(1)
    upcoming = next_module(rows, set(completed))
    if unlocked:
        next_step(f"tito milestone run {unlocked[0]}", "train a network on your own code")
    elif upcoming is None:
        next_step("tito milestone progress", "every module is complete")
    else:
        work_on_step(upcoming)


def _check_one(root, row, passing, quiet):
    """Test one module; complete = its prerequisites are complete, it passes, and it is exported."""
    result = {"module": row.info.id, "complete": False, "summary": "-", "verdict": "", "note": "", "needs": [], "tests": None}
    if row.error:
        result.update(verdict="source error", note=row.error)
        return result
    missing = [req for req in row.requires if req not in passing]
    if missing:  # it cannot be complete; its tests would only fail on missing imports
        result.update(verdict="blocked", needs=missing, note=f"needs {', '.join(missing)} complete first")
        return result
    run = run_tests(root, row.info, quiet=quiet)
    result["tests"] = run.to_dict()
    result["summary"] = run.summary()
    if not run.ok:
        first = run.failures[0] if run.failures else None
        note = run.problem
        if first is not None:
            note = f"{first.name}: {(first.message or first.outcome).splitlines()[0]}"
            hint = import_hint(root, first.message + "\n" + first.details)
            note += f" ({hint})" if hint else ""
        result.update(verdict="failed", note=note)
    else:
        absent, stale = _export_state(root, row.info)
        if absent:
            result.update(verdict="not exported", note=f"tests pass; run `tito module complete {row.info.number}` to export it")
        else:
            note = f"export out of date: run `tito module complete {row.info.number}`" if stale else ""
            result.update(complete=True, verdict="complete", note=note)
    return result


def _export_state(root, info):
    """Which of the module's export files are missing from tinytorch/, and which differ."""
    fresh = exporter.render_module(exporter.parse_module(root, info))
    absent = [rel for rel in fresh if not (root / rel).is_file()]
    stale = [rel for rel in fresh if rel not in absent and (root / rel).read_text(encoding="utf-8") != fresh[rel]]
    return absent, stale


# ---------------------------------------------------------------------------------------
# reset and start


@app.command("reset")
def reset(
    module: str = MODULE_ARG,
    yes: bool = typer.Option(False, "--yes", "-y", help="Reset without asking (required when not interactive)"),
):
    """Turn a module back into its student form (the old file is backed up) and remove its exports."""
    root = find_project_root()
    info = resolve_module(root, module)
    relpath = info.source.relative_to(root).as_posix()
    text = info.source.read_text(encoding="utf-8")
    try:
        student_form = strip_solutions(text, info.id)
    except SolutionMarkerError as err:
        raise ProjectError(f"{relpath}: {err}") from None
    if not yes:
        if not sys.stdin.isatty():
            console.print(
                f"Refusing to reset {info.id} without confirmation: this replaces the code in your "
                f"solution blocks of {relpath} (a backup is kept). Run it again with --yes."
            )
            next_step(f"tito module reset {info.number} --yes")
            raise typer.Exit(1)
        if not typer.confirm(f"Reset {relpath} to its student form? (a backup is kept)"):
            console.print("Nothing was changed.")
            raise typer.Exit(1)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    backups = [_backup(info.source, stamp)]
    exporter.write_atomic(info.source, student_form)
    if info.notebook.exists():
        backups.append(_backup(info.notebook, stamp))
        _write_notebook(info)
    removed = exporter.remove_exports(root, info)
    project_progress(root).mark_incomplete(info.id)
    try:
        load_tracker_module(root).MilestoneTracker(warn=warn).mark_module_incomplete(info.id)
    except (Exception, SystemExit) as err:  # the tracker must never take tito down
        tracker_failed(err, f"{info.id} was still reset.")

    console.print(f"{icon('✅')} [bold]{info.id}[/bold] is back in its student form.")
    for path in backups:
        console.print(f"  backup: {path.relative_to(root).as_posix()}")
    for path in removed:
        console.print(f"  removed export: {path.relative_to(root).as_posix()}")
    dependents = [row.info.id for row in module_rows(root) if info.id in row.requires]
    if dependents:
        console.print(f"  Modules that build on it ({', '.join(dependents)}) need it complete again before they run.")
    next_step(f"tito module complete {info.number}", f"after writing the solution blocks in {relpath} again")


@app.command("start")
def start(module: str = MODULE_ARG):
    """Start a module: create its paired Jupyter notebook if missing and record it as started."""
    root = find_project_root()
    info = resolve_module(root, module)
    parsed = exporter.parse_module(root, info, check_syntax=False)
    notebook = info.notebook.relative_to(root).as_posix()
    if info.notebook.exists():
        console.print(f"{notebook} already exists (paired with {info.source.name}).")
    else:
        _write_notebook(info)
        console.print(f"{icon('✅')} Created {notebook}, paired with {info.source.name} (jupytext).")
    project_progress(root).mark_started(info.id)
    completed = project_progress(root).completed()
    missing = [req for req in checked_requires(root, parsed) if req not in completed]
    if missing:
        console.print(f"{icon('⚠️')} It builds on {', '.join(missing)}: complete {'that' if len(missing) == 1 else 'those'} before you complete this one.")
    console.print(
        f"Open it in Jupyter:  [bold]jupyter lab {notebook}[/bold]\n"
        f"or edit {info.source.relative_to(root).as_posix()} in your editor — both are the same module."
    )
    work_on_step(info)


def _backup(path, stamp):
    backup = path.with_name(f"{path.name}.bak-{stamp}")
    shutil.copy2(path, backup)
    return backup


def _write_notebook(info):
    """The notebook paired with the module's .py (same content), no newer than the .py."""
    import jupytext

    notebook = jupytext.read(info.source, fmt="py:percent")
    notebook.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    jupytext.write(notebook, info.notebook, fmt="ipynb")
    source_time = info.source.stat().st_mtime
    os.utime(info.notebook, (source_time, source_time))
