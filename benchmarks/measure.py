"""Run one command and measure it: wall, CPU of the whole tree, peak tree PSS, largest process.

* The command runs in its own session (process group) so a timeout can end the whole tree.
* Every ``interval`` seconds the process and all its descendants are sampled with psutil: the
  sum of PSS (``memory_full_info().pss``; RSS when PSS is not readable) and of RSS over the tree,
  and the largest single RSS. PSS is the right sum for forking tools (shared pages are split
  between the processes that share them, not counted once per process).
* CPU (user + sys) and the largest single RSS come from ``os.wait4``'s rusage of the child,
  which includes every descendant that was waited for: the numbers ``/usr/bin/time -v`` prints.
* ``sync`` after the command is timed separately and not part of the wall time.
* The wall time ends when the child is reaped, by a thread blocked in ``wait4``: not at the
  next sample, which would add up to ``interval`` to every run.
* Sampling costs the machine CPU (reading ``smaps`` takes a few ms per process) and takes the
  child's ``mmap_lock`` while it runs, so on 2 cores it slows what it measures. Timing runs that
  are compared with an unsampled floor pass ``sample_memory=False`` and measure memory in a run of
  their own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

MIB = 1024 * 1024


@dataclass
class RunResult:
    returncode: int
    timed_out: bool
    wall_s: float
    sync_s: float
    user_s: float
    sys_s: float
    peak_tree_pss_mib: float
    peak_tree_rss_mib: float
    max_rss_mib: float  # largest single process, from wait4 (like /usr/bin/time)
    max_sampled_rss_mib: float  # largest single process seen by the sampler
    pss_measured: bool  # False if PSS could not be read and RSS was summed instead
    samples: int

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cpu_s"] = round(self.cpu_s, 3)
        return d


def warm_page_cache(folder: Path, block: int = 8 * MIB) -> int:
    """Read every file under ``folder`` once (like ``cat * > /dev/null``); return bytes read."""
    buf = bytearray(block)
    view = memoryview(buf)
    total = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        with path.open("rb", buffering=0) as f:
            while n := f.readinto(view):
                total += n
    return total


def _descendants(pid: int) -> list[int] | None:
    """Descendant pids from ``/proc/PID/task/TID/children`` (cheap); None if unsupported."""
    out: list[int] = []
    stack = [pid]
    while stack:
        q = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{q}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{q}/task/{tid}/children") as f:
                    kids = [int(c) for c in f.read().split()]
            except FileNotFoundError:
                if q == pid and not out:
                    return None  # kernel without CONFIG_PROC_CHILDREN
                continue
            except OSError:
                continue
            out.extend(kids)
            stack.extend(kids)
    return out


class _TreeSampler:
    """Samples a process tree; keeps psutil.Process objects between samples (cheaper)."""

    def __init__(self, root: psutil.Process) -> None:
        self.root = root
        self.procs: dict[int, psutil.Process] = {root.pid: root}

    def _tree(self) -> list[psutil.Process]:
        pids = _descendants(self.root.pid)
        if pids is None:  # fall back to psutil's scan of every process
            try:
                return [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return [self.root]
        procs = [self.root]
        for pid in pids:
            p = self.procs.get(pid)
            if p is None:
                try:
                    p = self.procs[pid] = psutil.Process(pid)
                except psutil.Error:
                    continue
            procs.append(p)
        return procs

    def sample(self) -> tuple[int, int, int, bool]:
        """(sum PSS, sum RSS, max single RSS, PSS readable) over the tree."""
        pss = rss = max_rss = 0
        pss_ok = True
        for p in self._tree():
            try:
                try:
                    info = p.memory_full_info()
                    p_rss = int(info.rss)
                    p_pss = int(getattr(info, "pss", p_rss))
                    pss_ok = pss_ok and hasattr(info, "pss")
                except psutil.AccessDenied:
                    p_rss = int(p.memory_info().rss)
                    p_pss = p_rss
                    pss_ok = False
            except psutil.Error:  # gone, zombie
                continue
            pss += p_pss
            rss += p_rss
            max_rss = max(max_rss, p_rss)
        return pss, rss, max_rss, pss_ok


def run_measured(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 900.0,
    interval_s: float = 0.05,
    sample_memory: bool = True,
    sync: bool = True,
) -> RunResult:
    """Run ``argv`` to completion (or timeout), output to ``log_path``, and measure it.

    With ``sample_memory=False`` the peak fields are 0 and the run is not disturbed by sampling.
    With ``sync=False`` the caller syncs (``sync_s`` is 0): to delete the output first, so that
    it is never written back and the next run does not share the disk with its deletion.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    peak_pss = peak_rss = max_single = 0
    pss_ok = True
    samples = 0
    timed_out = False
    reaped: list[tuple[float, int, Any]] = []
    done = threading.Event()
    with log_path.open("wb") as log:
        log.write(("$ " + " ".join(argv) + "\n").encode())
        log.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )

        def reap() -> None:
            _, status, rusage = os.wait4(proc.pid, 0)
            reaped.append((time.perf_counter(), status, rusage))
            done.set()

        waiter = threading.Thread(target=reap, daemon=True)
        waiter.start()
        sampler: _TreeSampler | None = None
        if sample_memory:
            with contextlib.suppress(psutil.NoSuchProcess):  # finished before we looked
                sampler = _TreeSampler(psutil.Process(proc.pid))
        while not done.is_set():
            tick = time.perf_counter()
            if sampler is not None:
                pss, rss, single, ok = sampler.sample()
                if rss:
                    samples += 1
                    peak_pss = max(peak_pss, pss)
                    peak_rss = max(peak_rss, rss)
                    max_single = max(max_single, single)
                    pss_ok = pss_ok and ok
            if tick - t0 > timeout_s:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                break
            done.wait(max(0.0, interval_s - (time.perf_counter() - tick)))
        waiter.join()
        end, status, rusage = reaped[0]
        wall = end - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        # Leftover descendants (daemons that outlived their parent) are ended with the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    t1 = time.perf_counter()
    if sync:
        os.sync()
    sync_s = time.perf_counter() - t1 if sync else 0.0
    assert rusage is not None
    return RunResult(
        returncode=int(proc.returncode),
        timed_out=timed_out,
        wall_s=round(wall, 3),
        sync_s=round(sync_s, 3),
        user_s=round(rusage.ru_utime, 3),
        sys_s=round(rusage.ru_stime, 3),
        peak_tree_pss_mib=round(peak_pss / MIB, 1),
        peak_tree_rss_mib=round(peak_rss / MIB, 1),
        max_rss_mib=round(rusage.ru_maxrss / 1024, 1),  # ru_maxrss is KiB on Linux
        max_sampled_rss_mib=round(max_single / MIB, 1),
        pss_measured=pss_ok,
        samples=samples,
    )


def tree_size(path: Path) -> tuple[int, int, int]:
    """(files, apparent bytes, bytes on disk like ``du``) under ``path``."""
    files = apparent = disk = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            st = os.lstat(os.path.join(root, name))
            files += 1
            apparent += st.st_size
            disk += st.st_blocks * 512
    return files, apparent, disk
