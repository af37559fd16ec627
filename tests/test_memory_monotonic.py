"""A bigger ``--max-memory`` is never refused where a smaller one runs (issue 17).

The bricks follow the nominal base (:data:`ngffkit.plan.NOMINAL_BASE`), never a measurement,
so that what is written and a resume's fingerprint do not depend on the process. Where the
process's measured base is bigger (a fresh Python 3.13 venv holds about 152 MiB before any
data), the bricks a budget picks can leave no room beside it; the planner then steps down to
the bricks a smaller budget would pick, and refuses only where even the smallest do not fit.
Before that, a 64×768×1024 uint16 input at ``--jobs 1`` ran at 213 MiB, was refused from 220
to 264 MiB ("allow at least 265") and ran again from 265.

These sweeps plan with a raised base (pure planning, no process memory involved) and check,
budget by budget: once a budget plans, every bigger one plans; every plan's estimate is
within its budget; the bricks are the nominal ones wherever they fit; and a refusal names the
least budget that plans.
"""

from __future__ import annotations

import re

import pytest

from ngffkit.errors import OptionError
from ngffkit.plan import (
    BASE_MEMORY,
    COMPILED_KERNELS_MEMORY,
    ConversionPlan,
    ConvertOptions,
    make_plan,
)
from ngffkit.process_memory import ProcessBase

MiB = 1 << 20
ZYX = ("z", "y", "x")
# what a fresh Python 3.13 venv held (152 MiB), and more
RAISED = [
    ProcessBase(BASE_MEMORY + 52 * MiB, COMPILED_KERNELS_MEMORY),
    ProcessBase(BASE_MEMORY + 130 * MiB, COMPILED_KERNELS_MEMORY + 40 * MiB),
]
CASES = [
    ((64, 768, 1024), "uint16", {}),  # the case seen on 3.13 (tests/test_memory_jobs.py)
    ((160, 1024, 2048), "uint16", {"version": "0.4"}),
    ((48, 1972, 2024), "uint8", {}),  # scroll-shaped
    ((160, 1280, 1536), "uint32", {"method": "mode", "shards": 128}),  # labels: compiled
    ((96, 512, 768), "uint16", {"dtype": "uint8", "window": (0, 4095)}),  # a cast
]
STEP = 4 * MiB


def _plan(
    shape: tuple[int, ...],
    dtype: str,
    extra: dict[str, object],
    budget: int,
    jobs: int,
    **kw: object,
) -> ConversionPlan | str:
    """The plan, or the refusal's message."""
    options = ConvertOptions(max_memory=budget, jobs=jobs, **extra)  # type: ignore[arg-type]
    try:
        return make_plan(shape, dtype, ZYX, options, cpu_count=16, **kw)  # type: ignore[arg-type]
    except OptionError as exc:
        assert "allow at least" in str(exc), exc
        return str(exc)


@pytest.mark.parametrize(("shape", "dtype", "extra"), CASES)
@pytest.mark.parametrize(("jobs", "cheap"), [(1, True), (2, False), (4, True), (16, True)])
@pytest.mark.parametrize("base", RAISED, ids=["152M", "230M"])
def test_a_bigger_budget_plans_wherever_a_smaller_one_does(
    shape: tuple[int, ...],
    dtype: str,
    extra: dict[str, object],
    jobs: int,
    cheap: bool,
    base: ProcessBase,
) -> None:
    planned_at = None
    refused = None
    for budget in range(BASE_MEMORY + MiB, base.process + 320 * MiB, STEP):
        plan = _plan(shape, dtype, extra, budget, jobs, window_cheap=cheap, process_base=base)
        if isinstance(plan, str):
            assert planned_at is None, (
                f"{budget // MiB} MiB refused after {planned_at // MiB} MiB planned: {plan}"
            )
            refused = plan
            continue
        planned_at = planned_at or budget
        assert plan.memory_estimate <= budget
        assert plan.process_memory == base.process
        # the nominal bricks wherever they fit beside the raised base
        nominal = _plan(shape, dtype, extra, budget, jobs, window_cheap=cheap)
        if not isinstance(nominal, str) and base.process + nominal.task_memory <= budget:
            assert plan.stages == nominal.stages
    assert planned_at is not None and refused is not None
    # the refusal names the least budget that plans
    found = re.search(r"allow at least (\d+) MiB", refused)
    assert found, refused
    least = int(found[1]) * MiB
    assert least <= planned_at
    kw = {"window_cheap": cheap, "process_base": base}
    assert not isinstance(_plan(shape, dtype, extra, least, jobs, **kw), str)
    assert isinstance(_plan(shape, dtype, extra, least - MiB, jobs, **kw), str)


def test_the_case_seen_on_python_313_plans_at_every_budget_from_the_least() -> None:
    # 64×768×1024 uint16 at --jobs 1 beside a 152 MiB base: 213 MiB ran (6 bricks),
    # 220-264 MiB were refused; now each runs, on the bricks a smaller budget picks where
    # the nominal ones do not fit, and on the nominal ones from where they do.
    base = ProcessBase(152 * MiB, COMPILED_KERNELS_MEMORY)
    shape = (64, 768, 1024)
    bricks = {}
    for budget in range(213, 301):
        plan = _plan(shape, "uint16", {}, budget * MiB, 1, window_cheap=True, process_base=base)
        assert not isinstance(plan, str), plan
        bricks[budget] = plan.stages[0].n_bricks
        assert plan.memory_estimate <= budget * MiB
    assert bricks[213] == bricks[264] == 6
    assert bricks[300] == 4  # the nominal grid, once it fits
    assert sorted(bricks.values(), reverse=True) == list(bricks.values())
