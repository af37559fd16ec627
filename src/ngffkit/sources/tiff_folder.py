"""A folder of 2-D TIFF slices (``.tif``/``.tiff``), one per z.

Uncompressed slices are memory-mapped, so a y/x window reads only its bytes. Compressed
slices (LZW, deflate, zstd, JPEG, ...) decode only the strips or tiles a window touches;
for strip-organised files that is whole rows of strips, reported as ``rows_per_block``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ngffkit.errors import InputError
from ngffkit.sources._tiffio import TIFF_ERRORS, page_info, read_page_window
from ngffkit.sources.base import SourceKind
from ngffkit.sources.slice_folder import SliceFolderSource, SliceInfo


class TiffFolderSource(SliceFolderSource):
    """Slices ``*.tif``/``*.tiff`` of one folder; the first page of each file is its slice."""

    kind: SourceKind = "tiff-folder"
    families = frozenset({"tiff"})
    read_errors = TIFF_ERRORS

    def _probe(self, path: Path) -> SliceInfo:
        with tifffile.TiffFile(path) as tif:
            first = tif.pages.first
            info = page_info(first)
            # reading only the first page of a stack would silently drop the others;
            # reduced-resolution pages (thumbnails, pyramids) are fine to skip
            if len(tif.pages) > 1:
                second = tif.pages[1]
                reduced = isinstance(second, tifffile.TiffPage) and second.is_reduced
                if not reduced and tuple(second.shape) == tuple(first.shape):
                    raise InputError(
                        f"{path}: holds {len(tif.pages)} full-size pages, but a folder of "
                        "slices needs one image per file. To read one multi-page file, pass "
                        "the file itself (input_format 'tiff')."
                    )
        return SliceInfo(
            shape=info.shape,
            dtype=info.dtype,
            window_cheap=info.rows_per_block is None,
            rows_per_block=info.rows_per_block,
        )

    def _read_window(self, path: Path, z: int, ys: slice, xs: slice) -> np.ndarray[Any, Any]:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            info = page_info(page)
            self._check_slice(z, path, info.shape, info.dtype)
            return read_page_window(page, path, ys, xs)
