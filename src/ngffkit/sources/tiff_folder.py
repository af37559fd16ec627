"""A folder of 2-D TIFF slices (``.tif``/``.tiff``), one per z.

Uncompressed slices are memory-mapped, so a y/x window reads only its bytes. Compressed
slices (LZW, deflate, zstd, JPEG, ...) decode only the strips or tiles a window touches;
for strip-organised files that is whole rows of strips, reported as ``rows_per_block``.
"""

from __future__ import annotations

import mmap
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ngffkit.errors import InputError
from ngffkit.sources._fileread import OpenFiles, read_box
from ngffkit.sources._tiffhead import PlainPage, plain_page
from ngffkit.sources._tiffio import TIFF_ERRORS, PageInfo, page_info, read_page_window
from ngffkit.sources.base import Box, SourceKind
from ngffkit.sources.slice_folder import SliceFolderSource, SliceInfo

# MAP_POPULATE (Linux) maps every page of the window in one call instead of one fault each.
_MAP_FLAGS = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
# The most of a slice's rows mapped at once.
_MAP_BYTES = 4 << 20


# Each file's layout, shared by every source object of this process (the planner's check
# and each worker's reads) and keyed by the file's identity, so a changed file is probed
# again.
_Key = tuple[str, int, int, int]
_LAYOUTS: dict[_Key, PlainPage | None] = {}
_LAYOUTS_LOCK = threading.Lock()
_MAX_LAYOUTS = 1 << 18
_FILES_LOCK = threading.Lock()


def _remember(key: _Key, layout: PlainPage | None) -> None:
    with _LAYOUTS_LOCK:
        if len(_LAYOUTS) >= _MAX_LAYOUTS:  # a long-lived worker: forget older datasets
            _LAYOUTS.clear()
        _LAYOUTS[key] = layout


def _file_key(path: Path) -> _Key:
    st = os.stat(path)
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)


def _plain_layout(page: Any, path: Path) -> PlainPage | None:
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
    return PlainPage(offset, (ny, nx), np.dtype(dtype.newbyteorder("=")))


def first_page_info(tif: Any, where: str) -> PageInfo:
    """The slice of a TIFF of a folder: its first page; refuses files of several full-size
    pages (reading only the first of a stack would silently drop the others), while
    reduced-resolution pages (thumbnails, pyramids) are fine to skip."""
    import tifffile

    first = tif.pages.first
    info = page_info(first)
    if len(tif.pages) > 1:
        second = tif.pages[1]
        reduced = isinstance(second, tifffile.TiffPage) and second.is_reduced
        if not reduced and tuple(second.shape) == tuple(first.shape):
            raise InputError(
                f"{where}: holds {len(tif.pages)} full-size pages, but a folder of "
                "slices needs one image per file. To read one multi-page file, pass "
                "the file itself (input_format 'tiff')."
            )
    return info


def probe_slice(
    plain: PlainPage | None,
    open_tiff: Callable[[], Any],
    where: str,
    *,
    ranged: bool = False,
    on_first_page: Callable[[Any], None] | None = None,
) -> SliceInfo:
    """What one slice holds: from its plain layout when the header parser found one, else
    from tifffile (``open_tiff()``, a context manager) reading its first page.

    ``ranged``: the slice is read by byte ranges (a remote file), where a window costs
    whole rows (one request per slice) rather than only its bytes (a memory map)."""
    if plain is not None:
        if ranged:
            return SliceInfo(
                shape=plain.shape, dtype=plain.dtype, window_cheap=False, rows_per_block=1
            )
        return SliceInfo(
            shape=plain.shape, dtype=plain.dtype, window_cheap=True, rows_per_block=None
        )
    with open_tiff() as tif:
        info = first_page_info(tif, where)
        if on_first_page is not None:
            on_first_page(tif.pages.first)
    if ranged:
        return SliceInfo(
            shape=info.shape,
            dtype=info.dtype,
            window_cheap=False,
            rows_per_block=info.rows_per_block or info.shape[-2],
        )
    return SliceInfo(
        shape=info.shape,
        dtype=info.dtype,
        window_cheap=info.rows_per_block is None,
        rows_per_block=info.rows_per_block,
    )


