"""``ngff compress URL``: recompress, rechunk, reshard or upgrade (0.4 → 0.5) an OME-Zarr image.

The library is imported here, not in the command: ``main`` imports the command's module
before it starts the garbage collector (see ``ngffkit.cli.app.main``).
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from ngffkit.cli._common import err_console, out_console
from ngffkit.cli._work import (
    DryRun,
    ExecutorOpt,
    Jobs,
    MaxMemory,
    Quiet,
    Scheduler,
    check_run_options,
    partial_on_interrupt,
    peak_rss,
    progress_bar,
    say,
)
from ngffkit.cli.options import parse_xyz

XYZ = "x,y,z order; one number for all three"


def compress(
    url: Annotated[str, typer.Argument(help="The OME-Zarr image (0.4 or 0.5, any writer).")],
    output: Annotated[
        str | None,
        typer.Option(help="Write the re-encoded image here instead of replacing URL in place."),
    ] = None,
    compression: Annotated[
        str | None,
        typer.Option(
            help="zstd[:L], blosc-zstd[:L], blosc-lz4[:L], gzip[:L] or none (default: keep)."
        ),
    ] = None,
    chunks: Annotated[str | None, typer.Option(help=f"Chunk shape, {XYZ} (default: keep).")] = None,
    shards: Annotated[
        str | None,
        typer.Option(
            help=f"Level-0 shard shape (0.5 only), {XYZ}, a multiple of the chunks; shrinks "
            "with the level. 'none' for unsharded (default: keep; 4 chunks per axis when "
            "upgrading from 0.4)."
        ),
    ] = None,
    ome_version: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="OME-Zarr version to write: 0.5 (Zarr v3) or 0.4 (Zarr v2) (default: keep).",
        ),
    ] = None,
    jobs: Jobs = None,
    max_memory: MaxMemory = None,
    executor: ExecutorOpt = None,
    scheduler: Scheduler = None,
    resume: Annotated[
        bool,
        typer.Option(
            help="With --output: finish an interrupted compress into OUTPUT. (In place, a "
            "rerun always continues or rolls back by itself.)"
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace OUTPUT if it exists.")] = False,
    rollback: Annotated[
        bool, typer.Option(help="Undo an interrupted in-place compress of URL and stop.")
    ] = False,
    dry_run: DryRun = False,
    quiet: Quiet = False,
) -> None:
    """Recompress, rechunk, reshard or upgrade an OME-Zarr image, with its labels.

    In place (no --output) the new arrays are written beside the old ones, verified, then
    swapped in; an interrupted run continues or rolls back when run again, and says which.
    """
    executor, budget = check_run_options(executor, max_memory, scheduler, jobs)
    if ome_version not in (None, "0.4", "0.5"):
        raise typer.BadParameter("choose 0.5 or 0.4", param_hint="--format")
    if resume and overwrite:
        raise typer.BadParameter("choose one of --resume and --overwrite", param_hint="--resume")
    if resume and output is None:
        raise typer.BadParameter(
            "needs --output (in place, just run the command again)", param_hint="--resume"
        )
    chunk_map = _xyz("--chunks", chunks)
    shard_map: dict[str, int] | str | None = (
        "none"
        if shards is not None and shards.strip().lower() == "none"
        else _xyz("--shards", shards)
    )
    # Imported here, not above: `ngff --help` and the other commands load this module too.
    from ngffkit._recompress import compress as run
    from ngffkit.recompress_plan import CompressPlan

    started = time.perf_counter()
    interrupted = (
        partial_on_interrupt(output)
        if output is not None
        else partial_on_interrupt(
            url, add=(), drop=("--resume",), extra="\n(or add --rollback to undo it)"
        )
    )
    with interrupted, progress_bar("compressing", quiet) as progress:
        result = run(
            url,
            output=output,
            version=ome_version,
            compression=compression,
            chunks=chunk_map,
            shards=shard_map,
            max_memory=budget,
            jobs=jobs,
            executor=executor,
            scheduler=scheduler,
            resume=resume,
            overwrite=overwrite,
            rollback=rollback,
            dry_run=dry_run,
            progress=progress,
            notice=lambda m: err_console.print(m, markup=False),
        )
    if isinstance(result, CompressPlan):
        if dry_run:
            out_console.print(result.summary(), markup=False)
        return  # else nothing to do, as the notice said: no "done:" line
    if rollback:
        return
    seconds = time.perf_counter() - started
    level = result.levels[0]
    say(
        f"done: {result.url} is OME-Zarr {result.version}, {len(result.levels)} levels, "
        f"chunks {'×'.join(map(str, level.chunks))}, shards "
        f"{'×'.join(map(str, level.shards)) if level.shards else '-'}, {level.compression}; "
        f"{seconds:.1f} s, peak memory {peak_rss() / 2**20:.0f} MiB",
        quiet,
    )


def _xyz(option: str, text: str | None) -> dict[str, int] | None:
    if text is None:
        return None
    z, y, x = (int(v) for v in parse_xyz(option, text))
    return {"z": z, "y": y, "x": x}


def register(app: typer.Typer) -> None:
    app.command("compress")(compress)


__all__ = ["compress", "register"]
