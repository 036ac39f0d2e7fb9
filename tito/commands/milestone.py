"""tito milestone list | progress | info ID | run ID — thin views over the project's tracker.

Milestones, requirements, bars and progress live in ``tests/milestones/milestone_tracker.py``
(loaded by :func:`tito.tracker.load_tracker`); this file shows them, and runs the learning
test of one milestone sealed (:mod:`tito.learning_run`) against the project's own
``tinytorch``. The verdict is tito's: the tracker records a pass only when tito decided it.
"""

import json

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from tito import exporter, manifest
from tito.console import console, err_console, icon, next_step
from tito.json_store import StoreError
from tito.learning_run import run_learning_test
from tito.project import ProjectError, find_project_root, resolve_module
from tito.tracker import load_tracker

app = typer.Typer(no_args_is_help=True)

_TAIL_LINES = 40
JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document (for programs).")


def _open(root=None):
    """``(root, tracker module, MilestoneTracker)`` for the project around the cwd."""
    root = root or find_project_root()
    module = load_tracker(root)
    return root, module, module.MilestoneTracker(warn=_warn)


def _warn(message):
    err_console.print(f"{icon('⚠️')} [yellow]Warning:[/yellow] {escape(str(message))}", soft_wrap=True)


def _entry(module, milestone_id):
    try:
        return module.milestone(milestone_id)
    except module.TrackerError as err:
        raise ProjectError(str(err), exit_code=2) from err


def _next(tracker):
    next_step(*tracker.suggest_next())


def _print_progress_json(tracker, data, elsewhere):
    print(json.dumps({
        "progress_file": str(tracker.path),
        "project": {"id": tracker.project_id, "root": str(tracker.root)},
        "completed_modules": data["completed_modules"],
        "milestones": tracker.summary(),
        "completed_elsewhere": [{"root": root, "milestones": ids} for root, ids in elsewhere],
        "next_step": tracker.suggest_next()[0],
    }, indent=2, allow_nan=False))


@app.command("list")
def list_milestones(json_output: bool = JSON_OPTION):
    """All milestones: year, name, id, status and required modules done."""
    _, module, tracker = _open()
    if json_output:  # the same document as `tito milestone progress --json`
        _print_progress_json(tracker, tracker.load(), tracker.elsewhere())
        return
    console.print(module.milestones_table(tracker))
    _next(tracker)


@app.command("progress")
def progress(json_output: bool = JSON_OPTION):
    """Which milestones are unlocked, locked (with modules n/m) or completed — in this project."""
    _, module, tracker = _open()
    data = tracker.load()
    elsewhere = tracker.elsewhere()
    if json_output:
        _print_progress_json(tracker, data, elsewhere)
        return
    console.print(module.progress_table(tracker))
    done = data["completed_modules"]
    console.print(f"Completed modules: {', '.join(done) if done else 'none yet'}", soft_wrap=True)
    for root, ids in elsewhere:
        console.print(f"[dim]Also completed in {escape(str(root))}: {', '.join(ids)}[/dim]", soft_wrap=True)
    _next(tracker)


