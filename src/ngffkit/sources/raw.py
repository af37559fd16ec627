"""A raw binary volume: no header, just voxels, read a box at a time (bounded ``pread``s).

``raw_shape`` is given in **x, y, z** order, as the CLI takes it (``--raw-shape X,Y,Z``);
the source presents (z, y, x). ``raw_order`` says which varies fastest in the file:
``"C"`` (default): x fastest, i.e. the file is slice after slice, row after row (numpy's
``volume_zyx.tofile()``). ``"F"``: z fastest — a z,y,x array stored in Fortran order, the
same bytes as numpy's ``volume_xyz.tofile()`` (a C-order x,y,z array).
``raw_dtype`` is any numpy dtype string (``uint16``, ``<u2``, ``>f4``...); a byte order
prefix is honoured and reads return native byte order.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ngffkit.errors import InputError
from ngffkit.sources._fileread import read_box
from ngffkit.sources.base import (
    Box,
    ReadCost,
    SourceBase,
    SourceKind,
    SourceSpec,
    check_local_file,
    is_numeric,
)


def _shape_xyz(raw_shape: Any) -> tuple[int, int, int]:
    try:
        shape = tuple(int(n) for n in raw_shape)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"raw_shape must be three integers in x,y,z order, got {raw_shape!r}."
        ) from exc
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(
            f"raw_shape must be three positive integers in x,y,z order, got {raw_shape!r}."
        )
    return shape[0], shape[1], shape[2]


class RawSource(SourceBase):
    """A headerless binary file of ``raw_shape`` (x, y, z) voxels of ``raw_dtype``."""

    kind: SourceKind = "raw"
    axes = ("z", "y", "x")

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        raw_shape: Any,
        raw_dtype: str | None,
        raw_order: Literal["C", "F"] | str = "C",
    ) -> None:
        self.path = Path(path).resolve()
        check_local_file(self.path, "a raw input must be a file")
        if raw_shape is None or raw_dtype is None:
            raise InputError(
                f"{self.path}: a raw file has no header; give [[raw_shape=X,Y,Z]] and "
                "[[raw_dtype=uint16]] (its voxel type)."
            )
        self.raw_shape = _shape_xyz(raw_shape)
        try:
            file_dtype = np.dtype(raw_dtype)
        except TypeError as exc:
            raise InputError(
                f"raw_dtype {raw_dtype!r} is not a numpy dtype (e.g. uint16)."
            ) from exc
        if not is_numeric(file_dtype):
            raise InputError(
                f"raw_dtype {raw_dtype!r} is not a numeric voxel type; use e.g. uint8, uint16, "
                "int16, uint32, float32."
            )
        if raw_order not in ("C", "F"):
            raise InputError(
                f"raw_order must be 'C' (x fastest) or 'F' (z fastest), got {raw_order!r}."
            )
        self.raw_dtype = raw_dtype
        self.raw_order: Literal["C", "F"] = "C" if raw_order == "C" else "F"
        nx, ny, nz = self.raw_shape
        expected = math.prod(self.raw_shape) * file_dtype.itemsize
        found = self.path.stat().st_size
        if found != expected:
            raise InputError(
                f"{self.path}: {nx}x{ny}x{nz} (x,y,z) voxels of {file_dtype} need {expected} bytes, "
                f"the file has {found}. Check raw_shape (x,y,z order) and raw_dtype."
            )
        self._file_dtype = file_dtype
        self.shape = (nz, ny, nx)
        self.input_axes = f"raw {nx}×{ny}×{nz} (x,y,z), " + (
            "x varies fastest (C order of z,y,x)"
            if self.raw_order == "C"
            else "z varies fastest (F order of z,y,x; C order of x,y,z)"
        )
        self.dtype = file_dtype.newbyteorder("=")
        self.cost = ReadCost(
            window_cheap=True,
            rows_per_block=None,
            bytes_per_slice=nx * ny * self.dtype.itemsize,
        )

    def _read_into(self, box: Box, out: np.ndarray[Any, Any]) -> None:
        if self.raw_order == "C":
            read_box(self.path, 0, self.shape, self._file_dtype, box, out)
        else:  # the file is a C-order x,y,z array: read the reversed box into out's transpose
            read_box(self.path, 0, self.shape[::-1], self._file_dtype, box[::-1], out.transpose())

    def spec(self) -> SourceSpec:
        """Return the picklable description that reopens this source elsewhere."""
        return SourceSpec(
            kind=self.kind,
            path=str(self.path),
            raw_shape=self.raw_shape,
            raw_dtype=str(self.raw_dtype),
            raw_order=self.raw_order,
            shape=self.shape,
            dtype=self.dtype.str,
        )
