"""The error tree.

One root, :class:`NgffkitError`, so that callers (and the CLI) can catch everything that is
ngffkit's to report with a single ``except``. Each subclass says *whose* fault it is:

- :class:`InputError`: the user's input (a path, an option value, a source file) is wrong;
  :class:`OptionError` when one named option is at fault (the CLI exits 2, as for usage).
- :class:`MetadataError`: OME-Zarr / Zarr metadata is missing, malformed or breaks the spec.
- :class:`StorageError`: the store could not be read or written (I/O, network, permissions).
- :class:`ConflictError`: the operation would destroy or clash with existing data.
- :class:`ClusterError`: a Dask cluster could not be reached or failed the run;
  :class:`TaskError` when a task on it failed for a reason that is not one of the above (a
  worker died, the scheduler went away, an unexpected error in the task).

Messages say what was expected, what was found, and what to do about it.
"""

from __future__ import annotations

import re

# A parameter named in a message: ``[[allow_gaps=True]]``, ``[[raw_shape=X,Y,Z]]``,
# ``[[voxel_size]]``. The library never speaks CLI: it shows the Python spelling
# (``allow_gaps=True``); the CLI words the same template with its options (``--allow-gaps``,
# ``--raw-shape X,Y,Z``) in one place, ``ngffkit.cli._common``.
PARAMETER = re.compile(r"\[\[([a-z0-9_]+)(?:=([^\]]*))?\]\]")


def python_words(text: str) -> str:
    """``text`` with its ``[[parameter]]`` references in the library's words."""

    def one(m: re.Match[str]) -> str:
        name, value = m.group(1), m.group(2)
        return name if value is None else f"{name}={value}"

    return PARAMETER.sub(one, text)


class NgffkitError(Exception):
    """Root of every error ngffkit raises on purpose.

    A message may name parameters as ``[[allow_gaps=True]]``: ``str(error)`` words them
    for Python (``allow_gaps=True``); ``template`` keeps them for the command line, which
    words them as its options (``--allow-gaps``).
    """

    def __init__(self, *args: object) -> None:
        self.template = args[0] if args and isinstance(args[0], str) else None
        if self.template is not None:
            args = (python_words(self.template), *args[1:])
        super().__init__(*args)


class InputError(NgffkitError, ValueError):
    """A user-supplied value, path or source file is not usable."""


class OptionError(InputError):
    """One parameter's value is invalid: ``option`` names the parameter (``"chunks"``,
    never a command-line flag), ``detail`` says what is wrong with it.

    ``str(error)`` is ``"chunks: <detail>"``; the CLI reports it as a usage error naming
    its option (``--chunks``).
    """

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"[[{option}]]: {message}")
        self.option = option
        self.detail_template = message
        self.detail = python_words(message)


class MetadataError(NgffkitError):
    """OME-Zarr or Zarr metadata is missing, unreadable or not what the spec requires."""


class StorageError(NgffkitError, OSError):
    """Reading from or writing to a store failed."""


class NotFoundError(StorageError):
    """A required key or path does not exist in the store."""


class ConflictError(NgffkitError):
    """The operation would overwrite or clash with existing data."""


class ClusterError(NgffkitError):
    """A Dask cluster could not be reached (a wrong scheduler address, no workers, Dask
    distributed not installed) or failed the run."""


class TaskError(ClusterError):
    """A brick task failed on a Dask cluster: its workers died, the scheduler went away,
    or it raised an error ngffkit does not word (chained as ``__cause__``)."""


class PartialDatasetError(MetadataError):
    """The dataset was started but never finished (e.g. an interrupted conversion)."""


class NgffWarning(UserWarning):
    """Metadata was read leniently: it does not follow the spec but could still be used."""


__all__ = [
    "ClusterError",
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
    "python_words",
]
