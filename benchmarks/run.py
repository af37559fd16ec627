#!/usr/bin/env python3
"""Benchmark ngffkit against the peer tools: TIFF z-stack → 5-level OME-Zarr pyramid.

    python benchmarks/run.py all                 # setup, data, peers, ngffkit, report
    python benchmarks/run.py all --small         # 32×256×256 smoke run
    python benchmarks/run.py peers --tools ngff,s2c --stacks B_u16 --repeat 1
    python benchmarks/run.py report

Each peer runs in its own virtual environment (benchmarks/venvs/NAME) through a small driver in
benchmarks/peers/; ngffkit runs with the current environment's ``ngff``. Settings are equal for
all: 5 levels (factor 2 in z, y, x), 64³ chunks, zstd level 5 (blosc-zstd5 where the tool uses
blosc), mean downsampling where the tool has one. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import compileall
import fnmatch
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from measure import run_measured, tree_size, warm_page_cache  # noqa: E402
from report import print_report  # noqa: E402

DATA = BENCH / "data"
VENVS = BENCH / "venvs"
RESULTS = BENCH / "results"
RESULTS_FILE = RESULTS / "results.jsonl"

# ---------------------------------------------------------------------------------------------
# The command lines. Edit here. {input} and {output} are filled in per run.
# ---------------------------------------------------------------------------------------------
LEVELS, CHUNK, ZSTD_LEVEL, JOBS = 5, 64, 5, 2
_SAME: tuple[str, ...] = (
    "--levels",
    str(LEVELS),
    "--chunk",
    str(CHUNK),
    "--clevel",
    str(ZSTD_LEVEL),
)
_SAME += ("--jobs", str(JOBS))


@dataclass(frozen=True)
class Config:
    name: str
    family: str  # the venv for peers, "ngffkit" for ours
    tool: str
    argv: tuple[str, ...]  # peers: driver script + args; ngffkit: arguments of `ngff`
    sharded: bool
    method: str  # what the verifier checks level 1 against: "mean" or "median"
    compression: str

    @property
    def is_peer(self) -> bool:
        return self.family != "ngffkit"


def _peer(name: str, family: str, tool: str, driver: str, variant: str, **kw: Any) -> Config:
    argv = (f"peers/{driver}", "{input}", "{output}", "--variant", variant, *_SAME)
    return Config(name, family, tool, argv, **kw)


PEERS: tuple[Config, ...] = (
    _peer("ngff_v04", "ngff", "ngff-zarr 0.50 (zarrista)", "ngff_zarr_driver.py", "v04",
          sharded=False, method="mean", compression="blosc zstd 5"),
    _peer("ngff_v05", "ngff", "ngff-zarr 0.50 (zarrista)", "ngff_zarr_driver.py", "v05",
          sharded=False, method="mean", compression="blosc zstd 5"),
    _peer("omezarr_v04", "omezarr", "ome-zarr-py 0.18", "omezarr_driver.py", "v04",
          sharded=False, method="mean", compression="blosc zstd 5"),
    _peer("omezarr_v05", "omezarr", "ome-zarr-py 0.18", "omezarr_driver.py", "v05",
          sharded=False, method="mean", compression="blosc zstd 5"),
    _peer("s2c_v05_sharded", "s2c", "stack-to-chunk 2.1", "s2c_driver.py", "v05_sharded",
          sharded=True, method="mean", compression="zstd 5"),
    _peer("wk_zarr2_c64", "wk", "webknossos 4.3.3", "wk_driver.py", "zarr2_c64",
          sharded=False, method="median", compression="zstd 5"),
    _peer("wk_zarr3_c64_s1024x1024x64", "wk", "webknossos 4.3.3", "wk_driver.py",
          "zarr3_c64_s1024", sharded=True, method="median", compression="zstd 5 (+crc)"),
)  # fmt: skip

_NGFF_SAME: tuple[str, ...] = (
    "--compression",
    f"zstd:{ZSTD_LEVEL}",
    "--levels",
    str(LEVELS),
    "--method",
    "mean",
)
_NGFF_SAME += ("--jobs", str(JOBS))
NGFFKIT: tuple[Config, ...] = (
    # The planner's default shards (4 chunks per axis, 256³): what a user gets.
    Config("ngffkit_v05_sharded_default", "ngffkit", "ngffkit",
           ("convert", "{input}", "{output}", "--format", "0.5", "--chunks", str(CHUNK),
            *_NGFF_SAME),
           sharded=True, method="mean", compression="zstd 5"),
    # stack-to-chunk's shard shape (whole x,y extent × one chunk in z), for a like-for-like row.
    Config("ngffkit_v05_sharded", "ngffkit", "ngffkit",
           ("convert", "{input}", "{output}", "--format", "0.5", "--chunks", str(CHUNK),
            "--shards", "1024,1024,64", *_NGFF_SAME),
           sharded=True, method="mean", compression="zstd 5"),
    Config("ngffkit_v04", "ngffkit", "ngffkit",
           ("convert", "{input}", "{output}", "--format", "0.4", "--chunks", str(CHUNK),
            *_NGFF_SAME),
           sharded=False, method="mean", compression="zstd 5"),
    Config("ngffkit_v05", "ngffkit", "ngffkit",
           ("convert", "{input}", "{output}", "--format", "0.5", "--chunks", str(CHUNK),
            "--shards", str(CHUNK), *_NGFF_SAME),
           sharded=False, method="mean", compression="zstd 5"),
)  # fmt: skip

# One venv per peer, pinned to the releases the peer comparison was measured with.
VENV_SPECS: dict[str, tuple[tuple[str, ...], str]] = {
    "ngff": (("ngff-zarr==0.50.0", "dask==2026.8.0", "tifffile==2026.3.3", "numpy==2.4.6"),
             "ngff_zarr"),
    "omezarr": (("ome-zarr==0.18.0", "dask==2026.8.0", "tifffile==2026.3.3",
                 "scikit-image==0.26.0", "numpy==2.4.6", "zarr==3.1.6"), "ome_zarr.writer"),
    "s2c": (("stack_to_chunk==2.1", "tifffile==2026.3.3"), "stack_to_chunk"),
    "wk": (("webknossos[all]==4.3.3",), "webknossos"),
}  # fmt: skip

FULL_SHAPE = (256, 1024, 1024)
SMALL_SHAPE = (32, 256, 256)
DTYPE_SUFFIX = {"u8": "uint8", "u16": "uint16", "i16": "int16", "u32": "uint32", "f32": "float32"}
SEED = 0

# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    name: str
    shape: tuple[int, int, int]
    dtype: str

    @property
    def key(self) -> str:
        return f"{self.name}-{'x'.join(map(str, self.shape))}"

    @property
    def folder(self) -> Path:
        return DATA / self.key

    @property
    def nbytes(self) -> int:
        import numpy as np

        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


def parse_stacks(text: str, shape: tuple[int, int, int]) -> list[Stack]:
    stacks = []
    for name in filter(None, (s.strip() for s in text.split(","))):
        suffix = name.rsplit("_", 1)[-1].lower()
        if suffix not in DTYPE_SUFFIX:
            sys.exit(f"stack {name!r}: name must end in one of {sorted(DTYPE_SUFFIX)} (e.g. A_u8)")
        stacks.append(Stack(name, shape, DTYPE_SUFFIX[suffix]))
    return stacks


def select_configs(tools: str | None, configs: tuple[Config, ...]) -> list[Config]:
    """``--tools``: comma list of config names, glob patterns, or families (ngff, wk, ...)."""
    if not tools:
        return list(configs)
    tokens = [t.strip() for t in tools.split(",") if t.strip()]
    return [c for c in configs if any(t == c.family or fnmatch.fnmatch(c.name, t) for t in tokens)]


# ------------------------------------------------------------------------------ setup


def _marker(name: str) -> Path:
    return VENVS / name / ".bench-requirements"


def venv_python(name: str) -> Path:
    return VENVS / name / "bin" / "python"


def venv_ready(name: str) -> bool:
    spec, _ = VENV_SPECS[name]
    m = _marker(name)
    return venv_python(name).exists() and m.exists() and m.read_text() == "\n".join(spec) + "\n"


def setup(families: set[str]) -> None:
    base = shutil.which("python3.11") or sys.executable
    VENVS.mkdir(parents=True, exist_ok=True)
    for name in sorted(families & set(VENV_SPECS)):
        spec, probe = VENV_SPECS[name]
        if venv_ready(name):
            print(f"setup: venv {name} is complete ({' '.join(spec)})")
            continue
        print(f"setup: venv {name}: installing {' '.join(spec)} ...", flush=True)
        t0 = time.perf_counter()
        log = VENVS / f"{name}.log"
        with log.open("w") as f:
            steps = [[base, "-m", "venv", str(VENVS / name)]]
            steps.append([str(venv_python(name)), "-m", "pip", "install", *spec])
            steps.append([str(venv_python(name)), "-c", f"import {probe}"])
            ok = all(subprocess.run(s, stdout=f, stderr=subprocess.STDOUT).returncode == 0
                     for s in steps)  # fmt: skip
        if not ok:
            tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
            print(f"setup: venv {name} FAILED (see {log}):\n{tail}", flush=True)
            continue
        freeze = subprocess.run([str(venv_python(name)), "-m", "pip", "freeze"],
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
        (VENVS / f"{name}.freeze.txt").write_text(freeze)
        _marker(name).write_text("\n".join(spec) + "\n")
        print(f"setup: venv {name} ready in {time.perf_counter() - t0:.0f} s", flush=True)


# ------------------------------------------------------------------------------ data


def make_data(stacks: list[Stack]) -> None:
    sys.path.insert(0, str(REPO / "src"))
    from ngffkit.samples import write_tiff_stack

    for st in stacks:
        marker = st.folder / ".complete"
        want = {"shape": list(st.shape), "dtype": st.dtype, "seed": SEED}
        if marker.exists() and json.loads(marker.read_text()) == want:
            print(f"data: {st.key} exists ({st.nbytes / 1e6:.1f} MB)")
            continue
        print(f"data: writing {st.key} ({st.dtype} {st.shape}) ...", flush=True)
        t0 = time.perf_counter()
        write_tiff_stack(st.folder, st.shape, st.dtype, SEED, overwrite=True)
        marker.write_text(json.dumps(want))
        print(f"data: {st.key} written in {time.perf_counter() - t0:.1f} s", flush=True)


# ------------------------------------------------------------------------------ runs


def resolve_ngff(cmd: str | None) -> tuple[list[str], dict[str, str], str]:
    """The ``ngff`` command: --ngff-cmd, else the ``ngff`` script beside this interpreter (what a
    venv or pip user runs), else ``ngff`` on PATH, else this checkout's src/.

    The interpreter's own script comes first because PATH may hold a wrapper: pyenv's shim
    is a shell script that runs ``pyenv exec`` and adds 50–100 ms to every run, which the
    peers (started by their venv's python) do not pay.
    """
    if cmd:
        return cmd.split(), {}, cmd
    beside = Path(sys.executable).parent / "ngff"
    exe = str(beside) if beside.is_file() else shutil.which("ngff")
    if exe:
        return [exe], {}, exe
    argv = [sys.executable, "-c", "import sys; sys.argv[0] = 'ngff'; "
            "from ngffkit.cli.app import main; main()"]  # fmt: skip
    src = str(REPO / "src")
    pp = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    return argv, {"PYTHONPATH": pp}, f"{sys.executable} (PYTHONPATH={src})"


def ngff_convert_available(argv: list[str], env: dict[str, str]) -> tuple[bool, str]:
    r = subprocess.run([*argv, "convert", "--help"], capture_output=True, text=True,
                       env={**os.environ, **env}, timeout=120)  # fmt: skip
    if r.returncode == 0:
        return True, ""
    msg = (r.stderr or r.stdout).strip().splitlines()
    return False, msg[-1] if msg else f"exit status {r.returncode}"


def describe_ngff(argv: list[str], env: dict[str, str]) -> dict[str, str]:
    """Which ngffkit the command runs: module path, version, git revision of its checkout."""
    interp = argv[0]
    if "python" not in Path(interp).name:
        try:
            first = Path(interp).read_text(errors="replace").splitlines()[0]
        except (OSError, IndexError):
            first = ""
        if not first.startswith("#!"):
            return {"module": "?", "version": "?", "git_rev": "?"}
        interp = first[2:].strip().split()[0]
    code = "import ngffkit; print(ngffkit.__file__); print(getattr(ngffkit, '__version__', '?'))"
    r = subprocess.run([interp, "-c", code], capture_output=True, text=True,
                       env={**os.environ, **env})  # fmt: skip
    if r.returncode != 0:
        return {"module": "?", "version": "?", "git_rev": "?"}
    module, version = [*r.stdout.splitlines(), "?", "?"][:2]
    where = str(Path(module).parent)
    git = ["git", "-C", where]
    rev = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True)  # fmt: skip
    git_rev = rev.stdout.strip() or "?"
    if dirty.stdout.strip():
        git_rev += "+dirty"
    return {"module": module, "version": version, "git_rev": git_rev}


def _steps_from_log(log: Path) -> dict[str, float] | None:
    found = re.findall(r"^BENCH_STEPS (\{.*\})$", log.read_text(errors="replace"), re.M)
    return json.loads(found[-1]) if found else None


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def run_config(cfg: Config, st: Stack, args: argparse.Namespace, session: str,
               ngff: tuple[list[str], dict[str, str], str]) -> dict[str, Any]:  # fmt: skip
    """All ``--repeat`` runs of one config on one stack, then its check."""
    job = prepare_config(cfg, st, args, session, ngff)
    if job.record.get("status") == "skipped":
        return job.record
    for i in range(args.repeat):
        if not job.run_once(i) or (i == 0 and job.runs[0]["wall_s"] > args.single_run_above):
            break
    return job.finish()


@dataclass
class ConfigRun:
    """One config on one stack: its command, its runs so far, and how to finish it."""

    cfg: Config
    st: Stack
    args: argparse.Namespace
    record: dict[str, Any]
    argv: list[str]
    env: dict[str, str]
    out: Path
    logs: Path
    runs: list[dict[str, Any]] = field(default_factory=list)
    failed: bool = False

    def run_once(self, i: int) -> bool:
        """Run it once more; False when it failed (and is not to be run again)."""
        cfg, st, out, args = self.cfg, self.st, self.out, self.args
        if self.failed:
            return False
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        warm_page_cache(st.folder)
        load = os.getloadavg()[0]
        log = self.logs / f"{cfg.name}-run{i + 1}.log"
        res = run_measured(self.argv, log_path=log, env=self.env, cwd=BENCH,
                           timeout_s=args.timeout)  # fmt: skip
        run = res.as_dict() | {"run": i + 1, "load1_before": round(load, 2), "log": str(log)}
        run["steps"] = _steps_from_log(log)
        self.runs.append(run)
        print(f"  {cfg.name:28s} {st.key} run {i + 1}: wall {res.wall_s:7.2f} s  "
              f"cpu {res.cpu_s:7.2f} s  tree PSS {res.peak_tree_pss_mib:7.0f} MiB  "
              f"rc {res.returncode}  (load {load:.1f})", flush=True)  # fmt: skip
        if res.returncode != 0 or res.timed_out:
            tail = log.read_text(errors="replace").splitlines()[-12:]
            self.record["error_tail"] = tail
            print("    " + "\n    ".join(tail), flush=True)
            self.failed = True
        return not self.failed

    def finish(self) -> dict[str, Any]:
        """Medians of the runs and the check of the last output: the finished record."""
        return _finish_config(self)


def prepare_config(cfg: Config, st: Stack, args: argparse.Namespace, session: str,
                   ngff: tuple[list[str], dict[str, str], str]) -> ConfigRun:  # fmt: skip
    record: dict[str, Any] = {
        "session": session,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "stack": st.name, "stack_key": st.key, "shape": list(st.shape), "dtype": st.dtype,
        "input_bytes": st.nbytes,
        "config": cfg.name, "tool": cfg.tool, "family": cfg.family, "kind":
        "peer" if cfg.is_peer else "ngffkit", "sharded": cfg.sharded, "method": cfg.method,
        "compression": cfg.compression,
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(),
                 "machine": platform.machine()},
    }  # fmt: skip
    out = RESULTS / "out" / st.key / cfg.name
    fill = {"input": str(st.folder), "output": str(out)}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if cfg.is_peer:
        if not venv_ready(cfg.family):
            record["status"] = "skipped"
            record["note"] = f"venv {cfg.family} missing or incomplete: run `setup`"
            return ConfigRun(cfg, st, args, record, [], env, out, Path())
        argv = [str(venv_python(cfg.family)), *(str(BENCH / cfg.argv[0]),),
                *(a.format(**fill) for a in cfg.argv[1:])]  # fmt: skip
    else:
        base, extra_env, label = ngff
        argv = [*base, *(a.format(**fill) for a in cfg.argv)]
        env.update(extra_env)
        record["ngff_cmd"] = label
        record["ngffkit"] = args.ngffkit_info
    record["argv"] = argv
    return ConfigRun(cfg, st, args, record, argv, env, out, RESULTS / "logs" / session / st.key)


def _finish_config(job: ConfigRun) -> dict[str, Any]:
    record, runs, out, cfg, st, args = job.record, job.runs, job.out, job.cfg, job.st, job.args
    record["runs"] = runs
    ok_runs = [r for r in runs if r["returncode"] == 0 and not r["timed_out"]]
    if not ok_runs or len(ok_runs) < len(runs):
        record["status"] = "failed"
        record["note"] = "timeout" if runs[-1]["timed_out"] else f"exit {runs[-1]['returncode']}"
        return record
    record["status"] = "ok"
    record["n"] = len(ok_runs)
    for key in ("wall_s", "cpu_s", "user_s", "sys_s", "sync_s", "peak_tree_pss_mib",
                "peak_tree_rss_mib", "max_rss_mib"):  # fmt: skip
        record[key] = _median([r[key] for r in ok_runs])
    files, apparent, disk = tree_size(out)
    record["output"] = {"files": files, "bytes": apparent, "disk_bytes": disk}
    vr = subprocess.run([sys.executable, str(BENCH / "verify.py"), str(out), str(st.folder),
                         "--levels", str(LEVELS), "--method", cfg.method,
                         "--sharded", "yes" if cfg.sharded else "no", "--zstd-level", str(ZSTD_LEVEL)],
                        capture_output=True, text=True)  # fmt: skip
    try:
        record["verify"] = json.loads(vr.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        record["verify"] = {"check": "FAIL", "problems": [f"verify died: {vr.stderr[-500:]}"]}
    if not args.keep_outputs:
        shutil.rmtree(out, ignore_errors=True)
    print(
        f"  {cfg.name:28s} {st.key} median wall {record['wall_s']:.2f} s, check "
        f"{record['verify'].get('check')} {record['verify'].get('problems') or ''}",
        flush=True,
    )
    return record


def run_suite(configs: list[Config], stacks: list[Stack], args: argparse.Namespace) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    session = time.strftime("%Y%m%d-%H%M%S")
    ngff = resolve_ngff(args.ngff_cmd)
    ngff_ok, ngff_why = True, ""
    if any(not c.is_peer for c in configs):
        ngff_ok, ngff_why = ngff_convert_available(ngff[0], ngff[1])
        args.ngffkit_info = describe_ngff(ngff[0], ngff[1])
        info = args.ngffkit_info
        if info["module"] != "?":
            # pip compiles a package's bytecode when it installs it, as it did the peers'. An
            # editable checkout run with PYTHONDONTWRITEBYTECODE=1 (this sandbox sets it) has
            # none and compiles ngffkit's ~45 modules on every run: ~60 ms of start-up.
            compileall.compile_dir(str(Path(info["module"]).parent), quiet=1)
        print(f"ngffkit: {ngff[2]} -> {info['module']} (version {info['version']}, "
              f"git {info['git_rev']}): convert " + ("available" if ngff_ok else
              f"NOT available ({ngff_why}); ngffkit entries are skipped"))  # fmt: skip
    for st in stacks:
        if not (st.folder / ".complete").exists():
            sys.exit(f"stack {st.key} missing: run `python benchmarks/run.py data` first")
        print(f"== {st.key} ({st.dtype}, {st.nbytes / 1e6:.1f} MB), "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
        if args.interleave:
            _run_interleaved(configs, st, args, session, ngff, ngff_ok, ngff_why)
            continue
        for cfg in configs:
            if not cfg.is_peer and not ngff_ok:
                rec = {"session": session, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                       "stack": st.name, "stack_key": st.key, "shape": list(st.shape),
                       "dtype": st.dtype, "input_bytes": st.nbytes, "config": cfg.name,
                       "tool": cfg.tool, "family": cfg.family, "kind": "ngffkit",
                       "sharded": cfg.sharded, "method": cfg.method, "status": "skipped",
                       "note": f"`ngff convert` not available: {ngff_why}"}  # fmt: skip
            else:
                rec = run_config(cfg, st, args, session, ngff)
                if rec.get("status") == "skipped":
                    print(f"  {cfg.name:28s} skipped: {rec['note']}")
            _append(args.results, rec)


def _run_interleaved(configs: list[Config], st: Stack, args: argparse.Namespace, session: str,
                     ngff: tuple[list[str], dict[str, str], str], ngff_ok: bool,
                     ngff_why: str) -> None:  # fmt: skip
    """Round-robin: every config once per round, ``--repeat`` rounds.

    On a shared machine the speed drifts over minutes; running the tools one after another
    in each round lets the drift hit all of them alike, so the ratios stay fair.
    """
    jobs = []
    for cfg in configs:
        if not cfg.is_peer and not ngff_ok:
            print(f"  {cfg.name:28s} skipped: `ngff convert` not available: {ngff_why}")
            continue
        job = prepare_config(cfg, st, args, session, ngff)
        if job.record.get("status") == "skipped":
            print(f"  {cfg.name:28s} skipped: {job.record['note']}")
            _append(args.results, job.record)
            continue
        jobs.append(job)
    for i in range(args.repeat):
        for job in jobs:
            slow = bool(job.runs) and job.runs[0]["wall_s"] > args.single_run_above
            if not slow:
                job.run_once(i)
    for job in jobs:
        _append(args.results, job.finish())


def _append(results: Path, record: dict[str, Any]) -> None:
    results.parent.mkdir(parents=True, exist_ok=True)
    with results.open("a") as f:
        f.write(json.dumps(record) + "\n")


# ------------------------------------------------------------------------------ CLI


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "step", choices=("all", "setup", "data", "peers", "ngffkit", "compare", "report")
    )
    p.add_argument(
        "--stacks",
        default="A_u8,B_u16",
        help="comma list; the suffix gives the dtype (u8, u16, i16, u32, f32)",
    )
    p.add_argument(
        "--small", action="store_true", help=f"use {SMALL_SHAPE} instead of {FULL_SHAPE}"
    )
    p.add_argument("--shape", help="Z,Y,X shape of the stacks (overrides --small)")
    p.add_argument(
        "--tools",
        help="comma list of configs, globs or families "
        "(ngff, omezarr, s2c, wk, ngffkit); default: all",
    )
    p.add_argument("--repeat", type=int, default=3, help="runs per config (median reported)")
    p.add_argument(
        "--single-run-above",
        type=float,
        default=60.0,
        help="stop after one run if the first took longer (s)",
    )
    p.add_argument("--timeout", type=float, default=900.0, help="per run (s)")
    p.add_argument(
        "--ngff-cmd",
        help="the ngff command (default: `ngff` on PATH, else this "
        "checkout's src/ with the current python)",
    )
    p.add_argument(
        "--keep-outputs",
        action="store_true",
        help="keep the last output of each config under benchmarks/results/out",
    )
    p.add_argument("--results", type=Path, default=RESULTS_FILE, help="JSON lines file")
    p.add_argument("--detail", action="store_true", help="report: also print every run")
    p.add_argument(
        "--interleave",
        action="store_true",
        help="run the configs round-robin, one run each per round (compare does)",
    )
    args = p.parse_args(argv)  # fmt: skip

    shape = SMALL_SHAPE if args.small else FULL_SHAPE
    if args.shape:
        shape = tuple(int(s) for s in args.shape.split(","))  # type: ignore[assignment]
    stacks = parse_stacks(args.stacks, shape)
    peers = select_configs(args.tools, PEERS)
    ours = select_configs(args.tools, NGFFKIT)
    step = args.step
    if step in ("all", "setup"):
        setup({c.family for c in peers})
    if step in ("all", "data"):
        make_data(stacks)
    if step == "compare":
        # Peers and ngffkit in the same rounds: the ratios the targets are about.
        args.interleave = True
        run_suite([*peers, *ours], stacks, args)
    if step in ("all", "peers"):
        run_suite(peers, stacks, args)
    if step in ("all", "ngffkit"):
        run_suite(ours, stacks, args)
    if step in ("all", "compare", "report"):
        given = argv if argv is not None else sys.argv[1:]
        explicit = any(a.startswith(("--stacks", "--small", "--shape")) for a in given)
        only = {s.key for s in stacks} if step == "all" or explicit else None
        print_report(args.results, only_stacks=only, detail=args.detail)


if __name__ == "__main__":
    main()
