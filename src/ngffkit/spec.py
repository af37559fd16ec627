"""The layout of a new OME-Zarr image, pure: no storage, no I/O library.

An :class:`ImageSpec` says everything about the image to be written — axes, units, dtype,
fill value, compression, and per level its path, shape, chunks, shards, scale and
translation; :func:`pyramid_spec` makes one for a pyramid. :mod:`ngffkit.writer` writes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from ngffkit.compression import DEFAULT_COMPRESSION, Compression
from ngffkit.errors import InputError
from ngffkit.grid import PerAxisValue, level_shards, per_axis
from ngffkit.kernels import level_translation
from ngffkit.metadata import (
    WRITE_VERSIONS,
    Axis,
    Dataset,
    ImageLabel,
    Multiscale,
    OmeAttributes,
    Omero,
    ScaleTransform,
    TranslationTransform,
)
from ngffkit.metadata.io import zarr_format_of
from ngffkit.metadata.models import ChannelInfo, default_axis_type
from ngffkit.metadata.units import is_known_unit, normalize_unit


@dataclass(frozen=True)
class ArrayLayout:
    """One new, empty array, as :func:`ngffkit.arrays.create_array` writes it: a level of an
    :class:`ImageSpec` (:meth:`ImageSpec.array_layout`) or a stored array re-encoded."""

    zarr_format: int
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None
    compression: Compression
    fill_value: Any
    dimension_names: tuple[str, ...]


class LevelSpec(BaseModel):
    """One level to be written.

    Attributes:
        path: the level's key in the image group (``"0"``, ``"s1"``...).
        shape: its shape, in the image's axis order.
        chunks: its chunk shape.
        shards: its shard shape, or None for unsharded arrays.
        scale: the physical size of its voxel, per axis.
        translation: the physical position of its first voxel's centre, per axis.
    """

    model_config = ConfigDict(frozen=True)

    path: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None = None
    scale: tuple[float, ...]
    translation: tuple[float, ...] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> LevelSpec:
        """Shapes, chunks, shards, scale agree in length; shards are whole chunks."""
        n = len(self.shape)
        for name in ("chunks", "scale"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"level {self.path!r}: {name} needs {n} values")
        if any(s < 0 for s in self.shape) or any(c < 1 for c in self.chunks):
            raise ValueError(f"level {self.path!r}: shape must be >= 0 and chunks >= 1")
        if self.shards is not None:
            if len(self.shards) != n:
                raise ValueError(f"level {self.path!r}: shards needs {n} values")
            for s, c in zip(self.shards, self.chunks, strict=True):
                if s < c or s % c:
                    raise ValueError(
                        f"level {self.path!r}: shard shape {self.shards} must be a whole "
                        f"multiple of the chunk shape {self.chunks}"
                    )
        if self.translation is not None and len(self.translation) != n:
            raise ValueError(f"level {self.path!r}: translation needs {n} values")
        return self


class ImageSpec(BaseModel):
    """Everything needed to create an OME-Zarr image (:func:`pyramid_spec` makes one).

    Attributes:
        version: the OME-Zarr version, ``"0.5"`` or ``"0.4"``.
        axes: the axes, in array order.
        dtype: the data type's name (``"uint16"``).
        fill_value: the value of voxels never written.
        compression: the codec of every level.
        levels: the levels, finest first (:class:`LevelSpec`).
        name: the image name in the metadata.
        method: the downsampling method recorded in the metadata.
        omero: the rendering settings (OMERO block), if any.
        channels: the channel names and colours the input gave (empty: none).
        image_label: the label-image block, for a label image.
        metadata: the multiscale's free-form ``metadata`` block.
        cast: the record of a value-changing cast (its window), if any.
        input_axes: which input dimension became which axis, in the input's words.
    """

    model_config = ConfigDict(frozen=True)

    version: str = "0.5"
    axes: tuple[Axis, ...]
    dtype: str
    fill_value: float | int = 0
    compression: Compression = Compression.parse(DEFAULT_COMPRESSION)
    levels: tuple[LevelSpec, ...]
    name: str | None = None
    method: str | None = None
    omero: Omero | None = None
    # names and colours of the channels as the input gave them (empty: none given)
    channels: tuple[ChannelInfo, ...] = ()
    image_label: ImageLabel | None = None
    metadata: dict[str, Any] | None = None
    # a value-changing cast's window, recorded so that it can be repeated and inverted
    cast: dict[str, Any] | None = None
    # which input dimension became which axis (the source's words), for `ngff info`
    input_axes: str | None = None

    @field_validator("version")
    @classmethod
    def _writable_version(cls, value: str) -> str:
        """ngffkit writes OME-Zarr 0.4 (Zarr v2) and 0.5 (Zarr v3)."""
        if value not in WRITE_VERSIONS:
            raise ValueError(f"version must be one of {WRITE_VERSIONS}, got {value!r}")
        return value

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str) -> str:
        try:
            return np.dtype(value).name
        except TypeError:
            raise ValueError(f"unknown dtype {value!r}") from None

    @model_validator(mode="after")
    def _levels_match_axes(self) -> ImageSpec:
        """Every level has one entry per axis; the metadata it implies is valid."""
        if not self.levels:
            raise ValueError("an image needs at least one level")
        for level in self.levels:
            if len(level.shape) != len(self.axes):
                raise ValueError(
                    f"level {level.path!r} has {len(level.shape)} dimensions but there are "
                    f"{len(self.axes)} axes"
                )
        if self.version == "0.4" and any(
            level.shards != level.chunks for level in self.levels if level.shards
        ):
            raise ValueError("OME-Zarr 0.4 (Zarr v2) has no sharding; drop the shards")
        if self.image_label is not None and np.dtype(self.dtype).kind not in "iu":
            raise ValueError(
                f"a label image must hold integers (uint8 ... int64), not {self.dtype}; "
                "cast the labels to an integer type"
            )
        self.multiscale()  # raises on anything the spec forbids
        return self

    @property
    def zarr_format(self) -> int:
        return zarr_format_of(self.version)

    @property
    def axis_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    def array_layout(self, level: LevelSpec) -> ArrayLayout:
        """The array of ``level`` (one of this spec's levels)."""
        return ArrayLayout(
            zarr_format=self.zarr_format,
            shape=level.shape,
            dtype=np.dtype(self.dtype),
            chunks=level.chunks,
            shards=level.shards,
            compression=self.compression,
            fill_value=self.fill_value,
            dimension_names=self.axis_names,
        )

    def multiscale(self) -> Multiscale:
        datasets = []
        for level in self.levels:
            transforms: list[ScaleTransform | TranslationTransform] = [
                ScaleTransform(type="scale", scale=level.scale)
            ]
            if level.translation is not None and any(level.translation):
                transforms.append(
                    TranslationTransform(type="translation", translation=level.translation)
                )
            datasets.append(Dataset(path=level.path, coordinateTransformations=tuple(transforms)))
        return Multiscale(
            axes=self.axes,
            datasets=tuple(datasets),
            name=self.name,
            type=self.method,
            metadata=self.metadata
            if self.metadata is not None
            else {
                "description": f"{self.method or 'unknown'} downsampling",
                "method": f"ngffkit.kernels.{self.method}" if self.method else "ngffkit",
                "version": _ngffkit_version(),
                **({"cast": self.cast} if self.cast else {}),
                **({"input_axes": self.input_axes} if self.input_axes else {}),
            },
        )

    def attributes(self) -> OmeAttributes:
        return OmeAttributes(
            version=self.version,
            multiscales=(self.multiscale(),),
            omero=self.omero,
            image_label=self.image_label,
        )


def _ngffkit_version() -> str:
    from ngffkit import __version__

    return __version__


def make_axes(
    names: str | Sequence[str], unit: str | None = None, time_unit: str | None = None
) -> tuple[Axis, ...]:
    """Axes for names like ``"zyx"`` or ``("t","c","z","y","x")`` with a space unit."""
    out = []
    space_unit = _check_unit(unit) if unit else None
    for name in names:
        kind = default_axis_type(name)
        axis_unit = space_unit if kind == "space" else (time_unit if kind == "time" else None)
        out.append(Axis(name=name, type=kind, unit=axis_unit))
    return tuple(out)


def _check_unit(unit: str) -> str:
    normal = normalize_unit(unit)
    if not is_known_unit(normal):
        raise InputError(
            f"unit {unit!r} is not a UDUNITS name; use e.g. micrometer, nanometer, millimeter"
        )
    return normal


def spatial_voxel_size(voxel_size: PerAxisValue, axes: Sequence[Axis]) -> tuple[float, ...]:
    """Per-axis level-0 scale from a voxel size by axis name — ``Voxel(x=11.24, y=11.24,
    z=25)`` or ``{"x": 11.24, "y": 11.24, "z": 25}`` — one number (isotropic), or a sequence
    in array order over the space axes (z, y, x); the rule is :func:`ngffkit.grid.per_axis`.
    Non-space axes get 1."""
    names = [a.name for a in axes]
    space = [a.type == "space" for a in axes]
    return per_axis(voxel_size, names, space, (1.0,) * len(axes), float, what="voxel size")


def pyramid_spec(
    shape: Sequence[int],
    dtype: str | np.dtype[Any],
    *,
    axes: str | Sequence[str] | Sequence[Axis] = "zyx",
    voxel_size: PerAxisValue = None,
    unit: str | None = None,
    factors: Sequence[Sequence[int]] | None = None,
    levels: int = 1,
    chunks: int | Sequence[int] = 64,
    shards: int | Sequence[int] | None = None,
    compression: str | Compression = DEFAULT_COMPRESSION,
    version: str = "0.5",
    method: str = "mean",
    name: str | None = None,
    fill_value: float | int = 0,
    origin: Sequence[float] | None = None,
    cast: Mapping[str, Any] | None = None,
) -> ImageSpec:
    """The layout of a pyramid: level k+1 is level k reduced by ``factors[k]`` per axis.

    Without ``factors``, ``levels`` levels halve every space axis. Shapes are true extents
    (ceil division); chunks are clipped to the level shape; shards shrink with the level
    (shard0 / cumulative factor, never below the chunk), so that one level-0 shard maps to
    whole shards on every level. Translations put each coarse voxel's centre where the
    method puts it: block methods shift by (F-1)/2 level-0 voxels, ``nearest`` not at all.

    Parameters:
        shape: the level-0 shape, in ``axes`` order.
        dtype: the data type (``"uint16"``).
        axes: the axis names (``"zyx"``, ``"czyx"``...) or :class:`Axis` objects.
        voxel_size: the level-0 voxel size: one number for the space axes, a
            :class:`Voxel`, a mapping by axis name, or one per axis.
        unit: the unit of ``voxel_size`` (a UDUNITS name: ``"nanometer"``).
        factors: the reduction from each level to the next, per axis.
        levels: how many levels when ``factors`` is not given.
        chunks: the chunk shape: one number for the space axes or one per axis.
        shards: the level-0 shard shape (0.5 only), a multiple of the chunks.
        compression: ``"zstd[:L]"``, ``"blosc-zstd[:L]"``, ``"blosc-lz4[:L]"``,
            ``"gzip[:L]"``, ``"none"`` or a ``Compression``.
        version: the OME-Zarr version, ``"0.5"`` or ``"0.4"``.
        method: the downsampling method recorded in the metadata.
        name: the image name in the metadata.
        fill_value: the value of voxels never written.
        origin: the physical position of the first voxel's centre, per axis.
        cast: the record of a value-changing cast (``{"from", "to", "window"}``), kept in
            the metadata.

    Returns:
        The :class:`ImageSpec`, for :func:`create_image` and :func:`finish_image`.

    Raises:
        InputError: a value does not fit the shape, the axes or the version.
    """
    axis_objs: tuple[Axis, ...] = (
        tuple(a for a in axes if isinstance(a, Axis))
        if axes and isinstance(next(iter(axes)), Axis)
        else make_axes([str(a) for a in axes], unit)
    )
    n = len(axis_objs)
    space = [a.type == "space" for a in axis_objs]
    if factors is None:
        factors = [tuple(2 if s else 1 for s in space) for _ in range(max(levels, 1) - 1)]
    scale0 = spatial_voxel_size(voxel_size, axis_objs)
    names = [a.name for a in axis_objs]
    ones = (1,) * n
    chunk0 = per_axis(chunks, names, space, ones, int, what="chunks")
    shard0 = (
        per_axis(shards, names, space, ones, int, what="shards") if shards is not None else None
    )
    base = tuple(origin) if origin is not None else (0.0,) * n
    out: list[LevelSpec] = []
    cum = [1] * n
    cur = tuple(int(s) for s in shape)
    for k in range(len(factors) + 1):
        if k:
            f = factors[k - 1]
            cur = tuple(-(-c // int(fi)) for c, fi in zip(cur, f, strict=True))
            cum = [c * int(fi) for c, fi in zip(cum, f, strict=True)]
        lchunks = tuple(max(1, min(c, s)) for c, s in zip(chunk0, cur, strict=True))
        lshards = level_shards(shard0, cum, lchunks, cur) if shard0 is not None else None
        scale = tuple(s0 * c for s0, c in zip(scale0, cum, strict=True))
        translation = tuple(
            b + s0 * level_translation(method, c)
            for b, s0, c in zip(base, scale0, cum, strict=True)
        )
        out.append(
            LevelSpec(
                path=str(k),
                shape=cur,
                chunks=lchunks,
                shards=lshards,
                scale=scale,
                translation=translation if any(translation) else None,
            )
        )
    return ImageSpec(
        version=version,
        axes=axis_objs,
        dtype=np.dtype(dtype).name,
        fill_value=fill_value,
        compression=Compression.parse(compression),
        levels=tuple(out),
        name=name,
        method=method,
        cast=dict(cast) if cast else None,
    )


__all__ = [
    "ArrayLayout",
    "ImageSpec",
    "LevelSpec",
    "make_axes",
    "pyramid_spec",
    "spatial_voxel_size",
]
