"""URLs to tensorstore kvstores: the only module that knows about URLs and credentials.

A :class:`Location` is a directory-like place in a store (``file``, ``memory``, ``http(s)``,
``s3``, ``gs``). Everything above this module — metadata JSON, level arrays, info sizes —
goes through a Location, so local and remote data take one code path.

Tensorstore errors are mapped to :mod:`ngffkit.errors` here and nowhere else.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import tensorstore as ts

from ngffkit.errors import InputError, MetadataError, NotFoundError, StorageError

JsonDict = dict[str, Any]

_SCHEMES = ("file", "memory", "http", "https", "s3", "gs")
_context_lock = threading.Lock()
_context: ts.Context | None = None

# Environment variable naming an S3-compatible endpoint (MinIO, Ceph, moto), after AWS's own.
S3_ENDPOINT_ENV = ("NGFFKIT_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def shared_context() -> ts.Context:
    """The process-wide tensorstore context.

    One context means one cache pool and one set of thread pools, and — for ``memory://`` —
    one in-memory store that every open in this process sees. Created on first use so that
    importing ngffkit starts no threads.
    """
    global _context
    with _context_lock:
        if _context is None:
            _context = ts.Context()
        return _context


def _join(base: str, *parts: str) -> str:
    """Join key parts with '/', keeping a trailing slash off and refusing escapes."""
    out = base.strip("/")
    for part in parts:
        for piece in str(part).replace("\\", "/").split("/"):
            if piece in ("", "."):
                continue
            if piece == "..":
                raise InputError(f"path part {part!r} must not contain '..'")
            out = f"{out}/{piece}" if out else piece
    return out


@dataclass(frozen=True)
class Location:
    """A directory-like place in a store, addressed by URL.

    ``kvstore`` is the tensorstore kvstore spec (JSON) whose ``path`` ends with ``/``; keys are
    relative to it. Locations are small, printable and picklable: workers reopen them.
    """

    url: str
    kvstore: JsonDict = field(hash=False, compare=False)

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0]

    @property
    def local_path(self) -> Path | None:
        """The filesystem path for ``file://`` locations, else None."""
        if self.scheme != "file":
            return None
        return Path(str(self.kvstore["path"]))

    @property
    def name(self) -> str:
        return PurePosixPath(urlsplit(self.url).path.rstrip("/")).name

    def child(self, *parts: str) -> Location:
        """The location ``parts`` below this one."""
        rel = _join("", *parts)
        if not rel:
            return self
        spec = dict(self.kvstore)
        spec["path"] = str(spec.get("path", "")) + rel + "/"
        base = self.url.rstrip("/")
        return Location(url=f"{base}/{quote(rel, safe='/')}", kvstore=spec)

    def parent(self) -> Location:
        """The location one level up (the root's parent is the root)."""
        path = str(self.kvstore.get("path", "")).rstrip("/")
        if "/" not in path.strip("/"):
            if self.scheme == "file" and path not in ("", "/"):
                return resolve(str(Path(path).parent))
            return self
        spec = dict(self.kvstore)
        spec["path"] = path.rsplit("/", 1)[0] + "/"
        return Location(url=self.url.rstrip("/").rsplit("/", 1)[0], kvstore=spec)

    def describe(self, key: str = "") -> str:
        """A human-readable address of ``key`` here, for messages (never includes secrets)."""
        base = self.url.rstrip("/")
        if self.scheme == "file":
            base = str(self.local_path).rstrip("/")
        return f"{base}/{key}" if key else base

    # -- the store -----------------------------------------------------------------------

    def _kv(self) -> ts.KvStore:
        try:
            return ts.KvStore.open(self.kvstore, context=shared_context()).result()
        except Exception as exc:
            raise map_error(exc, self, "") from exc

    def read(self, key: str) -> bytes | None:
        """The bytes at ``key``, or None when it does not exist."""
        if self.scheme == "file":
            # Plain file reads are several times cheaper than a kvstore round trip for the
            # small JSON files that dominate metadata access.
            path = Path(str(self.kvstore["path"])) / key
            try:
                return path.read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                return None
            except IsADirectoryError:
                return None
            except OSError as exc:
                raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            result = self._kv().read(key).result()
        except Exception as exc:
            raise map_error(exc, self, key) from exc
        if result.state == "missing":
            return None
        return bytes(result.value)

    def read_json(self, key: str) -> JsonDict | None:
        """Parse the JSON object at ``key``; None when missing; MetadataError when malformed."""
        raw = self.read(key)
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MetadataError(
                f"{self.describe(key)} is not valid JSON ({exc}); "
                "fix or restore the file, or rewrite the dataset"
            ) from exc
        if not isinstance(value, dict):
            raise MetadataError(
                f"{self.describe(key)} should hold a JSON object, "
                f"but holds a {type(value).__name__}"
            )
        return value

    def write(self, key: str, data: bytes) -> None:
        if self.scheme == "file":
            path = Path(str(self.kvstore["path"])) / key
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
                tmp.write_bytes(data)
                # Atomic replace: a reader never sees half a metadata file.
                os.replace(tmp, path)
            except OSError as exc:
                raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc
            return
        try:
            self._kv().write(key, data).result()
        except Exception as exc:
            raise map_error(exc, self, key) from exc

    def write_json(self, key: str, value: JsonDict) -> None:
        self.write(key, (json.dumps(value, indent=2) + "\n").encode())

    def delete(self, key: str) -> None:
        """Delete one key (no error when it is missing)."""
        if self.scheme == "file":
            try:
                (Path(str(self.kvstore["path"])) / key).unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise StorageError(f"cannot delete {self.describe(key)}: {exc}") from exc
            return
        try:
            self._kv().delete_range(ts.KvStore.KeyRange(key, key + "\x00")).result()
        except Exception as exc:
            raise map_error(exc, self, key) from exc

    def exists(self) -> bool:
        """Whether anything is stored at or below this location (where that can be told)."""
        local = self.local_path
        if local is not None:
            return local.exists()
        listed = self.list_sizes()
        if listed is not None:
            return bool(listed)
        return any(self.read(k) is not None for k in ("zarr.json", ".zattrs", ".zgroup", ".zarray"))

    def list_sizes(self) -> dict[str, int] | None:
        """Every key below this location with its size in bytes; None if the store can't list."""
        local = self.local_path
        if local is not None:
            sizes: dict[str, int] = {}
            if not local.is_dir():
                return sizes
            for dirpath, _dirs, files in os.walk(local):
                for name in files:
                    full = os.path.join(dirpath, name)
                    try:
                        sizes[os.path.relpath(full, local).replace(os.sep, "/")] = os.stat(
                            full
                        ).st_size
                    except OSError:
                        continue
            return sizes
        if self.scheme in ("http", "https"):
            return None
        kv = self._kv()
        try:
            keys = kv.list().result()
        except Exception:
            return None
        if self.scheme != "memory":
            # Remote stores would need a request per key to learn sizes; not worth it here.
            return None
        out: dict[str, int] = {}
        for raw_key in keys:
            key = raw_key.decode()
            result = kv.read(key).result()
            out[key] = len(result.value)
        return out

    def delete_tree(self) -> None:
        """Remove everything at and below this location, and nothing else."""
        local = self.local_path
        if local is not None:
            if local.is_symlink() or local.is_file():
                local.unlink()
            elif local.exists():
                shutil.rmtree(local)
            return
        try:
            self._kv().delete_range(ts.KvStore.KeyRange()).result()
        except Exception as exc:
            raise map_error(exc, self, "") from exc


