"""A WEBKNOSSOS dataset as OME-Zarr: :func:`convert_webknossos` (``ngff convert WK_DATASET``).

A WEBKNOSSOS dataset is a folder with ``datasource-properties.json`` and one folder per
layer (Zarr v2 or v3 arrays with axes ``c,x,y,z``, one per mag: ``1``, ``2-2-1``, ...),
padded to whole shards; the true extent is the layer's ``boundingBox``. Each color layer
becomes one image (axes ``c,z,y,x``) and every segmentation layer with the same bounding
box its label image. What is kept:

- the voxel size and unit (``scale``), the bounding box's corner as the translation;
- the mags as the levels, where they form a power-of-two ladder: the pyramid follows
  WEBKNOSSOS's factors, and where the bounding box's corner falls on whole voxels of every
  mag the coarser levels hold WEBKNOSSOS's own downsampled data (copied over the levels the
  bricks wrote; ``recompute`` keeps ours). Other ladders are planned anew.

Layers in WKW format are read through the ``wkw`` package (``sources/wkw_array.py``);
without it they are refused with how to install it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from ngffkit._dask import cluster_budget, runs_here
from ngffkit.errors import InputError, OptionError
from ngffkit.execution import Notice, Progress
from ngffkit.image import Image, open_image
from ngffkit.labels import add_labels
from ngffkit.markers import PARTIAL_MARKER
from ngffkit.plan import ConversionPlan
from ngffkit.plan_writer import is_complete, write_plan
from ngffkit.source_plan import convert_options, plan_source
from ngffkit.sources import SourceSpec, open_source
from ngffkit.storage import Location, resolve
from ngffkit.webknossos import WkDataset, WkLayer, WkMag, read_dataset

READABLE_FORMATS = ("zarr", "zarr3", "wkw")


def convert_webknossos(
    dataset: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    layer: str | None = None,
    recompute: bool = False,
    version: str = "0.5",
    chunks: int | Sequence[int] | None = None,
    shards: int | Sequence[int] | str | None = None,
    compression: str = "zstd:5",
    max_memory: int | None = None,
    jobs: int | None = None,
    executor: Executor | str | Any = "local",
    scheduler: str | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: Callable[[str], Progress | None] | None = None,
    notice: Notice | None = None,
) -> list[Image]:
    """Convert a WEBKNOSSOS dataset folder to OME-Zarr and return the images written.

    One color layer (or the one ``layer`` names, of any category): ``output`` is the image.
    Several color layers: ``output`` is a folder with ``<layer>.ome.zarr`` per color layer.
    Segmentation layers with a color layer's bounding box become its label images
    (``labels/<layer>``), unless ``layer`` picks one layer alone.

    Parameters:
        dataset: the dataset folder (holding ``datasource-properties.json``).
        output: the image (or the folder of images) to write.
        layer: convert only this layer, as an image of its own.
        recompute: keep the levels computed from mag 1, not the dataset's coarser mags.
        version, chunks, shards, compression: as for :func:`ngffkit.convert`.
        max_memory, jobs, executor, scheduler: as for :func:`ngffkit.convert`.
        overwrite: replace ``output`` (only what is clearly ours to replace).
        resume: finish an interrupted conversion with the same options: images and label
            images already complete are kept, the interrupted one is finished from its
            journal, the rest are written.
        progress: called with a step's name, returns that step's progress callback.
        notice: called with a line of text for what the user should know.

    Raises:
        InputError: the dataset is malformed, or a layer is in a format not read here.
        OptionError: ``layer`` names no layer of the dataset, or both ``resume`` and
            ``overwrite`` are given.
    """
    if resume and overwrite:
        raise OptionError("resume", "choose one of [[resume=True]] and [[overwrite=True]]")
    ds = read_dataset(resolve(dataset))
    if layer is not None:
        chosen = [x for x in ds.layers if x.name == layer]
        if not chosen:
            known = ", ".join(x.name for x in ds.layers)
            raise OptionError(
                "layer", f"{layer!r} is no layer of {ds.root.display()} (layers: {known})"
            )
        images, segs = chosen, []
    else:
        images = [x for x in ds.layers if x.category == "color"]
        segs = [x for x in ds.layers if x.category == "segmentation"]
        if not images:
            names = ", ".join(x.name for x in ds.layers)
            raise InputError(
                f"{ds.root.display()}: no color layer to make the image of (layers: {names}); "
                "name one with [[layer]] to convert it alone"
            )
    for each in (*images, *segs):
        _check_readable(ds, each)
    out = resolve(output)
    run = _Run(
        version, chunks, shards, compression, max_memory, jobs, executor, scheduler,
        overwrite, recompute, progress, notice, resume,
    )  # fmt: skip
    written = []
    for color in images:
        target = out if len(images) == 1 else out.child(f"{color.name}.ome.zarr")
        image = _convert_layer(ds, color, target, run)
        for seg in segs:
            if (seg.top_left, seg.size) != (color.top_left, color.size):
                if notice is not None:
                    notice(
                        f"segmentation layer {seg.name} is not a label image of {color.name}: "
                        "their bounding boxes differ (convert that layer on its own)"
                    )
                continue
            _add_segmentation(seg, image, run)
        written.append(open_image(target))
    return written


@dataclass(frozen=True)
class _Run:
    """The options every layer's conversion shares (as :func:`convert_webknossos` got them)."""

    version: str = "0.5"
    chunks: int | Sequence[int] | None = None
    shards: int | Sequence[int] | str | None = None
    compression: str = "zstd:5"
    max_memory: int | None = None
    jobs: int | None = None
    executor: Any = "local"
    scheduler: str | None = None
    overwrite: bool = False
    recompute: bool = False
    progress: Callable[[str], Progress | None] | None = None
    notice: Notice | None = None
    resume: bool = False


