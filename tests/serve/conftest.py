"""Fixtures: a served tree with hostile neighbours, and real servers on 127.0.0.1."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ngffkit.serve import FileBackend, ServerHandle, create_app, start_server

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes, every offset's value predictable
SECRET = b"do-not-serve-me\n"


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``base/root`` is served; ``base/outside`` holds what must never be reachable."""
    base = tmp_path_factory.mktemp("serve")
    root = base / "root"
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (base / "sibling-secret.txt").write_bytes(SECRET)

    (root / "data" / "sub").mkdir(parents=True)
    (root / "data" / "blob.bin").write_bytes(PAYLOAD)
    (root / "data" / "empty.bin").write_bytes(b"")
    (root / "data" / "sub" / "x.bin").write_bytes(b"x" * 10)
    (root / "data" / "with space.bin").write_bytes(b"spaced")

    v3 = root / "img.zarr"
    v3.mkdir()
    (v3 / "zarr.json").write_text(
        '{"zarr_format": 3, "node_type": "group", "attributes": '
        '{"ome": {"version": "0.5", "multiscales": [{"datasets": []}]}}}'
    )
    v2 = root / "old.zarr"
    v2.mkdir()
    (v2 / ".zgroup").write_text('{"zarr_format": 2}')
    (v2 / ".zattrs").write_text('{"multiscales": [{"version": "0.4", "datasets": []}]}')
    (v2 / ".zarray").write_text("{}")  # not realistic, only checks dotfile serving
    (v2 / ".zmetadata").write_text("{}")

    (root / ".secret").write_bytes(SECRET)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_bytes(SECRET)
    (root / "data" / ".hidden.bin").write_bytes(SECRET)

    os.symlink(outside / "secret.txt", root / "link-out.txt")
    os.symlink("../outside", root / "link-out-dir")
    os.symlink("/etc/passwd", root / "link-abs")
    os.symlink("data/blob.bin", root / "link-in.bin")
    os.symlink("data", root / "link-in-dir")
    os.symlink(".secret", root / "link-to-hidden")
    os.mkfifo(root / "data" / "fifo")
    return root


@pytest.fixture(scope="session")
def serve_factory(tree: Path) -> Iterator[Callable[..., ServerHandle]]:
    """Start servers on ephemeral ports with given create_app options; all stopped at the end."""
    started: dict[tuple[tuple[str, Any], ...], ServerHandle] = {}

    def start(**options: Any) -> ServerHandle:
        key = tuple(sorted(options.items()))
        if key not in started:
            started[key] = start_server(create_app(FileBackend(tree), **options), "127.0.0.1", 0)
        return started[key]

    yield start
    for handle in started.values():
        handle.stop()


@pytest.fixture(scope="session")
def server(serve_factory: Callable[..., ServerHandle]) -> ServerHandle:
    return serve_factory()


def raw_request(handle: ServerHandle, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client-side normalisation); parse the response."""
    with socket.create_connection(("127.0.0.1", handle.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    response = b"".join(chunks)
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def raw_get(
    handle: ServerHandle, target: bytes, extra: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    return raw_request(
        handle,
        b"GET "
        + target
        + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        + extra
        + b"\r\n",
    )
