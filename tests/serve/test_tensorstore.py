"""Real clients through the server: tensorstore's http kvstore reading zarr v3 (sharded) and
v2 arrays, the way Neuroglancer does (HEAD, index Range, inner-chunk Ranges). Also the
kvstore-backed (proxy) backend and dataset discovery."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tensorstore as ts

from ngffkit.serve import FileBackend, KvStoreBackend, create_app, discover_datasets, start_server
from ngffkit.serve.discover import Dataset


def write_v3_sharded(path: Path, data: np.ndarray[Any, Any]) -> None:
    spec = {
        "driver": "zarr3",
        "kvstore": {"driver": "file", "path": str(path)},
        "metadata": {
            "shape": list(data.shape),
            "data_type": "uint16",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [32, 32, 32]}},
            "codecs": [
                {
                    "name": "sharding_indexed",
                    "configuration": {
                        "chunk_shape": [8, 8, 8],
                        "codecs": [
                            {"name": "bytes", "configuration": {"endian": "little"}},
                            {"name": "zstd"},
                        ],
                        "index_codecs": [
                            {"name": "bytes", "configuration": {"endian": "little"}},
                            {"name": "crc32c"},
                        ],
                    },
                }
            ],
            "dimension_names": ["z", "y", "x"],
        },
        "create": True,
        "delete_existing": True,
    }
    ts.open(spec).result().write(data).result()


def write_v2(path: Path, data: np.ndarray[Any, Any]) -> None:
    spec = {
        "driver": "zarr",
        "kvstore": {"driver": "file", "path": str(path)},
        "metadata": {
            "shape": list(data.shape),
            "chunks": [16, 16, 16],
            "dtype": "<u2",
            "dimension_separator": "/",
            "compressor": None,
        },
        "create": True,
        "delete_existing": True,
    }
    ts.open(spec).result().write(data).result()


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray[Any, Any]]:
    root = tmp_path_factory.mktemp("zarrs")
    rng = np.random.default_rng(0)
    data = rng.integers(0, 65535, size=(40, 45, 50), dtype=np.uint16)
    v3 = root / "scroll.ome.zarr"
    write_v3_sharded(v3 / "0", data)
    (v3 / "zarr.json").write_text(
        json.dumps(
            {
                "zarr_format": 3,
                "node_type": "group",
                "attributes": {
                    "ome": {"version": "0.5", "multiscales": [{"datasets": [{"path": "0"}]}]}
                },
            }
        )
    )
    v2 = root / "nested" / "old.ome.zarr"
    write_v2(v2 / "0", data)
    (v2 / ".zgroup").write_text('{"zarr_format": 2}')
    (v2 / ".zattrs").write_text(
        json.dumps({"multiscales": [{"version": "0.4", "datasets": [{"path": "0"}]}], "labels": []})
    )
    (v2 / "labels").mkdir()
    (v2 / "labels" / ".zattrs").write_text('{"labels": ["cells"]}')
    return root, data


def test_tensorstore_reads_sharded_v3_and_v2_over_http(
    datasets: tuple[Path, np.ndarray[Any, Any]],
) -> None:
    root, data = datasets
    with start_server(create_app(FileBackend(root), verbose=False)) as handle:
        v3 = ts.open(
            {
                "driver": "zarr3",
                "kvstore": {"driver": "http", "base_url": f"{handle.url}/scroll.ome.zarr/0/"},
            }
        ).result()
        np.testing.assert_array_equal(v3.read().result(), data)
        np.testing.assert_array_equal(
            v3[3:20, 30:44, 1:49].read().result(), data[3:20, 30:44, 1:49]
        )
        v2 = ts.open(
            {
                "driver": "zarr",
                "kvstore": {"driver": "http", "base_url": f"{handle.url}/nested/old.ome.zarr/0/"},
            }
        ).result()
        np.testing.assert_array_equal(v2.read().result(), data)


def test_shard_reads_look_like_neuroglancer(datasets: tuple[Path, np.ndarray[Any, Any]]) -> None:
    """HEAD for the size, a Range for the index at the end, a Range per inner chunk."""
    root, _ = datasets
    shard = root / "scroll.ome.zarr" / "0" / "c" / "0" / "0" / "0"
    raw = shard.read_bytes()
    with start_server(create_app(FileBackend(root))) as handle:
        url = f"{handle.url}/scroll.ome.zarr/0/c/0/0/0"
        head = httpx.head(url)
        size = int(head.headers["content-length"])
        assert size == len(raw)
        index_len = 4 * 4 * 4 * 16 + 4
        r = httpx.get(url, headers={"Range": f"bytes={size - index_len}-{size - 1}"})
        assert r.status_code == 206
        index = np.frombuffer(r.content[:-4], dtype="<u8").reshape(-1, 2)
        offset, length = (int(v) for v in index[0])
        r = httpx.get(url, headers={"Range": f"bytes={offset}-{offset + length - 1}"})
        assert r.content == raw[offset : offset + length]


def test_discovery(datasets: tuple[Path, np.ndarray[Any, Any]]) -> None:
    root, _ = datasets
    found = asyncio.run(discover_datasets(FileBackend(root)))
    assert found == [
        Dataset("nested/old.ome.zarr", 2, "image"),
        Dataset("nested/old.ome.zarr/labels/cells", 2, "labels"),
        Dataset("scroll.ome.zarr", 3, "image"),
    ]
    assert found[2].neuroglancer_source("http://127.0.0.1:8000") == (
        "zarr3://http://127.0.0.1:8000/scroll.ome.zarr"
    )
    assert found[0].neuroglancer_source("http://h:1") == "zarr2://http://h:1/nested/old.ome.zarr"
    # Serving one dataset folder: the root itself is the dataset.
    alone = asyncio.run(discover_datasets(FileBackend(root / "scroll.ome.zarr")))
    assert alone == [Dataset("", 3, "image")]
    assert alone[0].neuroglancer_source("http://h:1") == "zarr3://http://h:1"


def test_kvstore_backend_file(datasets: tuple[Path, np.ndarray[Any, Any]]) -> None:
    """Proxy mode: the server reads through a tensorstore kvstore and serves the same bytes."""
    root, data = datasets
    backend = KvStoreBackend({"driver": "file", "path": str(root) + "/"})
    with start_server(create_app(backend, listing=True)) as handle:
        arr = ts.open(
            {
                "driver": "zarr3",
                "kvstore": {"driver": "http", "base_url": f"{handle.url}/scroll.ome.zarr/0/"},
            }
        ).result()
        np.testing.assert_array_equal(arr.read().result(), data)
        shard = (root / "scroll.ome.zarr/0/c/0/0/0").read_bytes()
        r = httpx.get(f"{handle.url}/scroll.ome.zarr/0/c/0/0/0", headers={"Range": "bytes=-100"})
        assert r.status_code == 206
        assert r.content == shard[-100:]
        etag = r.headers["etag"]
        assert (
            httpx.get(
                f"{handle.url}/scroll.ome.zarr/0/c/0/0/0", headers={"If-None-Match": etag}
            ).status_code
            == 304
        )
        r = httpx.get(f"{handle.url}/nope/zarr.json")
        assert r.status_code == 404
        assert r.headers["access-control-allow-origin"] == "*"
        listing = httpx.get(
            f"{handle.url}/scroll.ome.zarr/", headers={"Accept": "application/json"}
        ).json()
        assert {e["name"] for e in listing["entries"]} == {"0", "zarr.json"}
        assert httpx.get(f"{handle.url}/../etc/passwd").status_code == 404
    found = asyncio.run(discover_datasets(backend))
    assert Dataset("scroll.ome.zarr", 3, "image") in found


def test_kvstore_backend_memory() -> None:
    backend = KvStoreBackend({"driver": "memory"})
    backend.kvstore.write("a/zarr.json", b'{"zarr_format": 3, "node_type": "array"}').result()
    backend.kvstore.write("a/c/0", bytes(range(200))).result()
    backend.kvstore.write(".hidden", b"secret").result()
    with start_server(backend) as handle:
        r = httpx.get(f"{handle.url}/a/c/0", headers={"Range": "bytes=10-19"})
        assert r.status_code == 206
        assert r.content == bytes(range(10, 20))
        # The proxy read only those bytes, so the size is not known yet ...
        assert r.headers["content-range"] == "bytes 10-19/*"
        assert httpx.head(f"{handle.url}/a/c/0").headers["content-length"] == "200"
        # ... until something needed it.
        r = httpx.get(f"{handle.url}/a/c/0", headers={"Range": "bytes=10-19"})
        assert r.headers["content-range"] == "bytes 10-19/200"
        assert httpx.get(f"{handle.url}/a/zarr.json").headers["content-type"] == "application/json"
        assert httpx.get(f"{handle.url}/.hidden").status_code == 404
        # A changed value is seen (the cache revalidates by generation).
        backend.kvstore.write("a/c/0", b"new").result()
        assert httpx.get(f"{handle.url}/a/c/0").content == b"new"
