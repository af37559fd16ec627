"""Label images: a segmentation written as ``IMAGE/labels/NAME`` beside the image it labels.

A label image is a conversion whose layout comes from the image (OME-Zarr spec: the same
number of levels with the same scales; here also the image's chunks, shards, Zarr format,
axes and units), downsampled with ``mode`` (or ``nearest``, never ``mean``). Work order:

1. open the image and the input; check the input covers the image's level 0 voxel for voxel
   on the space axes (1 is allowed on t and c);
2. read the input once to learn its values (:func:`scan_labels`, bounded memory: one brick
   per worker, distinct values merged up to :data:`MAX_COLORS`): negative or fractional
   values are refused, and the smallest unsigned type that holds them is chosen;
3. run the plan as ``convert`` does (lock, partial marker, bricks, ``--resume``), with
   ``image-label`` (colours, properties, ``source``) in the label image's metadata;
4. list the name in the ``labels`` group last. The image itself is never written to.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from ngffkit._dask import cluster_budget, runs_here
from ngffkit._output import check_apart, output_lock
from ngffkit.errors import InputError, OptionError
from ngffkit.execution import Notice, Progress, cpu_count
from ngffkit.image import Image, open_image
from ngffkit.kernels import downsample, level_translation
from ngffkit.label_metadata import (
    ColorsArg,
    PropertiesArg,
    explicit_colors,
    image_label,
    label_properties,
)
from ngffkit.label_values import (
    MAX_COLORS,
    LabelValues,
    brick_values,
    forced_dtype,
    known_dtype,
    label_dtype,
    merge_values,
    scan_boxes,
    scan_labels,
)
from ngffkit.metadata import ImageLabel
from ngffkit.plan import ConversionPlan, ConvertOptions, make_plan
from ngffkit.plan_writer import write_plan
from ngffkit.source_plan import Frame, convert_options, plan_source
from ngffkit.sources import SourceSpec, open_source
from ngffkit.spec import ImageSpec
from ngffkit.storage import StorageOptionsArg, accepts_storage_options
from ngffkit.writer import create_image, finish_image, write_labels_group

LABEL_METHODS = ("mode", "nearest")
"""Downsampling methods that keep label values (a mean would invent labels)."""


def image_factors(image: Image) -> tuple[tuple[int, ...], ...]:
    """The image's downsampling factor from each level to the next (whole numbers)."""
    out = []
    for fine, coarse in zip(image.levels, image.levels[1:], strict=False):
        step = [c / f for c, f in zip(coarse.factors, fine.factors, strict=True)]
        if any(abs(s - round(s)) > 1e-6 or round(s) < 1 for s in step):
            raise InputError(
                f"{image.url}: level {coarse.index} is not a whole-number downsampling of "
                f"level {fine.index} (factors {step}); labels follow an image's pyramid "
                "level for level, so this one cannot be followed"
            )
        out.append(tuple(round(s) for s in step))
    return tuple(out)


def label_axes(image: Image, axes: Sequence[str]) -> tuple[int, ...]:
    """Axes of the image that the label input lacks (inserted, size 1): t and c only."""
    names = image.axis_names
    if tuple(axes) == names:
        return ()
    missing = [i for i, n in enumerate(names) if n not in axes]
    kept = [n for n in names if n in axes]
    if (
        len(kept) == len(axes)
        and tuple(kept) == tuple(axes)
        and all(image.axes[i].type in ("time", "channel") for i in missing)
    ):
        return tuple(missing)
    raise InputError(
        f"the labels' axes {','.join(axes)} do not match the image's ({','.join(names)}); "
        "a label image has the image's space axes (t and c may be left out)"
    )


def check_label_shape(image: Image, shape: Sequence[int]) -> None:
    """Space axes equal the image's level 0; t and c are 1 or the image's."""
    level0 = image.levels[0].shape
    ok = all(
        s == m or (a.type in ("time", "channel") and s == 1)
        for s, m, a in zip(shape, level0, image.axes, strict=True)
    )
    if not ok:
        names = ",".join(image.axis_names)
        raise InputError(
            f"the labels' shape {_fmt(shape)} ({names}) differs from the image's level 0 "
            f"{_fmt(level0)}: a label image covers the image voxel for voxel on its space "
            "axes (1 is allowed on t and c); crop the labels with [[region]] if they are larger"
        )


def _fmt(values: Sequence[int]) -> str:
    return "×".join(str(v) for v in values)


