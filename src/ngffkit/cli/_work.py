"""What the commands that run a plan share (convert, downsample, compress): the options for
parallelism, memory, executors, resuming and dry runs; the progress bar; the summary line."""

from __future__ import annotations

import logging
import os
import resource
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from ngffkit.cli._common import current_args, err_console, out_console
from ngffkit.cli.options import parse_size

Jobs = Annotated[
    int | None,
    typer.Option(
        help="Cores the run may use, an upper bound: the plan splits them among brick tasks "
        "and encoding threads (default: all; with --scheduler, the cluster's threads)."
    ),
]
MaxMemory = Annotated[
    str | None,
    typer.Option(
        help="Memory budget for the whole run, e.g. 1G, 512M (default 2G; with --scheduler, "
        "70% of the cluster workers' memory)."
    ),
]
ExecutorOpt = Annotated[
    str | None,
    typer.Option(
        "--executor",
        help="local (threads) or dask: the cluster at --scheduler, or else a local "
        "cluster of --jobs processes sharing --max-memory.",
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        help="A running Dask scheduler: tcp://HOST:PORT, or the file of `dask scheduler "
        "--scheduler-file` (implies --executor dask)."
    ),
]
DryRun = Annotated[bool, typer.Option(help="Print the plan and write nothing.")]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="No progress bar or notices (the done: summary still goes to stdout)."
    ),
]
EXECUTORS = ("local", "dask", "sequential")


def check_jobs(jobs: int | None) -> None:
    """Refuse a --jobs below 1 (None: the default)."""
    if jobs is not None and jobs < 1:
        raise typer.BadParameter(
            f"{jobs} must be 1 or more (the number of parallel tasks)", param_hint="--jobs"
        )


def check_run_options(
    executor: str | None,
    max_memory: str | None,
    scheduler: str | None = None,
    jobs: int | None = None,
) -> tuple[str, int | None]:
    """Validate --executor/--scheduler/--jobs/--max-memory; return the executor kind and
    --max-memory in bytes (None when not given: the library's default, or the cluster's)."""
    check_jobs(jobs)
    if executor is None:
        executor = "dask" if scheduler else "local"
    if executor not in EXECUTORS:
        raise typer.BadParameter("choose local or dask", param_hint="--executor")
    if scheduler and executor != "dask":
        raise typer.BadParameter(
            "--scheduler runs on Dask; use it with --executor dask", param_hint="--scheduler"
        )
    if executor == "dask":
        _quiet_dask_logs()
    if max_memory is None:
        return executor, None
    budget = parse_size("--max-memory", max_memory)
    if budget <= 0:
        raise typer.BadParameter(f"{max_memory!r} must be more than 0", param_hint="--max-memory")
    physical = _physical_memory()
    if not scheduler and physical and budget > physical:
        # A budget the machine cannot give is no budget: the planner would size bricks for
        # it and the run would swap or be killed.
        raise typer.BadParameter(
            f"{max_memory} is more than this machine's memory ({physical / 2**30:.1f} GiB); "
            "give at most that (or leave it out for the default)",
            param_hint="--max-memory",
        )
    return executor, budget


def _physical_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def _quiet_dask_logs() -> None:
    """Dask logs its connection troubles with tracebacks; the error the run raises says
    what happened and what to do (--resume), once. Dask configures its loggers when it is
    imported (``distributed`` and ``distributed.client`` separately), so import it first."""
    import distributed  # noqa: F401

    for name in list(logging.root.manager.loggerDict):
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def notice_printer(quiet: bool) -> Callable[[str], None]:
    """A ``notice(line)`` callback: where the work runs (e.g. the Dask dashboard), on stderr."""

    def notice(line: str) -> None:
        if not quiet:
            err_console.print(line, markup=False)

    return notice


def peak_rss() -> int:
    """Peak resident memory of this process and its finished children, in bytes.

    This process's own peak comes from VmHWM in /proc/self/status where there is one:
    ``ru_maxrss`` survives fork and exec, so a command started by a large parent (a test
    runner, a notebook) would report the parent's peak as its own."""
    own = _vm_hwm()
    if own is None:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return int(max(own, kids))


def _vm_hwm() -> int | None:
    """VmHWM (the resident high-water mark of this process's memory) in bytes, or None
    where /proc does not give it (macOS, Windows)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # "VmHWM:   123456 kB"
    except (OSError, ValueError, IndexError):
        return None
    return None


@contextmanager
def progress_bar(verb: str, quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback drawing a bytes bar on stderr.

    The bar appears only once work starts, so errors and --dry-run print cleanly; rich's
    progress module is imported then too (not with --quiet: it costs start-up time).
    """
    bar: Any = None
    task: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar, task
        if quiet:
            return
        if bar is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            bar = Progress(
                TextColumn(f"[bold]{verb}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=err_console.console,
                transient=False,
            )
            task = bar.add_task(verb, total=None, start=False)
        if not bar.live.is_started:
            bar.start()
            bar.start_task(task)
        bar.update(task, completed=done, total=total)

    try:
        yield progress
    finally:
        if bar is not None and bar.live.is_started:
            bar.stop()


@contextmanager
def partial_on_interrupt(
    output: str,
    *,
    add: tuple[str, ...] = ("--resume",),
    drop: tuple[str, ...] = ("--overwrite",),
    extra: str = "",
) -> Iterator[None]:
    """On Ctrl-C or SIGTERM, say that ``output`` is partial and the exact command that
    continues it (this command's arguments, less ``drop``, plus ``add``)."""
    try:
        yield
    except KeyboardInterrupt:
        _say_partial(output, add, drop, extra)
        raise


def _say_partial(output: str, add: tuple[str, ...], drop: tuple[str, ...], extra: str) -> None:
    import shlex

    from ngffkit._output import unfinished
    from ngffkit.storage import resolve

    try:
        loc = resolve(output)
        if not unfinished(loc):
            return
    except Exception:  # a message on the way out must not fail the exit
        return
    args = [a for a in current_args() if a not in drop]
    args += [a for a in add if a not in args]
    err_console.print(
        f"{loc.display()} is partial: readers see it as unfinished. To "
        f"continue where it stopped, run:\n  {shlex.join(['ngff', *args])}"
        f"{extra}",
        markup=False,
    )


def say(line: str, quiet: bool) -> None:
    """A result line (the ``done:`` summary): on stdout, with or without --quiet, which
    only drops the progress bar and notices — scripts read the summary from stdout."""
    out_console.print(line, markup=False)


def say_done(output: object, what: str, figures: list[str], quiet: bool) -> None:
    """The ``done:`` summary of a command that writes files: ``done: OUTPUT: WHAT; FIGURES``
    (the figures joined by commas), on stdout as ``say`` prints it."""
    say(f"done: {output}: {what}; {', '.join(figures)}", quiet)


__all__ = [
    "EXECUTORS",
    "DryRun",
    "ExecutorOpt",
    "Jobs",
    "MaxMemory",
    "Quiet",
    "Scheduler",
    "check_run_options",
    "notice_printer",
    "partial_on_interrupt",
    "peak_rss",
    "progress_bar",
    "say",
    "say_done",
]
