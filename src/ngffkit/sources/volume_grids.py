"""A Vesuvius ``volume_grids`` folder: the volume cut into 500³ multi-page TIFF cells.

Cells are named ``cell_yxz_YYY_XXX_ZZZ.tif``: 1-based indices in **y, x, z** order. Cell
``j`` along an axis covers voxels ``[C·(j−1), min(C·j, size))`` with nominal edge ``C``
(500 in the published grids); the last cell along an axis may be smaller. Within a cell,
pages are z, page rows y and columns x (as spelufo's ``vesuvius-build`` writes them).

The source presents the whole volume (z, y, x). The extent is set by the highest index
present per axis and the size of a cell on that edge; the nominal edge comes from any
cell not on the edge (500 when no such cell exists). A missing cell is an error, as a
missing slice is, unless ``allow_gaps`` (then it reads as zeros). :meth:`check_all` names
the cells whose shape or dtype differs from what the majority of cells says; every cell
read is checked against the shape its position implies.
"""

from __future__ import annotations

import os
import threading
from collections import Counter, OrderedDict
from pathlib import Path, PurePath
from typing import Any, TypeVar

import numpy as np

from ngffkit.errors import InputError
from ngffkit.sources.base import (
    CELL_NAME,
    Box,
    ReadCost,
    SourceBase,
    SourceKind,
    SourceSpec,
    check_local_folder,
    spatial_slice_bytes,
)
from ngffkit.sources.tiff_file import TiffFileSource

#: Cell edge of the published grids, used when no full-size cell shows it.
DEFAULT_CELL = 500
_OPEN_CELLS = 8  # a brick crosses at most 8 cells when it is no larger than a cell

GridIndex = tuple[int, int, int]  # (z, y, x), 0-based


def _fmt(header: tuple[tuple[int, ...], str]) -> str:
    shape, dtype = header
    return f"{'×'.join(map(str, shape))} (z×y×x) {dtype}"


def _cell_name(key: GridIndex) -> str:
    z, y, x = (k + 1 for k in key)
    return f"cell_yxz_{y:03d}_{x:03d}_{z:03d}.tif"


def grid_cells(folder: Path) -> dict[GridIndex, Path]:
    """Cell files of ``folder`` keyed by 0-based (z, y, x) grid index."""
    with os.scandir(folder) as entries:
        return index_cells([Path(entry.path) for entry in entries], str(folder))


_P = TypeVar("_P", bound=PurePath)


def index_cells(files: list[_P], folder: str) -> dict[GridIndex, _P]:
    """The cell files among ``files`` keyed by 0-based (z, y, x) grid index; ``folder``
    names their folder in messages."""
    cells: dict[GridIndex, _P] = {}
    for path in files:
        m = CELL_NAME.match(path.name)
        if m is None:
            continue
        y, x, z = (int(g) for g in m.groups())
        if min(y, x, z) < 1:
            raise InputError(
                f"{folder}/{path.name}: grid cell indices are 1-based, found index 0 in the name."
            )
        key = (z - 1, y - 1, x - 1)
        if key in cells:
            raise InputError(
                f"{folder}: two files for one grid cell: {cells[key].name} and {path.name}."
            )
        cells[key] = path
    return cells


