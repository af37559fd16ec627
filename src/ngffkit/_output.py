"""What a writing command may do to its OUTPUT: the ``--overwrite`` rule and the writer's lock.

One rule decides whether an existing OUTPUT may be replaced (:func:`replace_refusal`):
nothing there, an empty folder, a Zarr hierarchy (``zarr.json``, ``.zgroup``, ``.zarray``
or ``.zattrs`` at its root) or ngffkit's own leftovers (its partial marker, journal, lock or
work folder). Anything else — a folder of documents, the current folder, a folder that
holds the input — is refused, with what was found. :func:`claim_output` applies it for
convert and ``compress --output``; :func:`replace_tree` for single arrays that a command
replaces inside an image (``downsample --rebuild``); later commands (flatten, labels) call
the same two. Deleting never follows a symbolic link out of OUTPUT.

:func:`output_lock` keeps two writers apart: a lock file inside OUTPUT, created with
``O_CREAT | O_EXCL`` (atomic on local filesystems and NFSv3+), holding the owner's pid, host,
boot and process start time. A second writer is refused while the owner lives; a lock
whose owner is gone (same host, pid dead or reused, or another boot) is taken over with a
warning. On object stores (S3, GCS) there is no exclusive create through tensorstore: the
lock is written, then read back to check it is ours — a best effort with a small window,
documented in docs/convert.md. The lock is removed when the command ends, success or not;
readers (info, validate, open) ignore it like every ``.ngffkit-*`` key.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ngffkit.error_mapping import denied, os_errors
from ngffkit.errors import ConflictError, InputError, NgffWarning, StorageError
from ngffkit.markers import DOWNSAMPLE_MARKER, LOCK, OWN_KEYS, OWNED, PARTIAL_MARKER
from ngffkit.storage import Location

_ZARR_KEYS = ("zarr.json", ".zgroup", ".zarray", ".zattrs")
_SHOWN = 5


# Metadata files are written through a temp name first (".zarr.json.tmp123"); a failed
# write removes it, a killed one may leave it.
_OWN_TEMP = re.compile(r"\.(zarr\.json|\.zarray|\.zgroup|\.zattrs|\.ngffkit-[\w.-]+)\.tmp\d+")


def _is_temp(name: str) -> bool:
    return _OWN_TEMP.fullmatch(name) is not None


def _is_own(name: str) -> bool:
    return name in OWN_KEYS or _is_temp(name)


def _top_names(loc: Location) -> list[str] | None:
    """The names directly at ``loc``'s root (files and folders); None if it cannot list."""
    local = loc.local_path
    if local is not None:
        try:
            with os.scandir(local) as entries:
                return sorted(e.name + ("/" if _is_folder(e) else "") for e in entries)
        except NotADirectoryError:
            return None
        except FileNotFoundError:
            return []
        except PermissionError as exc:
            raise StorageError(
                f"cannot list {local}: permission denied; check the folder's "
                "permissions, or choose another output"
            ) from exc
    keys = loc.list_keys()
    if keys is None:
        return None
    return sorted({k.split("/", 1)[0] + ("/" if "/" in k else "") for k in keys})


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()


def _place_refusal(loc: Location, what: str) -> str | None:
    """Why ``loc`` can never be an output that is replaced: the current folder (or one
    holding it), the home folder, the root."""
    local = loc.local_path
    if local is None:
        return None
    real, cwd, home = _real(local), _real(Path.cwd()), _real(Path.home())
    if _inside(cwd, real):
        where = "is the current folder" if real == cwd else "holds the current folder"
        return f"{what} {local} {where}; name a new folder for the output"
    if real == home or real == Path(real.anchor):
        return (
            f"{what} {local} is {'your home folder' if real == home else 'the root'}; "
            "name a new folder for the output"
        )
    return None


def replace_refusal(loc: Location, *, what: str = "OUTPUT") -> str | None:
    """Why ``loc`` may not be replaced (a sentence for the user), or None when it may."""
    refusal = _place_refusal(loc, what)
    if refusal is not None:
        return refusal
    local = loc.local_path
    if local is not None:
        if local.is_symlink():
            # Writing through it would put the lock and the data outside the path given.
            return (
                f"{what} {local} is a symbolic link (to {os.readlink(local)}); name the "
                "folder itself, or a new one"
            )
        if local.exists() and not local.is_dir():
            return f"{what} {local} is a file, not a folder; choose another output path"
    names = _top_names(loc)
    if not names:
        return None
    plain = [n.rstrip("/") for n in names]
    if any(n in _ZARR_KEYS for n in plain) or any(_is_own(n) for n in plain):
        return None
    shown = ", ".join(names[:_SHOWN]) + (", …" if len(names) > _SHOWN else "")
    files = "file or folder that is" if len(names) == 1 else "files or folders that are"
    return (
        f"{what} {loc.display()} holds {len(names)} {files} not Zarr ({shown}); "
        "ngffkit replaces only an empty folder, a Zarr/OME-Zarr dataset or its own "
        "unfinished output. Choose a new folder for the output"
    )


