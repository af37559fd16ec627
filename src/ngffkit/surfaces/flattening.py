"""``flatten``: write the layers of a surface, sampled from a volume, as TIFFs or OME-Zarr.

Data flows one way: the surface and volume are opened, a survey pass over the surface's
geometry finds each tile's box of voxels (:class:`FlattenPlan`: tiles, memory, volume
bytes, bounding boxes; ``dry_run`` stops here), then bands of rows are rendered
(:func:`.render.render_rows`) and handed to the output (:mod:`.outputs`), which records each
finished band in a journal so ``resume`` continues where a run stopped. The output looks
complete only at the very end (partial TIFFs are ``NN.tif.partial``; a Zarr output keeps its
partial marker until its level 0 is written).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ngffkit.errors import InputError, NgffWarning
from ngffkit.process_memory import RUNTIME_MEMORY, kernels_memory, resident_base
from ngffkit.storage import default_options
from ngffkit.surfaces.outputs import Output, open_output
from ngffkit.surfaces.plan import (
    BASE_BYTES,
    Box3,
    FlattenPlan,
    FlattenSettings,
    box_text,
    choose_budget,
    chunk_keys,
    union_box,
)
from ngffkit.surfaces.readers import Geometry, Surface, open_surface
from ngffkit.surfaces.render import (
    MAX_BLOCK_BYTES,
    Layering,
    Volume,
    open_volume,
    read_geometry,
    render_rows,
)
from ngffkit.surfaces.sampling import sample_bounds

COMPOSITES = ("max", "mean", "min", "median")
# the file formats flatten writes its layers in (its ``format=``)
OUTPUT_FORMATS = ("tiff", "zarr")
DEFAULT_MAX_MEMORY = 2 << 30
SURVEY_STRIDE = 8
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class FlattenResult:
    output: str
    format: str
    shape: tuple[int, int, int]
    dtype: str
    files: tuple[str, ...]
    tiles: int
    volume_bytes_read: int
    seconds: float


def flatten(
    surface: str | os.PathLike[str],
    volume: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    layers: int = 65,
    step: float = 1.0,
    flip_normals: bool = False,
    level: int = 0,
    format: str = "tiff",
    tiff_compression: str = "none",
    composite: str | None = None,
    composite_layers: int = 25,
    max_memory: int | None = None,
    jobs: int | None = None,
    tile: int = 128,
    resume: bool = False,
    overwrite: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> FlattenResult | FlattenPlan:
    """Render ``layers`` layers of ``surface`` (a ``.ppm`` file or a tifxyz folder) from
    ``volume`` (an OME-Zarr image or a Zarr array) into ``output``.

    Layer i samples ``P + (i - (layers-1)/2) * step * n`` (level-0 voxels) trilinearly from
    level ``level``; integer volumes round half up; samples outside the volume and invalid
    pixels are 0. ``format="tiff"`` writes ``00.tif`` ... (a local folder; ``tiff_compression``
    none, zlib, zstd or lzw), ``"zarr"`` an OME-Zarr image with the layers as z and a
    pyramid. ``composite`` (max, mean, min, median) adds ``composite.tif`` over the
    ``composite_layers`` centred layers. Memory stays within ``max_memory`` (default 2 GiB)
    at any surface size. Returns the result, or the plan with ``dry_run=True``.

    Parameters:
        surface: a ``.ppm`` file or a tifxyz folder.
        volume: the OME-Zarr image or Zarr array the surface lies in.
        output: a folder (``format="tiff"``) or an OME-Zarr image (``"zarr"``).
        layers: how many layers, centred on the surface.
        step: the distance between layers along the normal, in level-0 voxels.
        flip_normals: render the layers in the opposite direction.
        level: the level of ``volume`` sampled.
        format: ``"tiff"`` or ``"zarr"``.
        tiff_compression: ``"none"``, ``"zlib"``, ``"zstd"`` or ``"lzw"``.
        composite: ``"max"``, ``"mean"``, ``"min"`` or ``"median"`` of the centred layers.
        composite_layers: how many centred layers the composite spans.
        max_memory: the memory budget, in bytes (default 2 GiB).
        jobs: how many tiles render at once.
        tile: the edge of a rendered tile, in surface pixels.
        resume: finish an interrupted run with the same options.
        overwrite: replace ``output`` if it exists (only what is clearly ours to replace).
        dry_run: write nothing and return the plan.
        progress: called as ``progress(done, total)`` as tiles finish.

    Returns:
        The :class:`FlattenResult`, or with ``dry_run`` the plan.

    Raises:
        InputError: the surface or an option is unusable.
        ConflictError: ``output`` holds data that is not ours to replace.
        MetadataError, StorageError: the volume cannot be read or the output written.
    """
    settings = _settings(
        layers, step, flip_normals, level, format, tiff_compression, composite, composite_layers
    )
    if resume and overwrite:
        raise InputError("choose one of resume and overwrite")
    started = time.perf_counter()
    surf = open_surface(surface)
    vol = open_volume(volume, level)
    budget_bytes = DEFAULT_MAX_MEMORY if max_memory is None else int(max_memory)
    n_jobs = max(1, jobs or os.cpu_count() or 1)
    plan = make_plan(surf, vol, settings, budget_bytes, n_jobs, tile, _process_base())
    if dry_run:
        return plan
    out = open_output(output, plan, settings, vol, resume=resume, overwrite=overwrite)
    if plan.tiles_inside == 0:
        warnings.warn(
            f"the surface lies entirely outside the volume, so every layer is 0: surface box "
            f"{box_text(plan.surface_box)}, volume box {box_text(plan.volume_box)} "
            "(level-0 voxels); check that the surface belongs to this volume",
            NgffWarning,
            stacklevel=2,
        )
    _run(out, surf, vol, settings, plan, n_jobs, progress)
    files = out.finish(jobs=n_jobs, max_memory=budget_bytes)
    return FlattenResult(
        output=out.url,
        format=settings.format,
        shape=plan.shape,
        dtype=plan.dtype,
        files=files,
        tiles=plan.tiles,
        volume_bytes_read=vol.bytes_read,
        seconds=time.perf_counter() - started,
    )


def _settings(
    layers: int,
    step: float,
    flip: bool,
    level: int,
    output_format: str,
    compression: str,
    composite: str | None,
    composite_layers: int,
) -> FlattenSettings:
    from ngffkit.surfaces.tiffwriter import COMPRESSIONS

    Layering(layers, step, flip)  # validates
    if output_format not in OUTPUT_FORMATS:
        raise InputError(f"format must be tiff or zarr, got {output_format!r}")
    if compression not in COMPRESSIONS:
        raise InputError(f"TIFF compression must be none, zlib, zstd or lzw, got {compression!r}")
    if composite is not None and composite not in COMPOSITES:
        raise InputError(f"composite must be max, mean, min or median, got {composite!r}")
    if composite_layers < 1:
        raise InputError(f"composite layers must be at least 1, got {composite_layers}")
    return FlattenSettings(
        layers, float(step), flip, level, output_format, compression, composite, composite_layers
    )


def _process_base() -> int:
    """What this process will hold besides the data: its resident memory with the
    sampler's module loaded (numba and llvmlite), the runtime's growth once tiles run and
    the sampler's machine code, as a conversion counts its kernels
    (:mod:`ngffkit.process_memory`); never below the planner's assumption."""
    import ngffkit.surfaces._sampling_numba as sampler

    adds = RUNTIME_MEMORY + kernels_memory(Path(sampler.__file__))
    return resident_base(adds, BASE_BYTES)


