"""Surface readers: a ``.ppm`` file or a tifxyz folder, local, ``http(s)://`` or ``s3://``.

A :class:`Surface` gives the rendered size and, for a band of output rows, the pixels'
points, unit normals and validity (:mod:`.geometry` does the arithmetic). A ``.ppm`` is
read a band of rows at a time (a 20,000 x 10,000 px map is 9.6 GB: never read whole); a
tifxyz grid is small (one vertex per 20 voxels) and is read once.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any, Protocol

import numpy as np

from ngffkit.errors import InputError, NotFoundError
from ngffkit.storage import Location, resolve
from ngffkit.surfaces.geometry import (
    PPM_RECORD,
    PpmHeader,
    parse_ppm_header,
    ppm_geometry,
    tifxyz_rows,
    tifxyz_size,
    tifxyz_valid,
)

Geometry = tuple[np.ndarray, np.ndarray, np.ndarray]
_HEAD = 4096


class Surface(Protocol):
    url: str
    kind: str
    shape: tuple[int, int]
    """Rendered (H, W) in pixels."""

    def rows(self, start: int, stop: int, cols: tuple[int, int] | None = None) -> Geometry:
        """(points (h, w, 3), normals (h, w, 3), valid (h, w)) of rows start:stop."""
        ...

    def rows_at(self, indices: np.ndarray) -> Geometry:
        """The same for the rows ``indices`` (a sample of rows, for surveys)."""
        ...

    def display(self) -> str:
        """The path or URL, for messages."""
        ...

    def read_bytes_per_row(self) -> int:
        """Bytes of surface data one output row costs to read (for plans)."""
        ...


def open_surface(url: str | os.PathLike[str]) -> Surface:
    """Open a ``.ppm`` file or a tifxyz folder (by its name: ``.ppm`` or else a folder).

    Parameters:
        url: the ``.ppm`` file or tifxyz folder.

    Returns:
        The surface: its points and normals, read on demand.

    Raises:
        InputError: it is not a surface ngffkit can read.
    """
    text = os.fspath(url)
    if text.rstrip("/").lower().endswith(".ppm"):
        return PpmSurface(text)
    loc = resolve(text)
    local = loc.local_path
    if local is not None and not local.exists():
        raise NotFoundError(f"surface {local} does not exist")
    if local is not None and local.is_file():
        raise InputError(
            f"surface {local} is neither a .ppm file nor a tifxyz folder (x.tif, y.tif, z.tif, "
            "meta.json)"
        )
    return TifxyzSurface(loc)


class PpmSurface:
    """A Volume Cartographer per-pixel map, read by rows."""

    kind = "ppm"

    def __init__(self, url: str) -> None:
        loc = resolve(url)
        self.url = loc.url
        self._dir, self._key = _split_key(loc)
        self._path = loc.local_path
        where = self.display()
        if self._path is not None:
            if not self._path.is_file():
                raise NotFoundError(f"surface {self._path} does not exist")
            with self._path.open("rb") as f:
                head = f.read(_HEAD)
            size: int | None = self._path.stat().st_size
        else:
            head = self._dir.read_range(self._key, 0, _HEAD)
            if not head:  # shorter than _HEAD: small enough to read whole
                whole = self._dir.read(self._key)
                if whole is None:
                    raise NotFoundError(f"surface {where} was not found")
                head = whole
            size = None
        self.header: PpmHeader = parse_ppm_header(head, where)
        end = self.header.data_offset + self.header.body_bytes
        found = None  # what the file holds, when it is not what the header says
        if size is None:
            # Remote: the last record must exist and nothing may follow it.
            if not self._dir.read_range(self._key, end - 1, end):
                found = "fewer"
            elif self._dir.read_range(self._key, end, end + 1):
                found = "more"
        elif size != end:
            found = f"{'fewer' if size < end else 'more'} ({size - self.header.data_offset} bytes)"
        if found is not None:
            raise InputError(
                f"{where}: the .ppm is truncated or malformed: its header says "
                f"{self.header.width} x {self.header.height} records of 48 bytes "
                f"({self.header.body_bytes} bytes after the header) but the file holds "
                f"{found}; re-export or re-download it"
            )
        self.shape = (self.header.height, self.header.width)

    def display(self) -> str:
        return str(self._path) if self._path is not None else self.url

    def read_bytes_per_row(self) -> int:
        return self.header.width * PPM_RECORD

    def rows(self, start: int, stop: int, cols: tuple[int, int] | None = None) -> Geometry:
        width = self.header.width
        first = self.header.data_offset + start * width * PPM_RECORD
        count = (stop - start) * width * 6
        if self._path is not None:
            with self._path.open("rb") as f:
                f.seek(first)
                data = np.fromfile(f, dtype="<f8", count=count)
        else:
            raw = self._dir.read_range(self._key, first, first + count * 8)
            data = np.frombuffer(raw, dtype="<f8")
        if data.size != count:
            raise InputError(f"{self.display()}: rows {start}:{stop} could not be read whole")
        records = data.reshape(stop - start, width, 6)
        if cols is not None:
            records = records[:, cols[0] : cols[1]]
        return ppm_geometry(records)

    def rows_at(self, indices: np.ndarray) -> Geometry:
        parts = [self._records(int(r)) for r in indices]
        return ppm_geometry(np.stack(parts))

    def _records(self, row: int) -> np.ndarray:
        width = self.header.width
        first = self.header.data_offset + row * width * PPM_RECORD
        if self._path is not None:
            with self._path.open("rb") as f:
                f.seek(first)
                data = np.fromfile(f, dtype="<f8", count=width * 6)
        else:
            raw = self._dir.read_range(self._key, first, first + width * PPM_RECORD)
            data = np.frombuffer(raw, dtype="<f8")
        if data.size != width * 6:
            raise InputError(f"{self.display()}: row {row} could not be read whole")
        return data.reshape(width, 6)


class TifxyzSurface:
    """A tifxyz folder: x.tif, y.tif, z.tif, meta.json (scale) and an optional mask.tif."""

    kind = "tifxyz"

    def __init__(self, loc: Location) -> None:
        self.url = loc.url
        self._loc = loc
        meta = loc.read_json("meta.json")
        if meta is None:
            raise InputError(
                f"{loc.display('meta.json')} is missing: a tifxyz surface is a folder with "
                "x.tif, y.tif, z.tif and meta.json (its 'scale' says how many grid cells one "
                "voxel is)"
            )
        self.scale = _scale(meta, loc.display("meta.json"))
        planes = [self._tif(f"{axis}.tif", required=True) for axis in "xyz"]
        shapes = {
            name: p.shape for name, p in zip(("x.tif", "y.tif", "z.tif"), planes, strict=True)
        }
        if len(set(shapes.values())) != 1 or len(planes[0].shape) != 2:
            found = ", ".join(f"{k} {' x '.join(map(str, v[::-1]))}" for k, v in shapes.items())
            raise InputError(
                f"{loc.display()}: x.tif, y.tif and z.tif must be single 2-D images of the "
                f"same size, found {found} (width x height)"
            )
        x, y, z = (p.astype(np.float64) for p in planes)
        g_rows, g_cols = x.shape
        if g_rows < 2 or g_cols < 2:
            raise InputError(
                f"{loc.display()}: a tifxyz grid needs at least 2 x 2 vertices, "
                f"found {g_cols} x {g_rows}"
            )
        mask = self._mask(x.shape)
        self.grid_valid = tifxyz_valid(x, y, z, mask)
        self.grid = np.ascontiguousarray(np.stack([x, y, z], axis=-1))
        self.shape = tifxyz_size((g_rows, g_cols), self.scale)

    def _tif(self, name: str, *, required: bool) -> np.ndarray:
        import tifffile

        raw = self._loc.read(name)
        if raw is None:
            if required:
                raise InputError(f"{self._loc.display(name)} is missing from the tifxyz folder")
            return np.empty((0, 0))
        try:
            with tifffile.TiffFile(io.BytesIO(raw)) as tif:
                return np.asarray(tif.pages[0].asarray())
        except Exception as exc:
            raise InputError(f"{self._loc.display(name)} is not a readable TIFF: {exc}") from exc

    def _mask(self, grid_shape: tuple[int, ...]) -> np.ndarray | None:
        raw = self._tif("mask.tif", required=False)
        if raw.size == 0:
            return None
        plane = raw if raw.ndim == 2 else raw[..., 0] if raw.shape[-1] <= 4 else raw[0]
        ky, kx = (m / g for m, g in zip(plane.shape, grid_shape, strict=True))
        if ky != int(ky) or kx != int(kx) or ky < 1 or kx < 1:
            raise InputError(
                f"{self._loc.display('mask.tif')} is {plane.shape[1]} x {plane.shape[0]}, not "
                f"the grid's size ({grid_shape[1]} x {grid_shape[0]}) or a whole multiple of it"
            )
        return np.asarray(plane[:: int(ky), :: int(kx)] >= 255)

    def display(self) -> str:
        return self._loc.display()

    def read_bytes_per_row(self) -> int:
        return 0

    def rows(self, start: int, stop: int, cols: tuple[int, int] | None = None) -> Geometry:
        return tifxyz_rows(self.grid, self.grid_valid, self.scale, (start, stop), cols)

    def rows_at(self, indices: np.ndarray) -> Geometry:
        return tifxyz_rows(
            self.grid, self.grid_valid, self.scale, (0, 0), None, row_indices=indices
        )


def _split_key(loc: Location) -> tuple[Location, str]:
    """The folder holding the file at ``loc``, and the file's key in it."""
    path = str(loc.kvstore.get("path", "")).rstrip("/")
    folder, _, key = path.rpartition("/")
    spec = dict(loc.kvstore, path=f"{folder}/" if folder else "")
    return Location(url=loc.url.rstrip("/").rsplit("/", 1)[0], kvstore=spec), key


def _scale(meta: dict[str, Any], where: str) -> tuple[float, float]:
    value = meta.get("scale")
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise InputError(
            f"{where}: 'scale' must be [sx, sy], two positive numbers (grid cells per voxel, "
            f"e.g. [0.05, 0.05] for a vertex every 20 voxels), found {json.dumps(value)}"
        )
    fmt = meta.get("format")
    if fmt is not None and fmt != "tifxyz":
        raise InputError(f"{where}: 'format' is {fmt!r}, not 'tifxyz'")
    return float(value[0]), float(value[1])


__all__ = ["PpmSurface", "Surface", "TifxyzSurface", "open_surface"]
