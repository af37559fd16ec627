"""Convert, downsample and compress on Dask distributed: a LocalCluster of two process
workers on 127.0.0.1.

The output must be byte-identical to a run of the local executor with the same plan (same
--jobs and --max-memory, so the brick grid is the same), through the Python API with a
``distributed.Client`` or ``executor="dask", scheduler=ADDRESS``, the CLI starting its own
cluster, and the CLI joining a running scheduler — also when a worker is killed mid-run,
and when the client or the scheduler is killed and the conversion is finished with --resume.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pytest
import tifffile
import zarr

import ngffkit
from _support import src_env
from ngffkit._convert import convert, plan_convert, write
from ngffkit._dask import DaskExecutor, cluster_budget, local_cluster_size, runs_here
from ngffkit._downsample import downsample
from ngffkit._recompress import compress
from ngffkit.execution import _with_write_mode, as_executor
from ngffkit.plan import BASE_MEMORY, ConversionPlan, ConvertOptions, make_plan
from ngffkit.samples import scroll_volume
from ngffkit.sources import open_source
from ngffkit.storage import resolve
from ngffkit.tasks import Job, Journal
from reencode_helpers import volume, write_ome_zarr_py
from run_helpers import ngff as run_ngff
from run_helpers import tree_digest, wait_for_journal

distributed = pytest.importorskip("distributed")

# The same plan everywhere: explicit jobs and budget (on a cluster they default to its size).
OPTIONS: dict[str, Any] = {
    "chunks": 16,
    "shards": 32,
    "levels": 3,
    "jobs": 2,
    "max_memory": 300 << 20,
}
CLI_OPTIONS = [
    "--chunks",
    "16",
    "--shards",
    "32",
    "--levels",
    "3",
    "--jobs",
    "2",
    "--max-memory",
    "300M",
]
# More planned jobs than workers: 16 bricks, so that a run can be interrupted part-way.
BIG_OPTIONS = {**OPTIONS, "jobs": 8}
BIG_CLI_OPTIONS = [*CLI_OPTIONS[:-4], "--jobs", "8", "--max-memory", "300M"]


def write_stack(folder: Path, volume: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for z, plane in enumerate(volume):
        tifffile.imwrite(folder / f"slice_{z:04d}.tif", plane)
    return folder


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        # any free port: None means distributed's default 8787, which another test run (or a
        # user's cluster) on this machine may hold, and the warning that says so fails the run
        dashboard_address="127.0.0.1:0",
        silence_logs=40,
    )
    client = distributed.Client(cluster, set_as_default=False, timeout=60)
    try:
        client.wait_for_workers(2, timeout=60)
        yield client
    finally:
        client.close()
        cluster.close(timeout=30)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, Path]:
    """An awkwardly shaped stack and its conversion by the local executor."""
    volume = scroll_volume((45, 150, 133), "uint16", seed=11)
    root = tmp_path_factory.mktemp("small")
    stack = write_stack(root / "stack", volume)
    reference = root / "ref" / "out.zarr"  # same name in every run: it is in the metadata
    convert(stack, reference, executor="local", **OPTIONS)
    return stack, volume, reference


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A stack with enough bricks (see --dry-run) that a run can be interrupted part-way."""
    volume = scroll_volume((160, 256, 256), "uint16", seed=12)
    root = tmp_path_factory.mktemp("big")
    stack = write_stack(root / "stack", volume)
    reference = root / "ref" / "out.zarr"
    convert(stack, reference, executor="local", **BIG_OPTIONS)
    return stack, reference


