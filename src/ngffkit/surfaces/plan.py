"""Planning a flatten: tiles, bands and the memory they need. Pure: no I/O.

The output is rendered a band of rows at a time (every layer of those rows), each band cut
into square tiles rendered in depth order. The band is the unit of writing and of resuming;
its buffer (layers x rows x W) is the run's largest allocation (two are alive: one being
written while the next renders), so its height is what ``--max-memory`` decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ngffkit.errors import InputError

# What the process holds besides the data: Python, numpy, tensorstore, the compiled
# sampler (the peak of a run with almost no data: 203-217 MiB on Python 3.11, 254-265 on
# 3.13 with the newest numba). The least assumed: ``flatten`` measures its own process and
# passes ``base_bytes`` when that is more (``flattening._process_base``).
BASE_BYTES = 192 << 20
# Bytes per surface pixel while a band's geometry is held: the raw .ppm record (48), the
# points and normals in float64 (48 + 48), validity and views.
GEOMETRY_BYTES_PER_PIXEL = 160
MAX_BAND_TILES = 8
MIN_TILE = 16

Box3 = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class Budget:
    tile: int
    band_rows: int
    memory: int


def memory_needed(
    *,
    width: int,
    layers: int,
    itemsize: int,
    band_rows: int,
    tile: int,
    jobs: int,
    block_bytes: int,
    cache_bytes: int,
    composite: bool,
    zarr: bool,
    base_bytes: int = BASE_BYTES,
) -> int:
    """Peak bytes of a run with these band and tile sizes (see the module)."""
    # Two bands are in flight: one being written while the next renders.
    band = 2 * layers * band_rows * width * itemsize
    composite_rows = 2 * band_rows * width * itemsize if composite else 0
    geometry = 2 * band_rows * width * GEOMETRY_BYTES_PER_PIXEL  # this band's and the next
    per_job = block_bytes + 2 * layers * tile * tile * itemsize + tile * tile * 200
    # A Zarr write copies the band into its chunk buffers; TIFF strips are encoded one
    # layer at a time per thread.
    writing = band // 2 if zarr else jobs * tile * width * itemsize * 2
    return (
        base_bytes + cache_bytes + band + composite_rows + geometry + 2 * jobs * per_job + writing
    )


def choose_budget(
    *,
    max_memory: int,
    width: int,
    layers: int,
    itemsize: int,
    jobs: int,
    block_bytes: int,
    cache_bytes: int,
    composite: bool,
    zarr: bool,
    tile: int = 128,
    align: int = 1,
    base_bytes: int = BASE_BYTES,
) -> Budget:
    """The tallest band (up to ``MAX_BAND_TILES`` tile rows, a multiple of ``align``) and
    the largest tile (halved down to ``MIN_TILE``) that fit ``max_memory``."""
    while True:
        unit = tile * align // _gcd(tile, align)
        best = None
        smallest = 0  # what the shortest band (one unit of rows) needs, for the error
        for k in range(1, MAX_BAND_TILES + 1):
            rows = unit * k
            need = memory_needed(
                width=width,
                layers=layers,
                itemsize=itemsize,
                band_rows=rows,
                tile=tile,
                jobs=jobs,
                block_bytes=block_bytes,
                cache_bytes=cache_bytes,
                composite=composite,
                zarr=zarr,
                base_bytes=base_bytes,
            )
            if k == 1:
                smallest = need
            if need > max_memory:
                break
            best = Budget(tile, rows, need)
        if best is not None:
            return best
        if tile // 2 < MIN_TILE:
            raise InputError(
                f"[[max_memory]] {max_memory / 2**20:.0f} MiB is too small to render "
                f"{layers} layers of a {width} px wide surface: it needs at least "
                f"{smallest / 2**20:.0f} MiB (a band of {unit} rows of every layer, the chunk "
                "cache and the tiles in flight); raise [[max_memory]], or lower [[jobs]] or "
                "[[cache_size]]"
            )
        tile //= 2


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def chunk_keys(box: Sequence[tuple[int, int]], chunks: Sequence[int]) -> set[tuple[int, ...]]:
    """The chunk grid indices a (z, y, x) box of voxels touches."""
    ranges = [range(a // c, -(-b // c)) for (a, b), c in zip(box, chunks, strict=True)]
    return {(z, y, x) for z in ranges[0] for y in ranges[1] for x in ranges[2]}


def union_box(a: Box3 | None, b: Box3 | None) -> Box3 | None:
    if a is None:
        return b
    if b is None:
        return a
    return (
        (min(a[0][0], b[0][0]), max(a[0][1], b[0][1])),
        (min(a[1][0], b[1][0]), max(a[1][1], b[1][1])),
        (min(a[2][0], b[2][0]), max(a[2][1], b[2][1])),
    )


def box_text(box: Box3 | None) -> str:
    """x a..b, y a..b, z a..b"""
    if box is None:
        return "empty"
    return ", ".join(f"{n} {lo:.1f}..{hi:.1f}" for n, (lo, hi) in zip("xyz", box, strict=True))


@dataclass(frozen=True)
class FlattenSettings:
    """What the output depends on (a resumed run must have the same)."""

    layers: int
    step: float
    flip_normals: bool
    level: int
    # the output file format, tiff or zarr (named as flatten's ``format=``: the journal
    # records these fields by name, so a rename would refuse pending --resume runs)
    format: str
    tiff_compression: str
    composite: str | None
    composite_layers: int

    def composite_range(self) -> tuple[int, int]:
        """The centred layers the composite reduces: (first, stop)."""
        k = min(self.composite_layers, self.layers)
        first = (self.layers - k) // 2
        return first, first + k


@dataclass(frozen=True)
class FlattenPlan:
    surface: str
    surface_kind: str
    volume: str
    level: int
    shape: tuple[int, int, int]
    """(layers, H, W) of the output."""
    dtype: str
    tile: int
    band_rows: int
    tiles: int
    tiles_inside: int
    jobs: int
    memory: int
    max_memory: int
    chunks_read: int
    chunk_bytes: int
    surface_box: Box3 | None
    """Level-0 voxels (x, y, z) the samples span, all layers included."""
    volume_box: Box3

    @property
    def volume_bytes(self) -> int:
        """Decoded bytes of the distinct volume chunks the samples touch."""
        return self.chunks_read * self.chunk_bytes

    @property
    def output_bytes(self) -> int:
        layers, h, w = self.shape
        return layers * h * w * np.dtype(self.dtype).itemsize

    def summary(self) -> str:
        layers, h, w = self.shape
        mib = 2**20
        return "\n".join(
            [
                f"surface: {self.surface} ({self.surface_kind}), {w} x {h} px",
                f"volume: {self.volume} level {self.level} ({self.dtype})",
                f"output: {layers} layers of {w} x {h} px, {self.output_bytes / mib:.1f} MiB",
                f"tiles: {self.tiles} of {self.tile} x {self.tile} px, {self.tiles_inside} inside "
                f"the volume; bands of {self.band_rows} rows; {self.jobs} jobs",
                f"memory: about {self.memory / mib:.0f} MiB of --max-memory "
                f"{self.max_memory / mib:.0f} MiB",
                f"volume to read: {self.chunks_read} chunks, {self.volume_bytes / mib:.1f} MiB "
                "decoded",
                f"surface box (level-0 voxels): {box_text(self.surface_box)}",
                f"volume box (level-0 voxels): {box_text(self.volume_box)}",
            ]
        )


__all__ = [
    "Budget",
    "FlattenPlan",
    "FlattenSettings",
    "box_text",
    "choose_budget",
    "chunk_keys",
    "memory_needed",
    "union_box",
]
