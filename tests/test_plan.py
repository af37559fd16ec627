"""The planner's choices that are not visible in a conversion's output: which kernels a run
loads and how its memory estimate is made up."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ngffkit.plan import (
    BASE_MEMORY,
    COMPILED_KERNELS_FROM,
    COMPILED_KERNELS_MEMORY,
    ConversionPlan,
    ConvertOptions,
    make_plan,
)

GiB = 1 << 30
ZYX = ("z", "y", "x")


def plan_for(shape: tuple[int, int, int], dtype: str, **options: Any) -> ConversionPlan:
    return make_plan(
        shape, np.dtype(dtype), ZYX, ConvertOptions(**options), window_cheap=True, cpu_count=2
    )


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_compiled_kernels_from_a_size_in_bytes(dtype: str) -> None:
    itemsize = np.dtype(dtype).itemsize
    # The same number of bytes either side of the threshold, whatever the voxel type.
    side = 2048
    below_z = (COMPILED_KERNELS_FROM // (side * side * itemsize)) - 1
    small = plan_for((below_z, side, side), dtype)
    big = plan_for((below_z + 2, side, side), dtype)
    assert not small.compiled_kernels
    assert big.compiled_kernels
    assert small.base_memory == BASE_MEMORY
    assert big.base_memory == BASE_MEMORY + COMPILED_KERNELS_MEMORY
    assert big.memory_estimate == big.base_memory + big.workers * big.task_memory


@pytest.mark.parametrize("method", ["median", "mode"])
def test_median_and_mode_always_compile(method: str) -> None:
    assert plan_for((64, 64, 64), "uint8", method=method).compiled_kernels


def test_a_tight_budget_keeps_the_numpy_path() -> None:
    shape = (2048, 2048, 2048)  # 8 GiB of uint8: far past the threshold
    assert plan_for(shape, "uint8").compiled_kernels
    tight = plan_for(shape, "uint8", max_memory=BASE_MEMORY + COMPILED_KERNELS_MEMORY)
    assert not tight.compiled_kernels
    assert tight.memory_estimate <= BASE_MEMORY + COMPILED_KERNELS_MEMORY


# -- chunks and shards are clipped alike, after the user's own numbers are checked (issue 12,
# defect 7) ------------------------------------------------------------------------------------


def test_shards_are_clipped_as_chunks_are() -> None:
    """--chunks 32 --shards 64 on 30 slices was refused as "64 is not a multiple of 30"."""
    plan = plan_for((30, 100, 90), "uint8", chunks=32, shards=64, levels=1)
    assert plan.spec.levels[0].chunks == (30, 32, 32)
    assert plan.spec.levels[0].shards == (30, 64, 64)
    plan = plan_for((37, 200, 70), "uint8", chunks=64, shards=64, levels=1)
    assert plan.spec.levels[0].chunks == (37, 64, 64)
    assert plan.spec.levels[0].shards == (37, 64, 64)
    plan = plan_for((100, 100, 100), "uint8", chunks=64, shards=256, levels=1)
    assert plan.spec.levels[0].shards == (128, 128, 128)


def test_shard_check_names_the_users_numbers() -> None:
    from ngffkit.errors import OptionError

    with pytest.raises(OptionError, match="48 on axis z is not a multiple of the chunk size 32"):
        plan_for((30, 100, 90), "uint8", chunks=32, shards=(48, 64, 64))


def test_shards_none_is_unsharded_05() -> None:
    plan = plan_for((70, 80, 90), "uint8", chunks=32, shards="none", levels=2)
    assert plan.spec.version == "0.5"
    assert all(level.shards is None for level in plan.spec.levels)