def label_spec(
    image: Image,
    spec: ImageSpec,
    factors: Sequence[Sequence[int]],
    *,
    dtype: np.dtype[Any],
    method: str,
    meta: ImageLabel,
    values: LabelValues | None,
) -> ImageSpec:
    """``spec`` with the image's axes (units), scales and origin, and the label metadata."""
    scale0 = image.levels[0].scale
    origin = image.levels[0].translation
    levels = []
    cum = [1] * len(scale0)
    for k, level in enumerate(spec.levels):
        if k:
            cum = [c * f for c, f in zip(cum, factors[k - 1], strict=True)]
        shift = tuple(
            o + s * level_translation(method, c)
            for o, s, c in zip(origin, scale0, cum, strict=True)
        )
        levels.append(
            level.model_copy(
                update={
                    "scale": image.levels[k].scale,  # the spec's MUST: the image's own scales
                    "translation": shift if any(shift) else None,
                }
            )
        )
    from ngffkit import __version__

    metadata: dict[str, Any] = {
        "description": f"{method} downsampling",
        "method": f"ngffkit.kernels.{method}",
        "version": __version__,
    }
    if values is not None:
        metadata["label_values"] = {"min": values.min, "max": values.max, "count": values.count}
    return spec.model_copy(
        update={
            "axes": image.axes,
            "levels": tuple(levels),
            "dtype": dtype.name,
            "image_label": meta,
            "metadata": metadata,
            "cast": None,
        }
    )


def label_options(
    image: Image, factors: Sequence[Sequence[int]], *, method: str, name: str, **more: Any
) -> ConvertOptions:
    """Conversion options whose plan has the image's Zarr format, chunks, shards and levels
    (``more``: the region, the memory budget, the jobs)."""
    level0 = image.levels[0]
    return convert_options(
        version=image.version,
        chunks=level0.chunks,
        shards=(level0.shards or "none") if image.zarr_format == 3 else None,
        levels=len(image.levels),
        factors=tuple(tuple(int(f) for f in step) for step in factors),
        method=method,
        crop_to_origin=True,  # the label image's origin is the image's (label_spec)
        name=name,
        **more,
    )


def _unlisted(image: Image, name: str, overwrite: bool) -> list[str]:
    """The names the ``labels`` group lists; NAME taken off while it is rewritten, so a
    reader never meets a half-written label image."""
    names = list(open_image(image.location).labels)
    if name in names and overwrite:
        write_labels_group(image.location, [n for n in names if n != name], image.version)
    return names


# -- writing -----------------------------------------------------------------------------


def check_label_name(name: str) -> None:
    """Refuse a name that is no folder name (it becomes ``labels/NAME``)."""
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name or "") or name in (".", ".."):
        raise OptionError(
            "name",
            f"{name!r} is not a label name; use letters, digits, '-', '_' and '.' (it "
            "becomes the folder labels/NAME)",
        )