class VolumeGridsSource(SourceBase):
    """The whole volume of a ``volume_grids`` folder, read cell by cell."""

    kind: SourceKind = "volume-grids"
    axes = ("z", "y", "x")

    def __init__(self, path: str | os.PathLike[str], *, allow_gaps: bool = False) -> None:
        folder = Path(path).resolve()
        self.allow_gaps = allow_gaps
        check_local_folder(folder, "a volume_grids folder")
        self.path = folder
        self._setup(grid_cells(folder), str(folder))

    def _open_cell(self, path: Any) -> TiffFileSource:
        """Open one cell file (remote grids open it by URL)."""
        return TiffFileSource(path)

    def _setup(self, cells: dict[GridIndex, Any], folder: str) -> None:
        """Size the grid from its ``cells`` (their names index them; see the module docs)."""
        self.cells = cells
        if not self.cells:
            raise InputError(
                f"{folder}: no grid cells found (expected files named cell_yxz_YYY_XXX_ZZZ.tif)."
            )
        self._lock = threading.Lock()
        self._open: OrderedDict[GridIndex, TiffFileSource] = OrderedDict()
        self.grid = tuple(max(k[a] for k in self.cells) + 1 for a in range(3))
        missing = [k for k in np.ndindex(*self.grid) if k not in self.cells]
        if missing and not self.allow_gaps:
            # the same rule as a missing slice: zeros only when asked for
            names = ", ".join(_cell_name(k) for k in missing[:5])
            more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
            raise InputError(
                f"{folder}: {len(missing)} of the {'×'.join(map(str, self.grid))} grid cells "
                f"are missing: {names}{more}. Add them, or pass [[allow_gaps=True]] to read "
                "them as zeros."
            )
        self.dtype = np.dtype("uint8")  # replaced by the first probe below
        self._dtype_from: Any = None  # the path (or URL) of the cell that set the dtype
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
        src = self._open_cell(path)
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
                f"{src.path}: expected dtype {self.dtype} like {os.path.basename(str(self._dtype_from))}, "
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
        """Open every cell's header; name the cells whose shape or dtype differs from what
        the majority of cells says their place needs (not from whichever cell was probed
        first: an odd cell must not make its good neighbours look wrong)."""
        headers: dict[GridIndex, tuple[tuple[int, ...], str]] = {}
        for key in sorted(self.cells):
            src = self._cell(key)
            headers[key] = (src.shape, src.dtype.name)
        dtype = Counter(d for _, d in headers.values()).most_common(1)[0][0]
        nominal, edge = [], []
        for a in range(3):
            inner = Counter(sh[a] for k, (sh, _) in headers.items() if k[a] < self.grid[a] - 1)
            outer = Counter(sh[a] for k, (sh, _) in headers.items() if k[a] == self.grid[a] - 1)
            edge.append(outer.most_common(1)[0][0])
            nominal.append(inner.most_common(1)[0][0] if inner else self.cell_shape[a])
        self.dtype, self.cell_shape, self._edge = np.dtype(dtype), tuple(nominal), tuple(edge)
        self.shape = tuple(
            (g - 1) * c + e for g, c, e in zip(self.grid, nominal, edge, strict=True)
        )
        odd = [k for k, h in headers.items() if h != (self._expected(k), dtype)]
        if not odd:
            return
        shown = "; ".join(
            f"{self.cells[k].name} is {_fmt(headers[k])} where the other cells say "
            f"{_fmt((self._expected(k), dtype))}"
            for k in odd[:5]
        )
        more = f" (and {len(odd) - 5} more)" if len(odd) > 5 else ""
        raise InputError(
            f"{self.path}: {len(odd)} of {len(headers)} grid cells differ from the rest: "
            f"{shown}{more}. Replace the odd cells."
        )

    def _read_into(self, box: Box, out: np.ndarray[Any, Any]) -> None:
        ranges = [
            range(s.start // c, (s.stop - 1) // c + 1)
            for s, c in zip(box, self.cell_shape, strict=True)
        ]
        for key in np.ndindex(*[len(r) for r in ranges]):
            cell = tuple(r[i] for r, i in zip(ranges, key, strict=True))
            if cell not in self.cells:
                continue  # a missing cell (allowed gap) reads as zeros
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
            kind=self.kind,
            path=str(self.path),
            allow_gaps=self.allow_gaps,
            shape=self.shape,
            dtype=self.dtype.str,
        )

    def close(self) -> None:
        """Close the cells kept open between reads."""
        with self._lock:
            while self._open:
                self._open.popitem()[1].close()
