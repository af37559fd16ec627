"""ome-zarr-py 0.18: TIFF stack → OME-Zarr 0.4 (Zarr v2) or 0.5 (Zarr v3), unsharded.

Gotcha from the reference: integer ``scale_factors`` never downsample z, so the factors are
dicts ``{"z": f, "y": f, "x": f}`` (cumulative: 2, 4, 8, 16). ``Methods.LOCAL_MEAN`` is
skimage's ``downscale_local_mean`` (truncates to the integer dtype). Chunks and compressor go
through ``storage_options``: numcodecs ``Blosc`` for 0.4, ``zarr.codecs.BloscCodec`` for 0.5.

Second gotcha (found here): the input is rechunked to the 64³ storage chunks first. Its dask
``local_mean`` works per block and keeps the input's chunking; with one-slice chunks (1, ny, nx)
every 2×2×2 block is cut in z, zero-padded, and level 1 comes out at about half the true mean.
"""

from __future__ import annotations

from _common import Steps, blosc_shuffle, dask_stack, factors, parse_args, stack_info, tiff_files


def main() -> None:
    args = parse_args(__doc__ or "", ("v04", "v05"))
    steps = Steps()
    import zarr
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.scale import Methods
    from ome_zarr.writer import write_image

    steps.mark("import")
    files = tiff_files(args.input)
    _, dtype = stack_info(files)
    arr = dask_stack(files).rechunk((args.chunk,) * 3)
    shuffle = blosc_shuffle(dtype)
    if args.variant == "v04":
        from numcodecs import Blosc

        fmt = FormatV04()
        compressor = Blosc(
            cname="zstd",
            clevel=args.clevel,
            shuffle=Blosc.BITSHUFFLE if shuffle == "bitshuffle" else Blosc.SHUFFLE,
        )
    else:
        from zarr.codecs import BloscCodec

        fmt = FormatV05()
        compressor = BloscCodec(cname="zstd", clevel=args.clevel, shuffle=shuffle)
    group = zarr.open_group(str(args.output), mode="w", zarr_format=fmt.zarr_format)
    scale_factors = [{"z": f, "y": f, "x": f} for f in factors(args.levels)]
    steps.mark("plan")
    write_image(
        arr,
        group,
        scale_factors=scale_factors,
        method=Methods.LOCAL_MEAN,
        fmt=fmt,
        axes="zyx",
        storage_options={"chunks": (args.chunk,) * 3, "compressor": compressor},
    )
    steps.mark("write")
    steps.emit()


if __name__ == "__main__":
    main()
