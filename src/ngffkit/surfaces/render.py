"""Render layers of a surface from a volume: the volume's level, tiles, the lazy array.

:class:`SurfaceLayers` is the array API (``ngffkit.surface_layers``): a lazy
(layers, H, W) array whose ``[...]`` renders only the region asked for, and whose
:meth:`~SurfaceLayers.bands` yields the whole thing a band of rows at a time. ``flatten``
writes files from the same bands.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ngffkit.errors import InputError, MetadataError
from ngffkit.image import open_image
from ngffkit.level import Level
from ngffkit.storage import resolve
from ngffkit.surfaces.readers import Geometry, Surface, open_surface
from ngffkit.surfaces.sampling import LevelMap, layer_offsets, sample, sample_bounds

# A tile whose samples span more voxels than this is split in four (a folded or noisy
# surface can span much of the volume within one tile; its block must stay small).
MAX_BLOCK_BYTES = 64 << 20


@dataclass
class Volume:
    """The level of the volume being read, and how level-0 coordinates map onto it."""

    url: str
    level: Level
    level_map: LevelMap
    voxel_size: tuple[float, float, float]
    """Level 0's (z, y, x) voxel size, in ``unit``."""
    unit: str | None
    levels: int
    bytes_read: int = field(default=0)
    """Decoded bytes of the blocks read so far (a block is read once per tile)."""

    @property
    def shape(self) -> tuple[int, int, int]:
        z, y, x = self.level.shape
        return z, y, x

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.level.dtype

    def read(self, box: Sequence[tuple[int, int]]) -> np.ndarray:
        block = self.level.read_region(tuple(slice(a, b) for a, b in box))
        self.bytes_read += block.nbytes
        return block

    def level0_box(self) -> tuple[tuple[float, float], ...]:
        """The level-0 voxel extent (x, y, z) the read level covers."""
        out = []
        for axis in range(3):
            mul, add = self.level_map.mul[axis], self.level_map.add[axis]
            extent = self.shape[2 - axis]
            out.append(((0 - add) / mul, (extent - 1 - add) / mul))
        return tuple(out)


def open_volume(url: str | os.PathLike[str], level: int = 0) -> Volume:
    """Open an OME-Zarr image (any version) or a plain Zarr array as a volume (z, y, x)."""
    from ngffkit.arrays import read_array_info
    from ngffkit.spec import make_axes

    text = os.fspath(url)
    loc = resolve(text)
    info = read_array_info(loc)
    if info is not None:  # a plain Zarr array: level 0 only, unit voxels
        if info.ndim != 3:
            raise InputError(f"volume {loc.display()} has {info.ndim} dimensions; need z, y, x")
        if level != 0:
            raise InputError(
                f"level {level} does not exist: volume {loc.display()} is a plain Zarr array "
                "(level 0 only)"
            )
        lvl = Level(loc.url, 0, "", loc, info, make_axes("zyx"), (1.0,) * 3, (0.0,) * 3, (1.0,) * 3)
        return Volume(loc.url, lvl, LevelMap(), (1.0, 1.0, 1.0), None, 1)
    image = open_image(loc)
    names = image.axis_names
    if len(names) != 3 or set(names) != {"z", "y", "x"}:
        raise MetadataError(
            f"volume {image.url} has axes {', '.join(names)}; flatten needs a 3-D z, y, x volume"
        )
    if names != ("z", "y", "x"):
        raise MetadataError(f"volume {image.url} has axes in order {''.join(names)}; need zyx")
    if not -len(image.levels) <= level < len(image.levels):
        raise InputError(
            f"[[level={level}]] does not exist: {image.url} has levels 0 to {len(image.levels) - 1}"
        )
    lvl = image.levels[level]
    base = image.levels[0]
    level_map = LevelMap.between(base.scale, base.translation, lvl.scale, lvl.translation)
    vz, vy, vx = base.scale
    unit = next((a.unit for a in image.axes if a.type == "space"), None)
    return Volume(image.url, lvl, level_map, (vz, vy, vx), unit, len(image.levels))


@dataclass(frozen=True)
class Layering:
    """Which layers: ``count`` centred layers ``step`` voxels apart along the (flipped)
    normal."""

    count: int = 65
    step: float = 1.0
    flip_normals: bool = False

    def __post_init__(self) -> None:
        if self.count < 1:
            raise InputError(f"layers must be at least 1, got {self.count}")
        if not self.step > 0 or not np.isfinite(self.step):
            raise InputError(f"step must be a positive number of voxels, got {self.step}")

    @property
    def offsets(self) -> np.ndarray:
        return layer_offsets(self.count, self.step)


