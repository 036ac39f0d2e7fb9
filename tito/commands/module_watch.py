"""tito module watch NN | hint NN — rustlings' loop: save, see the first failure, get a nudge.

``watch`` re-runs a module's tests every time its ``.py`` (or paired notebook) is saved,
shows the first failing test with its message, and — after the same test failed twice in a
row — that test's hint. When everything passes it says to complete the module. Ctrl-C ends
it. Files are watched with ``watchfiles`` (inotify/FSEvents), or by polling every
``--interval`` seconds with ``--poll`` (network drives, some containers, WSL).

A hint is the docstring of a ``test_unit_*`` function: a short nudge written by the course,
never the solution. ``hint`` shows the hint of the first failing test on demand.
"""

import ast
import time

import typer
from rich.markup import escape
from rich.panel import Panel

from tito import exporter
from tito.commands.module_workflow import MODULE_ARG, TIMEOUT_OPTION, notebook_check, run_tests, show_failure
from tito.console import console, icon, next_step
from tito.project import find_project_root, resolve_module


def test_hints(text):
    """``{test name: hint}`` from the docstrings of a module's ``test_unit_*`` functions."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return {}
    hints = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_unit_"):
            doc = ast.get_docstring(node)
            if doc:
                hints[node.name] = doc.strip()
    return hints


def _reflow(text):
    """A hint's paragraphs each as one line, so the panel wraps them evenly (blank lines kept)."""
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in text.split("\n\n"))


def first_failure(run):
    """The first failing test of a run (None when none failed)."""
    return next(iter(run.failures), None)


def _show_failure(root, case, hint=None):
    show_failure(root, case, max_lines=12)
    if hint:
        console.print(Panel(escape(_reflow(hint)), title="Hint", title_align="left", border_style="cyan", expand=False))


def hint(module: str = MODULE_ARG, timeout: int = TIMEOUT_OPTION):
    """Show the hint for the module's first failing test."""
    root = find_project_root()
    info = resolve_module(root, module)
    text = info.source.read_text(encoding="utf-8")
    exporter.parse_module(root, info, text=text)
    run = run_tests(root, info, quiet=False, timeout=timeout, source_text=text)
    case = first_failure(run)
    if case is None and not run.problem:
        console.print(f"{icon('✅')} Every test of {info.id} passes: no hint needed.")
        next_step(f"tito module complete {info.number}", "export it into tinytorch/ and record it")
        return
    if case is None:
        console.print(f"{icon('❌')} {escape(run.problem)}")
        next_step(f"tito module test {info.number}")
        raise typer.Exit(1)
    found = test_hints(text).get(case.name)
    _show_failure(root, case, found or f"{case.name} has no hint: its message above is the best clue.")
    next_step(f"tito module watch {info.number}", "re-runs the tests every time you save")
    raise typer.Exit(1)


def _stamp(paths):
    """What a save changes: each file's modification time and size (None when missing)."""
    stamps = []
    for path in paths:
        try:
            info = path.stat()
            stamps.append((info.st_mtime_ns, info.st_size))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def _changes(paths, poll, interval):
    """Yield once now, then after every save of one of ``paths`` — also one made while the
    tests were running (the stamps are compared whenever the watcher wakes, at least every
    half second, so no save falls between two watches)."""
    from watchfiles import watch as watch_files

    last = _stamp(paths)
    yield
    folders = sorted({str(path.parent) for path in paths})
    while True:
        for _ in watch_files(*folders, debounce=300, step=100, force_polling=poll or None,
                             poll_delay_ms=int(interval * 1000), recursive=False, rust_timeout=500,
                             yield_on_timeout=True):
            now = _stamp(paths)
            if now != last:
                last = now
                break
        else:  # the watcher stopped by itself
            return
        yield


def watch(
    module: str = MODULE_ARG,
    timeout: int = TIMEOUT_OPTION,
    poll: bool = typer.Option(False, "--poll", help="Poll for changes instead of using file-system events"),
    interval: float = typer.Option(1.0, "--interval", min=0.1, help="Seconds between polls (with --poll)"),
    max_runs: int = typer.Option(0, "--max-runs", hidden=True, help="Stop after this many runs (0: never)"),
):
    """Re-run the module's tests on every save; show the first failure and, when stuck, its hint."""
    root = find_project_root()
    info = resolve_module(root, module)
    relpath = info.source.relative_to(root).as_posix()
    console.print(f"Watching [bold]{relpath}[/bold] (and its notebook). Save to re-run the tests; Ctrl-C to stop.")
    previous, streak, runs = None, 0, 0
    try:
        for _ in _changes([info.source, info.notebook], poll, interval):
            runs += 1
            console.rule(f"{info.id} — run {runs}, {time.strftime('%H:%M:%S')}", style="dim")
            notebook_check(root, info)
            try:
                text = info.source.read_text(encoding="utf-8")
                exporter.parse_module(root, info, text=text)
            except (OSError, UnicodeDecodeError, exporter.ExportError) as err:
                console.print(f"{icon('❌')} {escape(str(err))}", soft_wrap=True)
                previous, streak = None, 0
            else:
                run = run_tests(root, info, quiet=False, timeout=timeout, source_text=text)
                case = first_failure(run)
                if case is None and not run.problem:
                    console.print(f"{icon('✅')} [bold green]{run.summary()}[/bold green]")
                    console.print(f"All of {info.id}'s tests pass: complete it with "
                                  f"[bold cyan]tito module complete {info.number}[/bold cyan].")
                    previous, streak = None, 0
                elif case is None:
                    console.print(f"{icon('❌')} {escape(run.problem)}", soft_wrap=True)
                    previous, streak = None, 0
                else:
                    streak = streak + 1 if case.name == previous else 1
                    previous = case.name
                    console.print(f"[bold red]{escape(run.summary())}[/bold red]")
                    hint_text = test_hints(text).get(case.name) if streak >= 2 else None
                    _show_failure(root, case, hint_text)
                    if streak == 1 and test_hints(text).get(case.name):
                        console.print(f"[dim]Stuck? A hint appears if {case.name} fails again "
                                      f"(or run `tito module hint {info.number}`).[/dim]")
            if max_runs and runs >= max_runs:
                break
            console.print(f"[dim]Waiting for you to save {relpath}…[/dim]")
    except KeyboardInterrupt:
        console.print("\nStopped watching.")
    next_step(f"tito module complete {info.number}", "when the tests pass")