@accepts_storage_options
def add_labels(
    image: str | os.PathLike[str] | Image,
    input: str | os.PathLike[str] | SourceSpec | np.ndarray,
    *,
    name: str,
    method: str = "mode",
    dtype: str | None = None,
    colors: ColorsArg = "auto",
    properties: PropertiesArg = None,
    region: Sequence[tuple[int | None, int | None]] | None = None,
    input_format: str | None = None,
    allow_gaps: bool = False,
    raw_shape: tuple[int, int, int] | None = None,
    raw_dtype: str | None = None,
    raw_order: str = "C",
    max_memory: int | None = None,
    jobs: int | None = None,
    executor: Executor | str | Any = "local",
    scheduler: str | None = None,
    overwrite: bool = False,
    resume: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    notice: Notice | None = None,
    largest: int | None = None,
    fill_levels: Callable[[Image], None] | None = None,
    storage_options: StorageOptionsArg = None,
) -> Image | ConversionPlan:
    """Write ``input`` (anything :func:`ngffkit.convert` reads, or a numpy array in the
    image's axis order) as the label image ``labels/<name>`` of ``image``.

    The labels take the image's levels, scales, chunks, shards and Zarr format, are
    downsampled with ``method`` (``mode`` or ``nearest``) and stored as the smallest
    unsigned type that holds their values (``dtype`` forces one that holds them).
    ``colors``: ``"auto"`` (a distinct colour per value found), ``"none"``, a CSV file of
    ``label-value,r,g,b[,a]`` or a ``{value: (r, g, b[, a])}`` mapping. ``properties``: a
    CSV file with a ``label-value`` column, or a list of dicts. ``region`` (start, stop per
    axis, array order) crops a larger input as ``convert`` does. ``overwrite`` replaces an
    existing label image of that name (only it); the image is never written to. Returns the
    label image opened, or the plan with ``dry_run=True``.

    Parameters:
        image: the image (a path, a URL or an opened :class:`Image`) that gets the labels.
        input: the segmentation: any input ``convert`` reads, or a numpy array.
        name: the label image's name (``labels/<name>``).
        method: ``mode`` (the default) or ``nearest``; never a mean.
        dtype: force this unsigned type (it must hold every value).
        colors: ``"auto"``, ``"none"``, a CSV file or a mapping (see above).
        properties: a CSV file with a ``label-value`` column, or a list of dicts.
        region: crop the input, (start, stop) per axis in array order.
        input_format: force the input kind, as for ``convert``.
        allow_gaps: missing slice numbers become the fill value instead of an error.
        raw_shape: a raw input's shape (z, y, x).
        raw_dtype: a raw input's dtype.
        raw_order: a raw input's layout, ``C`` (x fastest) or ``F``.
        max_memory: the memory budget in bytes (default: as ``convert``).
        jobs: parallel tasks (default: the cores).
        executor: ``"local"``, ``"dask"`` or a ``concurrent.futures.Executor``/Dask client.
        scheduler: a Dask scheduler's address or scheduler file.
        overwrite: replace a label image of that name (only it).
        resume: finish an interrupted run with the same input and options.
        dry_run: plan only and return the plan; nothing is written.
        progress: called with (done, total) bricks as the run goes.
        notice: called with each notice (a line of text) the run gives.
        largest: the largest label value, when the input states it (a WEBKNOSSOS layer's
            ``largestSegmentId``): an unsigned input is then not read for its values first
            and keeps its own type (or a wider ``dtype``); no colours are listed.
        fill_levels: writes the label image's coarser levels instead of computing them
            (called with the label image open for writing, still partial, its levels'
            shapes and scales the image's); level 0 alone is written from the input.
        storage_options: how to reach a remote image (as for ``convert``).

    Returns:
        The label image, opened (the :class:`ConversionPlan` with ``dry_run=True``).

    Raises:
        InputError: the labels do not fit the image (shape, values, type).
        OptionError: an option is not valid.
        ConflictError: the label image exists and ``overwrite`` was not given.
    """
    check_label_name(name)
    if method not in LABEL_METHODS:
        raise OptionError(
            "method",
            f"{method!r} does not keep label values; labels are downsampled with mode "
            "(the most frequent label) or nearest",
        )
    if dtype is not None:
        forced_dtype(dtype)
    img = image if isinstance(image, Image) else open_image(image)
    if img.version not in ("0.4", "0.5"):
        raise InputError(f"{img.url} is OME-Zarr {img.version}; labels are written for 0.4 and 0.5")
    chosen_colors = explicit_colors(colors)
    props = label_properties(properties)
    factors = image_factors(img)
    out = img.location.child("labels", name)
    if isinstance(input, np.ndarray):
        return _add_array(img, input, name, method, dtype, chosen_colors, props, factors, overwrite)
    jobs, budget = cluster_budget(executor, scheduler, jobs, max_memory)
    source = open_source(
        input,
        input_format=input_format,
        allow_gaps=allow_gaps,
        raw_shape=raw_shape,
        raw_dtype=raw_dtype,
        raw_order=raw_order,
    )
    try:
        src_spec = source.spec()
        expand = label_axes(img, source.axes)
        shape = list(source.shape)
        for i in expand:
            shape.insert(i, 1)
        options = label_options(
            img,
            factors,
            method=method,
            name=name,
            region=tuple(region) if region else None,
            max_memory=budget,
            jobs=jobs,
        )
        space_unit = next((a.unit for a in img.axes if a.type == "space" and a.unit), None)
        frame = Frame(tuple(shape), img.axis_names, img.voxel_size, space_unit)
        plan = plan_source(source, options, frame=frame, here=runs_here(executor, scheduler))
        check_label_shape(img, plan.spec.levels[0].shape)
        where = str(getattr(src_spec, "path", input))
        values = None
        known = known_dtype(
            source.dtype, dtype, largest=largest, colors_auto=chosen_colors == "auto"
        )
        if dry_run:
            out_dtype = np.dtype(dtype) if dtype else np.dtype(_dry_run_dtype(source.dtype))
        elif known is not None:
            # The type holds every input value by itself: no cast can change one, so the
            # values need not be read first (the write still refuses nothing it cannot keep).
            check_apart(Path(src_spec.path) if "://" not in src_spec.path else None, out)
            source.check_all()
            out_dtype = known
            if notice is not None and chosen_colors == "auto":
                notice(
                    f"labels {name}: values not read first (largest {largest}); no colours listed"
                )
        else:
            check_apart(Path(src_spec.path) if "://" not in src_spec.path else None, out)
            source.check_all()
            src_region = [r for i, r in enumerate(plan.region) if i not in expand]
            if notice is not None:
                notice(f"reading the label values of {where} (then writing the levels)")
            values = scan_labels(
                source,
                src_region,
                jobs=jobs or cpu_count(),
                room=plan.data_memory,
                where=where,
                progress=progress,
            )
            out_dtype = label_dtype(values, dtype)
        meta, note = image_label(
            values.values if values else None,
            chosen_colors,
            props,
            too_many=MAX_COLORS if values else None,
        )
        spec = label_spec(
            img, plan.spec, factors, dtype=out_dtype, method=method, meta=meta, values=values
        )
        if largest is not None and values is None:
            record = {"max": largest, "stated": True}
            spec = spec.model_copy(
                update={"metadata": {**(spec.metadata or {}), "label_values": record}}
            )
        notes = tuple(n for n in plan.notes if not n.startswith("no voxel size"))
        if dry_run:
            notes += ("the label type is chosen from the values when the labels are written",)
        plan = dataclasses.replace(plan, spec=spec, notes=notes, window=None)
        if dry_run:
            return plan
    finally:
        source.close()
    if note and notice is not None:
        notice(note)
    with output_lock(
        img.location,
        "ngff labels add",
        new_output=False,
        denied_hint="adding labels needs write access to IMAGE/labels",
    ):
        names = _unlisted(img, name, overwrite)
        write_plan(
            out,
            plan,
            src_spec,
            overwrite=overwrite,
            resume=resume,
            executor=executor,
            scheduler=scheduler,
            progress=progress,
            notice=notice,
            tool="ngff labels add",
            expand=expand,
            fill_levels=fill_levels,
        )
        write_labels_group(img.location, _listed(names, name), img.version)
    return open_image(out)


