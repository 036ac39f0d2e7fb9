"""The `tito` command line: thin commands over the exporter, the runner and the tracker."""

import sys

import typer

from tito.commands import demo, milestone, module_workflow, release
from tito.console import err_console
from tito.project import ProjectError

app = typer.Typer(
    help="TinyTorch course CLI: build modules, export them, unlock milestones.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(module_workflow.app, name="module", help="Test, complete, start and reset modules.")
app.add_typer(milestone.app, name="milestone", help="List, inspect and run milestones.")
app.command("release")(release.release)
app.command("demo")(demo.demo)


def main(argv=None):
    """Entry point: usage errors exit 2 (click), project errors print one clear line."""
    try:
        app(args=argv, prog_name="tito")
    except ProjectError as err:
        err_console.print(f"[bold red]Error:[/bold red] {err}")
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
