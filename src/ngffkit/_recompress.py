"""``ngffkit.compress``: re-encode an OME-Zarr image — codecs, chunks, shards, 0.4 ↔ 0.5.

Every level (and every level of the label images under ``labels/``) is copied brick by
brick into a new array: a conversion plan of one level (:func:`ngffkit.plan.make_plan`)
whose input is the stored array (``Job.base``), run by the same executors and journal as
``convert``, each brick read back and compared after it is written (``Job.verify``). Data
never changes, only its encoding; the group metadata is converted through
:mod:`ngffkit.metadata` when the version changes (Zarr v2 ↔ v3), and kept byte for byte
when it does not.

With ``output`` the copy is a new image (partial marker until its metadata is written
last, ``resume`` as in convert). Without, the image is replaced in place through
:mod:`ngffkit.swap`: write beside, verify, swap; a rerun continues or rolls back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ngffkit import swap
from ngffkit._output import check_apart, claim_output, output_lock
from ngffkit.arrays import ArrayInfo, create_array, open_array, read_array_info
from ngffkit.compression import Compression, compression_of
from ngffkit.errors import ConflictError, InputError, MetadataError, OptionError, StorageError
from ngffkit.execution import Notice, Progress, cluster_budget, cpu_count, run_plans
from ngffkit.grid import default_shards, level_shards, per_axis
from ngffkit.image import Image, Level, open_image, read_group_attrs
from ngffkit.markers import PARTIAL_MARKER, fingerprint, marker, resumable
from ngffkit.metadata import dump, extract, parse
from ngffkit.metadata.io import OME_KEYS, group_files, version_of, zarr_format_of
from ngffkit.plan import DEFAULT_MAX_MEMORY, ConversionPlan, ConvertOptions, make_plan
from ngffkit.storage import JsonDict, Location, StorageOptionsArg, accepts_storage_options, resolve
from ngffkit.tasks import Job, Journal
from ngffkit.transport import denied

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

    def describe(self) -> str:
        lines = [f"image {self.url} -> OME-Zarr {self.version}"]
        for lv in self.levels:
            lines.append(
                f"  {lv.rel}: shape {_fmt(lv.shape)} {lv.dtype}: {lv.before}  ->  "
                f"{lv.after}  ({lv.plan.stages[0].n_bricks} brick(s) of "
                f"{_fmt(lv.plan.stages[0].brick)})"
            )
        if self.unchanged:
            lines.append("  nothing to do: every level already has this encoding")
        return "\n".join(lines)


def _fmt(values: Any) -> str:
    return "×".join(str(v) for v in values) if values else "-"


def _layout(zarr_format: int, chunks: Any, shards: Any, codec: str) -> str:
    return f"Zarr v{zarr_format}, chunks {_fmt(chunks)}, shards {_fmt(shards)}, {codec}"


def plan_compress(
    image: Image,
    *,
    version: str | None = None,
    compression: str | None = None,
    chunks: PerAxis = None,
    shards: PerAxis | str = None,
    max_memory: int = DEFAULT_MAX_MEMORY,
    jobs: int | None = None,
) -> CompressPlan:
    """Plan the re-encoding of ``image`` and its label images (reads metadata only)."""
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
                _plan_level(img, level, rel, target, codec, chunks, shards, max_memory, jobs)
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
    plan = make_plan(level.shape, info.dtype, names, options, cpu_count=cpu_count())
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
        version, ns, _notes = extract(attrs, zarr_format, loc.describe())
    except MetadataError:
        version, ns = None, None
    if zarr_format == want and (ns is None or version == target):
        return {"write": dict(current), "delete": [], "same": True}
    extra = {k: v for k, v in attrs.items() if k != "ome" and k not in OME_KEYS}
    body: JsonDict = {}
    if ns is not None:
        meta, _fixes, _derive = parse(ns, where=loc.describe())
        body = dump(meta, target)
    return {
        "write": group_files({**extra, **body}, want),
        "delete": [".zattrs", ".zgroup"] if want == 3 else ["zarr.json"],
    }


def _create(dest: Location, lv: LevelCopy, *, resume: bool) -> None:
    existing = read_array_info(dest)
    if existing is not None:
        if resume and _matches(existing, lv):
            return
        dest.delete_tree()
    create_array(
        dest,
        zarr_format=lv.zarr_format,
        shape=lv.shape,
        dtype=np.dtype(lv.dtype),
        chunks=lv.chunks,
        shards=lv.shards,
        compression=lv.compression,
        fill_value=lv.fill_value,
        dimension_names=lv.dimension_names,
    )


def _matches(info: ArrayInfo, lv: LevelCopy) -> bool:
    return (info.zarr_format, info.shape, info.chunks, info.shards) == (
        lv.zarr_format,
        lv.shape,
        lv.chunks,
        lv.shards,
    )


def _copy_levels(
    plan: CompressPlan,
    dest_root: Location,
    executor: Executor | str | Any,
    scheduler: str | None,
    progress: Progress | None,
    *,
    resume: bool,
    notice: Notice | None = None,
) -> None:
    jobs = []
    for lv in plan.levels:
        dest = dest_root.child(lv.rel)
        _create(dest, lv, resume=resume)
        jobs.append(
            (
                Job(output=dest.url, plan=lv.plan, base=lv.source, verify=True, synced_writes=True),
                Journal(dest),
            )
        )
    run_plans(jobs, executor, progress=progress, scheduler=scheduler, notice=notice)
    for _, journal in jobs:
        journal.clear()


@accepts_storage_options
def compress(
    url: str | os.PathLike[str],
    *,
    output: str | os.PathLike[str] | None = None,
    version: str | None = None,
    compression: str | None = None,
    chunks: PerAxis = None,
    shards: PerAxis | str = None,
    max_memory: int | None = None,
    jobs: int | None = None,
    executor: Executor | str | Any = "local",
    scheduler: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    rollback: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    notice: Notice | None = None,
    storage_options: StorageOptionsArg = None,
) -> Image | CompressPlan:
    """Re-encode the image at ``url`` (and its labels) into ``output``, or in place.

    ``chunks``/``shards``: one number for the space axes or a mapping such as
    ``{"x": 128, "y": 128, "z": 32}`` (level-0 shards; they shrink with the level as in
    convert); ``shards="none"`` writes unsharded arrays. Unset values keep the stored ones
    (an upgrade from Zarr v2 gets convert's default shards). ``notice`` receives what a
    rerun found and did (continued, rolled back) and where a Dask run takes place.
    ``executor``, ``scheduler`` and ``max_memory`` (default 2 GiB, or the cluster's) work
    as in ``convert``. Returns the image reopened; the plan with ``dry_run``, or when the
    image already had the encoding asked for and nothing was written (``plan.unchanged``).

    Parameters:
        url: the OME-Zarr image (a path or a URL).
        output: where the re-encoded copy goes; None re-encodes in place (crash-safe: an
            interrupted run continues or rolls back on the next call).
        version: the OME-Zarr version to write, ``"0.5"`` or ``"0.4"`` (default: the
            image's own).
        compression: ``"zstd[:L]"``, ``"blosc-zstd[:L]"``, ``"blosc-lz4[:L]"``,
            ``"gzip[:L]"`` or ``"none"`` (default: the stored one).
        chunks: the level-0 chunk shape (default: the stored one).
        shards: the level-0 shard shape, or ``"none"`` (default: the stored one).
        max_memory: the memory budget of the whole run, in bytes.
        jobs: how many copies run at once (default: from the CPUs and the budget).
        executor: ``"local"``, ``"dask"``, a ``distributed.Client`` or any
            ``concurrent.futures.Executor``.
        scheduler: the address or scheduler file of a running Dask cluster.
        resume: finish an interrupted run into ``output`` with the same options.
        overwrite: replace ``output`` if it exists (only what is clearly ours to replace).
        rollback: undo an interrupted in-place run instead of finishing it.
        dry_run: write nothing and return the plan.
        progress: called as ``progress(done, total)`` as the copies advance.
        notice: called with a line of text for what the user should know as it happens.
        storage_options: how remote stores are reached (see docs/remote.md).

    Returns:
        The image reopened; the plan with ``dry_run``, or when nothing needed writing.

    Raises:
        OptionError: an option value is invalid (``error.option`` names the parameter).
        ConflictError: ``output`` holds data that is not ours, or a partial run of other
            options is in the way.
        MetadataError, StorageError: the image cannot be read or written.
    """
    say = notice or (lambda _message: None)
    jobs, max_memory = cluster_budget(executor, scheduler, jobs, max_memory)
    if output is None:
        return _in_place(
            resolve(url),
            version=version,
            compression=compression,
            chunks=chunks,
            shards=shards,
            max_memory=max_memory,
            jobs=jobs,
            executor=executor,
            scheduler=scheduler,
            rollback=rollback,
            dry_run=dry_run,
            progress=progress,
            say=say,
        )
    if rollback:
        raise OptionError(
            "rollback",
            "undoes an interrupted in-place compress; it does not "
            "go with [[output]] (delete the output instead)",
        )
    image = open_image(url)
    plan = plan_compress(
        image,
        version=version,
        compression=compression,
        chunks=chunks,
        shards=shards,
        max_memory=max_memory,
        jobs=jobs,
    )
    if dry_run:
        return plan
    out = resolve(output)
    check_apart(image.location, out, what="the image")
    with output_lock(out, "ngff compress"):
        return _to_output(
            plan,
            image,
            out,
            executor=executor,
            scheduler=scheduler,
            progress=progress,
            resume=resume,
            overwrite=overwrite,
            say=say,
        )


def _to_output(
    plan: CompressPlan,
    image: Image,
    out: Location,
    *,
    executor: Executor | str | Any,
    scheduler: str | None,
    progress: Progress | None,
    resume: bool,
    overwrite: bool,
    say: Notice,
) -> Image:
    if resume:
        if not resumable(out.read_json(PARTIAL_MARKER), plan.fingerprint):
            raise ConflictError(
                f"{out.describe()} holds no interrupted compress of this image with these "
                "options to resume; run with the same options, or start again with [[overwrite=True]]"
            )
        say(f"continuing the interrupted compress into {out.describe()}")
    else:
        claim_output(out, overwrite)
        out.write_json(PARTIAL_MARKER, marker("ngff compress", plan.fingerprint, source=image.url))
    _copy_levels(plan, out, executor, scheduler, progress, resume=resume, notice=say)
    # Label images, then the labels group, then the image itself: metadata last.
    for rel in sorted(plan.groups, key=lambda r: (-r.count("/"), r == "")):
        loc = out.child(rel) if rel else out
        for name, doc in plan.groups[rel]["write"].items():
            loc.write_json(name, doc)
    out.delete(PARTIAL_MARKER)
    return open_image(out)


def _in_place(
    root: Location,
    *,
    version: str | None,
    compression: str | None,
    chunks: PerAxis,
    shards: PerAxis | str,
    max_memory: int,
    jobs: int | None,
    executor: Executor | str | Any,
    scheduler: str | None,
    rollback: bool,
    dry_run: bool,
    progress: Progress | None,
    say: Notice,
) -> Image | CompressPlan:
    swap.work_dir(root)  # refuses stores that cannot rename
    if dry_run:
        return _in_place_locked(
            root,
            version=version,
            compression=compression,
            chunks=chunks,
            shards=shards,
            max_memory=max_memory,
            jobs=jobs,
            executor=executor,
            scheduler=scheduler,
            rollback=rollback,
            dry_run=dry_run,
            progress=progress,
            say=say,
        )
    with output_lock(
        root,
        "ngff compress",
        new_output=False,
        denied_hint="compress it to a writable place with [[output=OUT]]",
    ):
        return _in_place_locked(
            root,
            version=version,
            compression=compression,
            chunks=chunks,
            shards=shards,
            max_memory=max_memory,
            jobs=jobs,
            executor=executor,
            scheduler=scheduler,
            rollback=rollback,
            dry_run=dry_run,
            progress=progress,
            say=say,
        )


def _in_place_locked(
    root: Location,
    *,
    version: str | None,
    compression: str | None,
    chunks: PerAxis,
    shards: PerAxis | str,
    max_memory: int,
    jobs: int | None,
    executor: Executor | str | Any,
    scheduler: str | None,
    rollback: bool,
    dry_run: bool,
    progress: Progress | None,
    say: Notice,
) -> Image | CompressPlan:
    state = swap.read_state(root)
    finished = False  # an interrupted run finished here: something was done
    if state is not None and not dry_run:
        phase = state.get("phase")
        if rollback:
            swap.rollback(root, state)
            say(
                f"rolled back the interrupted compress of {root.describe()} "
                f"({state.get('summary', '')}); the image is as it was before"
            )
            return open_image(root)
        if phase == "done":
            swap.cleanup(root)
            say(
                f"finished the interrupted compress of {root.describe()} (only cleaning up "
                "was left)"
            )
        elif phase == "swapping":
            say(
                f"continuing the interrupted compress of {root.describe()}: its new levels "
                "were complete and verified, finishing the swap"
            )
            swap.swap(root, state)
        finished = phase in ("done", "swapping")
        state = None if finished else state
    elif rollback:
        say(f"nothing to roll back: no interrupted compress in {root.describe()}")
        return open_image(root)
    image = open_image(root)
    plan = plan_compress(
        image,
        version=version,
        compression=compression,
        chunks=chunks,
        shards=shards,
        max_memory=max_memory,
        jobs=jobs,
    )
    if dry_run:
        return plan
    if state is not None:
        if state.get("fingerprint") == plan.fingerprint:
            say(f"continuing the interrupted compress of {root.describe()}")
        else:
            swap.rollback(root, state)
            say(
                f"rolled back the interrupted compress of {root.describe()} (it was started "
                f"with other options: {state.get('summary', '?')}); starting again"
            )
            state = None
    if plan.unchanged and state is None:
        say(f"nothing to do: {root.describe()} already has this encoding")
        return image if finished else plan
    if state is None:
        summary = f"OME-Zarr {plan.version}, " + (plan.levels[0].after if plan.levels else "")
        try:
            state = swap.begin(
                root,
                fingerprint=plan.fingerprint,
                levels=[lv.rel for lv in plan.levels],
                groups={
                    r: {k: v for k, v in g.items() if k != "same"} for r, g in plan.groups.items()
                },
                backup=plan.backup,
                summary=summary,
            )
        except StorageError as exc:
            if not denied(exc):
                raise
            raise StorageError(
                f"{root.describe()} is not writable ({exc}); compress it to a "
                "writable place with [[output=OUT]]"
            ) from None
    _copy_levels(
        plan, swap.new_location(root), executor, scheduler, progress, resume=True, notice=say
    )
    swap.swap(root, state)
    return open_image(root)


__all__ = ["CompressPlan", "LevelCopy", "compress", "plan_compress"]
