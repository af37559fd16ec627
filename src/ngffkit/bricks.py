"""Bricks: how a stage of a plan cuts its base level into tasks, pure arithmetic.

A :class:`Stage` reads its base level (or the input) brick by brick and writes the levels
it reaches; :func:`choose_brick` sizes the brick from the memory budget so that it reaches
as many levels as it can, and :func:`check_whole_shards` asserts the planner's promise
where bricks are made: every brick covers whole shards of each level it writes, so no two
tasks ever write one shard.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ngffkit._kernels_numpy import SCRATCH_BYTES
from ngffkit.sources._fileread import STRIP_BYTES

# What a task's thread holds besides its brick's data, kept or made again per brick: the
# bounded reader's strip (raw files and uncompressed TIFFs read narrower than a row) and
# the numpy kernels' temporaries (measured 6-7 MiB per thread).
TASK_SCRATCH = STRIP_BYTES + SCRATCH_BYTES


@dataclass(frozen=True)
class Stage:
    """One pass over bricks: read ``base_level`` (or the input, for stage 0), write ``levels``."""

    base_level: int
    levels: tuple[int, ...]
    base_shape: tuple[int, ...]
    brick: tuple[int, ...]
    from_input: bool

    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(-(-s // b) for s, b in zip(self.base_shape, self.brick, strict=True))

    @property
    def n_bricks(self) -> int:
        return math.prod(self.grid)

    def box(self, index: int) -> tuple[tuple[int, int], ...]:
        """Brick ``index`` (C order over the grid) as (start, stop) per axis."""
        pos = np.unravel_index(index, self.grid)
        return tuple(
            (int(p) * b, min((int(p) + 1) * b, s))
            for p, b, s in zip(pos, self.brick, self.base_shape, strict=True)
        )

    def boxes(self) -> Iterator[tuple[tuple[int, int], ...]]:
        for i in range(self.n_bricks):
            yield self.box(i)


def shape_text(values: Sequence[Any] | None) -> str:
    """``64×64×64`` (``-`` for none): a shape, brick or factor as plans print it."""
    return "×".join(str(v) for v in values) if values else "-"


def _lcm_all(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out = out * v // math.gcd(out, v)
    return out


def choose_brick(
    base_shape: Sequence[int],
    units: Sequence[Sequence[int]],
    cum: Sequence[Sequence[int]],
    itemsize: int,
    budget: int,
    *,
    full_width: bool,
    min_bricks: int,
    target: int | None = None,
) -> tuple[tuple[int, ...], int, bool]:
    """A brick of about ``target`` bytes that reaches as many levels as it can.

    ``units[k]`` is the write granule (shard, or chunk) of the k-th level of the stage, and
    ``cum[k]`` its factor relative to the stage's base level (``units[0]``/``cum[0]`` are the
    base level's own). Returns the brick, how many levels (base included) it reaches, and
    whether reaching even one lower level needed more than ``budget``.

    Bricks beyond ``target`` (default: ``budget``) only cost memory: per-brick overheads are
    small at that size, and a level a brick does not reach is built in a later stage that
    re-reads 1/8 per level skipped. So the deepest reach within ``target`` wins; when
    nothing fits it, the smallest brick within ``budget``. With ``full_width`` (inputs that
    decode whole rows, so narrower bricks would decode the same rows again) bricks span x
    whenever one fits the budget.
    """
    target = budget if target is None else min(target, budget)
    n = len(base_shape)

    def required(k: int, wide: bool) -> list[int]:
        req = []
        for axis in range(n):
            granule = _lcm_all([units[j][axis] * cum[j][axis] for j in range(k)])
            req.append(
                min(granule, base_shape[axis]) if granule < base_shape[axis] else base_shape[axis]
            )
        if wide:
            req[-1] = base_shape[-1]
        return req

    def fits(b: Sequence[int], limit: int = target) -> bool:
        return math.prod(b) * itemsize <= limit

    def count(b: Sequence[int]) -> int:
        return math.prod(-(-s // x) for s, x in zip(base_shape, b, strict=True))

    Option = tuple[int, list[int]]

    def busy(options: list[Option]) -> list[Option]:
        # Enough bricks for every worker matters only when the stage is big: a stage that
        # fits in one target-sized brick is quicker done in one go than in another stage.
        if fits(base_shape):
            return options
        return [(k, r) for k, r in options if count(r) >= min_bricks]

    def pick(options: list[Option]) -> Option | None:
        small = [(k, r) for k, r in options if fits(r)]
        if small:
            return (busy(small) or small)[0]  # the deepest reach within the target
        fitting = [(k, r) for k, r in options if fits(r, budget)]
        return fitting[-1] if fitting else None  # else the smallest within the budget

    # Reach as deep as the target allows while leaving enough bricks for the workers; the
    # levels a brick does not reach cost a re-read of only 1/8 per level skipped.
    # A stage must reach at least one level below its base, or it makes no progress.
    # Inputs that decode whole rows get full-width bricks if any fits the budget.
    min_k = 2 if len(units) > 1 else 1
    narrow = [(k, required(k, False)) for k in range(len(units), min_k - 1, -1)]
    wide = [(k, required(k, True)) for k in range(len(units), min_k - 1, -1)]
    choice = (pick(wide) if full_width else None) or pick(narrow)
    over_budget = choice is None
    best_k, brick = choice or narrow[-1]
    granule = list(brick)

    # Grow along x, then y, then z (the order the data is laid out in slices), in whole
    # granules, while it fits the target and leaves enough bricks to keep every worker busy.
    for axis in range(n - 1, -1, -1):
        while brick[axis] < base_shape[axis]:
            bigger = list(brick)
            bigger[axis] = min(brick[axis] * 2, base_shape[axis])
            if bigger[axis] % granule[axis] and bigger[axis] != base_shape[axis]:
                break
            if not fits(bigger) or count(bigger) < min_bricks:
                break
            brick = bigger
    return tuple(brick), best_k, over_budget


def check_whole_shards(
    stage: Stage, units: Sequence[Sequence[int]], cum: Sequence[Sequence[int]]
) -> None:
    """The planner's promise, checked where bricks are made: every brick covers whole
    shards (chunks, unsharded) of each level it writes, so no two bricks share one and
    tasks never race on a shard. ``units[k]``, ``cum[k]``: the k-th level of the stage's
    write granule and its factor from the stage's base. Bricks tile the base level from 0,
    so it holds when a brick is a multiple of every level's granule (in base voxels), or
    spans the whole axis.
    """
    for k, level in enumerate(stage.levels):
        if level == stage.base_level and not stage.from_input:
            continue  # a reduction stage reads its base level; it does not write it
        for b, u, c, extent in zip(stage.brick, units[k], cum[k], stage.base_shape, strict=True):
            if b < extent and b % (u * c):
                raise AssertionError(
                    f"planner bug: brick {shape_text(stage.brick)} of stage {stage.base_level} does "
                    f"not cover whole shards {shape_text(units[k])} of level {level}"
                )


def task_held(
    stage: Stage,
    cum: Sequence[Sequence[int]],
    chunks: Sequence[Sequence[int]],
    in_itemsize: int,
    out_itemsize: int,
    *,
    cast: bool,
) -> int:
    """The most bytes one task of ``stage`` holds, term by term; ``cum[k]`` and
    ``chunks[k]`` are the k-th level of the stage's factor relative to its base level and
    its chunk shape. Measured on a 160 × 256 × 256 uint16 brick (20 MiB, numpy path,
    zstd 5): 77 MiB, of which tensorstore held 47; this counts 79.

    * the input buffer (the brick as read) and its cast copy when casting;
    * the lower levels computed (their voxels: 1/7 of the brick for 2×2×2);
    * tensorstore's chunk-order copy of every level written, in whole chunks: a brick that
      ends inside a chunk (the array's edge: 160 of a 192 shard) costs all of it (measured:
      29 MiB held writing 22.5 MiB of levels uncompressed);
    * the encoded chunks of level 0's shard until it is written: at most its bytes
      (incompressible data; 13 MiB of 20 at zstd 5 on the benchmark's volume);
    * the thread's reused scratch (:data:`TASK_SCRATCH`).
    """
    clipped = [min(b, s) for b, s in zip(stage.brick, stage.base_shape, strict=True)]
    voxels = math.prod(clipped)
    held = voxels * (in_itemsize if stage.from_input else out_itemsize)
    if stage.from_input and cast:
        held += voxels * out_itemsize
    held += voxels * out_itemsize  # the encoded chunks
    for k, (rel, chunk) in enumerate(zip(cum, chunks, strict=True)):
        extent = [-(-n // r) for n, r in zip(clipped, rel, strict=True)]
        if k > 0:
            held += math.prod(extent) * out_itemsize  # the level computed
        elif not stage.from_input:
            continue  # a reduction stage's base level is stored already
        padded = math.prod(-(-n // c) * c for n, c in zip(extent, chunk, strict=True))
        held += padded * out_itemsize
    return held + TASK_SCRATCH


Grid = tuple[Stage, ...]


def fitting_grid(
    cut: Callable[[int], Grid | None],
    held: Callable[[Grid], int],
    budget: int,
    room: int,
    largest: int,
) -> tuple[Grid, bool]:
    """The grid a task budget of ``budget`` bytes cuts, or, where one of its tasks would hold
    more than ``room`` bytes, the grid of the largest smaller task budget whose tasks fit:
    the bricks a smaller memory budget would have chosen. Returns the grid and whether it
    fits; where none does, the grid of the least task budget that cuts one (the smallest
    bricks), to say what the least room is.

    ``cut(b)``: the stages that a task budget ``b`` cuts (``None`` where no brick reaching a
    lower level fits ``b``); ``held(grid)``: what the largest task of ``grid`` holds;
    ``largest``: a task budget that cuts a grid whatever the input (its size in bytes).

    Why this shape: the grid follows a nominal budget, never a measurement, so a run's
    bricks (and a resume's fingerprint) stay the same whichever process plans it, as long
    as they fit the room the process leaves. The smallest bricks follow from the input
    alone and hold the least, so whether a plan exists depends on the room only through
    them: a bigger budget is never refused where a smaller one runs
    (tests/test_memory_monotonic.py).
    """
    grid = cut(budget)
    if grid is not None and held(grid) <= room:
        return grid, True
    # The least task budget that cuts a grid (bisected: cut(lo) is None, cut(hi) is not).
    lo, hi = 0, largest
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if cut(mid) is None else (lo, mid)
    least = cut(hi)
    assert least is not None, f"no grid at the largest task budget {largest}"
    if held(least) > room or budget <= hi:  # nothing fits, or nothing smaller to try
        return least, held(least) <= room
    # The largest task budget below ``budget`` whose grid fits (its grid fits at lo).
    lo, hi = hi, budget
    while hi - lo > 1:
        mid = (lo + hi) // 2
        got = cut(mid)
        lo, hi = (mid, hi) if got is not None and held(got) <= room else (lo, mid)
    found = cut(lo)
    assert found is not None
    return found, True


__all__ = [
    "TASK_SCRATCH",
    "Grid",
    "Stage",
    "check_whole_shards",
    "choose_brick",
    "fitting_grid",
    "shape_text",
    "task_held",
]
