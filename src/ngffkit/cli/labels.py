"""``ngff labels add IMAGE INPUT --name NAME``: a segmentation as a label image of an image.

The library is imported in the command, not here: ``main`` imports the command's module
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
from ngffkit.cli.options import parse_ranges, parse_xyz

XYZ = "x,y,z order (as WEBKNOSSOS and the scroll tools write them)"

labels_app = typer.Typer(
    name="labels",
    help="Label images (segmentations) of an OME-Zarr image: labels add.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

Method = Annotated[
    str,
    typer.Option(
        help="Downsampling of the labels: mode (the most frequent label) or nearest. "
        "Never mean: it would invent labels."
    ),
]
Colors = Annotated[
    str,
    typer.Option(
        help="auto (a distinct colour per label value found), none, or a CSV file of "
        "label-value,r,g,b[,a] rows (0-255)."
    ),
]
Properties = Annotated[
    str | None,
    typer.Option(
        help="A CSV file with a label-value column and any others (cell type, volume…), "
        "stored as the labels' properties."
    ),
]
LabelDtype = Annotated[
    str | None,
    typer.Option(
        help="Label type (uint8, uint16, uint32, uint64; int8-int32). Default: the smallest "
        "unsigned type that holds the values. One that does not hold them is refused."
    ),
]


def add(
    image: Annotated[str, typer.Argument(help="The OME-Zarr image (0.4 or 0.5) to label.")],
    input: Annotated[
        str,
        typer.Argument(
            help="The labels: anything ngff convert reads (TIFF folder or file, Zarr/N5 "
            "array, HDF5 dataset, raw, volume_grids, remote)."
        ),
    ],
    name: Annotated[str, typer.Option(help="Name of the label image (IMAGE/labels/NAME).")],
    method: Method = "mode",
    dtype: LabelDtype = None,
    colors: Colors = "auto",
    properties: Properties = None,
    ranges: Annotated[
        str | None,
        typer.Option(
            help=f"Region XMIN:XMAX,YMIN:YMAX,ZMIN:ZMAX of INPUT, {XYZ}, as in ngff convert: "
            "crop labels larger than the image."
        ),
    ] = None,
    input_format: Annotated[
        str | None,
        typer.Option(help="Force the input kind (as ngff convert --input-format)."),
    ] = None,
    allow_gaps: Annotated[
        bool, typer.Option(help="Missing slice numbers become 0 (background).")
    ] = False,
    raw_shape: Annotated[str | None, typer.Option(help=f"Raw input shape, {XYZ}.")] = None,
    raw_dtype: Annotated[str | None, typer.Option(help="Raw input dtype, e.g. uint32.")] = None,
    raw_order: Annotated[str, typer.Option(help="Raw layout: C (x fastest) or F.")] = "C",
    jobs: Jobs = None,
    max_memory: MaxMemory = None,
    executor: ExecutorOpt = None,
    scheduler: Scheduler = None,
    overwrite: Annotated[
        bool,
        typer.Option(help="Replace the label image NAME if it exists (only it; never the image)."),
    ] = False,
    resume: Annotated[
        bool, typer.Option(help="Finish an interrupted labels add with the same options.")
    ] = False,
    dry_run: DryRun = False,
    webknossos: Annotated[
        bool,
        typer.Option(help="Also (re)write IMAGE/webknossos/datasource-properties.json."),
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Add a segmentation as the label image IMAGE/labels/NAME.

    The labels get the image's levels, scales, chunks, shards and units; they must match
    its level 0 on z,y,x. Values must be whole numbers of 0 or more.
    """
    executor, budget = check_run_options(executor, max_memory, scheduler, jobs)
    if resume and overwrite:
        raise typer.BadParameter("choose one of --resume and --overwrite", param_hint="--resume")
    if raw_order not in ("C", "F"):
        raise typer.BadParameter("choose C or F", param_hint="--raw-order")
    region = parse_ranges("--ranges", ranges) if ranges else None
    raw_zyx = tuple(int(v) for v in parse_xyz("--raw-shape", raw_shape)) if raw_shape else None
    # Imported here, not above: `ngff --help` and the other commands load this module too.
    from ngffkit.image import Image
    from ngffkit.labels import add_labels
    from ngffkit.plan import ConversionPlan

    started = time.perf_counter()
    out = image.rstrip("/") + f"/labels/{name}"
    with partial_on_interrupt(out), progress_bar("adding labels", quiet) as progress:
        result = add_labels(
            image,
            input,
            name=name,
            method=method,
            dtype=dtype,
            colors=colors,
            properties=properties,
            region=region,
            input_format=input_format,
            allow_gaps=allow_gaps,
            raw_shape=(raw_zyx[2], raw_zyx[1], raw_zyx[0]) if raw_zyx else None,
            raw_dtype=raw_dtype,
            raw_order=raw_order,
            max_memory=budget,
            jobs=jobs,
            executor=executor,
            scheduler=scheduler,
            overwrite=overwrite,
            resume=resume,
            dry_run=dry_run,
            progress=progress,
            notice=notice_printer(quiet),
        )
    if isinstance(result, ConversionPlan):
        out_console.print(f"labels: {out}", markup=False)
        out_console.print(result.summary(), markup=False)
        return
    assert isinstance(result, Image)
    say(summary(result, time.perf_counter() - started), quiet)
    if webknossos:
        from ngffkit.cli.webknossos_properties import write_for

        write_for(image, quiet)


def summary(label: object, seconds: float) -> str:
    """The ``done:`` line of a label image just written."""
    from ngffkit.image import Image

    assert isinstance(label, Image)
    values = ((label.multiscale.metadata or {}).get("label_values")) or {}
    count = values.get("count")
    parts = [f"{len(label.levels)} levels", str(label.dtype)]
    if "min" in values and "max" in values:  # measured (a skipped read records none)
        parts.append(
            f"values {values['min']}..{values['max']}"
            + (f" ({count} distinct)" if count is not None else "")
        )
    parts.append(f"{len(label.image_label.colors or ()) if label.image_label else 0} colours")
    return (
        f"done: {label.location.display()} ({', '.join(parts)}) in {seconds:.1f} s, "
        f"peak memory {peak_rss() / 2**20:.0f} MiB"
    )


def register(app: typer.Typer) -> None:
    from ngffkit.cli.app import Command

    if not labels_app.registered_commands:
        labels_app.command("add", cls=Command)(add)
    app.add_typer(labels_app, name="labels")


__all__ = ["add", "labels_app", "register", "summary"]
