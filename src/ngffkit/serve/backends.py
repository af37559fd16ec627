"""Where served bytes come from.

The HTTP layer (:mod:`ngffkit.serve.app`) speaks only to :class:`Backend`: keys are
``"a/b/c"`` strings already checked by :func:`ngffkit.serve.paths.key_from_raw_path`, and the
backend answers with object metadata and byte spans. A backend never sees a URL or a header,
so a new source of bytes (a remote store proxied through tensorstore, an archive) is a new
class here and nothing else.

:meth:`Backend.fetch` takes a ``select`` callback rather than a span because which bytes to
send (Range, If-Range, 304, HEAD) depends on the object's size and validators, and a local
file can then be stat-ed and read in one trip to a worker thread.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import stat
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ngffkit.errors import InputError, StorageError
from ngffkit.serve.paths import is_served_name
from ngffkit.serve.ranges import ByteSpan


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What the HTTP layer needs to know about one object before sending it."""

    size: int | None  # None: not known (a proxy that read only the requested closed range)
    mtime: float | None  # POSIX seconds; None when the store has no modification time
    etag: str  # quoted, strong


@dataclass(frozen=True, slots=True)
class Fetched:
    """An object's info, the span ``select`` chose, and its bytes when small enough."""

    info: ObjectInfo
    span: ByteSpan | None
    body: bytes | None  # None if no span was chosen or it is larger than the inline limit


@dataclass(frozen=True, slots=True)
class DirEntry:
    name: str
    is_dir: bool
    size: int | None


Select = Callable[[ObjectInfo], ByteSpan | None]
_T = TypeVar("_T")


class Backend(ABC):
    """A read-only tree of objects addressed by ``/``-separated keys."""

    @abstractmethod
    async def fetch(
        self, key: str, select: Select, inline_limit: int, requested: ByteSpan | None = None
    ) -> Fetched | None:
        """Look up ``key``; call ``select(info)`` and read that span if it is at most
        ``inline_limit`` bytes. None if ``key`` is not a servable object.

        ``requested`` is the span a closed Range names by itself. A backend that cannot learn
        an object's size cheaply may read just that span and call ``select`` with
        ``size=None``, after checking the object holds every byte of it."""

    @abstractmethod
    async def read(self, key: str, span: ByteSpan) -> bytes:
        """Bytes of ``span`` of ``key`` (used to stream spans above the inline limit)."""

    @abstractmethod
    async def list_dir(self, key: str) -> list[DirEntry] | None:
        """Servable children of directory ``key``, or None if it is not a directory."""

    @abstractmethod
    def describe(self) -> str:
        """What is being served, for start-up messages."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release resources held by the backend."""


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

    def describe(self) -> str:
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


# --------------------------------------------------------------------------- tensorstore kvstore

_OUT_OF_RANGE = "OUT_OF_RANGE"


class _OutOfRange(Exception):
    """A byte-range read asked for bytes past the end of the value."""


class _Retry:
    """Marker: answer the request another way (size needed, or the value changed)."""

    __slots__ = ()


RETRY = _Retry()


