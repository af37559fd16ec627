"""``ngffkit.downsample``: add the missing coarse levels to an OME-Zarr image, or rebuild them.

The image may be ours or another tool's, OME-Zarr 0.4 or 0.5, any axis order and level
names. The work is a conversion plan (:func:`ngffkit.plan.make_plan`) whose level 0 is the
stored level K (``base_stored=True``: stage 0 reads it and writes only the levels below),
run by the same bricks, journal and executors as ``convert``. New arrays copy level K's
encoding (codecs, separator, fill value, dimension names) with shard shapes shrunk per
level as convert does, and new level names follow the image's own naming (``3``, ``s3``,
``8-8-4``).

Order, so an interruption never leaves a broken image: a marker file says a downsample is
under way; with ``rebuild`` the metadata first drops the levels below K (the image stays a
valid, shorter pyramid) before their arrays go; the new arrays are created, filled brick by
brick, and only then listed in the group metadata. Label images under ``labels/`` get the
same levels, downsampled with ``mode``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from ngffkit._dask import cluster_budget, runs_here
from ngffkit._output import output_lock, replace_tree
from ngffkit.arrays import derive_array, read_array_info
from ngffkit.error_mapping import denied
from ngffkit.errors import ConflictError, InputError, OptionError, StorageError
from ngffkit.execution import Notice, Progress, cpu_count, run_plans
from ngffkit.image import Image, open_image, read_group_attrs
from ngffkit.kernels import METHODS, level_translation
from ngffkit.markers import DOWNSAMPLE_MARKER, check_resume, fingerprint, marker, resumable
from ngffkit.metadata.io import ome_namespace, version_of
from ngffkit.omero import add_missing_rendering
from ngffkit.plan import ConversionPlan, ConvertOptions, make_plan, measured_base
from ngffkit.storage import JsonDict, Location, StorageOptionsArg, accepts_storage_options, resolve
from ngffkit.tasks import Job, Journal


@dataclass(frozen=True)
class DownsamplePlan:
    """What one image (the image itself or one of its label images) will get."""

    url: str
    label: str | None
    from_level: int
    replaced: tuple[str, ...]
    """Paths of existing levels below ``from_level`` that are rebuilt."""
    plan: ConversionPlan
    """Level 0 of ``plan.spec`` is the stored level ``from_level``; the rest are new."""
    datasets: tuple[JsonDict, ...]
    """The multiscales ``datasets`` entries of the new levels."""
    method: str

    @property
    def new_paths(self) -> tuple[str, ...]:
        return tuple(lv.path for lv in self.plan.spec.levels[1:])

    @property
    def nothing_to_do(self) -> bool:
        return len(self.plan.spec.levels) < 2

    def summary(self) -> str:
        """The plan as text, for ``--dry-run``."""
        what = f"label image {self.label}" if self.label else "image"
        base = self.plan.spec.levels[0]
        if self.nothing_to_do:
            return f"{what} {self.url}: nothing to do (level {base.path} needs no coarser level)"
        lines = [
            f"{what} {self.url}: from level {self.from_level} ({base.path!r}, shape "
            f"{_fmt(base.shape)}), method {self.method}"
        ]
        if self.replaced:
            lines.append(f"  replaces levels {', '.join(self.replaced)} (--rebuild)")
        for k, level in enumerate(self.plan.spec.levels[1:], start=1):
            lines.append(
                f"  new {level.path}: shape {_fmt(level.shape)}  chunks {_fmt(level.chunks)}  "
                f"shards {_fmt(level.shards) if level.shards != level.chunks else '-'}  "
                f"factor {_fmt(self.plan.cumulative(k))} (from level {self.from_level})"
            )
        for k, stage in enumerate(self.plan.stages):
            src = base.path if k == 0 else self.plan.spec.levels[stage.base_level].path
            lines.append(
                f"  stage {k}: read {src!r} in {stage.n_bricks} brick(s) of "
                f"{_fmt(stage.brick)}, write {len(stage.levels) - 1} level(s)"
            )
        lines.append(
            f"  memory: about {self.plan.memory_estimate / 2**20:.0f} MiB peak "
            f"({self.plan.workers} worker(s))"
        )
        return "\n".join(lines)


def _fmt(values: Sequence[Any] | None) -> str:
    return "×".join(str(v) for v in values) if values else "-"


@accepts_storage_options
def downsample(
    url: str | os.PathLike[str],
    *,
    from_level: int | None = None,
    levels: int | None = None,
    method: str | None = None,
    anisotropic: bool = True,
    rebuild: bool = False,
    labels: bool = True,
    max_memory: int | None = None,
    jobs: int | None = None,
    executor: Executor | str | Any = "local",
    scheduler: str | None = None,
    resume: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    notice: Notice | None = None,
    storage_options: StorageOptionsArg = None,
) -> Image | list[DownsamplePlan]:
    """Add the levels an OME-Zarr image lacks below ``from_level`` (default: its last).

    ``levels`` counts every level of the result including level 0 (None: until a level
    fits in one chunk). Existing levels below ``from_level`` are replaced only with
    ``rebuild=True``. ``method`` defaults to the image's own (its multiscale ``type`` when
    that is a method ngffkit knows) or mean; label images always use ``mode``. Returns the
    image reopened, or the plans with ``dry_run=True``. ``executor``, ``scheduler``,
    ``max_memory`` (default 2 GiB, or the cluster's) and ``notice`` work as in ``convert``.

    Parameters:
        url: the OME-Zarr image (a path or a URL); it is written in place.
        from_level: the level the new ones are made from (negative counts from the last).
        levels: how many levels the result has, level 0 included.
        method: ``"mean"``, ``"nearest"``, ``"gaussian"``, ``"median"``, ``"mode"``,
            ``"min"`` or ``"max"``.
        anisotropic: downsample only the finer axes until voxels are near-isotropic;
            False halves every spatial axis at each level.
        rebuild: replace the levels that exist below ``from_level``.
        labels: give the image's label images the same levels (with ``"mode"``).
        max_memory: the memory budget of the whole run, in bytes.
        jobs: how many bricks run at once (default: from the CPUs and the budget).
        executor: ``"local"``, ``"dask"``, a ``distributed.Client`` or any
            ``concurrent.futures.Executor``.
        scheduler: the address or scheduler file of a running Dask cluster.
        resume: finish an interrupted run with the same options.
        dry_run: write nothing and return the plans (one per image: the image, then its
            labels).
        progress: called as ``progress(done, total)`` as bricks finish.
        notice: called with a line of text for what the user should know as it happens.
        storage_options: how remote stores are reached (see docs/remote.md).

    Returns:
        The image reopened, or with ``dry_run`` the list of plans.

    Raises:
        OptionError: an option value is invalid (``error.option`` names the parameter).
        ConflictError: the levels exist and ``rebuild`` was not given, or a partial run of
            other options is in the way.
        MetadataError, StorageError: the image cannot be read or written.
    """
    jobs, max_memory = cluster_budget(executor, scheduler, jobs, max_memory)
    image = open_image(url)
    main = plan_image(
        image,
        from_level=from_level,
        levels=levels,
        method=method,
        anisotropic=anisotropic,
        rebuild=rebuild or resume,
        max_memory=max_memory,
        jobs=jobs,
        here=runs_here(executor, scheduler),
    )
    plans = [main]
    if labels:
        total = main.from_level + len(main.plan.spec.levels)
        for name in image.labels:
            label = image.label(name)
            k = None if from_level is None else min(from_level, len(label.levels) - 1)
            plans.append(
                plan_image(
                    label,
                    from_level=k,
                    levels=levels if levels is not None else total,
                    method="mode",
                    anisotropic=anisotropic,
                    rebuild=rebuild or resume,
                    max_memory=max_memory,
                    jobs=jobs,
                    label=name,
                    voxel_of=image,
                    here=runs_here(executor, scheduler),
                )
            )
    todo = [p for p in plans if not p.nothing_to_do]
    if dry_run:
        return plans
    if not todo:
        return open_image(image.location)
    with output_lock(
        image.location,
        "ngff downsample",
        new_output=False,
        denied_hint="downsample needs write access to add levels (copy the "
        "image first, or use a writable location)",
    ):
        for p in todo:
            _prepare(p, resume=resume, rebuild=rebuild)
        run_plans(
            [(Job(output=p.url, plan=p.plan), Journal(resolve(p.url))) for p in todo],
            executor,
            progress=progress,
            scheduler=scheduler,
            notice=notice,
        )
        for p in todo:
            _finish(p)
    return open_image(image.location)


def plan_image(
    image: Image,
    *,
    from_level: int | None,
    levels: int | None,
    method: str | None,
    anisotropic: bool,
    rebuild: bool,
    max_memory: int,
    jobs: int | None,
    label: str | None = None,
    voxel_of: Image | None = None,
    here: bool = True,
) -> DownsamplePlan:
    """Plan the levels below ``from_level`` of one image (pure but for reading metadata).

    ``voxel_of``: the image whose voxel size decides the factors (a label image follows
    its parent's, so that both pyramids keep the same shapes even when the label image's
    own metadata gives no scale). ``here``: the tasks run on this machine (``runs_here``).
    """
    n = len(image.levels)
    k = n - 1 if from_level is None else (from_level + n if from_level < 0 else from_level)
    if not 0 <= k < n:
        raise OptionError(
            "from_level", f"{from_level} is not a level of {image.url} (levels 0 to {n - 1})"
        )
    if levels is not None and levels < k + 1:
        raise OptionError(
            "levels",
            f"{levels} counts fewer levels than [[from_level]] {k} "
            "keeps; [[levels]] counts every level including level 0",
        )
    chosen = method or (image.method if image.method in METHODS else "mean")
    if chosen not in METHODS:
        raise OptionError("method", f"{chosen!r} is not one of {', '.join(METHODS)}")
    base = image.levels[k]
    info = base.info
    replaced = tuple(lv.path for lv in image.levels[k + 1 :])
    if replaced and not rebuild:
        raise ConflictError(
            f"{image.url} already has levels below level {k} ({', '.join(replaced)}); pass "
            "[[rebuild=True]] to replace them, or leave out [[from_level]] to add levels below the last"
        )
    space = {a.name for a in image.axes if a.type == "space"}
    options = ConvertOptions(
        version=version_of(info.zarr_format),
        chunks=info.chunks,
        shards=(info.shards or info.chunks) if info.zarr_format == 3 else None,
        levels=None if levels is None else levels - k,
        method=chosen,
        anisotropic=anisotropic,
        max_memory=max_memory,
        jobs=jobs,
    )
    ref = voxel_of.levels[min(k, len(voxel_of.levels) - 1)] if voxel_of is not None else base
    voxel = {
        name: ref.scale[ref.axis_names.index(name)]
        for name in image.axis_names
        if name in space and name in ref.axis_names
    }
    plan = make_plan(
        base.shape,
        info.dtype,
        image.axis_names,
        options,
        source_voxel_size=voxel,
        window_cheap=True,  # the stored level 0: a window reads only its chunks
        cpu_count=cpu_count(),
        here=here,
        process_base=measured_base(),
        base_stored=True,
    )
    kept = [lv.path for lv in image.levels[: k + 1]]
    factors0 = [round(f) for f in base.factors]
    new_cum = [
        tuple(a * b for a, b in zip(factors0, plan.cumulative(j), strict=True))
        for j in range(1, len(plan.spec.levels))
    ]
    paths = _new_paths(kept, new_cum, image.axis_names)
    spec = plan.spec.model_copy(
        update={
            "levels": tuple(
                lv.model_copy(update={"path": p})
                for lv, p in zip(plan.spec.levels, [base.path, *paths], strict=True)
            )
        }
    )
    plan = dataclasses.replace(plan, spec=spec)
    dataset = image.multiscale.datasets[k]
    datasets = []
    for j, path in enumerate(paths, start=1):
        cum = plan.cumulative(j)
        scale = [s * c for s, c in zip(dataset.scale, cum, strict=True)]
        trans = [
            t + s * level_translation(chosen, c)
            for t, s, c in zip(dataset.translation, dataset.scale, cum, strict=True)
        ]
        transforms: list[JsonDict] = [{"type": "scale", "scale": scale}]
        if any(trans):
            transforms.append({"type": "translation", "translation": trans})
        datasets.append({"path": path, "coordinateTransformations": transforms})
    return DownsamplePlan(
        url=image.url,
        label=label,
        from_level=k,
        replaced=replaced,
        plan=plan,
        datasets=tuple(datasets),
        method=chosen,
    )


def _new_paths(kept: Sequence[str], cum: Sequence[Sequence[int]], axes: Sequence[str]) -> list[str]:
    """Names for the new levels in the image's own style."""
    mags = [re.fullmatch(r"\d+(-\d+){0,2}", p) for p in kept]
    if any("-" in p for p in kept) and all(mags) and {"x", "y", "z"} <= set(axes):
        # WEBKNOSSOS mags: level-0 factors in x-y-z order.
        order = [list(axes).index(a) for a in "xyz"]
        return ["-".join(str(c[i]) for i in order) for c in cum]
    numbered = [re.fullmatch(r"(.*?)(\d+)", p) for p in kept]
    if all(numbered):
        prefixes = {m.group(1) for m in numbered if m}
        numbers = [int(m.group(2)) for m in numbered if m]
        if len(prefixes) == 1 and numbers == list(range(numbers[0], numbers[0] + len(kept))):
            prefix = prefixes.pop()
            return [f"{prefix}{numbers[-1] + j}" for j in range(1, len(cum) + 1)]
    out = []
    for j in range(len(cum)):
        name = str(len(kept) + j)
        while name in kept or name == "labels":
            name += "_"
        out.append(name)
    return out


def _fingerprint(p: DownsamplePlan) -> str:
    return fingerprint(
        [
            p.from_level,
            p.method,
            p.new_paths,
            p.datasets,
            [lv.model_dump(mode="json") for lv in p.plan.spec.levels],
            [dataclasses.astuple(s) for s in p.plan.stages],
        ]
    )


def _prepare(p: DownsamplePlan, *, resume: bool, rebuild: bool) -> None:
    loc = resolve(p.url)
    found = loc.read_json(DOWNSAMPLE_MARKER)
    fp = _fingerprint(p)
    journal = Journal(loc)
    if resume and not check_resume(
        found, fp, where=loc.display(), work="downsample", restart="rebuild"
    ):
        raise ConflictError(
            f"{loc.display()} holds no interrupted downsample to resume; "
            "run without [[resume=True]]"
        )
    if found is not None and not resume and not rebuild:
        raise ConflictError(
            f"{loc.display()}: an interrupted downsample is not finished (started "
            f"{found.get('started', '?')}); rerun with [[resume=True]] to finish it, or with "
            "[[rebuild=True]] to start again"
        )
    if rebuild or not resumable(found, fp):
        journal.clear()
        _write_marker(loc, p, fp)
    if p.replaced:
        # The image stays valid: a shorter pyramid, then the arrays of the dropped levels go.
        _set_datasets(loc, p.from_level + 1, ())
        for path in p.replaced:
            replace_tree(loc.child(path), what=f"level {path} of the image")
    base_info = read_array_info(loc.child(p.plan.spec.levels[0].path))
    assert base_info is not None
    for level in p.plan.spec.levels[1:]:
        child = loc.child(level.path)
        existing = read_array_info(child)
        if existing is not None and resume and existing.shape == level.shape:
            continue
        if existing is not None or (child.local_path is not None and child.local_path.exists()):
            if not (rebuild or resume or level.path in p.replaced):
                raise ConflictError(
                    f"{child.display()} already exists but is not a level of the image; "
                    "remove it, or pass [[rebuild=True]] to replace it"
                )
            replace_tree(child, what=f"{level.path} (in the way of a new level)")
        derive_array(base_info, child, shape=level.shape, chunks=level.chunks, shards=level.shards)


def _write_marker(loc: Location, p: DownsamplePlan, fp: str) -> None:
    body = marker("ngff downsample", fp, from_level=p.from_level, new_levels=list(p.new_paths))
    try:
        loc.write_json(DOWNSAMPLE_MARKER, body)
    except OSError as exc:
        if not denied(exc):
            raise
        raise StorageError(
            f"{exc}; the image is not writable — downsample needs write access "
            "to add levels (copy it first, or use a writable location)"
        ) from exc


def _set_datasets(
    loc: Location, keep: int, new: Sequence[JsonDict], method: str | None = None
) -> None:
    """Rewrite the multiscale's ``datasets``: the first ``keep`` entries, then ``new``, and
    record ``method`` as the one that made the new levels.

    Edits the stored JSON in place, so everything else in it (other tools' keys, omero,
    unknown attributes) stays as it was.
    """
    found = read_group_attrs(loc)
    if found is None:  # pragma: no cover - opened as an image moments ago
        raise InputError(f"{loc.display()} lost its group metadata")
    zarr_format, _attrs = found
    key = "zarr.json" if zarr_format == 3 else ".zattrs"
    doc = loc.read_json(key) or {}
    attrs = doc.get("attributes", {}) if zarr_format == 3 else doc
    ns = ome_namespace(attrs, zarr_format)
    ms = ns["multiscales"][0]
    old = [d.get("path") for d in ms["datasets"][1:keep]]
    ms["datasets"] = list(ms["datasets"][:keep]) + [dict(d) for d in new]
    if method is not None:
        _set_method(ms, method, old, [str(d.get("path")) for d in new])
    loc.write_json(key, doc)


def _set_method(ms: JsonDict, method: str, kept: Sequence[Any], new: Sequence[str]) -> None:
    """Say which method made the levels: ``type`` when one method made every coarse level,
    else per level in ``metadata.methods`` (``type`` would be wrong for some of them)."""
    before = ms.get("type")
    meta = ms.get("metadata") if isinstance(ms.get("metadata"), dict) else None
    ours = meta is not None and str(meta.get("method", "")).startswith("ngffkit")
    if not kept or before == method:
        ms["type"] = method
        if ours:
            assert meta is not None
            meta.update(description=f"{method} downsampling", method=f"ngffkit.kernels.{method}")
            meta.pop("methods", None)
        return
    ms.pop("type", None)
    per_level = {str(path): before if isinstance(before, str) else "unknown" for path in kept}
    per_level.update(dict.fromkeys(new, method))
    ms["metadata"] = {**(meta or {}), "methods": per_level}


def _finish(p: DownsamplePlan) -> None:
    loc = resolve(p.url)
    _set_datasets(loc, p.from_level + 1, p.datasets, p.method)
    if p.label is None:
        add_missing_rendering(loc)  # an image we rewrote leaves with rendering metadata
    Journal(loc).clear()
    loc.delete(DOWNSAMPLE_MARKER)


__all__ = ["DownsamplePlan", "downsample", "plan_image"]
