"""ngffkit: multi-resolution OME-Zarr from huge image volumes, readable anywhere.

The public names are few: :func:`convert` a stack, file or array to a multiscale image,
:func:`downsample` (add levels to) and :func:`compress` (re-encode) an existing one;
:func:`open` an image anywhere and read regions of any level;
:func:`create_image` / :func:`finish_image` with an :class:`ImageSpec` (or
:func:`pyramid_spec`) to write one; :func:`validate` and :func:`describe` to check and
summarise one; and the error tree rooted at :class:`NgffkitError`.

Importing ngffkit has no side effects: no threads, no environment changes, no network.
"""

from __future__ import annotations

from ngffkit.compress import compress
from ngffkit.convert import convert
from ngffkit.downsample import downsample
from ngffkit.errors import (
    ConflictError,
    InputError,
    MetadataError,
    NgffkitError,
    NgffWarning,
    NotFoundError,
    PartialDatasetError,
    StorageError,
)
from ngffkit.image import Image, Level
from ngffkit.image import open_image as open
from ngffkit.info import describe
from ngffkit.layout import ImageSpec, LevelSpec, create_image, finish_image, pyramid_spec
from ngffkit.validate import ValidationReport, validate

__version__ = "0.1.0"

__all__ = [
    "ConflictError",
    "Image",
    "ImageSpec",
    "InputError",
    "Level",
    "LevelSpec",
    "MetadataError",
    "NgffWarning",
    "NgffkitError",
    "NotFoundError",
    "PartialDatasetError",
    "StorageError",
    "ValidationReport",
    "__version__",
    "compress",
    "convert",
    "create_image",
    "describe",
    "downsample",
    "finish_image",
    "open",
    "pyramid_spec",
    "validate",
]