def ngff(*args: str) -> subprocess.Popen[str]:
    # A short connect timeout: a lost scheduler must end the run in seconds.
    return run_ngff(*args, env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"})


def test_job_and_plan_pickle_cleanly(small: tuple[Path, np.ndarray, Path]) -> None:
    stack, _, _ = small
    plan = plan_convert(stack, "memory://x", **OPTIONS)
    assert isinstance(plan, ConversionPlan)
    source = open_source(stack)
    try:
        job = Job(output=resolve("file:///tmp/out.zarr").url, plan=plan, source=source.spec())
    finally:
        source.close()
    for dumps, loads in ((cloudpickle.dumps, cloudpickle.loads), (pickle.dumps, pickle.loads)):
        blob = dumps(job)
        assert loads(blob) == job
        assert len(blob) < 20_000  # a task argument, sent once per brick


def test_dask_workers_sync_their_chunk_files(
    tmp_path: Path, client: Any, small: tuple[Path, np.ndarray, Path]
) -> None:
    # Workers may be other machines, whose crash the journal's boot check cannot see.
    stack, _, _ = small
    plan = plan_convert(stack, "memory://x", **OPTIONS)
    assert isinstance(plan, ConversionPlan)
    out = resolve(tmp_path / "out.zarr")
    job = _with_write_mode(Job(output=out.url, plan=plan), Journal(out), as_executor(client))
    assert job.synced_writes is True


def test_client_run_is_byte_identical_with_progress(
    tmp_path: Path, client: Any, small: tuple[Path, np.ndarray, Path]
) -> None:
    stack, volume, reference = small
    seen: list[tuple[int, int]] = []
    notes: list[str] = []
    image = convert(
        stack,
        tmp_path / "out.zarr",
        executor=client,
        progress=lambda d, t: seen.append((d, t)),
        notice=notes.append,
        **OPTIONS,
    )
    assert isinstance(image, ngffkit.Image)
    np.testing.assert_array_equal(image.read(), volume)
    assert tree_digest(tmp_path / "out.zarr") == tree_digest(reference)
    done = [d for d, _ in seen]
    assert done == sorted(done) and seen[-1][0] == seen[-1][1] > 0 and len(seen) > 2
    assert (
        notes
        and notes[0].startswith("dask: cluster tcp://127.0.0.1:")
        and "2 worker(s)" in notes[0]
    )
    assert client.status == "running"  # a client passed in is left open


def test_a_memory_output_is_refused_on_dask(
    tmp_path: Path, client: Any, small: tuple[Path, np.ndarray, Path]
) -> None:
    stack, _, _ = small
    with pytest.raises(ngffkit.InputError, match="memory://"):
        convert(stack, "memory://dask-out", executor=client, **OPTIONS)


def test_plan_defaults_come_from_the_cluster(client: Any) -> None:
    info = client.scheduler_info(n_workers=-1)["workers"]
    limits = [int(w["memory_limit"]) for w in info.values()]
    jobs, memory = cluster_budget(client, None, None, None)
    assert jobs == 2
    assert memory == BASE_MEMORY + sum(int(lim * 0.7) - BASE_MEMORY for lim in limits)
    assert cluster_budget(client, None, 3, 1 << 30) == (3, 1 << 30)  # asked for: kept
    assert cluster_budget("local", None, None, None) == (None, 2 << 30)
    assert not runs_here(client, None)  # its cores are the cluster's: --jobs is not bounded
    # A local cluster: no more processes than the budget holds, each its share as limit.
    plan = convert_plan(jobs=2, max_memory=300 << 20)
    n, limit = local_cluster_size(plan, plan.workers)
    assert 1 <= n <= plan.workers and n * (plan.base_memory + plan.task_memory) <= plan.max_memory
    assert limit >= plan.base_memory + plan.task_memory


def test_a_scheduler_file_finds_the_cluster(
    tmp_path: Path, client: Any, small: tuple[Path, np.ndarray, Path]
) -> None:
    stack, _, _ = small
    scheduler_file = tmp_path / "scheduler.json"  # what `dask scheduler --scheduler-file` writes
    scheduler_file.write_text(json.dumps({"address": client.scheduler.address}))
    plan = plan_convert(
        stack, tmp_path / "out.zarr", executor="dask", scheduler=str(scheduler_file)
    )
    assert isinstance(plan, ConversionPlan)
    assert plan.max_memory == cluster_budget(client, None, None, None)[1]


def convert_plan(**options: Any) -> ConversionPlan:
    return make_plan(
        (64, 256, 256),
        np.dtype("uint16"),
        ("z", "y", "x"),
        ConvertOptions(chunks=16, shards=32, **options),
        window_cheap=True,
        cpu_count=2,
    )


def test_cli_starts_a_local_cluster(tmp_path: Path, small: tuple[Path, np.ndarray, Path]) -> None:
    stack, _, reference = small
    out = tmp_path / "out.zarr"
    proc = ngff("convert", str(stack), str(out), "--executor", "dask", *CLI_OPTIONS)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr
    assert "dask: local cluster tcp://127.0.0.1:" in stderr and "converting" in stderr
    assert "done:" in stdout
    assert tree_digest(out) == tree_digest(reference)


def test_cli_joins_a_running_scheduler(
    tmp_path: Path, client: Any, small: tuple[Path, np.ndarray, Path]
) -> None:
    stack, _, reference = small
    out = tmp_path / "out.zarr"
    address = client.scheduler.address
    proc = ngff("convert", str(stack), str(out), "--scheduler", address, *CLI_OPTIONS)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr
    assert f"dask: cluster {address}, 2 worker(s)" in stderr and "done:" in stdout
    assert tree_digest(out) == tree_digest(reference)


def test_cli_scheduler_mistakes_are_reported(
    tmp_path: Path, small: tuple[Path, np.ndarray, Path]
) -> None:
    stack, _, _ = small
    proc = ngff(
        "convert",
        str(stack),
        str(tmp_path / "a.zarr"),
        "--scheduler",
        "tcp://127.0.0.1:9",
        *CLI_OPTIONS,
    )
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stderr
    assert "could not reach a Dask scheduler at 'tcp://127.0.0.1:9'" in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "a.zarr").exists()
    proc = ngff(
        "convert",
        str(stack),
        str(tmp_path / "b.zarr"),
        "--executor",
        "local",
        "--scheduler",
        "tcp://127.0.0.1:9",
    )
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "--scheduler" in stderr, stderr


