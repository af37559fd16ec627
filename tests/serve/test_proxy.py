"""Proxy mode: ``ngff serve URL`` reads a remote store (http with basic auth, S3 from moto in
server mode) and serves it locally with CORS and Range, reading upstream only the bytes asked
for. Every server here is real and listens on 127.0.0.1."""

from __future__ import annotations

import base64
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tensorstore as ts

from ngffkit.serve import FileBackend, KvStoreBackend, ServerHandle, create_app, start_server
from ngffkit.serve.backends import open_backend

from .test_cli import ngff, read_until
from .test_tensorstore import write_v3_sharded

USER, PASSWORD = "reader", "s3cr3t-pw"
SHARD = "img.zarr/0/c/0/0/0"  # one 32³ uint16 shard with 64 inner chunks of 8³


class BasicAuthUpstream:
    """The upstream "remote" server: our file server behind HTTP basic auth, logging requests."""

    def __init__(self, root: Path) -> None:
        self.app = create_app(FileBackend(root))
        self.log: list[tuple[str, str, str | None]] = []
        self.expected = b"Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            rng = headers.get(b"range")
            self.log.append((scope["method"], scope["path"], rng.decode() if rng else None))
            if headers.get(b"authorization") != self.expected:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"www-authenticate", b'Basic realm="data"')],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def remote_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray[Any, Any]]:
    root = tmp_path_factory.mktemp("remote")
    data = np.random.default_rng(7).integers(0, 65535, size=(40, 45, 50), dtype=np.uint16)
    write_v3_sharded(root / "img.zarr" / "0", data)
    (root / "img.zarr" / "zarr.json").write_text(
        '{"zarr_format": 3, "node_type": "group", "attributes": {"ome": {"version": "0.5", '
        '"multiscales": [{"axes": [{"name": "z", "type": "space"}, {"name": "y", "type": '
        '"space"}, {"name": "x", "type": "space"}], "datasets": [{"path": "0", '
        '"coordinateTransformations": [{"type": "scale", "scale": [1, 1, 1]}]}]}]}}}'
    )
    # Bigger than the proxy's whole-value cache limit, so its ranges must go upstream.
    (root / "big.bin").write_bytes(bytes(range(256)) * 8192)  # 2 MiB
    return root, data


@pytest.fixture(scope="module")
def upstream(remote_root: tuple[Path, np.ndarray[Any, Any]]) -> Iterator[tuple[Any, ServerHandle]]:
    app = BasicAuthUpstream(remote_root[0])
    with start_server(app) as handle:
        yield app, handle


def authed(handle: ServerHandle, password: str = PASSWORD) -> str:
    return handle.url.replace("http://", f"http://{USER}:{password}@") + "/"


def test_http_proxy_with_basic_auth_serves_zarr(
    upstream: tuple[BasicAuthUpstream, ServerHandle],
    remote_root: tuple[Path, np.ndarray[Any, Any]],
) -> None:
    _app, remote = upstream
    _root, data = remote_root
    # Without credentials the remote refuses: the browser could not read it directly.
    assert httpx.get(remote.url + "/img.zarr/zarr.json").status_code == 401
    backend = open_backend(authed(remote))
    assert isinstance(backend, KvStoreBackend)
    assert PASSWORD not in backend.display()
    with start_server(create_app(backend)) as proxy:
        r = httpx.get(proxy.url + "/img.zarr/zarr.json")
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "*"
        assert r.json()["attributes"]["ome"]["version"] == "0.5"
        arr = ts.open(
            {
                "driver": "zarr3",
                "kvstore": {"driver": "http", "base_url": proxy.url + "/img.zarr/0/"},
            }
        ).result()
        np.testing.assert_array_equal(arr.read().result(), data)
        missing = httpx.get(proxy.url + "/img.zarr/0/c/9/9/9")
        assert missing.status_code == 404
        assert missing.headers["access-control-allow-origin"] == "*"


def test_http_proxy_reads_only_the_requested_bytes(
    upstream: tuple[BasicAuthUpstream, ServerHandle],
    remote_root: tuple[Path, np.ndarray[Any, Any]],
) -> None:
    app, remote = upstream
    root, _ = remote_root
    shard = (root / SHARD).read_bytes()
    backend = open_backend(authed(remote))
    assert isinstance(backend, KvStoreBackend)
    with start_server(create_app(backend)) as proxy:
        app.log.clear()
        # Inner-chunk reads as Neuroglancer sends them: closed ranges, size not yet known.
        for start, stop in [(0, 100), (500, 1000), (len(shard) - 10, len(shard))]:
            r = httpx.get(proxy.url + "/" + SHARD, headers={"Range": f"bytes={start}-{stop - 1}"})
            assert r.status_code == 206
            assert r.content == shard[start:stop]
            assert r.headers["content-range"] == f"bytes {start}-{stop - 1}/*"
        assert backend.whole_reads == 0
        upstream_ranges = [rng for method, path, rng in app.log if path == "/" + SHARD]
        assert upstream_ranges == [
            "bytes=0-99",
            "bytes=500-999",
            f"bytes={len(shard) - 10}-{len(shard) - 1}",
        ]

        # A large object: HEAD learns the size once; later ranges stay ranges upstream.
        big = (root / "big.bin").read_bytes()
        head = httpx.head(proxy.url + "/big.bin")
        assert int(head.headers["content-length"]) == len(big)
        app.log.clear()
        r = httpx.get(proxy.url + "/big.bin", headers={"Range": "bytes=-1000"})
        assert r.status_code == 206
        assert r.headers["content-range"] == f"bytes {len(big) - 1000}-{len(big) - 1}/{len(big)}"
        assert r.content == big[-1000:]
        r = httpx.get(proxy.url + "/big.bin", headers={"Range": "bytes=1000-1999"})
        assert r.content == big[1000:2000]
        assert r.headers["content-range"] == f"bytes 1000-1999/{len(big)}"
        assert [rng for _, path, rng in app.log if path == "/big.bin"] == [
            f"bytes={len(big) - 1000}-{len(big) - 1}",
            "bytes=1000-1999",
        ]
        # A whole GET of a value above the inline limit streams in ranged pieces.
        assert httpx.get(proxy.url + "/big.bin").content == big
        # A range past the end is clamped, as from a local file.
        r = httpx.get(proxy.url + "/img.zarr/zarr.json", headers={"Range": "bytes=10-999999"})
        size = (root / "img.zarr" / "zarr.json").stat().st_size
        assert r.status_code == 206
        assert r.headers["content-range"] == f"bytes 10-{size - 1}/{size}"
        assert (
            httpx.get(proxy.url + "/big.bin", headers={"Range": "bytes=99999999-"}).status_code
            == 416
        )


