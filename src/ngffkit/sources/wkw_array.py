"""A WKW array (WEBKNOSSOS's own format, one mag of a layer) through the ``wkw`` package.

WKW files hold no extent: the array is unbounded, and the layer's ``boundingBox`` (in
``datasource-properties.json``) says where the data is. So the source takes its extent from
the caller, as ``raw_shape`` (x, y, z: the box's far corner in this mag's voxels), and
presents ``c,z,y,x``; ``wk_import`` then crops the box with the region. ``wkw`` is a native
library that not every platform has: it is imported when a WKW input is opened, and its
absence is an InputError that says how to install it.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from ngffkit.errors import InputError
from ngffkit.sources.base import Box, ReadCost, SourceBase, SourceKind, SourceSpec


def _wkw() -> Any:
    try:
        wkw = importlib.import_module("wkw")  # untyped, and optional: not imported by name
    except ImportError:
        raise InputError(
            "WKW layers are read with the 'wkw' package, which is not installed: "
            "pip install wkw (or convert the layer to zarr3 with WEBKNOSSOS first)"
        ) from None
    return wkw


class WkwSource(SourceBase):
    """One WKW mag folder (with ``header.wkw``) of ``raw_shape`` (x, y, z) voxels."""

    kind: SourceKind = "wkw"
    axes = ("c", "z", "y", "x")

    def __init__(self, path: str | os.PathLike[str], *, raw_shape: Any) -> None:
        self.path = Path(path).resolve()
        if not (self.path / "header.wkw").is_file():
            raise InputError(f"{self.path}: no header.wkw; not a WKW array")
        if raw_shape is None or len(tuple(raw_shape)) != 3:
            raise InputError(f"{self.path}: a WKW array has no extent; give [[raw_shape=X,Y,Z]]")
        wkw = _wkw()
        with wkw.Dataset.open(str(self.path)) as ds:
            header = ds.header
            self.dtype = np.dtype(header.voxel_type)
            channels = int(header.num_channels)
        self.raw_shape = tuple(int(v) for v in raw_shape)
        nx, ny, nz = self.raw_shape
        self.shape = (channels, nz, ny, nx)
        self.input_axes = f"wkw c,x,y,z (extent {nx}×{ny}×{nz} x,y,z from the layer's box)"
        self.cost = ReadCost(
            window_cheap=True,
            rows_per_block=None,
            bytes_per_slice=channels * nx * ny * self.dtype.itemsize,
        )

    def _read_into(self, box: Box, out: np.ndarray[Any, Any]) -> None:
        c, z, y, x = box
        # one handle per read: bricks read from several threads at once
        with _wkw().Dataset.open(str(self.path)) as ds:
            data = ds.read(
                (x.start, y.start, z.start), (x.stop - x.start, y.stop - y.start, z.stop - z.start)
            )  # c, x, y, z
        out[...] = data[c].transpose(0, 3, 2, 1)

    def spec(self) -> SourceSpec:
        return SourceSpec(
            kind=self.kind,
            path=str(self.path),
            raw_shape=self.raw_shape,  # type: ignore[arg-type]
            shape=self.shape,
            dtype=self.dtype.str,
        )


__all__ = ["WkwSource"]
