"""``ngff flatten SURFACE VOLUME OUTPUT``: render the layers of a scroll surface.

The library is imported inside the command, when it runs: ``ngff --help`` and the other
commands load this module too (tests/test_startup.py holds them to an import budget).
"""

from __future__ import annotations

from typing import Annotated

import typer

from ngffkit.cli._common import out_console, usage_error
from ngffkit.cli._work import DryRun, Quiet, check_jobs, peak_rss, progress_bar, say_done
from ngffkit.cli.options import parse_size


def flatten(
    surface: Annotated[
        str,
        typer.Argument(
            help="A .ppm per-pixel map or a tifxyz folder (x.tif, y.tif, z.tif, meta.json); "
            "local, http(s):// or s3://."
        ),
    ],
    volume: Annotated[
        str,
        typer.Argument(
            help="The OME-Zarr image (any version) or Zarr array the surface lies in; local, "
            "http(s):// or s3://."
        ),
    ],
    output: Annotated[
        str,
        typer.Argument(help="A folder for 00.tif ... (or, with --format zarr, an OME-Zarr image)."),
    ],
    layers: Annotated[
        int, typer.Option(help="Layers along the normal, centred on the surface.")
    ] = 65,
    step: Annotated[float, typer.Option(help="Distance between layers, in level-0 voxels.")] = 1.0,
    flip_normals: Annotated[
        bool,
        typer.Option("--flip-normals", help="Reverse the normals (layers grow the other way)."),
    ] = False,
    level: Annotated[
        int, typer.Option(help="Pyramid level to sample (coordinates stay level-0 voxels).")
    ] = 0,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="tiff (a folder of layer TIFFs) or zarr (an OME-Zarr image, "
            "layers as z, with its pyramid).",
        ),
    ] = "tiff",
    tiff_compression: Annotated[str, typer.Option(help="none, zlib, zstd or lzw.")] = "none",
    composite: Annotated[
        str | None,
        typer.Option(
            help="Also write composite.tif: max, mean, min or median of the centred "
            "--composite-layers."
        ),
    ] = None,
    composite_layers: Annotated[
        int, typer.Option(help="How many centred layers the composite reduces.")
    ] = 25,
    jobs: Annotated[
        int | None, typer.Option(help="Threads rendering tiles (default: cores).")
    ] = None,
    max_memory: Annotated[
        str | None,
        typer.Option(
            help="Memory budget for the whole run, chunk cache included, e.g. 1G, 512M "
            "(default 2G)."
        ),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Finish an interrupted run into OUTPUT.")] = False,
    overwrite: Annotated[
        bool, typer.Option(help="Replace OUTPUT if it is an earlier flatten output.")
    ] = False,
    dry_run: DryRun = False,
    quiet: Quiet = False,
) -> None:
    """Render the layers of a scroll surface (.ppm or tifxyz) from an OME-Zarr volume.

    Layer i samples P + (i - (N-1)/2) * step * n trilinearly (integers rounded half up; 0
    outside the volume and for unmapped pixels), a band of rows at a time, so memory stays
    within --max-memory at any segment size.
    """
    # Imported here, not above: `ngff --help` and the other commands load this module too.
    from ngffkit.surfaces.flattening import COMPOSITES, OUTPUT_FORMATS, FlattenPlan
    from ngffkit.surfaces.flattening import flatten as run
    from ngffkit.surfaces.tiffwriter import COMPRESSIONS

    if output_format not in OUTPUT_FORMATS:
        raise usage_error("--format", "choose tiff or zarr")
    if tiff_compression not in COMPRESSIONS:
        raise usage_error("--tiff-compression", "choose none, zlib, zstd or lzw")
    if composite is not None and composite not in COMPOSITES:
        raise usage_error("--composite", "choose max, mean, min or median")
    if resume and overwrite:
        raise usage_error("--resume", "choose one of --resume and --overwrite")
    for name, value in (("--layers", layers), ("--composite-layers", composite_layers)):
        if value < 1:
            raise usage_error(name, f"{value}: at least 1")
    if not step > 0:
        raise usage_error("--step", f"{step}: must be a positive number of voxels")
    check_jobs(jobs)
    budget = parse_size("--max-memory", max_memory) if max_memory else None
    with progress_bar("flattening", quiet) as progress:
        result = run(
            surface,
            volume,
            output,
            layers=layers,
            step=step,
            flip_normals=flip_normals,
            level=level,
            format=output_format,
            tiff_compression=tiff_compression,
            composite=composite,
            composite_layers=composite_layers,
            max_memory=budget,
            jobs=jobs,
            resume=resume,
            overwrite=overwrite,
            dry_run=dry_run,
            progress=progress,
        )
    if isinstance(result, FlattenPlan):
        out_console.print(result.summary(), markup=False)
        return
    n, h, w = result.shape
    rate = n * h * w / 1e6 / max(result.seconds, 1e-9)
    say_done(
        result.output,
        f"{n} layers of {w} x {h} px ({result.format})",
        [
            f"{result.seconds:.1f} s",
            f"{rate:.1f} MP-layers/s",
            f"volume read {result.volume_bytes_read / 2**20:.0f} MiB",
            f"peak memory {peak_rss() / 2**20:.0f} MiB",
        ],
        quiet,
    )


def register(app: typer.Typer) -> None:
    app.command("flatten")(flatten)


__all__ = ["flatten", "register"]
