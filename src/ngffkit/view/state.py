"""What Neuroglancer should show: from opened OME-Zarr images to a viewer state (JSON).

Two steps, so that the state itself is a pure function and testable without a browser:

- :func:`describe_image` reads what the state needs from an opened :class:`~ngffkit.Image`:
  axes, units, voxel size, omero channels, label colours, and a contrast range per channel —
  the omero window when there is one, else the same window rule measured on a bounded
  sample of the coarsest level (:mod:`ngffkit.omero`; the only I/O here).
- :func:`build_state` turns those descriptions into Neuroglancer's JSON state: one image
  layer per dataset (one per channel, additive, when there is a channel axis), one
  segmentation layer per label image, physical dimensions, the position at the first
  dataset's centre and a zoom that fits it.

Neuroglancer (2.41.2) reads OME axes, scales and translations from the data itself; the
state only names global dimensions that agree with them (a ``channel`` axis becomes the
layer-local dimension ``c'``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ngffkit.errors import InputError, OptionError
from ngffkit.image import Image
from ngffkit.metadata.units import to_si
from ngffkit.omero import measure_windows
from ngffkit.rendering import channel_colors, channel_label
from ngffkit.webknossos import layer_bounds

Layout = Literal["xy", "4panel", "3d"]
LAYOUTS: tuple[str, ...] = ("xy", "4panel", "3d")

# Screen pixels the longer in-plane side of the first dataset should span at start.
FIT_PIXELS = 400

# The data types Neuroglancer renders (others show nothing).
NG_IMAGE_DTYPES = frozenset({"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32"})
NG_LABEL_DTYPES = frozenset({"uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32"})


@dataclass(frozen=True)
class ViewAxis:
    name: str
    type: str | None
    unit: str | None


@dataclass(frozen=True)
class ViewChannel:
    """One channel's display: label, colour (``#rrggbb``), contrast range, shown or not,
    inverted (bright values dark) or not."""

    label: str
    color: str
    contrast: tuple[float, float]
    visible: bool = True
    inverted: bool = False

    @property
    def shown_range(self) -> list[float]:
        """The invlerp range: reversed for an inverted channel (Neuroglancer's way)."""
        low, high = self.contrast
        return [high, low] if self.inverted else [low, high]


@dataclass(frozen=True)
class ViewLabels:
    """A label image shown as a segmentation layer."""

    name: str
    source: str
    colors: dict[int, str] = field(default_factory=dict)  # label value → "#rrggbb"
    dtype: str = "uint32"
    visible: bool = True


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
    # (start, stop) per axis in level-0 voxels where the data fills less than the arrays
    bounds: tuple[tuple[float, float], ...] | None = None

    @property
    def channel_axis(self) -> int | None:
        for i, axis in enumerate(self.axes):
            if axis.type == "channel":
                return i
        return None


# --------------------------------------------------------------------------- reading images


def measure_contrast(image: Image, budget: int | None = None) -> list[tuple[float, float]]:
    """Per-channel (low, high) display range: the window rule of :mod:`ngffkit.rendering`
    on a bounded sample of the coarsest level (the same rule the writer's omero block uses)."""
    return [(w.start, w.end) for w in measure_windows(image, budget)]


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
    colors = channel_colors(count)
    channels = []
    for c in range(count):
        if use_omero:
            ch = omero[c]
            contrast = (float(ch.window.start), float(ch.window.end))
            if not contrast[1] > contrast[0]:
                contrast = (contrast[0], contrast[0] + 1.0)
            channels.append(
                ViewChannel(
                    ch.label or channel_label(c, count),
                    _hex(ch.color),
                    contrast,
                    ch.active is not False,
                )
            )
        else:
            assert measured is not None
            channels.append(ViewChannel(channel_label(c, count), _hex(colors[c]), measured[c]))
    level0 = image.levels[0]
    found = layer_bounds(image.location) if level0.path in ("1", "1-1-1") else None
    bounds: tuple[tuple[float, float], ...] | None = None
    if found:  # a WEBKNOSSOS layer (mag 1 first): its arrays are padded to whole shards
        bounds = tuple(
            (float(found[name][0]), float(found[name][1])) if name in found else (0.0, float(n))
            for name, n in zip((a.name.lower() for a in image.axes), image.shape, strict=True)
        )
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
        bounds=bounds,
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


# --------------------------------------------------------------------------- the state

_GRAY_SHADER = "#uicontrol invlerp normalized\nvoid main() {\n  emitGrayscale(normalized());\n}\n"
_COLOR_SHADER = (
    "#uicontrol invlerp normalized\n"
    '#uicontrol vec3 color color(default="#ffffff")\n'
    "void main() {\n  emitRGB(color * normalized());\n}\n"
)


def _display_order(image: ViewImage) -> list[int]:
    """Axis indices as Neuroglancer's panels want them: x, y, z by name (its xy panel shows
    the first two), then other space axes fastest first, then time. By name, not by stored
    position: a WEBKNOSSOS layer stores c,x,y,z, and reversing that put z-y in the xy panel."""
    space = [i for i, a in enumerate(image.axes) if a.type not in ("time", "channel")]
    named = sorted(
        (i for i in space if image.axes[i].name.lower() in _XYZ),
        key=lambda i: _XYZ.index(image.axes[i].name.lower()),
    )
    others = [i for i in space[::-1] if i not in named]
    time = [i for i, a in enumerate(image.axes) if a.type == "time"]
    return named + others + time


_XYZ = ("x", "y", "z")


def _bounds(image: ViewImage, i: int) -> tuple[float, float]:
    """Where the data lies along axis ``i`` in level-0 voxels: the whole array, or the true
    extent where the array is padded (WEBKNOSSOS layers)."""
    return image.bounds[i] if image.bounds is not None else (0.0, float(image.shape[i]))


def _dimensions(image: ViewImage) -> dict[str, list[Any]]:
    dims: dict[str, list[Any]] = {}
    for i in _display_order(image):
        factor, base = to_si(image.axes[i].unit)
        dims[image.axes[i].name] = [image.scale[i] * factor, base]
    return dims


def _centre(image: ViewImage) -> list[float]:
    """The data's centre in voxels of ``_dimensions`` (time: the first point).

    Neuroglancer puts an OME-Zarr voxel's centre at its integer coordinate (OME's
    translation is a voxel centre), so voxel ``k`` spans ``k - 0.5 .. k + 0.5``."""
    out = []
    for i in _display_order(image):
        offset = image.translation[i] / image.scale[i]
        lo, hi = _bounds(image, i)
        out.append(offset + (lo if image.axes[i].type == "time" else (lo + hi - 1) / 2))
    return out


def notes_for(images: Sequence[ViewImage], segmentations: Sequence[ViewLabels] = ()) -> list[str]:
    """Things the user should know: data types Neuroglancer cannot show."""
    notes = [
        f"{labels.name}: Neuroglancer cannot display {labels.dtype} labels; use uint32 or uint64."
        for labels in segmentations
        if labels.dtype not in NG_LABEL_DTYPES
    ]
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


def build_state(
    images: Sequence[ViewImage],
    *,
    layout: str = "4panel",
    segmentations: Sequence[ViewLabels] = (),
    position: Mapping[str, float] | None = None,
    pixel_size: float | None = None,
) -> dict[str, Any]:
    """The Neuroglancer JSON state showing ``images`` (the first one sets the view), then
    ``segmentations`` (label images shown on their own, e.g. a collection's members).

    ``position`` (physical, by axis name, in the first image's units) and ``pixel_size``
    (the physical size of a screen pixel, same unit) replace the first image's centre and
    the zoom that fits it."""
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
    for i, axis in enumerate(first.axes):
        if position is not None and axis.name in position:  # physical → voxels of `dims`
            centre[axis.name] = position[axis.name] / first.scale[i]
    where = [centre.get(name, 0.5) for name in dims]
    in_plane = [_bounds(first, i)[1] - _bounds(first, i)[0] for i in _display_order(first)[:2]]
    extent = max(in_plane) if in_plane else 1
    zoom = max(extent / FIT_PIXELS, 1e-3)
    if pixel_size is not None and _display_order(first):
        zoom = pixel_size / first.scale[_display_order(first)[0]]
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
                "shaderControls": {"normalized": {"range": channel.shown_range}},
            }
            if not channel.visible:
                layer["visible"] = False
            if channel.color != "#ffffff":  # one channel in its omero colour (e.g. a GFP scan)
                layer["shader"] = _COLOR_SHADER
                layer["shaderControls"]["color"] = channel.color
            if image.channel_axis is not None:
                layer["localPosition"] = [0]
            layers.append(layer)
        else:
            for c, channel in enumerate(image.channels):
                layers.append(
                    {
                        "type": "image",
                        "name": _unique(f"{image.name} {channel.label}", taken),
                        "source": image.source,
                        "localPosition": [c],  # voxel centres are integers (see _centre)
                        "shader": _COLOR_SHADER,
                        "shaderControls": {
                            "normalized": {"range": channel.shown_range},
                            "color": channel.color,
                        },
                        "blend": "additive",
                        "opacity": 1.0,  # additive channels at full strength, as in napari
                        "visible": channel.visible,
                    }
                )
        for labels in image.labels:
            layers.append(_segmentation(labels, _unique(f"{image.name} {labels.name}", taken)))
    for labels in segmentations:
        layers.append(_segmentation(labels, _unique(labels.name, taken)))
    return {
        "dimensions": dims,
        "position": where,
        "crossSectionScale": zoom,
        "projectionScale": max(extent * 2.0, 1.0),
        "layers": layers,
        "layout": layout,
    }


def _segmentation(labels: ViewLabels, name: str) -> dict[str, Any]:
    layer: dict[str, Any] = {"type": "segmentation", "name": name, "source": labels.source}
    if labels.colors:
        layer["segmentColors"] = {str(k): v for k, v in sorted(labels.colors.items())}
    if not labels.visible:
        layer["visible"] = False
    return layer


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