@app.command("info")
def info(milestone_id: str = typer.Argument(..., metavar="ID", help="e.g. perceptron")):
    """A milestone's story, requirements, bars, learning test and past runs."""
    _, module, tracker = _open()
    entry = _entry(module, milestone_id)
    milestone_id = entry["id"]
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
    bars = ", ".join(f"{metric.replace('_', ' ')} {_bar(module, milestone_id, metric)}" for metric in entry["required"])
    console.print(f"Bars: {bars}", soft_wrap=True)
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
    timeout: float = typer.Option(None, "--timeout", min=1, help="Stop the run after this many seconds "
                                  "(default: 10x the milestone's usual time, 2 minutes at least)."),
):
    """Train the milestone's network on your tinytorch; it completes only if it learns."""
    out = err_console if json_output else console
    root = find_project_root()
    emit = _emitter(milestone_id, json_output)

    # Protected files first: the tracker itself is one of them, and it is about to be run.
    findings = manifest.verify(root)
    if findings:
        out.print(f"{icon('❌')} [bold red]Protected course files differ from the release manifest[/bold red]: "
                  "this run would prove nothing, so it is not started and nothing is recorded.")
        out.print(escape(manifest.tampered_message(findings)), soft_wrap=True)
        emit(passed=False, exit_code=1, error="protected files differ from the release manifest",
             tampered=[finding.to_dict() for finding in findings])
        _tamper_step(findings, json_output)
        raise typer.Exit(1)

    _, module, tracker = _open(root)
    try:
        entry = module.milestone(milestone_id)
    except module.TrackerError as err:
        if not json_output:
            raise ProjectError(str(err), exit_code=2) from err
        err_console.print(f"[bold red]Error:[/bold red] {escape(str(err))}", soft_wrap=True)
        emit(passed=False, exit_code=2, error=str(err))
        raise typer.Exit(2) from None
    milestone_id = entry["id"]
    emit = _emitter(milestone_id, json_output)

    ok, missing = tracker.can_run_milestone(milestone_id)
    if not ok:
        first = f"tito module complete {module.module_number(missing[0])}"
        out.print(f"{icon('🔒')} [bold]{entry['name']}[/bold] is locked. Complete these modules first:")
        for name in missing:
            out.print(f"  • {name}  ([cyan]tito module complete {module.module_number(name)}[/cyan])")
        emit(passed=False, exit_code=1, error="locked", missing=missing, next_step=first)
        if not json_output:
            next_step(first, f"then {len(missing) - 1} more" if len(missing) > 1 else "")
        raise typer.Exit(1)

    stale = _stale_exports(root, entry["requires"])
    if stale:
        out.print(f"{icon('❌')} [bold]{entry['name']}[/bold] would not run on your current code:")
        for _, problem in stale:
            out.print(f"  • {escape(problem)}", soft_wrap=True)
        first = f"tito module complete {stale[0][0].number}"
        emit(passed=False, exit_code=1, error="stale exports", stale=[problem for _, problem in stale], next_step=first)
        if not json_output:
            next_step(first, "then run the milestone again")
        raise typer.Exit(1)

    out.print(f"[bold]{entry['name']}[/bold] — training on your tinytorch ({module.nodeid(milestone_id)})")
    imports = _required_packages(root, entry["requires"])
    with _LiveBar(out) as bar:
        verdict = run_learning_test(root, module, milestone_id, timeout=timeout, on_event=bar.update, imports=imports)
    changed = manifest.changed_during_run(root)  # code under test could have rewritten a protected file
    if changed and verdict.passed:
        verdict.passed = False
        verdict.reason = f"protected course files changed while the learning test ran, so the run does not count: {changed}"
    out.print(_metrics_table(module, milestone_id, verdict.metrics, verdict.duration))
    saved = _record(tracker, verdict, out)
    if verdict.passed:
        _show_samples(verdict.metrics, out)
        module.print_panel(module.MilestoneTracker.completion_message(milestone_id), out, style="green")
        command, why = tracker.suggest_next()
    else:
        title = "The learning test failed" if verdict.failed_test else "Not a pass"
        out.print(Panel(Text(_failure_text(verdict, root)), title=f"{icon('❌')} {title}", title_align="left",
                        border_style="red"))
        command, why = _failure_step(root, milestone_id, verdict)
    exit_code = 0 if verdict.passed else 1
    emit(passed=verdict.passed, exit_code=exit_code, metrics=verdict.metrics, duration=round(verdict.duration, 3),
         reason=verdict.reason or None, unmet=verdict.unmet, saved=saved is None, not_saved_because=saved,
         tampered=[], next_step=command, **({} if verdict.passed else {"output_tail": _failure_text(verdict, root)}))
    if not json_output:
        next_step(command, why)
    raise typer.Exit(exit_code)


def _emitter(milestone_id, json_output):
    """The one JSON document of ``--json`` (stdout; everything else went to stderr)."""
    def emit(**fields):
        if json_output:
            print(json.dumps({"milestone": milestone_id, **fields}, indent=2, allow_nan=False, default=str))
    return emit


def _tamper_step(findings, json_output):
    if json_output:
        return
    from tito.commands.module_workflow import tamper_next_step

    tamper_next_step(findings)


def _stale_exports(root, required):
    """``[(module info, problem)]`` for required modules whose export is missing or out of date."""
    problems = []
    for module_id in required:
        info = resolve_module(root, module_id)
        absent, stale = exporter.export_state(root, info)
        relpath = info.source.relative_to(root).as_posix()
        if absent:
            problems.append((info, f"{module_id} is not exported ({', '.join(absent)} is missing): "
                                   f"run `tito module complete {info.number}`"))
        elif stale:
            problems.append((info, f"{', '.join(stale)} is not what {relpath} exports now (the source changed "
                                   f"since it was exported, or the exported file was edited): run "
                                   f"`tito module complete {info.number}` to test and export it"))
    return problems


def _required_packages(root, required):
    """The dotted packages the required modules export (checked to import before training)."""
    packages = []
    for module_id in required:
        parsed = exporter.parse_module(root, resolve_module(root, module_id), check_syntax=False)
        packages.extend(f"{exporter.PACKAGE}.{target}" for target in parsed.targets)
    return packages


def _record(tracker, verdict, out):
    """Record the run; returns None, or why it could not be saved (the result is still shown)."""
    try:
        tracker.record_run(verdict.milestone_id, verdict.passed, verdict.metrics, verdict.duration, reason=verdict.reason)
    except (StoreError, OSError) as err:
        reason = str(err)
        out.print(f"{icon('⚠️')} [yellow]This run was not saved:[/yellow] {escape(reason)}", soft_wrap=True)
        return reason
    return None