def holds_data(loc: Location) -> bool:
    """Whether ``loc`` holds anything besides ngffkit's lock and temp files."""
    local = loc.local_path
    if local is not None and (local.is_symlink() or local.is_file()):
        return True
    names = _top_names(loc)
    if names is None:
        return loc.exists()
    return any(n != LOCK and not _is_temp(n) for n in names)


def unfinished(loc: Location) -> bool:
    """Whether ``loc`` holds an unfinished run of ngffkit's (a partial marker, a journal, an
    interrupted downsample or in-place compress)."""
    local = loc.local_path
    keys = [k for k in OWN_KEYS if k != LOCK]
    if local is not None:
        return any((local / k).exists() for k in keys)
    return any(loc.read(k) is not None for k in (PARTIAL_MARKER, DOWNSAMPLE_MARKER))


def check_apart(
    input_path: Path | Location | None, out: Location, *, what: str = "the input"
) -> None:
    """Refuse an output that is, holds or lies inside the input (replacing it would delete
    the input, and writing into it would change it)."""
    if isinstance(input_path, Location):
        if input_path.local_path is None or out.local_path is None:
            src, dst = input_path.url.rstrip("/") + "/", out.url.rstrip("/") + "/"
            if src.startswith(dst) or dst.startswith(src):
                raise InputError(
                    f"the output {out.display()} overlaps {what} {input_path.display()}; "
                    "write the output elsewhere"
                )
            return
        input_path = input_path.local_path
    local = out.local_path
    if input_path is None or local is None:
        return
    a, b = _real(input_path), _real(local)
    if _inside(a, b) or _inside(b, a):
        raise InputError(
            f"the output {local} overlaps {what} {input_path}; write the output to a folder "
            "outside it (replacing it would delete the input)"
        )


def mark_owned(folder: Path, tool: str) -> None:
    """Mark a local OUTPUT folder that is not Zarr (a folder of TIFFs written by
    ``decompress-tiffs`` or ``flatten``) as ngffkit's, so a later ``--overwrite`` may replace
    it: without the mark such a folder looks like anybody's files and is refused."""
    (folder / OWNED).write_text(json.dumps({"tool": f"ngff {tool}"}) + "\n")


def claim_output(loc: Location, overwrite: bool, *, what: str = "OUTPUT") -> None:
    """Make ``loc`` ready for a new output: refuse what is not ours to replace, clear the rest.

    An empty folder (or one with only ngffkit's lock and temp files) is used as it is.
    Anything else needs ``overwrite`` and must pass :func:`replace_refusal`; then
    everything at ``loc`` but the lock (held by this run) is deleted.
    """
    refusal = _place_refusal(loc, what)
    if refusal is not None:
        raise ConflictError(refusal)
    if not holds_data(loc):
        return
    refusal = replace_refusal(loc, what=what)
    if refusal is not None:
        raise ConflictError(refusal)
    if not overwrite:
        partial = loc.read_json(PARTIAL_MARKER)
        if partial is not None:
            raise ConflictError(
                f"{loc.display()} holds an interrupted {partial.get('tool', 'ngff')} run"
                f"{' (started ' + partial['started'] + ')' if 'started' in partial else ''}; "
                "run the same command again with [[resume=True]] to finish it, or with "
                "[[overwrite=True]] to start again"
            )
        raise ConflictError(
            f"{loc.display()} already exists; pass [[overwrite=True]] to replace "
            "it, or choose another output"
        )
    clear(loc, keep=(LOCK,))


def replace_tree(loc: Location, *, what: str) -> None:
    """Delete the array or group at ``loc`` (e.g. a level being rebuilt), refusing anything
    that is not Zarr or ngffkit's."""
    refusal = replace_refusal(loc, what=what)
    if refusal is not None:
        raise ConflictError(refusal)
    clear(loc)
    local = loc.local_path
    if local is not None and local.is_dir() and not local.is_symlink():
        with contextlib.suppress(OSError):
            local.rmdir()


def clear(loc: Location, *, keep: tuple[str, ...] = ()) -> None:
    """Delete everything below ``loc`` but the root keys ``keep``; never follow a link out."""
    local = loc.local_path
    if local is None:
        loc.delete_tree() if not keep else _clear_remote(loc, keep)
        return
    if local.is_symlink() or (local.exists() and not local.is_dir()):
        local.unlink()
        return
    if not local.exists():
        return
    with os.scandir(local) as entries:
        found = [e for e in entries if e.name not in keep]
    for entry in found:
        try:
            if entry.is_dir(follow_symlinks=False):
                # rmtree never follows links (it unlinks them) and, on Linux, walks by file
                # descriptor, so a link swapped in mid-way cannot lead it out either.
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StorageError(f"cannot delete {entry.path}: {exc.strerror or exc}") from exc


