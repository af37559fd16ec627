"""A Vesuvius ``volume_grids`` folder: the volume cut into 500³ multi-page TIFF cells.

Cells are named ``cell_yxz_YYY_XXX_ZZZ.tif``: 1-based indices in **y, x, z** order. Cell
``j`` along an axis covers voxels ``[C·(j−1), min(C·j, size))`` with nominal edge ``C``
(500 in the published grids); the last cell along an axis may be smaller. Within a cell,
pages are z, page rows y and columns x (as spelufo's ``vesuvius-build`` writes them).

The source presents the whole volume (z, y, x). The extent is set by the highest index
present per axis and the size of a cell on that edge; the nominal edge comes from any
cell not on the edge (500 when no such cell exists). Missing cells read as zeros. Every
cell read is checked against the shape its position implies.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ngffkit.errors import InputError, NotFoundError
from ngffkit.sources.base import (
    CELL_NAME,
    Box,
    ReadCost,
    SourceBase,
    SourceKind,
    SourceSpec,
    spatial_slice_bytes,
)
from ngffkit.sources.tiff_file import TiffFileSource

#: Cell edge of the published grids, used when no full-size cell shows it.
DEFAULT_CELL = 500
_OPEN_CELLS = 8  # a brick crosses at most 8 cells when it is no larger than a cell

GridIndex = tuple[int, int, int]  # (z, y, x), 0-based


def grid_cells(folder: Path) -> dict[GridIndex, Path]:
    """Cell files of ``folder`` keyed by 0-based (z, y, x) grid index."""
    cells: dict[GridIndex, Path] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            m = CELL_NAME.match(entry.name)
            if m is None:
                continue
            y, x, z = (int(g) for g in m.groups())
            if min(y, x, z) < 1:
                raise InputError(
                    f"{entry.path}: grid cell indices are 1-based, found index 0 in the name."
                )
            key = (z - 1, y - 1, x - 1)
            if key in cells:
                raise InputError(
                    f"{folder}: two files for one grid cell: {cells[key].name} and {entry.name}."
                )
            cells[key] = Path(entry.path)
    return cells


class VolumeGridsSource(SourceBase):
    """The whole volume of a ``volume_grids`` folder, read cell by cell."""

    kind: SourceKind = "volume-grids"
    axes = ("z", "y", "x")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        folder = Path(path).resolve()
        if not folder.is_dir():
            if not folder.exists():
                raise NotFoundError(f"{folder}: no such folder.")
            raise InputError(f"{folder}: expected a volume_grids folder, found a file.")
        self.path = folder
        self.cells = grid_cells(folder)
        if not self.cells:
            raise InputError(
                f"{folder}: no grid cells found (expected files named cell_yxz_YYY_XXX_ZZZ.tif)."
            )
        self._lock = threading.Lock()
        self._open: OrderedDict[GridIndex, TiffFileSource] = OrderedDict()
        self.grid = tuple(max(k[a] for k in self.cells) + 1 for a in range(3))
        self.dtype = np.dtype("uint8")  # replaced by the first probe below
        self._dtype_from: Path | None = None
        nominal: list[int] = []
        edge: list[int] = []
        for a in range(3):
            on_edge = next(k for k in sorted(self.cells) if k[a] == self.grid[a] - 1)
            edge.append(self._probe(on_edge)[a])
            inner = next((k for k in sorted(self.cells) if k[a] < self.grid[a] - 1), None)
            if inner is not None:
                nominal.append(self._probe(inner)[a])
            else:
                nominal.append(edge[a] if self.grid[a] == 1 else DEFAULT_CELL)
            if edge[a] > nominal[a]:
                raise InputError(
                    f"{self.cells[on_edge]}: an edge cell is larger ({edge[a]} along "
                    f"{'zyx'[a]}) than the grid's cell size {nominal[a]}; the grid is inconsistent."
                )
        self.cell_shape = tuple(nominal)
        self._edge = tuple(edge)
        self.shape = tuple(
            (g - 1) * c + e for g, c, e in zip(self.grid, nominal, edge, strict=True)
        )
        self.input_axes = (
            f"grid of {'×'.join(map(str, self.grid))} cells (z,y,x; named cell_yxz_Y_X_Z), "
            "each cell's pages z, rows y, columns x"
        )
        self.cost = ReadCost(
            window_cheap=True,
            rows_per_block=None,
            bytes_per_slice=spatial_slice_bytes(self.shape, self.axes, self.dtype),
        )

    def _expected(self, key: GridIndex) -> tuple[int, ...]:
        return tuple(
            e if k == g - 1 else c
            for k, g, c, e in zip(key, self.grid, self.cell_shape, self._edge, strict=True)
        )

    def _cell(self, key: GridIndex) -> TiffFileSource:
        with self._lock:
            src = self._open.get(key)
            if src is not None:
                self._open.move_to_end(key)
                return src
        path = self.cells[key]
        src = TiffFileSource(path)
        if src.axes != ("z", "y", "x"):
            src.close()
            raise InputError(
                f"{path}: a grid cell must be a single-channel z,y,x stack, found axes "
                f"{','.join(src.axes)} with shape {src.shape}."
            )
        with self._lock:
            self._open[key] = src
            while len(self._open) > _OPEN_CELLS:
                # not closed here: another thread may be reading it; the handle is
                # released when the last reference goes
                self._open.popitem(last=False)
        return src

    def _probe(self, key: GridIndex) -> tuple[int, ...]:
        src = self._cell(key)
        if self._dtype_from is None:
            self.dtype, self._dtype_from = src.dtype, src.path
        elif src.dtype != self.dtype:
            raise InputError(
                f"{src.path}: expected dtype {self.dtype} like {self._dtype_from.name}, "
                f"found {src.dtype}. All grid cells must share one dtype."
            )
        return src.shape

    def _check_cell(self, key: GridIndex) -> TiffFileSource:
        src = self._cell(key)
        expected = self._expected(key)
        if src.shape != expected or src.dtype != self.dtype:
            zyx = ", ".join(str(k + 1) for k in key)
            raise InputError(
                f"{src.path}: grid cell (z,y,x index {zyx}) should have shape {expected} and "
                f"dtype {self.dtype}, found shape {src.shape} and dtype {src.dtype}. "
                "Replace this cell."
            )
        return src

    def check_all(self) -> None:
        """Open every cell's header and raise for the first one of the wrong shape/dtype."""
        for key in sorted(self.cells):
            self._check_cell(key)

    def _read_into(self, box: Box, out: np.ndarray[Any, Any]) -> None:
        ranges = [
            range(s.start // c, (s.stop - 1) // c + 1)
            for s, c in zip(box, self.cell_shape, strict=True)
        ]
        for key in np.ndindex(*[len(r) for r in ranges]):
            cell = tuple(r[i] for r, i in zip(ranges, key, strict=True))
            if cell not in self.cells:
                continue  # a missing cell reads as zeros
            local: list[slice] = []
            dest: list[slice] = []
            for s, c, k in zip(box, self.cell_shape, cell, strict=True):
                lo, hi = max(s.start, k * c), min(s.stop, (k + 1) * c)
                local.append(slice(lo - k * c, hi - k * c))
                dest.append(slice(lo - s.start, hi - s.start))
            out[tuple(dest)] = self._check_cell(cell).read(tuple(local))

    def spec(self) -> SourceSpec:
        """Return the picklable description that reopens this source elsewhere."""
        return SourceSpec(
            kind=self.kind, path=str(self.path), shape=self.shape, dtype=self.dtype.str
        )

    def close(self) -> None:
        """Close the cells kept open between reads."""
        with self._lock:
            while self._open:
                self._open.popitem()[1].close()
