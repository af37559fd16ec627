"""TIFF slice folders and ``volume_grids`` cells read where they live: ``http(s)://`` and
``s3://`` (the Vesuvius data server is an autoindex HTTP server).

The folder is listed once (:class:`~ngffkit.sources.remote_files.RemoteFolder`). A slice
is read the way the local reader would read it, with byte ranges instead of a memory map:

- an uncompressed, single-strip-run slice (the raw scroll volumes; what
  ``ngff decompress-tiffs`` writes): its header once (one or two small requests), then
  for each brick one request for the rows the brick needs, every slice of the brick in
  flight at once;
- any other TIFF (compressed, tiled, RGB): tifffile reads the header through a ranged file
  and only the strips or tiles under the window are fetched;
- a grid cell (a multi-page TIFF): its header once, then the rows of each page the brick
  needs when its pages are contiguous and uncompressed, else the strips under the window.

Ordering, gap rules and shape checks are the local readers'; only the bytes travel
differently. Messages name the file's URL.
"""

from __future__ import annotations

import math
import threading
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from ngffkit.errors import InputError
from ngffkit.sources._tiffhead import PlainPage, parse_plain
from ngffkit.sources._tiffio import TIFF_ERRORS, page_info, read_page_window
from ngffkit.sources.base import CELL_NAME, Box, SourceKind, SourceSpec
from ngffkit.sources.remote_files import UNKNOWN_SIZE, RangeFile, RemoteFile, RemoteFolder
from ngffkit.sources.slice_folder import SliceFolderSource, SliceInfo, slice_family
from ngffkit.sources.tiff_file import TiffFileSource
from ngffkit.sources.tiff_folder import probe_slice
from ngffkit.sources.volume_grids import VolumeGridsSource, index_cells


def _tiff_file(remote: RemoteFile) -> Any:
    import tifffile

    handle: Any = RangeFile(remote)
    return tifffile.TiffFile(handle, name=remote.name, size=remote.size or UNKNOWN_SIZE)


def detect_remote_folder(url: str) -> tuple[SourceKind, RemoteFolder]:
    """The kind of a remote folder of files, from its listing (one request)."""
    folder = RemoteFolder(url)
    names = folder.names
    if any(CELL_NAME.match(n) for n in names):
        return "volume-grids", folder
    families = {slice_family(n) for n in names} - {None}
    if "tiff" in families:
        return "tiff-folder", folder
    shown = ", ".join(names[:8]) + (" …" if len(names) > 8 else "")
    raise InputError(
        f"{folder.display()}/: the listing holds no TIFF slices or grid cells"
        f"{' (found: ' + shown + ')' if names else ' (it lists no files)'}. Remote inputs "
        "are folders of .tif/.tiff slices, volume_grids folders, or Zarr/N5/precomputed "
        "arrays; check the URL."
    )


def open_remote_folder(
    kind: SourceKind, folder: str | RemoteFolder, *, allow_gaps: bool = False
) -> SliceFolderSource | VolumeGridsSource:
    """Open a remote ``tiff-folder`` or ``volume-grids`` input."""
    if kind == "volume-grids":
        return RemoteVolumeGridsSource(folder, allow_gaps=allow_gaps)
    return RemoteTiffFolderSource(folder, allow_gaps=allow_gaps)


# Slice layouts per folder URL, shared by the sources of one process (the planner's check
# and the workers' reopened sources), as long as the folder lists the same files.
_LAYOUTS: dict[str, tuple[frozenset[str], dict[str, PlainPage | None]]] = {}
_LAYOUTS_LOCK = threading.Lock()
_CHECK_THREADS = 16  # headers fetched at once by check_all (each a request or two)


def _shared_layouts(folder: RemoteFolder) -> dict[str, PlainPage | None]:
    names = frozenset(folder.names)
    with _LAYOUTS_LOCK:
        found = _LAYOUTS.get(folder.url)
        if found is not None and found[0] == names:
            return found[1]
        if len(_LAYOUTS) > 64:
            _LAYOUTS.clear()
        layouts: dict[str, PlainPage | None] = {}
        _LAYOUTS[folder.url] = (names, layouts)
        return layouts


