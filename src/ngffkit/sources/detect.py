"""Which reader an input needs, and :func:`open_source`, the one way to open any input.

Detection, in order, when ``input_format`` is not given:

1. a :class:`SourceSpec` reopens its own kind;
2. ``raw_shape`` given -> ``raw``;
3. a file: ``.tif``/``.tiff`` -> ``tiff``; ``.raw``/``.bin``/``.dat``/``.vol`` -> ``raw``
   (which then needs ``raw_shape``/``raw_dtype``); ``.h5``/``.hdf5``/``.hdf``/``.he5``/``.ims``,
   or any file with the HDF5 signature -> ``hdf5`` (``FILE.h5:/dataset`` names the
   dataset); a metadata file (``zarr.json``,
   ``.zarray``, ``.zgroup``, ``.zattrs``, ``attributes.json``, ``info``) stands for its
   folder;
4. a folder with ``zarr.json``/``.zarray``/``.zgroup``/``.zattrs`` -> ``zarr``; with
   ``attributes.json`` -> ``n5``; with ``info`` -> ``precomputed``;
5. a folder of ``cell_yxz_*.tif`` -> ``volume-grids``;
6. a folder of ``.tif``/``.tiff`` -> ``tiff-folder``; of ``.png``/``.jpg``/``.jpeg`` ->
   ``image-folder`` (one format per folder).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from ngffkit.error_mapping import os_error
from ngffkit.errors import InputError, NotFoundError
from ngffkit.sources.base import (
    CELL_NAME,
    SOURCE_KINDS,
    SourceBase,
    SourceKind,
    SourceSpec,
    check_reopened,
    is_remote_url,
    local_path,
)
from ngffkit.sources.hdf5 import HDF5_SUFFIXES, is_hdf5_file, split_dataset
from ngffkit.sources.slice_folder import SLICE_SUFFIXES, slice_files

# Each reader is imported when an input of its kind is opened: their libraries (tifffile,
# Pillow) cost start-up time that inputs of other kinds should not pay.

_RAW_SUFFIXES = {".raw", ".bin", ".dat", ".vol"}
_METADATA_FILES = {
    "zarr.json": "zarr",
    ".zarray": "zarr",
    ".zgroup": "zarr",
    ".zattrs": "zarr",
    "attributes.json": "n5",
    "info": "precomputed",
}


def detect_kind(path: Path) -> tuple[SourceKind, Path]:
    """Return the input kind of ``path`` and the path to open it from."""
    try:
        return _detect_kind(path)
    except PermissionError as exc:
        raise os_error(exc, str(path), "read the input") from exc


def _detect_kind(path: Path) -> tuple[SourceKind, Path]:
    if not path.exists():
        raise NotFoundError(f"{path}: no such file or folder.")
    if path.is_file():
        if path.name in _METADATA_FILES:
            return _METADATA_FILES[path.name], path.parent  # type: ignore[return-value]
        suffix = path.suffix.lower()
        if suffix in (".tif", ".tiff"):
            return "tiff", path
        if suffix in _RAW_SUFFIXES:
            return "raw", path
        if suffix in HDF5_SUFFIXES or is_hdf5_file(path):
            return "hdf5", path
        hint = (
            " A single PNG/JPEG is one slice: put the slices in a folder and pass the folder."
            if suffix in SLICE_SUFFIXES
            else ""
        )
        raise InputError(
            f"{path}: cannot tell what kind of input this file is (suffix {suffix or 'none'!r}). "
            "Expected a .tif/.tiff file, an HDF5 file (.h5), a raw volume (.raw with "
            f"raw_shape/raw_dtype), or a folder; pass input_format to say.{hint}"
        )
    for name, kind in _METADATA_FILES.items():
        if (path / name).is_file():
            return kind, path  # type: ignore[return-value]
    names = os.listdir(path)
    if any(CELL_NAME.match(n) for n in names):
        return "volume-grids", path
    families = slice_files(path)
    if len(families) == 1:
        return ("tiff-folder" if "tiff" in families else "image-folder"), path
    if len(families) > 1:
        counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(families.items()))
        raise InputError(
            f"{path}: slices of more than one format ({counts}). One stack must use one "
            "format; convert or move the odd files out."
        )
    if not names:
        raise InputError(f"{path}: the folder is empty; expected image slices or an array.")
    shown = ", ".join(sorted(names)[:8]) + (" …" if len(names) > 8 else "")
    raise InputError(
        f"{path}: no image slices or array metadata found (found: {shown}). Expected "
        ".tif/.tiff/.png/.jpg slices, cell_yxz_*.tif grid cells, or a Zarr/N5/precomputed array."
    )


def open_source(
    input: str | os.PathLike[str] | SourceSpec,
    *,
    input_format: str | None = None,
    allow_gaps: bool = False,
    raw_shape: Any = None,
    raw_dtype: str | None = None,
    raw_order: Literal["C", "F"] | str = "C",
) -> SourceBase:
    """Open any supported input as a :class:`~ngffkit.sources.base.Source`.

    ``input``: a path, a ``file://`` URL, or a :class:`SourceSpec` from ``source.spec()``
    (which reopens the same input and checks it still has the recorded shape and dtype).
    ``input_format``: one of ``tiff-folder``, ``image-folder``, ``tiff``, ``volume-grids``,
    ``zarr``, ``n5``, ``precomputed``, ``raw``; detected when omitted (see module docs).
    ``allow_gaps``: folders of slices and volume_grids; missing slices or cells read as zeros.
    ``raw_shape`` (**x, y, z** order, as on the CLI), ``raw_dtype`` and ``raw_order``
    (``"C"``: x fastest; ``"F"``: z fastest): raw files only. An HDF5 input names its
    dataset after a colon (``data.h5:/volumes/raw``), or holds just one volume.
    """
    if isinstance(input, SourceSpec) and input.kind in ("channels", "pattern"):
        src = _open_composite(input)
    elif isinstance(input, SourceSpec):
        src = _open(
            input.kind,
            input.path if is_remote_url(input.path) else Path(input.path),
            allow_gaps=input.allow_gaps,
            raw_shape=input.raw_shape,
            raw_dtype=input.raw_dtype,
            raw_order=input.raw_order,
            dataset=input.dataset,
        )
    if isinstance(input, SourceSpec):
        try:
            check_reopened(input, src)
        except InputError:
            src.close()
            raise
        return src
    if is_remote_url(input):
        return _open_remote(os.fspath(input), input_format, allow_gaps)
    input, dataset = split_dataset(os.fspath(input))
    if dataset is not None and input_format not in (None, "hdf5"):
        raise InputError(
            f"{input}:{dataset}: a dataset path after ':' is for HDF5 files; the input format "
            f"{input_format!r} takes the path alone."
        )
    if input_format is not None:
        if input_format not in SOURCE_KINDS:
            raise InputError(
                f"input_format {input_format!r} is not known; expected one of "
                f"{', '.join(SOURCE_KINDS)}."
            )
        if input_format in ("channels", "pattern"):
            raise InputError(
                f"input_format {input_format!r} is not opened by name: give several inputs "
                "(channels), or a folder with a file-name pattern ([[pattern]])."
            )
        kind: SourceKind = input_format
        path = local_path(input)
        if path.is_file() and path.name in _METADATA_FILES:
            path = path.parent
    elif raw_shape is not None:
        kind, path = "raw", local_path(input)
    else:
        kind, path = detect_kind(local_path(input))
    return _open(
        kind,
        path,
        allow_gaps=allow_gaps,
        raw_shape=raw_shape,
        raw_dtype=raw_dtype,
        raw_order=raw_order,
        dataset=dataset,
    )


def _open_composite(spec: SourceSpec) -> SourceBase:
    """Reopen a source made of other inputs: several inputs as channels, or a folder read
    through a file-name pattern."""
    if spec.kind == "channels":
        from ngffkit.sources.channels import open_channels

        return open_channels(spec.parts, opener=open_source)
    from ngffkit.sources.pattern import open_pattern

    assert spec.pattern is not None
    return open_pattern(spec.path, spec.pattern, allow_gaps=spec.allow_gaps)


def _open_remote(url: str, input_format: str | None, allow_gaps: bool = False) -> SourceBase:
    """Remote inputs: arrays tensorstore reads by key (Zarr, N5, precomputed), and folders
    of TIFF slices or grid cells (``http(s)://`` listings, ``s3://`` prefixes)."""
    from ngffkit.sources.tensorstore_array import TensorStoreSource, remote_kind
    from ngffkit.storage import resolve

    loc = resolve(url)
    if input_format in ("tiff-folder", "volume-grids"):
        from ngffkit.sources.remote_tiffs import open_remote_folder

        return open_remote_folder(input_format, url, allow_gaps=allow_gaps)  # type: ignore[arg-type]
    if input_format is None:
        try:
            array_kind = remote_kind(loc)
        except NotFoundError:
            if loc.scheme not in ("http", "https", "s3"):
                raise
            # no array metadata there: a folder of TIFF slices or grid cells, if it lists any
            from ngffkit.sources.remote_tiffs import detect_remote_folder, open_remote_folder

            kind, folder = detect_remote_folder(url)
            return open_remote_folder(kind, folder, allow_gaps=allow_gaps)
        return TensorStoreSource(loc, array_kind)
    if input_format not in ("zarr", "n5", "precomputed"):
        raise InputError(
            f"{loc.display()}: {input_format} inputs must be local; remote inputs "
            "(http(s)://, s3://, gs://) can be zarr, n5 or precomputed arrays, or folders "
            "of TIFF slices or grid cells (tiff-folder, volume-grids). Download the files "
            "first."
        )
    return TensorStoreSource(loc, input_format)  # type: ignore[arg-type]


def _open(
    kind: SourceKind,
    path: Path | str,
    *,
    allow_gaps: bool,
    raw_shape: Any,
    raw_dtype: str | None,
    raw_order: str,
    dataset: str | None = None,
) -> SourceBase:
    if kind in ("zarr", "n5", "precomputed"):
        from ngffkit.sources.tensorstore_array import TensorStoreSource

        return TensorStoreSource(path, kind)
    if kind in ("tiff-folder", "volume-grids") and is_remote_url(path):
        from ngffkit.sources.remote_tiffs import open_remote_folder

        return open_remote_folder(kind, str(path), allow_gaps=allow_gaps)
    path = Path(path)
    if kind == "tiff-folder":
        from ngffkit.sources.tiff_folder import TiffFolderSource

        return TiffFolderSource(path, allow_gaps=allow_gaps)
    if kind == "image-folder":
        from ngffkit.sources.image_folder import ImageFolderSource

        return ImageFolderSource(path, allow_gaps=allow_gaps)
    if kind == "tiff":
        if path.is_dir():
            raise InputError(
                f"{path}: input_format 'tiff' takes one TIFF file; for a folder of slices "
                "use 'tiff-folder'."
            )
        from ngffkit.sources.tiff_file import TiffFileSource

        return TiffFileSource(path)
    if kind == "hdf5":
        from ngffkit.sources.hdf5 import Hdf5Source

        return Hdf5Source(path, dataset)
    if dataset is not None:
        raise InputError(f"{path}:{dataset}: a dataset path after ':' is for HDF5 files only.")
    if kind == "wkw":  # a WEBKNOSSOS mag folder; its extent comes as raw_shape (wk_import)
        from ngffkit.sources.wkw_array import WkwSource

        return WkwSource(path, raw_shape=raw_shape)
    if kind == "volume-grids":
        from ngffkit.sources.volume_grids import VolumeGridsSource

        return VolumeGridsSource(path, allow_gaps=allow_gaps)
    from ngffkit.sources.raw import RawSource

    return RawSource(path, raw_shape=raw_shape, raw_dtype=raw_dtype, raw_order=raw_order)
