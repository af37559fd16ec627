"""What Neuroglancer should show: from opened OME-Zarr images to a viewer state (JSON).

Two steps, so that the state itself is a pure function and testable without a browser:

- :func:`describe_image` reads what the state needs from an opened :class:`~ngffkit.Image`:
  axes, units, voxel size, omero channels, label colours, and a contrast range per channel —
  the omero window when there is one, else percentiles measured on a coarse level (the only
  I/O here, bounded by :data:`SAMPLE_VOXELS`).
- :func:`build_state` turns those descriptions into Neuroglancer's JSON state: one image
  layer per dataset (one per channel, additive, when there is a channel axis), one
  segmentation layer per label image, physical dimensions, the position at the first
  dataset's centre and a zoom that fits it.

Neuroglancer (2.41.2) reads OME axes, scales and translations from the data itself; the
state only names global dimensions that agree with them (a ``channel`` axis becomes the
layer-local dimension ``c'``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ngffkit.errors import InputError, OptionError
from ngffkit.image import Image
from ngffkit.metadata.units import to_si

Layout = Literal["xy", "4panel", "3d"]
LAYOUTS: tuple[str, ...] = ("xy", "4panel", "3d")

# Percentiles are measured on at most this many voxels of the coarsest level (16 MiB of uint8).
SAMPLE_VOXELS = 1 << 24
PERCENTILES = (0.5, 99.5)
# Screen pixels the longer in-plane side of the first dataset should span at start.
FIT_PIXELS = 400

# Neuroglancer's data types (others render nothing; see the reference notes §6.2).
NG_IMAGE_DTYPES = frozenset({"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32"})
NG_LABEL_DTYPES = frozenset({"uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32"})


@dataclass(frozen=True)
class ViewAxis:
    name: str
    type: str | None
    unit: str | None


@dataclass(frozen=True)
class ViewChannel:
    """One channel's display: label, colour (``#rrggbb``), contrast range, shown or not."""

    label: str
    color: str
    contrast: tuple[float, float]
    visible: bool = True


@dataclass(frozen=True)
class ViewLabels:
    """A label image shown as a segmentation layer."""

    name: str
    source: str
    colors: dict[int, str] = field(default_factory=dict)  # label value → "#rrggbb"
    dtype: str = "uint32"


@dataclass(frozen=True)
class ViewImage:
    """What the state needs to know about one image (see :func:`describe_image`)."""

    name: str
    source: str  # Neuroglancer data source URL, e.g. zarr3://http://127.0.0.1:8000/img.zarr
    axes: tuple[ViewAxis, ...]
    shape: tuple[int, ...]  # level 0
    scale: tuple[float, ...]  # level 0 voxel size per axis, in the axis's unit
    translation: tuple[float, ...]
    dtype: str
    channels: tuple[ViewChannel, ...]  # one per channel; one entry when there is no channel axis
    labels: tuple[ViewLabels, ...] = ()

    @property
    def channel_axis(self) -> int | None:
        for i, axis in enumerate(self.axes):
            if axis.type == "channel":
                return i
        return None


# --------------------------------------------------------------------------- reading images


