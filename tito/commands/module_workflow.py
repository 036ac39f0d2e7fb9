"""tito module list | status | test | complete | check.

Thin commands over the exporter (:mod:`tito.exporter`), the test runner
(:mod:`tito.runner`), the project's module progress (:mod:`tito.module_progress`) and
the milestone tracker (loaded with :func:`tito.tracker.load_tracker`; milestone logic
lives only there). ``NN`` is anything :func:`tito.project.resolve_module` accepts:
``1``, ``01``, ``tensor`` or ``01_tensor``.
"""

import hashlib
import json
import os
import re
import shlex
import sys
import time
from dataclasses import dataclass
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from tito import exporter, files, manifest
from tito.console import console, err_console, icon, next_step
from tito.exporter import ExportError
from tito.module_progress import ModuleProgress
from tito.project import ProjectError, discover_modules, find_project_root, project_lock, resolve_module
from tito.runner import DEFAULT_TIMEOUT, run_module_tests, snapshot_source
from tito.solutions import SolutionMarkerError, strip_solutions

app = typer.Typer(no_args_is_help=True)

MODULE_ARG = typer.Argument(..., metavar="NN", help="Module: 1, 01, tensor or 01_tensor")
JSON_OPTION = typer.Option(False, "--json", help="Print the result as JSON (for programs, e.g. an autograder)")
TIMEOUT_OPTION = typer.Option(DEFAULT_TIMEOUT, "--timeout", min=1, help="Stop the tests after this many seconds")
VERBOSE_OPTION = typer.Option(False, "--verbose", "-v", help="Show each failure's full traceback")


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


def show_run(root, run, show_cases=True, verbose=False):
    """Per-test results, the counts line, and every failure with its message."""
    if show_cases and run.cases:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("")
        table.add_column("test")
        table.add_column("time", justify="right")
        marks = {"passed": icon("✅"), "failed": icon("❌"), "error": icon("❌"), "skipped": "-", "not run": "-"}
        for case in run.cases:
            table.add_row(marks.get(case.outcome, "?"), escape(case.name), f"{case.duration:.3f}s")
        console.print(table)
    style = "green" if run.ok else "red"
    console.print(f"[bold {style}]{escape(run.summary())}[/bold {style}]")
    for case in run.failures:
        console.print()
        show_failure(root, case, verbose=verbose, max_lines=None if verbose else 15)
    if run.problem:
        console.print(f"\n{icon('❌')} [bold red]Not a pass:[/bold red] {escape(run.problem)}")
    if run.failures and not verbose:
        console.print("[dim]  (add -v to see the full traceback)[/dim]")


def show_failure(root, case, verbose=False, max_lines=None):
    """One failed test: where, the test's line, the student's line, the message, a hint on imports."""
    where = f"  [dim]{escape(case.location)}[/dim]" if case.location else ""
    console.print(f"{icon('❌')} [bold red]{escape(case.name)}[/bold red] {case.outcome}{where}")
    if case.test_line:
        console.print(f"  test:  {escape(case.test_line)}", soft_wrap=True)
    if case.blame and case.blame.split(" in ")[0] != case.test_line.split(": ")[0]:
        console.print(f"  from:  {escape(case.blame)}", soft_wrap=True)
    message = case.message or case.details or "(no message)"
    lines = message.splitlines()
    if max_lines is not None and len(lines) > max_lines:
        message = "\n".join(lines[:max_lines] + [f"[... {len(lines) - max_lines} more lines: -v shows everything]"])
    console.print(_indent(message), markup=False, soft_wrap=True)
    if verbose and case.details:
        console.print(_indent(case.details), markup=False, soft_wrap=True)
    hint = import_hint(root, case.message + "\n" + case.details)
    if hint:
        console.print(f"  {icon('👉')} {escape(hint)}")


def _indent(text, prefix="    "):
    return "\n".join(prefix + line for line in text.splitlines())


def run_tests(root, info, quiet=False, timeout=DEFAULT_TIMEOUT, source_text=None, staged=None):
    """Run a module's inline tests with a live status (none when ``quiet``)."""
    return run_module_tests(root, info, console=None if quiet else console, timeout=timeout,
                            source_text=source_text, staged=staged)


