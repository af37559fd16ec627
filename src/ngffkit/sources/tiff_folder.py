"""A folder of 2-D TIFF slices (``.tif``/``.tiff``), one per z.

Uncompressed slices are memory-mapped, so a y/x window reads only its bytes. Compressed
slices (LZW, deflate, zstd, JPEG, ...) decode only the strips or tiles a window touches;
for strip-organised files that is whole rows of strips, reported as ``rows_per_block``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ngffkit.errors import InputError
from ngffkit.sources._tiffio import TIFF_ERRORS, page_info, read_page_window
from ngffkit.sources.base import Box, SourceKind
from ngffkit.sources.slice_folder import SliceFolderSource, SliceInfo


@dataclass(frozen=True)
class _Plain:
    """Where an uncompressed, single-sample, native-order slice keeps its pixels."""

    offset: int
    shape: tuple[int, int]
    dtype: np.dtype[Any]


def _plain_layout(page: Any, path: Path) -> _Plain | None:
    """The pixel layout of ``page`` when a window can be read with plain ``pread``s."""
    nsep, depth, ny, nx, ncontig = (int(v) for v in page.shaped)
    if not page.is_memmappable or nsep * ncontig != 1 or depth != 1 or page.dtype is None:
        return None
    dtype = np.dtype(page.dtype).newbyteorder(page.parent.byteorder)
    if dtype.byteorder not in ("=", "|") and dtype.byteorder != (
        "<" if sys.byteorder == "little" else ">"
    ):
        return None
    offset = int(page.dataoffsets[0])
    if os.path.getsize(path) < offset + ny * nx * dtype.itemsize:
        return None  # truncated: the decoding path reports it with the file's name
    return _Plain(offset, (ny, nx), np.dtype(dtype.newbyteorder("=")))


class TiffFolderSource(SliceFolderSource):
    """Slices ``*.tif``/``*.tiff`` of one folder; the first page of each file is its slice."""

    kind: SourceKind = "tiff-folder"
    families = frozenset({"tiff"})
    read_errors = TIFF_ERRORS

    def _probe(self, path: Path) -> SliceInfo:
        with tifffile.TiffFile(path) as tif:
            first = tif.pages.first
            info = page_info(first)
            self._layouts[path] = _plain_layout(first, path)
            # reading only the first page of a stack would silently drop the others;
            # reduced-resolution pages (thumbnails, pyramids) are fine to skip
            if len(tif.pages) > 1:
                second = tif.pages[1]
                reduced = isinstance(second, tifffile.TiffPage) and second.is_reduced
                if not reduced and tuple(second.shape) == tuple(first.shape):
                    raise InputError(
                        f"{path}: holds {len(tif.pages)} full-size pages, but a folder of "
                        "slices needs one image per file. To read one multi-page file, pass "
                        "the file itself (input_format 'tiff')."
                    )
        return SliceInfo(
            shape=info.shape,
            dtype=info.dtype,
            window_cheap=info.rows_per_block is None,
            rows_per_block=info.rows_per_block,
        )

    @property
    def _layouts(self) -> dict[Path, _Plain | None]:
        # Filled by check_all() or the first read of each slice: one header parse per file
        # per run instead of one per brick.
        cache: dict[Path, _Plain | None] | None = self.__dict__.get("_layout_cache")
        if cache is None:
            cache = self.__dict__["_layout_cache"] = {}
        return cache

    def _read_into(self, box: Box, out: np.ndarray[Any, Any]) -> None:
        if self.axes[0] == "c":
            super()._read_into(box, out)
            return
        zs, ys, xs = box
        slow = []
        for i, z in enumerate(range(zs.start, zs.stop)):
            path = self.slots[z]
            if path is None:
                continue
            if path not in self._layouts:
                self._guarded(z, path, self._probe)
            plain = self._layouts.get(path)
            if plain is None or plain.shape != self._slice_shape[-2:] or plain.dtype != self.dtype:
                slow.append(i)
                continue
            self._guarded(z, path, self._pread_window, plain, ys, xs, out[i])
        for i in slow:
            z = zs.start + i
            path = self.slots[z]
            assert path is not None
            out[i] = self._guarded(z, path, self._read_window, z, ys, xs)

    @staticmethod
    def _pread_window(path: Path, plain: _Plain, ys: slice, xs: slice,
                      dest: np.ndarray[Any, Any]) -> None:
        """Read rows ``ys`` with one pread; straight into ``dest`` when full width."""
        nx = plain.shape[1]
        row = nx * plain.dtype.itemsize
        start = plain.offset + ys.start * row
        length = (ys.stop - ys.start) * row
        fd = os.open(path, os.O_RDONLY)
        try:
            if xs.start == 0 and xs.stop == nx and dest.flags.c_contiguous:
                view = dest.reshape(-1).view(np.uint8).data
                got = os.preadv(fd, [view], start)
                buf = None
            else:
                buf = bytearray(length)
                got = os.preadv(fd, [buf], start)
        finally:
            os.close(fd)
        if got != length:
            raise ValueError(f"file is truncated: read {got} of {length} bytes")
        if buf is not None:
            rows = np.frombuffer(buf, dtype=plain.dtype).reshape(ys.stop - ys.start, nx)
            dest[...] = rows[:, xs]

    def _read_window(self, path: Path, z: int, ys: slice, xs: slice) -> np.ndarray[Any, Any]:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            info = page_info(page)
            self._check_slice(z, path, info.shape, info.dtype)
            return read_page_window(page, path, ys, xs)
