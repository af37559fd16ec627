"""``ngff demo``: make a small scroll-like stack and turn it into a multiscale OME-Zarr image.

It exercises the whole path a user takes — TIFF slices in, OME-Zarr out, ``ngff info`` — on
built-in synthetic data, so a fresh install can be checked in one command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from ngffkit.image import Image
from ngffkit.kernels import pyramid
from ngffkit.layout import create_image, finish_image, pyramid_spec
from ngffkit.samples import write_tiff_stack

# The scroll data's voxel size (Scroll 1, 7.91 µm), so the demo looks like the real thing.
DEMO_VOXEL_SIZE = 7.91
DEMO_UNIT = "micrometer"


@dataclass(frozen=True)
class DemoResult:
    stack: Path
    image: Image
    slices: int


def run_demo(
    folder: str | Path,
    shape: tuple[int, int, int] = (64, 256, 256),
    dtype: str = "uint16",
    *,
    levels: int = 3,
    overwrite: bool = False,
) -> DemoResult:
    """Write ``folder/stack/z*.tif`` (shape in z,y,x) and ``folder/scroll.ome.zarr``."""
    folder = Path(folder)
    stack = folder / "stack"
    files = write_tiff_stack(stack, shape, dtype, overwrite=overwrite)
    volume = np.stack([tifffile.imread(f) for f in files])
    spec = pyramid_spec(
        volume.shape,
        volume.dtype,
        voxel_size=DEMO_VOXEL_SIZE,
        unit=DEMO_UNIT,
        levels=levels,
        chunks=64,
        shards=128,
        version="0.5",
        method="mean",
        name="demo scroll",
    )
    out = folder / "scroll.ome.zarr"
    image = create_image(out, spec, overwrite=overwrite)
    factors = [(2, 2, 2)] * (levels - 1)
    for level, data in zip(image.levels, [volume, *pyramid(volume, factors, "mean")], strict=True):
        level.write(data)
    return DemoResult(stack=stack, image=finish_image(out, spec), slices=len(files))


__all__ = ["DemoResult", "run_demo"]