def print_json(data):
    print(json.dumps(data, indent=2, sort_keys=True, allow_nan=False))


def tampering(root, out=None):
    """What differs from the release manifest ([] in the course repository); printed to ``out``."""
    findings = manifest.verify(root)
    if findings and out is not None:
        out.print(
            f"{icon('❌')} [bold red]Protected course files differ from the release manifest[/bold red] — "
            "nothing is marked complete while they do:"
        )
        out.print(escape(manifest.tampered_message(findings)), soft_wrap=True)
    return findings


def sha256_text(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dependents_of(rows, module_id):
    """Every module that builds on ``module_id``, directly or not, in course order."""
    found = {module_id}
    changed = True
    while changed:
        changed = False
        for row in rows:
            if row.info.id not in found and found & set(row.requires):
                found.add(row.info.id)
                changed = True
    return [row.info.id for row in rows if row.info.id in found and row.info.id != module_id]


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
def test(module: str = MODULE_ARG, json_output: bool = JSON_OPTION, timeout: int = TIMEOUT_OPTION,
         verbose: bool = VERBOSE_OPTION):
    """Run a module's inline tests (its test_unit_* functions)."""
    root = find_project_root()
    info = resolve_module(root, module)
    text = _read_snapshot(root, info)
    parsed = exporter.parse_module(root, info, text=text)  # a syntax error is reported as file:line here
    notebook_check(root, info)
    _try_mark_started(root, info.id)
    if not json_output:
        console.print(f"Testing [bold]{info.id}[/bold] — {escape(parsed.title)}  [dim]({parsed.relpath})[/dim]")
        missing = _missing_prerequisites(root, parsed)
        if missing:
            console.print(f"{icon('⚠️')} It builds on {', '.join(missing)}, not complete yet: tests that use "
                          f"{'it' if len(missing) == 1 else 'them'} fail until you complete "
                          f"{'it' if len(missing) == 1 else 'them'}.")
    run = run_tests(root, info, quiet=json_output, timeout=timeout, source_text=text)
    if json_output:
        print_json(run.to_dict())
        raise typer.Exit(0 if run.ok else 1)
    show_run(root, run, verbose=verbose)
    if not run.ok:
        missing = _missing_prerequisites(root, parsed)
        if missing and any(import_hint(root, case.message + "\n" + case.details) for case in run.failures):
            next_step(f"tito module complete {number_of(missing[0])}", f"{info.id} builds on it")
        else:
            next_step(f"tito module test {info.number}", f"after fixing {parsed.relpath}")
        raise typer.Exit(1)
    next_step(f"tito module complete {info.number}", "export it into tinytorch/ and record it")


def _read_snapshot(root, info):
    try:
        return snapshot_source(info)
    except (OSError, UnicodeDecodeError) as err:
        raise ExportError(f"{info.source.relative_to(root).as_posix()}: cannot be read ({err}).") from None


def _try_mark_started(root, module_id):
    """Record that the student is working on a module (skipped, with a note, when read-only)."""
    try:
        project_progress(root).mark_started(module_id)
    except ProjectError as err:
        warn(f"progress not saved: {err}")


def _missing_prerequisites(root, parsed):
    completed = set(project_progress(root).completed())
    return [req for req in checked_requires(root, parsed) if req not in completed]


@app.command("complete")
def complete(module: str = MODULE_ARG, timeout: int = TIMEOUT_OPTION, verbose: bool = VERBOSE_OPTION):
    """Test a module, export it into tinytorch/, record it, and check milestone unlocks."""
    root = find_project_root()
    info = resolve_module(root, module)
    with project_lock(root):
        _complete(root, info, timeout, verbose)


def _complete(root, info, timeout, verbose):
    text = _read_snapshot(root, info)  # read once: what is tested is what is exported
    parsed = exporter.parse_module(root, info, text=text)
    notebook_check(root, info)
    progress = project_progress(root)
    rows = module_rows(root)
    order = [row.info.id for row in rows]

    # 0. protected files untouched (a student copy's manifest)
    findings = tampering(root, console)
    if findings:
        tamper_next_step(findings)
        raise typer.Exit(1)

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

    # 2. inline tests on the snapshot, with the export it would write staged beside the package:
    #    a failing test, or an export that does not import, stops everything before the export
    console.print(f"Completing [bold]{info.id}[/bold] — {escape(parsed.title)}")
    planned = exporter.plan_export(root, info, text=text, warn=warn)
    run = run_tests(root, info, timeout=timeout, source_text=text, staged=planned)
    changed = manifest.changed_during_run(root)  # code under test could have rewritten a protected file
    if changed and run.ok:
        run.problem = f"protected course files changed while the tests ran: {changed}"
    show_run(root, run, show_cases=not run.ok, verbose=verbose)
    if not run.ok:
        console.print(f"\n{info.id} is not complete: nothing was exported and your progress is unchanged.")
        next_step(f"tito module test {info.number}", f"after fixing {parsed.relpath}")
        raise typer.Exit(1)
    if run.export_errors:
        console.print(f"{icon('❌')} [bold red]The export does not import[/bold red] — nothing was exported:")
        for module_name, error in run.export_errors.items():
            console.print(f"  {escape(module_name)}: {escape(error)}", soft_wrap=True)
        hint = import_hint(root, "\n".join(run.export_errors.values()))
        console.print(f"\n{info.id} is not complete: an exported cell uses something that is not exported "
                      "(a helper in a cell without `#| export`, or a module not completed yet).")
        if hint:
            console.print(f"  {icon('👉')} {escape(hint)}")
        next_step(f"tito module complete {info.number}", f"after fixing {parsed.relpath}")
        raise typer.Exit(1)

    # 3. export exactly the tested bytes
    written = exporter.export_module(root, info, warn=warn, text=text)
    console.print("Exported:")
    for path in written:
        console.print(f"  {path.relative_to(root).as_posix()}")

    # 4. project progress, with what was exported from which bytes
    record = {"source_sha256": run.source_sha256,
              "files": {p.relative_to(root).as_posix(): sha256_text(planned[p]) for p in planned}}
    progress.mark_completed(info.id, export=record)
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
    timeout: int = TIMEOUT_OPTION,
):
    """Re-run module tests and rewrite what is complete (rebuilds a lost progress.json)."""
    root = find_project_root()
    if all_modules == (module is not None):
        raise typer.BadParameter("give one module (NN) or --all", param_hint="NN / --all")
    with project_lock(root):
        _check(root, module, all_modules, json_output, timeout)


