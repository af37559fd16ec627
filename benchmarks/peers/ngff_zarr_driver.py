"""ngff-zarr 0.50 (zarrista / Rust zarrs engine): TIFF stack → OME-Zarr 0.4 or 0.5, unsharded.

Settings as in the reference: ``Methods.DASK_BIN_SHRINK`` (local mean via dask.coarsen, rounds
to nearest; the default ``ITKWASM_GAUSSIAN`` is not a mean), cumulative integer scale factors
2, 4, 8, 16 (these do scale z), 64³ chunks, blosc zstd 5 given as codec config dicts.
"""

from __future__ import annotations

from typing import Any

from _common import Steps, blosc_shuffle, dask_stack, factors, parse_args, stack_info, tiff_files


def main() -> None:
    args = parse_args(__doc__ or "", ("v04", "v05"))
    steps = Steps()
    import ngff_zarr as nz

    steps.mark("import")
    files = tiff_files(args.input)
    _, dtype = stack_info(files)
    arr = dask_stack(files)
    image = nz.to_ngff_image(arr, dims=["z", "y", "x"], name="image")
    multiscales = nz.to_multiscales(
        image,
        scale_factors=factors(args.levels),
        method=nz.Methods.DASK_BIN_SHRINK,
        chunks=args.chunk,
    )
    shuffle = blosc_shuffle(dtype)
    compression: dict[str, Any]  # to_ome_zarr's keyword for the format: compressor(s)
    if args.variant == "v04":
        compression = {
            "compressor": {
                "id": "blosc",
                "cname": "zstd",
                "clevel": args.clevel,
                "shuffle": 2 if shuffle == "bitshuffle" else 1,
                "blocksize": 0,
            }
        }
        version = "0.4"
    else:
        compression = {
            "compressors": [
                {
                    "name": "blosc",
                    "configuration": {
                        "cname": "zstd",
                        "clevel": args.clevel,
                        "shuffle": shuffle,
                        "typesize": dtype.itemsize,
                        "blocksize": 0,
                    },
                }
            ]
        }
        version = "0.5"
    steps.mark("plan")
    nz.to_ome_zarr(str(args.output), multiscales, version=version, overwrite=True, **compression)
    steps.mark("write")
    steps.emit()


if __name__ == "__main__":
    main()
