"""The HTTP layer: an ASGI app that serves a :class:`~ngffkit.serve.backends.Backend`.

Read-only, GET/HEAD only, single-range requests, conditional requests, CORS on every
response (a browser reports a CORS failure on a 404 as "status 0", which Neuroglancer then
takes for missing data — the headers must be there on errors too), never compressed (HEAD
must report the true size for sharded reads).

The handler is a plain ASGI callable mounted in Starlette rather than a Starlette endpoint
returning ``Response`` objects: a chunk server's cost is per request, and building header
lists once and sending ``bytes`` directly avoids most of the framework's per-request work.
"""

from __future__ import annotations

import hmac
import html
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, quote

import anyio
from starlette.applications import Starlette

from ngffkit.errors import OptionError, StorageError
from ngffkit.serve.contract import Backend, DirEntry, Fetched, ObjectInfo
from ngffkit.serve.paths import key_from_raw_path
from ngffkit.serve.ranges import (
    UNSATISFIABLE,
    ByteSpan,
    closed_range,
    http_date,
    if_range_allows,
    not_modified,
    parse_range,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

access_log = logging.getLogger("ngffkit.serve.access")
error_log = logging.getLogger("ngffkit.serve")

JSON_NAMES = frozenset({"zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata"})

# Bodies up to this size are read in the same worker-thread trip as the stat and sent in one
# message; larger ones (whole shards, whole 64 MiB files) are streamed so memory stays flat.
INLINE_LIMIT = 4 << 20
STREAM_CHUNK = 1 << 20

ALLOWED_METHODS = b"GET, HEAD, OPTIONS"
EXPOSE_HEADERS = b"Content-Range, Content-Length, ETag, Accept-Ranges, Last-Modified"
ALLOW_HEADERS = (
    b"range, authorization, x-requested-with, if-none-match, if-modified-since, if-range"
)


class _Plan:
    """Decides, once the object's info is known, the status and which bytes to send."""

    __slots__ = (
        "head",
        "if_modified_since",
        "if_none_match",
        "if_range",
        "range",
        "requested",
        "span",
        "status",
    )

    def __init__(self, head: bool, headers: dict[bytes, str]) -> None:
        self.head = head
        self.range = headers.get(b"range")
        self.if_range = headers.get(b"if-range")
        self.if_none_match = headers.get(b"if-none-match")
        self.if_modified_since = headers.get(b"if-modified-since")
        self.status = 200
        self.span: ByteSpan | None = None
        # A closed range on a GET names its bytes without the object's size: a proxy can
        # read just those (ObjectInfo.size None) instead of learning the size first.
        self.requested = (
            closed_range(self.range)
            if not head and self.range is not None and self.if_range is None
            else None
        )

    def __call__(self, info: ObjectInfo) -> ByteSpan | None:
        # May be called twice (a cached-only read that fell back to a thread): start afresh.
        self.status, self.span = 200, None
        if not_modified(
            etag=info.etag,
            mtime=info.mtime,
            if_none_match=self.if_none_match,
            if_modified_since=self.if_modified_since,
        ):
            self.status = 304
            return None
        if info.size is None:
            # Only a backend given ``requested`` answers without a size, having checked
            # that the object holds every requested byte.
            if self.requested is None:
                raise RuntimeError("backend returned no size for a request that needs one")
            self.status, self.span = 206, self.requested
            return self.span
        self.span = ByteSpan(0, info.size)
        # Range is defined for GET only (RFC 9110 §14.2); HEAD describes the whole object.
        if (
            not self.head
            and self.range is not None
            and if_range_allows(self.if_range, etag=info.etag, mtime=info.mtime)
        ):
            chosen = parse_range(self.range, info.size)
            if chosen is UNSATISFIABLE:
                self.status, self.span = 416, None
                return None
            if isinstance(chosen, ByteSpan):
                self.status, self.span = 206, chosen
        return None if self.head else self.span


class DataServer:
    """The ASGI callable behind :func:`create_app`."""

    def __init__(
        self,
        backend: Backend,
        *,
        cors_origin: str = "*",
        token: str | None = None,
        listing: bool = False,
        verbose: bool = False,
    ) -> None:
        if token is not None and not token:
            raise OptionError("token", "must be a non-empty string, or None for no token")
        self.backend = backend
        self.listing = listing
        self.verbose = verbose
        self._token = token.encode() if token is not None else None
        self._cors: Headers = [
            (b"access-control-allow-origin", cors_origin.encode("latin-1")),
            (b"access-control-expose-headers", EXPOSE_HEADERS),
            (b"access-control-allow-headers", ALLOW_HEADERS),
        ]
        if cors_origin != "*":
            self._cors.append((b"vary", b"Origin"))

    # ------------------------------------------------------------------ entry point

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        sent = _SendTracker(send)
        try:
            await self._handle(scope, receive, sent)
        except StorageError as exc:
            # Expected failures (an upstream refusing or failing, a file rewritten while
            # served): one line, no traceback per request.
            error_log.error("error serving %s: %s", _loggable_path(scope), exc)
            if not sent.started:
                await self._simple(sent, 500, b"Internal Server Error\n")
        except Exception:
            error_log.exception("error serving %s", _loggable_path(scope))
            if not sent.started:
                await self._simple(sent, 500, b"Internal Server Error\n")
        if self.verbose:
            access_log.info(
                "%s %s %d %d B %.1f ms",
                scope["method"],
                _loggable_path(scope),
                sent.status,
                sent.body_bytes,
                (time.perf_counter() - started) * 1000,
            )

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        if method == "OPTIONS":
            # Preflight: no token needed, the browser never sends credentials here.
            await self._respond(
                send,
                204,
                [
                    (b"access-control-allow-methods", ALLOWED_METHODS),
                    (b"access-control-max-age", b"86400"),
                    (b"allow", ALLOWED_METHODS),
                ],
            )
            return
        if method not in ("GET", "HEAD"):
            await self._simple(send, 405, b"Method Not Allowed\n", [(b"allow", ALLOWED_METHODS)])
            return
        headers = _wanted_headers(scope["headers"])
        head = method == "HEAD"
        if self._token is not None and not self._authorized(scope, headers):
            await self._simple(
                send, 401, b"Unauthorized\n", [(b"www-authenticate", b"Bearer")], head=head
            )
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        key = key_from_raw_path(raw_path)
        if key is None:
            await self._simple(send, 404, b"Not Found\n", head=head)
            return
        plan = _Plan(head, headers)
        fetched = await self.backend.fetch(key, plan, INLINE_LIMIT, requested=plan.requested)
        if fetched is None:
            if self.listing:
                entries = await self.backend.list_dir(key)
                if entries is not None:
                    await self._listing(send, key, entries, headers, head)
                    return
            await self._simple(send, 404, b"Not Found\n", head=head)
            return
        await self._object(send, receive, key, fetched, plan)

    # ------------------------------------------------------------------ objects

    async def _object(
        self, send: Send, receive: Receive, key: str, fetched: Fetched, plan: _Plan
    ) -> None:
        info = fetched.info
        extra: Headers = [(b"etag", info.etag.encode("latin-1"))]
        if info.mtime is not None:
            extra.append((b"last-modified", http_date(info.mtime).encode("latin-1")))
        # Revalidate every time: datasets get rewritten in place (compress, resume), and a
        # 304 round trip is cheap next to showing stale chunks.
        extra.append((b"cache-control", b"no-cache"))
        extra.append((b"accept-ranges", b"bytes"))
        if plan.status == 304:
            await self._respond(send, 304, extra)
            return
        if plan.status == 416:
            extra.append((b"content-range", f"bytes */{info.size}".encode("latin-1")))
            await self._simple(send, 416, b"Range Not Satisfiable\n", extra, head=plan.head)
            return
        span = plan.span
        assert span is not None  # set by _Plan for every status but 304/416
        name = key.rpartition("/")[2]
        content_type = b"application/json" if name in JSON_NAMES else b"application/octet-stream"
        extra.append((b"content-type", content_type))
        extra.append((b"content-length", str(span.length).encode("latin-1")))
        if plan.status == 206:
            extra.append((b"content-range", span.content_range(info.size).encode("latin-1")))
        if plan.head:
            await self._respond(send, plan.status, extra)
            return
        if fetched.body is not None:
            if len(fetched.body) != span.length:
                raise StorageError(
                    f"{key}: read {len(fetched.body)} bytes where {span.length} were expected "
                    "(the file changed while it was served?)"
                )
            await self._respond(send, plan.status, extra, fetched.body)
            return
        await self._stream(send, receive, key, plan.status, extra, span)

    async def _stream(
        self, send: Send, receive: Receive, key: str, status: int, headers: Headers, span: ByteSpan
    ) -> None:
        await send(
            {"type": "http.response.start", "status": status, "headers": self._cors + headers}
        )
        disconnected = anyio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            position = span.start
            while position < span.stop and not disconnected.is_set():
                stop = min(position + STREAM_CHUNK, span.stop)
                chunk = await self.backend.read(key, ByteSpan(position, stop))
                position = stop
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": position < span.stop}
                )
            tg.cancel_scope.cancel()

    # ------------------------------------------------------------------ listings

    async def _listing(
        self, send: Send, key: str, entries: list[DirEntry], headers: dict[bytes, str], head: bool
    ) -> None:
        base = "/" + "".join(f"{quote(part)}/" for part in key.split("/") if part)
        if "application/json" in headers.get(b"accept", ""):
            doc = {
                "path": base,
                "entries": [
                    {"name": e.name, "type": "directory" if e.is_dir else "file", "size": e.size}
                    for e in entries
                ],
            }
            body = json.dumps(doc, indent=1).encode()
            content_type = b"application/json"
        else:
            rows = "".join(
                f'<li><a href="{html.escape(base + quote(e.name) + ("/" if e.is_dir else ""))}">'
                f"{html.escape(e.name)}{'/' if e.is_dir else ''}</a></li>\n"
                for e in entries
            )
            title = html.escape(base)
            body = (
                f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title>'
                f"</head>\n<body><h1>{title}</h1>\n<ul>\n{rows}</ul>\n</body></html>\n"
            ).encode()
            content_type = b"text/html; charset=utf-8"
        await self._simple(send, 200, body, [], content_type=content_type, head=head)

    # ------------------------------------------------------------------ helpers

    def _authorized(self, scope: Scope, headers: dict[bytes, str]) -> bool:
        assert self._token is not None
        offered: list[bytes] = []
        auth = headers.get(b"authorization")
        if auth is not None:
            scheme, _, credentials = auth.strip().partition(" ")
            if scheme.lower() == "bearer":
                offered.append(credentials.strip().encode("latin-1", "replace"))
        query: bytes = scope.get("query_string", b"")
        if b"token=" in query:
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if name == "token":
                    offered.append(value.encode("latin-1", "replace"))
        # compare_digest on every candidate: the time taken must not depend on the secret.
        ok = False
        for candidate in offered:
            ok |= hmac.compare_digest(candidate, self._token)
        return ok

    async def _respond(
        self, send: Send, status: int, headers: Headers, body: bytes | None = None
    ) -> None:
        await send(
            {"type": "http.response.start", "status": status, "headers": self._cors + headers}
        )
        await send({"type": "http.response.body", "body": body or b""})

    async def _simple(
        self,
        send: Send,
        status: int,
        body: bytes,
        headers: Headers | None = None,
        *,
        content_type: bytes = b"text/plain; charset=utf-8",
        head: bool = False,
    ) -> None:
        all_headers = [
            *(headers or []),
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode("latin-1")),
        ]
        await self._respond(send, status, all_headers, None if head else body)


