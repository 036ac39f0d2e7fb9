"""tito milestone list | progress | info | run (being built)."""

import typer

app = typer.Typer(no_args_is_help=True)
