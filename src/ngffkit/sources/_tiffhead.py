"""A fast look at the one header most slice stacks have: one uncompressed, single-sample page.

A folder of slices is probed file by file before anything is written (and again by each
worker process), so the probe is on the critical path of every conversion: tifffile spends
about 0.3 ms per file building its page objects, this reads the first IFD with two
``pread`` calls and ``struct`` in about a tenth of that. Anything it is not sure about —
compression, tiles, several samples or pages, unusual bit depths, a foreign byte order —
returns None, and the caller asks tifffile, which stays the authority on every other file.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# Tags read here (TIFF 6.0 numbers).
_WIDTH, _LENGTH, _BITS, _COMPRESSION, _PHOTOMETRIC = 256, 257, 258, 259, 262
_FILL_ORDER, _STRIP_OFFSETS, _SAMPLES, _ROWS_PER_STRIP, _STRIP_COUNTS = 266, 273, 277, 278, 279
_PLANAR, _PREDICTOR, _TILE_WIDTH, _SAMPLE_FORMAT, _IMAGE_DEPTH = 284, 317, 322, 339, 32997
# Field type -> struct code for the integer types a header of this kind uses.
_INT_TYPES = {1: "B", 3: "H", 4: "I", 16: "Q"}
_KINDS = {1: "u", 2: "i", 3: "f"}  # SampleFormat
_HEAD_BYTES = 4096


@dataclass(frozen=True)
class PlainPage:
    """An uncompressed single-sample page stored in one contiguous run of bytes."""

    offset: int
    shape: tuple[int, int]  # (y, x)
    dtype: np.dtype[Any]  # native byte order


def plain_page(path: str | os.PathLike[str]) -> PlainPage | None:
    """The layout of ``path``'s only page when it is plain; None when tifffile should decide
    (including for broken files: tifffile's error names what is wrong)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return parse_plain(lambda n, at: os.pread(fd, n, at), os.fstat(fd).st_size)
    except (struct.error, ValueError, OSError, KeyError, IndexError):
        return None
    finally:
        os.close(fd)


def parse_plain(pread: Callable[[int, int], bytes], size: int) -> PlainPage | None:
    """The plain layout from ``pread(nbytes, offset)`` reads of a file of ``size`` bytes
    (local files, and remote ones read by range); None when tifffile should decide."""
    head = pread(_HEAD_BYTES, 0)
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None:
        return None
    (version,) = struct.unpack_from(order + "H", head, 2)
    big = version == 43
    if version not in (42, 43):
        return None
    (ifd,) = struct.unpack_from(order + ("Q" if big else "I"), head, 8 if big else 4)
    count_fmt, entry_size, value_size = ("Q", 20, 8) if big else ("H", 12, 4)
    block = pread(8 + 20 * 64, ifd)
    (n,) = struct.unpack_from(order + count_fmt, block, 0)
    start = 8 if big else 2
    table_end = start + n * entry_size
    if len(block) < table_end + value_size:
        block = pread(table_end + value_size, ifd)
    (next_ifd,) = struct.unpack_from(order + ("Q" if big else "I"), block, table_end)
    if next_ifd != 0:
        return None  # several pages: tifffile tells thumbnails from a stack
    tags: dict[int, list[int]] = {}
    for i in range(n):
        at = start + i * entry_size
        if big:
            tag, kind, count = struct.unpack_from(order + "HHQ", block, at)
        else:
            tag, kind, count = struct.unpack_from(order + "HHI", block, at)
        code = _INT_TYPES.get(kind)
        if code is None or count == 0:
            continue
        nbytes = struct.calcsize(code) * count
        if nbytes <= value_size:
            raw = block[at + entry_size - value_size : at + entry_size - value_size + nbytes]
        else:
            (where,) = struct.unpack_from(
                order + ("Q" if big else "I"), block, at + entry_size - value_size
            )
            if count > 1 << 20 or where + nbytes > size:
                return None
            raw = pread(nbytes, where)
        tags[tag] = list(struct.unpack(f"{order}{count}{code}", raw))
    return _plain(tags, order, size)


def _plain(tags: dict[int, list[int]], order: str, size: int) -> PlainPage | None:
    def one(tag: int, default: int) -> int:
        values = tags.get(tag)
        return values[0] if values else default

    if (
        _TILE_WIDTH in tags
        or _IMAGE_DEPTH in tags
        or one(_COMPRESSION, 1) != 1
        or one(_SAMPLES, 1) != 1
        or one(_FILL_ORDER, 1) != 1
        or one(_PREDICTOR, 1) != 1
        or one(_PLANAR, 1) != 1
        or one(_PHOTOMETRIC, 1) not in (0, 1)
    ):
        return None
    bits = set(tags.get(_BITS, [1]))
    kind = _KINDS.get(one(_SAMPLE_FORMAT, 1))
    if len(bits) != 1 or kind is None:
        return None
    nbits = bits.pop()
    if nbits not in (8, 16, 32, 64) or (kind == "f" and nbits == 8):
        return None
    native = "<" if sys.byteorder == "little" else ">"
    if nbits > 8 and order != native:
        return None
    ny, nx = one(_LENGTH, 0), one(_WIDTH, 0)
    offsets, counts = tags.get(_STRIP_OFFSETS), tags.get(_STRIP_COUNTS)
    if ny <= 0 or nx <= 0 or not offsets or not counts or len(offsets) != len(counts):
        return None
    dtype = np.dtype(f"{kind}{nbits // 8}")
    nbytes = ny * nx * dtype.itemsize
    for k in range(1, len(offsets)):
        if offsets[k] != offsets[k - 1] + counts[k - 1]:
            return None  # strips apart: tifffile reads them one by one
    if sum(counts) != nbytes or offsets[0] + nbytes > size:
        return None  # short or truncated: tifffile's error says which
    return PlainPage(offsets[0], (ny, nx), dtype)


__all__ = ["PlainPage", "parse_plain", "plain_page"]
