"""Zarr array metadata, v2 and v3, read leniently and written exactly.

:class:`ArrayInfo` is what ngffkit needs to know about one stored array (a pyramid level):
shape, dtype, inner chunk and shard shapes, codecs, fill value, dimension names. It is read
from ``zarr.json`` or ``.zarray`` directly — cheaper than opening the array, and it works on
arrays tensorstore would refuse — and it yields the tensorstore spec that opens the data.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ngffkit.compression import describe_codecs
from ngffkit.errors import ConflictError, MetadataError
from ngffkit.spec import ArrayLayout
from ngffkit.storage import (
    JsonDict,
    KvstoreSpec,
    Location,
    default_options,
    mapped_errors,
    read_context,
    shared_context,
)

if TYPE_CHECKING:
    import tensorstore as ts


@dataclass(frozen=True)
class ArrayInfo:
    """One Zarr array's metadata."""

    zarr_format: int
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    chunks: tuple[int, ...]
    """The read chunk: the inner chunk of a sharded array, else the chunk."""
    shards: tuple[int, ...] | None
    """The shard shape (Zarr v3 ``sharding_indexed``), or None when unsharded."""
    compression: str
    fill_value: Any
    dimension_names: tuple[str | None, ...] | None
    separator: str
    raw: JsonDict

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


_V3_DTYPES = {
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
}


