"""The planner's promise, over many plans: every brick covers whole shards of every level
it writes, and no two bricks of a stage share a shard or a chunk.

Checked from the outside (the boxes a plan's stages hand out, mapped onto each level's
shard and chunk grid), not by ``bricks.check_whole_shards``, which asserts the same where
bricks are made. Hypothesis draws shapes, chunks, shards, voxel sizes (hence factors),
dtypes, memory budgets and job counts.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ngffkit.bricks import Stage, check_whole_shards
from ngffkit.errors import InputError, OptionError
from ngffkit.plan import ConversionPlan, ConvertOptions, MiB, make_plan

Box = tuple[tuple[int, int], ...]


def _cum(plan: ConversionPlan, level: int) -> tuple[int, ...]:
    out = [1] * len(plan.source_shape)
    for step in plan.factors[:level]:
        out = [o * f for o, f in zip(out, step, strict=True)]
    return tuple(out)


def _grid_cells(
    region: Box, unit: Sequence[int], shape: Sequence[int]
) -> list[tuple[tuple[int, ...], bool]]:
    """The cells of the ``unit`` grid that ``region`` touches, each with whether the
    region holds it whole (cells are clipped to ``shape``)."""
    ranges = [range(a // u, -(-b // u)) for (a, b), u in zip(region, unit, strict=True)]
    out = []
    for cell in itertools.product(*ranges):
        whole = all(
            a <= j * u and min((j + 1) * u, s) <= b
            for j, (a, b), u, s in zip(cell, region, unit, shape, strict=True)
        )
        out.append((cell, whole))
    return out


def broken_promises(plan: ConversionPlan) -> list[str]:
    problems: list[str] = []
    for k, stage in enumerate(plan.stages):
        written = [lv for lv in stage.levels if lv != stage.base_level or stage.from_input]
        base_cum = _cum(plan, stage.base_level)
        for level in written:
            spec = plan.spec.levels[level]
            cum = tuple(c // b for c, b in zip(_cum(plan, level), base_cum, strict=True))
            owners: dict[tuple[str, tuple[int, ...]], int] = {}
            for i, box in enumerate(stage.boxes()):
                region = tuple(
                    (a // c, min(-(-b // c), s))
                    for (a, b), c, s in zip(box, cum, spec.shape, strict=True)
                )
                if any(a >= b for a, b in region):
                    continue  # nothing of this level falls in the brick
                grids = [("chunk", spec.chunks)]
                if spec.shards:
                    grids.append(("shard", spec.shards))
                for kind, unit in grids:
                    for cell, whole in _grid_cells(region, unit, spec.shape):
                        if not whole:
                            problems.append(
                                f"stage {k} brick {i} {box} holds part of {kind} {cell} "
                                f"of level {level}"
                            )
                        other = owners.setdefault((kind, cell), i)
                        if other != i:
                            problems.append(
                                f"stage {k}: bricks {other} and {i} share {kind} {cell} "
                                f"of level {level}"
                            )
    return problems


@st.composite
def plans(draw: st.DrawFn) -> ConversionPlan | None:
    shape = tuple(draw(st.integers(1, 700)) for _ in range(3))
    chunk = tuple(draw(st.sampled_from([8, 16, 32, 64, 128])) for _ in range(3))
    shard_chunks = draw(st.one_of(st.none(), st.just("none"), st.tuples(*[st.integers(1, 4)] * 3)))
    shards = (
        tuple(c * n for c, n in zip(chunk, shard_chunks, strict=True))
        if isinstance(shard_chunks, tuple)
        else shard_chunks
    )
    z, y = draw(st.sampled_from([1.0, 1.0, 2.0, 3.5, 8.0])), draw(st.sampled_from([1.0, 2.0]))
    options = ConvertOptions(
        chunks=chunk,
        shards=shards,
        voxel_size={"z": z, "y": y, "x": 1.0},
        unit="micrometer",
        max_memory=draw(st.integers(110, 2048)) * MiB,
        jobs=draw(st.integers(1, 16)),
        levels=draw(st.one_of(st.none(), st.integers(1, 8))),
        method=draw(st.sampled_from(["mean", "nearest"])),
    )
    dtype = draw(st.sampled_from(["uint8", "uint16", "float32"]))
    try:
        return make_plan(shape, dtype, ("z", "y", "x"), options, window_cheap=draw(st.booleans()))
    except OptionError:
        return None  # a budget too small for this input: refused up front, not planned
    except InputError as exc:
        # more levels than the shape allows (1×1×1 with levels=2): refused, not planned
        assert "downsampling steps" in str(exc)
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans())
def test_bricks_cover_whole_shards_and_share_none(plan: ConversionPlan | None) -> None:
    if plan is None:
        event("refused: budget too small")
        return
    event(f"stages: {len(plan.stages)}")
    event("one brick" if plan.stages[0].n_bricks == 1 else "several bricks")
    assert sum(s.n_bricks for s in plan.stages) < 100_000
    assert broken_promises(plan) == []
    # every voxel of level 0 is in exactly one brick of the first stage
    first = plan.stages[0]
    assert sum(math.prod(b - a for a, b in box) for box in first.boxes()) == math.prod(
        first.base_shape
    )


def test_a_broken_promise_is_caught() -> None:
    """Both checks fail on a brick that splits a shard."""
    plan = make_plan(
        (256, 256, 256),
        "uint8",
        ("z", "y", "x"),
        ConvertOptions(chunks=32, shards=128, max_memory=512 * MiB),
        window_cheap=True,
    )
    stage = plan.stages[0]
    bad = Stage(stage.base_level, stage.levels, stage.base_shape, (96, 256, 256), stage.from_input)
    broken = ConversionPlan(**{**plan.__dict__, "stages": (bad,)})
    assert any("holds part of shard" in p for p in broken_promises(broken))
    units = [lv.shards or lv.chunks for lv in plan.spec.levels[: len(bad.levels)]]
    cum = [_cum(plan, lv) for lv in bad.levels]
    with pytest.raises(AssertionError, match="planner bug"):
        check_whole_shards(bad, units, cum)