class _SendTracker:
    """Wraps ``send`` to record what went out, for the access log and error handling."""

    __slots__ = ("_send", "body_bytes", "started", "status")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.status = 0
        self.body_bytes = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
        else:
            self.body_bytes += len(message.get("body", b""))
        await self._send(message)


_WANTED = frozenset(
    {b"range", b"if-range", b"if-none-match", b"if-modified-since", b"authorization", b"accept"}
)


def _wanted_headers(raw: list[tuple[bytes, bytes]]) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for name, value in raw:
        if name in _WANTED:
            if name in found:
                # A repeated Range (or validator) is ambiguous; treat it like a multi-range.
                found[name] = found[name] + "," + value.decode("latin-1")
            else:
                found[name] = value.decode("latin-1")
    return found


def _loggable_path(scope: Scope) -> str:
    # The query string is left out on purpose: it may carry ?token=.
    raw = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "replace")
    return bytes(raw).decode("ascii", "backslashreplace")


def create_app(
    backend: Backend,
    *,
    cors_origin: str = "*",
    token: str | None = None,
    listing: bool = False,
    verbose: bool = False,
) -> Starlette:
    """The Starlette app serving ``backend`` read-only with CORS and Range support.

    ``cors_origin`` goes into ``Access-Control-Allow-Origin`` on every response. With
    ``token``, requests must carry ``?token=TOKEN`` or ``Authorization: Bearer TOKEN``
    (OPTIONS preflights excepted). ``listing`` enables HTML (or JSON, with
    ``Accept: application/json``) directory listings. ``verbose`` logs one line per request
    to the ``ngffkit.serve.access`` logger.
    """
    server = DataServer(
        backend, cors_origin=cors_origin, token=token, listing=listing, verbose=verbose
    )
    app = Starlette()
    # The data server is the router's fallback rather than a route: routes match on the
    # decoded path, and a request-target that matches no route (absolute-form, "*") would
    # otherwise get Starlette's own 404 without CORS headers.
    app.router.default = server
    app.state.data_server = server
    app.state.backend = backend
    return app


__all__ = ["INLINE_LIMIT", "DataServer", "create_app"]
