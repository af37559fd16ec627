"""The plan of ``ngffkit.compress``: what every stored array becomes, decided from metadata.

:func:`plan_compress` reads an image's metadata (and its label images') and decides, per
stored array, its new encoding — Zarr format, chunks, shards (shrinking per level as
:func:`ngffkit.grid.level_shards` says), codec — and a one-level conversion plan
(:func:`ngffkit.plan.make_plan`) that copies it brick by brick, plus the group metadata files
each group needs for the target version. Nothing is written here; :mod:`ngffkit._recompress`
runs it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ngffkit.arrays import open_array, read_array_info
from ngffkit.bricks import shape_text
from ngffkit.compression import Compression, compression_of
from ngffkit.errors import InputError, MetadataError, OptionError, StorageError
from ngffkit.execution import cpu_count
from ngffkit.grid import default_shards, level_shards, per_axis
from ngffkit.image import Image, read_group_attrs
from ngffkit.level import Level
from ngffkit.markers import fingerprint
from ngffkit.metadata import dump, extract, parse
from ngffkit.metadata.io import OME_KEYS, group_files, version_of, zarr_format_of
from ngffkit.plan import (
    DEFAULT_MAX_MEMORY,
    ConversionPlan,
    ConvertOptions,
    make_plan,
    measured_base,
)
from ngffkit.spec import ArrayLayout
from ngffkit.storage import JsonDict, Location

_GROUP_FILES = ("zarr.json", ".zgroup", ".zattrs")

PerAxis = int | Sequence[int] | Mapping[str, int] | None


@dataclass(frozen=True)
class LevelCopy:
    """One stored array and the encoding it gets."""

    rel: str
    """Path of the level below the image root, e.g. ``0`` or ``labels/cells/1``."""
    source: str
    zarr_format: int
    shape: tuple[int, ...]
    dtype: str
    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None
    compression: Compression
    fill_value: Any
    dimension_names: tuple[str, ...]
    before: str
    plan: ConversionPlan

    @property
    def after(self) -> str:
        return _layout(self.zarr_format, self.chunks, self.shards, str(self.compression))

    @property
    def layout(self) -> ArrayLayout:
        """The new array this copy writes into."""
        return ArrayLayout(
            zarr_format=self.zarr_format,
            shape=self.shape,
            dtype=np.dtype(self.dtype),
            chunks=self.chunks,
            shards=self.shards,
            compression=self.compression,
            fill_value=self.fill_value,
            dimension_names=self.dimension_names,
        )


@dataclass(frozen=True)
class CompressPlan:
    """Everything a compress run will do, decided before anything is written."""

    url: str
    version: str
    levels: tuple[LevelCopy, ...]
    groups: dict[str, JsonDict]
    """Per group directory (``""``, ``labels``, ``labels/<name>``): files to write/delete."""
    backup: dict[str, JsonDict]
    """Per group directory: its metadata files as they are now (text)."""
    unchanged: bool

    @property
    def fingerprint(self) -> str:
        return fingerprint(
            [[lv.rel, lv.after, lv.dtype] for lv in self.levels] + [self.version, self.groups]
        )

    def summary(self) -> str:
        lines = [f"image {self.url} -> OME-Zarr {self.version}"]
        for lv in self.levels:
            lines.append(
                f"  {lv.rel}: shape {shape_text(lv.shape)} {lv.dtype}: {lv.before}  ->  "
                f"{lv.after}  ({lv.plan.stages[0].n_bricks} brick(s) of "
                f"{shape_text(lv.plan.stages[0].brick)})"
            )
        if self.unchanged:
            lines.append("  nothing to do: every level already has this encoding")
        return "\n".join(lines)


def _layout(zarr_format: int, chunks: Any, shards: Any, codec: str) -> str:
    return f"Zarr v{zarr_format}, chunks {shape_text(chunks)}, shards {shape_text(shards)}, {codec}"


def plan_compress(
    image: Image,
    *,
    version: str | None = None,
    compression: str | None = None,
    chunks: PerAxis = None,
    shards: PerAxis | str = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
    jobs: int | None = None,
    here: bool = True,
) -> CompressPlan:
    """Plan the re-encoding of ``image`` and its label images (reads metadata only);
    ``here``: the tasks run on this machine (``_dask.runs_here``)."""
    target = version or version_of(image.zarr_format)
    if target not in ("0.4", "0.5"):
        raise OptionError("version", f"{target!r}: choose 0.5 (Zarr v3) or 0.4 (Zarr v2)")
    if target == "0.4" and shards not in (None, "none"):
        raise OptionError("shards", "needs [[version=0.5]]: OME-Zarr 0.4 (Zarr v2) has no sharding")
    codec = None
    if compression is not None:
        try:
            codec = Compression.parse(compression)
        except InputError as exc:
            raise OptionError("compression", exc.template or str(exc)) from None
    root = image.location
    images: list[tuple[str, Image]] = [("", image)]
    images += [(f"labels/{name}", image.label(name)) for name in image.labels]
    copies: list[LevelCopy] = []
    for prefix, img in images:
        for level in img.levels:
            rel = f"{prefix}/{level.path}" if prefix else level.path
            copies.append(
                _plan_level(img, level, rel, target, codec, chunks, shards, max_memory, jobs, here)
            )
    dirs = [p for p, _ in images] + (["labels"] if image.labels else [])
    groups: dict[str, JsonDict] = {}
    backup: dict[str, JsonDict] = {}
    for rel in dirs:
        loc = root.child(rel) if rel else root
        # Raw text, so a rollback restores every byte.
        backup[rel] = {n: d.decode() for n in _GROUP_FILES if (d := loc.read(n)) is not None}
        groups[rel] = _group_change(loc, target, {n: json.loads(t) for n, t in backup[rel].items()})
    unchanged = all(
        lv.zarr_format == info.zarr_format
        and lv.chunks == info.chunks
        and lv.shards == info.shards
        and compression_of(info.raw.get("codecs"), info.raw.get("compressor")) == lv.compression
        for lv, info in ((lv, read_array_info(root.child(lv.rel))) for lv in copies)
        if info is not None
    ) and not any(g["delete"] for g in groups.values())
    return CompressPlan(
        url=image.url,
        version=target,
        levels=tuple(copies),
        groups=groups,
        backup=backup,
        unchanged=unchanged,
    )


def _per_axis(
    value: PerAxis, names: tuple[str, ...], space: set[str], default: tuple[int, ...], what: str
) -> tuple[int, ...]:
    # the CLI's x,y,z mapping serves 2-D images too: names the image lacks are ignored
    return per_axis(
        value, names, [n in space for n in names], default, int, what=what, other_names="ignore"
    )


def _plan_level(
    img: Image,
    level: Level,
    rel: str,
    target: str,
    codec: Compression | None,
    chunks: PerAxis,
    shards: PerAxis | str,
    max_memory: int,
    jobs: int | None,
    here: bool,
) -> LevelCopy:
    info = level.info
    _check_readable(level)
    names = img.axis_names
    space = {a.name for a in img.axes if a.type == "space"}
    zarr_format = zarr_format_of(target)
    level_codec = codec
    if level_codec is None and not (info.zarr_format == 2 and info.raw.get("filters")):
        level_codec = compression_of(info.raw.get("codecs"), info.raw.get("compressor"))
    if level_codec is None:
        raise OptionError(
            "compression",
            f"level {rel} is stored with {info.compression}, "
            "which ngffkit cannot write; choose one of zstd[:L], "
            "blosc-zstd[:L], blosc-lz4[:L], gzip[:L], none",
        )
    chunk0 = _per_axis(chunks, names, space, img.levels[0].chunks, "chunks")
    factors = [max(1, round(f)) for f in level.factors]
    lchunks = tuple(max(1, min(c, s)) for c, s in zip(chunk0, level.shape, strict=True))
    lshards: tuple[int, ...] | None = None
    if zarr_format == 3 and shards != "none":
        if shards is not None:
            shard0 = _per_axis(shards, names, space, chunk0, "shards")  # type: ignore[arg-type]
            for n, s, c in zip(names, shard0, chunk0, strict=True):
                if s % c:
                    raise OptionError(
                        "shards",
                        f"{s} on axis {n} is not a multiple of the "
                        f"chunk size {c}; each shard must hold whole chunks",
                    )
            lshards = level_shards(shard0, factors, lchunks, level.shape)
        elif info.shards is not None and chunks is None:
            lshards = level_shards(info.shards, [1] * len(factors), lchunks, level.shape)
        elif info.shards is not None or info.zarr_format == 2:
            # Upgrading from Zarr v2 (or rechunking a sharded level): convert's default shards.
            shard0 = default_shards(chunk0, [n in space for n in names])
            lshards = level_shards(shard0, factors, lchunks, level.shape)
    if lshards == lchunks:
        lshards = None
    options = ConvertOptions(
        version=target,
        chunks=lchunks,
        shards=(lshards or lchunks) if zarr_format == 3 else None,
        compression=str(level_codec),
        levels=1,
        zarr_only=True,
        max_memory=max_memory,
        jobs=jobs,
    )
    plan = make_plan(
        level.shape,
        info.dtype,
        names,
        options,
        window_cheap=True,  # a stored Zarr array: a window reads only its chunks
        cpu_count=cpu_count(),
        here=here,
        process_base=measured_base(),
    )
    fill = info.fill_value
    return LevelCopy(
        rel=rel,
        source=level.location.url,
        zarr_format=zarr_format,
        shape=level.shape,
        dtype=info.dtype.name,
        chunks=lchunks,
        shards=lshards,
        compression=level_codec,
        fill_value=0 if fill is None else fill,
        dimension_names=names,
        before=_layout(info.zarr_format, info.chunks, info.shards, info.compression),
        plan=plan,
    )


def _check_readable(level: Level) -> None:
    try:
        open_array(level.location, level.info)
    except (StorageError, MetadataError) as exc:
        raise InputError(
            f"cannot read level {level.path} of {level.image_url} (stored with "
            f"{level.info.compression}): {exc}. ngffkit may not know one of its codecs; "
            "nothing was changed"
        ) from None


def _group_change(loc: Location, target: str, current: JsonDict) -> JsonDict:
    """The metadata files that make the group at ``loc`` a group of version ``target``."""
    found = read_group_attrs(loc)
    if found is None:
        return {"write": {}, "delete": []}
    zarr_format, attrs = found
    want = zarr_format_of(target)
    try:
        version, ns, _notes = extract(attrs, zarr_format, loc.display())
    except MetadataError:
        version, ns = None, None
    if zarr_format == want and (ns is None or version == target):
        return {"write": dict(current), "delete": [], "same": True}
    extra = {k: v for k, v in attrs.items() if k != "ome" and k not in OME_KEYS}
    body: JsonDict = {}
    if ns is not None:
        meta, _fixes, _derive = parse(ns, where=loc.display())
        body = dump(meta, target)
    return {
        "write": group_files({**extra, **body}, want),
        "delete": [".zattrs", ".zgroup"] if want == 3 else ["zarr.json"],
    }


__all__ = ["CompressPlan", "LevelCopy", "PerAxis", "plan_compress"]
