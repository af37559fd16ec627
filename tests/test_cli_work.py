"""What the commands that run a plan share (``cli/_work.py``): the summary line's figures."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from _support import src_env


def test_peak_memory_is_this_process_not_the_parent_that_started_it() -> None:
    # A parent touches 600 MiB, then starts a small Python: ru_maxrss survives fork and
    # exec, so a child reading it reports its parent's peak; VmHWM is the child's own.
    child = "from ngffkit.cli._work import peak_rss; print(peak_rss())"
    parent = textwrap.dedent(
        f"""
        import subprocess, sys
        ballast = bytearray(600 << 20)
        ballast[::4096] = b"x" * len(ballast[::4096])
        print(subprocess.run([sys.executable, "-c", {child!r}], capture_output=True,
                             text=True, check=True).stdout)
        """
    )
    env = src_env()
    done = subprocess.run(
        [sys.executable, "-c", parent], capture_output=True, text=True, env=env, check=True
    )
    peak = int(done.stdout.split()[0])
    assert 10 << 20 < peak < 300 << 20, peak / 2**20
