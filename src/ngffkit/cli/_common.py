"""What every command shares: error reporting, exit codes, the consoles."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
import sys
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ngffkit.cli.entry import interrupt_status, interrupted
from ngffkit.cli.options import with_storage_options
from ngffkit.errors import PARAMETER, NgffkitError, NgffWarning, OptionError

#: Set to show the traceback of an internal error (a bug) instead of one line.
TRACEBACK_ENV = "NGFFKIT_TRACEBACK"

# Exit statuses shared by all commands.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

if TYPE_CHECKING:
    from rich.console import Console

# Recent Typer bundles its own click, whose exceptions derive from ``typer.TyperException``;
# older releases (0.12.5, which webknossos 4.3 holds its users to) run on click itself. Both
# are tested: CI runs Python 3.11 with the oldest supported releases.
_usage: Any = getattr(typer, "TyperException", None)
if _usage is None:  # Typer on click
    import click

    _usage = click.ClickException
UsageException: type[Exception] = _usage

# What rich does to a plain line besides writing it: it drops these control codes, expands
# tabs and may strip trailing blanks. Lines with any of them go through rich.
_NOT_PLAIN = frozenset("\t\x07\x08\x0b\x0c\r")


class LazyConsole:
    """A rich ``Console`` made on first need; until then plain lines are written directly.

    Importing rich costs about 15 ms, and a quiet ``ngff convert`` prints one line of
    text: a line without markup is written as the console would write it (the test of this
    module compares the two), so rich is imported only to draw a progress bar, a table or
    a tree. Once the console exists (a progress bar may be live on it), every line goes
    through it. Emoji codes are not replaced: ``:100:`` in a path or a range is text.
    """

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            if self._stderr:
                self._console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
            else:
                # Piped output (scripts, tests) gets a wide console so tables do not wrap at
                # 80 columns.
                self._console = Console(
                    highlight=False,
                    soft_wrap=True,
                    emoji=False,
                    width=None if sys.stdout.isatty() else 160,
                )
        return self._console

    def print(self, *objects: Any, markup: bool | None = None, **kwargs: Any) -> None:
        if (
            self._console is None
            and markup is False
            and not kwargs
            and len(objects) == 1
            and isinstance(objects[0], str)
            and is_plain(objects[0])
        ):
            stream = sys.stderr if self._stderr else sys.stdout
            stream.write(objects[0] + "\n")
            stream.flush()
            return
        self.console.print(*objects, markup=markup, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


def is_plain(text: str) -> bool:
    """Whether rich would write ``text`` unchanged (markup and emoji codes aside)."""
    return _NOT_PLAIN.isdisjoint(text) and all(line == line.rstrip() for line in text.split("\n"))


err_console = LazyConsole(stderr=True)
out_console = LazyConsole(stderr=False)


@contextlib.contextmanager
def long_lived() -> Iterator[None]:
    """No garbage collection in the block, and what it created frozen afterwards: for the
    imports of the command line and of the library a command runs, whose hundreds of
    thousands of objects (modules, classes, pydantic schemas) live as long as the process.
    Collecting while importing walks them over and over for nothing (measured: ~30 ms of a
    conversion's start-up in the command line's imports, 5 ms in the library's); frozen,
    no later full collection walks them again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    """Print ``Error: message`` on stderr and return the Exit to raise."""
    err_console.print(f"Error: {message}", markup=False)
    return typer.Exit(code)


def run_app(app: typer.Typer, args: list[str] | None = None) -> int:
    """Run the Typer app; map our errors to ``Error: ...`` and an exit status.

    Click's exceptions (:data:`UsageException`) are usage errors and print click's usage
    message.
    """
    add_storage_options(app)
    # tifffile logs what it finds wrong in a file (with Python's last-resort handler, so
    # the lines land on stderr before our error); the reader raises an error that names
    # the file and what to do, so its log lines would only say the same thing worse.
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    _args[:] = list(sys.argv[1:] if args is None else args)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _run(app, args)


_args: list[str] = []


def current_args() -> list[str]:
    """The arguments of the running command (for messages that show how to rerun it)."""
    return list(_args)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    # Our warnings are for the user, even with --quiet: one line each, no source location.
    if issubclass(category, NgffWarning):
        err_console.print(f"Warning: {message}", markup=False)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _run(app: typer.Typer, args: list[str] | None) -> int:
    try:
        # With standalone_mode=False click *returns* the code of a typer.Exit.
        returned = app(args=args, prog_name="ngff", standalone_mode=False)
        if returned == 130:  # typer turns Ctrl-C (and our SIGTERM) into a return of 130
            err_console.print("Interrupted.", markup=False)
            return interrupt_status()
        if isinstance(returned, int):
            return returned
    except OptionError as exc:
        err_console.print(f"Error: {cli_message(exc)}", markup=False)
        return EXIT_USAGE
    except NgffkitError as exc:
        err_console.print(f"Error: {cli_message(exc)}", markup=False)
        return EXIT_ERROR
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("Interrupted.", markup=False)
        return interrupt_status()
    except UsageException as exc:
        show: Any = getattr(exc, "show", None)
        if callable(show):
            show()
        else:  # pragma: no cover - every click exception can show itself
            err_console.print(f"Error: {exc}", markup=False)
        return int(getattr(exc, "exit_code", EXIT_USAGE))
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:
        # An OS error the library did not word (it words those it expects): still the
        # user's words, not a traceback.
        from ngffkit.error_mapping import os_error

        where = exc.filename if exc.filename is not None else "a file"
        err_console.print(f"Error: {os_error(exc, str(where))}", markup=False)
        return EXIT_ERROR
    except Exception as exc:
        if isinstance(exc, ImportError) and interrupted():
            # the signal broke a lazy import half-way (numpy's "initialization failed"):
            # still just an interrupt
            err_console.print("Interrupted.", markup=False)
            return interrupt_status()
        # A bug of ours, not the user's mistake: one line that says so and where; the
        # traceback only on request (it means nothing to most users of a CLI).
        if os.environ.get(TRACEBACK_ENV):
            raise
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        err_console.print(
            f"Error: internal error in ngffkit ({type(exc).__name__}: {exc}, at "
            f"{Path(frame.filename).name}:{frame.lineno}); please report it with the command "
            f"you ran ({TRACEBACK_ENV}=1 shows the traceback)",
            markup=False,
        )
        return EXIT_ERROR
    return EXIT_OK


# The library's parameters whose command-line option has another name; every other
# parameter is its option in kebab case (allow_gaps -> --allow-gaps).
_OPTION_NAMES = {
    "version": "--format",
    "region": "--ranges",
    "headers": "--header",
    "host": "--bind",
}


def option_name(parameter: str) -> str:
    """The command-line option of a library parameter (``raw_shape`` -> ``--raw-shape``)."""
    return _OPTION_NAMES.get(parameter) or "--" + parameter.replace("_", "-")


def cli_words(template: str) -> str:
    """A library message's ``[[parameter=value]]`` references as the command line's options:
    ``[[resume=True]]`` -> ``--resume``, ``[[raw_shape=X,Y,Z]]`` -> ``--raw-shape X,Y,Z``."""

    def one(m: re.Match[str]) -> str:
        option, value = option_name(m.group(1)), m.group(2)
        return option if value in (None, "True") else f"{option} {value}"

    return PARAMETER.sub(one, template)


def cli_message(exc: NgffkitError) -> str:
    """An error's message in the command line's words: the one place the CLI words the
    library's errors (the library names parameters, never options)."""
    if isinstance(exc, OptionError):
        return f"Invalid value for {option_name(exc.option)}: {cli_words(exc.detail_template)}"
    return cli_words(exc.template) if exc.template is not None else str(exc)


def add_storage_options(app: typer.Typer) -> None:
    """Give every registered command the shared storage options (``--header``,
    ``--s3-endpoint``, ``--cache-size``…; see ``cli.options.with_storage_options``).

    Every command reads or writes through storage, so they are declared once, here, and no
    command module repeats them. Commands registered later get them on the next run.
    """
    for info in app.registered_commands:
        if info.callback is not None and not getattr(info.callback, "storage_options", False):
            info.callback = with_storage_options(info.callback)
    for group in app.registered_groups:  # sub-commands (`ngff labels add`)
        if group.typer_instance is not None:
            add_storage_options(group.typer_instance)


def usage_error(option: str, message: str) -> typer.BadParameter:
    """A usage error that names the option at fault (exit status 2)."""
    return typer.BadParameter(message, param_hint=option)


__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "LazyConsole",
    "add_storage_options",
    "cli_message",
    "cli_words",
    "current_args",
    "err_console",
    "fail",
    "long_lived",
    "option_name",
    "out_console",
    "run_app",
    "usage_error",
]