def _redacted(url: str) -> str:
    """``url`` without the ``user:password@`` part, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    if sep and "@" in host:
        host = "***@" + host.rpartition("@")[2]
    return f"{scheme}{sep}{host}{slash}{path}"


def _generation_etag(generation: bytes) -> str:
    return f'"{hashlib.sha256(generation).hexdigest()[:32]}"'


class KvStoreBackend(Backend):
    """Serves the keys of a tensorstore KvStore (``file``, ``memory``, ``http``, ``s3``, ...).

    This is the proxy mode: the server reads remote or protected data itself (with the
    credentials :func:`ngffkit.storage.resolve` put in the spec) and serves it locally with
    CORS and Range. Reads upstream are byte-range reads of just what was asked for:

    - a closed range (``bytes=a-b``, every inner-chunk read of a zarr client) is read as
      that range, answered ``206`` with ``Content-Range: bytes a-b/*`` until the size is known;
    - tensorstore's KvStore has no "stat", so an object's size is learnt by reading it whole,
      once per object version; only what needs the size does that (HEAD, ``a-``, ``-n``, no
      Range). The size is remembered with the storage generation and every later read checks
      the generation, so a rewritten object is noticed;
    - whole values up to ``value_limit`` (metadata JSON, small chunks) are cached in an LRU
      bounded by ``cache_bytes`` and revalidated with a conditional read on every request.
    """

    def __init__(
        self,
        kvstore_spec: dict[str, Any],
        *,
        cache_bytes: int = 64 << 20,
        value_limit: int = 1 << 20,
        max_sizes: int = 200_000,
    ) -> None:
        import tensorstore as ts  # deferred: the file server must not pay for it

        from ngffkit.storage import shared_context

        try:
            self._kv = ts.KvStore.open(kvstore_spec, context=shared_context()).result()
        except Exception as exc:  # tensorstore raises ValueError/RuntimeError variants
            raise StorageError(f"cannot open {self._describe_spec(kvstore_spec)}: {exc}") from exc
        self._spec = kvstore_spec
        self._values: OrderedDict[str, tuple[bytes, bytes]] = OrderedDict()
        self._sizes: OrderedDict[str, tuple[bytes, int]] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._value_limit = min(value_limit, cache_bytes)
        self._max_sizes = max_sizes
        self._cached = 0
        self._key_range = ts.KvStore.KeyRange
        self.upstream_reads = 0
        """Reads sent to the store (a test and benchmark counter)."""
        self.whole_reads = 0
        """Of those, reads that transferred a whole value (to learn a size or fill the cache)."""

    @property
    def kvstore(self) -> Any:
        """The open ``tensorstore.KvStore`` (e.g. to write test data into a memory store)."""
        return self._kv

    @staticmethod
    def _describe_spec(spec: dict[str, Any]) -> str:
        driver = spec.get("driver")
        if driver == "http":
            return _redacted(f"{spec.get('base_url', '')}{spec.get('path', '')}")
        if driver in ("s3", "gcs"):
            scheme = "s3" if driver == "s3" else "gs"
            return f"{scheme}://{spec.get('bucket', '')}/{spec.get('path', '')}"
        return f"{driver}://{spec.get('path', '')}"

    def describe(self) -> str:
        return self._describe_spec(self._spec)

    # -- upstream reads ------------------------------------------------------------------

    async def _read(self, key: str, **options: Any) -> Any:
        self.upstream_reads += 1
        try:
            result = await self._kv.read(key, **options)
        except Exception as exc:
            if _OUT_OF_RANGE in str(exc) and "byte_range" in options:
                raise _OutOfRange from exc
            raise StorageError(
                f"reading {key!r} from {self.describe()} failed: {_redacted(str(exc))}"
            ) from exc
        if "byte_range" not in options and result.state == "value":
            self.whole_reads += 1
        return result

    def _forget(self, key: str) -> None:
        self._sizes.pop(key, None)
        old = self._values.pop(key, None)
        if old is not None:
            self._cached -= len(old[1])

    def _remember(self, key: str, generation: bytes, value: bytes | None, size: int) -> None:
        self._forget(key)
        self._sizes[key] = (generation, size)
        while len(self._sizes) > self._max_sizes:
            self._sizes.popitem(last=False)
        if value is None or len(value) > self._value_limit:
            return
        self._values[key] = (generation, value)
        self._cached += len(value)
        while self._cached > self._cache_bytes:
            _, (_, dropped) = self._values.popitem(last=False)
            self._cached -= len(dropped)

    async def _whole(self, key: str) -> tuple[bytes, bytes] | None:
        """(generation, value) read whole (a conditional read if the value is cached)."""
        cached = self._values.get(key)
        if cached is not None:
            result = await self._read(key, if_not_equal=cached[0])
            if result.state == "unspecified":
                self._values.move_to_end(key)
                return cached
        else:
            result = await self._read(key)
        if result.state != "value":
            self._forget(key)
            return None
        entry = (bytes(result.stamp.generation), bytes(result.value))
        self._remember(key, entry[0], entry[1], len(entry[1]))
        return entry

    async def _span(self, key: str, span: ByteSpan) -> tuple[bytes, bytes] | None:
        """(generation, bytes of span); None if the key is missing. May raise _OutOfRange."""
        result = await self._read(key, byte_range=slice(span.start, span.stop))
        if result.state != "value":
            self._forget(key)
            return None
        return bytes(result.stamp.generation), bytes(result.value)

    # -- Backend -------------------------------------------------------------------------

    async def fetch(
        self, key: str, select: Select, inline_limit: int, requested: ByteSpan | None = None
    ) -> Fetched | None:
        if not key:
            return None
        if key not in self._sizes and key not in self._values and requested is not None:
            found = await self._fetch_requested(key, select, inline_limit, requested)
            if not isinstance(found, _Retry):
                return found
        # Two rounds: a value rewritten between the size and the bytes is re-read once.
        for _ in range(2):
            found = await self._fetch_sized(key, select, inline_limit)
            if not isinstance(found, _Retry):
                return found
        raise StorageError(f"{key!r} in {self.describe()} keeps changing while being read")

    async def _fetch_requested(
        self, key: str, select: Select, inline_limit: int, requested: ByteSpan
    ) -> Fetched | _Retry | None:
        """Serve a closed range without the size; RETRY if the size is needed after all."""
        # A large span is streamed later; reading its last byte proves that it exists.
        probe = (
            requested
            if requested.length <= inline_limit
            else ByteSpan(requested.stop - 1, requested.stop)
        )
        try:
            got = await self._span(key, probe)
        except _OutOfRange:
            return RETRY  # past the end: clamping needs the size
        if got is None:
            return None
        generation, data = got
        info = ObjectInfo(None, None, _generation_etag(generation))
        span = select(info)
        body = data if span is not None and probe == requested else None
        return Fetched(info, span, body)

    async def _fetch_sized(
        self, key: str, select: Select, inline_limit: int
    ) -> Fetched | _Retry | None:
        """Serve with the size known (learning it if needed); RETRY if the value changed."""
        known = self._sizes.get(key)
        if known is None:
            entry = await self._whole(key)
            if entry is None:
                return None
            generation, value = entry
            info = ObjectInfo(len(value), None, _generation_etag(generation))
            span = select(info)
            body = value[span.start : span.stop] if span and span.length <= inline_limit else None
            return Fetched(info, span, body)
        generation, size = known
        cached = self._values.get(key)
        if cached is not None:
            entry = await self._whole(key)  # revalidates; re-reads only if changed
            if entry is None:
                return None
            if entry[0] != generation:
                return RETRY
            value = entry[1]
            info = ObjectInfo(size, None, _generation_etag(generation))
            span = select(info)
            body = value[span.start : span.stop] if span and span.length <= inline_limit else None
            return Fetched(info, span, body)
        info = ObjectInfo(size, None, _generation_etag(generation))
        span = select(info)
        if span is None or span.length == 0 or span.length > inline_limit:
            # HEAD, 304, 416, or a span to stream: check that the object is still the same.
            result = await self._read(key, byte_range=slice(0, 0), if_not_equal=generation)
            if result.state == "missing":
                self._forget(key)
                return None
            if result.state != "unspecified":
                self._forget(key)
                return RETRY
            return Fetched(info, span, b"" if span is not None and not span.length else None)
        try:
            got = await self._span(key, span)
        except _OutOfRange:
            self._forget(key)  # it shrank
            return RETRY
        if got is None:
            return None
        if got[0] != generation:
            self._forget(key)
            return RETRY
        self._sizes.move_to_end(key)
        return Fetched(info, span, got[1])

    async def read(self, key: str, span: ByteSpan) -> bytes:
        cached = self._values.get(key)
        if cached is not None and len(cached[1]) >= span.stop:
            return cached[1][span.start : span.stop]
        try:
            got = await self._span(key, span)
        except _OutOfRange:
            got = None
        known = self._sizes.get(key)
        if got is None or (known is not None and got[0] != known[0]):
            raise StorageError(f"{key!r} changed or disappeared while being served")
        return got[1]

    async def list_dir(self, key: str) -> list[DirEntry] | None:
        prefix = f"{key}/" if key else ""
        end = prefix[:-1] + "0" if prefix else None  # "0" sorts right after "/"
        key_range = self._key_range(inclusive_min=prefix, exclusive_max=end or "")
        try:
            keys = await self._kv.list(key_range, strip_prefix_length=len(prefix.encode()))
        except Exception:
            return None  # e.g. the http driver cannot list
        if not keys:
            return None
        children: dict[str, DirEntry] = {}
        for raw in keys:
            name, sep, _ = raw.decode("utf-8", "replace").partition("/")
            if not is_served_name(name) or name in children:
                continue
            children[name] = DirEntry(name, bool(sep), None)
        return sorted(children.values(), key=lambda e: (not e.is_dir, e.name))


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
    "KvStoreBackend",
    "ObjectInfo",
    "Select",
    "open_backend",
]
