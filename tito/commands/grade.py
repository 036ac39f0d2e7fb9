"""tito grade SUBMISSIONS_DIR: grade a class against the course's own, untouched tests.

The work is :mod:`tito.gradebook` (collect, cache, score, write), :mod:`tito.grading` (the
isolated worker per submission) and :mod:`tito.classroom` (``--from-artifacts``); this file
parses the options and shows the progress and the result. docs/INSTRUCTOR_GUIDE.md is the
instructor's guide.
"""

import json
import os
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tito.classroom import parse_sample
from tito.console import console, err_console, icon, next_step
from tito.gradebook import grade_class, previous_rows, write_outputs
from tito.grading import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, Options
from tito.project import ProjectError, find_project_root


def grade(
    submissions: Optional[Path] = typer.Argument(None, metavar="SUBMISSIONS_DIR",
                                                 help="A folder: one subfolder, .zip or .tar.gz per student"),
    course: Optional[Path] = typer.Option(None, "--course", help="The course repository (default: the project "
                                                                 "around the current folder)"),
    out: Path = typer.Option(Path("grades.csv"), "--out", help="The gradebook (CSV); grades.json and feedback/ "
                                                               "are written beside it"),
    jobs: int = typer.Option(0, "-j", "--jobs", min=0, help="Submissions graded at once (default: the number of cores)"),
    timeout: float = typer.Option(DEFAULT_TIMEOUT, "--timeout", min=1, help="Seconds allowed to one test run (a "
                                                                            "module's tests, a milestone)"),
    submission_timeout: Optional[float] = typer.Option(None, "--submission-timeout", min=1,
                                                       help="Seconds allowed to one whole submission (default: "
                                                            "enough for every run to use its --timeout)"),
    memory: int = typer.Option(DEFAULT_MEMORY_MB, "--memory", min=0, help="Address space of each process of a "
                                                                          "submission, in MB (0: no limit)"),
    modules: Optional[List[str]] = typer.Option(None, "--modules", help="Modules to grade, with their prerequisites "
                                                                        "(00,01,03 or the option repeated)"),
    milestones: Optional[List[str]] = typer.Option(None, "--milestones", help="Milestones to grade (perceptron,xor; "
                                                                              "`none` for none)"),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Points per module and milestone (a TOML file)"),
    from_artifacts: Optional[Path] = typer.Option(None, "--from-artifacts", metavar="DIR",
                                                  help="Grade downloaded classroom-CI artifacts (re-checked, "
                                                       "never trusted)"),
    verify_sample: str = typer.Option("all", "--verify-sample", metavar="K|all",
                                      help="With --from-artifacts: re-run all artifacts (default) or K at random"),
    seed: Optional[int] = typer.Option(None, "--seed", help="The seed of --verify-sample's random choice"),
    regrade: bool = typer.Option(False, "--regrade", help="Grade every submission again (ignore the last results)"),
    keep: bool = typer.Option(False, "--keep", help="Keep the scratch folders (to look at one submission's run)"),
    json_output: bool = typer.Option(False, "--json", help="Print grades.json on stdout (progress goes to stderr)"),
):
    """Grade every submission against the course's pristine tests, isolated, into a gradebook."""
    if (submissions is None) == (from_artifacts is None):
        raise typer.BadParameter("give SUBMISSIONS_DIR or --from-artifacts DIR (one of them)",
                                 param_hint="SUBMISSIONS_DIR / --from-artifacts")
    folder = (submissions or from_artifacts).expanduser()
    if not folder.is_dir():
        raise ProjectError(f"{folder} is not a folder: give the folder that holds the submissions.", exit_code=2)
    try:
        sample = parse_sample(verify_sample)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--verify-sample") from None
    root = find_project_root(course.expanduser() if course else None)
    out = out.expanduser().resolve()
    if folder.resolve() == out.parent or folder.resolve() in out.parents:
        raise ProjectError(f"--out {out} is inside the submissions folder {folder}: write the gradebook elsewhere "
                           "(its feedback/ folder would be read as a student's).", exit_code=2)
    previous = {} if regrade else previous_rows(out.with_suffix(".json"))
    options = Options(timeout=timeout, submission_timeout=submission_timeout, memory_mb=memory,
                      jobs=jobs or os.cpu_count() or 1, keep=keep)
    show = err_console if json_output else console
    with _Display(show) as display:
        document = grade_class(root, folder, options, modules=modules, milestones=milestones, weights_path=weights,
                               previous=previous, on_event=display.event, artifacts=from_artifacts is not None,
                               verify_sample=sample, seed=seed)
    paths = write_outputs(document, out)
    if json_output:
        print(json.dumps(document, indent=2, default=str))
    else:
        _summary(document, paths)
    if document["grader_changed_during_grading"]:
        err_console.print(f"{icon('⚠️')} [bold red]tito's own files changed while grading[/bold red] — a submission "
                          "may have written to them: reinstall tito and grade again (in a container or as a "
                          "separate user).")
        raise typer.Exit(1)


