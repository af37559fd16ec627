"""``ngffkit.convert``: an input (stack, file, array) to a multiscale OME-Zarr image.

``plan_convert`` opens and checks the input and plans (nothing is written); ``convert``
(and ``write``, behind ``ngff convert``) then hands the plan to
:func:`ngffkit.plan_writer.write_plan`, which writes it so that nothing unfinished looks
finished. ``resume=True`` continues a partial output made by the same plan.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from ngffkit._dask import cluster_budget, runs_here
from ngffkit._output import check_apart
from ngffkit.errors import NgffWarning, OptionError
from ngffkit.execution import Notice, Progress
from ngffkit.grid import given_per_axis
from ngffkit.image import Image, open_image
from ngffkit.metadata.models import is_space_name
from ngffkit.plan import ConversionPlan
from ngffkit.plan_writer import write_plan
from ngffkit.rendering import percentiles
from ngffkit.source_plan import convert_options, plan_source
from ngffkit.sources import SourceSpec
from ngffkit.sources.channels import open_inputs
from ngffkit.storage import Location, StorageOptionsArg, accepts_storage_options, resolve


def estimate_window(source: Any, samples: int = 16, edge: int = 2048) -> tuple[float, float]:
    """A contrast window from a sample of the input: 0.1 and 99.9 percentiles of the
    non-zero voxels (zero is the mask of masked scroll volumes) of up to ``samples`` slices."""
    axes = list(source.axes)
    z_axis = axes.index("z")
    shape = source.shape
    values = []
    for z in np.linspace(0, shape[z_axis] - 1, min(samples, shape[z_axis])).astype(int):
        box = []
        for i, extent in enumerate(shape):
            if i == z_axis:
                box.append(slice(int(z), int(z) + 1))
            elif axes[i] in ("y", "x"):
                lo = max(0, extent // 2 - edge // 2)
                box.append(slice(lo, min(extent, lo + edge)))
            else:
                box.append(slice(0, extent))
        data = np.asarray(source.read(tuple(box))).ravel()
        values.append(data[data != 0] if np.any(data) else data)
    sample = np.concatenate(values)
    lo, hi = percentiles(sample, (0.1, 99.9))
    return (lo, hi if hi > lo else lo + 1)


_PLAN_PARAMETERS = """
    input: a folder of slices (TIFF, PNG, JPEG...), a TIFF or OME-TIFF file, a
        ``volume_grids`` folder, a Zarr, N5 or precomputed array, an HDF5 dataset
        (``"FILE.h5:/path"``), a raw file (with ``raw_shape`` and ``raw_dtype``), local or
        at a URL; or a :class:`~ngffkit.sources.SourceSpec`; or a list of them, one per
        channel.
    output: where the image goes (a folder or a URL: ``file://``, ``s3://``, ``gs://``,
        ``memory://``).
    version: the OME-Zarr version: ``"0.5"`` (Zarr v3, sharded) or ``"0.4"`` (Zarr v2).
    voxel_size: the physical size of a voxel: one number for every spatial axis, a
        :class:`~ngffkit.Voxel` or a mapping by axis name (``{"x": 11.24, "y": 11.24,
        "z": 25}``), or a sequence in array order (z,y,x). Default: the input's own, else 1.
    unit: the unit of ``voxel_size`` (a UDUNITS name: ``"micrometer"``, ``"nanometer"``).
        Default: the input's own, else none.
    chunks: the chunk shape: one number for every spatial axis or one per axis (array
        order). Default: 64 for 0.5, 128 for 0.4.
    shards: the shard shape (0.5 only), a multiple of the chunks: one number or one per
        axis, or ``"none"`` for unsharded 0.5. Default: 4 chunks per axis. Both are clipped
        to the image alike.
    compression: ``"zstd[:L]"``, ``"blosc-zstd[:L]"``, ``"blosc-lz4[:L]"``,
        ``"gzip[:L]"`` or ``"none"``.
    levels: how many levels, level 0 included; None: until a level fits in one chunk.
    method: how levels are downsampled: ``"mean"``, ``"nearest"``, ``"gaussian"``,
        ``"median"``, ``"mode"`` (labels), ``"min"`` or ``"max"``.
    anisotropic: downsample only the finer axes until voxels are near-isotropic (EM data);
        False halves every spatial axis at each level.
    region: the part of the input to convert, ``(start, stop)`` voxels per axis in array
        order (None for an open end; one pair per spatial axis or per axis).
    crop_to_origin: put the ``region`` at the origin instead of where it was.
    dtype: the output dtype (``"uint16"``). A cast that keeps every value needs nothing
        more; any other needs ``window``.
    window: ``(lo, hi)`` input values mapped linearly onto the ``dtype`` range (clipped
        outside), or ``"auto"`` to measure one from the input; recorded in the metadata.
    max_memory: the memory budget of the whole run, in bytes. Default: 2 GiB, or on a
        running Dask cluster what its workers may hold.
    jobs: how many bricks run at once. Default: from the CPUs (or the cluster's threads)
        and the budget.
    executor: ``"local"`` (threads), ``"dask"`` (the cluster at ``scheduler``, or a
        LocalCluster of processes started for the run), a ``distributed.Client`` or any
        ``concurrent.futures.Executor``.
    scheduler: the address (``tcp://HOST:PORT``) or scheduler file of a running Dask
        cluster, with ``executor="dask"``.
    write_empty_chunks: store chunks that hold only the fill value (skipped by default).
    name: the image name in the metadata. Default: the output's name less ``.ome.zarr``.
    input_format: force the input kind: ``"tiff-folder"``, ``"image-folder"``,
        ``"tiff"``, ``"volume-grids"``, ``"zarr"``, ``"n5"``, ``"precomputed"``,
        ``"raw"`` or ``"hdf5"``. Default: detected.
    allow_gaps: missing slice numbers in a folder become fill value instead of an error.
    raw_shape: the shape of a raw input, x,y,z (as raw files are usually described).
    raw_dtype: the dtype of a raw input (``"uint16"``).
    raw_order: the layout of a raw input: ``"C"`` (x fastest) or ``"F"``.
    channel_names: the channels' names, when several inputs (a list) become the channels
        of one image (default: after the inputs) or to rename the input's own channels.
    pattern: read a folder of files named like ``img_t{t}_c{c}_z{z}.tif`` as t,c,z
        (numbers or words; see docs/channels.md).
    time_step: the t axis's step (over the input's own, e.g. OME-TIFF's TimeIncrement).
    time_unit: the t axis's unit (``"second"``, ``"millisecond"``...)."""

_RAISES = """Raises:
    OptionError: an option value is invalid (``error.option`` names the parameter).
    InputError: the input cannot be read or is not what it should be.
    ConflictError: ``output`` holds data that is not ours to replace, or a partial run of
        another plan.
    StorageError: a store could not be read or written, or the Dask scheduler could not be
        reached.
"""


@accepts_storage_options
def plan_convert(
    input: str | os.PathLike[str] | SourceSpec | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    version: str = "0.5",
    voxel_size: float | Sequence[float] | Mapping[str, float] | None = None,
    unit: str | None = None,
    chunks: int | Sequence[int] | None = None,
    shards: int | Sequence[int] | str | None = None,
    compression: str = "zstd:5",
    levels: int | None = None,
    method: str = "mean",
    anisotropic: bool = True,
    region: Sequence[tuple[int | None, int | None]] | None = None,
    crop_to_origin: bool = False,
    dtype: str | None = None,
    window: tuple[float, float] | str | None = None,
    max_memory: int | None = None,
    jobs: int | None = None,
    executor: Executor | str | Any = "local",
    scheduler: str | None = None,
    write_empty_chunks: bool = False,
    name: str | None = None,
    input_format: str | None = None,
    allow_gaps: bool = False,
    raw_shape: tuple[int, int, int] | None = None,
    raw_dtype: str | None = None,
    raw_order: str = "C",
    channel_names: Sequence[str] | None = None,
    pattern: str | None = None,
    time_step: float | None = None,
    time_unit: str | None = None,
    zarr_only: bool = False,
    storage_options: StorageOptionsArg = None,
) -> ConversionPlan:
    """What :func:`convert` would do with these arguments, decided without writing anything.

    The plan holds the levels (shapes, chunks, shards, codecs), the region, the cast and
    how the work is cut into bricks; ``print(plan)`` shows it as ``ngff convert --dry-run``
    does. The input is opened and its metadata read; ``output`` is not touched.

    Parameters:
        {parameters}
        zarr_only: plan one plain Zarr array (no OME metadata, no pyramid), as
            ``ngff convert --zarr-only`` writes.
        storage_options: how remote stores are reached (a mapping of ``headers``,
            ``s3_endpoint``, ``anonymous``, ``timeout``...; see docs/remote.md).

    Returns:
        The :class:`ConversionPlan`.

    {raises}
    """
    plan, _source, _out = _planned(
        input,
        output,
        {key: value for key, value in locals().items() if key in _PLANNING},
        zarr_only=zarr_only,
        check=False,
    )
    return plan


@accepts_storage_options
def convert(
    input: str | os.PathLike[str] | SourceSpec | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    version: str = "0.5",
    voxel_size: float | Sequence[float] | Mapping[str, float] | None = None,
    unit: str | None = None,
    chunks: int | Sequence[int] | None = None,
    shards: int | Sequence[int] | str | None = None,
    compression: str = "zstd:5",
    levels: int | None = None,
    method: str = "mean",
    anisotropic: bool = True,
    region: Sequence[tuple[int | None, int | None]] | None = None,
    crop_to_origin: bool = False,
    dtype: str | None = None,
    window: tuple[float, float] | str | None = None,
    max_memory: int | None = None,
    jobs: int | None = None,
    executor: Executor | str | Any = "local",
    scheduler: str | None = None,
    write_empty_chunks: bool = False,
    name: str | None = None,
    input_format: str | None = None,
    allow_gaps: bool = False,
    raw_shape: tuple[int, int, int] | None = None,
    raw_dtype: str | None = None,
    raw_order: str = "C",
    channel_names: Sequence[str] | None = None,
    pattern: str | None = None,
    time_step: float | None = None,
    time_unit: str | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: Progress | None = None,
    notice: Notice | None = None,
    storage_options: StorageOptionsArg = None,
) -> Image:
    """Convert ``input`` to a multiscale OME-Zarr image at ``output`` and return it opened.

    Name the axes of a voxel size: ``voxel_size=Voxel(x=11.24, y=11.24, z=25)`` — a bare
    sequence is array order, z,y,x (the CLI's x,y,z triple pasted here would swap x and z).
    :func:`plan_convert` takes the same arguments and returns the plan without writing.

    Parameters:
        {parameters}
        overwrite: replace ``output`` if it exists (only what is clearly ours to replace).
        resume: finish an interrupted conversion of the same input with the same options.
        progress: called as ``progress(done, total)`` as bricks finish.
        notice: called with a line of text for what the user should know as it happens
            (a cluster started, a resume that found nothing to resume).
        storage_options: how remote stores are reached (a mapping of ``headers``,
            ``s3_endpoint``, ``anonymous``, ``timeout``...; see docs/remote.md).

    Returns:
        The new :class:`Image`, opened.

    {raises}
    """
    options = {key: value for key, value in locals().items() if key in _PLANNING}
    out = write(
        input,
        output,
        options,
        zarr_only=False,
        overwrite=overwrite,
        resume=resume,
        progress=progress,
        notice=notice,
    )[1]
    return open_image(out)


def _filled(doc: str | None) -> str:
    """A public function's docstring with the shared parameters and errors filled in."""
    parameters = _PLAN_PARAMETERS.strip("\n").replace("\n    ", "\n        ").lstrip()
    raises = _RAISES.strip("\n").replace("\n", "\n    ")
    return (doc or "").format(parameters=parameters, raises=raises)


plan_convert.__doc__ = _filled(plan_convert.__doc__)
convert.__doc__ = _filled(convert.__doc__)

# The keywords that decide the plan, with their defaults: plan_convert's own, declared once
# there (convert declares the same ones, as tests/test_convert.py checks, for its users'
# signature help and type checking).
_PLANNING: dict[str, Any] = {
    name: parameter.default
    for name, parameter in inspect.signature(plan_convert).parameters.items()
    if parameter.kind is parameter.KEYWORD_ONLY and name not in ("zarr_only", "storage_options")
}


def write(
    input: str | os.PathLike[str] | SourceSpec | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    options: Mapping[str, Any],
    *,
    zarr_only: bool = False,
    overwrite: bool = False,
    resume: bool = False,
    progress: Progress | None = None,
    notice: Notice | None = None,
) -> tuple[ConversionPlan, Location]:
    """Plan and write a conversion (``options``: :func:`convert`'s planning keywords);
    return the plan it ran and the output. The one writer behind :func:`convert` and
    ``ngff convert``, whose ``--zarr-only`` writes a plain array (no image to open)."""
    plan, spec, out = _planned(input, output, options, zarr_only=zarr_only, check=True)
    write_plan(
        out,
        plan,
        spec,
        overwrite=overwrite,
        resume=resume,
        executor=options.get("executor", "local"),
        scheduler=options.get("scheduler"),
        progress=progress,
        notice=notice,
    )
    return plan, out


def _planned(
    input: str | os.PathLike[str] | SourceSpec | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    given: Mapping[str, Any],
    *,
    zarr_only: bool,
    check: bool,
) -> tuple[ConversionPlan, SourceSpec, Location]:
    """Open the input and plan; with ``check``, also warn of what the plan guessed and
    check every input file and that input and output are apart (before a write)."""
    unknown = sorted(set(given) - set(_PLANNING))
    if unknown:  # a caller's mistake in ngffkit, not the user's
        raise TypeError(f"not planning options: {', '.join(unknown)}")
    kw = {key: given.get(key, default) for key, default in _PLANNING.items()}
    out = resolve(output)
    executor, scheduler = kw["executor"], kw["scheduler"]
    jobs, budget = cluster_budget(executor, scheduler, kw["jobs"], kw["max_memory"])
    source = open_inputs(
        input,
        pattern=kw["pattern"],
        input_format=kw["input_format"],
        allow_gaps=kw["allow_gaps"],
        raw_shape=kw["raw_shape"],
        raw_dtype=kw["raw_dtype"],
        raw_order=kw["raw_order"],
    )
    try:
        spec = source.spec()
        space = [a for a in source.axes if is_space_name(a)]
        voxel_size, window, dtype, region = (
            kw["voxel_size"],
            kw["window"],
            kw["dtype"],
            kw["region"],
        )
        voxel = (
            None
            if voxel_size is None
            else given_per_axis(voxel_size, space, float, what="voxel size")
        )
        win: tuple[float, float] | None
        if window is not None and dtype is None:
            raise OptionError(
                "window", "a window maps input values onto another dtype; give the dtype too"
            )
        if window == "auto":
            win = estimate_window(source)
        elif isinstance(window, str):
            raise OptionError("window", f"{window!r} must be (LO, HI) numbers or 'auto'")
        else:
            win = window
        name = kw["name"]
        options = convert_options(
            version=kw["version"],
            voxel_size=voxel,
            unit=kw["unit"],
            chunks=kw["chunks"],
            shards=kw["shards"],
            compression=kw["compression"],
            levels=kw["levels"],
            method=kw["method"],
            anisotropic=kw["anisotropic"],
            region=tuple(region) if region else None,
            crop_to_origin=kw["crop_to_origin"],
            dtype=dtype,
            window=win,
            window_auto=window == "auto",
            max_memory=budget,
            jobs=jobs,
            write_empty_chunks=kw["write_empty_chunks"],
            zarr_only=zarr_only,
            name=name if name is not None else _default_name(out),
            channel_names=(tuple(kw["channel_names"]) if kw["channel_names"] is not None else None),
            time_step=kw["time_step"],
            time_unit=kw["time_unit"],
        )
        plan = plan_source(source, options, here=runs_here(executor, scheduler))
        if check:
            for note in plan.notes:
                if note.startswith("no voxel size") or note.startswith("no unit"):
                    # the caller of convert: _planned, write, convert, its storage-options wrapper
                    warnings.warn(note, NgffWarning, stacklevel=5)
            for part in spec.parts or (spec,):
                path = part.path
                check_apart(Path(path) if path and "://" not in path else None, out)
            source.check_all()
    finally:
        source.close()
    return plan, spec, out


def _default_name(out: Location) -> str:
    name = out.name
    for suffix in (".ome.zarr", ".zarr"):
        if name.endswith(suffix):
            return name[: -len(suffix)] or name
    return name


__all__ = ["Progress", "convert", "estimate_window", "plan_convert", "write"]
