"""webknossos 4.3 CLI: TIFF stack → Zarr v2 or sharded Zarr v3 (+ OME metadata), 5 mags.

Two CLI steps, as in the reference's fair configuration:

1. ``webknossos convert --voxel-size 1,1,1 --data-format zarr|zarr3 --chunk-shape 64,64,64
   [--shard-shape 1024,1024,64] --no-downsample --jobs N SRC OUT``
2. ``webknossos downsample --jobs N --coarsest-mag 16 OUT``

Gotchas from the reference: ``convert`` downsamples by default, and with ``--chunk-shape 64`` and no
``--shard-shape`` the shards default to 8192×8192×64 (19.5 GiB of memory for a 256 MiB stack), so
the shard shape is given explicitly. webknossos has no mean: colour layers use the median.
Compression is its default (zstd level 5, checksum on). Output arrays are padded, axes c,x,y,z.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from _common import Steps, parse_args

VARIANTS = {
    "zarr2_c64": ["--data-format", "zarr"],
    "zarr3_c64_s1024": ["--data-format", "zarr3", "--shard-shape", "1024,1024,64"],
}


def main() -> None:
    args = parse_args(__doc__ or "", tuple(VARIANTS))
    steps = Steps()
    wk = str(Path(sys.executable).with_name("webknossos"))
    c = args.chunk
    jobs = ["--jobs", str(args.jobs)]
    convert = [wk, "convert", "--voxel-size", "1,1,1", "--layer-name", "color"]
    convert += ["--category", "color", "--chunk-shape", f"{c},{c},{c}", "--no-downsample"]
    convert += [*VARIANTS[args.variant], *jobs, str(args.input), str(args.output)]
    subprocess.run(convert, check=True)
    steps.mark("convert")
    coarsest = str(2 ** (args.levels - 1))
    subprocess.run(
        [wk, "downsample", *jobs, "--coarsest-mag", coarsest, str(args.output)], check=True
    )
    steps.mark("downsample")
    steps.emit()


if __name__ == "__main__":
    main()
