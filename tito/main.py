"""The `tito` command line: thin commands over the exporter, the runner and the tracker.

Every failure ends in one clear line (never a traceback for a problem the user can fix); with
``--json`` stdout is always exactly one JSON document — on failure
``{"error": "...", "exit_code": N}`` — and everything meant for people goes to stderr.
"""

import json
import signal
import sys
import traceback

import typer

try:  # typer >= 0.2x vendors click; older releases use click's exceptions
    from typer.exceptions import TyperException as _UsageError
except ImportError:  # pragma: no cover - older typer
    from click import ClickException as _UsageError

from tito.commands import demo, grade, milestone, module_watch, module_workflow, release
from tito.console import console, err_console
from tito.project import ProjectError

app = typer.Typer(
    help="TinyTorch course CLI: build modules, export them, unlock milestones.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
module_workflow.app.command("watch")(module_watch.watch)
module_workflow.app.command("hint")(module_watch.hint)
app.add_typer(module_workflow.app, name="module", help="Test, complete, watch, start and reset modules.")
app.add_typer(milestone.app, name="milestone", help="List, inspect and run milestones.")
app.command("release")(release.release)
app.command("demo")(demo.demo)
app.command("grade")(grade.grade)


def _terminate(signum, frame):
    """SIGTERM ends tito like Ctrl-C does: every ``finally`` runs (test runs are killed)."""
    raise SystemExit(128 + signum)


def _describe(err):
    """One line for an error the user can act on."""
    if isinstance(err, OSError) and not isinstance(err, ProjectError):
        where = f": {err.filename}" if err.filename else ""
        return f"{err.strerror or err.__class__.__name__}{where}"
    return str(err)


def main(argv=None):
    """Entry point: usage errors exit 2, project errors print one clear line and exit 1."""
    signal.signal(signal.SIGTERM, _terminate)
    args = list(sys.argv[1:] if argv is None else argv)
    json_mode = "--json" in args
    code, message = 0, None
    try:
        if json_mode:
            with console.capture():  # stray human output never lands in front of the JSON
                result = app(args=args, prog_name="tito", standalone_mode=False)
            code = result if isinstance(result, int) else 0
        else:
            app(args=args, prog_name="tito")
    except typer.Exit as err:
        code = err.exit_code
    except _UsageError as err:  # usage errors in --json mode
        err.show(file=sys.stderr)
        code, message = getattr(err, "exit_code", 2), err.format_message()
    except typer.Abort:
        code, message = 130, "aborted"
    except (ProjectError, OSError) as err:
        code, message = getattr(err, "exit_code", 1), _describe(err)
        err_console.print(f"[bold red]Error:[/bold red] {message}", soft_wrap=True)
    except KeyboardInterrupt:
        code, message = 130, "interrupted"
        err_console.print("Interrupted.")
    except Exception as err:  # a bug in tito: say so in one line, the details on stderr
        traceback.print_exc(file=sys.stderr)
        code, message = 1, f"internal error: {err.__class__.__name__}: {err}"
        err_console.print(f"[bold red]tito failed:[/bold red] {message}", soft_wrap=True)
    if json_mode and message is not None:
        print(json.dumps({"error": message, "exit_code": code}))
    sys.exit(code)


if __name__ == "__main__":
    main()
