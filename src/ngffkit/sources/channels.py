"""Several inputs as the channels (and time points) of one image: a stack along new axes.

``ngff convert dapi/ gfp/ rfp/ OUT`` opens each input as usual and presents them as one
source with a new ``c`` axis (:func:`open_channels`); a file-name pattern without ``{z}``
stacks one z-stack per (t, c) the same way (``sources/pattern.py``). The parts must agree
in shape, dtype and axes; a mismatch names both inputs with their shapes and dtypes.
Reading a box reads, for each index along the new axes, the same box of that part, so a
brick never holds more than the planner asked for.

The new axes take their place in t,c,z,y,x order; a part that already has one of them
(an RGB folder has ``c``) is refused, since stacking it would need an axis OME-Zarr has
not got.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ngffkit.errors import InputError, OptionError
from ngffkit.metadata.models import ChannelInfo
from ngffkit.sources.base import (
    Box,
    ReadCost,
    SourceBase,
    SourceKind,
    SourceSpec,
    spatial_slice_bytes,
)

CANONICAL = ("t", "c", "z", "y", "x")


def _describe(source: SourceBase) -> str:
    return f"{','.join(source.axes)} {'×'.join(map(str, source.shape))} {source.dtype.name}"


def _voxel(source: SourceBase) -> str:
    sizes = source.voxel_size or {}
    text = " × ".join(f"{a} {sizes[a]:g}" for a in "zyx" if a in sizes) or "no voxel size"
    return text + (f" {source.unit}" if source.unit else "")


class StackedSource(SourceBase):
    """Parts of equal shape, dtype and axes stacked along new axes (``t`` and/or ``c``).

    ``parts`` is row-major over ``lead_shape`` (the extents of ``lead_axes``); a ``None``
    part (a gap the user allowed) reads as zeros.
    """

    def __init__(
        self,
        kind: SourceKind,
        parts: Sequence[SourceBase | None],
        lead_axes: tuple[str, ...],
        lead_shape: tuple[int, ...],
        *,
        names: Sequence[str | None] = (),
        describe: Callable[[int], str] | None = None,
    ) -> None:
        self.kind = kind
        self._parts = list(parts)
        present = [p for p in self._parts if p is not None]
        if not present:
            raise InputError("nothing to stack: every part is missing")
        if len(self._parts) != math.prod(lead_shape):
            raise InputError(f"{len(self._parts)} parts do not fill {lead_shape}")
        first = present[0]
        where = describe or (lambda i: str(getattr(self._parts[i], "path", f"input {i + 1}")))
        first_index = self._parts.index(first)
        for i, part in enumerate(self._parts):
            if part is None:
                continue
            if (part.shape, part.dtype, part.axes) != (first.shape, first.dtype, first.axes):
                raise InputError(
                    f"{where(i)} is {_describe(part)} but {where(first_index)} is "
                    f"{_describe(first)}; every channel (and time point) must have the same "
                    "shape, axes and dtype. Crop, cast or re-export the odd one."
                )
        taken = [a for a in lead_axes if a in first.axes]
        if taken:
            raise InputError(
                f"{where(first_index)} already has a {taken[0]} axis ({_describe(first)}); "
                f"stacking such inputs along {taken[0]} would need an axis OME-Zarr has not "
                f"got. Split it, or convert the inputs one by one."
            )
        names_all = set(lead_axes) | set(first.axes)
        if not names_all <= set(CANONICAL):
            raise InputError(f"cannot place axes {sorted(names_all)} in t,c,z,y,x order")
        self.axes = tuple(a for a in CANONICAL if a in names_all)
        size = dict(zip(first.axes, first.shape, strict=True))
        size.update(zip(lead_axes, lead_shape, strict=True))
        self.shape = tuple(size[a] for a in self.axes)
        self.dtype = first.dtype
        self.lead_axes, self.lead_shape = lead_axes, lead_shape
        self._part_axes = first.axes
        self.voxel_size, self.unit, self.origin = first.voxel_size, first.unit, first.origin
        # Inputs that disagree on their voxel size leave it unknown (the run then warns
        # that none was found, and --voxel-size/--unit state it), never the first one's.
        disagree = next(
            (p for p in present if (p.voxel_size, p.unit) != (first.voxel_size, first.unit)),
            None,
        )
        differ = ""
        if disagree is not None:
            self.voxel_size, self.unit = None, None
            differ = (
                f" (voxel sizes differ: {where(self._parts.index(disagree))} says "
                f"{_voxel(disagree)}, {where(first_index)} {_voxel(first)})"
            )
        self.time_step, self.time_unit = first.time_step, first.time_unit
        if "c" in lead_axes:
            n_c = lead_shape[lead_axes.index("c")]
            given = list(names) or [None] * n_c
            self.channels = tuple(ChannelInfo(label=n) for n in given)
        else:
            self.channels = first.channels
        cost = first.cost
        self.cost = ReadCost(
            window_cheap=cost.window_cheap,
            rows_per_block=cost.rows_per_block,
            bytes_per_slice=spatial_slice_bytes(self.shape, self.axes, self.dtype),
        )
        along = ",".join(lead_axes) or "nothing"
        self.input_axes = (
            f"{len(present)} input(s) of {_describe(first)} stacked along {along}; "
            f"the first: {first.input_axes or where(first_index)}{differ}"
        )

    def _read_into(self, box: Box, out: np.ndarray[Any, Any]) -> None:
        by_name = dict(zip(self.axes, box, strict=True))
        part_box = tuple(by_name[a] for a in self._part_axes)
        lead = [by_name[a] for a in self.lead_axes]
        pos = [self.axes.index(a) for a in self.lead_axes]
        for idx in np.ndindex(*[s.stop - s.start for s in lead]):
            absolute = tuple(i + s.start for i, s in zip(idx, lead, strict=True))
            flat = int(np.ravel_multi_index(absolute, self.lead_shape)) if absolute else 0
            part = self._parts[flat]
            if part is None:
                continue  # a gap: out is already the fill value (zero)
            where: list[Any] = [slice(None)] * len(self.axes)
            for p, i in zip(pos, idx, strict=True):
                where[p] = i
            out[tuple(where)] = part.read(part_box)

    def check_all(self) -> None:
        """Check every part (folders read every slice's header)."""
        for part in self._parts:
            if part is not None:
                part.check_all()

    def spec(self) -> SourceSpec:
        """Reopens every part from its own spec."""
        specs = tuple(p.spec() for p in self._parts if p is not None)
        return SourceSpec(
            kind=self.kind,
            path=specs[0].path,
            parts=specs,
            shape=self.shape,
            dtype=self.dtype.str,
        )

    def close(self) -> None:
        """Close every part."""
        for part in self._parts:
            if part is not None:
                part.close()


def open_channels(
    inputs: Sequence[str | os.PathLike[str] | SourceSpec],
    *,
    opener: Callable[[str | os.PathLike[str] | SourceSpec], SourceBase],
) -> StackedSource:
    """Open each input with ``opener`` and stack them along c, in the order given; each
    channel is named after its input's file or folder (``--channel-names`` replaces them)."""
    parts: list[SourceBase] = []
    try:
        for item in inputs:
            parts.append(opener(item))
        names = [_default_name(p) for p in parts]
        return StackedSource("channels", parts, ("c",), (len(parts),), names=names)
    except BaseException:
        for part in parts:
            part.close()
        raise


def open_inputs(
    input: str | os.PathLike[str] | SourceSpec | Sequence[str | os.PathLike[str]],
    *,
    pattern: str | None = None,
    input_format: str | None = None,
    allow_gaps: bool = False,
    **options: Any,
) -> SourceBase:
    """What ``convert`` reads: one input, several inputs as channels, or a folder read
    through a file-name ``pattern``; ``options`` go to :func:`open_source` (raw inputs)."""
    from ngffkit.sources.detect import open_source

    many = not isinstance(input, (str, os.PathLike, SourceSpec))
    if pattern is not None:
        if not isinstance(input, (str, os.PathLike)):
            raise OptionError("pattern", "reads one folder; give the folder as the only input")
        if input_format is not None:
            raise OptionError("input_format", "[[pattern]] reads TIFF files; leave it out")
        from ngffkit.sources.pattern import open_pattern

        return open_pattern(input, pattern, allow_gaps=allow_gaps)
    if not many:
        return open_source(
            input,  # type: ignore[arg-type]
            input_format=input_format,
            allow_gaps=allow_gaps,
            **options,
        )
    items = list(input)  # type: ignore[arg-type]
    if len(items) == 1:
        return open_inputs(items[0], input_format=input_format, allow_gaps=allow_gaps, **options)
    if not items:
        raise InputError("no input given")
    return open_channels(
        items,
        opener=lambda item: open_source(
            item, input_format=input_format, allow_gaps=allow_gaps, **options
        ),
    )


def _default_name(part: SourceBase) -> str:
    """A channel named after its input: ``dapi/`` -> ``dapi``, ``gfp.ome.tif`` -> ``gfp``."""
    path = str(getattr(part, "path", "") or part.spec().path).rstrip("/")
    name = os.path.basename(path)
    for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".zarr", ".n5", ".h5"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


__all__ = ["StackedSource", "open_channels", "open_inputs"]
