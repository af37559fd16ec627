"""The contract between the HTTP layer and where served bytes come from.

The HTTP layer (:mod:`ngffkit.serve.app`) speaks only to :class:`Backend`: keys are
``"a/b/c"`` strings already checked by :func:`ngffkit.serve.paths.key_from_raw_path`, and the
backend answers with object metadata and byte spans. A backend never sees a URL or a header,
so a new source of bytes (a remote store proxied through tensorstore, an archive) is a new
:class:`Backend` and nothing else: the local folder's is in :mod:`ngffkit.serve.backends`
(with :func:`~ngffkit.serve.backends.open_backend`, the factory), the tensorstore and
mount ones in :mod:`ngffkit.serve.proxy`.

:meth:`Backend.fetch` takes a ``select`` callback rather than a span because which bytes to
send (Range, If-Range, 304, HEAD) depends on the object's size and validators, and a local
file can then be stat-ed and read in one trip to a worker thread.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

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
    def display(self) -> str:
        """What is being served, for start-up messages."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release resources held by the backend."""


__all__ = ["Backend", "DirEntry", "Fetched", "ObjectInfo", "Select"]
