"""What every command shares: error reporting, exit codes, the consoles."""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.console import Console

from ngffkit.cli.options import with_storage_options
from ngffkit.errors import NgffkitError, OptionError

# Exit statuses shared by all commands.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
# Piped output (scripts, tests) gets a wide console so tables do not wrap at 80 columns.
out_console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    """Print ``Error: message`` on stderr and return the Exit to raise."""
    err_console.print(f"Error: {message}", markup=False)
    return typer.Exit(code)


def run_app(app: typer.Typer, args: list[str] | None = None) -> int:
    """Run the Typer app; map our errors to ``Error: ...`` and an exit status.

    Typer (0.29+) bundles its own click, whose exceptions derive from
    ``typer.TyperException``; those are usage errors and print click's usage message.
    """
    add_storage_options(app)
    try:
        # With standalone_mode=False click *returns* the code of a typer.Exit.
        returned = app(args=args, standalone_mode=False)
        if isinstance(returned, int):
            return returned
    except OptionError as exc:
        err_console.print(f"Error: Invalid value for {exc.option}: {exc.detail}", markup=False)
        return EXIT_USAGE
    except NgffkitError as exc:
        err_console.print(f"Error: {exc}", markup=False)
        return EXIT_ERROR
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("Interrupted.")
        return 130
    except typer.TyperException as exc:
        show: Any = getattr(exc, "show", None)
        if callable(show):
            show()
        else:  # pragma: no cover - every click exception can show itself
            err_console.print(f"Error: {exc}", markup=False)
        return int(getattr(exc, "exit_code", EXIT_USAGE))
    except BrokenPipeError:
        return EXIT_OK
    return EXIT_OK


def add_storage_options(app: typer.Typer) -> None:
    """Give every registered command the shared storage options (``--header``,
    ``--s3-endpoint``, ``--cache-size``…; see ``cli.options.with_storage_options``).

    Every command reads or writes through storage, so they are declared once, here, and no
    command module repeats them. Commands registered later get them on the next run.
    """
    for info in app.registered_commands:
        if info.callback is not None and not getattr(info.callback, "storage_options", False):
            info.callback = with_storage_options(info.callback)


def usage_error(option: str, message: str) -> typer.BadParameter:
    """A usage error that names the option at fault (exit status 2)."""
    return typer.BadParameter(message, param_hint=option)


__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "add_storage_options",
    "err_console",
    "fail",
    "out_console",
    "run_app",
    "usage_error",
]
