"""HTTP behaviour Neuroglancer and tensorstore rely on, against a real uvicorn server."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from ngffkit.serve import ServerHandle

from .conftest import PAYLOAD, raw_request

SIZE = len(PAYLOAD)
CORS = {
    "access-control-allow-origin": "*",
}


@pytest.fixture(scope="module")
def client(server: ServerHandle) -> httpx.Client:
    with httpx.Client(base_url=server.url) as c:
        yield c  # type: ignore[misc]


def assert_cors(response: httpx.Response, origin: str = "*") -> None:
    assert response.headers["access-control-allow-origin"] == origin
    exposed = response.headers["access-control-expose-headers"].lower()
    for name in ("content-range", "content-length", "etag", "accept-ranges"):
        assert name in exposed
    allowed = response.headers["access-control-allow-headers"].lower()
    for name in ("range", "authorization", "x-requested-with"):
        assert name in allowed


def test_full_get(client: httpx.Client) -> None:
    r = client.get("/data/blob.bin")
    assert r.status_code == 200
    assert r.content == PAYLOAD
    assert r.headers["content-length"] == str(SIZE)
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["etag"].startswith('"')
    assert "last-modified" in r.headers
    assert "content-encoding" not in r.headers
    assert_cors(r)


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-0", 0, 1),
        ("bytes=0-16383", 0, 16384),
        ("bytes=100-199", 100, 200),
        ("bytes=102000-", 102000, SIZE),
        ("bytes=-132", SIZE - 132, SIZE),  # the shard-index read
        ("bytes=-999999", 0, SIZE),
        ("bytes=102300-999999", 102300, SIZE),
    ],
)
def test_range_forms(client: httpx.Client, header: str, start: int, stop: int) -> None:
    r = client.get("/data/blob.bin", headers={"Range": header})
    assert r.status_code == 206
    assert r.content == PAYLOAD[start:stop]
    assert r.headers["content-range"] == f"bytes {start}-{stop - 1}/{SIZE}"
    assert r.headers["content-length"] == str(stop - start)
    assert_cors(r)


@pytest.mark.parametrize(
    "header", ["bytes=5-2", "bytes=0-1,5-6", "bytes=abc", "items=0-5", "bytes=--1", "bytes=1"]
)
def test_malformed_or_multi_range_serves_whole(client: httpx.Client, header: str) -> None:
    r = client.get("/data/blob.bin", headers={"Range": header})
    assert r.status_code == 200
    assert r.content == PAYLOAD
    assert "content-range" not in r.headers


def test_repeated_range_header_is_ignored(server: ServerHandle) -> None:
    status, _headers, body = raw_request(
        server,
        b"GET /data/sub/x.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Range: bytes=0-1\r\nRange: bytes=3-4\r\n\r\n",
    )
    assert status == 200
    assert body == b"x" * 10


@pytest.mark.parametrize("header", ["bytes=102400-", "bytes=200000-300000", "bytes=-0"])
def test_unsatisfiable(client: httpx.Client, header: str) -> None:
    r = client.get("/data/blob.bin", headers={"Range": header})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{SIZE}"
    assert_cors(r)


def test_range_of_empty_file_is_416(client: httpx.Client) -> None:
    assert client.get("/data/empty.bin").content == b""
    r = client.get("/data/empty.bin", headers={"Range": "bytes=0-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == "bytes */0"


def test_head(client: httpx.Client) -> None:
    r = client.head("/data/blob.bin", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert r.status_code == 200
    assert r.headers["content-length"] == str(SIZE)
    assert "content-encoding" not in r.headers
    assert r.headers["accept-ranges"] == "bytes"
    assert r.content == b""
    assert_cors(r)
    # Range is defined for GET only; HEAD still describes the whole object.
    r = client.head("/data/blob.bin", headers={"Range": "bytes=0-9"})
    assert r.status_code == 200
    assert r.headers["content-length"] == str(SIZE)


def test_never_compressed(client: httpx.Client) -> None:
    r = client.get("/img.zarr/zarr.json", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in r.headers
    r = client.get("/data/blob.bin", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-99"})
    assert "content-encoding" not in r.headers
    assert r.headers["content-length"] == "100"


def test_content_types(client: httpx.Client) -> None:
    assert client.get("/img.zarr/zarr.json").headers["content-type"] == "application/json"
    for name in (".zattrs", ".zgroup", ".zarray", ".zmetadata"):
        r = client.get(f"/old.zarr/{name}")
        assert r.status_code == 200, name
        assert r.headers["content-type"] == "application/json"


def test_etag_304(client: httpx.Client) -> None:
    first = client.get("/data/blob.bin")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    r = client.get("/data/blob.bin", headers={"If-None-Match": etag})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["etag"] == etag
    assert_cors(r)
    r = client.head("/data/blob.bin", headers={"If-None-Match": f'"nope", {etag}'})
    assert r.status_code == 304
    r = client.get("/data/blob.bin", headers={"If-None-Match": '"nope"'})
    assert r.status_code == 200
    r = client.get("/data/blob.bin", headers={"If-Modified-Since": modified})
    assert r.status_code == 304
    r = client.get("/data/blob.bin", headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"})
    assert r.status_code == 200


def test_if_range(client: httpx.Client) -> None:
    etag = client.head("/data/blob.bin").headers["etag"]
    r = client.get("/data/blob.bin", headers={"Range": "bytes=0-9", "If-Range": etag})
    assert r.status_code == 206
    assert r.content == PAYLOAD[:10]
    r = client.get("/data/blob.bin", headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert r.status_code == 200
    assert r.content == PAYLOAD


def test_404_has_cors(client: httpx.Client) -> None:
    r = client.get("/img.zarr/0/c/0/0/0")
    assert r.status_code == 404
    assert_cors(r)
    r = client.head("/nope")
    assert r.status_code == 404
    assert_cors(r)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "PROPFIND"])
def test_other_methods_405(client: httpx.Client, method: str) -> None:
    r = client.request(method, "/data/blob.bin")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD, OPTIONS"
    assert_cors(r)


def test_options_preflight(client: httpx.Client) -> None:
    r = client.options(
        "/data/blob.bin",
        headers={
            "Origin": "http://127.0.0.1:9000",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS"
    assert_cors(r)
    assert client.options("/does/not/exist").status_code == 204


def test_cors_origin_option(serve_factory: Callable[..., ServerHandle]) -> None:
    handle = serve_factory(cors_origin="https://neuroglancer-demo.appspot.com")
    r = httpx.get(handle.url + "/missing")
    assert r.status_code == 404
    assert_cors(r, "https://neuroglancer-demo.appspot.com")


def test_large_body_streams(client: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> None:
    # Covered separately because bodies above the inline limit take the streaming path.
    from ngffkit.serve import FileBackend, create_app, start_server
    from ngffkit.serve.app import INLINE_LIMIT

    root = tmp_path_factory.mktemp("big")
    data = bytes(range(251)) * ((INLINE_LIMIT * 2 + 12345) // 251)
    (root / "big.bin").write_bytes(data)
    with start_server(create_app(FileBackend(root))) as handle:
        r = httpx.get(handle.url + "/big.bin")
        assert r.status_code == 200
        assert r.content == data
        start = 100
        stop = INLINE_LIMIT + 999
        r = httpx.get(handle.url + "/big.bin", headers={"Range": f"bytes={start}-{stop - 1}"})
        assert r.status_code == 206
        assert r.content == data[start:stop]


def test_backend_failure_is_500_with_cors() -> None:
    from ngffkit.errors import StorageError
    from ngffkit.serve import start_server
    from ngffkit.serve.backends import Backend, DirEntry, Fetched, Select
    from ngffkit.serve.ranges import ByteSpan

    class Broken(Backend):
        async def fetch(
            self, key: str, select: Select, inline_limit: int, requested: ByteSpan | None = None
        ) -> Fetched | None:
            raise StorageError("upstream is down")

        async def read(self, key: str, span: ByteSpan) -> bytes:
            raise AssertionError

        async def list_dir(self, key: str) -> list[DirEntry] | None:
            return None

        def display(self) -> str:
            return "broken"

    with start_server(Broken()) as handle:
        r = httpx.get(handle.url + "/x")
        assert r.status_code == 500
        assert r.headers["access-control-allow-origin"] == "*"
        assert httpx.get(handle.url + "/y").status_code == 500  # still serving
