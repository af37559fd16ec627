"""Reading a y/x window of one TIFF page without decoding more than it must.

Uncompressed contiguous pages are read by window (bounded preads), so a window costs only its bytes.
Strip- or tile-organised pages (compressed, or scattered on disk) decode just the
segments the window touches: a window of a strip-compressed slice decodes whole rows of
strips, a window of a tiled slice only the tiles under it.

Everything here works in the page's *normalized* layout (separate samples, y, x, contig
samples) and hands back ``(c, y, x)`` for multi-sample pages, ``(y, x)`` otherwise.
"""

from __future__ import annotations

import math
import os
import struct
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ngffkit.sources._fileread import read_box

#: What a broken TIFF raises from tifffile, imagecodecs and the OS. ``tifffile.TiffFileError``
#: is a ValueError (tests/sources pin that), so this module need not import tifffile: plain
#: slices are read without it.
TIFF_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    OSError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    RuntimeError,
    NotImplementedError,
    MemoryError,
)
try:  # imagecodecs' errors derive from RuntimeError today; stay safe if that changes
    import imagecodecs

    TIFF_ERRORS = (*TIFF_ERRORS, imagecodecs.DelayedImportError)
except (ImportError, AttributeError):  # pragma: no cover
    pass


@dataclass(frozen=True)
class PageInfo:
    """What a page header says, enough to check a slice and plan its reads."""

    shape: tuple[int, ...]  # (c, y, x) or (y, x)
    dtype: np.dtype[Any]
    memmappable: bool
    rows_per_block: int | None  # None when uncompressed (read by window) or tiled (window-cheap)


def page_info(page: Any) -> PageInfo:
    """Describe ``page`` (a ``tifffile.TiffPage``) from its header only."""
    nsep, depth, ny, nx, ncontig = (int(v) for v in page.shaped)
    if depth != 1:
        raise ValueError(f"volumetric (SGI ImageDepth={depth}) pages are not supported")
    if page.dtype is None:
        raise ValueError(
            f"unsupported sample format (bits per sample {page.bitspersample}, "
            f"sample format {page.sampleformat})"
        )
    samples = nsep * ncontig
    shape = (samples, ny, nx) if samples > 1 else (ny, nx)
    memmappable = bool(page.is_memmappable)
    # uncompressed and tiled pages read by window; strips decode rowsperstrip rows at once
    rows = None if memmappable or page.is_tiled else min(int(page.rowsperstrip) or ny, ny)
    return PageInfo(shape, np.dtype(page.dtype), memmappable, rows)


def read_page_window(
    page: Any,
    path: str | os.PathLike[str] | None,
    ys: slice,
    xs: slice,
    lock: AbstractContextManager[Any] | None = None,
) -> np.ndarray[Any, Any]:
    """Return rows ``ys`` and columns ``xs`` of ``page`` as (c, y, x) or (y, x).

    ``path``: the local file, read by window for an uncompressed page; None for a file
    that is not local (read through the page's file handle). ``lock`` guards the seek+read
    pairs on the file handle when several threads share it.
    """
    nsep, _, _, _, ncontig = (int(v) for v in page.shaped)
    if page.is_memmappable and path is not None:
        win = _contiguous_window(page, path, ys, xs)
    else:
        win = _decode_window(page, ys, xs, lock)
    # win is normalized (sep, y, x, contig); bring samples first
    if nsep > 1:
        return win[:, :, :, 0]
    if ncontig > 1:
        return np.moveaxis(win[0], -1, 0)
    return win[0, :, :, 0]


def _contiguous_window(
    page: Any, path: str | os.PathLike[str], ys: slice, xs: slice
) -> np.ndarray[Any, Any]:
    shaped = tuple(int(v) for v in page.shaped)
    nsep, _, ny, nx, ncontig = shaped
    dtype = np.dtype(page.dtype).newbyteorder(page.parent.byteorder)
    offset = int(page.dataoffsets[0])
    need = offset + math.prod(shaped) * dtype.itemsize
    size = os.path.getsize(path)
    if size < need:
        raise ValueError(f"file is truncated: image data needs {need} bytes, file has {size}")
    # (sep, y, x·contig): samples of one pixel are adjacent, so a column range is a byte range
    out = np.empty((nsep, ys.stop - ys.start, xs.stop - xs.start, ncontig), dtype.newbyteorder("="))
    box = (slice(0, nsep), ys, slice(xs.start * ncontig, xs.stop * ncontig))
    read_box(
        path,
        offset,
        (nsep, ny, nx * ncontig),
        dtype,
        box,
        out.reshape(nsep, ys.stop - ys.start, -1),
    )
    return out


def _decode_window(
    page: Any, ys: slice, xs: slice, lock: AbstractContextManager[Any] | None
) -> np.ndarray[Any, Any]:
    nsep, _, ny, nx, ncontig = (int(v) for v in page.shaped)
    if page.is_tiled:
        seg_h, seg_w = int(page.tilelength), int(page.tilewidth)
    else:
        seg_h, seg_w = min(int(page.rowsperstrip) or ny, ny), nx
    nl, nw = math.ceil(ny / seg_h), math.ceil(nx / seg_w)
    nplanes = nsep  # segments are stored plane-major when samples are separate
    offsets, counts = page.dataoffsets, page.databytecounts
    if len(offsets) != nplanes * nl * nw:
        raise ValueError(
            f"expected {nplanes * nl * nw} strips/tiles from the header, found {len(offsets)}"
        )
    rows = range(ys.start // seg_h, math.ceil(ys.stop / seg_h))
    cols = range(xs.start // seg_w, math.ceil(xs.stop / seg_w))
    indices = [(s * nl + r) * nw + c for s in range(nplanes) for r in rows for c in cols]
    out = np.zeros(
        (nsep, ys.stop - ys.start, xs.stop - xs.start, ncontig), dtype=np.dtype(page.dtype)
    )
    kwargs: dict[str, Any] = {"_fullsize": bool(page.is_tiled)}
    if page.compression in {6, 7, 34892, 33007}:  # JPEG variants carry shared tables
        kwargs["jpegtables"] = page.jpegtables
        kwargs["jpegheader"] = page.keyframe.jpegheader
    fh = page.parent.filehandle
    segments = fh.read_segments(
        [offsets[i] for i in indices],
        [counts[i] for i in indices],
        indices=indices,
        sort=True,
        lock=fh.lock if lock is None else lock,
        flat=True,
    )
    for data, index in segments:
        seg, pos, _ = page.decode(data, index, **kwargs)
        if seg is None:  # empty segment: fill value (zeros) is already in place
            continue
        s, _, y0, x0, _ = pos
        seg = seg[0]  # drop depth
        # clip the segment to the window, in image coordinates
        ya, yb = max(y0, ys.start), min(y0 + seg.shape[0], ys.stop, ny)
        xa, xb = max(x0, xs.start), min(x0 + seg.shape[1], xs.stop, nx)
        if ya >= yb or xa >= xb:
            continue
        out[s, ya - ys.start : yb - ys.start, xa - xs.start : xb - xs.start] = seg[
            ya - y0 : yb - y0, xa - x0 : xb - x0
        ]
    return out