def test_a_worker_killed_mid_run(tmp_path: Path, client: Any, big: tuple[Path, Path]) -> None:
    stack, reference = big
    out = tmp_path / "out.zarr"
    pids: dict[str, int] = client.run(os.getpid)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            convert(stack, out, executor=client, **BIG_OPTIONS)
        except BaseException as exc:  # reported below
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert wait_for_journal(out, thread=thread), "finished before a worker could be killed"
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline and thread.is_alive():
            busy = [w for w, keys in client.processing().items() if keys]
            victim = busy[0] if busy else None
            time.sleep(0.005)
        assert victim is not None, "no worker was running a brick"
        os.kill(pids[victim], signal.SIGKILL)
        killed_before = len(list((out / ".ngffkit-journal").glob("s*-b*")))
    finally:
        thread.join(timeout=180)
    assert not thread.is_alive() and not failure, failure
    assert killed_before < sum(
        s.n_bricks for s in plan_convert(stack, tmp_path / "plan", **BIG_OPTIONS).stages
    )  # type: ignore[union-attr]
    assert tree_digest(out) == tree_digest(reference)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker
    assert pids[victim] not in client.run(os.getpid).values()


def test_lost_client_then_resume(tmp_path: Path, client: Any, big: tuple[Path, Path]) -> None:
    stack, reference = big
    out = tmp_path / "out.zarr"
    address = client.scheduler.address
    proc = ngff("convert", str(stack), str(out), "--scheduler", address, "-q", *BIG_CLI_OPTIONS)
    try:
        assert wait_for_journal(out, proc=proc), "finished before the client could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    with pytest.raises(ngffkit.PartialDatasetError):
        ngffkit.open(out)
    resumed = ngff(
        "convert", str(stack), str(out), "--scheduler", address, "--resume", "-q", *BIG_CLI_OPTIONS
    )
    _, stderr = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, stderr
    # Tasks of the killed client that were already running may still finish; they write
    # the same bytes. Wait for the cluster to be idle before comparing.
    deadline = time.monotonic() + 60
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tree_digest(out) == tree_digest(reference)


