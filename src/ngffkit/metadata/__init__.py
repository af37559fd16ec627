"""OME-Zarr metadata: frozen models, version-aware reading and writing, schema checks."""

from ngffkit.metadata.io import (
    READ_VERSIONS,
    WRITE_VERSIONS,
    Finding,
    dump,
    extract,
    parse,
    recommendations,
    validation_findings,
)
from ngffkit.metadata.models import (
    Axis,
    Channel,
    Dataset,
    ImageLabel,
    LabelColor,
    Multiscale,
    OmeAttributes,
    Omero,
    ScaleTransform,
    TranslationTransform,
    Window,
)

__all__ = [
    "READ_VERSIONS",
    "WRITE_VERSIONS",
    "Axis",
    "Channel",
    "Dataset",
    "Finding",
    "ImageLabel",
    "LabelColor",
    "Multiscale",
    "OmeAttributes",
    "Omero",
    "ScaleTransform",
    "TranslationTransform",
    "Window",
    "dump",
    "extract",
    "parse",
    "recommendations",
    "validation_findings",
]
