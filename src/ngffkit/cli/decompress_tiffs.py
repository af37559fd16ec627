"""``ngff decompress-tiffs INPUT OUTPUT``: rewrite compressed TIFF slices uncompressed."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from ngffkit.cli._common import err_console
from ngffkit.cli._work import Jobs, Quiet, check_jobs, progress_bar, say_done


def decompress_tiffs(
    input: Annotated[
        str, typer.Argument(help="Folder of TIFF files (e.g. a volumes_masked volume).")
    ],
    output: Annotated[
        str,
        typer.Argument(
            help="Folder to write the uncompressed TIFFs to (same names); never inside INPUT."
        ),
    ],
    jobs: Jobs = None,
    resume: Annotated[
        bool,
        typer.Option(
            help="Keep the files an interrupted run finished (checked against their inputs) "
            "and do the rest."
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace OUTPUT if it exists.")] = False,
    quiet: Quiet = False,
) -> None:
    """Rewrite every TIFF of INPUT uncompressed under the same name in OUTPUT.

    Pages, resolution, description and the other image tags are kept; each file is read
    back and compared pixel for pixel before it takes its final name. Other files are
    listed and left alone.
    """
    from ngffkit.tiffs import decompress_tiffs as run

    if resume and overwrite:
        raise typer.BadParameter("choose one of --resume and --overwrite", param_hint="--resume")
    check_jobs(jobs)
    started = time.perf_counter()
    with progress_bar("decompressing", quiet) as progress:
        result = run(
            input, output, jobs=jobs, resume=resume, overwrite=overwrite, progress=progress
        )
    if result.not_tiff:
        shown = ", ".join(result.not_tiff[:10]) + (" …" if len(result.not_tiff) > 10 else "")
        err_console.print(
            f"Skipped {len(result.not_tiff)} entries that are not TIFF files: {shown}", markup=False
        )
    for name, tags in sorted(result.dropped_tags.items())[:10]:
        err_console.print(
            f"Warning: {name}: tags not carried over (they point at other IFDs): {', '.join(tags)}",
            markup=False,
        )
    seconds = time.perf_counter() - started
    parts = [f"{len(result.written)} decompressed"]
    if result.copied:
        parts.append(f"{len(result.copied)} already uncompressed (copied)")
    if result.skipped:
        parts.append(f"{len(result.skipped)} done earlier (kept)")
    say_done(
        result.output,
        ", ".join(parts),
        [
            f"{result.bytes_in / 2**20:.1f} MiB in",
            f"{result.bytes_out / 2**20:.1f} MiB out",
            f"{seconds:.1f} s",
        ],
        quiet,
    )


def register(app: typer.Typer) -> None:
    app.command("decompress-tiffs")(decompress_tiffs)


__all__ = ["decompress_tiffs", "register"]
