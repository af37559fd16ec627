"""The contract every ``Source`` reader keeps (``sources/base.py``), as zarr-python's store
tests do: one class of tests, run against every kind of input holding the same volume.

Each kind is written by the tool its users write it with (tifffile, Pillow, h5py,
tensorstore, numpy) and opened the way ``convert`` opens it (``open_source``). The remote
kind reads a TIFF folder over a real HTTP server on 127.0.0.1. What is particular to one
reader (compressions, channels, orders, metadata, broken files) stays in its own file.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import tensorstore as ts
import tifffile
from PIL import Image
from source_helpers import random_volume, windows, write_grid, write_tiff_stack

from ngffkit.errors import InputError
from ngffkit.sources import SOURCE_KINDS, Source, open_source
from ngffkit.sources.base import ReadCost, SourceBase

# z, y, x: odd sizes, so strips, chunks and grid cells (8) never line up with the boxes
SHAPE = (10, 21, 27)
VOLUME = random_volume(SHAPE, np.uint16, seed=11)


@dataclass
class Input:
    """Where a kind's copy of VOLUME is, and how ``open_source`` is told about it."""

    target: str | Path
    options: dict[str, Any] = field(default_factory=dict)
    kind: str = ""


def _tensorstore(spec: dict[str, Any], data: np.ndarray, chunks: tuple[int, ...]) -> None:
    store = ts.open(
        spec,
        create=True,
        dtype=ts.dtype(data.dtype.name),
        shape=data.shape,
        chunk_layout=ts.ChunkLayout(chunk_shape=chunks),
    ).result()
    store.write(data).result()


def tiff_folder(root: Path) -> Input:
    write_tiff_stack(root / "slices", VOLUME)
    return Input(root / "slices", kind="tiff-folder")


def multipage_tiff(root: Path) -> Input:
    tifffile.imwrite(root / "stack.tif", VOLUME, photometric="minisblack", rowsperstrip=4)
    return Input(root / "stack.tif", kind="tiff")


def ome_tiff(root: Path) -> Input:
    tifffile.imwrite(root / "stack.ome.tif", VOLUME, ome=True, metadata={"axes": "ZYX"})
    return Input(root / "stack.ome.tif", kind="tiff")


def image_folder(root: Path) -> Input:
    (root / "png").mkdir()
    for z, plane in enumerate(VOLUME):
        Image.fromarray(plane).save(root / "png" / f"img-{z}.png")
    return Input(root / "png", kind="image-folder")


def raw(root: Path) -> Input:
    VOLUME.tofile(root / "volume.raw")
    z, y, x = SHAPE
    return Input(root / "volume.raw", {"raw_shape": (x, y, z), "raw_dtype": "uint16"}, kind="raw")


def zarr_v2(root: Path) -> Input:
    spec = {"driver": "zarr", "kvstore": {"driver": "file", "path": str(root / "v2.zarr")}}
    _tensorstore(spec, VOLUME, (4, 8, 8))
    return Input(root / "v2.zarr", kind="zarr")


def zarr_v3(root: Path) -> Input:
    spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(root / "v3.zarr")}}
    _tensorstore(spec, VOLUME, (4, 8, 8))
    return Input(root / "v3.zarr", kind="zarr")


def n5(root: Path) -> Input:
    spec = {
        "driver": "n5",
        "kvstore": {"driver": "file", "path": str(root / "v.n5")},
        "metadata": {"compression": {"type": "gzip"}},
    }
    _tensorstore(spec, VOLUME.transpose(2, 1, 0), (8, 8, 4))  # N5: x,y,z, fastest first
    return Input(root / "v.n5", kind="n5")


def precomputed(root: Path) -> Input:
    xyzc = VOLUME.transpose(2, 1, 0)[..., None]
    spec = {
        "driver": "neuroglancer_precomputed",
        "kvstore": {"driver": "file", "path": str(root / "pc")},
        "multiscale_metadata": {"data_type": "uint16", "num_channels": 1, "type": "image"},
        "scale_metadata": {
            "size": list(xyzc.shape[:3]),
            "resolution": [8, 8, 40],
            "encoding": "raw",
            "chunk_size": [8, 8, 4],
        },
    }
    ts.open(spec, create=True).result().write(xyzc).result()
    return Input(root / "pc", kind="precomputed")


def hdf5(root: Path) -> Input:
    with h5py.File(root / "volume.h5", "w") as f:
        f.create_dataset("/volumes/raw", data=VOLUME, chunks=(3, 8, 8), compression="gzip")
    return Input(f"{root / 'volume.h5'}:/volumes/raw", kind="hdf5")


def volume_grids(root: Path) -> Input:
    write_grid(root / "grid", VOLUME)
    return Input(root / "grid", kind="volume-grids")


def remote_slices(root: Path, serve: Callable[[Path], str]) -> Input:
    write_tiff_stack(root / "remote", VOLUME)
    return Input(serve(root / "remote") + "remote/", kind="tiff-folder")


WRITERS: dict[str, Callable[..., Input]] = {
    "tiff-folder": tiff_folder,
    "multipage-tiff": multipage_tiff,
    "ome-tiff": ome_tiff,
    "image-folder": image_folder,
    "raw": raw,
    "zarr-v2": zarr_v2,
    "zarr-v3": zarr_v3,
    "n5": n5,
    "precomputed": precomputed,
    "hdf5": hdf5,
    "volume-grids": volume_grids,
    "remote-slices": remote_slices,
}


