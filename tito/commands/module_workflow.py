"""tito module list | status | test | complete | reset | start | check (being built)."""

import typer

app = typer.Typer(no_args_is_help=True)
