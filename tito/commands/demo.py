"""tito demo: the whole course on the reference solutions, in a scratch copy.

Every step is the real CLI (`tito module complete NN`, `tito milestone run ID`) run in
a scratch copy of this project with its own ``TINYTORCH_HOME``, so the demo shows
exactly what a student sees and leaves the user's own progress untouched. The commands run
in this process (each one as the CLI would run it, in the copy's folder, with the copy's
environment): only their test runs are subprocesses, as always.
"""

import os
import shutil
import tempfile
import time
from pathlib import Path

import typer
from rich.table import Table

from tito.console import console, icon, next_step
from tito.identity import is_student_copy
from tito.project import ProjectError, copy_project, discover_modules, find_project_root
from tito.tracker import load_tracker


def demo(
    keep: bool = typer.Option(False, "--keep", help="Keep the scratch copy and print where it is."),
):
    """Complete every module and run every milestone on the reference solutions (a scratch copy)."""
    root = find_project_root()
    if is_student_copy(root):
        console.print(
            "tito demo replays the whole course on the reference solutions, so it runs in the course "
            "repository your instructor released this copy from. This is your student copy: your own "
            "code is what runs here."
        )
        next_step("tito module list", "see where you stand")
        raise typer.Exit(1)
    modules = discover_modules(root)
    tracker = load_tracker(root)
    scratch = Path(tempfile.mkdtemp(prefix="tinytorch-demo-"))
    project = copy_project(root, scratch / "project")
    env = dict(os.environ, TINYTORCH_HOME=str(scratch / "home"), PYTHONIOENCODING="utf-8")
    started = time.perf_counter()
    try:
        failed_module = _complete_modules(project, env, modules)
        results = {} if failed_module else _run_milestones(project, env, tracker.MILESTONE_ORDER)
        if not failed_module:
            _tito(project, env, "milestone", "progress")
    except KeyboardInterrupt:
        console.print("\nDemo interrupted.")
        raise typer.Exit(130)
    finally:
        if keep:
            console.print(f"\nThe scratch copy is kept in [bold]{project}[/bold] (TINYTORCH_HOME={scratch / 'home'}).")
        else:
            _remove(scratch)
    passed = bool(results) and all(results.values())
    _summary(results, failed_module, time.perf_counter() - started)
    if passed:
        next_step("tito release /tmp/my-course", "make a student copy, or `tito module list` to start here")
    else:
        next_step("tito demo --keep", "and look at the failing step in the kept copy")
    raise typer.Exit(0 if passed else 1)


def _tito(project, env, *args):
    """One command of the real CLI in the scratch copy, as `tito ARGS` there; its exit code."""
    from tito.main import app

    old_cwd, old_env = os.getcwd(), dict(os.environ)
    os.chdir(project)
    os.environ.update(env)
    try:
        result = app(args=list(args), prog_name="tito", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except typer.Exit as err:
        return err.exit_code
    except ProjectError as err:
        console.print(f"[bold red]Error:[/bold red] {err}")
        return err.exit_code
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)


def _complete_modules(project, env, modules):
    console.rule(f"[bold]Step 1 of 2: complete {len(modules)} modules in order")
    for module in modules:
        console.rule(f"tito module complete {module.number}", style="dim")
        if _tito(project, env, "module", "complete", module.number) != 0:
            console.print(f"{icon('❌')} {module.id} did not complete on the reference solution: the demo stops here.")
            return module.id
    return None


def _run_milestones(project, env, milestone_ids):
    console.rule(f"[bold]Step 2 of 2: run {len(milestone_ids)} milestones")
    results = {}
    for milestone_id in milestone_ids:
        console.rule(f"tito milestone run {milestone_id}", style="dim")
        results[milestone_id] = _tito(project, env, "milestone", "run", milestone_id) == 0
    return results


def _summary(results, failed_module, seconds):
    table = Table(title=f"tito demo — {seconds:.0f} s")
    table.add_column("milestone")
    table.add_column("result")
    for milestone_id, passed in results.items():
        table.add_row(milestone_id, f"{icon('🏆')} learns" if passed else f"{icon('❌')} failed")
    if failed_module:
        table.add_row("(modules)", f"{icon('❌')} {failed_module} failed")
    console.print(table)


def _remove(folder):
    shutil.rmtree(folder, ignore_errors=True)