def _check_readable(ds: WkDataset, layer: WkLayer) -> None:
    if layer.data_format not in READABLE_FORMATS:
        raise InputError(
            f"{ds.root.display()}: layer {layer.name} is stored as {layer.data_format!r}; "
            f"ngffkit reads WEBKNOSSOS layers in {', '.join(READABLE_FORMATS)}. Convert it "
            "first (the webknossos library's Dataset.copy_dataset with data_format='zarr3')"
        )
    if layer.mags[0].mag != (1, 1, 1):
        raise InputError(
            f"{ds.root.display()}: layer {layer.name} has no mag 1 (finest: "
            f"{'-'.join(map(str, layer.mags[0].mag))}); the image's level 0 is mag 1"
        )


def mag_ladder(layer: WkLayer) -> list[tuple[int, int, int]] | None:
    """The factors (x, y, z) from each mag to the next, when every one is a power of two;
    None otherwise."""
    steps = []
    for fine, coarse in zip(layer.mags, layer.mags[1:], strict=False):
        step = []
        for f, c in zip(fine.mag, coarse.mag, strict=True):
            if c % f or (c // f) & (c // f - 1):
                return None
            step.append(c // f)
        steps.append(tuple(step))
    return steps  # type: ignore[return-value]


def on_grid(layer: WkLayer) -> bool:
    """Whether every mag's voxel grid starts at the bounding box's corner (so a mag's
    voxels are exactly the blocks of mag-1 voxels our levels stand for)."""
    return all(t % f == 0 for m in layer.mags for t, f in zip(layer.top_left, m.mag, strict=True))


def _source_args(layer: WkLayer, mag: WkMag) -> dict[str, Any]:
    """How :func:`open_source` opens one mag: Zarr by its URL; WKW (no extent of its own)
    by its folder, with the layer's box's far corner in this mag's voxels as extent."""
    if layer.data_format != "wkw":
        return {"input": mag.location.url, "input_format": "zarr"}
    end = [-(-(t + s) // m) for t, s, m in zip(layer.top_left, layer.size, mag.mag, strict=True)]
    return {"input": mag.location.url, "input_format": "wkw", "raw_shape": tuple(end)}


def _region(axes: Sequence[str], layer: WkLayer) -> tuple[tuple[int | None, int | None], ...]:
    box = {a: (t, t + s) for a, t, s in zip("xyz", layer.top_left, layer.size, strict=True)}
    return tuple(box.get(a, (None, None)) for a in axes)


def _convert_layer(ds: WkDataset, layer: WkLayer, out: Location, run: _Run) -> Image:
    if run.resume and is_complete(out):
        return open_image(out)  # finished before the run stopped
    ladder = mag_ladder(layer)
    keep = ladder is not None and not run.recompute and on_grid(layer) and len(layer.mags) > 1
    if not keep and not run.recompute and len(layer.mags) > 1 and run.notice is not None:
        why = "not a power-of-two ladder" if ladder is None else "off the bounding box's grid"
        run.notice(
            f"layer {layer.name}: its mags are {why}; the coarser levels are computed from mag 1"
        )
    plan, spec = _layer_plan(ds, layer, run)
    write_plan(
        out,
        plan,
        spec,
        overwrite=run.overwrite,
        resume=run.resume,
        executor=run.executor,
        scheduler=run.scheduler,
        progress=run.progress(layer.name) if run.progress else None,
        notice=run.notice,
        tool="ngff convert",
        # the coarser levels are WEBKNOSSOS's mags, copied in (computing them is waste)
        fill_levels=(lambda image: copy_mags(layer, image)) if keep else None,
    )
    return open_image(out)


def _layer_plan(ds: WkDataset, layer: WkLayer, run: _Run) -> tuple[ConversionPlan, SourceSpec]:
    """The plan of a layer's image (mag 1 as level 0; the levels follow the mags where they
    form a power-of-two ladder) and the spec that reopens mag 1."""
    jobs, budget = cluster_budget(run.executor, run.scheduler, run.jobs, run.max_memory)
    source = open_source(**_source_args(layer, layer.mags[0]))
    try:
        axes = tuple(source.axes)
        ladder = mag_ladder(layer)
        factors = None
        if ladder is not None:
            factors = tuple(
                tuple(dict(zip("xyz", step, strict=True)).get(a, 1) for a in axes)
                for step in ladder
            )
        options = convert_options(
            version=run.version,
            voxel_size=dict(zip("xyz", ds.voxel_size, strict=True)),
            unit=ds.unit,
            chunks=run.chunks,
            shards=run.shards,
            compression=run.compression,
            levels=len(layer.mags) if factors is not None else None,
            factors=factors,
            method="mode" if layer.category == "segmentation" else "mean",
            region=_region(axes, layer),
            max_memory=budget,
            jobs=jobs,
            name=layer.name,
        )
        plan = plan_source(source, options, here=runs_here(run.executor, run.scheduler))
        source.check_all()
        return plan, source.spec()
    finally:
        source.close()


def _add_segmentation(seg: WkLayer, image: Image, run: _Run) -> None:
    """``seg`` as ``labels/<name>`` of ``image`` (its levels follow the image's); its
    coarser mags copied in when they are the image's levels. On ``resume``, one already
    listed is kept and an interrupted one finished (as ``convert --labels``)."""
    if run.resume and seg.name in image.labels:
        return
    where = image.location.child("labels", seg.name)
    partial = run.resume and where.read(PARTIAL_MARKER) is not None
    args = _source_args(seg, seg.mags[0])
    source = open_source(**args)
    try:
        region = _region(tuple(source.axes), seg)
    finally:
        source.close()
    keep = not run.recompute and on_grid(seg) and _same_ladder(seg, image)
    label = add_labels(
        image,
        args.pop("input"),
        name=seg.name,
        **args,
        largest=seg.largest_segment_id,
        fill_levels=(lambda label: copy_mags(seg, label)) if keep else None,
        region=region,
        max_memory=run.max_memory,
        jobs=run.jobs,
        executor=run.executor,
        scheduler=run.scheduler,
        overwrite=run.overwrite,
        resume=partial,
        progress=run.progress(f"labels {seg.name}") if run.progress else None,
        notice=run.notice,
    )
    assert isinstance(label, Image)


def _same_ladder(layer: WkLayer, image: Image) -> bool:
    """Whether the layer's mags are exactly the image's levels (factor for factor)."""
    if mag_ladder(layer) is None or len(layer.mags) != len(image.levels):
        return False
    names = image.axis_names
    for mag, level in zip(layer.mags, image.levels, strict=True):
        f0 = image.levels[0].factors
        for a, f, base in zip(names, level.factors, f0, strict=True):
            if a in "xyz" and len(a) == 1 and round(f / base) != mag.mag["xyz".index(a)]:
                return False
    return True


def copy_mags(layer: WkLayer, image: Image, slab_bytes: int = 256 * 2**20) -> None:
    """Write each coarser mag's data into the image level it stands for (level k = mag k),
    in slabs along the slowest axis so that memory stays near ``slab_bytes``. ``image`` is
    open for writing (:func:`~ngffkit.plan_writer.write_plan` gives it, still partial)."""
    for k, mag in enumerate(layer.mags[1:], start=1):
        dst = image.levels[k]
        names = dst.axis_names
        start = {a: t // m for a, t, m in zip("xyz", layer.top_left, mag.mag, strict=True)}
        row = max(1, math.prod(dst.shape[1:]) * dst.dtype.itemsize)
        step = max(1, slab_bytes // row)
        with open_source(**_source_args(layer, mag)) as src:
            order = [tuple(src.axes).index(a) for a in names]
            for lo in range(0, dst.shape[0], step):
                hi = min(dst.shape[0], lo + step)
                box = [slice(0, src.shape[tuple(src.axes).index(a)]) for a in src.axes]
                for a in src.axes:
                    i = names.index(a)
                    first = start.get(a, 0) + (lo if i == 0 else 0)
                    size = (hi - lo) if i == 0 else dst.shape[i]
                    box[tuple(src.axes).index(a)] = slice(first, first + size)
                data = src.read(tuple(box))
                dst.write(data.transpose(order), [lo] + [0] * (len(names) - 1))


__all__ = ["READABLE_FORMATS", "convert_webknossos", "copy_mags", "mag_ladder"]