def test_http_proxy_notices_rewrites(tmp_path: Path) -> None:
    (tmp_path / "v.bin").write_bytes(b"first version")
    with start_server(create_app(FileBackend(tmp_path))) as remote:
        backend = open_backend(remote.url + "/")
        with start_server(create_app(backend)) as proxy:
            assert httpx.head(proxy.url + "/v.bin").headers["content-length"] == "13"
            etag = httpx.get(proxy.url + "/v.bin").headers["etag"]
            os.utime(tmp_path / "v.bin", ns=(1, 1))
            (tmp_path / "v.bin").write_bytes(b"second, longer version")
            r = httpx.get(proxy.url + "/v.bin", headers={"Range": "bytes=0-5"})
            assert r.content == b"second"
            assert r.headers["etag"] != etag
            assert httpx.head(proxy.url + "/v.bin").headers["content-length"] == "22"
            (tmp_path / "v.bin").unlink()
            assert httpx.get(proxy.url + "/v.bin").status_code == 404


def test_http_proxy_wrong_password_is_an_error_with_cors(
    upstream: tuple[BasicAuthUpstream, ServerHandle],
) -> None:
    _, remote = upstream
    with start_server(create_app(open_backend(authed(remote, "wrong")))) as proxy:
        r = httpx.get(proxy.url + "/img.zarr/zarr.json")
        assert r.status_code == 500
        assert r.headers["access-control-allow-origin"] == "*"
        assert PASSWORD not in r.text


# --------------------------------------------------------------------------- S3 (moto)


@pytest.fixture(scope="module")
def s3(remote_root: tuple[Path, np.ndarray[Any, Any]]) -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 holding ``s3://bucket/data/`` (a copy of remote_root)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(
        NGFFKIT_S3_ENDPOINT=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
    )
    try:
        assert httpx.put(f"{endpoint}/bucket").status_code == 200
        kv = ts.KvStore.open(
            {"driver": "s3", "bucket": "bucket", "path": "data/", "endpoint": endpoint}
        ).result()
        root = remote_root[0]
        for path in root.rglob("*"):
            if path.is_file():
                kv.write(path.relative_to(root).as_posix(), path.read_bytes()).result()
        yield endpoint
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


ENV = ("NGFFKIT_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")


def test_s3_proxy(s3: str, remote_root: tuple[Path, np.ndarray[Any, Any]]) -> None:
    root, data = remote_root
    backend = open_backend("s3://bucket/data")
    assert isinstance(backend, KvStoreBackend)
    with start_server(create_app(backend, listing=True)) as proxy:
        arr = ts.open(
            {
                "driver": "zarr3",
                "kvstore": {"driver": "http", "base_url": proxy.url + "/img.zarr/0/"},
            }
        ).result()
        np.testing.assert_array_equal(arr[5:30, 7:40, 1:49].read().result(), data[5:30, 7:40, 1:49])
        shard = (root / SHARD).read_bytes()
        before = backend.whole_reads
        r = httpx.get(proxy.url + "/" + SHARD, headers={"Range": "bytes=100-199"})
        assert r.content == shard[100:200]
        head = httpx.head(proxy.url + "/" + SHARD)
        assert int(head.headers["content-length"]) == len(shard)
        assert head.headers["access-control-allow-origin"] == "*"
        assert backend.whole_reads <= before + 1  # at most the HEAD's size lookup
        listing = httpx.get(proxy.url + "/", headers={"Accept": "application/json"}).json()
        assert {e["name"] for e in listing["entries"]} == {"img.zarr", "big.bin"}
        assert httpx.get(proxy.url + "/img.zarr/nope").status_code == 404


def test_serve_cli_proxies_s3_and_hides_credentials(
    s3: str, upstream: tuple[BasicAuthUpstream, ServerHandle]
) -> None:
    proc = ngff("serve", "s3://bucket/data/img.zarr", "--port", "0")
    try:
        lines = read_until(proc, "Ctrl-C")
        assert lines[0].startswith("Proxying s3://bucket/data/img.zarr")
        match = re.search(r"(zarr3://http://127\.0\.0\.1:\d+)", "\n".join(lines))
        assert match, lines
        url = match.group(1).removeprefix("zarr3://")
        assert httpx.get(url + "/zarr.json").json()["zarr_format"] == 3
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0

    _, remote = upstream
    proc = ngff("serve", authed(remote) + "img.zarr", "--port", "0", "--verbose")
    try:
        lines = read_until(proc, "Ctrl-C")
        assert PASSWORD not in "\n".join(lines)
        # The storage layer keeps credentials out of every URL it shows.
        assert lines[0].startswith("Proxying http://127.0.0.1:") and "img.zarr" in lines[0]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert PASSWORD not in err