def _failure_text(verdict, root):
    """What to show for a failure: the reason, then pytest's own report of the test (its tail)."""
    text = verdict.failure or ""
    if not text and verdict.output:
        lines = verdict.output.rstrip().splitlines()
        for index, line in enumerate(lines):
            if line.startswith("=") and ("FAILURES" in line or "ERRORS" in line):
                lines = lines[index:]
                break
        text = "\n".join(lines)
    tail = "\n".join(text.rstrip().splitlines()[-_TAIL_LINES:])
    blame = ""
    if verdict.blame:
        deepest = verdict.blame[-1]
        blame = f"\n\nIn your code: {deepest['source'] or deepest['where']} ({deepest['function']}): {deepest['code'].strip()}"
    return (verdict.reason + ("\n\n" + tail if tail else "") + blame).strip().replace(f"{root}/", "")


def _failure_step(root, milestone_id, verdict):
    """The module most likely at fault, else a re-run after fixing what the report says."""
    for frame in reversed(verdict.blame):
        source = frame.get("source") or ""
        folder = source.split(":")[0].split("/")
        if len(folder) >= 2 and folder[0] == "modules":
            number = folder[1].split("_", 1)[0]
            return f"tito module complete {number}", f"after fixing {source.split(':')[0]} (the failure points there)"
    if verdict.sealed is not None and verdict.sealed.timed_out:
        return f"tito milestone run {milestone_id} --timeout 600", "if your code is only slow; else look for an endless loop"
    return f"tito milestone run {milestone_id}", "again, after fixing what the report above says (then `tito module complete NN` for the module you changed)"


class _LiveBar:
    """A live bar over epochs, fed by the learning test's reports."""

    def __init__(self, out):
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        self.progress = Progress(*columns, console=out, transient=False)
        self.task = None

    def __enter__(self):
        self.progress.__enter__()
        self.task = self.progress.add_task("starting pytest…", total=None)
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def update(self, event):
        if event.get("event") == "epoch":
            self.progress.update(self.task, total=event.get("epochs"), completed=event.get("epoch", 0),
                                 description=_epoch_line(event))


def _epoch_line(step):
    parts = [f"epoch {step.get('epoch')}/{step.get('epochs')}", f"loss {_number(step.get('loss'))}"]
    for key, value in step.items():
        if key not in ("event", "epoch", "epochs", "loss") and isinstance(value, (int, float)):
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


def _bar(module, milestone_id, metric):
    op, bar = module.milestone(milestone_id)["required"][metric]
    sign = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}[op]
    return f"{sign} {_value(metric, float(bar))}"


def _metrics_table(module, milestone_id, metrics, duration):
    """Initial/final loss, loss drop, the task's metrics, each beside the bar (the tracker's) it had to meet."""
    required = module.milestone(milestone_id)["required"]
    table = Table(title="Learning metrics", title_justify="left")
    for column in ("Metric", "Value", "Required"):
        table.add_column(column)
    for key, value in metrics.items():
        if key in ("milestone", "required") or isinstance(value, (dict, list)):
            continue
        bar = ""
        if key in required:
            ok = module.meets_bar(milestone_id, key, value)
            bar = f"{_bar(module, milestone_id, key)} {icon('✅') if ok else icon('❌')}"
        table.add_row(key.replace("_", " "), _value(key, value), bar)
    for key in required:
        if key not in metrics:
            table.add_row(key.replace("_", " "), "not reported", f"{_bar(module, milestone_id, key)} {icon('❌')}")
    table.add_row("duration", _seconds(duration), "")
    if not metrics:
        table.caption = "The test reported no metrics (it stopped before the end of training)."
    return table


def _show_samples(metrics, out):
    """A few answers of the student's model (input → output), when the test reported them."""
    samples = metrics.get("samples")
    if not isinstance(samples, list) or not samples:
        return
    table = Table(title="What your model answers (held-out inputs)", title_justify="left")
    for column in ("input", "your model", "expected"):
        table.add_column(column)
    for sample in samples[:5]:
        if isinstance(sample, dict):
            right = sample.get("output") == sample.get("expected")
            table.add_row(escape(str(sample.get("input"))), escape(str(sample.get("output"))),
                          escape(str(sample.get("expected"))) + (f" {icon('✅')}" if right else ""))
    out.print(table)


def _metrics_line(metrics):
    keep = [(k, v) for k, v in metrics.items()
            if k not in ("milestone", "required", "initial_loss") and isinstance(v, (int, float)) and not isinstance(v, bool)]
    return ", ".join(f"{k.replace('_', ' ')} {_value(k, v)}" for k, v in keep) or "—"


def _seconds(value):
    return "—" if value is None else f"{value:.2f} s"