class _Display:
    """A bar over the submissions, and one line per submission being graded."""

    def __init__(self, out):
        self.out = out
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        self.progress = Progress(*columns, console=out, transient=True)
        self.main = None
        self.tasks = {}

    def __enter__(self):
        self.progress.__enter__()
        self.main = self.progress.add_task("Releasing the course…", total=None)
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def event(self, kind, *details):
        progress = self.progress
        if kind == "collect":
            progress.update(self.main, description=f"Reading {details[0]} submission(s)…")
        elif kind == "plan":
            total = (progress.tasks[self.main].total or 0) + details[0]
            progress.update(self.main, total=total, description="Grading")
        elif kind == "cached":
            self.out.print(f"  {escape(details[0].submission.name)}: unchanged since the last run — result reused")
        elif kind == "rejected":
            self.out.print(f"  {icon('❌')} {escape(details[0].name)}: rejected — {escape(details[0].rejected)}")
        elif kind == "start":
            job = details[0]
            self.tasks[job.index] = progress.add_task(f"  {escape(job.submission.name)}: starting", total=None)
        elif kind == "step":
            job, what = details
            if job.index in self.tasks:
                progress.update(self.tasks[job.index], description=f"  {escape(job.submission.name)}: {escape(what)}")
        elif kind == "finish":
            job = details[0]
            task = self.tasks.pop(job.index, None)
            if task is not None:
                progress.remove_task(task)
            progress.advance(self.main)
            status = job.result.get("status", "")
            mark = icon("✅") if status == "graded" else icon("⚠️")
            passed = sum(entry.get("status") == "passed" for entry in job.result.get("modules", {}).values())
            self.out.print(f"  {mark} {escape(job.submission.name)}: {escape(status)}, {passed} module(s) passed "
                           f"[dim]({job.result.get('seconds', 0):.1f} s)[/dim]")
        elif kind == "kept":
            self.out.print(f"Scratch folders kept in {escape(str(details[0]))}")


def _summary(document, paths):
    modules, milestones = document["modules"], document["milestones"]
    table = Table(title=f"Gradebook — {len(document['students'])} submission(s), {document['seconds']:.0f} s",
                  header_style="bold")
    for column in ("student", "status", "total", "modules passed", "milestones passed", "notes"):
        table.add_column(column)
    for row in document["students"]:
        done = sum(row["modules"].get(m, {}).get("status") == "passed" for m in modules)
        won = sum(row["milestones"].get(m, {}).get("status") == "passed" for m in milestones)
        total = "—" if row.get("total") is None else f"{row['total']} / {row['max']}"
        notes = []
        if row.get("reason"):
            notes.append(row["reason"])
        tampered = [m for m in modules if row["modules"].get(m, {}).get("tampered")]
        if tampered:
            notes.append(f"tests tampered with: {', '.join(tampered)}")
        notes.extend(row.get("flags", []))
        if row.get("cached"):
            notes.append("unchanged: reused")
        table.add_row(escape(row["student"]), escape(row["status"]), total, f"{done} / {len(modules)}",
                      f"{won} / {len(milestones)}", escape("; ".join(notes))[:200])
    console.print(table)
    console.print(f"Gradebook: {paths['csv']}\nEverything: {paths['json']}\nFeedback for each student: "
                  f"{paths['feedback']}/")
    next_step(f"open {paths['csv']}", "then hand each student their feedback file")
