"""``ngff demo``: make a small scroll-like stack and convert it to a multiscale OME-Zarr image.

It exercises the whole path a user takes — TIFF slices in, ``ngff convert``, OME-Zarr out,
``ngff info`` — on built-in synthetic data, so a fresh install can be checked in one command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ngffkit._convert import convert
from ngffkit.image import Image
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
    """Write ``folder/stack/z*.tif`` (shape in z,y,x) and convert it to
    ``folder/scroll.ome.zarr``."""
    folder = Path(folder)
    stack = folder / "stack"
    files = write_tiff_stack(stack, shape, dtype, overwrite=overwrite)
    image = convert(
        stack,
        folder / "scroll.ome.zarr",
        voxel_size=DEMO_VOXEL_SIZE,
        unit=DEMO_UNIT,
        levels=levels,
        chunks=64,
        shards=128,
        name="demo scroll",
        overwrite=overwrite,
    )
    assert isinstance(image, Image)
    return DemoResult(stack=stack, image=image, slices=len(files))


__all__ = ["DemoResult", "run_demo"]