def render_tile(
    volume: Volume,
    geometry: Geometry,
    offsets: np.ndarray,
    flip: bool,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """(layers, h, w) of one tile of pixels: read its voxels once, sample every layer.

    ``out`` may be a view into a larger array (a band): the tile is rendered in place. A
    tile whose block would pass ``MAX_BLOCK_BYTES`` is rendered as four smaller ones.
    """
    points, normals, valid = geometry
    if flip:
        normals = -normals
    h, w = valid.shape
    if out is None:
        out = np.empty((len(offsets), h, w), dtype=volume.dtype)
    _render_into(volume, points, normals, valid, offsets, out)
    return out


def _render_into(
    volume: Volume,
    points: np.ndarray,
    normals: np.ndarray,
    valid: np.ndarray,
    offsets: np.ndarray,
    out: np.ndarray,
) -> None:
    box = sample_bounds(points, normals, valid, offsets, volume.level_map, volume.shape)
    if box is None:
        out[...] = 0
        return
    voxels = 1
    for a, b in box:
        voxels *= b - a
    h, w = valid.shape
    if voxels * volume.dtype.itemsize > MAX_BLOCK_BYTES and (h > 1 or w > 1):
        hr, wc = max(h // 2, 1), max(w // 2, 1)
        for rs in (slice(0, hr), slice(hr, h)):
            for cs in (slice(0, wc), slice(wc, w)):
                if rs.stop > rs.start and cs.stop > cs.start:
                    _render_into(
                        volume,
                        points[rs, cs],
                        normals[rs, cs],
                        valid[rs, cs],
                        offsets,
                        out[:, rs, cs],
                    )
        return
    block = volume.read(box)
    origin = (box[0][0], box[1][0], box[2][0])
    sample(block, origin, volume.shape, points, normals, valid, offsets, volume.level_map, out)


class SurfaceLayers:
    """A lazy (layers, H, W) array of a surface's layers sampled from a volume.

    ``layers[k]`` renders layer k, ``layers[a:b, r0:r1, c0:c1]`` a region of layers; only
    the voxels those pixels need are read. :meth:`bands` renders every layer a band of rows
    at a time (what ``flatten`` writes).

    Parameters:
        surface: a surface, or a ``.ppm`` file or tifxyz folder to open.
        volume: the OME-Zarr image or Zarr array the surface lies in.
        layers: how many layers, centred on the surface.
        step: the distance between layers along the normal, in level-0 voxels.
        flip_normals: order the layers in the opposite direction.
        level: the level of ``volume`` sampled.
        tile: the edge of a rendered tile, in surface pixels.
        jobs: how many tiles render at once (default: the CPUs).
    """

    def __init__(
        self,
        surface: Surface | str | os.PathLike[str],
        volume: Volume | str | os.PathLike[str],
        *,
        layers: int = 65,
        step: float = 1.0,
        flip_normals: bool = False,
        level: int = 0,
        tile: int = 128,
        jobs: int | None = None,
    ) -> None:
        self.surface = (
            surface if not isinstance(surface, (str, os.PathLike)) else open_surface(surface)
        )
        self.volume = volume if isinstance(volume, Volume) else open_volume(volume, level)
        self.layering = Layering(layers, step, flip_normals)
        if tile < 1:
            raise InputError(f"tile must be at least 1 pixel, got {tile}")
        self.tile = tile
        self.jobs = max(1, jobs or os.cpu_count() or 1)

    @property
    def shape(self) -> tuple[int, int, int]:
        h, w = self.surface.shape
        return (self.layering.count, h, w)

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.volume.dtype

    def __len__(self) -> int:
        return self.layering.count

    def __repr__(self) -> str:
        return (
            f"SurfaceLayers({self.surface.url!r} in {self.volume.url!r}, shape={self.shape}, "
            f"dtype={self.dtype})"
        )

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            at = next(i for i, k in enumerate(key) if k is Ellipsis)
            key = key[:at] + (slice(None),) * (3 - len(key) + 1) + key[at + 1 :]
        if len(key) > 3:
            raise InputError(f"too many indices ({len(key)}) for (layers, rows, cols)")
        key = key + (slice(None),) * (3 - len(key))
        picks: list[range] = []
        squeeze: list[int] = []
        for axis, (k, n) in enumerate(zip(key, self.shape, strict=True)):
            if isinstance(k, (int, np.integer)):
                i = int(k) + n if k < 0 else int(k)
                if not 0 <= i < n:
                    raise InputError(f"index {k} is out of range for an axis of {n}")
                picks.append(range(i, i + 1))
                squeeze.append(axis)
            elif isinstance(k, slice):
                start, stop, stride = k.indices(n)
                if stride != 1 and axis > 0:
                    raise InputError("rows and columns take slices with step 1")
                picks.append(range(start, max(start, stop), stride))
            else:
                raise InputError(f"unsupported index {k!r}; use ints and slices")
        layer_idx, rows, cols = picks
        out = self.render(
            np.asarray(list(layer_idx), dtype=np.int64),
            (rows.start, rows.stop),
            (cols.start, cols.stop),
        )
        return out.squeeze(axis=tuple(squeeze)) if squeeze else out

    def render(
        self, layer_indices: np.ndarray, rows: tuple[int, int], cols: tuple[int, int]
    ) -> np.ndarray:
        """Layers ``layer_indices`` of rows and columns ``rows``, ``cols`` (start, stop)."""
        offsets = self.layering.offsets[layer_indices]
        with ThreadPoolExecutor(self.jobs) as pool:
            return render_rows(
                self.surface,
                self.volume,
                offsets,
                self.layering.flip_normals,
                rows,
                cols,
                self.tile,
                pool,
            )

    def bands(self, band_rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row, (layers, rows, W) array)`` for every band of rows, top to bottom."""
        height, width = self.surface.shape
        band = band_rows or self.tile
        offsets = self.layering.offsets
        with ThreadPoolExecutor(self.jobs) as pool:
            for r0 in range(0, height, band):
                r1 = min(r0 + band, height)
                yield (
                    r0,
                    render_rows(
                        self.surface,
                        self.volume,
                        offsets,
                        self.layering.flip_normals,
                        (r0, r1),
                        (0, width),
                        self.tile,
                        pool,
                    ),
                )


def read_geometry(
    surface: Surface, flip: bool, rows: tuple[int, int], cols: tuple[int, int], tile: int
) -> list[Geometry]:
    """The geometry of rows x cols, one entry per ``tile`` rows (normals flipped if asked)."""
    out = []
    for r0 in range(rows[0], rows[1], tile):
        points, normals, valid = surface.rows(r0, min(r0 + tile, rows[1]), cols)
        out.append((points, -normals if flip else normals, valid))
    return out


def render_rows(
    surface: Surface,
    volume: Volume,
    offsets: np.ndarray,
    flip: bool,
    rows: tuple[int, int],
    cols: tuple[int, int],
    tile: int,
    pool: Executor | None,
    out: np.ndarray | None = None,
    geometry: list[Geometry] | None = None,
) -> np.ndarray:
    """Render rows x cols of every layer in ``offsets`` into ``out`` (layers, h, w).

    The region is cut into tiles of ``tile`` pixels, rendered in order of their mean depth
    (as scroll2zarr and VC sort by z: neighbouring tiles at one depth read the same chunks,
    which the cache then holds) on ``pool``'s threads; at most twice as many tiles as
    threads are in flight, so memory stays a few tiles per thread. ``geometry``: the
    region's :func:`read_geometry`, when it was read ahead.
    """
    h, w = rows[1] - rows[0], cols[1] - cols[0]
    if out is None:
        out = np.zeros((len(offsets), h, w), volume.dtype)
    if geometry is None:
        geometry = read_geometry(surface, flip, rows, cols, tile)
    tiles: list[tuple[int, int, Geometry]] = []
    for r0, (points, normals, valid) in zip(range(rows[0], rows[1], tile), geometry, strict=True):
        for c in range(0, w, tile):
            cs = slice(c, c + tile)
            tiles.append((r0 - rows[0], c, (points[:, cs], normals[:, cs], valid[:, cs])))
    # Depth order by the tiles' mean point (cheap; each worker finds its tile's exact box).
    keys: list[tuple[float, float, int]] = []
    for i, (r, c, (p, _, v)) in enumerate(tiles):
        if v.any():
            centre = p[v].mean(axis=0)
            keys.append((float(centre[2]), float(centre[1]), i))
        else:
            out[:, r : r + v.shape[0], c : c + v.shape[1]] = 0
    order = [i for _, _, i in sorted(keys)]

    def view(i: int) -> np.ndarray:
        r, c, (_, _, v) = tiles[i]
        return out[:, r : r + v.shape[0], c : c + v.shape[1]]

    if pool is None:
        for i in order:
            render_tile(volume, tiles[i][2], offsets, False, view(i))
        return out
    # Tiles render in place, into disjoint views of ``out``, on the pool's threads; at most
    # twice as many tiles as threads are in flight (each holds its block of voxels).
    window = 2 * max(getattr(pool, "_max_workers", 1), 1)
    pending: deque[Future[np.ndarray]] = deque()
    for i in order:
        pending.append(pool.submit(render_tile, volume, tiles[i][2], offsets, False, view(i)))
        if len(pending) >= window:
            pending.popleft().result()
    while pending:
        pending.popleft().result()
    return out


__all__ = [
    "Layering",
    "SurfaceLayers",
    "Volume",
    "open_volume",
    "read_geometry",
    "render_rows",
    "render_tile",
]
