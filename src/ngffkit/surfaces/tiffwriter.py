"""A TIFF written strip by strip: one grayscale image whose rows arrive in order.

``ngff flatten`` writes 65 layer images a band of rows at a time and never holds a whole
layer, which tifffile's writer (whole images, or one iterator per image) cannot do for 65
images at once. The file is the header, then the strips as they come, then the image file
directory (IFD) at the end, whose offset is patched into the header last. Strips are
written at known offsets, so an interrupted file can be cut back to its last complete band
and continued (:meth:`StripTiff.reopen`). BigTIFF is used when the image could pass 4 GiB.

Compressions: none (1), zlib (8, Adobe deflate), lzw (5), zstd (50000, as tifffile and
libtiff write it); each strip is compressed on its own.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

COMPRESSIONS = {"none": 1, "zlib": 8, "lzw": 5, "zstd": 50000}
_SAMPLE_FORMAT = {"u": 1, "i": 2, "f": 3}


def encode_strip(data: np.ndarray, compression: str) -> bytes:
    """The bytes of one strip (C-ordered rows, little endian)."""
    raw = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<")).tobytes()
    if compression == "none":
        return raw
    if compression == "zlib":
        return zlib.compress(raw, 6)
    import imagecodecs

    if compression == "lzw":
        return bytes(imagecodecs.lzw_encode(raw))
    if compression == "zstd":
        return bytes(imagecodecs.zstd_encode(raw, level=5))
    raise ValueError(f"unknown TIFF compression {compression!r}")


class StripTiff:
    """One image being written: ``append(offset_bytes)`` strips in row order, then
    :meth:`finish`."""

    def __init__(
        self,
        path: Path,
        shape: tuple[int, int],
        dtype: np.dtype[Any],
        rows_per_strip: int,
        compression: str,
        *,
        strips: Sequence[tuple[int, int]] = (),
    ) -> None:
        self.path = path
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.rows_per_strip = rows_per_strip
        self.compression = compression
        raw = shape[0] * shape[1] * self.dtype.itemsize
        # A compressed strip can grow a little; keep well away from the 4 GiB limit.
        self.big = raw > 3_500_000_000
        self.strips: list[tuple[int, int]] = list(strips)

    @property
    def header_bytes(self) -> int:
        return 16 if self.big else 8

    def create(self) -> None:
        with self.path.open("wb") as f:
            f.write(self._header(0))

    def reopen(self) -> None:
        """Continue a file written up to its recorded strips: cut off anything after them."""
        end = max((o + n for o, n in self.strips), default=self.header_bytes)
        with self.path.open("r+b") as f:
            f.truncate(end)

    def append(self, encoded: bytes) -> tuple[int, int]:
        """Write one strip at the end of the file; return its (offset, byte count)."""
        with self.path.open("ab") as f:
            offset = f.tell()
            f.write(encoded)
        self.strips.append((offset, len(encoded)))
        return offset, len(encoded)

    def finish(self) -> None:
        """Write the IFD after the strips and point the header at it."""
        n_strips = -(-self.shape[0] // self.rows_per_strip)
        if len(self.strips) != n_strips:
            raise RuntimeError(f"{self.path}: {len(self.strips)} strips written of {n_strips}")
        with self.path.open("r+b") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() % 2:
                f.write(b"\0")  # IFDs start on a word boundary
            ifd_at = f.tell()
            f.write(self._ifd(ifd_at))
            f.seek(0)
            f.write(self._header(ifd_at))

    # -- encoding ---------------------------------------------------------------------------

    def _header(self, ifd_at: int) -> bytes:
        if self.big:
            return b"II" + struct.pack("<HHHQ", 43, 8, 0, ifd_at)
        return b"II" + struct.pack("<HI", 42, ifd_at)

    def _ifd(self, at: int) -> bytes:
        h, w = self.shape
        offsets = [o for o, _ in self.strips]
        counts = [n for _, n in self.strips]
        big = self.big
        long_type, long_fmt = (16, "Q") if big else (4, "I")
        entries: list[tuple[int, int, str, Sequence[int]]] = [
            (256, 4, "I", [w]),
            (257, 4, "I", [h]),
            (258, 3, "H", [self.dtype.itemsize * 8]),
            (259, 3, "H", [COMPRESSIONS[self.compression]]),
            (262, 3, "H", [1]),  # min-is-black
            (273, long_type, long_fmt, offsets),
            (277, 3, "H", [1]),
            (278, 4, "I", [self.rows_per_strip]),
            (279, long_type, long_fmt, counts),
            (284, 3, "H", [1]),
            (339, 3, "H", [_SAMPLE_FORMAT[self.dtype.kind]]),
        ]
        count_fmt, entry_fmt, inline, next_fmt = (
            ("<Q", "<HHQ", 8, "<Q") if big else ("<H", "<HHI", 4, "<I")
        )
        entry_size = struct.calcsize(entry_fmt) + inline
        size = struct.calcsize(count_fmt) + len(entries) * entry_size + struct.calcsize(next_fmt)
        out = bytearray(struct.pack(count_fmt, len(entries)))
        extra = bytearray()
        extra_at = at + size  # values too long to sit in their entry follow the IFD
        body = bytearray()
        for tag, typ, fmt, values in entries:
            packed = struct.pack(f"<{len(values)}{fmt}", *values)
            body += struct.pack(entry_fmt, tag, typ, len(values))
            if len(packed) <= inline:
                body += packed.ljust(inline, b"\0")
            else:
                body += struct.pack("<" + ("Q" if big else "I"), extra_at + len(extra))
                extra += packed
                if len(extra) % 2:
                    extra += b"\0"
        out += body
        out += struct.pack(next_fmt, 0)
        return bytes(out + extra)


__all__ = ["COMPRESSIONS", "StripTiff", "encode_strip"]