def resolve(url: str | os.PathLike[str] | Location) -> Location:
    """Turn a path or URL into a :class:`Location`.

    Accepted: a local path, ``file://``, ``memory://`` (tests), ``http(s)://``, ``s3://``
    (endpoint from ``NGFFKIT_S3_ENDPOINT`` / ``AWS_ENDPOINT_URL``), ``gs://``.
    """
    if isinstance(url, Location):
        return url
    text = os.fspath(url)
    if not text:
        raise InputError("an empty path was given; pass a path or a URL")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme and scheme not in _SCHEMES:
        raise InputError(
            f"unsupported URL scheme {scheme!r} in {text!r}; "
            f"use a local path or one of {', '.join(s + '://' for s in _SCHEMES)}"
        )
    if scheme in ("", "file"):
        path_text = unquote(urlsplit(text).path) if scheme == "file" else text
        norm = Path(os.path.normpath(Path(path_text).expanduser().absolute()))
        return Location(url=norm.as_uri(), kvstore={"driver": "file", "path": f"{norm}/"})
    parts = urlsplit(text)
    path = parts.path.strip("/")
    if scheme == "memory":
        rel = _join(parts.netloc, path)
        return Location(url=f"memory://{rel}", kvstore={"driver": "memory", "path": f"{rel}/"})
    if scheme in ("http", "https"):
        base = f"{parts.scheme}://{parts.netloc}"
        spec: JsonDict = {"driver": "http", "base_url": base, "path": f"/{path}/" if path else "/"}
        clean = f"{base}/{path}" if path else base
        return Location(url=clean, kvstore=spec)
    bucket = parts.netloc
    if not bucket:
        raise InputError(f"{text!r} names no bucket; write it as {scheme}://BUCKET/path")
    if scheme == "s3":
        spec = {"driver": "s3", "bucket": bucket, "path": f"{path}/" if path else ""}
        for var in S3_ENDPOINT_ENV:
            if os.environ.get(var):
                spec["endpoint"] = os.environ[var]
                break
        return Location(url=f"s3://{bucket}/{path}".rstrip("/"), kvstore=spec)
    spec = {"driver": "gcs", "bucket": bucket, "path": f"{path}/" if path else ""}
    return Location(url=f"gs://{bucket}/{path}".rstrip("/"), kvstore=spec)


def map_error(exc: BaseException, where: Location, key: str) -> Exception:
    """Translate a tensorstore/OS error into the ngffkit error tree, naming the key."""
    if isinstance(exc, (StorageError, MetadataError, InputError)):
        return exc
    text = str(exc)
    addr = where.describe(key)
    if "NOT_FOUND" in text or "404" in text:
        return NotFoundError(f"{addr} was not found")
    if "PERMISSION_DENIED" in text or "403" in text:
        return StorageError(
            f"access to {addr} was refused (403); check the credentials or the bucket policy"
        )
    if "UNAUTHENTICATED" in text or "401" in text:
        return StorageError(
            f"{addr} needs credentials (401); provide them (e.g. AWS_* variables or a token)"
        )
    if "RESOURCE_EXHAUSTED" in text or "No space left" in text:
        return StorageError(f"no space left while writing {addr}; free some space, then run "
                            "the same command again with --resume to continue")
    return StorageError(f"cannot access {addr}: {text}")


__all__ = ["Location", "map_error", "resolve", "shared_context"]
