"""``ngff validate --data``: read and decode every stored chunk or shard of every level.

The metadata checks of :func:`ngffkit.validate` never touch array data, so a truncated
shard or a chunk written with another codec passes them. Here each level (and each label
image's levels) is read one storage unit at a time — a whole shard when sharded, else a
chunk — through tensorstore, which decodes it exactly as any reader would. A unit that
fails is reported by its store key (``0/c/1/0/2``), the rest go on.

Only units that exist are read where the store can list its keys (local folders): an
absent key is the fill value, as the spec says, and costs nothing. Remote stores are read
unit by unit over the whole grid (an absent key reads as fill value there too).

Memory is bounded: at most ``parallel`` units are decoded at a time (a 256³ uint16 shard is
32 MiB), whatever the size of the image.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ngffkit.arrays import ArrayInfo, open_array
from ngffkit.image import Image, open_image
from ngffkit.metadata import Finding
from ngffkit.storage import Location, resolve

#: Units decoded at a time (tensorstore decodes each on its own threads).
PARALLEL = 4

Progress = Callable[[int, int], None]


def _key_of(loc: Location, info: ArrayInfo) -> Callable[[tuple[int, ...]], str]:
    """The store key of the unit at a grid index, as this array's metadata encodes keys."""
    if info.zarr_format == 3:
        meta = loc.read_json("zarr.json") or {}
        encoding = meta.get("chunk_key_encoding") or {"name": "default"}
        config = encoding.get("configuration") or {}
        if encoding.get("name") == "v2":
            sep = config.get("separator", ".")
            return lambda idx: sep.join(map(str, idx)) if idx else "0"
        sep = config.get("separator", "/")
        return lambda idx: "c" + "".join(sep + str(i) for i in idx)
    meta = loc.read_json(".zarray") or {}
    sep = meta.get("dimension_separator") or "."
    return lambda idx: sep.join(map(str, idx)) if idx else "0"


def _units(info: ArrayInfo) -> tuple[int, ...]:
    return info.shards or info.chunks


def _grid(info: ArrayInfo) -> tuple[int, ...]:
    return tuple(-(-s // u) for s, u in zip(info.shape, _units(info), strict=True))


def _stored(loc: Location, info: ArrayInfo) -> Iterator[tuple[int, ...]] | None:
    """Grid indices of the units present in the store, or None when it cannot list."""
    sizes = loc.list_sizes()
    if sizes is None:
        return None
    key_of = _key_of(loc, info)
    present = set(sizes)
    return (idx for idx in np.ndindex(*_grid(info)) if key_of(idx) in present)


def level_units(loc: Location, info: ArrayInfo) -> list[tuple[int, ...]]:
    """The grid indices a data check reads for one array."""
    stored = _stored(loc, info)
    return list(stored) if stored is not None else list(np.ndindex(*_grid(info)))


def check_array(
    loc: Location,
    info: ArrayInfo,
    where: str,
    *,
    units: list[tuple[int, ...]] | None = None,
    advance: Callable[[int], None] | None = None,
    parallel: int = PARALLEL,
) -> list[Finding]:
    """Decode every stored unit of the array at ``loc``; a finding per unit that fails."""
    store = open_array(loc, info, cached=False)
    key_of = _key_of(loc, info)
    unit = _units(info)
    unit_bytes = math.prod(unit) * info.dtype.itemsize
    findings: list[Finding] = []
    pending: deque[tuple[tuple[int, ...], Any]] = deque()

    def settle() -> None:
        idx, future = pending.popleft()
        try:
            future.result()
        except Exception as exc:  # tensorstore raises ValueError/RuntimeError/OSError
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            findings.append(
                Finding(
                    f"{where}/{key_of(idx)}" if where else key_of(idx),
                    f"cannot be read or decoded: {detail}",
                )
            )
        if advance is not None:
            advance(unit_bytes)

    for idx in units if units is not None else level_units(loc, info):
        box = tuple(
            slice(i * u, min((i + 1) * u, s)) for i, u, s in zip(idx, unit, info.shape, strict=True)
        )
        pending.append((idx, store[box].read()))
        if len(pending) >= parallel:
            settle()
    while pending:
        settle()
    return findings


def _images(image: Image) -> Iterator[tuple[str, Image]]:
    yield "", image
    for name in image.labels:
        yield f"labels/{name}", image.label(name)


def check_data(
    url: str | os.PathLike[str] | Location,
    *,
    progress: Progress | None = None,
    parallel: int = PARALLEL,
) -> list[Finding]:
    """Read and decode every stored chunk or shard of every level of the image at ``url``
    (label images included). Returns one finding per unit that fails, named by its key.

    ``progress(done, total)`` is called in decoded bytes.
    """
    image = open_image(resolve(url))
    arrays: list[tuple[str, Location, ArrayInfo, list[tuple[int, ...]]]] = []
    for prefix, img in _images(image):
        for level in img.levels:
            where = f"{prefix}/{level.path}" if prefix else level.path
            arrays.append(
                (where, level.location, level.info, level_units(level.location, level.info))
            )
    total = sum(
        len(units) * math.prod(_units(info)) * info.dtype.itemsize for _, _, info, units in arrays
    )
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(min(done, total), total)

    if progress is not None:
        progress(0, total)
    findings: list[Finding] = []
    for where, loc, info, units in arrays:
        findings.extend(
            check_array(loc, info, where, units=units, advance=advance, parallel=parallel)
        )
    return findings


__all__ = ["check_array", "check_data", "level_units"]
