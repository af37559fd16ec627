"""The error tree.

One root, :class:`NgffkitError`, so that callers (and the CLI) can catch everything that is
ngffkit's to report with a single ``except``. Each subclass says *whose* fault it is:

- :class:`InputError`: the user's input (a path, an option value, a source file) is wrong;
  :class:`OptionError` when one named option is at fault (the CLI exits 2, as for usage).
- :class:`MetadataError`: OME-Zarr / Zarr metadata is missing, malformed or breaks the spec.
- :class:`StorageError`: the store could not be read or written (I/O, network, permissions).
- :class:`ConflictError`: the operation would destroy or clash with existing data.
- :class:`TaskError`: a task on a Dask cluster failed for a reason that is not one of the
  above (a worker died, the scheduler went away, an unexpected error in the task).

Messages say what was expected, what was found, and what to do about it.
"""

from __future__ import annotations

import re

# A parameter named in a message: ``[[allow_gaps=True]]``, ``[[raw_shape=X,Y,Z]]``,
# ``[[voxel_size]]``. The library shows the Python spelling (``allow_gaps=True``), the CLI
# its option (``--allow-gaps``, ``--raw-shape X,Y,Z``): each audience reads its own words.
_PARAM = re.compile(r"\[\[([a-z_]+)(?:=([^\]]*))?\]\]")


def worded(text: str, *, cli: bool) -> str:
    """``text`` with its ``[[parameter]]`` references in the library's or the CLI's words."""

    def one(m: re.Match[str]) -> str:
        name, value = m.group(1), m.group(2)
        if not cli:
            return name if value is None else f"{name}={value}"
        option = "--" + name.replace("_", "-")
        return option if value in (None, "True") else f"{option} {value}"

    return _PARAM.sub(one, text)


class NgffkitError(Exception):
    """Root of every error ngffkit raises on purpose.

    A message may name parameters as ``[[allow_gaps=True]]``: ``str(error)`` words them
    for Python (``allow_gaps=True``), :meth:`cli_message` for the command line
    (``--allow-gaps``).
    """

    def __init__(self, *args: object) -> None:
        self.template = args[0] if args and isinstance(args[0], str) else None
        if self.template is not None:
            args = (worded(self.template, cli=False), *args[1:])
        super().__init__(*args)

    def cli_message(self) -> str:
        """The message in the command line's words."""
        return worded(self.template, cli=True) if self.template is not None else str(self)


class InputError(NgffkitError, ValueError):
    """A user-supplied value, path or source file is not usable."""


class OptionError(InputError):
    """An option value is invalid; ``option`` names it (``--chunks``), for a usage error."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.detail = worded(message, cli=False)
        self.cli_detail = worded(message, cli=True)


class MetadataError(NgffkitError):
    """OME-Zarr or Zarr metadata is missing, unreadable or not what the spec requires."""


class StorageError(NgffkitError, OSError):
    """Reading from or writing to a store failed."""


class NotFoundError(StorageError):
    """A required key or path does not exist in the store."""


class ConflictError(NgffkitError):
    """The operation would overwrite or clash with existing data."""


class TaskError(NgffkitError):
    """A brick task failed on a Dask cluster: its workers died, the scheduler went away,
    or it raised an error ngffkit does not word (chained as ``__cause__``)."""


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
    "TaskError",
    "worded",
]
