"""ngffkit's own files in what it writes, and the resume marker: one home.

Every run that can be interrupted leaves a **marker** saying which tool started it and the
**fingerprint** of what it was asked to do; a rerun with ``--resume`` continues only when
the fingerprint it computes is the one recorded. The fingerprint hashes the plan's *data*
(a canonical JSON of the values that fix the output and its brick grid), never its text,
so rewording a message never breaks a pending resume.

The reserved names below are ngffkit's and never user data: ``--overwrite``
(:mod:`ngffkit._output`) replaces them, readers ignore them.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from ngffkit.errors import ConflictError

#: Written first and removed last by convert and compress: the output is not complete.
PARTIAL_MARKER = ".ngffkit-partial.json"
#: The bricks a conversion has committed (:class:`ngffkit.tasks.Journal`).
JOURNAL = ".ngffkit-journal"
#: An image whose ``downsample`` is not finished.
DOWNSAMPLE_MARKER = ".ngffkit-downsample.json"
#: An in-place ``compress``: the new arrays and the swap state (:mod:`ngffkit.swap`).
COMPRESS_WORK = ".ngffkit-compress"
#: ngffkit's mark on its non-Zarr outputs (:func:`ngffkit._output.mark_owned`).
OWNED = ".ngffkit-output.json"
#: The writer's lock (:func:`ngffkit._output.output_lock`).
LOCK = ".ngffkit-lock.json"
#: ``flatten``'s band journal, beside its TIFF or in its Zarr output.
FLATTEN_JOURNAL = ".ngffkit-flatten.json"
#: Keys at an OUTPUT's root that ngffkit writes while it works (never user data).
OWN_KEYS = (PARTIAL_MARKER, JOURNAL, DOWNSAMPLE_MARKER, COMPRESS_WORK, OWNED, LOCK)


def fingerprint(data: Any) -> str:
    """A short hash of ``data``'s canonical JSON (sorted keys; what JSON cannot hold as
    its ``str``)."""
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def marker(tool: str, fingerprint: str, **details: Any) -> dict[str, Any]:
    """The body of a resume marker: the tool, its fingerprint, when it started, and what
    the tool wants a rerun (or a person) to know."""
    return {
        "tool": tool,
        "fingerprint": fingerprint,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **details,
    }


def resumable(found: dict[str, Any] | None, fingerprint: str) -> bool:
    """Whether a marker that was ``found`` records the same work (its fingerprint)."""
    return found is not None and found.get("fingerprint") == fingerprint


def check_resume(
    found: dict[str, Any] | None, fingerprint: str, *, where: str, work: str, restart: str
) -> bool:
    """The one decision of a run asked to resume: True when the marker ``found`` records this
    very work (continue it), False when there is no marker (the caller says what that
    means for it); a marker of other work raises, in the same words for every command.

    ``where`` names the output, ``work`` what was interrupted ("conversion"), ``restart``
    the parameter that starts again instead ("overwrite": ``--overwrite``)."""
    if found is None:
        return False
    if not resumable(found, fingerprint):
        raise ConflictError(
            f"{where}: the interrupted {work} was started with a different input or options; "
            f"resume with the same command, or start again with [[{restart}=True]]"
        )
    return True


__all__ = [
    "COMPRESS_WORK",
    "DOWNSAMPLE_MARKER",
    "FLATTEN_JOURNAL",
    "JOURNAL",
    "LOCK",
    "OWNED",
    "OWN_KEYS",
    "PARTIAL_MARKER",
    "check_resume",
    "fingerprint",
    "marker",
    "resumable",
]
