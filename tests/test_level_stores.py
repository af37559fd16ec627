"""Level arrays opened ahead of the bricks (``tasks.open_levels_ahead``): the bricks take
the stores opened for them, and an array that cannot be opened ahead is reported by the
brick that needs it, as when nothing was opened ahead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ngffkit
from ngffkit import tasks
from ngffkit.errors import StorageError
from ngffkit.samples import scroll_volume
from ngffkit.tasks import Job, forget_handles, level_store, open_levels_ahead
from test_convert import write_stack


@pytest.fixture()
def image(tmp_path: Path) -> Iterator[tuple[Path, Job, np.ndarray]]:
    volume = scroll_volume((32, 64, 64), "uint16", seed=4)
    stack = write_stack(tmp_path / "s", volume)
    out = tmp_path / "img.zarr"
    ngffkit.convert(stack, out, levels=2, version="0.4")
    plan: Any = ngffkit.plan_convert(stack, tmp_path / "x.zarr", levels=2, version="0.4")
    forget_handles()
    yield out, Job(output=str(out), plan=plan, synced_writes=False), volume
    forget_handles()


def store_of(job: Job, path: str) -> Any:
    """The level array a brick of ``job`` asks for (tasks.run_brick's call)."""
    plan = job.plan
    return level_store(
        job.output,
        path,
        write_empty=plan.write_empty_chunks,
        synced=job.syncs,
        threads=plan.threads,
    )


def test_the_bricks_take_the_level_arrays_opened_ahead(image: tuple[Path, Job, Any]) -> None:
    out, job, volume = image
    open_levels_ahead(job)
    started = list(tasks._opening.values())
    assert len(started) == 2  # both levels
    for _, opening in started:
        opening.result()  # done, so that what follows does not race the opens
    # Once opened, the arrays no longer need their metadata: a brick that opened its
    # array itself would now find it missing.
    for level in ("0", "1"):
        (out / level / ".zarray").unlink()
    np.testing.assert_array_equal(store_of(job, "0").read().result(), volume)
    assert store_of(job, "1").shape == (16, 32, 32)
    assert store_of(job, "0") is store_of(job, "0")  # then cached, as before


def test_an_array_that_cannot_be_opened_ahead_is_reported_by_its_brick(
    image: tuple[Path, Job, Any],
) -> None:
    out, job, _ = image
    (out / "1" / ".zarray").unlink()
    open_levels_ahead(job)  # says nothing: no brick needs the array yet
    np.testing.assert_array_equal(store_of(job, "0").shape, (32, 64, 64))
    with pytest.raises(StorageError, match=r"the level array .*1 is missing; rerun with"):
        store_of(job, "1")
