"""tito milestone list | progress | info ID | run ID — thin views over the project's tracker.

Milestones, requirements and progress live in ``tests/milestones/milestone_tracker.py``
(loaded by :func:`tito.tracker.load_tracker`); this file only shows them and runs the
learning test of one milestone in a pytest subprocess against the project's own
``tinytorch``.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from tito.console import console, err_console, icon, next_step
from tito.project import ProjectError, find_project_root
from tito.runner import subprocess_env
from tito.tracker import load_tracker

app = typer.Typer(no_args_is_help=True)

_TAIL_LINES = 40


def _open():
    """``(root, tracker module, MilestoneTracker)`` for the project around the cwd."""
    root = find_project_root()
    module = load_tracker(root)
    return root, module, module.MilestoneTracker()


def _entry(module, milestone_id):
    try:
        return module.milestone(milestone_id)
    except module.TrackerError as err:
        raise ProjectError(str(err), exit_code=2) from err


def _next(tracker):
    next_step(*tracker.suggest_next())


@app.command("list")
def list_milestones():
    """All milestones: year, name, id, status and required modules done."""
    _, module, tracker = _open()
    console.print(module.milestones_table(tracker))
    _next(tracker)


@app.command("progress")
def progress(json_output: bool = typer.Option(False, "--json", help="Print one JSON document (for programs).")):
    """Which milestones are unlocked, locked (with modules n/m) or completed."""
    _, module, tracker = _open()
    if json_output:
        data = tracker.load()
        print(json.dumps({
            "progress_file": str(tracker.path),
            "completed_modules": data["completed_modules"],
            "milestones": tracker.summary(),
            "next_step": tracker.suggest_next()[0],
        }, indent=2))
        return
    console.print(module.progress_table(tracker))
    done = tracker.load()["completed_modules"]
    console.print(f"Completed modules: {', '.join(done) if done else 'none yet'}", soft_wrap=True)
    _next(tracker)


@app.command("info")
def info(milestone_id: str = typer.Argument(..., metavar="ID", help="e.g. perceptron")):
    """A milestone's story, requirements, learning test and past runs."""
    _, module, tracker = _open()
    entry = _entry(module, milestone_id)
    status = tracker.status(milestone_id)
    console.print(Panel(
        Text.assemble((entry["name"], "bold"), "\n\n", entry["description"], "\n\n",
                      ("Proves: ", "bold"), entry["proves"]),
        title=f"{milestone_id} — {status}", title_align="left", expand=False,
    ))
    missing = set(tracker.missing_modules(milestone_id))
    requirements = Table(title="Required modules", title_justify="left")
    requirements.add_column("Module")
    requirements.add_column("Done")
    for name in entry["requires"]:
        requirements.add_row(name, icon("❌") if name in missing else icon("✅"))
    console.print(requirements)
    console.print(f"Learning test: {module.nodeid(milestone_id)}", soft_wrap=True)
    runs = tracker.runs(milestone_id)
    if runs:
        history = Table(title=f"Run history (last {len(runs)})", title_justify="left")
        for column in ("When", "Result", "Metrics", "Duration"):
            history.add_column(column)
        for run_entry in runs:
            history.add_row(module.when(run_entry["timestamp"]), "passed" if run_entry["passed"] else "failed",
                            _metrics_line(run_entry.get("metrics") or {}), _seconds(run_entry.get("duration")))
        console.print(history)
    else:
        console.print("No runs yet.")
    if missing:
        first = next(name for name in entry["requires"] if name in missing)
        next_step(f"tito module complete {module.module_number(first)}", f"{milestone_id} needs {', '.join(sorted(missing))}")
    elif status == "unlocked":
        next_step(f"tito milestone run {milestone_id}")
    else:
        _next(tracker)


