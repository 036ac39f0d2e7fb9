"""tito release DIR: write a student copy of this project (nbgrader's release step).

The work is :mod:`tito.student_copy`'s: an allow-list of files, solutions stripped before they
reach the copy, a leak scan, a manifest of protected files, all built in a temporary folder
and renamed into place only when everything passed.
"""

import shlex
from pathlib import Path

import typer
from rich.table import Table

from tito.console import console, icon, next_step
from tito.project import find_project_root
from tito.student_copy import build_release


def release(directory: Path = typer.Argument(..., help="New folder for the student copy")):
    """Write a student copy: solutions replaced by NotImplementedError, nothing exported, no progress."""
    root = find_project_root()
    result = build_release(root, directory.expanduser().resolve())
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
    next_step(f"cd {shlex.quote(str(result.destination))} && tito module list", "what a student sees first")
