"""One multi-page TIFF, OME-TIFF or ImageJ hyperstack; pages are z.

The file's first series (tifffile's view of its pages as one N-D array) is presented in
``t,c,z,y,x`` order: axes of length 1 other than z, y, x are dropped, samples (RGB) and
OME channels become ``c``, and any other page axis (tifffile's ``Q``, ``I``) is z. Voxel
size and unit come from OME-XML ``PhysicalSize{X,Y,Z}`` (+ ``…Unit``, default µm), for
ImageJ files from the resolution tags and the ``spacing``/``unit`` metadata, else from the
baseline resolution tags in centimetres or inches (x and y only; 72/96/300 dpi, writers'
defaults, are ignored). The time step comes from OME ``TimeIncrement`` (+ unit, default
seconds) or ImageJ's ``finterval``/``tunit``; channel names and colours from OME
``Channel`` ``Name``/``Color`` or, for ImageJ hyperstacks, each channel's first slice label
and LUT.

Contiguous uncompressed series are read by window with bounded preads (cheap); others
decode per page only the strips/tiles a window touches.
"""

from __future__ import annotations

import math
import os
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ngffkit.errors import InputError, NotFoundError
from ngffkit.metadata.models import ChannelInfo
from ngffkit.metadata.units import udunits_length
from ngffkit.series import ome_color, time_unit_name
from ngffkit.sources._fileread import read_box
from ngffkit.sources._tiffio import TIFF_ERRORS, page_info, read_page_window
from ngffkit.sources.base import (
    Box,
    ReadCost,
    SourceBase,
    SourceKind,
    SourceSpec,
    box_text,
    one_unit,
    spatial_slice_bytes,
)

_AXIS_NAMES = {"T": "t", "C": "c", "S": "c", "Z": "z", "Y": "y", "X": "x"}
_Z_LIKE = set("QIPARHEVLM")  # tifffile's generic page-sequence axes
_CANONICAL = ("t", "c", "z", "y", "x")


def _canonical_axes(path: Path, axes: str, shape: tuple[int, ...]) -> list[str | None]:
    """Map each series axis to t/c/z/y/x, or ``None`` for a dropped length-1 axis."""
    names: list[str | None] = []
    for letter, n in zip(axes, shape, strict=True):
        name = _AXIS_NAMES.get(letter, "z" if letter in _Z_LIKE else None)
        if name is None or (n == 1 and name not in ("y", "x")):
            if n != 1:
                raise InputError(
                    f"{path}: axis {letter!r} of the TIFF series (axes {axes}, shape {shape}) "
                    "has no place in t,c,z,y,x. Re-save the file with t/c/z/y/x axes."
                )
            names.append(None)
        else:
            names.append(name)
    kept = [n for n in names if n is not None]
    if len(set(kept)) != len(kept) or "y" not in kept or "x" not in kept:
        raise InputError(
            f"{path}: cannot read series axes {axes} (shape {shape}) as t,c,z,y,x: "
            "expected one Y, one X and at most one each of T, C/S and Z-like axes."
        )
    return names


def _ome_pixels(xml: str) -> dict[str, Any]:
    """The first image's ``Pixels`` element of OME-XML, as tifffile parses it."""
    image: Any = tifffile.xml2dict(xml).get("OME", {}).get("Image", {})
    if isinstance(image, list):
        image = image[0]
    pixels = image.get("Pixels", {}) if isinstance(image, dict) else {}
    return pixels if isinstance(pixels, dict) else {}


def _ome_channels_and_time(
    pixels: dict[str, Any],
) -> tuple[tuple[ChannelInfo, ...], float | None, str | None]:
    """Channel names and colours (OME's signed RGBA integer as hex) and the time step and
    unit (``TimeIncrement``, default unit the second, as the OME schema says)."""
    found = pixels.get("Channel", [])
    found = found if isinstance(found, list) else [found]
    channels = tuple(
        ChannelInfo(
            label=str(c["Name"]) if c.get("Name") not in (None, "") else None,
            color=ome_color(c.get("Color")),
        )
        for c in found
        if isinstance(c, dict)
    )
    if all(c.label is None and c.color is None for c in channels):
        channels = ()
    step, unit = _time_step(pixels.get("TimeIncrement"), pixels.get("TimeIncrementUnit", "s"))
    return channels, step, unit


