"""Where served bytes come from: a local folder (:class:`FileBackend`), and
:func:`open_backend`, the factory that picks it or the tensorstore proxy
(:class:`~ngffkit.serve.proxy.KvStoreBackend`) for a path or URL.

The contract every backend keeps (:class:`Backend` and what it answers with) is in
:mod:`ngffkit.serve.contract`; its names are importable from here too.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ngffkit.errors import InputError, StorageError
from ngffkit.serve.contract import Backend, DirEntry, Fetched, ObjectInfo, Select
from ngffkit.serve.paths import is_served_name
from ngffkit.serve.proxy import KvStoreBackend
from ngffkit.serve.ranges import ByteSpan

_T = TypeVar("_T")


# --------------------------------------------------------------------------- local files

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
# O_NONBLOCK so that a FIFO planted under the root cannot hang a worker thread in open().
_OPEN_FLAGS |= getattr(os, "O_NONBLOCK", 0)


class _WouldBlock(Exception):
    """A non-blocking read found the bytes outside the page cache."""


_RWF_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)


def _pread_cached(fd: int, start: int, length: int) -> bytes:
    """Read only if every byte is in the page cache, else raise :class:`_WouldBlock`."""
    assert _RWF_NOWAIT is not None
    buf = bytearray(length)
    try:
        got = os.preadv(fd, [buf], start, _RWF_NOWAIT)
    except BlockingIOError as exc:
        raise _WouldBlock from exc
    if got != length:
        raise _WouldBlock  # partly cached, or the file shrank: let the blocking path decide
    return bytes(buf)


def _pread_exact(fd: int, start: int, length: int) -> bytes:
    data = os.pread(fd, length, start)
    if len(data) == length:
        return data
    parts = [data]
    got = len(data)
    while got < length:
        more = os.pread(fd, length - got, start + got)
        if not more:
            raise StorageError(
                f"file shrank while being served: wanted {length} bytes at offset {start}, "
                f"got {got}; is it being rewritten?"
            )
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _file_etag(st: os.stat_result) -> str:
    return f'"{st.st_size:x}-{st.st_mtime_ns:x}"'


class FileBackend(Backend):
    """Serves the files under ``root`` (a folder of datasets, or one dataset folder).

    Symlinks are followed only while they resolve inside ``root``; hidden files other than
    zarr v2 metadata are never served, whatever a symlink points at.

    Reads whose bytes are all in the page cache are done on the event loop
    (``preadv(RWF_NOWAIT)`` says so without blocking); only the others go to a thread pool.
    A trip to a worker thread costs more than the read itself for a cached 16 KiB chunk, and
    it was the largest single cost in ``benchmarks/bench_serve.py``. Pass
    ``inline_reads=False`` to send every read to the pool (e.g. on a network file system,
    where even ``open`` may block).
    """

    def __init__(
        self, root: str | os.PathLike[str], *, inline_reads: bool = True, threads: int = 16
    ) -> None:
        path = Path(root).expanduser()
        if not path.exists():
            raise InputError(f"PATH {str(path)!r} does not exist; give a folder to serve.")
        if not path.is_dir():
            raise InputError(
                f"PATH {str(path)!r} is a file; give the folder that contains it "
                "(a dataset folder or a folder of datasets)."
            )
        self.root = path.resolve()
        self._root = str(self.root)
        self._prefix = self._root.rstrip(os.sep) + os.sep
        self._inline = inline_reads and _RWF_NOWAIT is not None
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None

    def display(self) -> str:
        return self._root

    def _resolve(self, key: str) -> str | None:
        """Real path of ``key`` if it lies inside the root and names nothing hidden."""
        real = os.path.realpath(os.path.join(self._root, key))
        if real == self._root:
            return real
        if not real.startswith(self._prefix):
            return None
        # A symlink may point at a hidden file inside the root; the name it resolves to counts.
        if not all(is_served_name(part) for part in real[len(self._prefix) :].split(os.sep)):
            return None
        return real

    def _fetch_sync(
        self, key: str, select: Select, inline_limit: int, cached_only: bool = False
    ) -> Fetched | None:
        real = self._resolve(key)
        if real is None:
            return None
        try:
            fd = os.open(real, _OPEN_FLAGS)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            info = ObjectInfo(st.st_size, st.st_mtime, _file_etag(st))
            span = select(info)
            body = None
            if span is not None and span.length <= inline_limit:
                if cached_only:
                    body = _pread_cached(fd, span.start, span.length)
                else:
                    body = _pread_exact(fd, span.start, span.length)
            return Fetched(info, span, body)
        finally:
            os.close(fd)

    def _read_sync(self, key: str, span: ByteSpan) -> bytes:
        real = self._resolve(key)
        if real is None:
            raise StorageError(f"{key!r} disappeared while being served")
        fd = os.open(real, _OPEN_FLAGS)
        try:
            return _pread_exact(fd, span.start, span.length)
        finally:
            os.close(fd)

    def _list_sync(self, key: str) -> list[DirEntry] | None:
        real = self._resolve(key)
        if real is None or not os.path.isdir(real):
            return None
        entries: list[DirEntry] = []
        with os.scandir(real) as it:
            for entry in it:
                if not is_served_name(entry.name):
                    continue
                child = self._resolve(f"{key}/{entry.name}" if key else entry.name)
                if child is None:
                    continue
                try:
                    is_dir = os.path.isdir(child)
                    size = None if is_dir else os.stat(child).st_size
                except OSError:
                    continue
                entries.append(DirEntry(entry.name, is_dir, size))
        entries.sort(key=lambda e: (not e.is_dir, e.name))
        return entries

    async def _in_pool(self, func: Callable[..., _T], *args: Any) -> _T:
        if self._pool is None:
            # Created on first use: constructing a backend starts no threads.
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="ngff-serve-io")
        return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)

    async def fetch(
        self, key: str, select: Select, inline_limit: int, requested: ByteSpan | None = None
    ) -> Fetched | None:
        if self._inline:
            try:
                return self._fetch_sync(key, select, inline_limit, True)
            except _WouldBlock:
                pass
            except OSError as exc:
                if exc.errno != errno.EOPNOTSUPP:
                    raise
                self._inline = False  # this file system has no RWF_NOWAIT
        return await self._in_pool(self._fetch_sync, key, select, inline_limit)

    async def read(self, key: str, span: ByteSpan) -> bytes:
        return await self._in_pool(self._read_sync, key, span)

    async def list_dir(self, key: str) -> list[DirEntry] | None:
        return await self._in_pool(self._list_sync, key)

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def open_backend(target: str | os.PathLike[str]) -> Backend:
    """The backend for ``target``: a local folder (path or ``file://``) is served from disk;
    any other URL ``ngffkit.storage.resolve`` accepts (``http(s)://`` with credentials,
    ``s3://``, ``gs://``) is proxied through a tensorstore kvstore."""
    from ngffkit.storage import resolve

    location = resolve(target)
    local = location.local_path
    if local is not None:
        return FileBackend(local)
    return KvStoreBackend(location.kvstore)


__all__ = [
    "Backend",
    "DirEntry",
    "Fetched",
    "FileBackend",
    "ObjectInfo",
    "Select",
    "open_backend",
]