class RemoteTiffFolderSource(SliceFolderSource):
    """A folder of TIFF slices at an ``http(s)://`` or ``s3://`` URL."""

    kind: SourceKind = "tiff-folder"
    families = frozenset({"tiff"})
    read_errors = TIFF_ERRORS

    def __init__(self, url: str | RemoteFolder, *, allow_gaps: bool = False) -> None:
        self.folder = url if isinstance(url, RemoteFolder) else RemoteFolder(url)
        self.path = self.folder.url  # type: ignore[assignment]
        self._layouts = _shared_layouts(self.folder)
        self._lock = threading.Lock()
        families: dict[str, list[PurePosixPath]] = {}
        for name in self.folder.names:
            family = slice_family(name)
            if family is not None:
                families.setdefault(family, []).append(PurePosixPath(name))
        self._setup(families, self.folder.display(), allow_gaps)

    def _display(self, path: Any) -> str:
        return self.folder.display(PurePosixPath(path).name)

    def _probe(self, path: Any) -> SliceInfo:
        remote = self.folder.file(PurePosixPath(path).name)
        plain = parse_plain(remote.pread, remote.size or UNKNOWN_SIZE)
        with self._lock:
            self._layouts[remote.name] = plain
        return probe_slice(plain, lambda: _tiff_file(remote), remote.display(), ranged=True)

    def check_all(self) -> None:
        """Read every slice's header, many at once (a request or two each), and raise for
        the first unreadable or mismatched one."""
        from concurrent.futures import ThreadPoolExecutor

        def check(z: int) -> None:
            path = self.slots[z]
            if path is None:
                return
            plain = self._layouts.get(PurePosixPath(path).name)
            if plain is not None:
                self._check_slice(z, path, plain.shape, plain.dtype)
                return
            info: SliceInfo = self._guarded(z, path, self._probe)
            self._check_slice(z, path, info.shape, info.dtype)

        with ThreadPoolExecutor(_CHECK_THREADS, thread_name_prefix="check-slices") as pool:
            for _ in pool.map(check, range(len(self.slots))):
                pass

    def _layout(self, path: Any) -> PlainPage | None:
        name = PurePosixPath(path).name
        with self._lock:
            if name in self._layouts:
                return self._layouts[name]
        self._probe(path)
        return self._layouts[name]

    def _read_window(self, path: Any, z: int, ys: slice, xs: slice) -> np.ndarray[Any, Any]:
        remote = self.folder.file(PurePosixPath(path).name)
        with _tiff_file(remote) as tif:
            page = tif.pages.first
            info = page_info(page)
            self._check_slice(z, path, info.shape, info.dtype)
            return read_page_window(page, None, ys, xs)

    def _read_into(self, box: Box, out: np.ndarray[Any, Any]) -> None:
        if self.axes[0] == "c":
            super()._read_into(box, out)
            return
        zs, ys, xs = box
        pending = []
        slow = []
        for i, z in enumerate(range(zs.start, zs.stop)):
            path = self.slots[z]
            if path is None:
                continue
            plain = self._guarded(z, path, self._layout)
            if plain is None:
                slow.append(i)
                continue
            self._check_slice(z, path, plain.shape, plain.dtype)
            row = plain.shape[1] * plain.dtype.itemsize
            start, stop = plain.offset + ys.start * row, plain.offset + ys.stop * row
            # every slice's request in flight at once; the storage layer bounds how many
            pending.append(
                (i, z, path, plain, start, stop, self.folder.start_read(path.name, start, stop))
            )
        for i, z, path, plain, start, stop, future in pending:
            data = self._guarded(z, path, self._finish, future, start, stop)
            rows = np.frombuffer(data, dtype=plain.dtype).reshape(-1, plain.shape[1])
            out[i] = rows[:, xs]
        for i in slow:
            z = zs.start + i
            path = self.slots[z]
            assert path is not None
            out[i] = self._guarded(z, path, self._read_window, z, ys, xs)

    def _finish(self, path: Any, future: Any, start: int, stop: int) -> bytes:
        return self.folder.finish_read(future, PurePosixPath(path).name, start, stop)

    def spec(self) -> SourceSpec:
        return SourceSpec(
            kind=self.kind,
            path=self.folder.url,
            allow_gaps=self.allow_gaps,
            shape=self.shape,
            dtype=self.dtype.str,
        )


