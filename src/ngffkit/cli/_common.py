"""What every command shares: error reporting, exit codes, the consoles."""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.console import Console

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


def usage_error(option: str, message: str) -> typer.BadParameter:
    """A usage error that names the option at fault (exit status 2)."""
    return typer.BadParameter(message, param_hint=option)


__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "err_console",
    "fail",
    "out_console",
    "run_app",
    "usage_error",
]
