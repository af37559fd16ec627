"""What the commands that run a plan share (convert, downsample, compress): the options for
parallelism, memory, executors, resuming and dry runs; the progress bar; the summary line."""

from __future__ import annotations

import resource
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ngffkit.cli._common import err_console, out_console
from ngffkit.cli.options import parse_size

Jobs = Annotated[int | None, typer.Option(help="Parallel tasks (default: cores).")]
MaxMemory = Annotated[str, typer.Option(help="Memory budget for the whole run, e.g. 1G, 512M.")]
ExecutorOpt = Annotated[str, typer.Option("--executor", help="local or dask.")]
Scheduler = Annotated[str | None, typer.Option(
    help="Dask scheduler address (with --executor dask).")]
DryRun = Annotated[bool, typer.Option(help="Print the plan and write nothing.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
EXECUTORS = ("local", "dask", "sequential")


def check_run_options(executor: str, max_memory: str) -> int:
    """Validate --executor; return --max-memory in bytes."""
    if executor not in EXECUTORS:
        raise typer.BadParameter("choose local or dask", param_hint="--executor")
    return parse_size("--max-memory", max_memory)


def peak_rss() -> int:
    """Peak resident memory of this process and its finished children, in bytes."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return int(max(own, kids) * 1024)


@contextmanager
def progress_bar(verb: str, quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback drawing a bytes bar on stderr.

    The bar appears only once work starts, so errors and --dry-run print cleanly.
    """
    bar = Progress(
        TextColumn(f"[bold]{verb}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=err_console, transient=False,
    )
    task = bar.add_task(verb, total=None, start=False)

    def progress(done: int, total: int) -> None:
        if quiet:
            return
        if not bar.live.is_started:
            bar.start()
            bar.start_task(task)
        bar.update(task, completed=done, total=total)

    try:
        yield progress
    finally:
        if bar.live.is_started:
            bar.stop()


def say(line: str, quiet: bool) -> None:
    """A result line: stdout normally, stderr with --quiet (as convert's summary)."""
    (err_console if quiet else out_console).print(line, markup=False)


__all__ = ["EXECUTORS", "DryRun", "ExecutorOpt", "Jobs", "MaxMemory", "Quiet", "Scheduler",
           "check_run_options", "peak_rss", "progress_bar", "say"]