class RemoteTiffFileSource(TiffFileSource):
    """One multi-page TIFF (a grid cell) at a URL: the header through a ranged file, the
    pages' rows by range."""

    _local = False

    def __init__(self, remote: RemoteFile) -> None:
        self.remote = remote
        self.path = remote.display()  # type: ignore[assignment]
        self._start(lambda: _tiff_file(remote))

    def _read_memmap(self, nat: list[slice]) -> np.ndarray[Any, Any]:
        # a contiguous series: page p's row y starts at dataoffset + (p·ny + y)·row
        shape = self._series_shape
        dtype = np.dtype(self._series.dtype).newbyteorder(self._tif.byteorder)
        row = math.prod(shape[-1:] if len(shape) < 3 else shape[2:]) * dtype.itemsize
        if len(shape) != 3:  # not z, y, x: read the pages' whole span
            lead = nat[0]
            page = math.prod(shape[1:]) * dtype.itemsize
            start = self._dataoffset + lead.start * page
            data = self.remote.folder.read_range(
                self.remote.name, start, start + (lead.stop - lead.start) * page
            )
            arr = np.frombuffer(data, dtype=dtype).reshape((lead.stop - lead.start, *shape[1:]))
            return np.array(arr[(slice(None), *nat[1:])], dtype=dtype.newbyteorder("="))
        zs, ys, xs = nat
        ny = shape[1]
        futures = []
        for z in range(zs.start, zs.stop):
            start = self._dataoffset + (z * ny + ys.start) * row
            stop = start + (ys.stop - ys.start) * row
            futures.append(
                (start, stop, self.remote.folder.start_read(self.remote.name, start, stop))
            )
        out = np.empty([s.stop - s.start for s in nat], dtype=dtype.newbyteorder("="))
        for i, (start, stop, future) in enumerate(futures):
            try:
                data = self.remote.folder.finish_read(future, self.remote.name, start, stop)
            except ValueError as exc:
                raise InputError(
                    f"{self.path}: {exc}; the file is truncated. Re-copy it to the server."
                ) from exc
            rows = np.frombuffer(data, dtype=dtype).reshape(ys.stop - ys.start, shape[2])
            out[i] = rows[:, xs]
        return out


class RemoteVolumeGridsSource(VolumeGridsSource):
    """A ``volume_grids`` folder at an ``http(s)://`` or ``s3://`` URL."""

    def __init__(self, url: str | RemoteFolder, *, allow_gaps: bool = False) -> None:
        self.folder = url if isinstance(url, RemoteFolder) else RemoteFolder(url)
        self.allow_gaps = allow_gaps
        self.path = self.folder.url  # type: ignore[assignment]
        names = [PurePosixPath(n) for n in self.folder.names]
        self._setup(index_cells(names, self.folder.display()), self.folder.display())

    def _open_cell(self, path: Any) -> TiffFileSource:
        return RemoteTiffFileSource(self.folder.file(PurePosixPath(path).name))

    def spec(self) -> SourceSpec:
        return SourceSpec(
            kind=self.kind,
            path=self.folder.url,
            allow_gaps=self.allow_gaps,
            shape=self.shape,
            dtype=self.dtype.str,
        )


__all__ = [
    "RemoteTiffFolderSource",
    "RemoteVolumeGridsSource",
    "detect_remote_folder",
    "open_remote_folder",
]
