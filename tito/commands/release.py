"""tito release DIR: write a student copy of this project (nbgrader's release step)."""

from pathlib import Path

import typer
from rich.table import Table

from tito.console import console, icon, next_step
from tito.project import PROJECT_PARTS, ProjectError, copy_project, discover_modules, find_project_root
from tito.solutions import SolutionMarkerError, solution_blocks, strip_solutions


def release(directory: Path = typer.Argument(..., help="New folder for the student copy")):
    """Write a student copy: solutions replaced by NotImplementedError, nothing exported, no progress."""
    root = find_project_root()
    destination = directory.expanduser().resolve()
    _refuse_unsafe_destination(root, destination)
    modules = discover_modules(root)
    student_forms = {}
    for module in modules:  # check every module before writing anything
        text = module.source.read_text(encoding="utf-8")
        try:
            student_forms[module] = (strip_solutions(text, module.id), len(solution_blocks(text)))
        except SolutionMarkerError as err:
            raise ProjectError(f"{module.source.relative_to(root)}: {err}") from None
    copy_project(root, destination)
    table = Table(title=f"Student copy in {destination}")
    table.add_column("module")
    table.add_column("solution blocks replaced", justify="right")
    for module, (text, blocks) in student_forms.items():
        (destination / module.source.relative_to(root)).write_text(text, encoding="utf-8")
        table.add_row(module.id, str(blocks))
    console.print(table)
    console.print(
        f"{icon('✅')} Released {len(modules)} modules: solutions replaced by NotImplementedError, "
        "tinytorch/ holds only its skeleton, no progress files, every milestone locked."
    )
    next_step(f"cd {destination} && tito module list", "what a student sees first")


def _refuse_unsafe_destination(root, destination):
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise ProjectError(
            f"{destination} already exists and is not empty: refusing to overwrite it. "
            "Choose a new folder for the student copy."
        )
    for part in PROJECT_PARTS:
        source = (root / part).resolve()
        if destination == source or source in destination.parents:
            raise ProjectError(f"{destination} is inside this project's {part}: choose a folder outside it.")
