"""The --overwrite rule and the writer's lock on an object store (moto's S3 on 127.0.0.1)."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ngffkit._convert import convert
from ngffkit._output import _start_time
from ngffkit.errors import ConflictError
from ngffkit.image import open_image
from ngffkit.markers import LOCK
from ngffkit.tasks import boot_id
from safety_helpers import write_stack

from .conftest import Moto


def test_overwrite_refuses_keys_that_are_not_zarr(s3: Moto, tmp_path: Path) -> None:
    s3.create_bucket("docs")
    client = s3.client()
    for key in ("papers/thesis.docx", "papers/notes.txt"):
        client.put_object(Bucket="docs", Key=key, Body=b"years of work")
    write_stack(tmp_path / "stack")
    with pytest.raises(
        ConflictError,
        match=r"holds 2 files or folders that are not Zarr "
        r"\(notes.txt, thesis.docx\)",
    ):
        convert(tmp_path / "stack", "s3://docs/papers", overwrite=True, levels=1)
    assert sorted(s3.keys("docs")) == ["papers/notes.txt", "papers/thesis.docx"]


def test_a_live_lock_keeps_a_second_writer_out(s3: Moto, tmp_path: Path) -> None:
    s3.create_bucket("locked")
    data = write_stack(tmp_path / "stack")
    url = "s3://locked/img.ome.zarr"
    holder = subprocess.Popen(["sleep", "60"])
    try:
        lock = {
            "tool": "ngff convert",
            "pid": holder.pid,
            "host": socket.gethostname(),
            "token": "x",
            "started": "2026-01-01T00:00:00",
            "started_ticks": _start_time(holder.pid),
            "boot": boot_id(),
        }
        s3.client().put_object(
            Bucket="locked", Key=f"img.ome.zarr/{LOCK}", Body=json.dumps(lock).encode()
        )
        with pytest.raises(ConflictError, match=f"another ngff \\(pid {holder.pid} on "):
            convert(tmp_path / "stack", url, levels=1)
        assert s3.keys("locked") == [f"img.ome.zarr/{LOCK}"]
    finally:
        holder.kill()
        holder.wait()
    # Its owner gone, the lock is taken over (with a warning) and removed at the end.
    with pytest.warns(UserWarning, match="took over the lock"):
        convert(tmp_path / "stack", url, levels=1)
    assert not [k for k in s3.keys("locked") if ".ngffkit-" in k]
    np.testing.assert_array_equal(open_image(url).levels[0][...], data)
