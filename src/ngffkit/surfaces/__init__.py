"""Scroll surfaces: render the layers of a segment (a ``.ppm`` map or a tifxyz folder)
from an OME-Zarr volume.

- :func:`flatten` writes the layers as TIFFs (``00.tif`` ...) or an OME-Zarr image;
- :func:`surface_layers` returns a lazy (layers, H, W) array: index it to render one layer
  or a region of layers without writing files, or iterate its ``bands()``;
- :func:`open_surface` reads a surface's geometry (points, normals, validity) by rows.

The modules: ``readers`` (I/O of surfaces), ``geometry`` and ``sampling`` (pure kernels),
``plan`` (tiles, bands, memory), ``render`` (tiles in depth order), ``outputs`` (TIFF
folder, Zarr, journal), ``tiffwriter`` (strip-by-strip TIFF), ``flatten`` (the run).
"""

from __future__ import annotations

import os
from typing import Any

from ngffkit.surfaces.flattening import FlattenPlan, FlattenResult, flatten
from ngffkit.surfaces.readers import Surface, open_surface
from ngffkit.surfaces.render import SurfaceLayers


def surface_layers(
    surface: str | os.PathLike[str],
    volume: str | os.PathLike[str],
    *,
    layers: int = 65,
    step: float = 1.0,
    flip_normals: bool = False,
    level: int = 0,
    jobs: int | None = None,
    **kwargs: Any,
) -> SurfaceLayers:
    """A lazy (layers, H, W) array of ``surface``'s layers in ``volume`` (same sampling as
    :func:`flatten`): ``arr[32]`` renders layer 32, ``arr[20:45, 0:500, 0:800]`` a region,
    ``for row, band in arr.bands(): ...`` every layer a band of rows at a time.

    Parameters:
        surface: a ``.ppm`` file or a tifxyz folder.
        volume: the OME-Zarr image or Zarr array the surface lies in.
        layers: how many layers, centred on the surface.
        step: the distance between layers along the normal, in level-0 voxels.
        flip_normals: order the layers in the opposite direction.
        level: the level of ``volume`` sampled.
        jobs: how many tiles render at once.
        kwargs: passed on to :class:`SurfaceLayers` (``tile``).

    Returns:
        The :class:`SurfaceLayers`; nothing is read until it is indexed.
    """
    return SurfaceLayers(
        surface,
        volume,
        layers=layers,
        step=step,
        flip_normals=flip_normals,
        level=level,
        jobs=jobs,
        **kwargs,
    )


__all__ = [
    "FlattenPlan",
    "FlattenResult",
    "Surface",
    "SurfaceLayers",
    "flatten",
    "open_surface",
    "surface_layers",
]
