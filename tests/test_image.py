"""Image / Level: create, write, finish, open and read regions, on file and memory stores."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

import ngffkit
from ngffkit.errors import (
    ConflictError,
    InputError,
    MetadataError,
    NotFoundError,
    PartialDatasetError,
)
from ngffkit.spec import LevelSpec, make_axes, pyramid_spec, spatial_voxel_size
from ngffkit.writer import create_image, finish_image

SHAPE = (19, 41, 37)


def _data(shape: tuple[int, ...], dtype: str = "uint16") -> np.ndarray:
    return (np.arange(int(np.prod(shape))) % 60000).astype(dtype).reshape(shape)


def _write(
    url: str,
    version: str,
    shape: tuple[int, ...] = SHAPE,
    axes: str = "zyx",
    shards: int | None = 32,
    levels: int = 2,
) -> tuple[ngffkit.Image, np.ndarray]:
    spec = pyramid_spec(
        shape,
        "uint16",
        axes=axes,
        voxel_size=0.5,
        unit="micrometer",
        levels=levels,
        chunks=8,
        shards=shards if version == "0.5" else None,
        version=version,
        name="test",
    )
    image = create_image(url, spec)
    data = _data(shape)
    image.levels[0].write(data)
    return finish_image(url, spec), data


@pytest.fixture(params=["0.4", "0.5"])
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["file", "memory"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        return str(tmp_path / "img.ome.zarr")
    return f"memory://test-image/{request.node.name}"


def test_round_trip(url: str, version: str) -> None:
    _image, data = _write(url, version)
    opened = ngffkit.open(url)
    assert opened.version == version and opened.zarr_format == (3 if version == "0.5" else 2)
    assert opened.axis_names == ("z", "y", "x")
    assert opened.units == {"z": "micrometer", "y": "micrometer", "x": "micrometer"}
    assert opened.voxel_size == {"z": 0.5, "y": 0.5, "x": 0.5}
    assert [lv.shape for lv in opened.levels] == [SHAPE, (10, 21, 19)]
    assert opened.levels[1].scale == (1.0, 1.0, 1.0)
    assert opened.levels[1].translation == (0.25, 0.25, 0.25)  # block centre: (f-1)/2 voxels
    assert opened.levels[0].chunks == (8, 8, 8)
    if version == "0.5":
        assert opened.levels[0].shards == (24, 32, 32)
        assert opened.levels[1].shards == (16, 16, 16)
    else:
        assert opened.levels[0].shards is None
    assert opened.levels[0].compression == "zstd:5"
    np.testing.assert_array_equal(opened.read(), data)
    np.testing.assert_array_equal(opened.read(0, (3, 4, 5), (2, 3, 4)), data[3:5, 4:7, 5:9])


def test_numpy_style_indexing(url: str) -> None:
    _, data = _write(url, "0.5")
    level = ngffkit.open(url).levels[0]
    for key in [
        np.s_[10:20, :, 5],
        np.s_[-1],
        np.s_[..., 3],
        np.s_[2, 3, 4],
        np.s_[::2, 1:-1:3, :],
        np.s_[5:2],
        np.s_[:, -5:],
    ]:
        np.testing.assert_array_equal(level[key], data[key], err_msg=str(key))
    with pytest.raises(InputError, match="out of bounds for axis 'z'"):
        level[19]
    with pytest.raises(InputError, match="too many indices"):
        level[1, 2, 3, 4]
    with pytest.raises(InputError, match="positive slice steps"):
        level[::-1]


def test_out_of_bounds_reads_are_errors_or_padded(url: str) -> None:
    _, data = _write(url, "0.5")
    image = ngffkit.open(url)
    with pytest.raises(InputError, match=r"region 15:25 on axis 'z' is outside level 0 .*pad=True"):
        image.read(0, (15, 0, 0), (10, 2, 2))
    padded = image.read(0, (15, -2, 0), (10, 4, 2), pad=True)
    assert padded.shape == (10, 4, 2)
    np.testing.assert_array_equal(padded[:4, 2:], data[15:19, 0:2, 0:2])
    assert (padded[4:] == 0).all() and (padded[:, :2] == 0).all()
    fully_outside = image.read(0, (100, 100, 100), (2, 2, 2), pad=True)
    assert (fully_outside == 0).all()


def test_absolute_offsets_map_to_coarser_levels(url: str) -> None:
    image, _ = _write(url, "0.5", levels=3)
    level2 = image.levels[2].read()
    # level-0 box 4..12 is level-2 box 1..3
    np.testing.assert_array_equal(
        image.read(2, (4, 4, 4), (8, 8, 8), absolute=True), level2[1:3, 1:3, 1:3]
    )
    # a level-0 box not aligned to the factor widens to the covering box
    assert image.read(2, (5, 5, 5), (4, 4, 4), absolute=True).shape == (2, 2, 2)
    with pytest.raises(InputError, match="needs both offset and size"):
        image.read(1, (0, 0, 0), absolute=True)


@pytest.mark.parametrize("axes", ["yx", "czyx", "tczyx", "tyx"])
def test_two_to_five_dimensions(tmp_path: Path, version: str, axes: str) -> None:
    shape = {"t": 2, "c": 3, "z": 9, "y": 17, "x": 13}
    full = tuple(shape[a] for a in axes)
    url = str(tmp_path / f"{axes}.zarr")
    _image, data = _write(url, version, shape=full, axes=axes)
    opened = ngffkit.open(url)
    assert opened.axis_names == tuple(axes)
    np.testing.assert_array_equal(opened.read(), data)
    # only space axes shrink
    coarse = opened.levels[1].shape
    for name, before, after in zip(axes, full, coarse, strict=True):
        assert after == (before if name in "tc" else -(-before // 2))


def test_partial_dataset_is_reported_not_opened(tmp_path: Path) -> None:
    url = str(tmp_path / "partial.zarr")
    spec = pyramid_spec(SHAPE, "uint8", levels=2, chunks=8)
    create_image(url, spec)
    with pytest.raises(PartialDatasetError, match="resume=True"):
        ngffkit.open(url)
    info = ngffkit.describe(url)
    assert info["status"] == "partial" and len(info["levels"]) == 2
    report = ngffkit.validate(url)
    assert not report.valid and report.partial


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    url = str(tmp_path / "img.zarr")
    spec = pyramid_spec(SHAPE, "uint8", levels=1, chunks=8)
    create_image(url, spec)
    finish_image(url, spec)
    with pytest.raises(ConflictError, match="overwrite=True"):
        create_image(url, spec)
    sibling = tmp_path / "sibling.txt"
    sibling.write_text("untouched")
    create_image(url, spec, overwrite=True)
    assert sibling.read_text() == "untouched"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConflictError, match="is a file"):
        create_image(str(tmp_path / "afile"), spec, overwrite=True)


def test_read_only_and_write_checks(url: str) -> None:
    _write(url, "0.5")
    ro = ngffkit.open(url)
    with pytest.raises(InputError, match="read-only"):
        ro.levels[0].write(np.zeros((1, 1, 1), "uint16"))
    rw = ngffkit.open(url, mode="r+")
    with pytest.raises(InputError, match="would leave level 0"):
        rw.levels[0].write(np.zeros((2, 2, 2), "uint16"), offset=(18, 0, 0))
    with pytest.raises(InputError, match="data has 2 dimensions but level 0 has 3"):
        rw.levels[0].write(np.zeros((2, 2), "uint16"))
    rw.levels[0].write(np.full((2, 2, 2), 7, "uint16"), offset=(1, 1, 1))
    assert (ngffkit.open(url).read(0, (1, 1, 1), (2, 2, 2)) == 7).all()


def test_levels_pickle_and_reopen(tmp_path: Path) -> None:
    url = str(tmp_path / "p.zarr")
    image, data = _write(url, "0.5")
    level = pickle.loads(pickle.dumps(image.levels[0]))
    np.testing.assert_array_equal(level.read(), data)


def test_open_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        ngffkit.open(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(MetadataError, match="neither zarr.json nor .zattrs"):
        ngffkit.open(tmp_path / "plain")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "zarr.json").write_text("{oops")
    with pytest.raises(MetadataError, match=r"zarr\.json is not valid JSON"):
        ngffkit.open(tmp_path / "bad")
    url = str(tmp_path / "img.zarr")
    _write(url, "0.5")
    with pytest.raises(MetadataError, match="is a Zarr array, not an OME-Zarr image group"):
        ngffkit.open(Path(url) / "0")
    (Path(url) / "1" / "zarr.json").unlink()
    with pytest.raises(MetadataError, match="level 1 .* should be an array at '1'"):
        ngffkit.open(url)


def test_lenient_open_warns(tmp_path: Path) -> None:
    url = tmp_path / "v04.zarr"
    _image, _ = _write(str(url), "0.4")
    attrs = (url / ".zattrs").read_text().replace('"version": "0.4"', '"version2": "x"')
    attrs = attrs.replace('"micrometer"', '"um"')
    (url / ".zattrs").write_text(attrs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opened = ngffkit.open(url)
    messages = [str(w.message) for w in caught if issubclass(w.category, ngffkit.NgffWarning)]
    assert any("assuming 0.4" in m for m in messages)
    assert any("'um' is not a UDUNITS name" in m for m in messages)
    assert opened.units["x"] == "micrometer"
    assert len(opened.notes) == len(messages)


def test_level_spec_and_voxel_size_validation() -> None:
    with pytest.raises(ValueError, match="whole multiple of the chunk shape"):
        LevelSpec(path="0", shape=(10, 10), chunks=(4, 4), shards=(6, 8), scale=(1, 1))
    axes = make_axes("zyx")
    assert spatial_voxel_size({"x": 11.24, "y": 11.24, "z": 25}, axes) == (25.0, 11.24, 11.24)
    assert spatial_voxel_size([25, 11.24, 11.24], axes) == (25.0, 11.24, 11.24)
    assert spatial_voxel_size(2, make_axes("czyx")) == (1.0, 2.0, 2.0, 2.0)
    with pytest.raises(InputError, match="3 space axes"):
        spatial_voxel_size([1, 2], axes)
    with pytest.raises(InputError, match="positive"):
        spatial_voxel_size(0, axes)
    with pytest.raises(InputError, match="not space axes"):
        spatial_voxel_size({"c": 1}, make_axes("czyx"))
    with pytest.raises(InputError, match="UDUNITS"):
        make_axes("zyx", unit="furlong")
    with pytest.raises(ValueError, match="no sharding"):
        pyramid_spec((64, 64), "uint8", axes="yx", chunks=16, shards=32, version="0.4")
