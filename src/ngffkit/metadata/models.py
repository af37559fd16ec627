"""Frozen pydantic models of OME-Zarr 0.4 / 0.5 image metadata.

The models hold the *content* of the metadata, independent of where a version keeps it
(0.4: ``.zattrs`` top level with a ``version`` per multiscale; 0.5: ``zarr.json``
``attributes.ome`` with one ``ome.version``); :mod:`ngffkit.metadata.io` moves between the two.

Every MUST rule of the spec is one validator with a docstring quoting the rule. SHOULD rules
are not enforced here (see :func:`ngffkit.metadata.io.recommendations`) so that reading stays
lenient. Unknown keys are kept (``extra="allow"``) and written back unchanged.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

AXIS_TYPES_ORDER = {"time": 0, "channel": 1, "space": 2}
# The axis type a bare name implies: the one table (readers filling in a missing type,
# writers making axes from names, and every "is this axis spatial" by name).
WELL_KNOWN_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}


def default_axis_type(name: str) -> str:
    """The type of an axis known only by name: t time, c channel, anything else space."""
    return WELL_KNOWN_TYPES.get(name, "space")


def is_space_name(name: str) -> bool:
    """Whether an axis known only by name is a space axis (where an :class:`Axis` is at
    hand, its ``type`` says)."""
    return default_axis_type(name) == "space"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)


class Axis(_Model):
    """One dimension: its name, type (space, time, channel or custom) and unit."""

    name: str
    type: str | None = None
    unit: str | None = None

    @field_validator("name")
    @classmethod
    def _name_not_empty(cls, value: str) -> str:
        """Axis ``name`` is required and must be a non-empty string."""
        if not value:
            raise ValueError("axis name must not be empty")
        return value


class ScaleTransform(_Model):
    type: Literal["scale"]
    scale: tuple[float, ...]

    @field_validator("scale")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        """Scale factors are physical sizes per voxel: they must be positive."""
        if any(not v > 0 for v in value):
            raise ValueError(f"scale values must be positive, got {list(value)}")
        return value


class TranslationTransform(_Model):
    type: Literal["translation"]
    translation: tuple[float, ...]


class IdentityTransform(_Model):
    type: Literal["identity"]


Transform = Annotated[
    ScaleTransform | TranslationTransform | IdentityTransform, Field(discriminator="type")
]


def _check_transform_list(
    transforms: tuple[ScaleTransform | TranslationTransform | IdentityTransform, ...],
    where: str,
) -> None:
    """Exactly one scale, optionally followed by exactly one translation (spec 0.4/0.5)."""
    kinds = [t.type for t in transforms]
    if kinds not in (["scale"], ["scale", "translation"]):
        raise ValueError(
            f"{where} must be [scale] or [scale, translation], got {kinds or 'nothing'}"
        )


class Dataset(_Model):
    """One resolution level: its path in the group and its transformations."""

    path: str
    coordinateTransformations: tuple[Transform, ...]

    @field_validator("path")
    @classmethod
    def _path_relative(cls, value: str) -> str:
        """``path`` is a relative key inside the image group."""
        if not value or value.startswith("/") or ".." in value.split("/"):
            raise ValueError(f"dataset path must be a relative key inside the group, got {value!r}")
        return value

    @model_validator(mode="after")
    def _scale_then_translation(self) -> Dataset:
        """Each dataset MUST have exactly one scale and MAY have one translation after it."""
        _check_transform_list(self.coordinateTransformations, "coordinateTransformations")
        return self

    @property
    def scale(self) -> tuple[float, ...]:
        first = self.coordinateTransformations[0]
        assert isinstance(first, ScaleTransform)
        return first.scale

    @property
    def translation(self) -> tuple[float, ...]:
        for transform in self.coordinateTransformations:
            if isinstance(transform, TranslationTransform):
                return transform.translation
        return tuple(0.0 for _ in self.scale)


class Multiscale(_Model):
    """One ``multiscales`` entry: the axes and the levels, finest first."""

    axes: tuple[Axis, ...]
    datasets: tuple[Dataset, ...]
    coordinateTransformations: tuple[Transform, ...] | None = None
    name: str | None = None
    type: str | None = None
    metadata: dict[str, Any] | None = None
    version: str | None = None

    @model_validator(mode="after")
    def _axes_count(self) -> Multiscale:
        """The number of axes MUST be 2 to 5."""
        if not 2 <= len(self.axes) <= 5:
            raise ValueError(f"Got {len(self.axes)} axes, but there must be 2 to 5")
        return self

    @model_validator(mode="after")
    def _axes_unique(self) -> Multiscale:
        """Axis names MUST be unique."""
        names = [a.name for a in self.axes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"axis names must be unique, but {dupes} appear more than once")
        return self

    @model_validator(mode="after")
    def _axes_types(self) -> Multiscale:
        """2 or 3 axes MUST be of type space; at most one time and one channel/custom axis."""
        types = [a.type for a in self.axes]
        n_space = types.count("space")
        if not 2 <= n_space <= 3:
            raise ValueError(f"Got {n_space} space axes, but there must be 2 or 3")
        if types.count("time") > 1:
            raise ValueError("there must be at most one time axis")
        others = [t for t in types if t not in ("space", "time")]
        if len(others) > 1:
            raise ValueError(
                f"there must be at most one channel or custom axis, got types {others}"
            )
        return self

    @model_validator(mode="after")
    def _axes_order(self) -> Multiscale:
        """Axes MUST be ordered time first, then channel (or custom), then space."""
        ranks = [AXIS_TYPES_ORDER.get(a.type or "", 1) for a in self.axes]
        if ranks != sorted(ranks):
            order = ", ".join(f"{a.name} ({a.type})" for a in self.axes)
            raise ValueError(
                f"axes must be ordered time, then channel/custom, then space; got {order}"
            )
        return self

    @model_validator(mode="after")
    def _datasets_present(self) -> Multiscale:
        """There MUST be at least one dataset (level)."""
        if not self.datasets:
            raise ValueError("datasets must list at least one level")
        return self

    @model_validator(mode="after")
    def _lengths_match(self) -> Multiscale:
        """Every scale and translation vector MUST have one entry per axis."""
        n = len(self.axes)
        for i, dataset in enumerate(self.datasets):
            for transform in dataset.coordinateTransformations:
                values = getattr(transform, transform.type, None)
                if values is not None and len(values) != n:
                    raise ValueError(
                        f"datasets[{i}] ({dataset.path!r}) {transform.type} has "
                        f"{len(values)} values, but there are {n} axes"
                    )
        for transform in self.coordinateTransformations or ():
            values = getattr(transform, transform.type, None)
            if values is not None and len(values) != n:
                raise ValueError(
                    f"top-level coordinateTransformations {transform.type} has {len(values)} "
                    f"values, but there are {n} axes"
                )
        return self

    @model_validator(mode="after")
    def _top_level_transforms(self) -> Multiscale:
        """A top-level transformation list follows the dataset rules (identity also allowed)."""
        if self.coordinateTransformations:
            kinds = [t.type for t in self.coordinateTransformations]
            if kinds != ["identity"]:
                _check_transform_list(self.coordinateTransformations, "top-level transforms")
        return self

    @model_validator(mode="after")
    def _paths_unique(self) -> Multiscale:
        """Dataset paths name distinct arrays."""
        paths = [d.path for d in self.datasets]
        if len(set(paths)) != len(paths):
            raise ValueError(f"dataset paths must be distinct, got {paths}")
        return self

    @property
    def axis_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    def global_scale(self) -> tuple[float, ...]:
        """The top-level scale (ones when absent)."""
        for transform in self.coordinateTransformations or ():
            if isinstance(transform, ScaleTransform):
                return transform.scale
        return tuple(1.0 for _ in self.axes)

    def global_translation(self) -> tuple[float, ...]:
        for transform in self.coordinateTransformations or ():
            if isinstance(transform, TranslationTransform):
                return transform.translation
        return tuple(0.0 for _ in self.axes)


_COLOR = re.compile(r"^[0-9a-fA-F]{6}$")


class Window(_Model):
    start: float
    end: float
    min: float
    max: float


class Channel(_Model):
    """An omero channel: display color and contrast window."""

    color: str
    window: Window
    label: str | None = None
    active: bool | None = None
    family: str | None = None
    coefficient: float | None = None
    inverted: bool | None = None

    @field_validator("color")
    @classmethod
    def _hex_color(cls, value: str) -> str:
        """``color`` MUST be an RGB hex string of six digits."""
        if not _COLOR.match(value):
            raise ValueError(f"color must be six hex digits like 'FF00FF', got {value!r}")
        return value


class ChannelInfo(BaseModel):
    """What an input says about one channel before any data is read: its name and colour.

    Not spec metadata: the writer turns it into the ``omero`` block (with a window measured
    on the written data). ``color`` is six hex digits or ``None`` (the writer picks one).
    """

    model_config = ConfigDict(frozen=True)

    label: str | None = None
    color: str | None = None


class Omero(_Model):
    """Transitional ``omero`` rendering metadata."""

    channels: tuple[Channel, ...]
    id: int | None = None
    name: str | None = None
    version: str | None = None
    rdefs: dict[str, Any] | None = None


class LabelColor(_Model):
    label_value: int | float = Field(alias="label-value")
    rgba: tuple[int, int, int, int] | None = None

    @field_validator("rgba")
    @classmethod
    def _rgba_range(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        """``rgba`` holds four integers from 0 to 255."""
        if value is not None and any(not 0 <= v <= 255 for v in value):
            raise ValueError(f"rgba values must be 0-255, got {list(value)}")
        return value


class LabelProperty(_Model):
    label_value: int | float = Field(alias="label-value")


class LabelSource(_Model):
    image: str | None = None


class ImageLabel(_Model):
    """``image-label``: what a label image's values mean and how to color them."""

    version: str | None = None
    colors: tuple[LabelColor, ...] | None = None
    properties: tuple[LabelProperty, ...] | None = None
    source: LabelSource | None = None

    @model_validator(mode="after")
    def _unique_colors(self) -> ImageLabel:
        """``label-value`` entries in ``colors`` MUST be unique."""
        values = [c.label_value for c in self.colors or ()]
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            raise ValueError(f"colors list label-value {dupes} more than once")
        return self


class OmeAttributes(_Model):
    """The OME metadata of one group, whatever the version that stored it."""

    version: str
    multiscales: tuple[Multiscale, ...] | None = None
    omero: Omero | None = None
    labels: tuple[str, ...] | None = None
    image_label: ImageLabel | None = Field(default=None, alias="image-label")

    @field_validator("multiscales")
    @classmethod
    def _not_empty(cls, value: tuple[Multiscale, ...] | None) -> tuple[Multiscale, ...] | None:
        """``multiscales``, when present, lists at least one multiscale image."""
        if value is not None and not value:
            raise ValueError("multiscales must not be an empty list")
        return value


__all__ = [
    "WELL_KNOWN_TYPES",
    "Axis",
    "Channel",
    "Dataset",
    "IdentityTransform",
    "ImageLabel",
    "LabelColor",
    "LabelProperty",
    "LabelSource",
    "Multiscale",
    "OmeAttributes",
    "Omero",
    "ScaleTransform",
    "Transform",
    "TranslationTransform",
    "Window",
    "default_axis_type",
    "is_space_name",
]
