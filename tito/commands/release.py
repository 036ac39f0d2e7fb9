"""tito release DIR: write a student copy of this project (nbgrader's release step).

The work is :mod:`tito.student_copy`'s: an allow-list of files, solutions stripped before they
reach the copy, a leak scan, a manifest of protected files, all built in a temporary folder
and renamed into place only when everything passed.
"""

import shlex
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from tito.classroom import WORKFLOW_PATH, write_workflow
from tito.console import console, icon, next_step
from tito.project import find_project_root
from tito.student_copy import build_release

CI_HOOKS = {"github": write_workflow}


def release(
    directory: Path = typer.Argument(..., help="New folder for the student copy"),
    ci: Optional[str] = typer.Option(None, "--ci", metavar="github",
                                     help="Also write a CI workflow so each student's repository grades itself "
                                          f"on every push (github: {WORKFLOW_PATH})"),
):
    """Write a student copy: solutions replaced by NotImplementedError, nothing exported, no progress."""
    if ci is not None and ci.lower() not in CI_HOOKS:
        raise typer.BadParameter(f"unknown CI {ci!r}; known: {', '.join(CI_HOOKS)}", param_hint="--ci")
    root = find_project_root()
    extra = CI_HOOKS[ci.lower()] if ci else None
    result = build_release(root, directory.expanduser().resolve(), extra=extra)
    table = Table(title=f"Student copy in {result.destination}")
    table.add_column("module")
    table.add_column("solution blocks replaced", justify="right")
    for module_id, blocks in result.modules:
        table.add_row(module_id, str(blocks))
    console.print(table)
    console.print(
        f"{icon('✅')} Released {len(result.modules)} modules: solutions replaced by NotImplementedError, "
        "tinytorch/ holds only its skeleton, no progress files, every milestone locked; the leak scan found "
        "no solution text, and .tito/manifest.json records the protected files."
    )
    if ci:
        console.print(f"{icon('✅')} {WORKFLOW_PATH}: on every push the student's repository runs tito's sealed "
                      "checks and uploads the results (grade them with `tito grade --from-artifacts DIR`).")
    next_step(f"cd {shlex.quote(str(result.destination))} && tito module list", "what a student sees first")
