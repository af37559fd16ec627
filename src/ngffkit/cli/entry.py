"""The ``ngff`` entry point: signals first, then everything else.

Ctrl-C or SIGTERM may come at any moment, even while numpy or tensorstore are being
imported (an interrupted C-extension import surfaces as ``ImportError: initialization
failed``). So the handlers are installed before anything heavy is imported, they remember
which signal came, and every way out of an interrupted run is one ``Interrupted.`` line
and exit status 128 + the signal (130 for Ctrl-C, 143 for SIGTERM), never a traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
from types import FrameType

_received: list[int] = []


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def install_signal_handlers() -> None:
    """Turn SIGINT and SIGTERM into KeyboardInterrupt, remembering which came (CLI only:
    a library must not take over a process's signals)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)


def interrupted() -> bool:
    """Whether SIGINT or SIGTERM came during this run."""
    return bool(_received)


def interrupt_status() -> int:
    """The exit status of a run ended by a signal: 128 + its number (130 for Ctrl-C)."""
    return 128 + (_received[0] if _received else signal.SIGINT)


def main() -> None:
    install_signal_handlers()
    try:
        from ngffkit.cli.app import main as run

        run()
    except SystemExit as exc:
        if _received and exc.code == interrupt_status():
            _exit(interrupt_status())
        raise
    except KeyboardInterrupt:
        _interrupted()
    except ImportError:
        if not _received:
            raise
        _interrupted()  # the signal broke an import half-way: still just an interrupt


def _interrupted() -> None:
    try:
        sys.stderr.write("Interrupted.\n")
        sys.stderr.flush()
    except (OSError, KeyboardInterrupt):
        pass
    _exit(interrupt_status())


def _exit(status: int) -> None:
    """End an interrupted run with ``status``, whatever the interpreter thinks. A signal
    that lands while a C extension runs Python code during its import (numpy's
    initialisation) marks the KeyboardInterrupt "unhandled" inside CPython, which then
    kills the process with SIGINT after a clean SystemExit (exit status -2, not 130). The
    run's own cleanup (locks, journals) has happened while the interrupt unwound; the exit
    functions run here; only the interpreter's final pass is skipped."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    with contextlib.suppress(BaseException):  # nothing may keep an interrupted run alive
        atexit._run_exitfuncs()
    os._exit(status)


__all__ = ["install_signal_handlers", "interrupt_status", "interrupted", "main"]
