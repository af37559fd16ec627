"""Surface geometry: pure functions from surface data to per-pixel points and normals.

A rendered surface is an (H, W) grid of pixels. Each pixel has a point P (x, y, z, in
level-0 voxels of the volume), a unit normal n and a validity flag; the readers
(:mod:`.readers`) fetch the raw data and these functions turn it into that form, a band of
rows at a time. No I/O here.

``.ppm``
    Pixel (r, c) is record (r, c): ``x, y, z, nx, ny, nz`` in float64. A pixel whose normal
    is all zero is unmapped (Volume Cartographer writes zeros there; khartes tests the
    normal too); other normals are normalised to unit length, keeping their direction.

tifxyz
    The grid's vertex (i, j) holds the point at ``x.tif, y.tif, z.tif[i, j]``; a vertex is
    invalid when z ≤ 0, any coordinate is -1 or not finite, or ``mask.tif`` says so. Output
    pixel (r, c) is the surface point at grid coordinates (r·sy, c·sx), ``[sx, sy]`` being
    ``meta.json``'s ``scale`` (grid cells per voxel). It is interpolated bilinearly in the
    grid cell around it (the last cell for points on the far edge); a pixel is valid when
    the cell's four vertices are. The normal is ∂P/∂col × ∂P/∂row of that bilinear patch,
    normalised: for a grid whose columns run along +x and rows along +y it points to +z.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ngffkit.errors import InputError

PPM_TERMINATOR = b"<>"
PPM_RECORD = 48  # 6 float64


@dataclass(frozen=True)
class PpmHeader:
    width: int
    height: int
    data_offset: int
    """Byte offset of the first record (just after the ``<>`` line)."""

    @property
    def body_bytes(self) -> int:
        return self.width * self.height * PPM_RECORD


# key -> the values accepted (None: any); VC writes exactly these.
_PPM_EXPECTED: dict[str, tuple[str, ...] | None] = {
    "width": None,
    "height": None,
    "dim": ("6",),
    "ordered": ("true",),
    "type": ("double",),
    "version": ("1",),
}


def parse_ppm_header(head: bytes, where: str) -> PpmHeader:
    """Parse the ``key: value`` lines up to ``<>`` at the start of a ``.ppm`` file.

    ``head`` is the file's first bytes (enough to hold the header). Comment lines (``#``)
    and unknown keys are skipped as Volume Cartographer does; a known key with a value this
    reader cannot use (``dim: 3``, ``type: float``, ``ordered: false``) is an error.
    """
    values: dict[str, str] = {}
    pos = 0
    while True:
        end = head.find(b"\n", pos)
        if end < 0:
            raise InputError(
                f"{where}: no '<>' line ends the .ppm header in its first {len(head)} bytes; "
                "is this a Volume Cartographer .ppm file?"
            )
        line = head[pos:end].rstrip(b"\r")
        pos = end + 1
        if line.strip() == PPM_TERMINATOR:
            break
        if not line.strip() or line.lstrip().startswith(b"#"):
            continue
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            raise InputError(
                f"{where}: the .ppm header has a non-text line {line[:40]!r}"
            ) from None
        if ":" not in text:
            raise InputError(f"{where}: .ppm header line {text!r} is not 'key: value'")
        key, value = (part.strip() for part in text.split(":", 1))
        values[key.lower()] = value.lower()
    for key, accepted in _PPM_EXPECTED.items():
        if key not in values:
            if key in ("width", "height"):
                raise InputError(f"{where}: the .ppm header has no '{key}:' line")
            continue
        if accepted is not None and values[key] not in accepted:
            raise InputError(
                f"{where}: .ppm header '{key}: {values[key]}' is not supported "
                f"(expected '{key}: {accepted[0]}'): only ordered maps of 6 doubles "
                "(x, y, z, nx, ny, nz) can be rendered"
            )
    try:
        width, height = int(values["width"]), int(values["height"])
    except ValueError:
        raise InputError(
            f"{where}: .ppm header width/height {values['width']!r}/{values['height']!r} "
            "are not whole numbers"
        ) from None
    if width < 1 or height < 1:
        raise InputError(f"{where}: .ppm header size {width} x {height} is empty")
    return PpmHeader(width, height, pos)


def ppm_geometry(records: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(points, unit normals, valid) of ``records`` (h, w, 6) float64."""
    points = np.ascontiguousarray(records[..., :3], dtype=np.float64)
    normals = np.array(records[..., 3:6], dtype=np.float64)
    length = np.sqrt(np.einsum("...i,...i->...", normals, normals))
    valid = (length > 0) & np.isfinite(length) & np.isfinite(points).all(axis=-1)
    safe = np.where(valid, length, 1.0)
    normals /= safe[..., None]
    normals[~valid] = 0.0
    return points, normals, valid