def _check(root, module, all_modules, json_output, timeout):
    refuse_if_tampered(root, json_output, "protected files differ from the release manifest")
    rows = module_rows(root)
    order = [row.info.id for row in rows]
    progress = project_progress(root)
    if all_modules:
        targets, passing = rows, set()
    else:
        info = resolve_module(root, module)
        targets = [row for row in rows if row.info.id == info.id]
        passing = set(progress.completed(order)) - {info.id}

    results, exports = [], {}
    for row in targets:
        result, record = _check_one(root, row, passing, quiet=json_output, timeout=timeout)
        results.append(result)
        if result["complete"]:
            passing.add(row.info.id)
            exports[row.info.id] = record

    refuse_if_tampered(root, json_output, "protected files changed while the tests ran")  # rewritten by them?
    completed = _closed_under_requires(rows, passing)
    progress.rebuild(completed, exports=exports)
    removed = _remove_exports_of_incomplete(root, rows, completed)
    if json_output:
        with console.capture():  # only the JSON goes to stdout
            unlocked = sync_tracker(root, completed)
        print_json({"completed": completed, "newly_unlocked": unlocked, "modules": results, "tampered": [],
                    "removed_exports": [path.relative_to(root).as_posix() for path in removed]})
        raise typer.Exit(0 if all(r["complete"] for r in results) else 1)

    table = Table(title="Module check", header_style="bold")
    for column in ("module", "tests", "result", "note"):
        table.add_column(column)
    for result in results:
        mark = icon("✅") if result["complete"] else icon("❌")
        table.add_row(result["module"], escape(result["summary"]), f"{mark} {result['verdict']}", escape(result["note"]))
    console.print(table)
    console.print(f"progress.json rebuilt: {len(completed)} of {len(order)} modules complete.")
    for path in removed:
        console.print(f"  removed the export of a module that is not complete: {path.relative_to(root).as_posix()}")
    unlocked = sync_tracker(root, completed)
    failing = [r for r in results if not r["complete"]]
    if failing:
        first = failing[0]
        if first["verdict"] == "blocked":
            next_step(f"tito module complete {number_of(first['needs'][0])}", f"{first['module']} builds on it")
        elif first["verdict"] in ("not exported", "stale export"):
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


