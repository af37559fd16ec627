"""Readers of inputs: one module per kind behind one :class:`Source` protocol.

Open anything with :func:`open_source`; hand ``source.spec()`` to other processes and
reopen it there with ``open_source(spec)``. The reader classes are imported on first use
(PEP 562), as :func:`open_source` imports only the reader an input needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ngffkit.sources.base import SOURCE_KINDS, ReadCost, Source, SourceKind, SourceSpec
from ngffkit.sources.detect import detect_kind, open_source

if TYPE_CHECKING:
    from ngffkit.sources.image_folder import ImageFolderSource
    from ngffkit.sources.raw import RawSource
    from ngffkit.sources.tensorstore_array import TensorStoreSource
    from ngffkit.sources.tiff_file import TiffFileSource
    from ngffkit.sources.tiff_folder import TiffFolderSource
    from ngffkit.sources.volume_grids import VolumeGridsSource

_READERS = {
    "ImageFolderSource": "ngffkit.sources.image_folder",
    "RawSource": "ngffkit.sources.raw",
    "TensorStoreSource": "ngffkit.sources.tensorstore_array",
    "TiffFileSource": "ngffkit.sources.tiff_file",
    "TiffFolderSource": "ngffkit.sources.tiff_folder",
    "VolumeGridsSource": "ngffkit.sources.volume_grids",
}

__all__ = [
    "SOURCE_KINDS",
    "ImageFolderSource",
    "RawSource",
    "ReadCost",
    "Source",
    "SourceKind",
    "SourceSpec",
    "TensorStoreSource",
    "TiffFileSource",
    "TiffFolderSource",
    "VolumeGridsSource",
    "detect_kind",
    "open_source",
]


def __getattr__(name: str) -> Any:
    if name not in _READERS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_READERS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