@app.command("run")
def run(
    milestone_id: str = typer.Argument(..., metavar="ID", help="e.g. perceptron"),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document (for programs); human output goes to stderr."),
):
    """Train the milestone's network on your tinytorch; it completes only if it learns."""
    root, module, tracker = _open()
    out = err_console if json_output else console
    try:
        entry = module.milestone(milestone_id)
    except module.TrackerError as err:
        if json_output:
            _emit(milestone_id, passed=False, exit_code=2, error=str(err))
        raise ProjectError(str(err), exit_code=2) from err

    ok, missing = tracker.can_run_milestone(milestone_id)
    if not ok:
        first = f"tito module complete {module.module_number(missing[0])}"
        out.print(f"{icon('🔒')} [bold]{entry['name']}[/bold] is locked. Complete these modules first:")
        for name in missing:
            out.print(f"  • {name}  ([cyan]tito module complete {module.module_number(name)}[/cyan])")
        if json_output:
            _emit(milestone_id, passed=False, exit_code=1, error="locked", missing=missing, next_step=first)
        else:
            next_step(first, f"then {len(missing) - 1} more" if len(missing) > 1 else "")
        raise typer.Exit(1)

    out.print(f"[bold]{entry['name']}[/bold] — training on your tinytorch ({module.nodeid(milestone_id)})")
    exit_code, duration, metrics, output = _run_learning_test(root, module.nodeid(milestone_id), out)
    passed = exit_code == 0
    out.print(_metrics_table(metrics, duration))
    if passed:
        tracker.mark_milestone_complete(milestone_id, metrics, duration)
        module.print_panel(module.MilestoneTracker.completion_message(milestone_id), out, style="green")
        command, why = tracker.suggest_next()
    else:
        tracker.record_run(milestone_id, False, metrics, duration)
        out.print(Panel(Text(_failure_tail(output)), title=f"{icon('❌')} The learning test failed", title_align="left",
                        border_style="red"))
        command, why = f"tito milestone run {milestone_id}", "again, after fixing what the test reports above"
    if json_output:
        _emit(milestone_id, passed=passed, exit_code=exit_code, metrics=metrics, duration=round(duration, 3),
              next_step=command, **({} if passed else {"output_tail": _failure_tail(output)}))
    else:
        next_step(command, why)
    raise typer.Exit(exit_code)


def _emit(milestone_id, **fields):
    """The one JSON document of ``--json`` (stdout; everything else went to stderr)."""
    print(json.dumps({"milestone": milestone_id, **fields}, indent=2))


def learning_test_command(nodeid):
    """pytest on one learning test (run it with ``cwd`` = the project root)."""
    return [sys.executable, "-m", "pytest", nodeid, "-q", "-p", "no:cacheprovider", "-p", "tito.runner",
            "--tb=short", "--no-header"]


def learning_test_env(root, progress_file=None, metrics_file=None):
    """The project first on PYTHONPATH, UTF-8 output, and (through the ``tito.runner``
    plugin) every ``tinytorch`` import from this project's ``tinytorch/`` — never an
    installed copy. The learning test reports to the two files (see learning_checks.py)."""
    env = subprocess_env(root)
    for name, path in (("TINYTORCH_PROGRESS_FILE", progress_file), ("TINYTORCH_METRICS_FILE", metrics_file)):
        if path is None:
            env.pop(name, None)
        else:
            env[name] = str(path)
    return env


def _run_learning_test(root, nodeid, out):
    """Run one learning test in pytest; live bar from its progress file. Returns
    ``(exit code, seconds, metrics, pytest output)``."""
    with tempfile.TemporaryDirectory(prefix="tito-milestone-") as tmp:
        tmp = Path(tmp)
        progress_file, metrics_file, log_file = tmp / "progress.jsonl", tmp / "metrics.json", tmp / "pytest.log"
        start = time.perf_counter()
        with open(log_file, "w", encoding="utf-8") as log:
            process = subprocess.Popen(learning_test_command(nodeid), cwd=root, stdout=log, stderr=subprocess.STDOUT,
                                       env=learning_test_env(root, progress_file, metrics_file))
            try:
                _follow(process, progress_file, out)
            except KeyboardInterrupt:
                process.terminate()
                process.wait()
                out.print("Interrupted: the run was not recorded.")
                raise typer.Exit(130)
        duration = time.perf_counter() - start
        try:
            metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            metrics = {}
        return process.returncode, duration, metrics, log_file.read_text(encoding="utf-8", errors="replace")


