"""The error tree.

One root, :class:`NgffkitError`, so that callers (and the CLI) can catch everything that is
ngffkit's to report with a single ``except``. Each subclass says *whose* fault it is:

- :class:`InputError`: the user's input (a path, an option value, a source file) is wrong;
  :class:`OptionError` when one named option is at fault (the CLI exits 2, as for usage).
- :class:`MetadataError`: OME-Zarr / Zarr metadata is missing, malformed or breaks the spec.
- :class:`StorageError`: the store could not be read or written (I/O, network, permissions).
- :class:`ConflictError`: the operation would destroy or clash with existing data.

Messages say what was expected, what was found, and what to do about it.
"""

from __future__ import annotations


class NgffkitError(Exception):
    """Root of every error ngffkit raises on purpose."""


class InputError(NgffkitError, ValueError):
    """A user-supplied value, path or source file is not usable."""


class OptionError(InputError):
    """An option value is invalid; ``option`` names it (``--chunks``), for a usage error."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.detail = message


class MetadataError(NgffkitError):
    """OME-Zarr or Zarr metadata is missing, unreadable or not what the spec requires."""


class StorageError(NgffkitError, OSError):
    """Reading from or writing to a store failed."""


class NotFoundError(StorageError):
    """A required key or path does not exist in the store."""


class ConflictError(NgffkitError):
    """The operation would overwrite or clash with existing data."""


class PartialDatasetError(MetadataError):
    """The dataset was started but never finished (e.g. an interrupted conversion)."""


class NgffWarning(UserWarning):
    """Metadata was read leniently: it does not follow the spec but could still be used."""


__all__ = [
    "ConflictError",
    "InputError",
    "MetadataError",
    "NgffWarning",
    "NgffkitError",
    "NotFoundError",
    "OptionError",
    "PartialDatasetError",
    "StorageError",
]
