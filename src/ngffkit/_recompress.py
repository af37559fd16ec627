"""``ngffkit.compress``: re-encode an OME-Zarr image — codecs, chunks, shards, 0.4 ↔ 0.5.

(Codecs themselves — parsing ``zstd:5``, their Zarr JSON — are :mod:`ngffkit.compression`;
the plan of what each array becomes is :mod:`ngffkit.recompress_plan`.)

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

import os
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from ngffkit import swap
from ngffkit._dask import cluster_budget, runs_here
from ngffkit._output import check_apart, claim_output, output_lock
from ngffkit.arrays import ArrayInfo, create_array, read_array_info
from ngffkit.error_mapping import denied
from ngffkit.errors import ConflictError, OptionError, StorageError
from ngffkit.execution import Notice, Progress, run_plans
from ngffkit.image import Image, open_image
from ngffkit.markers import PARTIAL_MARKER, check_resume, marker, resumable
from ngffkit.omero import add_missing_rendering
from ngffkit.recompress_plan import CompressPlan, LevelCopy, PerAxis, plan_compress
from ngffkit.storage import Location, StorageOptionsArg, accepts_storage_options, resolve
from ngffkit.tasks import Job, Journal


@dataclass(frozen=True)
class _Run:
    """What :func:`compress` was asked, its budget resolved: the encoding, and how to run."""

    version: str | None
    compression: str | None
    chunks: PerAxis
    shards: PerAxis | str
    max_memory: int
    jobs: int | None
    executor: Executor | str | Any
    scheduler: str | None
    progress: Progress | None
    say: Notice

    def plan(self, image: Image) -> CompressPlan:
        """What each of ``image``'s arrays becomes."""
        return plan_compress(
            image,
            version=self.version,
            compression=self.compression,
            chunks=self.chunks,
            shards=self.shards,
            max_memory=self.max_memory,
            jobs=self.jobs,
            here=runs_here(self.executor, self.scheduler),
        )


def _create(dest: Location, lv: LevelCopy, *, resume: bool) -> None:
    existing = read_array_info(dest)
    if existing is not None:
        if resume and _matches(existing, lv):
            return
        dest.delete_tree()
    create_array(dest, lv.layout)


def _matches(info: ArrayInfo, lv: LevelCopy) -> bool:
    return (info.zarr_format, info.shape, info.chunks, info.shards) == (
        lv.zarr_format,
        lv.shape,
        lv.chunks,
        lv.shards,
    )


def _copy_levels(plan: CompressPlan, dest_root: Location, run: _Run, *, resume: bool) -> None:
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
    run_plans(jobs, run.executor, progress=run.progress, scheduler=run.scheduler, notice=run.say)
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
    jobs, max_memory = cluster_budget(executor, scheduler, jobs, max_memory)
    run = _Run(
        version, compression, chunks, shards, max_memory, jobs, executor, scheduler, progress,
        notice or (lambda _message: None),
    )  # fmt: skip
    if output is None:
        return _in_place(resolve(url), run, rollback=rollback, dry_run=dry_run)
    if rollback:
        raise OptionError(
            "rollback",
            "undoes an interrupted in-place compress; it does not "
            "go with [[output]] (delete the output instead)",
        )
    image = open_image(url)
    plan = run.plan(image)
    if dry_run:
        return plan
    out = resolve(output)
    check_apart(image.location, out, what="the image")
    with output_lock(out, "ngff compress"):
        return _to_output(plan, image, out, run, resume=resume, overwrite=overwrite)


def _to_output(
    plan: CompressPlan, image: Image, out: Location, run: _Run, *, resume: bool, overwrite: bool
) -> Image:
    if resume:
        found = out.read_json(PARTIAL_MARKER)
        where = out.display()
        if not check_resume(
            found, plan.fingerprint, where=where, work="compress", restart="overwrite"
        ):
            raise ConflictError(
                f"{where} holds no interrupted compress to resume; run without "
                "[[resume=True]], or start again with [[overwrite=True]]"
            )
        run.say(f"continuing the interrupted compress into {out.display()}")
    else:
        claim_output(out, overwrite)
        out.write_json(PARTIAL_MARKER, marker("ngff compress", plan.fingerprint, source=image.url))
    _copy_levels(plan, out, run, resume=resume)
    # Label images, then the labels group, then the image itself: metadata last.
    for rel in sorted(plan.groups, key=lambda r: (-r.count("/"), r == "")):
        loc = out.child(rel) if rel else out
        for name, doc in plan.groups[rel]["write"].items():
            loc.write_json(name, doc)
    add_missing_rendering(out)
    out.delete(PARTIAL_MARKER)
    return open_image(out)


def _in_place(root: Location, run: _Run, *, rollback: bool, dry_run: bool) -> Image | CompressPlan:
    swap.work_dir(root)  # refuses stores that cannot rename
    if dry_run:
        return _in_place_locked(root, run, rollback=rollback, dry_run=dry_run)
    with output_lock(
        root,
        "ngff compress",
        new_output=False,
        denied_hint="compress it to a writable place with [[output=OUT]]",
    ):
        return _in_place_locked(root, run, rollback=rollback, dry_run=dry_run)


def _in_place_locked(
    root: Location, run: _Run, *, rollback: bool, dry_run: bool
) -> Image | CompressPlan:
    say = run.say
    state = swap.read_state(root)
    finished = False  # an interrupted run finished here: something was done
    if state is not None and not dry_run:
        phase = state.get("phase")
        if rollback:
            swap.rollback(root, state)
            say(
                f"rolled back the interrupted compress of {root.display()} "
                f"({state.get('summary', '')}); the image is as it was before"
            )
            return open_image(root)
        if phase == "done":
            swap.cleanup(root)
            say(
                f"finished the interrupted compress of {root.display()} (only cleaning up was left)"
            )
        elif phase == "swapping":
            say(
                f"continuing the interrupted compress of {root.display()}: its new levels "
                "were complete and verified, finishing the swap"
            )
            swap.swap(root, state)
        finished = phase in ("done", "swapping")
        state = None if finished else state
    elif rollback:
        say(f"nothing to roll back: no interrupted compress in {root.display()}")
        return open_image(root)
    image = open_image(root)
    plan = run.plan(image)
    if dry_run:
        return plan
    if state is not None:
        if resumable(state, plan.fingerprint):
            say(f"continuing the interrupted compress of {root.display()}")
        else:
            swap.rollback(root, state)
            say(
                f"rolled back the interrupted compress of {root.display()} (it was started "
                f"with other options: {state.get('summary', '?')}); starting again"
            )
            state = None
    if plan.unchanged and state is None:
        say(f"nothing to do: {root.display()} already has this encoding")
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
                f"{root.display()} is not writable ({exc}); compress it to a "
                "writable place with [[output=OUT]]"
            ) from None
    _copy_levels(plan, swap.new_location(root), run, resume=True)
    swap.swap(root, state)
    add_missing_rendering(root)  # one atomic JSON write; an image with a block keeps it
    return open_image(root)


__all__ = ["compress"]
