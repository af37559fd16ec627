"""The brick journal and how chunk files are written: through the page cache on one machine,
synced where a crash could go unseen — and a resume after the machine restarted writes
every brick again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ngffkit
from ngffkit.execution import SequentialExecutor, _with_write_mode
from ngffkit.markers import JOURNAL
from ngffkit.samples import scroll_volume
from ngffkit.storage import resolve
from ngffkit.tasks import Job, Journal, boot_id, level_store
from run_helpers import kill_when_journalled, ngff, tree_digest
from test_convert import write_stack

pytestmark = pytest.mark.skipif(boot_id() is None, reason="needs Linux's boot id")


def journal_at(tmp_path: Path) -> Journal:
    return Journal(resolve(tmp_path / "out"))


def test_a_journal_of_this_boot_is_trusted(tmp_path: Path) -> None:
    journal = journal_at(tmp_path)
    assert journal.start(synced=False)
    journal.mark(0, 3)
    assert journal.start(synced=False)  # a resume on the same boot
    assert journal.done() == {"s0-b3"}


def journal_of_an_earlier_boot(tmp_path: Path, synced: bool) -> tuple[Journal, Path]:
    """A journal with brick s0-b1, written during another boot of the machine."""
    journal = journal_at(tmp_path)
    journal.start(synced=synced)
    journal.mark(0, 1)
    record = tmp_path / "out" / JOURNAL / Journal.WRITES
    record.write_text(json.dumps({"boot_id": "an-earlier-boot", "synced": synced}))
    return journal, record


def test_unsynced_bricks_of_another_boot_are_written_again(tmp_path: Path) -> None:
    journal, record = journal_of_an_earlier_boot(tmp_path, synced=False)
    assert not journal.start(synced=False)
    assert journal.done() == set()
    assert json.loads(record.read_text()) == {"boot_id": boot_id(), "synced": False}


def test_synced_bricks_survive_a_restart(tmp_path: Path) -> None:
    journal, record = journal_of_an_earlier_boot(tmp_path, synced=True)
    assert journal.start(synced=False)
    assert journal.done() == {"s0-b1"}
    # From now on the journal holds unsynced bricks too: a later restart drops them all.
    assert json.loads(record.read_text())["synced"] is False


def tiny_image(tmp_path: Path) -> Path:
    volume = scroll_volume((16, 32, 32), "uint8", seed=1)
    out = tmp_path / "img.zarr"
    ngffkit.convert(write_stack(tmp_path / "s", volume), out, levels=1)
    return out


def test_local_runs_skip_fsync_and_compress_keeps_it(tmp_path: Path) -> None:
    out = tiny_image(tmp_path)
    plan: Any = ngffkit.plan_convert(tmp_path / "s", tmp_path / "x.zarr")
    pool = SequentialExecutor()
    local = _with_write_mode(Job(output=str(out), plan=plan), journal_at(tmp_path), pool)
    assert local.synced_writes is False
    kept = _with_write_mode(
        Job(output=str(out), plan=plan, synced_writes=True), journal_at(tmp_path), pool
    )
    assert kept.synced_writes is True
    for synced in (False, True):
        store = level_store(str(out), "0", write_empty=False, synced=synced)
        assert store.kvstore is not None
        assert store.kvstore.spec(retain_context=True).to_json()["file_io_sync"] is synced
        np.testing.assert_array_equal(store.read().result(), ngffkit.open(out).read())


def test_resume_after_a_restart_rewrites_every_brick(tmp_path: Path) -> None:
    volume = scroll_volume((128, 256, 512), "uint16", seed=7)
    stack = write_stack(tmp_path / "stack", volume)
    common = [
        "--chunks",
        "16",
        "--shards",
        "16",
        "--levels",
        "3",
        "--jobs",
        "2",
        "-q",
        "--max-memory",
        "300M",
    ]
    reference = tmp_path / "ref" / "out.zarr"
    done = ngff("convert", str(stack), str(reference), *common)
    assert done.wait(timeout=300) == 0, done.stderr.read() if done.stderr else ""
    out = tmp_path / "killed" / "out.zarr"
    proc = ngff("convert", str(stack), str(out), *common)
    kill_when_journalled(proc, out)
    record = out / JOURNAL / Journal.WRITES
    assert json.loads(record.read_text()) == {"boot_id": boot_id(), "synced": False}
    # As if the machine had crashed and restarted since the run began.
    record.write_text(json.dumps({"boot_id": "an-earlier-boot", "synced": False}))
    resumed = ngff("convert", str(stack), str(out), *common, "--resume")
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    assert "Warning: " in stderr and "the machine restarted" in stderr
    assert "writing every brick again" in stderr
    assert tree_digest(out) == tree_digest(reference)
