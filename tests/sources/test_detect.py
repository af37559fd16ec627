"""Detection, open_source options, specs, and the shared helpers of base.py."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import tifffile
from source_helpers import random_volume, write_tiff_stack

from ngffkit.errors import InputError, NotFoundError
from ngffkit.metadata.units import udunits_length
from ngffkit.sources import SOURCE_KINDS, SourceSpec, detect_kind, open_source
from ngffkit.sources.base import one_unit


def test_detection_rules(tmp_path: Path) -> None:
    vol = random_volume((2, 4, 5), np.uint8)
    write_tiff_stack(tmp_path / "tifs", vol)
    tifffile.imwrite(tmp_path / "one.TIFF", vol)
    (tmp_path / "v.raw").write_bytes(vol.tobytes())
    (tmp_path / "grid").mkdir()
    tifffile.imwrite(tmp_path / "grid" / "cell_yxz_001_001_001.tif", vol)
    for name, marker in [
        ("z3", "zarr.json"),
        ("z2", ".zarray"),
        ("n5", "attributes.json"),
        ("pc", "info"),
    ]:
        (tmp_path / name).mkdir()
        (tmp_path / name / marker).write_text("{}")
    assert detect_kind(tmp_path / "tifs")[0] == "tiff-folder"
    assert detect_kind(tmp_path / "one.TIFF")[0] == "tiff"
    assert detect_kind(tmp_path / "v.raw")[0] == "raw"
    assert detect_kind(tmp_path / "grid")[0] == "volume-grids"
    assert detect_kind(tmp_path / "z3")[0] == "zarr"
    assert detect_kind(tmp_path / "z2")[0] == "zarr"
    assert detect_kind(tmp_path / "n5")[0] == "n5"
    assert detect_kind(tmp_path / "pc")[0] == "precomputed"
    assert detect_kind(tmp_path / "z3" / "zarr.json") == ("zarr", tmp_path / "z3")


def test_unknown_inputs(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file or folder"):
        open_source(tmp_path / "missing")
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(InputError, match="put the slices in a folder"):
        open_source(tmp_path / "a.png")
    (tmp_path / "a.xyz").write_bytes(b"x")
    with pytest.raises(InputError, match="pass input_format"):
        open_source(tmp_path / "a.xyz")
    with pytest.raises(InputError, match="input_format 'hdf4' is not known"):
        open_source(tmp_path / "a.xyz", input_format="hdf4")
    with pytest.raises(InputError, match=r"a\.xyz: not an HDF5 file"):
        open_source(tmp_path / "a.xyz", input_format="hdf5")
    with pytest.raises(InputError, match="raw file has no header"):
        open_source(tmp_path / "a.xyz", input_format="raw")


def test_raw_shape_implies_raw(tmp_path: Path) -> None:
    vol = random_volume((2, 3, 4), np.uint8)
    (tmp_path / "vol.data").write_bytes(vol.tobytes())
    with open_source(tmp_path / "vol.data", raw_shape=(4, 3, 2), raw_dtype="uint8") as src:
        assert src.kind == "raw"
        np.testing.assert_array_equal(src.read((slice(0, 2), slice(0, 3), slice(0, 4))), vol)


def test_tiff_format_on_a_folder_is_explained(tmp_path: Path) -> None:
    write_tiff_stack(tmp_path / "s", random_volume((2, 4, 5), np.uint8))
    with pytest.raises(InputError, match="use 'tiff-folder'"):
        open_source(tmp_path / "s", input_format="tiff")


def test_reopening_a_changed_input_is_an_error(tmp_path: Path) -> None:
    paths = write_tiff_stack(tmp_path / "s", random_volume((3, 4, 5), np.uint8))
    with open_source(tmp_path / "s") as src:
        spec = pickle.loads(pickle.dumps(src.spec()))
    tifffile.imwrite(paths[0], np.zeros((4, 5), np.uint16))
    paths[2].unlink()
    with pytest.raises(
        InputError, match=r"changed since it was opened: expected shape \(3, 4, 5\)"
    ):
        open_source(spec)


def test_spec_with_gaps_reopens_with_gaps(tmp_path: Path) -> None:
    paths = write_tiff_stack(tmp_path / "s", random_volume((4, 4, 5), np.uint8))
    paths[1].unlink()
    with open_source(tmp_path / "s", allow_gaps=True) as src:
        spec = src.spec()
    assert spec.allow_gaps
    with open_source(pickle.loads(pickle.dumps(spec))) as again:
        assert again.shape == (4, 4, 5)


def test_spec_is_frozen() -> None:
    spec = SourceSpec(kind="tiff", path="/x.tif")
    with pytest.raises(AttributeError):
        spec.path = "/y.tif"  # type: ignore[misc]
    assert "raw" in SOURCE_KINDS


@pytest.mark.parametrize(
    ("raw", "udunits"),
    [("µm", "micrometer"), ("μm", "micrometer"), ("um", "micrometer"), ("micron", "micrometer"),
     ("nm", "nanometer"), ("Å", "angstrom"), ("mm", "millimeter"), ("Micrometer", "micrometer"),
     ("pixel", None), ("", None), (None, None)],
)  # fmt: skip
def test_udunits_length(raw, udunits) -> None:
    assert udunits_length(raw) == udunits


def test_one_unit() -> None:
    assert one_unit({}) == (None, None)
    assert one_unit({"x": (1.0, "nm"), "z": (2.0, "nanometer")}) == (
        {"x": 1.0, "z": 2.0},
        "nanometer",
    )
    sizes, unit = one_unit({"x": (500.0, "nm"), "z": (1.0, "µm")})
    assert unit == "nanometer" and sizes == pytest.approx({"x": 500.0, "z": 1000.0})
    assert one_unit({"x": (1.0, "nm"), "z": (1.0, "parsec-ish")}) == (None, None)