def _time_step(value: Any, unit: Any) -> tuple[float | None, str | None]:
    """A positive time step and its UDUNITS name, or nothing when either is unusable."""
    try:
        step = float(value)
        name = time_unit_name(str(unit))
    except (TypeError, ValueError, InputError):
        return None, None
    return (step, name) if math.isfinite(step) and step > 0 else (None, None)


def _ome_voxel_size(xml: str) -> tuple[dict[str, float] | None, str | None]:
    pixels = _ome_pixels(xml)
    sizes: dict[str, tuple[float, str | None]] = {}
    for ax in "zyx":
        value = pixels.get(f"PhysicalSize{ax.upper()}")
        if value is not None:
            # the OME schema's default unit is the micrometre
            sizes[ax] = (float(value), str(pixels.get(f"PhysicalSize{ax.upper()}Unit", "µm")))
    return one_unit(sizes)


def _imagej_voxel_size(tif: Any) -> tuple[dict[str, float] | None, str | None]:
    meta = tif.imagej_metadata or {}
    page = tif.pages.first
    sizes: dict[str, float] = {}
    for ax, tag in (("x", "XResolution"), ("y", "YResolution")):
        t = page.tags.get(tag)
        if t is not None:
            num, den = t.value
            if num and den and num != den:  # 1/1 is the "unset" default
                sizes[ax] = den / num
    if meta.get("spacing"):
        sizes["z"] = float(meta["spacing"])
    unit = udunits_length(meta.get("unit"))
    if not sizes or unit is None:
        return None, None
    return sizes, unit


#: Resolutions (per inch) that writers put by default: they say nothing about the sample.
_SCREEN_DPI = (72.0, 96.0, 300.0)


def _tag_voxel_size(tif: Any) -> tuple[dict[str, float] | None, str | None]:
    """x and y from the baseline resolution tags, when they are in centimetres or inches
    (and not a writer's screen default); a plain TIFF says nothing about z."""
    page = tif.pages.first
    unit_tag = page.tags.get("ResolutionUnit")
    per = {2: 25400.0, 3: 10000.0}.get(int(unit_tag.value) if unit_tag is not None else 1)
    if per is None:
        return None, None
    sizes: dict[str, float] = {}
    for ax, tag in (("x", "XResolution"), ("y", "YResolution")):
        t = page.tags.get(tag)
        if t is None:
            return None, None
        num, den = t.value
        if not num or not den:
            return None, None
        per_unit = num / den
        if per == 25400.0 and per_unit in _SCREEN_DPI:
            return None, None
        sizes[ax] = per / per_unit  # micrometres per pixel
    return sizes, "micrometer"