@pytest.fixture(scope="module")
def http_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A folder served by a static HTTP server (with listings) on 127.0.0.1."""
    from remote.servers import StaticServer

    root = tmp_path_factory.mktemp("served")
    server = StaticServer(root)
    yield root, server.url()
    server.stop()


@pytest.fixture(scope="module", params=list(WRITERS))
def written(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Input:
    name = request.param
    if name == "remote-slices":
        root, url = request.getfixturevalue("http_root")
        return remote_slices(root, lambda _folder: url)
    return WRITERS[name](tmp_path_factory.mktemp(name))


class TestSourceContract:
    """What ``convert``, the planner and the workers rely on, for every reader."""

    @pytest.fixture
    def src(self, written: Input) -> Iterator[SourceBase]:
        with open_source(written.target, **written.options) as src:
            yield src

    def test_shape_dtype_axes_and_kind(self, src: SourceBase, written: Input) -> None:
        assert isinstance(src, Source)
        assert src.shape == SHAPE and src.dtype == VOLUME.dtype
        assert src.axes == ("z", "y", "x")
        assert src.kind == written.kind and src.kind in SOURCE_KINDS
        assert isinstance(src.cost, ReadCost) and src.cost.bytes_per_slice == 21 * 27 * 2
        assert repr(src).startswith(f"{type(src).__name__}(shape={SHAPE}, dtype=uint16")

    def test_regions_read_the_truth(self, src: SourceBase) -> None:
        src.check_all()
        boxes = [*windows(SHAPE), (slice(6, 10), slice(7, 9), slice(3, 17))]
        for box in boxes:
            got = src.read(box)
            assert got.flags.c_contiguous and got.dtype == VOLUME.dtype, box
            np.testing.assert_array_equal(got, VOLUME[box], err_msg=str(box))
        # open bounds read to the edges
        np.testing.assert_array_equal(
            src.read((slice(None, 2), slice(19, None), slice(None))), VOLUME[:2, 19:]
        )

    def test_read_into_refuses_a_buffer_of_another_shape_or_dtype(self, src: SourceBase) -> None:
        box = (slice(1, 3), slice(2, 5), slice(4, 6))
        for out in (np.zeros((2, 3, 2), np.uint8), np.zeros((2, 3, 3), VOLUME.dtype)):
            with pytest.raises(ValueError, match=r"C-contiguous uint16 array of shape \(2, 3, 2\)"):
                src.read_into(box, out)
        transposed = np.zeros((2, 3, 2), VOLUME.dtype, order="F")
        with pytest.raises(ValueError, match="C-contiguous"):
            src.read_into(box, transposed)

    @pytest.mark.parametrize("axis", [0, 1, 2])
    def test_empty_regions(self, src: SourceBase, axis: int) -> None:
        box = [slice(1, 3), slice(2, 5), slice(4, 6)]
        box[axis] = slice(2, 2)
        got = src.read(tuple(box))
        assert got.size == 0 and got.dtype == VOLUME.dtype
        assert got.shape == tuple(s.stop - s.start for s in box)

    @pytest.mark.parametrize(
        ("box", "message"),
        [
            ((slice(0, SHAPE[0] + 1), slice(0, 2), slice(0, 2)), r"Axis z: slice 0:11 is outside"),
            ((slice(0, 2), slice(-1, 2), slice(0, 2)), r"Axis y: slice -1:2 is outside"),
            ((slice(0, 2), slice(0, 2), slice(27, 28)), r"Axis x: slice 27:28 is outside"),
            ((slice(0, 2), slice(0, 2), slice(5, 4)), r"Axis x: slice 5:4 is outside"),
            ((slice(0, 1),), "one slice per axis"),
            ((slice(0, 4, 2), slice(0, 2), slice(0, 2)), "step 1"),
            ((0, slice(0, 2), slice(0, 2)), "step 1"),
        ],
    )
    def test_out_of_bounds_regions_are_refused(
        self, src: SourceBase, box: Any, message: str
    ) -> None:
        with pytest.raises(InputError, match=message):
            src.read(box)

    def test_the_spec_pickles_and_reopens(self, src: SourceBase) -> None:
        spec = src.spec()
        assert spec.kind == src.kind and pickle.loads(pickle.dumps(spec)) == spec
        assert spec.kind in repr(spec) and spec.path in repr(spec)
        with open_source(pickle.loads(pickle.dumps(spec))) as again:
            assert (again.shape, again.dtype, again.axes) == (src.shape, src.dtype, src.axes)
            assert again.spec() == spec
            box = (slice(3, 9), slice(5, 20), slice(1, 26))
            np.testing.assert_array_equal(again.read(box), VOLUME[box])

    def test_close(self, written: Input) -> None:
        src = open_source(written.target, **written.options)
        with src as entered:
            assert entered is src
            np.testing.assert_array_equal(src.read((slice(0, 1),) * 3), VOLUME[:1, :1, :1])
        src.close()  # closing twice is harmless
        # a closed source's spec still reopens it (workers reopen from specs)
        with open_source(src.spec()) as again:
            np.testing.assert_array_equal(again.read((slice(9, 10),) * 3), VOLUME[9:10, 9:10, 9:10])