def _closed_under_requires(rows, complete):
    """The modules of ``complete`` whose prerequisites are all complete too, in course order."""
    kept = []
    for row in rows:  # course order: prerequisites come first
        if row.info.id in complete and all(req in kept for req in row.requires):
            kept.append(row.info.id)
    return kept


def _remove_exports_of_incomplete(root, rows, completed):
    """Exports exist only for complete modules: remove the others' (a stale import is worse)."""
    removed = []
    for row in rows:
        if row.info.id not in completed:
            removed.extend(exporter.remove_exports(root, row.info))
    return removed


def _check_one(root, row, passing, quiet, timeout):
    """Test one module; complete = its prerequisites are complete, it passes, and its export is
    exactly what the tested source exports. Returns ``(result, export record or None)``."""
    result = {"module": row.info.id, "complete": False, "summary": "-", "verdict": "", "note": "", "needs": [], "tests": None}
    if row.error:
        result.update(verdict="source error", note=row.error)
        return result, None
    missing = [req for req in row.requires if req not in passing]
    if missing:  # it cannot be complete; its tests would only fail on missing imports
        result.update(verdict="blocked", needs=missing, note=f"needs {', '.join(missing)} complete first")
        return result, None
    text = _read_snapshot(root, row.info)
    run = run_tests(root, row.info, quiet=quiet, timeout=timeout, source_text=text)
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
        return result, None
    absent, stale = exporter.export_state(root, row.info, text=text)
    if absent:
        result.update(verdict="not exported", note=f"tests pass; run `tito module complete {row.info.number}` to export it")
        return result, None
    if stale:
        result.update(verdict="stale export",
                      note=f"tests pass, but {', '.join(stale)} is not what the source exports now: "
                           f"run `tito module complete {row.info.number}`")
        return result, None
    result.update(complete=True, verdict="complete")
    rendered = exporter.render_module(exporter.parse_module(root, row.info, text=text))
    return result, {"source_sha256": run.source_sha256, "files": {rel: sha256_text(out) for rel, out in rendered.items()}}


def refuse_if_tampered(root, json_output, error):
    """Exit 1 (with ``error`` and the findings, as JSON or text and a next step) if protected files differ."""
    findings = tampering(root, None if json_output else console)
    if not findings:
        return
    if json_output:
        print_json({"error": error, "exit_code": 1, "tampered": [finding.to_dict() for finding in findings]})
    else:
        tamper_next_step(findings)
    raise typer.Exit(1)


def tamper_next_step(findings):
    """The one next step after a tamper report: restore the first thing named."""
    tests = [finding for finding in findings if finding.name]
    if tests:
        number = number_of(tests[0].path.split("/")[1])
        next_step(f"tito module reset {number} --tests", f"restores the protected tests of {tests[0].path}, keeps your solutions")
    elif findings[0].problem.startswith("added"):
        next_step(f"rm {shlex.quote(findings[0].path)}", "it is not part of the course")
    else:
        next_step(f"git checkout -- {findings[0].path}", "or copy it from a fresh release of the course")


# ---------------------------------------------------------------------------------------
# reset and start


@app.command("reset")
def reset(
    module: str = MODULE_ARG,
    yes: bool = typer.Option(False, "--yes", "-y", help="Reset without asking (required when not interactive)"),
    tests_only: bool = typer.Option(False, "--tests", help="Only put the module's protected tests back (from the "
                                                           "release manifest); your solutions stay"),
):
    """Turn a module back into its student form (the old file is backed up) and remove its exports."""
    root = find_project_root()
    info = resolve_module(root, module)
    with project_lock(root):
        if tests_only:
            _restore_tests(root, info)
        else:
            _reset(root, info, yes)


