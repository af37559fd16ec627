"""The contract every serve ``Backend`` keeps (``serve/contract.py``), as zarr-python's store
tests do: one class of tests, run against each backend over the same tree of objects.

- ``file``: :class:`FileBackend` on a local folder;
- ``http``: :class:`KvStoreBackend` proxying a real static HTTP server on 127.0.0.1;
- ``s3``: :class:`KvStoreBackend` proxying moto's S3 server on 127.0.0.1;
- ``memory``: :class:`KvStoreBackend` on tensorstore's memory store;
- ``mount``: :class:`MountBackend` over a file backend (keys under a mount name).

Each checks range reads, missing keys, listing, and the validators that become headers
(ETag, size); the HTTP layer on top is tested once, in test_http.py.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ngffkit import storage
from ngffkit.serve.contract import Backend, ObjectInfo
from ngffkit.serve.proxy import KvStoreBackend, MountBackend
from ngffkit.serve.ranges import ByteSpan

from ngffkit.serve.backends import FileBackend, open_backend  # isort: skip

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes: every offset's value is predictable
#: The tree every backend serves: key -> bytes.
OBJECTS = {
    "data/blob.bin": PAYLOAD,
    "data/small.txt": b"hello, backend\n",
    "data/sub/x.bin": b"x" * 10,
    "img.zarr/zarr.json": b'{"zarr_format": 3, "node_type": "group"}',
}
KINDS = ["file", "http", "s3", "memory", "mount"]


@dataclass
class Served:
    backend: Backend
    prefix: str  # the key prefix the tree sits under ("" or a mount name + "/")
    lists: bool  # whether the store can list (an HTTP server cannot)


def _write_tree(root: Path) -> Path:
    for key, value in OBJECTS.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value)
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_tree(tmp_path_factory.mktemp("contract"))


@pytest.fixture(scope="module")
def http_upstream(tree: Path) -> Iterator[str]:
    from remote.servers import StaticServer

    server = StaticServer(tree)
    yield server.url()
    server.stop()


@pytest.fixture(scope="module")
def s3_upstream(tree: Path) -> Iterator[str]:
    """moto's S3 on 127.0.0.1 holding the tree at ``s3://contract/tree/``."""
    import tensorstore as ts
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {
        "NGFFKIT_S3_ENDPOINT": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    storage.configure(None)
    try:
        import boto3

        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
            Bucket="contract"
        )
        kv = ts.KvStore.open(
            {"driver": "s3", "bucket": "contract", "path": "tree/", "endpoint": endpoint}
        ).result()
        for key, value in OBJECTS.items():
            kv.write(key, value).result()
        yield "s3://contract/tree"
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        storage.configure(None)
        server.stop()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def whole(info: ObjectInfo) -> ByteSpan | None:
    return None if info.size is None else ByteSpan(0, info.size)


class TestBackendContract:
    """What the HTTP layer relies on, for every backend."""

    @pytest.fixture(params=KINDS)
    def served(self, request: pytest.FixtureRequest, tree: Path) -> Iterator[Served]:
        kind = request.param
        if kind == "file":
            served = Served(open_backend(tree), "", True)
            assert isinstance(served.backend, FileBackend)
        elif kind == "http":
            url = request.getfixturevalue("http_upstream")
            served = Served(open_backend(url), "", False)
            assert isinstance(served.backend, KvStoreBackend)
        elif kind == "s3":
            url = request.getfixturevalue("s3_upstream")
            served = Served(open_backend(url), "", True)
            assert isinstance(served.backend, KvStoreBackend)
        elif kind == "memory":
            backend = KvStoreBackend({"driver": "memory"})
            for key, value in OBJECTS.items():
                backend.kvstore.write(key, value).result()
            served = Served(backend, "", True)
        else:
            served = Served(MountBackend({"here": FileBackend(tree)}), "here/", True)
        yield served
        run(served.backend.aclose())

    def test_whole_objects(self, served: Served) -> None:
        for key, value in OBJECTS.items():
            got = run(served.backend.fetch(served.prefix + key, whole, 1 << 20))
            assert got is not None, key
            assert got.info.size == len(value) and got.body == value, key
            assert got.span == ByteSpan(0, len(value))

    @pytest.mark.parametrize(
        ("start", "stop"), [(0, 1), (10, 20), (1000, 5000), (len(PAYLOAD) - 7, len(PAYLOAD))]
    )
    def test_range_reads(self, served: Served, start: int, stop: int) -> None:
        key = served.prefix + "data/blob.bin"
        span = ByteSpan(start, stop)
        got = run(served.backend.fetch(key, lambda info: span, 1 << 20))
        assert got is not None and got.body == PAYLOAD[start:stop]
        # a closed Range the backend may serve without learning the size first
        got = run(served.backend.fetch(key, lambda info: span, 1 << 20, requested=span))
        assert got is not None and got.body == PAYLOAD[start:stop]
        assert got.info.size in (None, len(PAYLOAD))
        assert run(served.backend.read(key, span)) == PAYLOAD[start:stop]

    def test_a_span_above_the_inline_limit_is_read_separately(self, served: Served) -> None:
        key = served.prefix + "data/blob.bin"
        got = run(served.backend.fetch(key, whole, 1024))
        assert got is not None and got.span == ByteSpan(0, len(PAYLOAD)) and got.body is None
        assert run(served.backend.read(key, ByteSpan(0, len(PAYLOAD)))) == PAYLOAD

    def test_no_span_selected_sends_no_bytes(self, served: Served) -> None:
        got = run(served.backend.fetch(served.prefix + "data/small.txt", lambda i: None, 1 << 20))
        assert got is not None and got.span is None and got.body is None

    @pytest.mark.parametrize("key", ["data/missing.bin", "nope/zarr.json", "data", "data/sub"])
    def test_missing_keys_and_folders_are_not_objects(self, served: Served, key: str) -> None:
        assert run(served.backend.fetch(served.prefix + key, whole, 1 << 20)) is None

    def test_validators(self, served: Served) -> None:
        """The ETag is strong, quoted and stable while the object is (it becomes the ETag
        header; the size the Content-Length). ETags are per key: two keys may share one (an
        HTTP upstream that sends only Last-Modified gives the proxy nothing finer)."""
        key = served.prefix + "data/small.txt"
        first = run(served.backend.fetch(key, whole, 1 << 20))
        again = run(served.backend.fetch(key, whole, 1 << 20))
        assert first is not None and again is not None
        etag = first.info.etag
        assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2
        assert again.info.etag == etag
        assert first.info.mtime is None or first.info.mtime > 0

    def test_listing(self, served: Served) -> None:
        listed = run(served.backend.list_dir(served.prefix + "data"))
        if not served.lists:
            assert listed is None  # e.g. an HTTP store: no listing, and no error
            return
        assert listed is not None
        names = {(e.name, e.is_dir) for e in listed}
        assert names == {("blob.bin", False), ("small.txt", False), ("sub", True)}
        # folders first, then files, each by name
        assert [e.name for e in listed] == ["sub", "blob.bin", "small.txt"]
        assert run(served.backend.list_dir(served.prefix + "nope")) is None
        assert run(served.backend.list_dir(served.prefix + "data/small.txt")) is None
