"""What tests/test_downsample.py and tests/test_compress.py share: images written by other
tools, plain numpy references for the downsampling methods, a read-only folder, a tree digest."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

SHAPE = (37, 101, 97)


def volume(shape: Sequence[int] = SHAPE, dtype: str = "uint16", seed: int = 1) -> np.ndarray:
    """Smooth-ish data with noise (compresses a little, like real images)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    smooth = 2000 * (np.sin(z / 5.0) + np.cos(y / 7.0) + np.sin(x / 9.0) + 3)
    return (smooth + rng.integers(0, 500, tuple(shape))).astype(dtype)


def write_ome_zarr_py(path: Path, version: str, data: np.ndarray, levels: int = 1) -> Path:
    """An image with a label image ``cells``, written by ome-zarr-py (paths s0, s1, ...)."""
    import zarr
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.scale import Methods
    from ome_zarr.writer import write_image, write_labels

    fmt = FormatV05() if version == "0.5" else FormatV04()
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    factors = [{"z": 1, "y": 2, "x": 2}] * (levels - 1)
    units = {a: "micrometer" for a in "zyx"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_image(
            data,
            group,
            scale_factors=factors,
            fmt=fmt,
            axes="zyx",
            method=Methods.NEAREST,
            scale={"z": 2.0, "y": 0.5, "x": 0.5},
            axes_units=units,
            storage_options={"chunks": (16, 32, 32)},
        )
        write_labels(
            (data % 3).astype(np.uint8),
            group,
            name="cells",
            scaler=None,
            scale_factors=factors,
            method=Methods.NEAREST,
            fmt=fmt,
            axes="zyx",
            axes_units=units,
        )
    return path


def write_zarr_python(path: Path, version: str, data: np.ndarray) -> Path:
    """A one-level image written with zarr-python alone (its default codecs), metadata by hand."""
    import zarr

    zarr_format = 3 if version == "0.5" else 2
    group = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    kwargs: dict[str, Any] = {"dimension_names": ["z", "y", "x"]} if zarr_format == 3 else {}
    array = group.create_array(
        "scale0", shape=data.shape, dtype=data.dtype, chunks=(16, 32, 32), **kwargs
    )
    array[...] = data
    ms = {
        "axes": [{"name": a, "type": "space", "unit": "nanometer"} for a in "zyx"],
        "datasets": [
            {
                "path": "scale0",
                "coordinateTransformations": [
                    {"type": "scale", "scale": [4.0, 4.0, 4.0]},
                    {"type": "translation", "translation": [10.0, 0.0, 0.0]},
                ],
            }
        ],
        "name": "zarr-python",
    }
    if zarr_format == 3:
        group.attrs["ome"] = {"version": "0.5", "multiscales": [ms]}
    else:
        group.attrs["multiscales"] = [{**ms, "version": "0.4"}]
    return path


def block_reference(data: np.ndarray, factors: Sequence[int], method: str) -> np.ndarray:
    """Plain numpy: partial edge blocks use the voxels present; mean rounds half up; mode
    breaks ties to the smallest value."""
    out_shape = tuple(-(-n // f) for n, f in zip(data.shape, factors, strict=True))
    offsets = list(itertools.product(*(range(f) for f in factors)))
    views = [
        data[tuple(slice(o, None, f) for o, f in zip(off, factors, strict=True))] for off in offsets
    ]
    if method == "mean":
        total = np.zeros(out_shape, np.int64)
        count = np.zeros(out_shape, np.int64)
        for v in views:
            where = tuple(slice(0, n) for n in v.shape)
            total[where] += v
            count[where] += 1
        return ((total + count // 2) // count).astype(data.dtype)
    assert method == "mode"
    values = np.unique(data)
    counts = np.zeros((len(values), *out_shape), np.int64)
    for i, value in enumerate(values):
        for v in views:
            counts[i][tuple(slice(0, n) for n in v.shape)] += v == value
    return values[np.argmax(counts, axis=0)].astype(data.dtype)


def check_pyramid(image: Any, base: np.ndarray, method: str, first: int = 0) -> None:
    """Every level after ``first`` equals the reference built level by level from ``base``
    (level ``first``), with factors read from the metadata's scales."""
    ref = base
    for k in range(first + 1, len(image.levels)):
        prev, cur = image.levels[k - 1], image.levels[k]
        factors = [round(b / a) for a, b in zip(prev.scale, cur.scale, strict=True)]
        ref = block_reference(ref, factors, method)
        np.testing.assert_array_equal(cur.read(), ref, err_msg=f"level {k} ({cur.path})")


def validate_with_ome_zarr_models(path: Path) -> None:
    import zarr
    from ome_zarr_models import open_ome_zarr

    open_ome_zarr(zarr.open_group(str(path), mode="r"))


def models_accept(path: Path) -> bool:
    """Whether ome-zarr-models accepts the image (ome-zarr-py 0.18 writes a 0.5 ``labels``
    group without ``ome.version``, which it rejects: such an input stays rejected)."""
    try:
        validate_with_ome_zarr_models(path)
    except RuntimeError:
        return False
    return True


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make ``path`` (a folder) unwritable for this user: ``chattr +i`` as root (root ignores
    permission bits), else chmod."""
    if os.geteuid() == 0:
        if (
            shutil.which("chattr") is None
            or subprocess.run(
                ["chattr", "+i", str(path)], capture_output=True, check=False
            ).returncode
        ):
            pytest.skip("running as root without chattr: no way to make a folder read-only")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        return
    mode = path.stat().st_mode
    path.chmod(0o555)
    try:
        yield
    finally:
        path.chmod(mode)