def tifxyz_size(grid_shape: Sequence[int], scale: Sequence[float]) -> tuple[int, int]:
    """Rendered (H, W) of a (rows, cols) grid with ``scale`` [sx, sy]: floor((G-1)/s) + 1."""
    rows, cols = grid_shape
    sx, sy = scale
    # A hair of tolerance: 0.05 is not exact in binary, and (G-1)/0.05 must not floor to one
    # pixel less than the whole number it is.
    return (
        math.floor((rows - 1) / sy + 1e-9) + 1,
        math.floor((cols - 1) / sx + 1e-9) + 1,
    )


def tifxyz_valid(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, mask: np.ndarray | None
) -> np.ndarray:
    """Which grid vertices are valid (see the module's rules)."""
    valid = (z > 0) & np.isfinite(x) & np.isfinite(y) & np.isfinite(z)
    valid &= ~((x == -1) | (y == -1) | (z == -1))
    if mask is not None:
        valid &= mask
    return np.asarray(valid, dtype=bool)


def tifxyz_rows(
    grid: np.ndarray,
    grid_valid: np.ndarray,
    scale: Sequence[float],
    rows: tuple[int, int],
    cols: tuple[int, int] | None = None,
    *,
    row_indices: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(points, normals, valid) of output rows ``rows`` (and columns ``cols``) of a grid,
    or of the rows ``row_indices`` when given.

    ``grid`` is (G_rows, G_cols, 3) float64 (x, y, z per vertex); ``scale`` is [sx, sy].
    """
    g_rows, g_cols = grid_valid.shape
    sx, sy = float(scale[0]), float(scale[1])
    width = tifxyz_size((g_rows, g_cols), (sx, sy))[1]
    c_start, c_stop = cols if cols is not None else (0, width)
    picked = np.arange(rows[0], rows[1]) if row_indices is None else np.asarray(row_indices)
    u = picked.astype(np.float64) * sy  # grid row coordinate
    v = np.arange(c_start, c_stop, dtype=np.float64) * sx  # grid column coordinate
    r0 = np.clip(np.floor(u).astype(np.int64), 0, g_rows - 2)
    c0 = np.clip(np.floor(v).astype(np.int64), 0, g_cols - 2)
    fr = (u - r0)[:, None, None]
    fc = (v - c0)[None, :, None]
    R0, C0 = r0[:, None], c0[None, :]
    p00 = grid[R0, C0]
    p01 = grid[R0, C0 + 1]
    p10 = grid[R0 + 1, C0]
    p11 = grid[R0 + 1, C0 + 1]
    top = p00 * (1.0 - fc) + p01 * fc
    bottom = p10 * (1.0 - fc) + p11 * fc
    points = top * (1.0 - fr) + bottom * fr
    d_col = (p01 - p00) * (1.0 - fr) + (p11 - p10) * fr
    d_row = bottom - top
    normals = np.cross(d_col, d_row)
    length = np.sqrt(np.einsum("...i,...i->...", normals, normals))
    valid = (
        grid_valid[R0, C0]
        & grid_valid[R0, C0 + 1]
        & grid_valid[R0 + 1, C0]
        & grid_valid[R0 + 1, C0 + 1]
        & (length > 0)
    )
    normals /= np.where(valid, length, 1.0)[..., None]
    points[~valid] = 0.0
    normals[~valid] = 0.0
    return np.ascontiguousarray(points), np.ascontiguousarray(normals), valid


__all__ = [
    "PPM_RECORD",
    "PpmHeader",
    "parse_ppm_header",
    "ppm_geometry",
    "tifxyz_rows",
    "tifxyz_size",
    "tifxyz_valid",
]
