"""A folder of PNG or JPEG slices, one per z.

These formats decode whole images, so a window costs the full slice
(``window_cheap=False``, ``rows_per_block`` = slice height). Pillow reads headers
lazily, which keeps :meth:`check_all` cheap. 16-bit colour PNGs, which Pillow would
reduce to 8 bits, are decoded with imagecodecs instead.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
from PIL import Image, UnidentifiedImageError

from ngffkit.sources.base import SourceKind
from ngffkit.sources.slice_folder import SliceFolderSource, SliceInfo

# Pillow mode -> (dtype, samples per pixel)
_MODES: dict[str, tuple[str, int]] = {
    "1": ("uint8", 1),
    "L": ("uint8", 1),
    "P": ("uint8", 1),  # palette indices, as stored; no colours are invented
    "LA": ("uint8", 2),
    "RGB": ("uint8", 3),
    "RGBA": ("uint8", 4),
    "CMYK": ("uint8", 4),
    "I;16": ("uint16", 1),
    "I;16L": ("uint16", 1),
    "I;16B": ("uint16", 1),
    "I": ("int32", 1),
    "F": ("float32", 1),
}


def _png_16bit_colour(path: Path) -> int:
    """Samples per pixel of a 16-bit colour PNG, or 0 for anything Pillow reads losslessly."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return 0
    depth, colour_type = head[24], head[25]
    return {2: 3, 4: 2, 6: 4}.get(colour_type, 0) if depth == 16 else 0


class ImageFolderSource(SliceFolderSource):
    """Slices ``*.png`` or ``*.jpg``/``*.jpeg`` of one folder."""

    kind: SourceKind = "image-folder"
    families = frozenset({"png", "jpeg"})
    read_errors = (
        OSError,
        ValueError,
        SyntaxError,
        UnidentifiedImageError,
        struct.error,
        zlib.error,
        EOFError,
        RuntimeError,
    )

    def _probe(self, path: Path) -> SliceInfo:
        samples16 = _png_16bit_colour(path)
        with Image.open(path) as im:
            width, height = im.size
            mode = im.mode
        if samples16:
            dtype, samples = "uint16", samples16
        elif mode in _MODES:
            dtype, samples = _MODES[mode]
        else:
            raise ValueError(f"unsupported image mode {mode!r}")
        shape = (samples, height, width) if samples > 1 else (height, width)
        return SliceInfo(shape, np.dtype(dtype), window_cheap=False, rows_per_block=height)

    def _read_window(self, path: Path, z: int, ys: slice, xs: slice) -> np.ndarray[Any, Any]:
        info = self._probe(path)
        self._check_slice(z, path, info.shape, info.dtype)
        if _png_16bit_colour(path):
            arr = imagecodecs.png_decode(path.read_bytes())
        else:
            with Image.open(path) as im:
                im.load()
                arr = np.asarray(im)
        arr = arr.astype(info.dtype, copy=False)
        if arr.ndim == 3:
            arr = np.moveaxis(arr, -1, 0)
            return arr[:, ys, xs]
        return arr[ys, xs]