def _listed(names: Sequence[str], name: str) -> list[str]:
    return list(names) if name in names else [*names, name]


def _dry_run_dtype(dtype: np.dtype[Any]) -> str:
    if dtype.kind == "u":
        return dtype.name
    if dtype.kind == "i":
        return f"uint{dtype.itemsize * 8}"
    return "uint32"


def _add_array(
    img: Image,
    data: np.ndarray,
    name: str,
    method: str,
    dtype: str | None,
    colors: dict[int, tuple[int, int, int, int]] | str,
    properties: list[dict[str, Any]] | None,
    factors: Sequence[Sequence[int]],
    overwrite: bool,
) -> Image:
    """An array already in memory: checked, cast, downsampled and written level by level."""
    if data.ndim != len(img.axes):
        raise InputError(
            f"the label array has {data.ndim} dimensions; the image has {len(img.axes)} "
            f"({','.join(img.axis_names)})"
        )
    check_label_shape(img, data.shape)
    values = merge_values(iter([brick_values(data, "the label array")]))
    out_dtype = label_dtype(values, dtype)
    meta, _note = image_label(values.values, colors, properties, too_many=MAX_COLORS)
    options = label_options(img, factors, method=method, name=name)
    plan = make_plan(
        data.shape,
        out_dtype,
        img.axis_names,
        options,
        source_voxel_size=img.voxel_size,
        window_cheap=True,  # an array in memory
    )
    spec = label_spec(
        img, plan.spec, factors, dtype=out_dtype, method=method, meta=meta, values=values
    )
    out = img.location.child("labels", name)
    with output_lock(img.location, "ngff labels add", new_output=False):
        names = _unlisted(img, name, overwrite)
        with output_lock(out, "ngff labels add"):
            partial = create_image(out, spec, overwrite=overwrite)
            level_data = data.astype(out_dtype)
            for k, level in enumerate(partial.levels):
                if k:
                    level_data = downsample(level_data, factors[k - 1], method)
                level.write(level_data)
            finish_image(out, spec)
        write_labels_group(img.location, _listed(names, name), img.version)
    return open_image(out)


__all__ = [
    "LABEL_METHODS",
    "MAX_COLORS",
    "LabelValues",
    "add_labels",
    "brick_values",
    "check_label_name",
    "check_label_shape",
    "forced_dtype",
    "image_factors",
    "label_axes",
    "label_dtype",
    "label_options",
    "label_spec",
    "merge_values",
    "scan_boxes",
    "scan_labels",
]