def _follow(process, progress_file, out):
    """A live bar over epochs, fed by the JSON lines the learning test appends."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    offset, pending = 0, ""
    with Progress(*columns, console=out, transient=False) as bar:
        task = bar.add_task("starting pytest…", total=None)
        while True:
            finished = process.poll() is not None
            try:
                with open(progress_file, encoding="utf-8") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
                    offset = handle.tell()
            except OSError:
                chunk = ""
            lines = (pending + chunk).split("\n")
            pending = lines.pop()
            latest = None
            for line in lines:
                try:
                    latest = json.loads(line)
                except ValueError:
                    continue
            if latest is not None:
                bar.update(task, total=latest.get("epochs"), completed=latest.get("epoch", 0),
                           description=_epoch_line(latest))
            if finished:
                break
            time.sleep(0.05)


def _epoch_line(step):
    parts = [f"epoch {step.get('epoch')}/{step.get('epochs')}", f"loss {_number(step.get('loss'))}"]
    for key, value in step.items():
        if key not in ("epoch", "epochs", "loss") and isinstance(value, (int, float)):
            parts.append(f"{key.replace('accuracy', 'acc').replace('_', ' ')} {_number(value)}")
    return "  ".join(parts)


def _number(value):
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _is_percent(key):
    return "accuracy" in key or key == "loss_drop"


def _value(key, value):
    if isinstance(value, float) and _is_percent(key):
        return f"{value * 100:.1f} %"
    return _number(value) if isinstance(value, (int, float)) else str(value)


def _meets(key, value, bar):
    upper = "loss" in key and key != "loss_drop"  # a loss must fall below its bar
    return (value <= bar if upper else value >= bar), ("≤" if upper else "≥")


def _metrics_table(metrics, duration):
    """Initial/final loss, loss drop, the task's metrics, each beside the bar it had to meet."""
    table = Table(title="Learning metrics", title_justify="left")
    for column in ("Metric", "Value", "Required"):
        table.add_column(column)
    required = metrics.get("required") if isinstance(metrics.get("required"), dict) else {}
    for key, value in metrics.items():
        if key in ("milestone", "required") or isinstance(value, (dict, list)):
            continue
        bar = ""
        if key in required and isinstance(value, (int, float)):
            ok, sign = _meets(key, value, required[key])
            bar = f"{sign} {_value(key, float(required[key]))} {icon('✅') if ok else icon('❌')}"
        table.add_row(key.replace("_", " "), _value(key, value), bar)
    table.add_row("duration", _seconds(duration), "")
    if not metrics:
        table.caption = "The test reported no metrics (it stopped before the end of training)."
    return table


def _metrics_line(metrics):
    keep = [(k, v) for k, v in metrics.items()
            if k not in ("milestone", "required", "initial_loss") and isinstance(v, (int, float))]
    return ", ".join(f"{k.replace('_', ' ')} {_value(k, v)}" for k, v in keep) or "—"


def _seconds(value):
    return "—" if value is None else f"{value:.2f} s"


def _failure_tail(output):
    """What pytest said about the failure: from its FAILURES/ERRORS section, at most 40 lines."""
    lines = output.rstrip().splitlines()
    for index, line in enumerate(lines):
        if line.startswith("=") and ("FAILURES" in line or "ERRORS" in line):
            lines = lines[index:]
            break
    return "\n".join(lines[-_TAIL_LINES:]) or "(pytest printed nothing)"
