"""``ngff convert INPUT OUTPUT``: image stacks (and files, arrays) to multiscale OME-Zarr.

The library is imported here, not in the command: ``main`` imports the command's module
before it starts the garbage collector (see ``ngffkit.cli.app.main``).
"""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

import typer

from ngffkit.cli._common import long_lived, out_console
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
from ngffkit.cli.options import (
    parse_levels,
    parse_names,
    parse_ranges,
    parse_window,
    parse_xyz,
)

XYZ = "x,y,z order (as WEBKNOSSOS and the scroll tools write them); one number for all three"


def convert(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="INPUT...",
            help="Folder of slices, TIFF/OME-TIFF file, "
            "volume_grids folder, Zarr/N5/precomputed array, "
            "HDF5 dataset (FILE.h5:/path), or raw file. Several inputs of one shape and "
            "dtype become the channels of one image.",
            show_default=False,
        ),
    ],
    output: Annotated[str, typer.Argument(help="Where to write the OME-Zarr image.")],
    input_format: Annotated[
        str | None,
        typer.Option(
            help="Force the input kind: tiff-folder, image-folder, tiff, volume-grids, zarr, n5, "
            "precomputed, raw, hdf5."
        ),
    ] = None,
    ome_version: Annotated[
        str,
        typer.Option("--format", help="OME-Zarr version: 0.5 (Zarr v3, sharded) or 0.4 (Zarr v2)."),
    ] = "0.5",
    voxel_size: Annotated[str | None, typer.Option(help=f"Voxel size, {XYZ}.")] = None,
    unit: Annotated[
        str | None,
        typer.Option(help="Unit of the voxel size (UDUNITS name: micrometer, nanometer, ...)."),
    ] = None,
    chunks: Annotated[
        str | None, typer.Option(help=f"Chunk shape, {XYZ} (default 64 for 0.5, 128 for 0.4).")
    ] = None,
    shards: Annotated[
        str | None,
        typer.Option(
            help=f"Shard shape (0.5 only), {XYZ}; a multiple of the chunks (default: 4 chunks "
            "per axis), or none for unsharded 0.5. Both are clipped to the image alike."
        ),
    ] = None,
    compression: Annotated[
        str, typer.Option(help="zstd[:L], blosc-zstd[:L], blosc-lz4[:L], gzip[:L] or none.")
    ] = "zstd:5",
    levels: Annotated[
        str,
        typer.Option(help="Number of levels including full resolution, or auto (until one chunk)."),
    ] = "auto",
    method: Annotated[
        str,
        typer.Option(
            help="Downsampling: mean, nearest, gaussian, median, mode (labels), min, max."
        ),
    ] = "mean",
    anisotropic: Annotated[
        bool,
        typer.Option(
            "--anisotropic/--isotropic",
            help="Downsample only the finer axes until voxels are near-isotropic (EM data).",
        ),
    ] = True,
    ranges: Annotated[
        str | None,
        typer.Option(
            help="Region XMIN:XMAX,YMIN:YMAX,ZMIN:ZMAX in input voxels counted from 0, x,y,z "
            "order; open ends allowed. z counts slices in file order, not the numbers in "
            "their names (07000.tif is z 0; --dry-run shows the mapping). It keeps its place "
            "through a translation."
        ),
    ] = None,
    crop_to_origin: Annotated[
        bool, typer.Option(help="Put the --ranges region at the origin instead of where it was.")
    ] = False,
    dtype: Annotated[
        str | None,
        typer.Option(
            help="Output dtype, e.g. uint16. A cast that keeps every value (uint8 to uint16, "
            "anything to float64 that fits) keeps them; any other (uint16 to uint8, float to "
            "int) needs --window."
        ),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(
            help="Input values LO:HI mapped linearly onto the --dtype range (clipped outside), or "
            "auto: measured from the input, printed and recorded in the metadata."
        ),
    ] = None,
    jobs: Jobs = None,
    max_memory: MaxMemory = None,
    executor: ExecutorOpt = None,
    scheduler: Scheduler = None,
    overwrite: Annotated[bool, typer.Option(help="Replace OUTPUT if it exists.")] = False,
    resume: Annotated[
        bool,
        typer.Option(
            help="Finish an interrupted conversion of the same input with the same options."
        ),
    ] = False,
    dry_run: DryRun = False,
    zarr_only: Annotated[
        bool, typer.Option(help="Write one plain Zarr array: no OME metadata, no pyramid.")
    ] = False,
    name: Annotated[str | None, typer.Option(help="Image name in the metadata.")] = None,
    write_empty_chunks: Annotated[
        bool, typer.Option(help="Store chunks that hold only the fill value (skipped by default).")
    ] = False,
    allow_gaps: Annotated[
        bool, typer.Option(help="Missing slice numbers become fill value instead of an error.")
    ] = False,
    raw_shape: Annotated[str | None, typer.Option(help=f"Raw input shape, {XYZ}.")] = None,
    raw_dtype: Annotated[str | None, typer.Option(help="Raw input dtype, e.g. uint16.")] = None,
    raw_order: Annotated[str, typer.Option(help="Raw layout: C (x fastest) or F.")] = "C",
    channel_names: Annotated[
        str | None,
        typer.Option(help="Channel names, comma-separated, in channel order (e.g. DAPI,GFP,RFP)."),
    ] = None,
    pattern: Annotated[
        str | None,
        typer.Option(
            help="Read the INPUT folder's TIFF files as t,c,z by tags in their names: t, c "
            "and z in curly braces mark the values (numbers or words), * matches anything; "
            "see docs/channels.md. Missing combinations are errors unless --allow-gaps."
        ),
    ] = None,
    time_step: Annotated[
        float | None,
        typer.Option(help="Time between time points (the t axis's scale); overrides the input's."),
    ] = None,
    time_unit: Annotated[
        str | None,
        typer.Option(help="Unit of --time-step: second, millisecond, minute, hour, ..."),
    ] = None,
    labels: Annotated[
        list[str] | None,
        typer.Option(
            "--labels",
            help="NAME=INPUT: also write INPUT (any input convert reads) as the label image "
            "OUTPUT/labels/NAME, as ngff labels add does. Repeatable.",
        ),
    ] = None,
    layer: Annotated[
        str | None,
        typer.Option(help="WEBKNOSSOS dataset input: convert only this layer, as an image."),
    ] = None,
    recompute: Annotated[
        bool,
        typer.Option(
            help="WEBKNOSSOS dataset input: compute the levels instead of keeping its mags."
        ),
    ] = False,
    webknossos: Annotated[
        bool,
        typer.Option(help="Also write OUTPUT/webknossos/datasource-properties.json."),
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Convert an image stack (or file, or array) to a multiscale OME-Zarr image.

    Triples (--voxel-size, --chunks, --shards, --ranges, --raw-shape) are x,y,z.
    """
    if ome_version not in ("0.4", "0.5"):
        raise typer.BadParameter("choose 0.5 or 0.4", param_hint="--format")
    executor, budget = check_run_options(executor, max_memory, scheduler, jobs)
    if raw_order not in ("C", "F"):
        raise typer.BadParameter("choose C or F", param_hint="--raw-order")
    if window is not None and dtype is None:
        raise typer.BadParameter("--window needs --dtype", param_hint="--window")
    if resume and overwrite:
        raise typer.BadParameter("choose one of --resume and --overwrite", param_hint="--resume")
    if name is not None and not name.strip():
        raise typer.BadParameter(
            "the image name must not be empty (leave --name out to name the image after OUTPUT)",
            param_hint="--name",
        )
    voxel = parse_xyz("--voxel-size", voxel_size, integer=False) if voxel_size else None
    chunk_zyx = tuple(int(v) for v in parse_xyz("--chunks", chunks)) if chunks else None
    shard_zyx: tuple[int, ...] | str | None = None
    if shards is not None and shards.strip().lower() == "none":
        shard_zyx = "none"
    elif shards:
        shard_zyx = tuple(int(v) for v in parse_xyz("--shards", shards))
    raw_zyx = tuple(int(v) for v in parse_xyz("--raw-shape", raw_shape)) if raw_shape else None
    if len(inputs) < 1:
        raise typer.BadParameter("give at least one INPUT and the OUTPUT", param_hint="INPUT")
    if time_step is not None and not time_step > 0:
        raise typer.BadParameter(f"{time_step:g} must be positive", param_hint="--time-step")
    names = parse_names("--channel-names", channel_names) if channel_names is not None else None
    levels_n = parse_levels("--levels", levels)
    region = parse_ranges("--ranges", ranges) if ranges else None
    window_v = parse_window("--window", window) if window else None
    label_inputs = parse_labels(labels or [])
    from ngffkit.cli._webknossos import convert_dataset, is_webknossos_dataset

    if len(inputs) == 1 and is_webknossos_dataset(inputs[0]):
        refused = {"--voxel-size": voxel is not None, "--ranges": region is not None}
        refused.update({"--levels": levels_n is not None, "--labels": bool(label_inputs)})
        refused.update({"--dry-run": dry_run, "--zarr-only": zarr_only})
        wk: dict[str, Any] = {"layer": layer, "recompute": recompute, "version": ome_version}
        wk.update(resume=resume)
        wk.update(chunks=chunk_zyx, shards=shard_zyx, compression=compression, jobs=jobs)
        wk.update(max_memory=budget, executor=executor, scheduler=scheduler, overwrite=overwrite)
        convert_dataset(inputs[0], output, wk, refused=refused, quiet=quiet, webknossos=webknossos)
        return
    if webknossos and zarr_only:
        raise typer.BadParameter(
            "--zarr-only writes no image for WEBKNOSSOS to open", param_hint="--webknossos"
        )
    if layer is not None or recompute:
        raise typer.BadParameter(
            "--layer and --recompute apply to a WEBKNOSSOS dataset input (a folder with "
            "datasource-properties.json)",
            param_hint="--layer" if layer is not None else "--recompute",
        )
    # Imported here, not above: `ngff --help` and the other commands load this module too.
    with long_lived():
        from ngffkit._convert import plan_convert, write
        from ngffkit.image import open_image

    if label_inputs:
        from ngffkit.errors import OptionError
        from ngffkit.labels import check_label_name

        for label_name in label_inputs:
            try:
                check_label_name(label_name)
            except OptionError as exc:
                raise typer.BadParameter(exc.detail, param_hint="--labels") from None
        if resume and _complete(output):
            # the image was finished before the run stopped: only the labels are left
            add_all_labels(
                output,
                label_inputs,
                resume=True,
                max_memory=budget,
                jobs=jobs,
                executor=executor,
                scheduler=scheduler,
                quiet=quiet,
            )
            return
    options: dict[str, Any] = {
        "version": ome_version,
        "voxel_size": voxel,
        "unit": unit,
        "chunks": chunk_zyx,
        "shards": shard_zyx,
        "compression": compression,
        "levels": levels_n,
        "method": method,
        "anisotropic": anisotropic,
        "region": region,
        "crop_to_origin": crop_to_origin,
        "dtype": dtype,
        "window": window_v,
        "max_memory": budget,
        "jobs": jobs,
        "executor": executor,
        "scheduler": scheduler,
        "write_empty_chunks": write_empty_chunks,
        "name": name,
        "input_format": input_format,
        "allow_gaps": allow_gaps,
        "raw_shape": (raw_zyx[2], raw_zyx[1], raw_zyx[0]) if raw_zyx else None,
        "raw_dtype": raw_dtype,
        "raw_order": raw_order,
        "channel_names": names,
        "pattern": pattern,
        "time_step": time_step,
        "time_unit": time_unit,
    }
    source = inputs[0] if len(inputs) == 1 else inputs
    if dry_run:
        plan = plan_convert(source, output, zarr_only=zarr_only, **options)
        out_console.print(plan.summary(), markup=False)
        if label_inputs:
            out_console.print(
                "labels (planned once the image is written): "
                + ", ".join(f"{n} from {i}" for n, i in label_inputs.items()),
                markup=False,
            )
        return
    started = time.perf_counter()
    with partial_on_interrupt(output), progress_bar("converting", quiet) as progress:
        plan, out = write(
            source,
            output,
            options,
            zarr_only=zarr_only,
            overwrite=overwrite,
            resume=resume,
            progress=progress,
            notice=notice_printer(quiet),
        )
    # a plain array (--zarr-only) has no OME image to open: its plan says what it holds
    result = plan if zarr_only else open_image(out)
    seconds = time.perf_counter() - started
    _summary(result, output, seconds, quiet)
    if label_inputs:
        add_all_labels(
            output,
            label_inputs,
            resume=resume,
            max_memory=budget,
            jobs=jobs,
            executor=executor,
            scheduler=scheduler,
            quiet=quiet,
        )
    if webknossos:
        from ngffkit.cli.webknossos_properties import write_for

        write_for(output, quiet)


def parse_labels(values: list[str]) -> dict[str, str]:
    """``NAME=INPUT`` options as ``{name: input}`` (names unique)."""
    out: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise typer.BadParameter(
                f"{value!r} should be NAME=INPUT (e.g. cells=segmentation/)",
                param_hint="--labels",
            )
        if name.strip() in out:
            raise typer.BadParameter(f"{name.strip()!r} is given twice", param_hint="--labels")
        out[name.strip()] = path.strip()
    return out


def _complete(output: str) -> bool:
    from ngffkit.plan_writer import is_complete
    from ngffkit.storage import resolve

    return is_complete(resolve(output))


def add_all_labels(
    output: str,
    label_inputs: dict[str, str],
    *,
    resume: bool,
    max_memory: int | None,
    jobs: int | None,
    executor: str,
    scheduler: str | None,
    quiet: bool,
) -> None:
    """The label images of ``convert --labels``, one after the other, into the new image.
    With ``--resume`` a label image already listed is kept and an interrupted one finished."""
    from ngffkit.cli.labels import summary
    from ngffkit.image import open_image
    from ngffkit.labels import add_labels
    from ngffkit.markers import PARTIAL_MARKER

    image = open_image(output)
    for name, source in label_inputs.items():
        if resume and name in image.labels:
            continue
        partial = image.location.child("labels", name).read(PARTIAL_MARKER) is not None
        started = time.perf_counter()
        with (
            partial_on_interrupt(output),
            progress_bar(f"labels {name}", quiet) as progress,
        ):
            label = add_labels(
                image,
                source,
                name=name,
                resume=resume and partial,
                max_memory=max_memory,
                jobs=jobs,
                executor=executor,
                scheduler=scheduler,
                progress=progress,
                notice=notice_printer(quiet),
            )
        image = open_image(output)
        say(summary(label, time.perf_counter() - started), quiet)


def _summary(result: object, output: str, seconds: float, quiet: bool) -> None:
    from ngffkit.image import Image
    from ngffkit.plan import ConversionPlan
    from ngffkit.storage import resolve

    sizes = resolve(output).list_sizes()
    stored = sum(sizes.values()) if sizes else 0
    if isinstance(result, Image):
        raw = sum(level.info.nbytes for level in result.levels)
        read = result.levels[0].info.nbytes
        what = f"{len(result.levels)} levels"
    else:
        assert isinstance(result, ConversionPlan)
        raw = read = math.prod(result.spec.levels[0].shape) * result.out_dtype.itemsize
        what = "one array"
    ratio = f"{raw / stored:.2f}×" if stored else "-"
    # Remote stores do not report sizes without a request per key.
    size = (
        f"output {stored / 2**20:.1f} MiB (compression {ratio})"
        if sizes
        else "output size not listed"
    )
    line = (
        f"done: {resolve(output).display()} ({what}) in {seconds:.1f} s, "
        f"{read / 1e6 / max(seconds, 1e-9):.0f} MB/s, {size}, "
        f"peak memory {peak_rss() / 2**20:.0f} MiB"
    )
    say(line, quiet)
    cast = _cast_line(result)
    if cast:
        say(cast, quiet)


def _cast_line(result: object) -> str | None:
    """The window a value-changing cast used, so that it can be repeated."""
    from ngffkit.image import Image
    from ngffkit.plan import ConversionPlan

    if isinstance(result, Image):
        record = (result.multiscale.metadata or {}).get("cast")
        if not isinstance(record, dict):
            return None
        lo, hi = record["window"]
        how = "measured (--window auto)" if record.get("window_source") == "auto" else "given"
        return (
            f"cast: {record['from']} -> {record['to']}, window {lo:g}:{hi:g} {how}, "
            "recorded in the metadata (multiscales[0].metadata.cast)"
        )
    if isinstance(result, ConversionPlan) and result.window is not None:
        lo, hi = result.window
        return f"cast: {result.source_dtype} -> {result.spec.dtype}, window {lo:g}:{hi:g}"
    return None


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)


__all__ = ["convert", "register"]
