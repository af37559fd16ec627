"""One dataset of an HDF5 file (CREMI, ilastik, BigDataViewer exports, Imaris, h5py output).

The input is written ``FILE.h5:/path/to/dataset``; without the ``:/path`` the file's one
dataset of three or more dimensions is taken (an error lists them when there are several).
A 3-D dataset is ``z,y,x``; a 4-D one ``c,z,y,x``; a 5-D one ``t,c,z,y,x`` (C order, as h5py,
ilastik and CREMI store them).

Reads are hyperslab selections straight into the caller's array (``read_direct``): HDF5
decodes one chunk at a time, so a brick costs its own size plus a chunk, whatever the
file's size. Every filter the installed HDF5 library or ``hdf5plugin`` provides is read
(gzip, lzf, shuffle, szip; blosc, blosc2, zstd, lz4, bitshuffle, ...); a dataset whose
filter is missing is refused when opened, naming the filter, not half-way through a run.
h5py serialises calls into the HDF5 library, so threads of one process would decode one
chunk at a time: gzip (with or without shuffle), the commonest filter and the slowest to
decode, is therefore read raw (``read_direct_chunk``) and inflated outside the library,
where zlib releases the GIL and the threads decode in parallel.

Voxel size: the dataset's ``element_size_um`` attribute (z,y,x in micrometres: ilastik,
Fiji's HDF5 plugin, plantseg, fibsem-tools) or ``resolution`` (z,y,x in nanometres: CREMI).
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ngffkit.errors import InputError, NotFoundError
from ngffkit.sources.base import (
    Box,
    ReadCost,
    SourceBase,
    SourceKind,
    SourceSpec,
    check_local_file,
    is_numeric,
    spatial_slice_bytes,
)

#: Suffixes detected as HDF5 (the signature is checked too; see :func:`is_hdf5_file`).
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5", ".ims")
#: The HDF5 format signature; it sits at byte 0, 512, 1024, ... (after a user block).
_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_AXES = {3: ("z", "y", "x"), 4: ("c", "z", "y", "x"), 5: ("t", "c", "z", "y", "x")}
# Voxel size attributes, in z,y,x order, with their unit.
_VOXEL_ATTRS = (("element_size_um", "micrometer"), ("resolution", "nanometer"))
# HDF5 filter ids read without the library (see the module's docs).
_DEFLATE, _SHUFFLE = 1, 2
_DATASET_SPLIT = re.compile(r"^(?P<file>.+?\.(?:h5|hdf5|hdf|he5|ims)):(?P<dataset>.*)$", re.I)


def split_dataset(text: str) -> tuple[str, str | None]:
    """``"a/data.h5:/volumes/raw"`` -> ``("a/data.h5", "/volumes/raw")``; other inputs as
    they are, with no dataset. A file that exists under the whole name is not split; one
    that exists under the name before the last ':' is (whatever its suffix)."""
    if os.path.exists(text):
        return text, None
    match = _DATASET_SPLIT.match(text)
    if match is None:
        file, sep, dataset = text.rpartition(":")
        if sep and file and os.path.isfile(file):
            return file, "/" + dataset.lstrip("/")
        return text, None
    return match.group("file"), "/" + match.group("dataset").lstrip("/")


def is_hdf5_file(path: Path) -> bool:
    """Whether ``path`` starts with the HDF5 signature (at 0 or after a user block)."""
    try:
        with path.open("rb") as f:
            offset = 0
            while True:
                f.seek(offset)
                head = f.read(8)
                if head == _SIGNATURE:
                    return True
                if len(head) < 8 or offset >= 2**20:
                    return False
                offset = 512 if offset == 0 else offset * 2
    except OSError:
        return False


def _h5py() -> Any:
    # hdf5plugin registers its filters (blosc, zstd, lz4, bitshuffle, ...) with the HDF5
    # library when imported; without it such datasets read as "filter not available".
    import h5py
    import hdf5plugin  # noqa: F401

    return h5py


def _candidates(h5file: Any) -> list[tuple[str, tuple[int, ...], str]]:
    """Every dataset of the file as (path, shape, dtype), in file order."""
    h5py = _h5py()
    found: list[tuple[str, tuple[int, ...], str]] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            found.append(("/" + name, tuple(obj.shape), str(obj.dtype)))

    h5file.visititems(visit)
    return found


def _listing(items: list[tuple[str, tuple[int, ...], str]], limit: int = 12) -> str:
    shown = [f"{p} ({'x'.join(map(str, s)) or 'scalar'} {d})" for p, s, d in items[:limit]]
    more = f", … ({len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(shown) + more


class Hdf5Source(SourceBase):
    """One dataset of an HDF5 file, read by hyperslab."""

    kind: SourceKind = "hdf5"

    def __init__(self, path: str | os.PathLike[str], dataset: str | None = None) -> None:
        self.path = Path(path).resolve()
        check_local_file(self.path, "an HDF5 input must be a file")
        if not is_hdf5_file(self.path):
            raise InputError(
                f"{self.path}: not an HDF5 file (no HDF5 signature). Check the file, or pass "
                "the right [[input_format]] (tiff, raw, ...) for it."
            )
        h5py = _h5py()
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise InputError(f"{self.path}: cannot open the HDF5 file ({exc}).") from None
        try:
            self._dataset = self._pick(dataset)
            self._take_dataset()
        except BaseException:
            self._file.close()
            raise
        # h5py locks around every HDF5 call; this keeps a read's selection and transfer
        # together when threads of one process share the handle.
        self._lock = threading.Lock()

    def _pick(self, dataset: str | None) -> Any:
        h5py = _h5py()
        name = f"{self.path}"
        if dataset is not None and dataset not in ("", "/"):
            obj = self._file.get(dataset)
            if obj is None:
                found = [c for c in _candidates(self._file) if len(c[1]) >= 3]
                hint = (
                    f" Datasets of 3 or more dimensions here: {_listing(found)}."
                    if found
                    else " The file holds no dataset of 3 or more dimensions."
                )
                raise NotFoundError(f"{name}: no dataset {dataset!r}.{hint}")
            if not isinstance(obj, h5py.Dataset):
                inside = [c for c in _candidates(obj) if len(c[1]) >= 3]
                prefix = dataset.rstrip("/")
                inside = [(prefix + p, s, d) for p, s, d in inside]
                hint = (
                    f" Name one of its datasets: {_listing(inside)}."
                    if inside
                    else " It holds no dataset of 3 or more dimensions."
                )
                raise InputError(f"{name}: {dataset!r} is a group, not a dataset.{hint}")
            return obj
        every = _candidates(self._file)
        volumes = [c for c in every if len(c[1]) >= 3]
        if len(volumes) == 1:
            return self._file[volumes[0][0]]
        if not volumes:
            what = f" It holds: {_listing(every)}." if every else " It holds no datasets."
            raise InputError(f"{name}: no dataset of 3 or more dimensions to convert.{what}")
        raise InputError(
            f"{name} holds {len(volumes)} datasets of 3 or more dimensions: "
            f"{_listing(volumes)}. Name one as FILE:/PATH, e.g. "
            f"ngff convert {self.path.name}:{volumes[0][0]} OUTPUT"
        )

    def _take_dataset(self) -> None:
        """Check the dataset is a numeric volume and take its shape, dtype, axes, voxel size."""
        ds = self._dataset
        where = f"{self.path}:{ds.name}"
        ndim = len(ds.shape)
        if ndim not in _AXES:
            raise InputError(
                f"{where} has {ndim} dimension{'s' if ndim != 1 else ''} "
                f"({'x'.join(map(str, ds.shape)) or 'scalar'}); a volume needs 3 (z,y,x), "
                "4 (c,z,y,x) or 5 (t,c,z,y,x). Name a volume dataset as FILE:/PATH."
            )
        dtype = np.dtype(ds.dtype)
        if not is_numeric(dtype):
            raise InputError(
                f"{where} holds {dtype} values, not numbers; convert a numeric dataset."
            )
        self._shuffled = self._check_filters(where)
        self.dataset = str(ds.name)
        self.shape = tuple(int(n) for n in ds.shape)
        self.dtype = dtype.newbyteorder("=")
        self.axes = _AXES[ndim]
        self.voxel_size, self.unit = self._voxel_size()
        self.cost = ReadCost(
            window_cheap=True,
            rows_per_block=None,
            bytes_per_slice=spatial_slice_bytes(self.shape, self.axes, self.dtype),
        )

    def _check_filters(self, where: str) -> bool | None:
        """Refuse missing filters. Returns, for chunks of gzip alone (False) or shuffle then
        gzip (True), whether to unshuffle after inflating; None: HDF5 decodes."""
        h5py = _h5py()
        plist = self._dataset.id.get_create_plist()
        codes = []
        for i in range(plist.get_nfilters()):
            code, _flags, _values, label = plist.get_filter(i)
            codes.append(code)
            if not h5py.h5z.filter_avail(code):
                text = label.decode(errors="replace") if isinstance(label, bytes) else label
                raise InputError(
                    f"{where} is compressed with HDF5 filter {code} ({text or 'unnamed'}), "
                    "which is not available here; install the plugin that provides it "
                    "(hdf5plugin covers blosc, blosc2, zstd, lz4, bitshuffle, bzip2, sz, zfp) "
                    "or set HDF5_PLUGIN_PATH to its folder."
                )
        if self._dataset.chunks is None or codes not in ([_DEFLATE], [_SHUFFLE, _DEFLATE]):
            return None
        return bool(codes[0] == _SHUFFLE)

    def _voxel_size(self) -> tuple[dict[str, float] | None, str | None]:
        space = [a for a in self.axes if a in ("z", "y", "x")]
        for attr, unit in _VOXEL_ATTRS:
            if attr not in self._dataset.attrs:
                continue
            try:
                values = [float(v) for v in np.ravel(self._dataset.attrs[attr])]
            except (TypeError, ValueError):
                continue
            if len(values) == len(self.axes):  # one value per axis, channels included
                values = [v for v, a in zip(values, self.axes, strict=True) if a in space]
            if len(values) == len(space) and all(v > 0 for v in values):
                return dict(zip(space, values, strict=True)), unit
        return None, None

    def _read_into(self, box: Box, out: np.ndarray[Any, Any]) -> None:
        if self._shuffled is None:
            with self._lock:
                self._dataset.read_direct(out, source_sel=box)
            return
        ds = self._dataset
        chunks = tuple(int(c) for c in ds.chunks)
        grid = [range(s.start // c, -(-s.stop // c)) for s, c in zip(box, chunks, strict=True)]
        for index in itertools.product(*grid):
            origin = tuple(i * c for i, c in zip(index, chunks, strict=True))
            part = tuple(
                slice(max(s.start, o), min(s.stop, o + c))
                for s, o, c in zip(box, origin, chunks, strict=True)
            )
            dest = tuple(
                slice(p.start - s.start, p.stop - s.start) for p, s in zip(part, box, strict=True)
            )
            with self._lock:
                info = ds.id.get_chunk_info_by_coord(origin)
                raw = None if info.byte_offset is None else ds.id.read_direct_chunk(origin)
            if raw is None:
                out[dest] = ds.fillvalue  # never written: the fill value
                continue
            mask, payload = raw
            if mask:  # a filter was skipped for this chunk: let HDF5 undo what was done
                with self._lock:
                    ds.read_direct(out, source_sel=part, dest_sel=dest)
                continue
            chunk = self._inflate(payload, chunks, ds.dtype)
            out[dest] = chunk[
                tuple(slice(p.start - o, p.stop - o) for p, o in zip(part, origin, strict=True))
            ]

    def _inflate(self, payload: bytes, chunks: tuple[int, ...], dtype: Any) -> np.ndarray[Any, Any]:
        data = zlib.decompress(payload)  # releases the GIL: threads inflate in parallel
        if self._shuffled:
            # HDF5's shuffle stores byte 0 of every value, then byte 1, ...
            data = np.frombuffer(data, np.uint8).reshape(dtype.itemsize, -1).T.tobytes()
        return np.frombuffer(data, dtype).reshape(chunks)

    def spec(self) -> SourceSpec:
        """Return the picklable description that reopens this source elsewhere."""
        return SourceSpec(
            kind=self.kind,
            path=str(self.path),
            dataset=self.dataset,
            shape=self.shape,
            dtype=self.dtype.str,
        )

    def close(self) -> None:
        self._file.close()


__all__ = ["HDF5_SUFFIXES", "Hdf5Source", "is_hdf5_file", "split_dataset"]
