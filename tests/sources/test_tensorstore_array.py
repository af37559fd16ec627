"""Zarr v2/v3, OME-Zarr groups, N5 and precomputed, all written with tensorstore."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore as ts
from source_helpers import SHAPE, assert_reads, random_volume

from ngffkit.errors import InputError, NotFoundError
from ngffkit.sources import TensorStoreSource, open_source

DTYPES = [np.uint8, np.uint16, np.int16, np.uint32, np.float32]


def write_ts(spec: dict[str, Any], vol: np.ndarray, chunks: tuple[int, ...] | None = None) -> None:
    kwargs: dict[str, Any] = {"dtype": ts.dtype(vol.dtype.name), "shape": vol.shape}
    if chunks is not None:
        kwargs["chunk_layout"] = ts.ChunkLayout(chunk_shape=chunks)
    store = ts.open(spec, create=True, delete_existing=True, **kwargs).result()
    store.write(vol).result()


def zarr3(path: Path, vol: np.ndarray, names: list[str] | None = None) -> None:
    spec: dict[str, Any] = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)}}
    if names is not None:
        spec["metadata"] = {"dimension_names": names}
    write_ts(spec, vol, tuple(min(4, n) for n in vol.shape))


def zarr2(path: Path, vol: np.ndarray) -> None:
    spec = {"driver": "zarr", "kvstore": {"driver": "file", "path": str(path)}}
    write_ts(spec, vol, tuple(min(4, n) for n in vol.shape))


@pytest.mark.parametrize("dtype", DTYPES)
def test_zarr3_dtype_matrix(tmp_path: Path, dtype) -> None:
    vol = random_volume(SHAPE, dtype)
    zarr3(tmp_path / "a.zarr", vol)
    with open_source(tmp_path / "a.zarr") as src:
        assert isinstance(src, TensorStoreSource)
        assert src.kind == "zarr" and src.axes == ("z", "y", "x")
        assert src.cost.window_cheap and src.cost.rows_per_block is None
        assert_reads(src, vol)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_zarr2_array(tmp_path: Path, dtype) -> None:
    vol = random_volume(SHAPE, dtype)
    zarr2(tmp_path / "a.zarr", vol)
    with open_source(tmp_path / "a.zarr") as src:
        assert_reads(src, vol)


def test_zarr2_array_dimensions_from_zattrs(tmp_path: Path) -> None:
    vol = random_volume((3, 2, 5, 7), np.uint16)  # z, c, y, x
    zarr2(tmp_path / "a.zarr", vol)
    (tmp_path / "a.zarr" / ".zattrs").write_text(json.dumps({"_ARRAY_DIMENSIONS": list("zcyx")}))
    with open_source(tmp_path / "a.zarr") as src:
        assert src.axes == ("c", "z", "y", "x")
        assert_reads(src, np.ascontiguousarray(vol.transpose(1, 0, 2, 3)))


def test_zarr3_dimension_names_in_xyz_order_are_reordered(tmp_path: Path) -> None:
    vol = random_volume((7, 6, 5), np.uint16)  # x, y, z
    zarr3(tmp_path / "xyz.zarr", vol, names=["x", "y", "z"])
    with open_source(tmp_path / "xyz.zarr") as src:
        assert src.axes == ("z", "y", "x") and src.shape == (5, 6, 7)
        assert_reads(src, np.ascontiguousarray(vol.transpose(2, 1, 0)))


@pytest.mark.parametrize(
    ("shape", "axes"),
    [
        ((9, 11), ("z", "y", "x")),
        ((2, 4, 9, 11), ("c", "z", "y", "x")),
        ((2, 3, 4, 9, 11), ("t", "c", "z", "y", "x")),
    ],
)
def test_rank_2_to_5_without_names(tmp_path: Path, shape, axes) -> None:
    vol = random_volume(shape, np.uint8)
    zarr3(tmp_path / "r.zarr", vol)
    with open_source(tmp_path / "r.zarr") as src:
        assert src.axes == axes
        assert_reads(src, vol.reshape(src.shape))


def test_rank_6_is_refused(tmp_path: Path) -> None:
    zarr3(tmp_path / "r.zarr", np.zeros((1, 2, 1, 2, 3, 4), np.uint8))
    with pytest.raises(InputError, match="2 to 5 dimensions, found 6"):
        open_source(tmp_path / "r.zarr")


def test_ome_zarr_05_group_opens_level_0_with_scale(tmp_path: Path) -> None:
    vol = random_volume((4, 2, 9, 11), np.uint16)  # c, z, y, x
    group = tmp_path / "img.zarr"
    zarr3(group / "s0", vol, names=["c", "z", "y", "x"])
    zarr3(group / "s1", vol[:, :, ::2, ::2], names=["c", "z", "y", "x"])
    axes = [
        {"name": "c", "type": "channel"},
        {"name": "z", "type": "space", "unit": "micrometer"},
        {"name": "y", "type": "space", "unit": "micrometer"},
        {"name": "x", "type": "space", "unit": "micrometer"},
    ]
    ms = {
        "version": "0.5",
        "axes": axes,
        "datasets": [
            {
                "path": "s0",
                "coordinateTransformations": [{"type": "scale", "scale": [1, 2, 0.5, 0.5]}],
            },
            {"path": "s1", "coordinateTransformations": [{"type": "scale", "scale": [1, 2, 1, 1]}]},
        ],
    }
    (group / "zarr.json").write_text(
        json.dumps({"zarr_format": 3, "node_type": "group",
                    "attributes": {"ome": {"version": "0.5", "multiscales": [ms]}}})
    )  # fmt: skip
    with open_source(group) as src:
        assert src.axes == ("c", "z", "y", "x")
        assert src.voxel_size == {"z": 2.0, "y": 0.5, "x": 0.5}
        assert src.unit == "micrometer"
        assert_reads(src, vol)
    with open_source(group / "zarr.json") as src:  # the metadata file stands for its folder
        assert src.shape == vol.shape


def test_ome_zarr_04_group(tmp_path: Path) -> None:
    vol = random_volume((6, 9, 11), np.uint8)
    group = tmp_path / "img.zarr"
    zarr2(group / "0", vol)
    (group / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    ms = {
        "version": "0.4",
        "axes": [{"name": a, "type": "space", "unit": "nanometer"} for a in "zyx"],
        "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [25, 11.24, 11.24]}]}],
        "coordinateTransformations": [{"type": "scale", "scale": [2, 1, 1]}],
    }  # fmt: skip
    (group / ".zattrs").write_text(json.dumps({"multiscales": [ms]}))
    with open_source(group) as src:
        assert src.voxel_size == pytest.approx({"z": 50.0, "y": 11.24, "x": 11.24})
        assert src.unit == "nanometer"
        assert_reads(src, vol)


def test_group_without_multiscales_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "g.zarr").mkdir()
    (tmp_path / "g.zarr" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')
    with pytest.raises(InputError, match="no OME 'multiscales'"):
        open_source(tmp_path / "g.zarr")


def test_n5_array_and_group(tmp_path: Path) -> None:
    vol = random_volume(SHAPE, np.uint16)
    spec = {
        "driver": "n5",
        "kvstore": {"driver": "file", "path": str(tmp_path / "v.n5" / "s0")},
        "metadata": {"compression": {"type": "gzip"}, "blockSize": [8, 8, 4]},
    }
    write_ts(spec, vol.transpose(2, 1, 0))  # N5 dimensions are x,y,z (fastest first)
    with open_source(tmp_path / "v.n5" / "s0") as src:
        assert src.kind == "n5"
        assert_reads(src, vol)
    (tmp_path / "v.n5" / "attributes.json").write_text('{"n5": "2.0.0"}')
    with open_source(tmp_path / "v.n5") as src:
        assert_reads(src, vol)


def _precomputed(path: Path, vol: np.ndarray, channels: int, offset: list[int]) -> None:
    spec = {
        "driver": "neuroglancer_precomputed",
        "kvstore": {"driver": "file", "path": str(path)},
        "multiscale_metadata": {
            "data_type": vol.dtype.name,
            "num_channels": channels,
            "type": "image",
        },
        "scale_metadata": {
            "size": list(vol.shape[:3]),
            "voxel_offset": offset,
            "resolution": [8, 8, 40],
            "encoding": "raw",
            "chunk_size": [4, 4, 2],
        },
    }
    store = ts.open(spec, create=True, delete_existing=True).result()
    store[ts.d[:].translate_to[0]].write(vol).result()


def test_precomputed_single_channel(tmp_path: Path) -> None:
    xyz = random_volume((11, 9, 5, 1), np.uint8)  # x, y, z, channel as precomputed stores it
    _precomputed(tmp_path / "pc", xyz, 1, [100, 200, 3])
    with open_source(tmp_path / "pc") as src:
        assert src.kind == "precomputed"
        assert src.axes == ("z", "y", "x")
        assert src.voxel_size == {"z": 40.0, "y": 8.0, "x": 8.0}
        assert src.unit == "nanometer"
        assert_reads(src, np.ascontiguousarray(xyz[..., 0].transpose(2, 1, 0)))


def test_precomputed_multichannel(tmp_path: Path) -> None:
    xyz = random_volume((11, 9, 5, 3), np.float32)
    _precomputed(tmp_path / "pc", xyz, 3, [0, 0, 0])
    with open_source(tmp_path / "pc" / "info") as src:
        assert src.axes == ("c", "z", "y", "x")
        assert_reads(src, np.ascontiguousarray(xyz.transpose(3, 2, 1, 0)))


def test_file_url_and_unsupported_schemes(tmp_path: Path) -> None:
    vol = random_volume(SHAPE, np.uint8)
    zarr3(tmp_path / "a.zarr", vol)
    with open_source((tmp_path / "a.zarr").as_uri()) as src:
        assert_reads(src, vol)
    # Remote URLs are read through storage (tests/remote); other schemes are refused.
    with pytest.raises(InputError, match="ftp:// inputs are not supported"):
        open_source("ftp://host/a.zarr")
    with pytest.raises(NotFoundError):
        open_source(tmp_path / "nope.zarr", input_format="zarr")


def test_corrupt_chunk_names_the_array(tmp_path: Path) -> None:
    vol = random_volume((8, 8, 8), np.uint16)
    spec = {
        "driver": "zarr3",
        "kvstore": {"driver": "file", "path": str(tmp_path / "c.zarr")},
        "metadata": {"codecs": [{"name": "bytes"}, {"name": "zstd"}]},
    }
    write_ts(spec, vol, (4, 4, 4))
    (tmp_path / "c.zarr" / "c" / "0" / "0" / "0").write_bytes(b"garbage")
    with (
        open_source(tmp_path / "c.zarr") as src,
        pytest.raises(InputError, match=r"c\.zarr: reading z 0:8, y 0:8, x 0:8 failed"),
    ):
        src.read((slice(0, 8),) * 3)
