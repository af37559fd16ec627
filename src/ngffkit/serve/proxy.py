"""Backends that are not a local folder: a tensorstore KvStore (the proxy mode of
``ngff serve URL``) and several backends mounted side by side (``ngff view A B``)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

from ngffkit.errors import InputError, NgffkitError, StorageError
from ngffkit.serve.contract import Backend, DirEntry, Fetched, ObjectInfo, Select
from ngffkit.serve.paths import is_served_name
from ngffkit.serve.ranges import ByteSpan
from ngffkit.storage import KvstoreSpec, mapped_errors

_OUT_OF_RANGE = "OUT_OF_RANGE"


class _OutOfRange(NgffkitError):
    """A byte-range read asked for bytes past the end of the value (an answer, not a
    failure: an NgffkitError so that ``mapped_errors`` lets it through unchanged)."""


class _Retry:
    """Marker: answer the request another way (size needed, or the value changed)."""

    __slots__ = ()


RETRY = _Retry()


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
    - never use it for a local folder (:func:`~ngffkit.serve.backends.open_backend` picks
      :class:`~ngffkit.serve.backends.FileBackend`): tensorstore's ``file`` driver follows
      symlinks out of the root and blocks on FIFOs;
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

        self._where = KvstoreSpec(kvstore_spec)
        with mapped_errors(self._where):
            self._kv = ts.KvStore.open(kvstore_spec, context=shared_context()).result()
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

    def display(self) -> str:
        return self._where.display()

    # -- upstream reads ------------------------------------------------------------------

    async def _read(self, key: str, **options: Any) -> Any:
        self.upstream_reads += 1
        with mapped_errors(self._where, key):
            try:
                result = await self._kv.read(key, **options)
            except Exception as exc:
                if _OUT_OF_RANGE in str(exc) and "byte_range" in options:
                    raise _OutOfRange from exc
                raise
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
        raise StorageError(f"{key!r} in {self.display()} keeps changing while being read")

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
            with mapped_errors(self._where, key):
                keys = await self._kv.list(key_range, strip_prefix_length=len(prefix.encode()))
        except StorageError:
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


class MountBackend(Backend):
    """Several backends under one server, each under its own first path segment.

    ``ngff view a.zarr s3://bucket/b.zarr`` serves ``/a.zarr/...`` from disk and
    ``/b.zarr/...`` through the proxy, on one port.
    """

    def __init__(self, mounts: dict[str, Backend]) -> None:
        for name in mounts:
            if not is_served_name(name):
                raise InputError(
                    f"mount name {name!r} is not a servable path segment (one name with "
                    "no '/', not starting with '.')"
                )
        self.mounts = dict(mounts)

    def _split(self, key: str) -> tuple[Backend, str] | None:
        name, _, rest = key.partition("/")
        backend = self.mounts.get(name)
        return None if backend is None else (backend, rest)

    async def fetch(
        self, key: str, select: Select, inline_limit: int, requested: ByteSpan | None = None
    ) -> Fetched | None:
        found = self._split(key)
        if found is None:
            return None
        return await found[0].fetch(found[1], select, inline_limit, requested)

    async def read(self, key: str, span: ByteSpan) -> bytes:
        found = self._split(key)
        if found is None:
            raise StorageError(f"{key!r} is not served")
        return await found[0].read(found[1], span)

    async def list_dir(self, key: str) -> list[DirEntry] | None:
        if not key:
            return [DirEntry(name, True, None) for name in sorted(self.mounts)]
        found = self._split(key)
        return None if found is None else await found[0].list_dir(found[1])

    def display(self) -> str:
        return ", ".join(f"{name}: {b.display()}" for name, b in self.mounts.items())

    async def aclose(self) -> None:
        for backend in self.mounts.values():
            await backend.aclose()


__all__ = ["KvStoreBackend", "MountBackend"]
