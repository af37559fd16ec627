"""Readers of inputs: one module per kind behind one :class:`Source` protocol.

Open anything with :func:`open_source`; hand ``source.spec()`` to other processes and
reopen it there with ``open_source(spec)``.
"""

from __future__ import annotations

from ngffkit.sources.base import SOURCE_KINDS, ReadCost, Source, SourceKind, SourceSpec
from ngffkit.sources.detect import detect_format, open_source
from ngffkit.sources.image_folder import ImageFolderSource
from ngffkit.sources.raw import RawSource
from ngffkit.sources.tensorstore_array import TensorStoreSource
from ngffkit.sources.tiff_file import TiffFileSource
from ngffkit.sources.tiff_folder import TiffFolderSource
from ngffkit.sources.volume_grids import VolumeGridsSource

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
    "detect_format",
    "open_source",
]
