"""Nothing outside the root, nothing hidden, tokens, listings: hostile requests on a real server."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from ngffkit.serve import ServerHandle

from .conftest import PAYLOAD, SECRET, raw_get, raw_request

TRAVERSALS = [
    b"/../etc/passwd",
    b"/../../../../../../etc/passwd",
    b"/../sibling-secret.txt",
    b"/../outside/secret.txt",
    b"/data/../../outside/secret.txt",
    b"/%2e%2e/outside/secret.txt",
    b"/%2E%2E/%2E%2E/etc/passwd",
    b"/.%2e/outside/secret.txt",
    b"/%2e%2e%2foutside%2fsecret.txt",
    b"/data%2f..%2f..%2foutside%2fsecret.txt",
    b"/a%2f..%2f..",
    b"/..\\outside\\secret.txt",
    b"/..%5coutside%5csecret.txt",
    b"/data/..%5c..%5coutside%5csecret.txt",
    b"/%00/etc/passwd",
    b"/%252e%252e/outside/secret.txt",  # double-encoded: a literal '%2e%2e' name, not '..'
    b"/%c0%ae%c0%ae/outside/secret.txt",  # overlong UTF-8 for '.'
    b"/..;/outside/secret.txt",
    b"/data/%2e%2e/%2e%2e/outside/secret.txt",
    b"/data/./../../outside/secret.txt",
    b"/%2e/data/blob.bin",
    b"/data/sub/..%2f..%2f..%2foutside/secret.txt",
    b"/..%2F..%2Foutside%2Fsecret.txt",
    b"/C:%5cWindows%5cwin.ini",
    b"/%5c%5cserver%5cshare",
    b"/~root/.bashrc",
    b"/data/blob.bin%00.txt",
    b"//etc/passwd",
    b"/etc/passwd",
    b"http://127.0.0.1/../outside/secret.txt",
    b"http://127.0.0.1/etc/passwd",
    b"/link-out.txt",
    b"/link-out-dir/secret.txt",
    b"/link-abs",
    b"/link-to-hidden",
    b"/.secret",
    b"/.git/config",
    b"/data/.hidden.bin",
    b"/data/fifo",
    b"/data",
    b"/data/",
    b"/",
]


@pytest.mark.parametrize("target", TRAVERSALS, ids=lambda t: t.decode("latin-1"))
def test_hostile_targets_are_404(server: ServerHandle, target: bytes) -> None:
    status, headers, body = raw_get(server, target)
    assert status == 404
    assert SECRET not in body
    assert b"root:" not in body
    assert headers["access-control-allow-origin"] == "*"


def test_request_line_the_parser_rejects(server: ServerHandle) -> None:
    # A raw NUL in the request-line never reaches the app; uvicorn's parser refuses it.
    status, _, body = raw_get(server, b"/a\x00b")
    assert status in (400, 404)
    assert SECRET not in body


def test_symlinks_inside_root_are_followed(server: ServerHandle) -> None:
    r = httpx.get(server.url + "/link-in.bin", headers={"Range": "bytes=0-9"})
    assert r.status_code == 206
    assert r.content == PAYLOAD[:10]
    r = httpx.get(server.url + "/link-in-dir/sub/x.bin")
    assert r.status_code == 200
    assert r.content == b"x" * 10


def test_percent_encoded_names(server: ServerHandle) -> None:
    assert httpx.get(server.url + "/data/with%20space.bin").content == b"spaced"


def test_token(serve_factory: Callable[..., ServerHandle]) -> None:
    handle = serve_factory(token="s3cret-token")
    url = handle.url + "/data/sub/x.bin"
    for response in (
        httpx.get(url),
        httpx.get(url, params={"token": "wrong"}),
        httpx.get(url, headers={"Authorization": "Bearer wrong"}),
        httpx.get(url, headers={"Authorization": "Basic czNjcmV0LXRva2Vu"}),
        httpx.get(url, params={"token": ""}),
        httpx.head(url),
        httpx.get(handle.url + "/missing"),  # 401 before 404: existence is not revealed
    ):
        assert response.status_code == 401
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["www-authenticate"] == "Bearer"
    assert httpx.get(url, params={"token": "s3cret-token"}).content == b"x" * 10
    assert httpx.get(url, headers={"Authorization": "Bearer s3cret-token"}).content == b"x" * 10
    r = httpx.get(url, params={"token": "s3cret-token"}, headers={"Range": "bytes=2-3"})
    assert r.status_code == 206
    assert httpx.options(url).status_code == 204  # preflights carry no credentials
    assert httpx.get(handle.url + "/missing", params={"token": "s3cret-token"}).status_code == 404


def test_token_never_logged(
    serve_factory: Callable[..., ServerHandle], caplog: pytest.LogCaptureFixture
) -> None:
    handle = serve_factory(token="log-me-not", verbose=True)
    with caplog.at_level("INFO", logger="ngffkit.serve.access"):
        httpx.get(handle.url + "/data/sub/x.bin", params={"token": "log-me-not"})
        httpx.get(handle.url + "/data/sub/x.bin", headers={"Authorization": "Bearer log-me-not"})
        httpx.get(handle.url + "/data/sub/x.bin", params={"token": "wrong-guess"})
    lines = [r.getMessage() for r in caplog.records if r.name == "ngffkit.serve.access"]
    assert any("GET /data/sub/x.bin 200 10 B" in line for line in lines)
    assert any(" 401 " in line for line in lines)
    assert not any("log-me-not" in line or "wrong-guess" in line for line in lines)


def test_listing_off_by_default(server: ServerHandle) -> None:
    for path in ("/", "/data", "/data/", "/img.zarr/"):
        assert httpx.get(server.url + path).status_code == 404


def test_listing_on(serve_factory: Callable[..., ServerHandle]) -> None:
    handle = serve_factory(listing=True)
    r = httpx.get(handle.url + "/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["access-control-allow-origin"] == "*"
    page = r.text
    assert 'href="/data/"' in page
    assert 'href="/img.zarr/"' in page
    assert 'href="/link-in.bin"' in page
    for hidden in (".secret", ".git", "link-out", "link-abs", "link-to-hidden"):
        assert hidden not in page
    r = httpx.get(handle.url + "/data", headers={"Accept": "application/json"})
    doc = r.json()
    assert doc["path"] == "/data/"
    names = {e["name"]: e for e in doc["entries"]}
    assert names["blob.bin"] == {"name": "blob.bin", "type": "file", "size": len(PAYLOAD)}
    assert names["sub"]["type"] == "directory"
    assert ".hidden.bin" not in names
    assert httpx.get(handle.url + "/data/with%20space.bin").content == b"spaced"
    assert 'href="/data/with%20space.bin"' in httpx.get(handle.url + "/data/").text
    r = httpx.get(handle.url + "/old.zarr/")
    assert ".zattrs" in r.text  # zarr v2 metadata is listed like any file
    # Still nothing outside the root, listing or not.
    for target in (b"/../", b"/%2e%2e/", b"/link-out-dir/", b"/.git/"):
        status, _, body = raw_get(handle, target)
        assert status == 404, target
        assert b"secret" not in body
    r = httpx.head(handle.url + "/data/")
    assert r.status_code == 200
    assert int(r.headers["content-length"]) > 0


def test_keep_alive_survives_errors(server: ServerHandle) -> None:
    """A 404 or 416 on a persistent connection leaves it usable (as a browser reuses it)."""
    request = (
        b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /data/blob.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=999999-\r\n\r\n"
        b"GET /data/sub/x.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    status, _, body = raw_request(server, request)
    assert status == 404
    assert body.count(b"HTTP/1.1 416") == 1
    assert body.endswith(b"x" * 10)