class TiffFolderSource(SliceFolderSource):
    """Slices ``*.tif``/``*.tiff`` of one folder; the first page of each file is its slice."""

    kind: SourceKind = "tiff-folder"
    families = frozenset({"tiff"})
    read_errors = TIFF_ERRORS

    @property
    def _files(self) -> OpenFiles:
        """The slices kept open between reads (made on first use: subclasses such as a
        pattern's listed slices do not run this class's ``__init__``)."""
        files: OpenFiles | None = self.__dict__.get("_open_files")
        if files is None:
            with _FILES_LOCK:  # two bricks' first reads: one cache
                files = self.__dict__.setdefault("_open_files", OpenFiles())
        return files

    def close(self) -> None:
        """Close the slices kept open between reads."""
        self._files.close()

    def _probe(self, path: Path, key: _Key | None = None) -> SliceInfo:
        key = key or _file_key(path)
        plain = plain_page(path)
        if plain is not None:
            _remember(key, plain)

        def open_tiff() -> Any:
            import tifffile  # only for files the plain probe cannot read: it costs start-up

            return tifffile.TiffFile(path)

        def remember_page(page: Any) -> None:
            _remember(key, _plain_layout(page, path))

        return probe_slice(plain, open_tiff, str(path), on_first_page=remember_page)

    def _layout(self, path: Path) -> PlainPage | None:
        """The file's plain layout (None: read through tifffile), probing it once per
        process and change of the file."""
        key = _file_key(path)
        if key not in _LAYOUTS:
            self._probe(path, key)
        return _LAYOUTS.get(key)

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
            plain = self._guarded(z, path, self._layout)
            if plain is None or plain.shape != self._slice_shape[-2:] or plain.dtype != self.dtype:
                slow.append(i)
                continue
            self._guarded(z, path, self._read_plain, plain, ys, xs, out[i])
        for i in slow:
            z = zs.start + i
            path = self.slots[z]
            assert path is not None
            out[i] = self._guarded(z, path, self._read_window, z, ys, xs)

    def _read_plain(
        self, path: Path, plain: PlainPage, ys: slice, xs: slice, dest: np.ndarray[Any, Any]
    ) -> None:
        """Copy rows ``ys``, columns ``xs`` into ``dest``: by ``pread`` where the window is at
        least half of each row, else through read-only maps of the rows.

        ``pread`` (:func:`~ngffkit.sources._fileread.read_box`) reads straight into ``dest``
        for whole rows, else a few MiB of rows at a time; both copies release the GIL, where
        a populated mmap holds it on Python 3.11 (``mmap.mmap`` maps under the GIL there):
        60 % of the GIL a brick task held on the 256 MiB benchmark (issue 17). Reading up to
        twice the window costs less than the mmap saves at that width.

        Mapping rows with MAP_POPULATE lets the kernel map all their page-cache pages at
        once: 3x faster than ``pread`` into a buffer for a 256-wide window of 1024-wide
        rows, and only the window is copied. The rows are mapped a few MiB at a time and
        each map is closed at once, so a window of very wide slices never holds more than
        that in this process's memory.
        """
        nx = plain.shape[1]
        row = nx * plain.dtype.itemsize
        with self._files.open(path) as (fd, size):
            end = plain.offset + ys.stop * row
            if size < end:  # a ValueError: the caller names the slice and the way out
                raise ValueError(f"file is truncated: it ends before byte {end}")
            if 2 * (xs.stop - xs.start) >= nx:
                read_box(path, plain.offset, plain.shape, plain.dtype, (ys, xs), dest, fd)
                return
            # Populating a page costs a fraction of faulting it in, so it pays off until the
            # window is a small part of each row (measured: still 2x faster at 1/4); a narrow
            # window of wide rows faults in only the pages it reads.
            flags = _MAP_FLAGS if 8 * (xs.stop - xs.start) >= nx else mmap.MAP_SHARED
            step = max(1, _MAP_BYTES // row)
            for y0 in range(ys.start, ys.stop, step):
                y1 = min(y0 + step, ys.stop)
                start = plain.offset + y0 * row
                aligned = start - start % mmap.ALLOCATIONGRANULARITY
                mapped = mmap.mmap(
                    fd,
                    start + (y1 - y0) * row - aligned,
                    flags=flags,
                    prot=mmap.PROT_READ,
                    offset=aligned,
                )
                try:
                    rows = np.frombuffer(
                        mapped, dtype=plain.dtype, count=(y1 - y0) * nx, offset=start - aligned
                    ).reshape(-1, nx)
                    dest[y0 - ys.start : y1 - ys.start] = rows[:, xs]
                    del rows  # the map cannot close while a view of it exists
                finally:
                    mapped.close()

    def _read_window(self, path: Path, z: int, ys: slice, xs: slice) -> np.ndarray[Any, Any]:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            info = page_info(page)
            self._check_slice(z, path, info.shape, info.dtype)
            return read_page_window(page, path, ys, xs)