def _v3_info(meta: JsonDict, where: str) -> ArrayInfo:
    try:
        shape = tuple(int(s) for s in meta["shape"])
        data_type = meta["data_type"]
        grid = tuple(int(c) for c in meta["chunk_grid"]["configuration"]["chunk_shape"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MetadataError(f"{where}: Zarr v3 array metadata lacks or garbles {exc}") from exc
    if not isinstance(data_type, str) or data_type not in _V3_DTYPES:
        raise MetadataError(f"{where}: unsupported Zarr v3 data_type {data_type!r}")
    codecs = list(meta.get("codecs") or [])
    chunks, shards = grid, None
    for codec in codecs:
        if codec.get("name") == "sharding_indexed":
            chunks = tuple(int(c) for c in codec["configuration"]["chunk_shape"])
            shards = grid
    encoding = meta.get("chunk_key_encoding") or {}
    separator = (encoding.get("configuration") or {}).get(
        "separator", "." if encoding.get("name") == "v2" else "/"
    )
    names = meta.get("dimension_names")
    return ArrayInfo(
        zarr_format=3,
        shape=shape,
        dtype=np.dtype(data_type),
        chunks=chunks,
        shards=shards,
        compression=describe_codecs(codecs),
        fill_value=meta.get("fill_value"),
        dimension_names=tuple(names) if names is not None else None,
        separator=separator,
        raw=meta,
    )


def _v2_info(meta: JsonDict, where: str) -> ArrayInfo:
    try:
        shape = tuple(int(s) for s in meta["shape"])
        chunks = tuple(int(c) for c in meta["chunks"])
        dtype = np.dtype(meta["dtype"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MetadataError(f"{where}: Zarr v2 .zarray lacks or garbles {exc}") from exc
    return ArrayInfo(
        zarr_format=2,
        shape=shape,
        dtype=dtype,
        chunks=chunks,
        shards=None,
        compression=describe_codecs(compressor=meta.get("compressor"), filters=meta.get("filters")),
        fill_value=meta.get("fill_value"),
        dimension_names=None,
        separator=str(meta.get("dimension_separator", ".")),
        raw=meta,
    )


def read_array_info(loc: Location) -> ArrayInfo | None:
    """The array at ``loc``, or None when there is no array there."""
    meta = loc.read_json("zarr.json")
    if meta is not None:
        if meta.get("node_type") != "array":
            return None
        return _v3_info(meta, loc.display("zarr.json"))
    meta = loc.read_json(".zarray")
    if meta is not None:
        return _v2_info(meta, loc.display(".zarray"))
    return None


def tensorstore_spec(loc: Location, info: ArrayInfo) -> JsonDict:
    """The spec that opens this array with tensorstore."""
    driver = "zarr3" if info.zarr_format == 3 else "zarr"
    return {"driver": driver, "kvstore": dict(loc.kvstore)}


def open_array(
    loc: Location, info: ArrayInfo, *, write: bool = False, cached: bool = True
) -> ts.TensorStore:
    """Open the array for reading (and writing, if asked).

    Read-only handles share the chunk cache (``read_context``) unless ``cached=False``;
    writable ones do not, so a conversion's memory stays what its plan says.
    """
    import tensorstore as ts

    spec = tensorstore_spec(loc, info)
    if loc.is_remote and not write:
        # Cached chunks and shard indexes stay valid for the handle's life: a remote read
        # then costs no revalidation request (reopen the image to see newer data).
        spec["recheck_cached_data"] = "open"
    with mapped_errors(loc, "zarr.json" if info.zarr_format == 3 else ".zarray"):
        return ts.open(
            spec,
            read=True,
            write=write,
            open=True,
            context=read_context() if cached and not write else shared_context(),
        ).result()


def create_array(loc: Location, layout: ArrayLayout) -> ArrayInfo:
    """Write the metadata of a new, empty array at ``loc`` and return its info.

    Zarr v3 arrays carry ``dimension_names`` (OME-Zarr 0.5 requires them) and, when ``shards``
    differ from ``chunks``, a ``sharding_indexed`` codec with a crc32c-checked index at the end.
    Zarr v2 arrays use ``/`` as the dimension separator, as OME-Zarr 0.4 asks.
    """
    if read_array_info(loc) is not None:
        raise ConflictError(f"an array already exists at {loc.display()}")
    zarr_format, shape, dtype = layout.zarr_format, layout.shape, layout.dtype
    chunks, shards, compression = layout.chunks, layout.shards, layout.compression
    fill = np.asarray(layout.fill_value, dtype=dtype).item()
    meta: JsonDict
    if zarr_format == 3:
        inner = compression.v3_codecs(dtype)
        if shards is not None and tuple(shards) != tuple(chunks):
            codecs: list[JsonDict] = [
                {
                    "name": "sharding_indexed",
                    "configuration": {
                        "chunk_shape": list(chunks),
                        "codecs": inner,
                        "index_codecs": [
                            {"name": "bytes", "configuration": {"endian": "little"}},
                            {"name": "crc32c"},
                        ],
                        "index_location": "end",
                    },
                }
            ]
            grid = list(shards)
        else:
            codecs, grid = inner, list(chunks)
        meta = {
            "zarr_format": 3,
            "node_type": "array",
            "shape": list(shape),
            "data_type": dtype.name,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": grid}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": _json_fill(fill),
            "codecs": codecs,
            "attributes": {},
            "dimension_names": list(layout.dimension_names),
        }
        loc.write_json("zarr.json", meta)
    else:
        meta = {
            "zarr_format": 2,
            "shape": list(shape),
            "chunks": list(chunks),
            "dtype": dtype.str,
            "compressor": compression.v2_compressor(dtype),
            "fill_value": _json_fill(fill),
            "order": "C",
            "filters": None,
            "dimension_separator": "/",
        }
        loc.write_json(".zarray", meta)
    info = read_array_info(loc)
    if info is None:  # pragma: no cover - we just wrote it
        raise MetadataError(f"could not read back the array just written at {loc.display()}")
    return info


def derive_array(
    like: ArrayInfo,
    loc: Location,
    *,
    shape: tuple[int, ...],
    chunks: tuple[int, ...],
    shards: tuple[int, ...] | None,
) -> ArrayInfo:
    """Create an empty array at ``loc`` encoded like ``like`` (codecs, separator, fill value,
    dimension names, attributes), with its own shape, chunks and shards.

    Used to add pyramid levels to another tool's image: the new levels are stored the way
    its existing ones are. A sharded ``like`` gives a sharded array unless ``shards`` is
    None or equals ``chunks``; an unsharded one stays unsharded.
    """
    if read_array_info(loc) is not None:
        raise ConflictError(f"an array already exists at {loc.display()}")
    meta = copy.deepcopy(like.raw)
    meta["shape"] = list(shape)
    if like.zarr_format == 2:
        meta["chunks"] = list(chunks)
        loc.write_json(".zarray", meta)
    else:
        codecs = meta.get("codecs") or []
        at = next((i for i, c in enumerate(codecs) if c.get("name") == "sharding_indexed"), None)
        grid = list(chunks)
        if at is not None:
            conf = codecs[at]["configuration"]
            if shards is None or tuple(shards) == tuple(chunks):
                meta["codecs"] = codecs[:at] + list(conf["codecs"]) + codecs[at + 1 :]
            else:
                conf["chunk_shape"] = list(chunks)
                grid = list(shards)
        meta["chunk_grid"] = {"name": "regular", "configuration": {"chunk_shape": grid}}
        loc.write_json("zarr.json", meta)
    info = read_array_info(loc)
    if info is None:  # pragma: no cover - we just wrote it
        raise MetadataError(f"could not read back the array just written at {loc.display()}")
    return info


def ignores_ranges(exc: BaseException) -> bool:
    """Whether tensorstore failed because the server answered a Range request with the
    whole object (static servers without Range support do)."""
    return "was ignored by server" in str(exc)


class ShardMirror:
    """Reads of a sharded array from a server that ignores Range requests.

    Tensorstore reads a shard's index and inner chunks by byte range and refuses a server
    that answers with the whole object. This copies each shard a read touches, whole, into
    an in-memory store and reads there: correct, but every shard touched is downloaded
    entirely. Copies are evicted oldest first beyond the chunk cache size.
    """

    def __init__(self, loc: Location, info: ArrayInfo) -> None:
        if info.shards is None or info.zarr_format != 3:
            raise ValueError("ShardMirror is for sharded Zarr v3 arrays")
        import tensorstore as ts

        self.loc, self.info = loc, info
        self._kvspec = {"driver": "memory", "path": f"ngffkit-mirror/{uuid.uuid4().hex}/"}
        with mapped_errors(KvstoreSpec(self._kvspec)):
            self._kv = ts.KvStore.open(self._kvspec, context=read_context()).result()
            self._kv.write("zarr.json", json.dumps(info.raw).encode()).result()
        self._store: ts.TensorStore | None = None
        self._held: OrderedDict[str, int] = OrderedDict()
        self._limit = max(default_options().cache_bytes, 64 * 2**20)
        self._lock = threading.Lock()

    def _key(self, index: tuple[int, ...]) -> str:
        encoding = self.info.raw.get("chunk_key_encoding") or {}
        sep = self.info.separator
        if encoding.get("name") == "v2":
            return sep.join(str(i) for i in index) or "0"
        return sep.join(["c", *(str(i) for i in index)])

    def _keys(self, region: tuple[slice, ...]) -> list[str]:
        assert self.info.shards is not None
        ranges = []
        for sl, extent, shard in zip(region, self.info.shape, self.info.shards, strict=True):
            start, stop, _ = sl.indices(extent)
            if stop <= start:
                return []
            ranges.append(range(start // shard, (stop - 1) // shard + 1))
        return [self._key(idx) for idx in itertools.product(*ranges)]

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        import tensorstore as ts

        keys = self._keys(region)
        with self._lock, mapped_errors(self.loc):
            for key in keys:
                if key in self._held:
                    self._held.move_to_end(key)
                    continue
                data = self.loc.read(key)  # a plain GET: no Range
                if data is None:
                    continue  # a missing shard reads as the fill value
                self._kv.write(key, data).result()
                self._held[key] = len(data)
            while sum(self._held.values()) > self._limit and len(self._held) > len(keys):
                old, _size = self._held.popitem(last=False)
                self._kv.delete_range(ts.KvStore.KeyRange(old, old + "\x00")).result()
            if self._store is None:
                self._store = ts.open(
                    {"driver": "zarr3", "kvstore": self._kvspec, "recheck_cached_data": False},
                    read=True,
                    context=read_context(),
                ).result()
            # Read under the lock: another thread must not evict these shards meanwhile.
            return np.asarray(self._store[region].read(order="C").result())


def _json_fill(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return "NaN" if np.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


__all__ = [
    "ArrayInfo",
    "create_array",
    "derive_array",
    "open_array",
    "read_array_info",
    "tensorstore_spec",
]
__all__ = [
    "ArrayInfo",
    "ShardMirror",
    "create_array",
    "ignores_ranges",
    "open_array",
    "read_array_info",
    "tensorstore_spec",
]
