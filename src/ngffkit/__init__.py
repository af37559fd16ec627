"""ngffkit: multi-resolution OME-Zarr from huge image volumes, readable anywhere.

The public names are few: :func:`open` an image anywhere and read regions of any level;
:func:`create_image` / :func:`finish_image` with an :class:`ImageSpec` (or
:func:`pyramid_spec`) to write one; :func:`validate` and :func:`describe` to check and
summarise one; and the error tree rooted at :class:`NgffkitError`.

Importing ngffkit has no side effects: no threads, no environment changes, no network.
"""

from __future__ import annotations

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
    "create_image",
    "describe",
    "finish_image",
    "open",
    "pyramid_spec",
    "validate",
]
