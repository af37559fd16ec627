"""HDF5 datasets: real h5py files with every layout and filter users have, read box by box."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
import pytest
from source_helpers import SHAPE, assert_reads, random_volume

from ngffkit.errors import InputError, NotFoundError
from ngffkit.sources import open_source
from ngffkit.sources.hdf5 import Hdf5Source, split_dataset

# h5py keyword arguments of each storage layout; chunks never line up with the test boxes.
LAYOUTS: dict[str, dict[str, Any]] = {
    "contiguous": {},
    "chunked": {"chunks": (2, 16, 16)},
    "gzip": {"chunks": (2, 16, 16), "compression": "gzip", "compression_opts": 4},
    "gzip-shuffle": {"chunks": (3, 8, 32), "compression": "gzip", "shuffle": True},
    "lzf": {"chunks": (2, 16, 16), "compression": "lzf"},
    "blosc-zstd": {"chunks": (2, 16, 16), **hdf5plugin.Blosc(cname="zstd", clevel=5)},
    "blosc-lz4": {"chunks": (2, 16, 16), **hdf5plugin.Blosc(cname="lz4")},
    "zstd": {"chunks": (2, 16, 16), **hdf5plugin.Zstd()},
    "lz4": {"chunks": (2, 16, 16), **hdf5plugin.LZ4()},
    "bitshuffle": {"chunks": (2, 16, 16), **hdf5plugin.Bitshuffle()},
}


def write_h5(path: Path, datasets: dict[str, np.ndarray], **layout: Any) -> Path:
    with h5py.File(path, "w") as f:
        for name, data in datasets.items():
            f.create_dataset(name, data=data, **layout)
    return path


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_reads_every_box(tmp_path: Path, layout: str) -> None:
    vol = random_volume(SHAPE, np.uint16)
    path = write_h5(tmp_path / "v.h5", {"volumes/raw": vol}, **LAYOUTS[layout])
    with open_source(f"{path}:/volumes/raw") as src:
        assert isinstance(src, Hdf5Source)
        assert src.axes == ("z", "y", "x") and src.dataset == "/volumes/raw"
        assert src.cost.bytes_per_slice == SHAPE[1] * SHAPE[2] * 2
        assert_reads(src, vol)


@pytest.mark.parametrize("dtype", ["uint8", "int16", ">u2", "float32", "<f8"])
def test_dtypes_read_in_native_order(tmp_path: Path, dtype: str) -> None:
    vol = random_volume(SHAPE, np.dtype(dtype).newbyteorder("="))
    with h5py.File(tmp_path / "v.h5", "w") as f:
        f.create_dataset("data", data=vol.astype(dtype), chunks=(1, 16, 16), compression="gzip")
    with open_source(tmp_path / "v.h5") as src:
        assert src.dtype == np.dtype(dtype).newbyteorder("=")
        assert_reads(src, vol)


def test_a_4d_dataset_has_a_channel_axis(tmp_path: Path) -> None:
    vol = random_volume((3, *SHAPE), np.uint8)
    path = write_h5(
        tmp_path / "c.h5", {"stack": vol}, chunks=(1, 2, 16, 16), **hdf5plugin.Blosc(cname="zstd")
    )
    with open_source(path) as src:
        assert src.axes == ("c", "z", "y", "x")
        assert src.cost.bytes_per_slice == 3 * SHAPE[1] * SHAPE[2]
        assert_reads(src, vol)


def test_voxel_size_attributes_in_zyx_order(tmp_path: Path) -> None:
    vol = random_volume(SHAPE, np.uint8)
    with h5py.File(tmp_path / "cremi.hdf", "w") as f:
        f.create_dataset("volumes/raw", data=vol).attrs["resolution"] = [40.0, 4.0, 4.0]
        f.create_dataset("volumes/labels/ids", data=vol.astype(np.uint64)[:, :2])
    with open_source(f"{tmp_path / 'cremi.hdf'}:volumes/raw") as src:  # CREMI: z,y,x nm
        assert src.voxel_size == {"z": 40.0, "y": 4.0, "x": 4.0} and src.unit == "nanometer"
    with h5py.File(tmp_path / "ilastik.h5", "w") as f:
        d = f.create_dataset("exported_data", data=vol[None])
        d.attrs["element_size_um"] = [1.0, 2.0, 0.5, 0.25]  # c,z,y,x: one per axis
    with open_source(tmp_path / "ilastik.h5") as src:
        assert src.voxel_size == {"z": 2.0, "y": 0.5, "x": 0.25} and src.unit == "micrometer"
    write_h5(tmp_path / "plain.h5", {"v": vol})
    with open_source(tmp_path / "plain.h5") as src:
        assert src.voxel_size is None and src.unit is None


def test_detection_by_suffix_signature_and_input_format(tmp_path: Path) -> None:
    vol = random_volume(SHAPE, np.uint16)
    odd = write_h5(tmp_path / "volume.data", {"v": vol})  # no HDF5 suffix: the signature says
    with open_source(odd) as src:
        assert src.kind == "hdf5"
    with open_source(f"{odd}:/v", input_format="hdf5") as src:
        assert_reads(src, vol)
    assert split_dataset(f"{tmp_path}/a.h5:/x/y") == (f"{tmp_path}/a.h5", "/x/y")
    assert split_dataset(f"{tmp_path}/a.h5") == (f"{tmp_path}/a.h5", None)
    assert split_dataset(f"{tmp_path}/stack") == (f"{tmp_path}/stack", None)


def test_several_volumes_are_listed(tmp_path: Path) -> None:
    vol = random_volume(SHAPE, np.uint8)
    path = write_h5(
        tmp_path / "two.h5", {"volumes/raw": vol, "volumes/labels": vol, "mask2d": vol[0]}
    )
    with pytest.raises(
        InputError,
        match=r"two\.h5 holds 2 datasets of 3 or more dimensions: "
        r"/volumes/labels \(5x37x53 uint8\), /volumes/raw .*FILE:/PATH, e\.g\. "
        r"ngff convert two\.h5:/volumes/labels OUTPUT",
    ):
        open_source(path)


def test_a_missing_dataset_names_the_candidates(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "v.h5", {"volumes/raw": random_volume(SHAPE, np.uint8)})
    with pytest.raises(
        NotFoundError,
        match=r"v\.h5: no dataset '/volumes/rwa'\. Datasets of 3 "
        r"or more dimensions here: /volumes/raw \(5x37x53 uint8\)",
    ):
        open_source(f"{path}:/volumes/rwa")
    with pytest.raises(
        InputError,
        match=r"'/volumes' is a group, not a dataset\. Name one of "
        "its datasets: /volumes/raw",
    ):
        open_source(f"{path}:/volumes")


def test_a_2d_dataset_is_refused(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "v.h5", {"img": random_volume(SHAPE[1:], np.uint8)})
    with pytest.raises(
        InputError,
        match=r"v\.h5:/img has 2 dimensions \(37x53\); a volume "
        r"needs 3 \(z,y,x\)",
    ):
        open_source(f"{path}:/img")
    with pytest.raises(
        InputError,
        match=r"v\.h5: no dataset of 3 or more dimensions to "
        r"convert\. It holds: /img \(37x53 uint8\)",
    ):
        open_source(path)


def test_not_an_hdf5_file(tmp_path: Path) -> None:
    fake = tmp_path / "fake.h5"
    fake.write_bytes(b"this is a text file, not HDF5\n" * 10)
    with pytest.raises(InputError, match=r"fake\.h5: not an HDF5 file \(no HDF5 signature\)"):
        open_source(fake)
    with pytest.raises(NotFoundError, match=r"missing\.h5: no such file"):
        open_source(f"{tmp_path / 'missing.h5'}:/volumes/raw")
    stack = tmp_path / "v.raw"
    stack.write_bytes(b"\0" * 8)
    with pytest.raises(InputError, match="dataset path after ':' is for HDF5 files"):
        open_source(f"{stack}:/x", input_format="raw")


def test_a_strings_dataset_is_refused(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f.create_dataset("names", data=np.array([[["a"]]], dtype="S3"))
    with pytest.raises(InputError, match=r"s\.h5:/names holds \|S3 values, not numbers"):
        open_source(f"{tmp_path / 's.h5'}:/names")


@pytest.mark.parametrize("shuffle", [False, True])
def test_gzip_chunks_never_written_or_stored_raw(tmp_path: Path, shuffle: bool) -> None:
    """gzip chunks are inflated outside HDF5: unwritten chunks read as the fill value, and a
    chunk stored with its filter skipped (filter mask) reads as HDF5 itself reads it."""
    vol = random_volume((6, 20, 20), np.uint16)
    expected = np.full(vol.shape, 7, np.uint16)
    with h5py.File(tmp_path / "sparse.h5", "w") as f:
        d = f.create_dataset(
            "v",
            shape=vol.shape,
            dtype="uint16",
            chunks=(3, 8, 8),
            compression="gzip",
            shuffle=shuffle,
            fillvalue=7,
        )
        d[0:3, 0:16, 8:20] = vol[0:3, 0:16, 8:20]
        expected[0:3, 0:16, 8:20] = vol[0:3, 0:16, 8:20]
        # A chunk stored as is: every filter skipped (mask bits set), as a writer may do.
        d.id.write_direct_chunk(
            (3, 8, 0), np.ascontiguousarray(vol[3:6, 8:16, 0:8]).tobytes(), filter_mask=0b11
        )
        expected[3:6, 8:16, 0:8] = vol[3:6, 8:16, 0:8]
    with h5py.File(tmp_path / "sparse.h5", "r") as f:
        np.testing.assert_array_equal(f["v"][...], expected)  # what HDF5 itself reads
    with open_source(tmp_path / "sparse.h5") as src:
        assert src._shuffled is shuffle  # the raw-chunk path is the one under test
        assert_reads(src, expected)
