"""``ngff downsample URL``: add the missing coarse levels of an OME-Zarr image, or rebuild them.

The library is imported here, not in the command: ``main`` imports the command's module
before it starts the garbage collector (see ``ngffkit.cli.app.main``).
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from ngffkit.cli._common import out_console
from ngffkit.cli._work import (
    DryRun,
    ExecutorOpt,
    Jobs,
    MaxMemory,
    Quiet,
    Scheduler,
    check_run_options,
    notice_printer,
    partial_on_interrupt,
    peak_rss,
    progress_bar,
    say,
)
from ngffkit.cli.options import parse_levels


def downsample(
    url: Annotated[str, typer.Argument(help="The OME-Zarr image (0.4 or 0.5, any writer).")],
    from_level: Annotated[
        int | None,
        typer.Option(
            help="Build the levels below this one (default: the last level). Existing levels "
            "below it are kept unless --rebuild."
        ),
    ] = None,
    levels: Annotated[
        str, typer.Option(help="Levels in the result, level 0 included, or auto (until one chunk).")
    ] = "auto",
    method: Annotated[
        str | None,
        typer.Option(
            help="mean, nearest, gaussian, median, mode, min or max (default: the image's own "
            "method, else mean; label images always use mode)."
        ),
    ] = None,
    anisotropic: Annotated[
        bool,
        typer.Option(
            "--anisotropic/--isotropic",
            help="Downsample only the finer axes until voxels are near-isotropic (EM data).",
        ),
    ] = True,
    rebuild: Annotated[
        bool, typer.Option(help="Replace existing levels below --from-level.")
    ] = False,
    labels: Annotated[
        bool,
        typer.Option(
            "--labels/--no-labels", help="Also downsample the label images under labels/."
        ),
    ] = True,
    jobs: Jobs = None,
    max_memory: MaxMemory = None,
    executor: ExecutorOpt = None,
    scheduler: Scheduler = None,
    resume: Annotated[
        bool,
        typer.Option(
            help="Finish an interrupted downsample of the same image with the same options."
        ),
    ] = False,
    dry_run: DryRun = False,
    quiet: Quiet = False,
) -> None:
    """Add pyramid levels to an OME-Zarr image (ours or another tool's), or rebuild them.

    The group metadata is updated last: until then the image shows only its old levels.
    """
    executor, budget = check_run_options(executor, max_memory, scheduler, jobs)
    if resume and rebuild:
        raise typer.BadParameter("choose one of --resume and --rebuild", param_hint="--resume")
    # Imported here, not above: `ngff --help` and the other commands load this module too.
    from ngffkit._downsample import downsample as run
    from ngffkit.image import Image

    started = time.perf_counter()
    with (
        partial_on_interrupt(url, drop=("--rebuild",)),
        progress_bar("downsampling", quiet) as progress,
    ):
        result = run(
            url,
            from_level=from_level,
            levels=parse_levels("--levels", levels),
            method=method,
            anisotropic=anisotropic,
            rebuild=rebuild,
            labels=labels,
            max_memory=budget,
            jobs=jobs,
            executor=executor,
            scheduler=scheduler,
            resume=resume,
            dry_run=dry_run,
            progress=progress,
            notice=notice_printer(quiet),
        )
    if not isinstance(result, Image):
        out_console.print("\n".join(p.summary() for p in result), markup=False)
        return
    seconds = time.perf_counter() - started
    shapes = ", ".join(f"{lv.path} {'×'.join(map(str, lv.shape))}" for lv in result.levels)
    say(
        f"done: {url} now has {len(result.levels)} levels ({shapes}) in {seconds:.1f} s, "
        f"peak memory {peak_rss() / 2**20:.0f} MiB",
        quiet,
    )


def register(app: typer.Typer) -> None:
    app.command("downsample")(downsample)


__all__ = ["downsample", "register"]
