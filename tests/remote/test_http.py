"""Reading over HTTP from real static servers on 127.0.0.1: partial reads by byte range,
the whole-shard fallback for servers without Range, data other tools wrote, fill values,
and ``ngff info`` / ``ngff validate`` on URLs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore as ts

import ngffkit
from ngffkit.errors import NgffWarning, NotFoundError, StorageError

from .conftest import ServerFactory
from .servers import StaticServer

Root = tuple[Path, dict[str, Any]]


def test_sharded_read_fetches_only_the_index_and_the_needed_chunks(
    ranged: StaticServer, served_root: Root
) -> None:
    root, data = served_root
    image = ngffkit.open(ranged.url("sharded.ome.zarr"))
    expected = data["sharded"]["levels"][0]
    assert image.shape == expected.shape and image.levels[0].shards == (32, 32, 32)
    ranged.clear()
    box = image.read(0, (3, 35, 40), (10, 10, 10))
    np.testing.assert_array_equal(box, expected[3:13, 35:45, 40:50])
    chunk_reads = [r for r in ranged.log if "/c/" in r.path]
    # One shard, read by byte ranges (its index, then the inner chunks), never whole.
    assert chunk_reads and all(r.status == 206 and r.range for r in chunk_reads)
    assert {r.path for r in chunk_reads} == {"/sharded.ome.zarr/0/c/0/1/1"}
    shard_size = (root / "sharded.ome.zarr/0/c/0/1/1").stat().st_size
    assert sum(r.sent for r in chunk_reads) < shard_size / 2


def test_repeated_reads_come_from_the_cache(ranged: StaticServer, served_root: Root) -> None:
    image = ngffkit.open(ranged.url("sharded.ome.zarr"))
    image.read(0, (0, 0, 0), (16, 16, 16))
    before = len(ranged.log)
    again = image.read(0, (0, 0, 0), (16, 16, 16))
    np.testing.assert_array_equal(again, served_root[1]["sharded"]["levels"][0][:16, :16, :16])
    assert len(ranged.log) == before


def test_server_without_range_support_falls_back_to_whole_shards(
    server_factory: ServerFactory, served_root: Root
) -> None:
    plain = server_factory(ranges=False)
    image = ngffkit.open(plain.url("sharded.ome.zarr"))
    expected = served_root[1]["sharded"]["levels"][0]
    with pytest.warns(NgffWarning, match="ignores HTTP Range requests"):
        box = image.read(0, (30, 60, 50), (10, 36, 30))
    np.testing.assert_array_equal(box, expected[30:40, 60:96, 50:80])
    # Later reads reuse the fallback without another warning, across shard boundaries too.
    with warnings.catch_warnings():
        warnings.simplefilter("error", NgffWarning)
        np.testing.assert_array_equal(image.levels[0][:, 10:50, 70], expected[:, 10:50, 70])
    assert all(r.range is None or r.status == 200 for r in plain.log)


def test_ome_zarr_04_behind_a_plain_static_server(
    server_factory: ServerFactory, served_root: Root
) -> None:
    plain = server_factory(ranges=False)
    image = ngffkit.open(plain.url("v04.ome.zarr"))
    assert image.version == "0.4" and image.zarr_format == 2
    for k, level in enumerate(image.levels):
        np.testing.assert_array_equal(level[...], served_root[1]["v04"]["levels"][k])


def test_webknossos_layout_over_http(ranged: StaticServer, served_root: Root) -> None:
    image = ngffkit.open(ranged.url("wk/color"))
    assert image.axis_names == ("c", "x", "y", "z")
    zyx = served_root[1]["wk_zyx"]
    got = image.read(0, (0, 5, 6, 7), (1, 20, 10, 12))
    np.testing.assert_array_equal(got[0], zyx[7:19, 6:16, 5:25].T)


def test_missing_chunk_reads_as_fill_value(
    server_factory: ServerFactory, tmp_path: Path, make_image: Any
) -> None:
    made = make_image(tmp_path / "holes.ome.zarr", shards=32, shape=(32, 64, 64), levels=1)
    (tmp_path / "holes.ome.zarr/0/c/0/1/1").unlink()
    server = server_factory(tmp_path)
    level = ngffkit.open(server.url("holes.ome.zarr")).levels[0]
    data = level[...]
    np.testing.assert_array_equal(data[:, :32, :32], made["levels"][0][:, :32, :32])
    assert not data[:, 32:, 32:].any()


def test_missing_metadata_names_the_key(ranged: StaticServer) -> None:
    with pytest.raises(NotFoundError, match=r"nothing\.ome\.zarr/zarr\.json was not found"):
        ngffkit.open(ranged.url("nothing.ome.zarr"))


def test_http_locations_are_read_only(ranged: StaticServer) -> None:
    from ngffkit.storage import resolve

    with pytest.raises(StorageError, match="read-only"):
        resolve(ranged.url("x.zarr")).write("zarr.json", b"{}")


def test_info_and_validate_on_urls(ranged: StaticServer, run_cli: Any) -> None:
    url = ranged.url("sharded.ome.zarr")
    done = run_cli("info", url, "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["url"] == url.rstrip("/") and info["levels"][0]["shards"] == [32, 32, 32]
    done = run_cli("validate", url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout
    done = run_cli("validate", ranged.url("wk/color"))
    assert done.returncode in (0, 1) and "Error" not in done.stderr
    done = run_cli("info", ranged.url("nothing.ome.zarr"))
    assert done.returncode == 1 and "nothing.ome.zarr/zarr.json was not found" in done.stderr


def test_ngff_serve_is_a_remote_store(served_root: Root) -> None:
    from ngffkit.serve import FileBackend, create_app, start_server

    handle = start_server(create_app(FileBackend(served_root[0])), "127.0.0.1", 0)
    try:
        image = ngffkit.open(f"{handle.url.rstrip('/')}/sharded.ome.zarr")
        expected = served_root[1]["sharded"]["levels"][1]
        np.testing.assert_array_equal(image.levels[1][...], expected)
    finally:
        handle.stop()


def test_convert_reads_a_remote_zarr_array(
    ranged: StaticServer, tmp_path: Path, served_root: Root
) -> None:
    out = tmp_path / "copy.ome.zarr"
    from ngffkit._convert import convert

    image = convert(ranged.url("sharded.ome.zarr"), out, levels=1)
    assert isinstance(image, ngffkit.Image)
    np.testing.assert_array_equal(image.levels[0][...], served_root[1]["sharded"]["levels"][0])
    # The same bytes as tensorstore reads them straight from disk.
    direct = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": str(out / "0")}})
    assert direct.result().shape == image.shape


def test_reads_larger_than_the_cache_bypass_it(ranged: StaticServer, served_root: Root) -> None:
    from ngffkit import storage

    storage.configure(storage.StorageOptions(cache_bytes=64 * 1024))
    level = ngffkit.open(ranged.url("sharded.ome.zarr")).levels[0]
    expected = served_root[1]["sharded"]["levels"][0]
    np.testing.assert_array_equal(level[...], expected)  # 600 KiB: the uncached handle
    assert level._uncached is not None
    np.testing.assert_array_equal(level.read((1, 2, 3), (4, 5, 6)), expected[1:5, 2:7, 3:9])
