"""Fixtures: images on disk, static HTTP servers over them, and moto's S3 server, all on
127.0.0.1 and started here. Nothing in these tests leaves the machine."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ngffkit import storage

from .servers import StaticServer

ServerFactory = Callable[..., StaticServer]


@pytest.fixture(scope="session")
def served_root(
    tmp_path_factory: pytest.TempPathFactory,
    make_image: Callable[..., dict[str, Any]],
    write_wk_layer: Callable[..., dict[str, np.ndarray]],
) -> tuple[Path, dict[str, Any]]:
    """A folder with ``sharded.ome.zarr`` (0.5, sharded), ``v04.ome.zarr`` (0.4, written as
    another tool would be read: plain Zarr v2) and ``wk`` (a WEBKNOSSOS-style dataset)."""
    root = tmp_path_factory.mktemp("served")
    data: dict[str, Any] = {}
    data["sharded"] = make_image(
        root / "sharded.ome.zarr", shape=(40, 96, 80), chunks=16, shards=32, levels=2
    )
    data["v04"] = make_image(root / "v04.ome.zarr", version="0.4", shape=(20, 48, 40), levels=2)
    rng = np.random.default_rng(3)
    zyx = rng.integers(0, 255, (24, 40, 36), dtype=np.uint8)
    data["wk"] = write_wk_layer(root / "wk", zyx)
    data["wk_zyx"] = zyx
    return root, data


@pytest.fixture(scope="session")
def server_factory(served_root: tuple[Path, dict[str, Any]]) -> Iterator[ServerFactory]:
    """``server_factory(**behaviour)`` → a new StaticServer over the served root."""
    started: list[StaticServer] = []

    def start(root: Path | None = None, **behaviour: Any) -> StaticServer:
        server = StaticServer(root or served_root[0], **behaviour)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def http_server(server_factory: ServerFactory) -> StaticServer:
    """Static server with Range support."""
    return server_factory()


@pytest.fixture
def ranged(http_server: StaticServer) -> StaticServer:
    """The Range server with an empty request log."""
    http_server.clear()
    return http_server


@pytest.fixture(autouse=True)
def _fresh_storage(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test starts from environment defaults, with AWS looking at no real account,
    no config files and no instance metadata service (no traffic off this machine)."""
    for var in (
        *storage.S3_ENDPOINT_ENV,
        "AWS_PROFILE",
        storage.HEADERS_ENV,
        storage.ANONYMOUS_ENV,
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    # Fail fast in tests: few retries, short backoff (set before the context is made).
    monkeypatch.setenv(storage.RETRIES_ENV, "2")
    storage.configure(None)
    yield
    storage.configure(None)
    storage.forget_credentials()


#: The test credentials moto accepts (and the server started with auth checks refuses).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret"}


class Moto:
    """moto's S3 API served on 127.0.0.1, inspected with boto3 (an independent client)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1000)
        return [item["Key"] for item in listed.get("Contents", [])]

    def get(self, bucket: str, key: str) -> bytes:
        return bytes(self.client().get_object(Bucket=bucket, Key=key)["Body"].read())


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Moto]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield Moto(f"http://{host}:{port}")
    server.stop()


@contextlib.contextmanager
def moto_process(**env: str) -> Iterator[str]:
    """A moto_server in a subprocess of its own (its own buckets, unlike a second server
    in this process); yields its endpoint. ``env``: moto settings."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def s3(moto_server: Moto, monkeypatch: pytest.MonkeyPatch) -> Moto:
    """moto's S3 with test credentials in the environment and its endpoint configured."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NGFFKIT_S3_ENDPOINT", moto_server.endpoint)
    storage.configure(None)
    return moto_server


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test credentials in the environment, and still no endpoint."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def other_moto() -> Iterator[Moto]:
    """A second S3 server with buckets of its own."""
    with moto_process() as endpoint:
        yield Moto(endpoint)


@pytest.fixture(scope="module")
def moto_with_auth() -> Iterator[str]:
    """A moto_server subprocess that checks credentials (unknown keys are refused)."""
    with moto_process(INITIAL_NO_AUTH_ACTION_COUNT="0") as endpoint:
        yield endpoint


@pytest.fixture
def stack(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A folder of 24 uint16 TIFF slices of 70×50 (and the volume they hold)."""
    import tifffile

    rng = np.random.default_rng(7)
    data = rng.integers(0, 4000, (24, 70, 50), dtype=np.uint16)
    folder = tmp_path / "slices"
    folder.mkdir()
    for z, plane in enumerate(data):
        tifffile.imwrite(folder / f"s{z:03d}.tif", plane)
    return folder, data


def json_file(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def env_with(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
