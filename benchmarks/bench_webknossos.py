"""WEBKNOSSOS → OME-Zarr: ``ngff convert WK_DATASET`` against webknossos' own ``as_ozx``, and
``ngff labels add`` with and without the value scan, in one run (interleaved rounds).

    python benchmarks/bench_webknossos.py --wk-python /work/wt/venvs/16b-wk/bin/python
    python benchmarks/bench_webknossos.py --before /tmp/ngffkit-base/src   # also an older tree

The dataset is written by the real ``webknossos`` package (its own venv, Python >= 3.12): a
color layer (uint8) and a segmentation layer (uint32, runs of 997 voxels from 70000 up: about
33,600 segments, as tests/wk_roundtrip writes; its ``largestSegmentId`` stated), zarr3 sharded, mags 1, 2-2-1, 4-4-2, 8-8-2 (``--shape X Y Z``,
default 512 512 128). Runs per round:

- ``ngff convert DATASET OUT`` (the mags kept) and ``--recompute``, from ``src/`` (and from
  ``--before SRC``, another checkout's ``src``, for before/after);
- webknossos ``Layer.export.as_ozx`` of both layers (its OME-Zarr export: the pyramid
  recomputed, zipped, no labels metadata), in its venv;
- ``ngff labels add IMAGE SEG16/ --dtype uint32 --colors none`` (a uint16 TIFF stack: the
  type holds every value, so no scan is needed) from ``src/`` and ``--before``.

Wall time and peak memory (PSS of the process tree, ``measure.run_measured``); best of
``--repeat`` rounds and the ratio to as_ozx.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import run_measured

HERE = Path(__file__).resolve().parents[1]

WK_WRITE = textwrap.dedent(
    """
    import sys, numpy as np, webknossos as wk, cluster_tools
    path, x, y, z = sys.argv[1], *map(int, sys.argv[2:5])
    rng = np.random.default_rng(0)
    color = rng.integers(0, 255, (x, y, z), dtype=np.uint8)
    seg = (np.arange(x * y * z).reshape(x, y, z) // 997 + 70000).astype(np.uint32)
    voxel = wk.VoxelSize((11.0, 11.0, 25.0), wk.LengthUnit.NANOMETER)
    ds = wk.Dataset(path, voxel_size_with_unit=voxel)
    c = ds.add_layer("color", wk.COLOR_CATEGORY, dtype="uint8", data_format="zarr3")
    c.add_mag(1).write(color, absolute_offset=(0, 0, 0), allow_resize=True)
    s = ds.add_layer("seg", wk.SEGMENTATION_CATEGORY, dtype="uint32", data_format="zarr3",
                     largest_segment_id=int(seg.max()))
    s.add_mag(1).write(seg, absolute_offset=(0, 0, 0), allow_resize=True)
    with cluster_tools.get_executor("sequential") as ex:
        for layer in (c, s):
            layer.downsample(coarsest_mag=wk.Mag((8, 8, 2)), executor=ex)
    np.save(path + "-seg.npy", (seg - 70000).transpose(2, 1, 0).astype(np.uint16))  # z,y,x
    """
)
WK_OZX = textwrap.dedent(
    """
    import sys, webknossos as wk
    ds = wk.Dataset.open(sys.argv[1])
    for name in ("color", "seg"):
        ds.get_layer(name).export.as_ozx(output_path=f"{sys.argv[2]}/{name}.ozx")
    """
)


def _wk(python: str, script: str, *args: str) -> list[str]:
    return [python, "-c", script, *args]


def _ngff(src: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ, PYTHONPATH=str(src), PYTHONWARNINGS="ignore")
    return [sys.executable, "-m", "ngffkit", *args], env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wk-python", default=os.environ.get("NGFF_WEBKNOSSOS_PYTHON"))
    parser.add_argument("--before", type=Path, help="another checkout's src/ to compare")
    parser.add_argument("--shape", type=int, nargs=3, default=(512, 512, 128))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--work", type=Path, help="keep the data here (default: a temp dir)")
    args = parser.parse_args()
    if not args.wk_python:
        parser.error("give --wk-python (the webknossos venv's python) or NGFF_WEBKNOSSOS_PYTHON")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-wk-"))
    work.mkdir(parents=True, exist_ok=True)
    dataset = work / "ds"
    wk_env = dict(os.environ, WEBKNOSSOS_SKIP_VERSION_CHECK="1", PYTHONWARNINGS="ignore")
    wk_env.pop("PYTHONPATH", None)
    if not (dataset / "datasource-properties.json").exists():
        x, y, z = (str(v) for v in args.shape)
        subprocess.run(_wk(args.wk_python, WK_WRITE, str(dataset), x, y, z), env=wk_env, check=True)
    seg16 = work / "seg16"
    if not seg16.exists():
        import tifffile

        seg16.mkdir()
        for k, plane in enumerate(np.load(f"{dataset}-seg.npy")):
            tifffile.imwrite(seg16 / f"z{k:04d}.tif", plane)
    trees = {"after": HERE / "src"}
    if args.before:
        trees["before"] = args.before
    image = work / "image.ome.zarr"  # the image labels are added to
    cmd, env = _ngff(
        trees["after"], "convert", str(dataset), str(image), "--layer", "color", "--overwrite", "-q"
    )
    subprocess.run(cmd, env=env, check=True)

    runs: dict[str, tuple[list[str], dict[str, str], Path]] = {}
    for tag, src in trees.items():
        out = work / f"out-{tag}.ome.zarr"
        cmd, env = _ngff(src, "convert", str(dataset), str(out), "--overwrite", "-q")
        runs[f"ngff convert ({tag})"] = (cmd, env, out)
        out = work / f"out-{tag}-re.ome.zarr"
        cmd, env = _ngff(src, "convert", str(dataset), str(out), "--recompute", "--overwrite", "-q")
        runs[f"ngff convert --recompute ({tag})"] = (cmd, env, out)
        cmd, env = _ngff(
            src, "labels", "add", str(image), str(seg16), "--name", f"seg-{tag}",
            "--dtype", "uint32", "--colors", "none", "--overwrite", "-q",
        )  # fmt: skip
        runs[f"ngff labels add --dtype uint32 --colors none ({tag})"] = (cmd, env, work / "x")
    ozx = work / "ozx"
    runs["webknossos as_ozx (both layers)"] = (
        _wk(args.wk_python, WK_OZX, str(dataset), str(ozx)),
        wk_env,
        ozx,
    )
    best: dict[str, tuple[float, float]] = {}
    for round_ in range(args.repeat):
        for i, (name, (cmd, env, out)) in enumerate(runs.items()):
            if name.startswith("webknossos"):
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
            result = run_measured(cmd, env=env, log_path=work / "logs" / f"{round_}-{i}.log")
            if result.returncode != 0:
                raise SystemExit(f"{name} failed: see {work / 'logs'}")
            wall, mem = result.wall_s, result.peak_tree_pss_mib
            old = best.get(name)
            best[name] = (min(wall, old[0]), max(mem, old[1])) if old else (wall, mem)
    peer = best["webknossos as_ozx (both layers)"][0]
    print(f"dataset {'x'.join(map(str, args.shape))} (x,y,z), best of {args.repeat}: {work}")
    print("| run | wall | peak memory | vs as_ozx |")
    print("|---|---|---|---|")
    for name, (wall, mem) in best.items():
        print(f"| {name} | {wall:.1f} s | {mem:.0f} MiB | {wall / peer:.2f}× |")


if __name__ == "__main__":
    main()