def _restore_tests(root, info):
    relpath = info.source.relative_to(root).as_posix()
    try:
        data = manifest.read_manifest(root)
    except ValueError as err:
        raise ProjectError(f"{err}: copy it from a fresh release of the course.") from None
    if data is None:
        raise ProjectError("this project has no release manifest (it is not a student copy): there are no "
                           "protected tests to restore from.")
    text = _read_snapshot(root, info)
    try:
        restored_text, names = manifest.restore_tests(text, data["tests"].get(relpath, {}))
    except SyntaxError as err:
        raise ProjectError(f"{relpath}:{err.lineno}: syntax error ({err.msg}); fix it first, then restore the tests.") from None
    if not names:
        console.print(f"{icon('✅')} The protected tests of {relpath} are intact: nothing to restore.")
        next_step(f"tito module complete {info.number}")
        return
    backup = _backup(info.source)
    exporter.write_atomic(info.source, restored_text)
    console.print(f"{icon('✅')} Restored {len(names)} protected test function(s) of {relpath}: {', '.join(names)}")
    console.print(f"  backup: {backup.relative_to(root).as_posix()}")
    next_step(f"tito module complete {info.number}", "your solutions were kept")


def _reset(root, info, yes):
    relpath = info.source.relative_to(root).as_posix()
    text = _read_snapshot(root, info)
    try:
        student_form = strip_solutions(text, info.id)
    except SolutionMarkerError as err:
        raise ProjectError(f"{relpath}: {err}") from None
    try:
        data = manifest.read_manifest(root)
    except ValueError:
        data = None
    if data is not None:  # the protected tests come back too
        try:
            student_form, _ = manifest.restore_tests(student_form, data["tests"].get(relpath, {}))
        except SyntaxError:
            pass
    changes_source = student_form != text
    if changes_source and not yes:
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

    backups = []
    if changes_source:
        backups.append(_backup(info.source))
        exporter.write_atomic(info.source, student_form)
        if info.notebook.exists():
            backups.append(_backup(info.notebook))
            _write_notebook(info)
    rows = module_rows(root)
    dependents = dependents_of(rows, info.id)
    removed = []
    for row in rows:
        if row.info.id == info.id or row.info.id in dependents:
            removed.extend(exporter.remove_exports(root, row.info))
    project_progress(root).mark_incomplete(info.id, *dependents)
    try:
        load_tracker_module(root).MilestoneTracker(warn=warn).mark_module_incomplete(info.id, *dependents)
    except (Exception, SystemExit) as err:  # the tracker must never take tito down
        tracker_failed(err, f"{info.id} was still reset.")

    if changes_source:
        console.print(f"{icon('✅')} [bold]{info.id}[/bold] is back in its student form.")
    else:
        console.print(f"{info.id} is already in its student form: the file was not touched (no backup needed).")
    for path in backups:
        console.print(f"  backup: {path.relative_to(root).as_posix()}")
    for path in removed:
        console.print(f"  removed export: {path.relative_to(root).as_posix()}")
    if dependents:
        console.print(f"  Modules that build on it ({', '.join(dependents)}) are no longer complete: "
                      f"complete {info.id} again, then them.")
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


def _backup(path):
    """A copy of ``path`` under a name no other backup has (never overwritten): ``name.bak-STAMP[-N]``."""
    data = path.read_bytes()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(1, 1000):
        suffix = f".bak-{stamp}" + (f"-{attempt}" if attempt > 1 else "")
        try:
            return files.create_new(path.with_name(path.name + suffix), data)
        except FileExistsError:
            continue
    raise ProjectError(f"cannot find a free backup name for {path}.")


def _write_notebook(info):
    """The notebook paired with the module's .py (same content), no newer than the .py."""
    import jupytext

    notebook = jupytext.read(info.source, fmt="py:percent")
    notebook.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    jupytext.write(notebook, info.notebook, fmt="ipynb")
    source_time = info.source.stat().st_mtime
    os.utime(info.notebook, (source_time, source_time))
