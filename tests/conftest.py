"""Shared test fixtures.

- ``run_ngff``: run the ``ngff`` CLI in a subprocess, as a user would (``python -m ngffkit``),
  with this checkout's ``src`` first on ``PYTHONPATH`` (``_support.src_env``, the one place
  that sets it up for child processes); for tests where the process matters (signals,
  start-up imports, locks between processes).
- ``run_cli``: the same in this process (``_support.run_cli``), for messages and exit codes.
- ``make_image``: write a small OME-Zarr image with ngffkit's own writer (levels filled with
  known data, optional label image) and return the data written per level.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _support import ngff_command, src_env
from _support import run_cli as in_process

RunNgff = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def run_ngff() -> RunNgff:
    """``run_ngff(*args, timeout=120)`` → the finished ``ngff`` process (text output)."""

    def run(
        *args: str | os.PathLike[str], timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        env = src_env({"COLUMNS": os.environ.get("COLUMNS", "200"), "NO_COLOR": "1"})
        return subprocess.run(
            ngff_command(*args),
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def run_cli() -> RunNgff:
    """``run_cli(*args)`` → ``ngff ARGS`` run in this process, as a finished process."""
    return in_process


def downsample_stride(data: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """Level k+1 from level k by taking every f-th voxel (a stand-in for a real kernel)."""
    return data[tuple(slice(None, None, int(f)) for f in factors)]


MakeImage = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def make_image() -> MakeImage:
    """``make_image(path, version=..., shards=..., labels=..., shape=..., axes=...)``.

    Writes an image with :func:`ngffkit.pyramid_spec` / :func:`ngffkit.create_image` /
    ``Level.write`` / :func:`ngffkit.finish_image` and returns ``{"spec", "levels",
    "label_spec", "label_levels"}`` where ``levels`` is the numpy data of each level.
    With ``finish=False`` the image is left partial (no group metadata).
    """
    from image_helpers import cells_label_spec
    from ngffkit.spec import pyramid_spec
    from ngffkit.writer import create_image, finish_image, write_labels_group

    def make(
        path: str | os.PathLike[str],
        *,
        version: str = "0.5",
        shards: int | Sequence[int] | None = None,
        labels: bool = False,
        shape: Sequence[int] = (20, 64, 64),
        axes: str = "zyx",
        dtype: str = "uint16",
        levels: int = 3,
        chunks: int | Sequence[int] = 16,
        voxel_size: Any = None,
        unit: str | None = "micrometer",
        name: str | None = "ngffkit-test",
        label_dtype: str = "uint32",
        finish: bool = True,
        seed: int = 0,
    ) -> dict[str, Any]:
        if voxel_size is None:
            voxel_size = {"z": 2.0, "y": 0.5, "x": 0.5} if "z" in axes else {"y": 0.5, "x": 0.5}
        spec = pyramid_spec(
            shape,
            dtype,
            axes=axes,
            voxel_size=voxel_size,
            unit=unit,
            levels=levels,
            chunks=chunks,
            shards=shards,
            version=version,
            name=name,
        )
        rng = np.random.default_rng(seed)
        info = np.iinfo(dtype) if np.dtype(dtype).kind in "ui" else None
        data = (
            rng.integers(0, min(info.max, 60000), shape, dtype=dtype)
            if info is not None
            else rng.random(shape).astype(dtype)
        )
        image = create_image(path, spec)
        written = []
        current = data
        for k, level in enumerate(image.levels):
            if k:
                factors = [
                    round(b / a)
                    for a, b in zip(spec.levels[k - 1].scale, spec.levels[k].scale, strict=True)
                ]
                current = downsample_stride(current, factors)
            assert current.shape == level.shape
            level.write(current)
            written.append(current)
        result: dict[str, Any] = {"spec": spec, "levels": written}
        if not finish:
            return result
        finish_image(path, spec)
        if labels:
            label_spec = cells_label_spec(
                shape,
                label_dtype,
                axes=axes,
                voxel_size=voxel_size,
                unit=unit,
                levels=levels,
                chunks=chunks,
                shards=shards,
                version=version,
            )
            label_path = Path(path) / "labels" / "cells"
            label_image = create_image(label_path, label_spec)
            seg = (data % 3).astype(label_dtype)
            label_levels = []
            for k, level in enumerate(label_image.levels):
                if k:
                    factors = [
                        round(b / a)
                        for a, b in zip(
                            label_spec.levels[k - 1].scale, label_spec.levels[k].scale, strict=True
                        )
                    ]
                    seg = downsample_stride(seg, factors)
                level.write(seg)
                label_levels.append(seg)
            finish_image(label_path, label_spec)
            write_labels_group(path, ["cells"], version)
            result["label_spec"] = label_spec
            result["label_levels"] = label_levels
        return result

    return make


WK_MAGS: dict[str, tuple[int, int, int]] = {"1": (1, 1, 1), "2-2-1": (2, 2, 1), "4-4-2": (4, 4, 2)}
WK_VOXEL_NM = (11.24, 11.24, 25.0)  # x, y, z


@pytest.fixture(scope="session")
def write_wk_layer() -> Callable[..., dict[str, np.ndarray]]:
    """``write_wk_layer(dataset_dir, zyx_data, shard=32, chunk=16)`` writes a WEBKNOSSOS-style
    Zarr v3 dataset as webknossos-libs 4.x does (see the reference notes): a root group and
    ``datasource-properties.json``, a layer ``color`` whose OME 0.5 metadata has axes
    ``c, x, y, z`` in nanometer and mag paths ``1``, ``2-2-1``, ``4-4-2``; arrays with
    ``dimension_names`` c,x,y,z, a ``transpose`` codec ``[3,2,1,0]`` inside the shard, zstd
    with checksum, and shapes padded up to whole shards. Returns each mag's true (unpadded)
    c,x,y,z data; the padding reads as 0.
    """
    import json

    import tensorstore as ts

    def write(
        root: str | os.PathLike[str],
        zyx: np.ndarray,
        shard: int = 32,
        chunk: int = 16,
        zarr_format: int = 3,
    ) -> dict[str, np.ndarray]:
        root = Path(root)
        layer = root / "color"
        layer.mkdir(parents=True)
        if zarr_format == 2:
            return _write_wk_layer_v2(root, layer, zyx, chunk)
        written = {}
        for name, (fx, fy, fz) in WK_MAGS.items():
            cxyz = zyx[::fz, ::fy, ::fx].transpose(2, 1, 0)[None]
            padded = [1] + [-(-s // shard) * shard for s in cxyz.shape[1:]]
            store = ts.open(
                {
                    "driver": "zarr3",
                    "kvstore": {"driver": "file", "path": f"{layer / name}/"},
                    "metadata": {
                        "shape": padded,
                        "data_type": str(zyx.dtype),
                        "chunk_grid": {
                            "name": "regular",
                            "configuration": {"chunk_shape": [1, shard, shard, shard]},
                        },
                        "chunk_key_encoding": {
                            "name": "default",
                            "configuration": {"separator": "/"},
                        },
                        "codecs": [
                            {
                                "name": "sharding_indexed",
                                "configuration": {
                                    "chunk_shape": [1, chunk, chunk, chunk],
                                    "codecs": [
                                        {
                                            "name": "transpose",
                                            "configuration": {"order": [3, 2, 1, 0]},
                                        },
                                        {"name": "bytes", "configuration": {"endian": "little"}},
                                        {
                                            "name": "zstd",
                                            "configuration": {"level": 5, "checksum": True},
                                        },
                                    ],
                                    "index_codecs": [
                                        {"name": "bytes", "configuration": {"endian": "little"}},
                                        {"name": "crc32c"},
                                    ],
                                    "index_location": "end",
                                },
                            }
                        ],
                        "fill_value": 0,
                        "dimension_names": ["c", "x", "y", "z"],
                    },
                    "create": True,
                }
            ).result()
            store[tuple(slice(0, s) for s in cxyz.shape)].write(cxyz).result()
            written[name] = cxyz
        axes, datasets = _wk_axes_and_datasets()
        (layer / "zarr.json").write_text(
            json.dumps(
                {
                    "zarr_format": 3,
                    "node_type": "group",
                    "attributes": {
                        "ome": {
                            "version": "0.5",
                            "multiscales": [{"axes": axes, "datasets": datasets}],
                        }
                    },
                }
            )
        )
        (root / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group"}))
        z, y, x = zyx.shape
        properties = {
            "id": {"name": root.name, "team": ""},
            "scale": {"factor": list(WK_VOXEL_NM), "unit": "nanometer"},
            "dataLayers": [
                {
                    "name": "color",
                    "category": "color",
                    "boundingBox": {"topLeft": [0, 0, 0], "width": x, "height": y, "depth": z},
                    "elementClass": str(zyx.dtype),
                    "dataFormat": "zarr3",
                    "numChannels": 1,
                    "mags": [
                        {
                            "mag": list(mag),
                            "path": f"./color/{name}",
                            "axisOrder": {"c": 0, "x": 1, "y": 2, "z": 3},
                        }
                        for name, mag in WK_MAGS.items()
                    ],
                }
            ],
        }
        (root / "datasource-properties.json").write_text(json.dumps(properties, indent=2))
        return written

    write.mags = WK_MAGS  # type: ignore[attr-defined]
    write.voxel_nm = WK_VOXEL_NM  # type: ignore[attr-defined]
    return write


def _wk_axes_and_datasets() -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    axes = [{"name": "c", "type": "channel"}] + [
        {"name": n, "type": "space", "unit": "nanometer"} for n in "xyz"
    ]
    datasets = [
        {
            "path": name,
            "coordinateTransformations": [
                {
                    "type": "scale",
                    "scale": [1.0] + [v * f for v, f in zip(WK_VOXEL_NM, mag, strict=True)],
                }
            ],
        }
        for name, mag in WK_MAGS.items()
    ]
    return axes, datasets


def _write_wk_layer_v2(
    root: Path, layer: Path, zyx: np.ndarray, chunk: int
) -> dict[str, np.ndarray]:
    """The Zarr v2 flavour: ``order: "F"``, zstd, ``/`` keys, OME 0.4, and ``.zgroup`` files
    that spell ``zarr_format`` as the string ``"2"`` (webknossos-libs 4.3 does)."""
    import json

    import tensorstore as ts

    written = {}
    for name, (fx, fy, fz) in WK_MAGS.items():
        cxyz = zyx[::fz, ::fy, ::fx].transpose(2, 1, 0)[None]
        store = ts.open(
            {
                "driver": "zarr",
                "kvstore": {"driver": "file", "path": f"{layer / name}/"},
                "metadata": {
                    "shape": list(cxyz.shape),
                    "chunks": [1, chunk, chunk, chunk],
                    "dtype": np.dtype(zyx.dtype).str,
                    "order": "F",
                    "compressor": {"id": "zstd", "level": 5},
                    "dimension_separator": "/",
                    "fill_value": 0,
                    "filters": None,
                },
                "create": True,
            }
        ).result()
        store.write(cxyz).result()
        written[name] = cxyz
    axes, datasets = _wk_axes_and_datasets()
    (layer / ".zattrs").write_text(
        json.dumps({"multiscales": [{"version": "0.4", "axes": axes, "datasets": datasets}]})
    )
    for group in (root, layer):
        (group / ".zgroup").write_text('{"zarr_format": "2"}')
    return written