def start_dask(*args: str) -> subprocess.Popen[str]:
    """``dask ARGS`` in its own process group (so that its worker processes end with it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_" + args[0], *args[1:]],
        env=src_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_lost_scheduler_then_resume(tmp_path: Path, big: tuple[Path, Path]) -> None:
    stack, reference = big
    out = tmp_path / "out.zarr"
    address_file = tmp_path / "scheduler.json"

    def cluster() -> tuple[subprocess.Popen[str], subprocess.Popen[str]]:
        address_file.unlink(missing_ok=True)
        scheduler = start_dask(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(address_file),
        )
        workers = start_dask(
            "worker",
            "--scheduler-file",
            str(address_file),
            "--nworkers",
            "2",
            "--nthreads",
            "1",
            "--no-dashboard",
        )
        with distributed.Client(scheduler_file=str(address_file), timeout=60) as c:
            c.wait_for_workers(2, timeout=60)
        return scheduler, workers

    scheduler, workers = cluster()
    try:
        proc = ngff(
            "convert",
            str(stack),
            str(out),
            "--scheduler",
            str(address_file),
            "-q",
            *BIG_CLI_OPTIONS,
        )
        assert wait_for_journal(out, proc=proc), "finished before the scheduler could be killed"
        stop(scheduler, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 1, stderr
        assert "connection to the Dask scheduler was lost" in stderr and "--resume" in stderr
        assert "Traceback" not in stderr, stderr
    finally:
        stop(scheduler, signal.SIGKILL)
        stop(workers)
    scheduler, workers = cluster()
    try:
        resumed = ngff(
            "convert",
            str(stack),
            str(out),
            "--scheduler",
            str(address_file),
            "--resume",
            "-q",
            *BIG_CLI_OPTIONS,
        )
        _, stderr = resumed.communicate(timeout=180)
        assert resumed.returncode == 0, stderr
    finally:
        stop(scheduler)
        stop(workers)
    assert tree_digest(out) == tree_digest(reference)


def test_a_dask_executor_passed_in_is_left_open(
    tmp_path: Path, client: Any, small: tuple[Path, np.ndarray, Path]
) -> None:
    stack, volume, _ = small
    out = tmp_path / "plain.zarr"
    plan, _ = write(stack, out, {"executor": DaskExecutor(client), **OPTIONS}, zarr_only=True)
    assert not isinstance(plan, ngffkit.Image)
    assert not Journal(resolve(out)).done()
    assert client.status == "running"
    np.testing.assert_array_equal(zarr.open_array(str(out), mode="r")[...], volume)


# downsample and compress: an OME-Zarr 0.4 image with a label image, written by ome-zarr-py;
# each run works on its own copy, in a folder of the same name (names are in the metadata).
REENCODE: dict[str, Any] = {"jobs": 2, "max_memory": 300 << 20}


@pytest.fixture(scope="module")
def one_level(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ome_zarr_py(tmp_path_factory.mktemp("omz") / "img.zarr", "0.4", volume())


def copy_of(image: Path, folder: Path) -> Path:
    return Path(shutil.copytree(image, folder / image.name))


def dask_ways(client: Any) -> dict[str, dict[str, Any]]:
    """The two ways the Python API runs on a cluster: a Client, or the scheduler's address."""
    return {
        "client": {"executor": client},
        "scheduler": {"executor": "dask", "scheduler": client.scheduler.address},
    }


@pytest.mark.parametrize("way", ["client", "scheduler"])
def test_downsample_is_byte_identical(
    tmp_path: Path, client: Any, one_level: Path, way: str
) -> None:
    local = copy_of(one_level, tmp_path / "local")
    downsample(local, levels=3, executor="local", **REENCODE)
    assert (
        len(ngffkit.open(local).levels) == 3 and len(ngffkit.open(local).label("cells").levels) == 3
    )
    remote = copy_of(one_level, tmp_path / "dask")
    notes: list[str] = []
    image = downsample(remote, levels=3, notice=notes.append, **dask_ways(client)[way], **REENCODE)
    assert isinstance(image, ngffkit.Image)
    assert notes and notes[0].startswith("dask: cluster tcp://127.0.0.1:")
    assert tree_digest(remote) == tree_digest(local)
    assert client.status == "running"


@pytest.mark.parametrize("way", ["client", "scheduler"])
def test_compress_is_byte_identical(tmp_path: Path, client: Any, one_level: Path, way: str) -> None:
    source = copy_of(one_level, tmp_path / "source")
    downsample(source, levels=3, executor="local", **REENCODE)
    options: dict[str, Any] = {
        "version": "0.5",
        "compression": "zstd:3",
        "chunks": 16,
        "shards": 32,
        **REENCODE,
    }
    local, remote = tmp_path / "local" / "out.zarr", tmp_path / "dask" / "out.zarr"
    compress(source, output=local, executor="local", **options)
    compress(source, output=remote, **dask_ways(client)[way], **options)
    assert tree_digest(remote) == tree_digest(local)
    # In place (through a swap folder) as well.
    in_place = {
        "local": copy_of(source, tmp_path / "in-place-local"),
        "dask": copy_of(source, tmp_path / "in-place-dask"),
    }
    compress(in_place["local"], executor="local", **options)
    compress(in_place["dask"], **dask_ways(client)[way], **options)
    assert tree_digest(in_place["dask"]) == tree_digest(in_place["local"]) == tree_digest(local)


def test_cli_downsample_joins_a_running_scheduler(
    tmp_path: Path, client: Any, one_level: Path
) -> None:
    local = copy_of(one_level, tmp_path / "local")
    downsample(local, levels=3, executor="local", **REENCODE)
    remote = copy_of(one_level, tmp_path / "dask")
    address = client.scheduler.address
    proc = ngff(
        "downsample",
        str(remote),
        "--levels",
        "3",
        "--jobs",
        "2",
        "--max-memory",
        "300M",
        "--scheduler",
        address,
    )
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr
    assert f"dask: cluster {address}, 2 worker(s)" in stderr
    assert tree_digest(remote) == tree_digest(local)
