"""Bounded reads of a box of an uncompressed C-order array stored in a local file.

Raw files and uncompressed (contiguous) TIFFs are read with ``pread`` into the caller's
array, a few MiB at a time, never through ``np.memmap``: the pages a mapping touches (the
kernel's readahead around them, and whole pages for every partial row of a narrow box)
count as this process's resident memory while the file is mapped, which took a raw
conversion at ``--max-memory 300M`` to 550-750 MiB. Page-cache pages that were only read
are the kernel's, not ours.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ngffkit.errors import InputError

# The most bytes one read holds besides the output (a strip of whole rows of a narrow box),
# per thread for the whole run (the plan counts it in ``bricks.TASK_SCRATCH``). 2 MiB reads
# are as fast as 8 MiB ones: the system call is not what costs.
STRIP_BYTES = 2 << 20
# One strip buffer per thread, reused: a fresh one would fault in its pages on every strip.
_scratch = threading.local()


def _strip(nbytes: int) -> np.ndarray[Any, Any]:
    buffer: np.ndarray[Any, Any] | None = getattr(_scratch, "buffer", None)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = _scratch.buffer = np.empty(max(nbytes, STRIP_BYTES), np.uint8)
    return buffer[:nbytes]


def read_box(
    path: str | os.PathLike[str],
    offset: int,
    shape: Sequence[int],
    dtype: np.dtype[Any],
    box: Sequence[slice],
    out: np.ndarray[Any, Any],
) -> None:
    """Fill ``out`` (``box``'s shape, any strides and byte order) with ``box`` of the
    ``shape`` array of ``dtype`` (file byte order) stored in C order at ``offset``."""
    shape = tuple(int(n) for n in shape)
    if len(shape) < 2:  # a vector reads as one row
        shape, box, out = (1, *shape), (slice(0, 1), *box), out.reshape(1, -1)
    item = dtype.itemsize
    *lead, n1, n2 = shape
    *lead_box, rows, cols = (slice(int(s.start), int(s.stop)) for s in box)
    row_bytes = n2 * item
    full = cols.start == 0 and cols.stop == n2
    direct = full and out.dtype == dtype
    per_read = max(1, STRIP_BYTES // row_bytes)
    fd = os.open(path, os.O_RDONLY)
    try:
        for index in np.ndindex(*(s.stop - s.start for s in lead_box)):
            at = tuple(i + s.start for i, s in zip(index, lead_box, strict=True))
            plane = out[index]  # (rows, cols) of out
            first = int(np.ravel_multi_index(at, lead)) * n1 if lead else 0
            for y in range(rows.start, rows.stop, per_read):
                stop = min(y + per_read, rows.stop)
                target = plane[y - rows.start : stop - rows.start]
                start = offset + (first + y) * row_bytes
                if direct and target.flags.c_contiguous:
                    _pread_exact(fd, path, _bytes(target).cast("B"), start)
                elif row_bytes > STRIP_BYTES:  # one row alone is large: read its part
                    for k in range(stop - y):
                        part = np.empty(cols.stop - cols.start, dtype)
                        _pread_exact(
                            fd,
                            path,
                            _bytes(part).cast("B"),
                            start + k * row_bytes + cols.start * item,
                        )
                        target[k] = part
                else:
                    buf = _strip((stop - y) * row_bytes).view(dtype).reshape(stop - y, n2)
                    _pread_exact(fd, path, _bytes(buf).cast("B"), start)
                    target[...] = buf[:, cols]
    finally:
        os.close(fd)


def _bytes(array: np.ndarray[Any, Any]) -> memoryview:
    return memoryview(array.data)


def _pread_exact(fd: int, path: str | os.PathLike[str], view: memoryview, offset: int) -> None:
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got == 0:
            raise InputError(
                f"{path}: the file ended at byte {offset + done}, but its data needs "
                f"{offset + len(view)}; it is truncated or was changed while being read"
            )
        done += got


__all__ = ["STRIP_BYTES", "read_box"]