class TiffFileSource(SourceBase):
    """A single multi-page TIFF / OME-TIFF, presented as (t, c,) z, y, x."""

    kind: SourceKind = "tiff"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).resolve()
        if not self.path.exists():
            raise NotFoundError(f"{self.path}: no such file.")
        self._start(lambda: tifffile.TiffFile(self.path))

    #: Whether ``path`` is a local file (memory-mapped); remote files are read by range.
    _local = True

    def _start(self, opener: Any) -> None:
        """Open the file with ``opener()`` and read its structure."""
        try:
            self._tif = opener()
            # A source dropped unclosed (a grid's cell evicted from its cache while another
            # thread may still read it) closes its file when it is collected.
            weakref.finalize(self, self._tif.close)
            # one handle serves every thread that reads this source: seeks must not interleave
            self._lock = threading.RLock()
        except TIFF_ERRORS as exc:
            raise InputError(
                f"{self.path}: not a readable TIFF ({type(exc).__name__}: {exc})."
            ) from exc
        try:
            self._setup()
        except InputError:
            self._tif.close()
            raise
        except TIFF_ERRORS as exc:
            self._tif.close()
            raise InputError(
                f"{self.path}: cannot read the TIFF structure ({type(exc).__name__}: {exc}). "
                "The file is corrupt, truncated or uses an unsupported layout."
            ) from exc

    def _setup(self) -> None:
        tif = self._tif
        if not tif.series:
            raise InputError(f"{self.path}: the TIFF holds no image series.")
        if len(tif.series) > 1 and not tif.is_ome:
            shapes = "; ".join(
                f"{len(s.pages)} page(s) of {tuple(s.keyframe.shape)} {s.dtype}"
                for s in tif.series[:4]
            )
            raise InputError(
                f"{self.path}: pages differ in shape or dtype, so they do not form one stack "
                f"({shapes}). Every page must have the first page's shape and dtype."
            )
        series = tif.series[0]
        self._series = series
        self._series_axes = str(series.axes)
        self._series_shape = tuple(int(n) for n in series.shape)
        self._names = _canonical_axes(self.path, self._series_axes, self._series_shape)
        present = {n for n in self._names if n is not None}
        self.axes = tuple(a for a in _CANONICAL if a in present or a == "z")
        size = {n: s for n, s in zip(self._names, self._series_shape, strict=True) if n}
        self.shape = tuple(size.get(a, 1) for a in self.axes)
        self.dtype = np.dtype(series.dtype)
        self.input_axes = (
            f"TIFF series axes {self._series_axes} (shape "
            f"{'×'.join(map(str, self._series_shape))}) read as "
            + ",".join(n or "-" for n in self._names)
            + (f"; the first of {len(tif.series)} image series" if len(tif.series) > 1 else "")
        )
        keyframe = series.keyframe
        info = page_info(keyframe)
        self._npage_dims = len(keyframe.shape)
        lead = self._series_shape[: len(self._series_shape) - self._npage_dims]
        self._lead_shape = lead
        # tifffile sets dataoffset only for contiguous, uncompressed series
        self._memmap = series.dataoffset is not None
        self._dataoffset = int(series.dataoffset or 0)
        if not self._memmap and math.prod(lead) != len(series.pages):
            raise InputError(
                f"{self.path}: series of shape {self._series_shape} (axes {self._series_axes}) "
                f"does not map onto its {len(series.pages)} pages; re-save it as a plain "
                "multi-page TIFF."
            )
        self.cost = ReadCost(
            window_cheap=self._memmap or info.rows_per_block is None,
            rows_per_block=None if self._memmap else info.rows_per_block,
            bytes_per_slice=spatial_slice_bytes(self.shape, self.axes, self.dtype),
        )
        if tif.is_ome and tif.ome_metadata:
            self.voxel_size, self.unit = _ome_voxel_size(tif.ome_metadata)
            channels, self.time_step, self.time_unit = _ome_channels_and_time(
                _ome_pixels(tif.ome_metadata)
            )
            self.channels = self._fit_channels(channels)
        elif tif.is_imagej:
            self.voxel_size, self.unit = _imagej_voxel_size(tif)
            meta = tif.imagej_metadata or {}
            self.time_step, self.time_unit = _time_step(
                meta.get("finterval"), meta.get("tunit", "sec")
            )
            self.channels = self._fit_channels(self._imagej_channels(meta))
        else:
            self.voxel_size, self.unit = _tag_voxel_size(tif)

    def _fit_channels(self, channels: tuple[ChannelInfo, ...]) -> tuple[ChannelInfo, ...]:
        """The file's channel list when it has one entry per channel (samples included)."""
        count = self.shape[self.axes.index("c")] if "c" in self.axes else 1
        return channels if len(channels) == count else ()

    def _imagej_channels(self, meta: dict[str, Any]) -> tuple[ChannelInfo, ...]:
        """ImageJ keeps no channel names, but users set each channel's slice label: the
        label of the first plane of each channel (t=0, z=0), and each channel's LUT colour."""
        lead = self._lead_shape
        names = self._names[: len(lead)]
        if "c" not in names:
            return ()
        c_at = names.index("c")
        labels = meta.get("Labels")
        luts = meta.get("LUTs")
        out = []
        for c in range(lead[c_at]):
            index = [0] * len(lead)
            index[c_at] = c
            plane = int(np.ravel_multi_index(index, lead))
            label = None
            if isinstance(labels, list) and plane < len(labels) and str(labels[plane]).strip():
                label = str(labels[plane]).strip()
            color = None
            if isinstance(luts, list) and c < len(luts):
                lut = np.asarray(luts[c])
                if lut.shape[:1] == (3,):
                    color = "".join(f"{int(v):02X}" for v in lut[:, -1])
            out.append(ChannelInfo(label=label, color=color))
        return tuple(out) if any(c.label or c.color for c in out) else ()

    def _natural_box(self, box: Box) -> list[slice]:
        """The box in series-axis order (dropped axes get their single index)."""
        by_name = dict(zip(self.axes, box, strict=True))
        return [by_name[n] if n else slice(0, 1) for n in self._names]

    def _read_into(self, box: Box, out: np.ndarray[Any, Any]) -> None:
        nat = self._natural_box(box)
        try:
            if self._memmap and self._local:  # straight into out: no second brick beside it
                self._read_contiguous(nat, self._series_view(nat, out))
                return
            tmp = self._read_memmap(nat) if self._memmap else self._read_pages(nat)
        except InputError:
            raise
        except TIFF_ERRORS as exc:
            raise InputError(
                f"{self.path}: cannot read {box_text(box, self.axes)} "
                f"({type(exc).__name__}: {exc}). The file is corrupt or truncated; re-export it."
            ) from exc
        # tmp is in series-axis order; drop the length-1 axes, order as t,c,z,y,x
        kept = [i for i, n in enumerate(self._names) if n is not None]
        tmp = tmp.reshape([tmp.shape[i] for i in kept])
        names = [self._names[i] for i in kept]
        order = [names.index(a) for a in self.axes if a in names]
        out[...] = tmp.transpose(order).reshape(out.shape)

    def _series_view(self, nat: list[slice], out: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """``out`` (axes order) seen in series-axis order, ``nat``'s shape: a view."""
        kept = [i for i, n in enumerate(self._names) if n is not None]
        names = [self._names[i] for i in kept]
        order = [names.index(a) for a in self.axes if a in names]
        sizes = [nat[i].stop - nat[i].start for i in kept]
        view = out.reshape([sizes[k] for k in order]).transpose(np.argsort(order))
        return np.expand_dims(view, tuple(i for i, n in enumerate(self._names) if n is None))

    def _read_memmap(self, nat: list[slice]) -> np.ndarray[Any, Any]:
        out = np.empty([s.stop - s.start for s in nat], dtype=self.dtype)
        self._read_contiguous(nat, out)
        return out

    def _read_contiguous(self, nat: list[slice], out: np.ndarray[Any, Any]) -> None:
        series = self._series
        dtype = np.dtype(series.dtype).newbyteorder(self._tif.byteorder)
        offset = self._dataoffset
        need = offset + math.prod(self._series_shape) * dtype.itemsize
        size = os.path.getsize(self.path)
        if size < need:
            raise InputError(
                f"{self.path}: file is truncated: image data needs {need} bytes, found {size}. "
                "Re-export or re-copy the file."
            )
        read_box(self.path, offset, self._series_shape, dtype, nat, out)

    def _read_pages(self, nat: list[slice]) -> np.ndarray[Any, Any]:
        k = self._npage_dims
        lead_box, page_box = nat[: len(nat) - k], nat[len(nat) - k :]
        page_axes = self._series_axes[len(nat) - k :]
        ys = page_box[page_axes.index("Y")]
        xs = page_box[page_axes.index("X")]
        ss = page_box[page_axes.index("S")] if "S" in page_axes else None
        tmp = np.empty([s.stop - s.start for s in nat], dtype=self.dtype)
        # tmp's page part follows the series (YXS or SYX); read_page_window gives (S)YX
        to_series = [("SYX" if ss is not None else "YX").index(a) for a in page_axes]
        pages = self._series.pages
        for lead in np.ndindex(*[s.stop - s.start for s in lead_box]):
            idx = tuple(i + s.start for i, s in zip(lead, lead_box, strict=True))
            number = int(np.ravel_multi_index(idx, self._lead_shape)) if idx else 0
            with self._lock:
                page = pages[number]
            if page is None:  # a missing page in a sparse series reads as zeros
                tmp[lead] = 0
                continue
            try:
                if not isinstance(page, tifffile.TiffPage):
                    with self._lock:  # light TiffFrame -> full page (decode needs its tags)
                        page = page.aspage()
                win = read_page_window(page, self.path if self._local else None, ys, xs, self._lock)
            except TIFF_ERRORS as exc:
                where = ", ".join(
                    f"{self._names[i] or self._series_axes[i]}={v}" for i, v in enumerate(idx)
                )
                raise InputError(
                    f"{self.path}: page {number} ({where}) cannot be read "
                    f"({type(exc).__name__}: {exc}). The file is corrupt or truncated; "
                    "re-export it."
                ) from exc
            if ss is not None:
                win = win[ss]
            tmp[lead] = win.transpose(to_series)
        return tmp

    def spec(self) -> SourceSpec:
        """Return the picklable description that reopens this source elsewhere."""
        return SourceSpec(
            kind=self.kind, path=str(self.path), shape=self.shape, dtype=self.dtype.str
        )

    def close(self) -> None:
        """Close the TIFF file handle."""
        self._tif.close()
