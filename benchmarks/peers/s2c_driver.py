"""stack-to-chunk 2.1: TIFF stack → sharded Zarr v3 / OME-Zarr 0.5 (its only format).

Gotchas from the reference: the input must be a dask array in (x, y, z) order with chunks
(nx, ny, 1); the output is x,y,z too; shards are forced to the whole x,y extent × one chunk in z
(1024×1024×64 for the 1024² stacks). Compression: plain zstd codec, level 5 (its tests use 2).
Downsampling: ``skimage.measure.block_reduce(np.mean)``, one level at a time, in joblib (loky)
worker processes (``--jobs``).
"""

from __future__ import annotations

import shutil

from _common import Steps, dask_stack, parse_args, tiff_files


def main() -> None:
    args = parse_args(__doc__ or "", ("v05_sharded",))
    steps = Steps()
    from pydantic_zarr.v3 import ArraySpec, NamedConfig
    from stack_to_chunk import MultiScaleGroup

    steps.mark("import")
    arr = dask_stack(tiff_files(args.input), order="xyz")
    if args.output.exists():
        shutil.rmtree(args.output)
    c = args.chunk
    group = MultiScaleGroup(
        args.output,
        name="image",
        spatial_unit="micrometer",
        voxel_size=(1.0, 1.0, 1.0),
        array_spec=ArraySpec.from_array(
            arr,
            chunk_grid=NamedConfig(name="regular", configuration={"chunk_shape": [c, c, c]}),
            codecs=(
                NamedConfig(name="bytes"),
                NamedConfig(name="zstd", configuration={"level": args.clevel}),
            ),
        ),
    )
    steps.mark("create")
    group.add_full_res_data(arr, n_processes=args.jobs)
    steps.mark("level0")
    for level in range(1, args.levels):
        group.add_downsample_level(level, n_processes=args.jobs)
    steps.mark("downsample")
    steps.emit()


if __name__ == "__main__":
    main()
