"""The proxy answers every Range form (and every hostile path) as the file server does.

Each request goes to a file server and to a KvStoreBackend server over the same bytes, both
with the object's size not yet known to the proxy ("cold") and known ("warm").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ngffkit.serve import FileBackend, KvStoreBackend, MountBackend, ServerHandle, start_server

from .conftest import PAYLOAD, SECRET, raw_get
from .test_safety import TRAVERSALS

SIZE = len(PAYLOAD)
FORMS = [
    None,
    "bytes=0-0",
    "bytes=0-16383",
    "bytes=100-199",
    f"bytes={SIZE - 1}-{SIZE - 1}",
    "bytes=102000-",
    "bytes=-132",
    "bytes=-999999",
    "bytes=102300-999999",  # past the end: clamped
    f"bytes={SIZE}-",  # 416
    "bytes=200000-300000",  # 416
    "bytes=-0",  # 416
    "bytes=5-2",  # malformed: whole object
    "bytes=0-1,5-6",
    "bytes=abc",
    "items=0-5",
    "bytes=--1",
    "bytes=1",
    "bytes=" + "9" * 40 + "-",
]


@pytest.fixture(scope="module")
def servers(tree: Path) -> Iterator[tuple[ServerHandle, ServerHandle, KvStoreBackend]]:
    proxy_backend = KvStoreBackend({"driver": "file", "path": f"{tree}/"})
    with start_server(FileBackend(tree)) as files, start_server(proxy_backend) as proxy:
        yield files, proxy, proxy_backend


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
@pytest.mark.parametrize("header", FORMS)
def test_range_forms_match_the_file_server(
    servers: tuple[ServerHandle, ServerHandle, KvStoreBackend], header: str | None, warm: bool
) -> None:
    files, proxy, backend = servers
    key = "data/blob.bin"
    backend._forget(key)  # start from a known cache state
    if warm:
        assert httpx.head(f"{proxy.url}/{key}").headers["content-length"] == str(SIZE)
    headers = {"Range": header} if header is not None else {}
    want = httpx.get(f"{files.url}/{key}", headers=headers)
    got = httpx.get(f"{proxy.url}/{key}", headers=headers)
    assert got.status_code == want.status_code
    assert got.content == want.content
    assert got.headers["access-control-allow-origin"] == "*"
    if "content-range" in want.headers:
        expected = want.headers["content-range"]
        if not warm and got.headers["content-range"].endswith("/*"):
            expected = expected.rpartition("/")[0] + "/*"  # a closed range read cold
        assert got.headers["content-range"] == expected


@pytest.mark.parametrize("target", TRAVERSALS, ids=lambda t: t.decode("latin-1"))
def test_hostile_targets_through_proxy_and_mounts(
    servers: tuple[ServerHandle, ServerHandle, KvStoreBackend], tree: Path, target: bytes
) -> None:
    _, proxy, _ = servers
    # Symlinks and FIFOs exist only on local disks, which open_backend always serves with
    # FileBackend (tensorstore's file driver follows symlinks): they are checked on the mount.
    if not (target.startswith(b"/link-") or target == b"/data/fifo"):
        status, headers, body = raw_get(proxy, target)
        assert status == 404
        assert SECRET not in body
        assert headers["access-control-allow-origin"] == "*"
    mounted = MountBackend({"root": FileBackend(tree)})
    with start_server(mounted) as handle:
        status, _, body = raw_get(handle, b"/root" + target if target.startswith(b"/") else target)
        assert status == 404
        assert SECRET not in body
