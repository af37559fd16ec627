"""Replacing a dataset's arrays in place: write beside, verify, swap — or roll back.

Used by ``ngff compress`` without ``--output``. Everything new is written under
``<root>/.ngffkit-compress/new/`` while the original stays untouched and readable. A state
file (``state.json``, replaced atomically) records the phase:

``writing``
    new arrays are being written and verified brick by brick; a rerun with the same
    options continues, a rerun with other options (or ``--rollback``) deletes the new arrays.
``swapping``
    every new array is complete and verified. Each level directory is renamed aside to
    ``old/`` and its new version renamed into place; then the new group metadata is written
    and the old-format metadata files deleted. A rerun finishes this (it only renames);
    ``--rollback`` undoes it from the original metadata kept in the state file.
``done``
    only cleaning up is left: the old arrays are deleted.

Renames need a local filesystem, so in-place work is refused on remote stores.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ngffkit.errors import InputError, StorageError
from ngffkit.markers import COMPRESS_WORK
from ngffkit.storage import JsonDict, Location

STATE = "state.json"


def work_dir(root: Location) -> Path:
    local = root.local_path
    if local is None:
        raise InputError(
            f"{root.display()}: compressing in place needs a local folder (it swaps "
            "directories by renaming them); write to a new place with [[output]]"
        )
    return local / COMPRESS_WORK


def new_location(root: Location) -> Location:
    """Where the new arrays are written (same relative paths as the originals)."""
    return root.child(COMPRESS_WORK, "new")


def read_state(root: Location) -> JsonDict | None:
    return root.child(COMPRESS_WORK).read_json(STATE)


def write_state(root: Location, state: Mapping[str, Any]) -> None:
    root.child(COMPRESS_WORK).write_json(STATE, dict(state))


def begin(
    root: Location,
    *,
    fingerprint: str,
    levels: Sequence[str],
    groups: Mapping[str, Mapping[str, Any]],
    backup: Mapping[str, Mapping[str, Any]],
    summary: str,
) -> JsonDict:
    """Start a fresh in-place run: the state file first, so a kill leaves a trace."""
    state: JsonDict = {
        "tool": "ngff compress",
        "phase": "writing",
        "fingerprint": fingerprint,
        "levels": list(levels),
        "groups": dict(groups),
        "backup": dict(backup),
        "summary": summary,
    }
    write_state(root, state)
    return state


def swap(root: Location, state: JsonDict) -> None:
    """Move every new level into place, then write the new group metadata (idempotent)."""
    state = {**state, "phase": "swapping"}
    write_state(root, state)
    base = work_dir(root)
    local = root.local_path
    assert local is not None
    for rel in state["levels"]:
        live, beside, parked = local / rel, base / "new" / rel, base / "old" / rel
        if not beside.exists():
            continue  # swapped by an earlier, interrupted run
        if live.exists() and not parked.exists():
            parked.parent.mkdir(parents=True, exist_ok=True)
            _rename(live, parked)
        elif live.exists():
            _remove(live)  # a half-moved leftover: the original is safe in old/
        live.parent.mkdir(parents=True, exist_ok=True)
        _rename(beside, live)
    _write_groups(root, state["groups"])
    write_state(root, {**state, "phase": "done"})
    cleanup(root)


def rollback(root: Location, state: JsonDict) -> None:
    """Undo whatever an interrupted run did and remove its work; the original is restored."""
    base = work_dir(root)
    local = root.local_path
    assert local is not None
    if state.get("phase") == "swapping":
        for rel in state["levels"]:
            live, parked = local / rel, base / "old" / rel
            if parked.exists():
                if live.exists():
                    _remove(live)
                live.parent.mkdir(parents=True, exist_ok=True)
                _rename(parked, live)
        restore = {
            rel: {
                "write": files,
                "delete": [
                    name
                    for name in state["groups"].get(rel, {}).get("write", {})
                    if name not in files
                ],
            }
            for rel, files in state["backup"].items()
        }
        _write_groups(root, restore)
    _remove(base)


def cleanup(root: Location) -> None:
    _remove(work_dir(root))


def _write_groups(root: Location, groups: Mapping[str, Mapping[str, Any]]) -> None:
    # New-format files first, then the old ones go: a reader always finds one of them.
    for rel, change in groups.items():
        loc = root.child(rel) if rel else root
        for name, doc in change.get("write", {}).items():
            text = doc if isinstance(doc, str) else json.dumps(doc, indent=2) + "\n"
            loc.write(name, text.encode())
        for name in change.get("delete", []):
            loc.delete(name)


def _rename(src: Path, dst: Path) -> None:
    try:
        os.replace(src, dst)
    except OSError as exc:
        raise StorageError(
            f"cannot move {src} to {dst}: {exc.strerror or exc}; "
            "rerun the command to continue, or [[rollback=True]]"
        ) from exc


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    except OSError as exc:
        raise StorageError(f"cannot remove {path}: {exc.strerror or exc}") from exc


__all__ = [
    "STATE",
    "begin",
    "cleanup",
    "new_location",
    "read_state",
    "rollback",
    "swap",
    "work_dir",
    "write_state",
]
