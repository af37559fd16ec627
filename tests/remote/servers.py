"""Real HTTP servers on 127.0.0.1 for the remote tests (Python's http.server, no mocks).

``StaticServer`` serves a folder. Options choose how it behaves: with or without ``Range``
support, requiring HTTP basic auth or a bearer token, answering a status code (401, 429,
500, ...) to the first N requests of every path, or stalling before it answers. Every request
is recorded (path, Range header, status, body bytes) so tests can check what a reader
fetched.
"""

from __future__ import annotations

import base64
import http.server
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass
class Request:
    path: str
    range: str | None
    authorization: str | None
    status: int
    sent: int


@dataclass
class Behaviour:
    ranges: bool = True
    basic: tuple[str, str] | None = None
    bearer: str | None = None
    fail_status: int | None = None
    fail_times: int = 0
    """Answer ``fail_status`` to the first ``fail_times`` requests of each path (-1: always)."""
    fail_match: str = ""
    """Only paths this regular expression finds (``re.search``) fail: a few paths keep a retry
    test to a few backoffs (each failure waits 0.25 s, then 0.5 s, … before its retry)."""
    stall: float = 0.0
    listing: bool = True
    """Answer a folder URL (ending in /) with http.server's HTML index of it."""
    log: list[Request] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(http.server.SimpleHTTPRequestHandler):
    behaviour: Behaviour
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _record(self, status: int, sent: int) -> None:
        with self.behaviour.lock:
            self.behaviour.log.append(
                Request(
                    self.path,
                    self.headers.get("Range"),
                    self.headers.get("Authorization"),
                    status,
                    sent,
                )
            )

    def _empty(self, status: int, extra: dict[str, str] | None = None) -> None:
        # Recorded before answering: the client may act on the answer before we return.
        self._record(status, 0)
        self.send_response(status)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _authorized(self) -> bool:
        b = self.behaviour
        got = self.headers.get("Authorization")
        if b.basic is not None:
            want = "Basic " + base64.b64encode(":".join(b.basic).encode()).decode()
            return got == want
        if b.bearer is not None:
            return got == f"Bearer {b.bearer}"
        return True

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:
        b = self.behaviour
        if b.stall:
            time.sleep(b.stall)
        with b.lock:
            count = b.seen[self.path] = b.seen.get(self.path, 0) + 1
        failing = b.fail_status is not None and re.search(b.fail_match, self.path) is not None
        if failing and (b.fail_times < 0 or count <= b.fail_times):
            self._empty(b.fail_status)
            return
        if not self._authorized():
            if self.headers.get("Authorization") is None:
                self._empty(401, {"WWW-Authenticate": 'Basic realm="test"'})
            else:
                self._empty(403)
            return
        path = Path(self.translate_path(self.path.split("?", 1)[0]))
        if path.is_dir() and b.listing and self.path.split("?", 1)[0].endswith("/"):
            # the index page http.server makes (what autoindex servers answer for a folder)
            body_file = self.list_directory(str(path))
            if body_file is not None:
                listing = body_file.read()
                self._record(200, 0 if head else len(listing))
                if not head:
                    self.wfile.write(listing)
            return
        if not path.is_file():
            self._empty(404)
            return
        data = path.read_bytes()
        status, body, extra = 200, data, {}
        wanted = self.headers.get("Range")
        if b.ranges and wanted:
            match = _RANGE.match(wanted.strip())
            if match and (match.group(1) or match.group(2)):
                size = len(data)
                if match.group(1):
                    start = int(match.group(1))
                    stop = int(match.group(2)) + 1 if match.group(2) else size
                else:
                    start, stop = max(0, size - int(match.group(2))), size
                stop = min(stop, size)
                if start >= size:
                    self._empty(416, {"Content-Range": f"bytes */{size}"})
                    return
                status, body = 206, data[start:stop]
                extra = {"Content-Range": f"bytes {start}-{stop - 1}/{size}"}
        self._record(status, 0 if head else len(body))
        self.send_response(status)
        for key, value in extra.items():
            self.send_header(key, value)
        if b.ranges:
            self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


class StaticServer:
    """A threaded static server for ``root`` on 127.0.0.1 (ephemeral port)."""

    def __init__(self, root: str | os.PathLike[str], **behaviour: Any) -> None:
        self.behaviour = Behaviour(**behaviour)
        handler = type(
            "Handler",
            (_Handler,),
            {"behaviour": self.behaviour, "__init__": _init_for(Path(root))},
        )
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        # stop() does not wait for handlers still at work (a stalled one sleeps for seconds).
        self.httpd.block_on_close = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def url(self, path: str = "", auth: str | None = None) -> str:
        who = f"{auth}@" if auth else ""
        return f"http://{who}127.0.0.1:{self.port}/{path.lstrip('/')}"

    @property
    def log(self) -> list[Request]:
        return self.behaviour.log

    def clear(self) -> None:
        with self.behaviour.lock:
            self.behaviour.log.clear()
            self.behaviour.seen.clear()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def _init_for(root: Path) -> Any:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        http.server.SimpleHTTPRequestHandler.__init__(self, *args, directory=str(root), **kwargs)

    return __init__
