"""Shared by the peer drivers: argument parsing, reading the TIFF stack as a dask array.

Runs inside each peer's own virtual environment, so it may use only what every peer venv has
(numpy, tifffile, and dask where the driver needs it). Keep it free of ngffkit imports.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import tifffile


def parse_args(description: str, variants: tuple[str, ...]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("input", type=Path, help="folder of z-slice TIFFs (z0000.tif, ...)")
    p.add_argument("output", type=Path, help="output folder (replaced if it exists)")
    p.add_argument("--variant", choices=variants, default=variants[0])
    p.add_argument("--levels", type=int, default=5, help="pyramid levels incl. full resolution")
    p.add_argument("--chunk", type=int, default=64, help="isotropic chunk edge")
    p.add_argument("--clevel", type=int, default=5, help="zstd level")
    p.add_argument("--jobs", type=int, default=2, help="worker processes where the tool has them")
    return p.parse_args()


def tiff_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".tif", ".tiff"))
    if not files:
        sys.exit(f"no TIFF files in {folder}")
    return files


def stack_info(files: list[Path]) -> tuple[tuple[int, int, int], np.dtype[Any]]:
    """(z, y, x) shape and dtype, from the first page of the first file."""
    with tifffile.TiffFile(files[0]) as tif:
        page = tif.pages[0]
        ny, nx = page.shape[:2]
        return (len(files), int(ny), int(nx)), np.dtype(page.dtype)


def dask_stack(files: list[Path], order: str = "zyx") -> Any:
    """The stack as a lazy dask array, one chunk per slice, in ``zyx`` or ``xyz`` order."""
    import dask.array as da
    from dask.delayed import delayed

    (_nz, ny, nx), dtype = stack_info(files)
    read = delayed(tifffile.imread, pure=True)
    slices = [da.from_delayed(read(str(f)), shape=(ny, nx), dtype=dtype) for f in files]
    arr = da.stack(slices, axis=0)  # (z, y, x), chunks (1, ny, nx)
    if order == "xyz":
        arr = arr.transpose(2, 1, 0)  # chunks (nx, ny, 1)
    return arr


def blosc_shuffle(dtype: np.dtype[Any]) -> Literal["bitshuffle", "shuffle"]:
    """The shuffle every blosc-using peer gets: bit shuffle for bytes, byte shuffle otherwise."""
    return "bitshuffle" if np.dtype(dtype).itemsize == 1 else "shuffle"


def factors(levels: int) -> list[int]:
    """Cumulative factors of levels 1.. relative to level 0: 2, 4, 8, 16 for 5 levels."""
    return [2**i for i in range(1, levels)]


class Steps:
    """Wall time of a driver's steps, printed as one ``BENCH_STEPS {json}`` line at the end."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.steps: dict[str, float] = {}

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = round(now - self.last, 3)
        self.last = now

    def emit(self) -> None:
        print("BENCH_STEPS " + json.dumps(self.steps), flush=True)
