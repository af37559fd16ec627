"""ngffkit: multi-resolution OME-Zarr from huge image volumes, readable anywhere."""

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

__version__ = "0.1.0"

__all__ = [
    "ConflictError",
    "InputError",
    "MetadataError",
    "NgffWarning",
    "NgffkitError",
    "NotFoundError",
    "PartialDatasetError",
    "StorageError",
    "__version__",
]