def make_plan(
    surface: Surface,
    volume: Volume,
    settings: FlattenSettings,
    max_memory: int,
    jobs: int,
    tile: int,
    base_bytes: int = BASE_BYTES,
) -> FlattenPlan:
    """Survey the surface's geometry: the tiles whose samples reach the volume, the chunks
    they touch, the bounding boxes.

    The survey reads every ``SURVEY_STRIDE``-th row of each tile (and its last), not the
    whole surface (a .ppm is read whole once, when rendering): a smooth surface moves a few
    voxels between those rows, so its boxes, chunk counts and bytes are close estimates.
    """
    height, width = surface.shape
    offsets = Layering(settings.layers, settings.step, settings.flip_normals).offsets
    chunks: set[tuple[int, ...]] = set()
    tiles_inside = 0
    surface_box: Box3 | None = None
    block_bytes = 0
    itemsize = volume.dtype.itemsize
    n_tiles = 0
    for r0 in range(0, height, tile):
        r1 = min(r0 + tile, height)
        picked = np.unique(np.append(np.arange(r0, r1, SURVEY_STRIDE), r1 - 1))
        points, normals, valid = surface.rows_at(picked)
        if settings.flip_normals:
            normals = -normals
        surface_box = union_box(surface_box, _extent(points, normals, valid, offsets))
        for c0 in range(0, width, tile):
            n_tiles += 1
            cs = slice(c0, c0 + tile)
            box = sample_bounds(
                points[:, cs], normals[:, cs], valid[:, cs], offsets, volume.level_map, volume.shape
            )
            if box is None:
                continue
            tiles_inside += 1
            chunks |= chunk_keys(box, volume.level.chunks)
            voxels = (box[0][1] - box[0][0]) * (box[1][1] - box[1][0]) * (box[2][1] - box[2][0])
            block_bytes = max(block_bytes, min(voxels * itemsize, MAX_BLOCK_BYTES))
    budget = choose_budget(
        max_memory=max_memory,
        width=width,
        layers=settings.layers,
        itemsize=itemsize,
        jobs=jobs,
        block_bytes=block_bytes,
        cache_bytes=default_options().cache_bytes,
        composite=settings.composite is not None,
        zarr=settings.format == "zarr",
        tile=tile,
        align=64 if settings.format == "zarr" else 1,
        base_bytes=base_bytes,
    )
    if budget.tile != tile:  # smaller tiles: survey again so the tile grid matches
        return make_plan(surface, volume, settings, max_memory, jobs, budget.tile, base_bytes)
    chunk_bytes = int(np.prod(volume.level.chunks)) * itemsize
    vbox = volume.level0_box()
    plan = FlattenPlan(
        surface=surface.display(),
        surface_kind=surface.kind,
        volume=volume.url,
        level=volume.level.index,
        shape=(settings.layers, height, width),
        dtype=volume.dtype.name,
        tile=budget.tile,
        band_rows=budget.band_rows,
        tiles=n_tiles,
        tiles_inside=tiles_inside,
        jobs=jobs,
        memory=budget.memory,
        max_memory=max_memory,
        chunks_read=len(chunks),
        chunk_bytes=chunk_bytes,
        surface_box=surface_box,
        volume_box=(vbox[0], vbox[1], vbox[2]),
    )
    return plan


