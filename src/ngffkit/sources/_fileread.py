"""Bounded reads of a box of an uncompressed C-order array stored in a local file.

Raw files and uncompressed (contiguous) TIFFs are read with ``pread`` into the caller's
array, a few MiB at a time, never through ``np.memmap``: the pages a mapping touches (the
kernel's readahead around them, and whole pages for every partial row of a narrow box)
count as this process's resident memory while the file is mapped, which took a raw
conversion at ``--max-memory 300M`` to 550-750 MiB. Page-cache pages that were only read
are the kernel's, not ours.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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
    fd: int | None = None,
) -> None:
    """Fill ``out`` (``box``'s shape, any strides and byte order) with ``box`` of the
    ``shape`` array of ``dtype`` (file byte order) stored in C order at ``offset``: from
    ``fd`` where given (an open descriptor of ``path``, left open), else ``path`` opened for
    this call."""
    if fd is None:
        fd = os.open(path, os.O_RDONLY)
        try:
            read_box(path, offset, shape, dtype, box, out, fd)
        finally:
            os.close(fd)
        return
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


@dataclass
class _Open:
    fd: int
    size: int
    users: int = 0
    dropped: bool = False  # closed once its last user is done


# One bound for the whole process, over every source's files: a pattern folder opens a
# source per (t, c), and per-source bounds would add up past the descriptor limit.
_lock = threading.Lock()
_open: OrderedDict[tuple[int, str], _Open] = OrderedDict()  # (owner, path), oldest first
_owners = itertools.count()


class OpenFiles:
    """Read-only descriptors of the files one source reads, kept open between its reads.

    A brick reads a part of every slice of its z range, and the next brick the same slices
    again: opening a file per read cost 2,300 ``openat`` for a 256-slice folder in 8 bricks,
    at 20-110 µs each on the machines we measure on, where 256 suffice. At most
    :func:`most_idle` idle descriptors are kept in this process, over all sources, the least
    recently used closed first; one in use by a thread is never closed under it.
    Descriptors are positionless (``pread``, ``mmap``), so threads share them. A file
    replaced while it is open is read as it was when opened; one truncated fails the read as
    before (``_pread_exact``).
    """

    def __init__(self) -> None:
        self._owner = next(_owners)
        # Closed with the source if nobody calls close() (a library user's own source).
        self._finalizer = weakref.finalize(self, _close_owner, self._owner)

    @contextlib.contextmanager
    def open(self, path: str | os.PathLike[str]) -> Iterator[tuple[int, int]]:
        """``(descriptor, size in bytes)`` of ``path``, open at least until the block ends."""
        key = (self._owner, os.fspath(path))
        with _lock:
            entry = _open.get(key)
            if entry is not None:
                entry.users += 1
                _open.move_to_end(key)
        if entry is None:
            fd = os.open(key[1], os.O_RDONLY)  # outside the lock: the slow part
            try:
                size = os.fstat(fd).st_size
            except BaseException:
                os.close(fd)
                raise
            with _lock:
                entry = _open.get(key)
                if entry is None:
                    entry = _open[key] = _Open(fd, size)
                    fd = -1
                entry.users += 1
                _trim()
            if fd >= 0:  # another thread opened it meanwhile
                os.close(fd)
        try:
            yield entry.fd, entry.size
        finally:
            with _lock:
                entry.users -= 1
                if entry.dropped and entry.users == 0:
                    os.close(entry.fd)

    def close(self) -> None:
        """Close every descriptor of this source (one in use: once its user is done)."""
        _close_owner(self._owner)


def _close_owner(owner: int) -> None:
    with _lock:
        for key in [k for k in _open if k[0] == owner]:
            entry = _open.pop(key)
            if entry.users:
                entry.dropped = True
            else:
                os.close(entry.fd)


def _trim() -> None:
    """Close the least recently used idle descriptors beyond the bound (under ``_lock``)."""
    most = most_idle()
    while len(_open) > most:
        idle = next((k for k, e in _open.items() if e.users == 0), None)
        if idle is None:  # every one in use: trimmed at a later open
            return
        os.close(_open.pop(idle).fd)


@functools.cache
def most_idle() -> int:
    """How many idle descriptors this process keeps: an eighth of its limit (tensorstore's
    chunk files and the user's own files need the rest), at most 4,096."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):  # no such limit here (Windows)
        return 64
    if soft == resource.RLIM_INFINITY:
        return 4096
    return max(8, min(4096, soft // 8))


__all__ = ["STRIP_BYTES", "OpenFiles", "most_idle", "read_box"]
