"""Credentials, retries, timeouts and network failures against real servers on 127.0.0.1.
Secrets must never show up in messages, URLs or reprs."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ngffkit
from ngffkit import storage
from ngffkit.errors import StorageError
from ngffkit.storage import StorageOptions, resolve

from .conftest import ServerFactory

Root = tuple[Path, dict[str, Any]]
TOKEN = "s3cr3t-TOKEN-value"
PASSWORD = "pa55-word-xyz"


def test_basic_auth_from_the_url_is_sent_and_never_shown(
    server_factory: ServerFactory, served_root: Root
) -> None:
    server = server_factory(basic=("alice", PASSWORD))
    url = server.url("sharded.ome.zarr", auth=f"alice:{PASSWORD}")
    image = ngffkit.open(url)
    np.testing.assert_array_equal(image.levels[1][...], served_root[1]["sharded"]["levels"][1])
    assert all(r.authorization and r.authorization.startswith("Basic ") for r in server.log)
    for shown in (
        image.url,
        repr(image),
        repr(image.location),
        image.location.display("x"),
        repr(image.levels[0]),
    ):
        assert PASSWORD not in shown and "alice" not in shown


def test_missing_and_wrong_credentials_say_so(
    server_factory: ServerFactory, served_root: Root
) -> None:
    server = server_factory(basic=("alice", PASSWORD))
    with pytest.raises(StorageError, match=r"needs credentials \(HTTP 401\)"):
        ngffkit.open(server.url("sharded.ome.zarr"))
    with pytest.raises(StorageError, match=r"refused \(HTTP 403\)") as caught:
        ngffkit.open(server.url("sharded.ome.zarr", auth="alice:wrong-guess"))
    assert "wrong-guess" not in str(caught.value)


def test_bearer_token_header_on_the_command_line(
    server_factory: ServerFactory, run_cli: Any
) -> None:
    server = server_factory(bearer=TOKEN)
    url = server.url("sharded.ome.zarr")
    done = run_cli("info", url, "--header", f"Authorization: Bearer {TOKEN}")
    assert done.returncode == 0, done.stderr
    assert "sharded.ome.zarr" in done.stdout
    assert {r.authorization for r in server.log} == {f"Bearer {TOKEN}"}
    done = run_cli("info", url)
    assert done.returncode == 1 and "needs credentials (HTTP 401)" in done.stderr
    done = run_cli("validate", url, "-H", "Authorization: Bearer not-the-token")
    assert done.returncode == 2 and "refused (HTTP 403)" in done.stderr
    assert "not-the-token" not in done.stderr + done.stdout
    done = run_cli("info", url, "--header", "no colon here")
    assert done.returncode == 2 and "--header" in done.stderr


def test_header_values_are_redacted_from_reprs_and_errors() -> None:
    options = StorageOptions(headers=(f"Authorization: Bearer {TOKEN}",))
    assert TOKEN not in repr(options)
    loc = resolve("http://127.0.0.1:9/x.zarr", options=options)
    assert loc.kvstore["headers"] == [f"Authorization: Bearer {TOKEN}"]
    assert TOKEN not in repr(loc) and TOKEN not in loc.display()
    err = storage.map_error(ValueError(f"UNKNOWN: header Authorization: Bearer {TOKEN}"), loc, "k")
    assert TOKEN not in str(err)


def test_429_and_503_are_retried_until_they_pass(
    server_factory: ServerFactory, served_root: Root
) -> None:
    for status in (429, 503):
        server = server_factory(fail_status=status, fail_times=2, fail_match=r"\.zattrs")
        image = ngffkit.open(server.url("v04.ome.zarr"))  # retries within the limit of 2
        np.testing.assert_array_equal(image.levels[1][...], served_root[1]["v04"]["levels"][1])
        attempts = [r.status for r in server.log if r.path == "/v04.ome.zarr/.zattrs"]
        assert attempts == [status, status, 200]


def test_persistent_5xx_fails_after_the_retries(server_factory: ServerFactory) -> None:
    server = server_factory(fail_status=500, fail_times=-1)
    with pytest.raises(StorageError, match=r"failed with HTTP 500 after retrying"):
        ngffkit.open(server.url("v04.ome.zarr"))
    assert len([r for r in server.log if r.path == "/v04.ome.zarr/zarr.json"]) == 3  # 1 + 2


def test_persistent_429_says_too_many_requests(server_factory: ServerFactory) -> None:
    server = server_factory(fail_status=429, fail_times=-1)
    with pytest.raises(StorageError, match="429 Too Many Requests after retrying"):
        ngffkit.open(server.url("v04.ome.zarr"))


def test_unresolvable_host_fails_fast_and_clearly(run_ngff: Any) -> None:
    # a process of its own: a lookup that hangs is killed by the timeout
    with pytest.raises(StorageError, match="'nonexistent.invalid' does not resolve"):
        ngffkit.open("http://nonexistent.invalid/data.ome.zarr")
    done = run_ngff("info", "https://nonexistent.invalid/data.ome.zarr", timeout=60)
    assert done.returncode == 1 and "does not resolve" in done.stderr
    assert "Traceback" not in done.stderr


def test_connection_refused_is_named() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StorageError, match="connection was refused"):
        ngffkit.open(f"http://127.0.0.1:{port}/data.ome.zarr")


def test_a_stalled_server_times_out(server_factory: ServerFactory, run_ngff: Any) -> None:
    # a process of its own: the HTTP transport takes its timeout from its first use
    server = server_factory(stall=6.0)
    done = run_ngff(
        "info", server.url("v04.ome.zarr"), "--timeout", "1", "--retries", "0", timeout=60
    )
    assert done.returncode == 1, done.stdout
    assert "did not answer in time" in done.stderr
