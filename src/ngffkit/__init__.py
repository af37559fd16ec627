"""ngffkit: multi-resolution OME-Zarr from huge image volumes, readable anywhere.

The public names are few: :func:`convert` a stack, file or array to a multiscale image
(:func:`plan_convert` returns the :class:`ConversionPlan` first, writing nothing),
:func:`downsample` (add levels to) and :func:`compress` (re-encode) an existing one;
:func:`add_labels` (or ``Image.add_labels``) to write a segmentation beside an image;
:func:`create_collection`, :func:`add_to_collection`, :func:`remove_from_collection` and
:func:`open_collection` for collections of images (the RFC-8 draft, experimental);
:func:`open` an image anywhere and read regions of any level;
:func:`create_image` / :func:`finish_image` with an :class:`ImageSpec` (or
:func:`pyramid_spec`) to write one; :func:`validate` and :func:`describe` to check and
summarise one; :class:`Voxel` (``Voxel(x=11.24, y=11.24, z=25)``) to give a voxel size by
axis name; :func:`flatten` the layers of a scroll surface into files, or read them as a lazy
array with :func:`surface_layers` (:func:`open_surface` reads a surface); and the error tree
rooted at :class:`NgffkitError` (:class:`OptionError` names the parameter at fault,
:class:`ClusterError` a Dask cluster that cannot be reached or failed).

Importing ngffkit has no side effects: no threads, no environment changes, no network.
The names are resolved on first use (PEP 562), so a program that needs one of them (the
``ngff`` command runs one command) imports only the modules behind it: start-up time is
part of every run.
"""

from __future__ import annotations

import importlib
import typing

from ngffkit.errors import (
    ClusterError,
    ConflictError,
    InputError,
    MetadataError,
    NgffkitError,
    NgffWarning,
    NotFoundError,
    OptionError,
    PartialDatasetError,
    StorageError,
)

if typing.TYPE_CHECKING:
    from ngffkit._collection import Collection, open_collection
    from ngffkit._convert import convert, plan_convert
    from ngffkit._downsample import downsample
    from ngffkit._recompress import compress
    from ngffkit._validate import ValidationReport, validate
    from ngffkit.collection_edit import (
        add_to_collection,
        create_collection,
        remove_from_collection,
    )
    from ngffkit.image import Image
    from ngffkit.image import open_image as open
    from ngffkit.info import describe
    from ngffkit.labels import add_labels
    from ngffkit.level import Level
    from ngffkit.plan import ConversionPlan
    from ngffkit.spec import ImageSpec, LevelSpec, pyramid_spec
    from ngffkit.surfaces import SurfaceLayers, flatten, open_surface, surface_layers
    from ngffkit.voxel import Voxel
    from ngffkit.writer import create_image, finish_image

__version__ = "0.1.0"

# public name -> (module, name in that module)
_LAZY: dict[str, tuple[str, str]] = {
    "add_labels": ("ngffkit.labels", "add_labels"),
    "Collection": ("ngffkit._collection", "Collection"),
    "add_to_collection": ("ngffkit.collection_edit", "add_to_collection"),
    "create_collection": ("ngffkit.collection_edit", "create_collection"),
    "open_collection": ("ngffkit._collection", "open_collection"),
    "remove_from_collection": ("ngffkit.collection_edit", "remove_from_collection"),
    "compress": ("ngffkit._recompress", "compress"),
    "convert": ("ngffkit._convert", "convert"),
    "plan_convert": ("ngffkit._convert", "plan_convert"),
    "ConversionPlan": ("ngffkit.plan", "ConversionPlan"),
    "downsample": ("ngffkit._downsample", "downsample"),
    "Image": ("ngffkit.image", "Image"),
    "Level": ("ngffkit.level", "Level"),
    "open": ("ngffkit.image", "open_image"),
    "describe": ("ngffkit.info", "describe"),
    "ImageSpec": ("ngffkit.spec", "ImageSpec"),
    "LevelSpec": ("ngffkit.spec", "LevelSpec"),
    "create_image": ("ngffkit.writer", "create_image"),
    "finish_image": ("ngffkit.writer", "finish_image"),
    "pyramid_spec": ("ngffkit.spec", "pyramid_spec"),
    "SurfaceLayers": ("ngffkit.surfaces", "SurfaceLayers"),
    "flatten": ("ngffkit.surfaces", "flatten"),
    "open_surface": ("ngffkit.surfaces", "open_surface"),
    "surface_layers": ("ngffkit.surfaces", "surface_layers"),
    "ValidationReport": ("ngffkit._validate", "ValidationReport"),
    "validate": ("ngffkit._validate", "validate"),
    "Voxel": ("ngffkit.voxel", "Voxel"),
}

__all__ = [
    "ClusterError",
    "Collection",
    "ConflictError",
    "ConversionPlan",
    "Image",
    "ImageSpec",
    "InputError",
    "Level",
    "LevelSpec",
    "MetadataError",
    "NgffWarning",
    "NgffkitError",
    "NotFoundError",
    "OptionError",
    "PartialDatasetError",
    "StorageError",
    "SurfaceLayers",
    "ValidationReport",
    "Voxel",
    "__version__",
    "add_labels",
    "add_to_collection",
    "compress",
    "convert",
    "create_collection",
    "create_image",
    "describe",
    "downsample",
    "finish_image",
    "flatten",
    "open",
    "open_collection",
    "open_surface",
    "plan_convert",
    "pyramid_spec",
    "remove_from_collection",
    "surface_layers",
    "validate",
]


def __getattr__(name: str) -> typing.Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        # AttributeError (not ImportError) lets ``from ngffkit import swap`` import the
        # submodule.
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
