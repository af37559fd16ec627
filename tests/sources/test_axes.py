"""Every input kind's axis order (issue 12, defect 3): no input comes out transposed.

The volume's three extents all differ and every voxel's value encodes its coordinates
(``z*10000 + y*100 + x``), so any swap of axes changes shape or values. Each input is
written by its real third-party writer, in that writer's own convention.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore as ts
import tifffile

from ngffkit.sources import open_source

NZ, NY, NX = 5, 7, 9


def coords() -> np.ndarray:
    z, y, x = np.meshgrid(np.arange(NZ), np.arange(NY), np.arange(NX), indexing="ij")
    return (z * 10000 + y * 100 + x).astype(np.uint32)


VOL = coords()


def read_all(path: Path, **kwargs: Any) -> tuple[np.ndarray, Any]:
    with open_source(path, **kwargs) as src:
        return src.read(tuple(slice(0, n) for n in src.shape)), src


def write_ts(driver: str, path: Path, data: np.ndarray, metadata: dict[str, Any]) -> None:
    store = ts.open(
        {"driver": driver, "kvstore": {"driver": "file", "path": str(path)}, "metadata": metadata},
        create=True,
        dtype=ts.uint32,
        shape=data.shape,
        chunk_layout=ts.ChunkLayout(chunk_shape=[4] * data.ndim),
    ).result()
    store.write(data).result()


def test_n5_without_axes_is_fastest_first(tmp_path: Path) -> None:
    """N5 lists dimensions x,y,z; tensorstore's N5 index order is N5's dimension order."""
    write_ts("n5", tmp_path / "v.n5", VOL.transpose(2, 1, 0), {"compression": {"type": "raw"}})
    dims = json.loads((tmp_path / "v.n5/attributes.json").read_text())["dimensions"]
    assert dims == [NX, NY, NZ]
    data, src = read_all(tmp_path / "v.n5")
    assert src.axes == ("z", "y", "x") and src.shape == (NZ, NY, NX)
    np.testing.assert_array_equal(data, VOL)
    assert "n5 dimensions x,y,z" in src.input_axes and "fastest first" in src.input_axes


@pytest.mark.parametrize("axes", [["x", "y", "z"], ["z", "y", "x"], ["y", "z", "x"]])
def test_n5_axes_attribute_is_followed(tmp_path: Path, axes: list[str]) -> None:
    order = ["zyx".index(a) for a in axes]
    write_ts(
        "n5",
        tmp_path / "v.n5",
        VOL.transpose(order),
        {"compression": {"type": "gzip"}, "axes": axes},
    )
    data, src = read_all(tmp_path / "v.n5")
    np.testing.assert_array_equal(data, VOL)
    assert f"n5 dimensions {','.join(axes)}" in src.input_axes


def test_n5_pixel_resolution_gives_the_voxel_size(tmp_path: Path) -> None:
    write_ts("n5", tmp_path / "v.n5", VOL.transpose(2, 1, 0), {"compression": {"type": "raw"}})
    meta = json.loads((tmp_path / "v.n5/attributes.json").read_text())
    meta["pixelResolution"] = {"dimensions": [4.0, 5.0, 40.0], "unit": "nm"}
    (tmp_path / "v.n5/attributes.json").write_text(json.dumps(meta))
    _, src = read_all(tmp_path / "v.n5")
    assert src.voxel_size == {"x": 4.0, "y": 5.0, "z": 40.0} and src.unit == "nanometer"


@pytest.mark.parametrize("names", [["x", "y", "z"], ["z", "y", "x"], ["y", "x", "z"]])
@pytest.mark.parametrize("driver", ["zarr3", "zarr"])
def test_zarr_dimension_names_are_followed(tmp_path: Path, names: list[str], driver: str) -> None:
    order = ["zyx".index(a) for a in names]
    meta: dict[str, Any] = {"dimension_names": names} if driver == "zarr3" else {}
    write_ts(driver, tmp_path / "a.zarr", VOL.transpose(order), meta)
    if driver == "zarr":  # xarray's convention for Zarr v2
        (tmp_path / "a.zarr/.zattrs").write_text(json.dumps({"_ARRAY_DIMENSIONS": names}))
    data, _ = read_all(tmp_path / "a.zarr")
    np.testing.assert_array_equal(data, VOL)


def test_webknossos_cxyz(tmp_path: Path) -> None:
    """WEBKNOSSOS writes Zarr v3 arrays with dimension_names c,x,y,z."""
    cxyz = np.stack([VOL.transpose(2, 1, 0), VOL.transpose(2, 1, 0) + 1])
    write_ts("zarr3", tmp_path / "wk", cxyz, {"dimension_names": ["c", "x", "y", "z"]})
    data, src = read_all(tmp_path / "wk")
    assert src.axes == ("c", "z", "y", "x") and src.shape == (2, NZ, NY, NX)
    np.testing.assert_array_equal(data[0], VOL)
    np.testing.assert_array_equal(data[1], VOL + 1)


def test_raw_c_and_f_order(tmp_path: Path) -> None:
    VOL.tofile(tmp_path / "c.raw")  # numpy writes C order: x fastest
    VOL.transpose(2, 1, 0).tofile(tmp_path / "f.raw")  # an x,y,z array: z fastest
    for name, order in (("c.raw", "C"), ("f.raw", "F")):
        data, src = read_all(
            tmp_path / name, raw_shape=(NX, NY, NZ), raw_dtype="uint32", raw_order=order
        )
        np.testing.assert_array_equal(data, VOL, err_msg=order)
        assert "fastest" in src.input_axes


@pytest.mark.parametrize("kind", ["plain", "imagej", "ome"])
def test_multipage_tiff(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.tif"
    if kind == "plain":
        tifffile.imwrite(path, VOL)
    elif kind == "imagej":
        tifffile.imwrite(path, VOL.astype(np.float32), imagej=True, metadata={"axes": "ZYX"})
    else:
        tifffile.imwrite(path, VOL, ome=True, metadata={"axes": "ZYX"})
    data, src = read_all(path)
    assert src.shape == (NZ, NY, NX)
    np.testing.assert_array_equal(data, VOL)
    assert src.input_axes.startswith("TIFF series axes")


def test_ome_tiff_channels_and_z(tmp_path: Path) -> None:
    czyx = np.stack([VOL, VOL + 1])
    path = tmp_path / "c.ome.tif"
    tifffile.imwrite(path, czyx.transpose(1, 0, 2, 3), ome=True, metadata={"axes": "ZCYX"})
    data, src = read_all(path)
    assert src.axes == ("c", "z", "y", "x")
    np.testing.assert_array_equal(data, czyx)


def test_slice_folder_and_grid(tmp_path: Path) -> None:
    folder = tmp_path / "stack"
    folder.mkdir()
    for z, plane in enumerate(VOL):
        tifffile.imwrite(folder / f"{7000 + z:05d}.tif", plane)
    data, src = read_all(folder)
    np.testing.assert_array_equal(data, VOL)
    assert "07000.tif is z=0" in src.input_axes
    grid = tmp_path / "grid"
    grid.mkdir()
    for zi in range(2):
        for yi in range(2):
            for xi in range(2):
                cell = VOL[zi * 3 : (zi + 1) * 3, yi * 4 : (yi + 1) * 4, xi * 5 : (xi + 1) * 5]
                tifffile.imwrite(
                    grid / f"cell_yxz_{yi + 1:03d}_{xi + 1:03d}_{zi + 1:03d}.tif",
                    cell,
                    photometric="minisblack",
                )
    data, src = read_all(grid)
    np.testing.assert_array_equal(data, VOL)


def test_plain_tiff_resolution_tags_give_x_and_y(tmp_path: Path) -> None:
    path = tmp_path / "r.tif"
    # 20000 pixels per centimetre: 0.5 micrometre pixels
    tifffile.imwrite(path, VOL, resolution=(20000, 20000), resolutionunit="CENTIMETER")
    _, src = read_all(path)
    assert src.voxel_size == {"x": 0.5, "y": 0.5} and src.unit == "micrometer"
    tifffile.imwrite(tmp_path / "dpi.tif", VOL, resolution=(72, 72), resolutionunit="INCH")
    _, src = read_all(tmp_path / "dpi.tif")
    assert src.voxel_size is None


def test_precomputed_is_xyz_channel(tmp_path: Path) -> None:
    """Neuroglancer precomputed: tensorstore's dimensions are x,y,z,channel."""
    store = ts.open(
        {
            "driver": "neuroglancer_precomputed",
            "kvstore": {"driver": "file", "path": str(tmp_path / "pc")},
            "multiscale_metadata": {"type": "image", "data_type": "uint32", "num_channels": 1},
            "scale_metadata": {
                "size": [NX, NY, NZ],
                "resolution": [4, 5, 40],
                "encoding": "raw",
                "chunk_size": [4, 4, 4],
            },
        },
        create=True,
    ).result()
    store[..., 0].write(VOL.transpose(2, 1, 0)).result()
    data, src = read_all(tmp_path / "pc")
    assert src.shape == (NZ, NY, NX)
    np.testing.assert_array_equal(data, VOL)
    assert src.voxel_size == {"x": 4.0, "y": 5.0, "z": 40.0}