def _clear_remote(loc: Location, keep: tuple[str, ...]) -> None:
    for key in loc.list_keys() or ():
        if key.split("/", 1)[0] not in keep:
            loc.delete(key)


# -- the lock --------------------------------------------------------------------------------


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(owner: dict[str, Any]) -> bool:
    from ngffkit.tasks import boot_id

    if owner.get("boot") and owner.get("boot") != boot_id():
        return False
    try:
        pid = int(owner.get("pid", 0))
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    started = owner.get("started_ticks")
    return not (started and _start_time(pid) not in (None, started))


def _owner_text(owner: dict[str, Any]) -> str:
    return f"pid {owner.get('pid', '?')} on {owner.get('host', '?')}"


@contextlib.contextmanager
def output_lock(
    loc: Location,
    command: str,
    *,
    new_output: bool = True,
    denied_hint: str = "choose an output you may write to",
) -> Iterator[None]:
    """Hold the writer's lock on ``loc`` for the ``with`` block (see the module's doc).

    For a ``new_output`` (convert, ``compress --output``) an OUTPUT that is not ours to
    write into is refused before anything is created there; in-place commands lock the
    image they opened.
    """
    if new_output:
        refusal = _place_refusal(loc, "OUTPUT")
        if refusal is None and holds_data(loc):
            refusal = replace_refusal(loc)
        if refusal is not None:
            raise ConflictError(refusal)
    local = loc.local_path
    created = local is not None and not local.exists()
    token = uuid.uuid4().hex
    pid = os.getpid()
    body = {
        "tool": command,
        "pid": pid,
        "host": socket.gethostname(),
        "token": token,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "started_ticks": _start_time(pid),
    }
    from ngffkit.tasks import boot_id

    body["boot"] = boot_id()
    try:
        _acquire(loc, body)
    except StorageError as exc:
        if not denied(exc):
            raise
        raise StorageError(f"{loc.display()} is not writable ({exc}); {denied_hint}") from None
    try:
        yield
    finally:
        _release(loc, token, remove_folder=created)


def _acquire(loc: Location, body: dict[str, Any]) -> None:
    data = json.dumps(body, indent=2).encode()
    for _attempt in range(3):
        if _create(loc, data):
            return
        owner = _read_owner(loc)
        if owner is None:
            continue  # released meanwhile, or being written right now: look again
        here = owner.get("host") == body["host"]
        if here and not _alive(owner):
            # A warning, so the CLI shows it even with --quiet.
            warnings.warn(
                f"took over the lock of an ngff run that no longer runs "
                f"({_owner_text(owner)}, {owner.get('tool', '?')} started "
                f"{owner.get('started', '?')}) on {loc.display()}",
                NgffWarning,
                stacklevel=4,
            )
            loc.delete(LOCK)
            continue
        hint = (
            "wait for it to finish, or stop it first"
            if here
            else f"if it no longer runs, delete {loc.display(LOCK)}"
        )
        raise ConflictError(
            f"another ngff ({_owner_text(owner)}) is writing "
            f"{loc.display()} ({owner.get('tool', '?')} started "
            f"{owner.get('started', '?')}); {hint}"
        )
    raise ConflictError(f"could not take the lock {loc.display(LOCK)}; try again")


def _create(loc: Location, data: bytes) -> bool:
    """Create the lock file if there is none; False when one exists."""
    local = loc.local_path
    if local is None:
        if loc.read(LOCK) is not None:
            return False
        loc.write(LOCK, data)
        time.sleep(0.05)  # let a racing writer's lock land, then see whose stayed
        return loc.read(LOCK) == data
    path = local / LOCK
    with os_errors(str(path), "write"):
        try:
            local.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, data)
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
    os.close(fd)
    return True


def _read_owner(loc: Location) -> dict[str, Any] | None:
    for _ in range(20):
        try:
            raw = loc.read(LOCK)
        except StorageError:
            raw = None
        if raw is None:
            return None
        try:
            owner = json.loads(raw)
        except ValueError:
            time.sleep(0.01)  # created, not yet written
            continue
        return owner if isinstance(owner, dict) else {}
    return {}


def _release(loc: Location, token: str, *, remove_folder: bool) -> None:
    with contextlib.suppress(StorageError):
        owner = _read_owner(loc)
        if owner is not None and owner.get("token") == token:
            loc.delete(LOCK)
    local = loc.local_path
    if remove_folder and local is not None:
        with contextlib.suppress(OSError):
            local.rmdir()  # only when the run left nothing there


__all__ = [
    "check_apart",
    "claim_output",
    "clear",
    "holds_data",
    "output_lock",
    "replace_refusal",
    "replace_tree",
    "unfinished",
]