def _sample(image: Image) -> np.ndarray:
    """A bounded, central read of the coarsest level (first time point)."""
    level = image.levels[-1]
    starts, sizes = [], []
    budget = SAMPLE_VOXELS
    channel = next((i for i, a in enumerate(image.axes) if a.type == "channel"), None)
    # Non-space axes first: all channels, one time point.
    for i, axis in enumerate(image.axes):
        extent = level.shape[i]
        size = extent if i == channel else (1 if axis.type == "time" else extent)
        starts.append(0)
        sizes.append(size)
    space = [i for i, a in enumerate(image.axes) if a.type not in ("time", "channel")]
    fixed = math.prod(s for i, s in enumerate(sizes) if i not in space)
    while math.prod(sizes[i] for i in space) * fixed > budget:
        largest = max(space, key=lambda i: sizes[i])
        sizes[largest] = max(1, sizes[largest] // 2)
    for i in space:
        starts[i] = (level.shape[i] - sizes[i]) // 2
    return level.read(starts, sizes)


def measure_contrast(image: Image) -> list[tuple[float, float]]:
    """Per-channel (low, high) display range from percentiles of a coarse level."""
    data = _sample(image)
    channel = next((i for i, a in enumerate(image.axes) if a.type == "channel"), None)
    planes = (
        [data]
        if channel is None
        else [np.take(data, c, axis=channel) for c in range(data.shape[channel])]
    )
    out = []
    for plane in planes:
        values = plane[np.isfinite(plane)] if plane.dtype.kind == "f" else plane.ravel()
        if values.size == 0:
            out.append((0.0, 1.0))
            continue
        lo, hi = (float(v) for v in np.percentile(values, PERCENTILES))
        if not hi > lo:
            hi = lo + (1.0 if plane.dtype.kind in "iu" else max(abs(lo) * 1e-3, 1e-6))
        out.append((lo, hi))
    return out


def _hex(color: str) -> str:
    return "#" + color.lower().lstrip("#")


def describe_image(
    image: Image,
    source: str,
    *,
    name: str | None = None,
    labels: Sequence[ViewLabels] = (),
) -> ViewImage:
    """Describe ``image`` (to be shown from ``source``) for :func:`build_state`.

    Contrast comes from the omero window of each channel when the metadata has one for every
    channel, else from percentiles of the coarsest level.
    """
    axes = tuple(ViewAxis(a.name, a.type, a.unit) for a in image.axes)
    channel_axis = next((i for i, a in enumerate(axes) if a.type == "channel"), None)
    count = image.shape[channel_axis] if channel_axis is not None else 1
    omero = image.omero.channels if image.omero is not None else ()
    use_omero = len(omero) == count
    measured = None if use_omero else measure_contrast(image)
    channels = []
    for c in range(count):
        if use_omero:
            ch = omero[c]
            contrast = (float(ch.window.start), float(ch.window.end))
            if not contrast[1] > contrast[0]:
                contrast = (contrast[0], contrast[0] + 1.0)
            channels.append(
                ViewChannel(
                    ch.label or f"c{c}",
                    _hex(ch.color),
                    contrast,
                    ch.active is not False,
                )
            )
        else:
            assert measured is not None
            channels.append(
                ViewChannel(f"c{c}", _DEFAULT_COLORS[c % len(_DEFAULT_COLORS)], measured[c])
            )
    level0 = image.levels[0]
    return ViewImage(
        name=name or image.name or image.location.name,
        source=source,
        axes=axes,
        shape=tuple(image.shape),
        scale=tuple(level0.scale),
        translation=tuple(level0.translation),
        dtype=str(image.dtype),
        channels=tuple(channels),
        labels=tuple(labels),
    )


def describe_labels(label_image: Image, source: str, name: str) -> ViewLabels:
    """The segmentation layer of one label image, with its ``image-label`` colours."""
    colors: dict[int, str] = {}
    meta = label_image.image_label
    for entry in (meta.colors or ()) if meta is not None else ():
        if entry.rgba is not None and float(entry.label_value).is_integer():
            r, g, b, _a = entry.rgba
            colors[int(entry.label_value)] = f"#{r:02x}{g:02x}{b:02x}"
    return ViewLabels(name, source, colors, str(label_image.dtype))


_DEFAULT_COLORS = ("#ff0000", "#00ff00", "#0000ff", "#ff00ff", "#00ffff", "#ffff00")

# --------------------------------------------------------------------------- the state

_GRAY_SHADER = "#uicontrol invlerp normalized\nvoid main() {\n  emitGrayscale(normalized());\n}\n"
_COLOR_SHADER = (
    "#uicontrol invlerp normalized\n"
    '#uicontrol vec3 color color(default="#ffffff")\n'
    "void main() {\n  emitRGB(color * normalized());\n}\n"
)


def _display_order(image: ViewImage) -> list[int]:
    """Axis indices as Neuroglancer's panels want them: space axes fastest first (x, y, z —
    its xy panel shows the first two), then time and other non-channel axes."""
    space = [i for i, a in enumerate(image.axes) if a.type not in ("time", "channel")]
    other = [i for i, a in enumerate(image.axes) if a.type == "time"]
    return space[::-1] + other


def _dimensions(image: ViewImage) -> dict[str, list[Any]]:
    dims: dict[str, list[Any]] = {}
    for i in _display_order(image):
        factor, base = to_si(image.axes[i].unit)
        dims[image.axes[i].name] = [image.scale[i] * factor, base]
    return dims


def _centre(image: ViewImage) -> list[float]:
    """The volume's centre in voxels of ``_dimensions`` (time: the first point)."""
    out = []
    for i in _display_order(image):
        offset = image.translation[i] / image.scale[i]
        out.append(offset + (0.5 if image.axes[i].type == "time" else image.shape[i] / 2))
    return out


def notes_for(images: Sequence[ViewImage]) -> list[str]:
    """Things the user should know: data types Neuroglancer cannot show."""
    notes = []
    for image in images:
        if image.dtype not in NG_IMAGE_DTYPES:
            notes.append(
                f"{image.name}: Neuroglancer cannot display {image.dtype} images; convert it to "
                "float32 or an integer type of at most 32 bits to see it."
            )
        for labels in image.labels:
            if labels.dtype not in NG_LABEL_DTYPES:
                notes.append(
                    f"{image.name}/{labels.name}: Neuroglancer cannot display {labels.dtype} "
                    "labels; use uint32 or uint64."
                )
    return notes


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate = f"{name} ({n})"
        n += 1
    taken.add(candidate)
    return candidate


def build_state(images: Sequence[ViewImage], *, layout: str = "4panel") -> dict[str, Any]:
    """The Neuroglancer JSON state showing ``images`` (the first one sets the view)."""
    if not images:
        raise InputError("build_state needs at least one image")
    if layout not in LAYOUTS:
        raise OptionError("layout", f"{layout!r} is not one of {', '.join(LAYOUTS)}")
    first = images[0]
    dims: dict[str, list[Any]] = {}
    for image in images:
        for name, value in _dimensions(image).items():
            dims.setdefault(name, value)
    centre = dict(zip(_dimensions(first), _centre(first), strict=True))
    position = [centre.get(name, 0.5) for name in dims]
    in_plane = [
        size
        for axis, size in zip(first.axes, first.shape, strict=True)
        if axis.type not in ("channel", "time")
    ][-2:]
    extent = max(in_plane) if in_plane else 1
    layers: list[dict[str, Any]] = []
    taken: set[str] = set()
    for image in images:
        if image.channel_axis is None or len(image.channels) == 1:
            channel = image.channels[0]
            layer: dict[str, Any] = {
                "type": "image",
                "name": _unique(image.name, taken),
                "source": image.source,
                "shader": _GRAY_SHADER,
                "shaderControls": {"normalized": {"range": list(channel.contrast)}},
            }
            if image.channel_axis is not None:
                layer["localPosition"] = [0.5]
            layers.append(layer)
        else:
            for c, channel in enumerate(image.channels):
                layers.append(
                    {
                        "type": "image",
                        "name": _unique(f"{image.name} {channel.label}", taken),
                        "source": image.source,
                        "localPosition": [c + 0.5],
                        "shader": _COLOR_SHADER,
                        "shaderControls": {
                            "normalized": {"range": list(channel.contrast)},
                            "color": channel.color,
                        },
                        "blend": "additive",
                        "visible": channel.visible,
                    }
                )
        for labels in image.labels:
            seg: dict[str, Any] = {
                "type": "segmentation",
                "name": _unique(f"{image.name} {labels.name}", taken),
                "source": labels.source,
            }
            if labels.colors:
                seg["segmentColors"] = {str(k): v for k, v in sorted(labels.colors.items())}
            layers.append(seg)
    return {
        "dimensions": dims,
        "position": position,
        "crossSectionScale": max(extent / FIT_PIXELS, 1e-3),
        "projectionScale": max(extent * 2.0, 1.0),
        "layers": layers,
        "layout": layout,
    }


__all__ = [
    "LAYOUTS",
    "ViewAxis",
    "ViewChannel",
    "ViewImage",
    "ViewLabels",
    "build_state",
    "describe_image",
    "describe_labels",
    "measure_contrast",
    "notes_for",
]
