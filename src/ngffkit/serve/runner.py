"""Run the data server on uvicorn in a background thread, for ``ngff serve``, ``ngff view``
and tests.

The listening socket is bound here, before uvicorn starts, so that ``port=0`` yields a known
port, a port in use is reported as a clear :class:`~ngffkit.errors.InputError` in the
caller's thread, and :func:`start_server` returns only once connections are accepted.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from ngffkit.errors import InputError, StorageError
from ngffkit.serve.app import create_app
from ngffkit.serve.contract import Backend

_START_TIMEOUT = 30.0


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only accepts local connections."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def url_host(host: str) -> str:
    """How to write ``host`` in a URL a local browser can open."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def public_hosts(host: str) -> list[str]:
    """The addresses other machines can use to reach a server bound to ``host``.

    A wildcard bind (``0.0.0.0``, ``::``) listens on every interface, so its URL is the
    machine's own addresses (the one it routes out by first, then the others it has), not
    the wildcard, which nobody can connect to. Any other host is returned as it is.
    """
    if host not in ("0.0.0.0", "", "::"):
        return [host]
    family = socket.AF_INET6 if host == "::" else socket.AF_INET
    found: list[str] = []
    with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as probe:
        # A UDP "connect" sends nothing; it only asks the kernel which address routes out.
        probe.connect(("2001:db8::1", 9) if family == socket.AF_INET6 else ("192.0.2.1", 9))
        found.append(probe.getsockname()[0])
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, family, socket.SOCK_STREAM):
            found.append(str(info[4][0]))
    usable = [a for a in dict.fromkeys(found) if not ipaddress.ip_address(a).is_loopback]
    return usable or [socket.gethostname()]


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0``: a free port)."""
    if not 0 <= port <= 65535:
        raise InputError(f"[[port={port}]] is not a TCP port; use 1-65535, or 0 for a free one.")
    try:
        infos = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise InputError(f"cannot bind to {host!r}: {exc.strerror}; check [[host]].") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InputError(
                f"port {port} on {host} is in use; choose another with [[port]] "
                "(or [[port=0]] for any free port)."
            ) from exc
        if exc.errno == errno.EACCES:
            raise InputError(
                f"no permission to bind port {port} on {host}; use a port above 1023 with [[port]]."
            ) from exc
        if exc.errno == errno.EADDRNOTAVAIL:
            raise InputError(
                f"address {host!r} is not an address of this machine; check [[host]]."
            ) from exc
        raise StorageError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return sock


class ServerHandle:
    """A running server: ``.url``, ``.host``, ``.port``, ``.stop()``; a context manager."""

    def __init__(
        self, server: uvicorn.Server, thread: threading.Thread, host: str, port: int, app: Any
    ) -> None:
        self._server = server
        self._thread = thread
        self.host = host
        self.port = port
        self.app = app
        self.url = f"http://{url_host(host)}:{port}"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, finish in-flight requests (up to ``timeout`` s), and join."""
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server thread ends; True if it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ServerHandle(url={self.url!r}, running={self.running})"


def start_server(
    app_or_backend: Starlette | Backend | Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    http: str = "auto",
    log_level: str = "warning",
) -> ServerHandle:
    """Serve an ASGI app (or a backend, with :func:`create_app` defaults) in a daemon thread.

    Returns once the server accepts connections. ``port=0`` picks a free port; read it from
    the handle. ``http`` is uvicorn's protocol choice ("auto" uses httptools if installed).
    """
    app = create_app(app_or_backend) if isinstance(app_or_backend, Backend) else app_or_backend
    sock = bind_socket(host, port)
    actual_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level=log_level,
        # Our access log (verbose) omits query strings; uvicorn's would print ?token=.
        access_log=False,
        lifespan="off",
        http=http,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the starting thread below
            failure.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=run, name=f"ngff-serve-{actual_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or failure or time.monotonic() > deadline:
            reason = failure[0] if failure else "it stopped or hung during start-up"
            server.should_exit = True
            raise StorageError(f"the server on {host}:{actual_port} did not start: {reason}")
        thread.join(0.01)
    return ServerHandle(server, thread, host, actual_port, app)


__all__ = ["ServerHandle", "bind_socket", "is_loopback", "public_hosts", "start_server", "url_host"]
