"""A deterministic, scroll-like synthetic volume for demos, tests and benchmarks.

The volume imitates a masked CT scan of a rolled papyrus scroll:

* smooth, low-frequency 3-D Gaussian blobs (the background density),
* a rolled "scroll": an Archimedean spiral of thin bright sheets around the volume's z axis,
  whose radius wobbles with z and with the angle,
* 2 % Gaussian noise (σ = 0.02 of the full scale),
* exact zeros outside a cylinder of radius ``0.45 * min(Y, X)`` (≈36 % of the voxels of a square
  slice, like a masked scroll); inside the cylinder integer values are ≥ 1, so the mask is the only
  source of zeros.

Everything is computed slice by slice (memory is bounded by a few slices, whatever the depth) and is
a pure function of ``(z, shape, dtype, seed)``: slice ``z`` does not depend on which other slices
were made, or in which order. Integer dtypes use the positive range ``[1, max]`` inside the mask;
float dtypes use ``(0, 1]``.

Shapes are ``(z, y, x)``, array order, like the rest of the Python API.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tifffile

from ngffkit.errors import ConflictError, InputError

__all__ = ["scroll_slice", "scroll_volume", "write_tiff_stack"]

_N_BLOBS = 16
_N_WRAPS = 12  # turns of the spiral between the centre and the mask radius
_NOISE = 0.02
_MASK_FRACTION = 0.45


def _check_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise InputError(f"shape must be (z, y, x); got {len(shape)} numbers: {tuple(shape)!r}")
    z, y, x = (int(s) for s in shape)
    if min(z, y, x) < 1:
        raise InputError(f"every extent of shape must be ≥ 1; got {(z, y, x)!r}")
    return z, y, x


def _check_dtype(dtype: str | npt.DTypeLike) -> np.dtype[np.generic]:
    dt = np.dtype(dtype)
    if dt.kind not in "uif" or dt.itemsize > 8:
        raise InputError(f"dtype must be an integer or float type; got {dt}")
    return dt


def _full_scale(dt: np.dtype[np.generic]) -> float:
    if dt.kind == "f":
        return 1.0
    return float(np.iinfo(dt.name).max)


@functools.lru_cache(maxsize=4)
def _blobs(shape: tuple[int, int, int], seed: int) -> tuple[npt.NDArray[np.float64], ...]:
    """Separable Gaussian blobs: per-axis profiles (n, K) and amplitudes (K,)."""
    rng = np.random.default_rng([seed, 0x5C2011])
    nz, ny, nx = shape
    centres = rng.uniform(0.0, 1.0, size=(_N_BLOBS, 3))
    sigmas = rng.uniform(0.08, 0.25, size=(_N_BLOBS, 3))
    amps = rng.uniform(0.3, 1.0, size=_N_BLOBS)
    profiles = []
    for axis, n in enumerate((nz, ny, nx)):
        t = (np.arange(n, dtype=np.float64) + 0.5) / n
        d = (t[:, None] - centres[None, :, axis]) / sigmas[None, :, axis]
        profiles.append(np.exp(-0.5 * d * d))
    return profiles[0], profiles[1], profiles[2], amps


@functools.lru_cache(maxsize=2)
def _polar(ny: int, nx: int) -> dict[str, npt.NDArray[Any]]:
    """Per-(y, x) geometry shared by all slices: radius, angle terms, mask."""
    cy, cx = (ny - 1) / 2.0, (nx - 1) / 2.0
    yy = (np.arange(ny, dtype=np.float64) - cy)[:, None]
    xx = (np.arange(nx, dtype=np.float64) - cx)[None, :]
    r = np.hypot(yy, xx)
    theta = np.arctan2(yy, xx)
    radius = _MASK_FRACTION * min(ny, nx)
    out = {
        "r": r.astype(np.float32),
        "turn": (theta / (2 * np.pi)).astype(np.float32),  # in [-0.5, 0.5]
        "s3": np.sin(3 * theta).astype(np.float32),
        "c3": np.cos(3 * theta).astype(np.float32),
        "s5": np.sin(5 * theta).astype(np.float32),
        "c5": np.cos(5 * theta).astype(np.float32),
        "mask": (r <= radius),
    }
    for v in out.values():
        v.setflags(write=False)
    return out


def scroll_slice(
    z: int,
    shape: tuple[int, int, int],
    dtype: str | npt.DTypeLike = "uint16",
    seed: int = 0,
) -> npt.NDArray[np.generic]:
    """Return slice ``z`` (a ``(y, x)`` array) of the scroll-like volume of ``shape`` (z, y, x).

    Deterministic: the same arguments always give the same bytes, independent of other calls.
    """
    nz, ny, nx = _check_shape(shape)
    dt = _check_dtype(dtype)
    if not 0 <= int(z) < nz:
        raise InputError(f"z must be in [0, {nz}); got {z}")
    z = int(z)
    seed = int(seed)

    # Background: smooth blobs, sum_k a_k gz_k(z) gy_k(y) gx_k(x) → saturated to [0, 1).
    pz, py, px = _blobs((nz, ny, nx), seed)[:3]
    amps = _blobs((nz, ny, nx), seed)[3]
    weights = (amps * pz[z]).astype(np.float32)
    field = np.zeros((ny, nx), dtype=np.float32)
    gy = py.astype(np.float32)
    gx = px.astype(np.float32)
    for k in range(_N_BLOBS):
        if weights[k] > 1e-4:
            field += np.multiply.outer(gy[:, k] * weights[k], gx[:, k])
    value = 0.12 + 0.3 * (1.0 - np.exp(-field))

    # The scroll: sheets where (r - wobble)/pitch - turn is an integer.
    geo = _polar(ny, nx)
    radius = _MASK_FRACTION * min(ny, nx)
    pitch = radius / _N_WRAPS
    phase = 2 * np.pi * z / max(nz, 1)
    wob_a = 0.18 * pitch
    wob_b = 0.10 * pitch
    wobble = (wob_a * np.cos(1.5 * phase)) * geo["s3"] + (wob_a * np.sin(1.5 * phase)) * geo["c3"]
    wobble += (wob_b * np.sin(2.5 * phase + 1.0)) * geo["s5"]
    wobble += (wob_b * np.cos(2.5 * phase + 1.0)) * geo["c5"]
    u = (geo["r"] - wobble) / np.float32(pitch) - geo["turn"]
    u -= np.round(u)
    u *= np.float32(pitch / max(1.0, pitch / 10.0))  # distance in sheet thicknesses
    sheets = np.exp(-(u * u))
    sheets *= geo["r"] <= np.float32(radius * 0.97)  # the scroll fits inside its mask
    value += 0.5 * sheets

    # Noise: 2 % of the full scale, drawn from a per-slice generator.
    rng = np.random.default_rng([seed, z, 0xB10B])
    value += rng.standard_normal((ny, nx), dtype=np.float32) * np.float32(_NOISE)

    scale = _full_scale(dt)
    if dt.kind == "f":
        out = np.clip(value, 1.0 / 65535.0, 1.0).astype(dt)
    else:
        value *= np.float32(scale)
        np.rint(value, out=value)
        out = np.clip(value, 1.0, scale).astype(dt)
    out[~geo["mask"]] = 0
    return out


def scroll_volume(
    shape: tuple[int, int, int],
    dtype: str | npt.DTypeLike = "uint16",
    seed: int = 0,
) -> npt.NDArray[np.generic]:
    """The whole ``(z, y, x)`` volume in memory; for small test sizes only."""
    nz, ny, nx = _check_shape(shape)
    dt = _check_dtype(dtype)
    vol = np.empty((nz, ny, nx), dtype=dt)
    for z in range(nz):
        vol[z] = scroll_slice(z, (nz, ny, nx), dt, seed)
    return vol


def write_tiff_stack(
    folder: str | Path,
    shape: tuple[int, int, int] = (64, 256, 256),
    dtype: str | npt.DTypeLike = "uint16",
    seed: int = 0,
    *,
    compression: str | None = None,
    name_pattern: str = "z{z:04d}.tif",
    overwrite: bool = False,
) -> list[Path]:
    """Write the volume as one 2-D TIFF per z-slice into ``folder``; return the paths in z order.

    ``compression`` is passed to tifffile (``None`` = uncompressed, or e.g. ``"zlib"``,
    ``"zstd"``, ``"lzw"``). ``name_pattern`` is formatted with ``z=``. Existing files are only
    replaced with ``overwrite=True``; memory use is a few slices whatever the depth.
    """
    nz, ny, nx = _check_shape(shape)
    dt = _check_dtype(dtype)
    folder = Path(folder)
    paths = [folder / name_pattern.format(z=z) for z in range(nz)]
    if len(set(paths)) != nz:
        raise InputError(f"name_pattern {name_pattern!r} does not give one name per slice")
    if not overwrite:
        existing = [p for p in paths if p.exists()]
        if existing:
            raise ConflictError(
                f"{len(existing)} of the stack's files already exist in {folder} "
                f"(e.g. {existing[0].name}); pass overwrite=True to replace them"
            )
    folder.mkdir(parents=True, exist_ok=True)
    for z, path in enumerate(paths):
        data = scroll_slice(z, (nz, ny, nx), dt, seed)
        tifffile.imwrite(path, data, compression=compression, photometric="minisblack")
    return paths