def _extent(
    points: np.ndarray, normals: np.ndarray, valid: np.ndarray, offsets: np.ndarray
) -> Box3 | None:
    if not valid.any():
        return None
    p, n = points[valid], normals[valid]
    ends = np.concatenate([p + offsets.min() * n, p + offsets.max() * n])
    lo, hi = ends.min(axis=0), ends.max(axis=0)
    return (
        (float(lo[0]), float(hi[0])),
        (float(lo[1]), float(hi[1])),
        (float(lo[2]), float(hi[2])),
    )


def composite_of(layers: np.ndarray, how: str, dtype: np.dtype[Any]) -> np.ndarray:
    """Reduce (k, h, w) layers to (h, w) in ``dtype``: max/min exactly, mean and median
    rounded half up for integers."""
    if how == "max":
        return np.asarray(layers.max(axis=0))
    if how == "min":
        return np.asarray(layers.min(axis=0))
    value = np.asarray(layers.mean(axis=0) if how == "mean" else np.median(layers, axis=0))
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        value = np.clip(np.floor(value + 0.5), info.min, info.max)
    return value.astype(dtype)


def _run(
    out: Output,
    surface: Surface,
    volume: Volume,
    settings: FlattenSettings,
    plan: FlattenPlan,
    jobs: int,
    progress: Progress | None,
) -> None:
    """Render the bands not yet done and hand each to ``out``. A band is written on a
    writer thread while the next one renders (the plan counts two bands); progress is
    reported, and an interruption can only happen, between whole written bands."""
    layers, height, width = plan.shape
    offsets = Layering(settings.layers, settings.step, settings.flip_normals).offsets
    band_rows = out.band_rows
    n_bands = -(-height // band_rows)
    per_row = layers * width * volume.dtype.itemsize
    done_rows = sum(min(band_rows, height - b * band_rows) for b in out.done)
    if progress is not None:
        progress(done_rows * per_row, height * per_row)
    lo, hi = settings.composite_range()
    todo = [b for b in range(n_bands) if b not in out.done]

    def rows_of(b: int) -> tuple[int, int]:
        return b * band_rows, min((b + 1) * band_rows, height)

    def geometry_of(b: int) -> list[Geometry]:
        return read_geometry(surface, settings.flip_normals, rows_of(b), (0, width), plan.tile)

    with (
        ThreadPoolExecutor(jobs) as pool,
        ThreadPoolExecutor(1) as writer,
        ThreadPoolExecutor(1) as reader,
    ):
        writing: tuple[int, Future[None]] | None = None
        # The next band's surface geometry is read while this one renders.
        ahead = reader.submit(geometry_of, todo[0]) if todo else None
        for k, b in enumerate(todo):
            r0, r1 = rows_of(b)
            assert ahead is not None
            geometry = ahead.result()
            ahead = reader.submit(geometry_of, todo[k + 1]) if k + 1 < len(todo) else None
            band = np.empty((layers, r1 - r0, width), volume.dtype)
            render_rows(
                surface,
                volume,
                offsets,
                settings.flip_normals,
                (r0, r1),
                (0, width),
                plan.tile,
                pool,
                out=band,
                geometry=geometry,
            )
            composite = None
            if settings.composite is not None:
                composite = np.empty((r1 - r0, width), volume.dtype)
                for s in range(0, r1 - r0, 32):
                    composite[s : s + 32] = composite_of(
                        band[lo:hi, s : s + 32], settings.composite, volume.dtype
                    )
            if writing is not None:
                done_rows = _wait(writing[1], done_rows + writing[0], per_row, height, progress)
            writing = (r1 - r0, writer.submit(out.write_band, b, r0, band, composite, pool))
            del band, composite, geometry
        if writing is not None:
            _wait(writing[1], writing[0] + done_rows, per_row, height, progress)


def _wait(
    future: Future[None], rows: int, per_row: int, height: int, progress: Progress | None
) -> int:
    """Wait for a band's write; report ``rows`` rows done; return ``rows``."""
    future.result()
    if progress is not None:
        progress(rows * per_row, height * per_row)
    return rows


__all__ = [
    "COMPOSITES",
    "OUTPUT_FORMATS",
    "FlattenPlan",
    "FlattenResult",
    "FlattenSettings",
    "composite_of",
    "flatten",
    "make_plan",
]
