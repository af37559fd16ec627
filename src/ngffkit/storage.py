"""URLs to tensorstore kvstores: the only module that knows about URLs and credentials.

A :class:`Location` is a directory-like place in a store (``file``, ``memory``, ``http(s)``,
``s3``, ``gs``). Everything above this module — metadata JSON, level arrays, info sizes —
goes through a Location, so local and remote data take one code path.

How remote stores are reached is a :class:`StorageOptions`: HTTP headers (a bearer token),
the S3 endpoint, region and credentials, the chunk cache size, retries and timeouts. The
process-wide default comes from the environment and can be replaced with :func:`configure`
(the CLI does this from its shared options); a public function's ``storage_options=``
overrides it for that call (:func:`ngffkit.transport.accepts_storage_options`), and
``resolve(url, options=...)`` for one location. Per-location settings (headers, endpoint,
credentials, retries) travel inside the Location's kvstore spec, so a Location handed to
another thread or process reaches the store the same way. Secrets never appear in ``Location.url``, ``display()``, ``repr()`` or error
messages. Options and contexts live in :mod:`ngffkit.transport`, error mapping in
:mod:`ngffkit.error_mapping`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from ngffkit import transport
from ngffkit.error_mapping import (
    KvstoreSpec,
    host_error,
    loopback_refused,
    map_error,
    mapped_errors,
    os_errors,
    redact_url,
)
from ngffkit.errors import InputError, MetadataError, NotFoundError, StorageError
from ngffkit.transport import (
    ANONYMOUS_ENV,
    CACHE_ENV,
    HEADERS_ENV,
    RETRIES_ENV,
    S3_ENDPOINT_ENV,
    TIMEOUT_ENV,
    StorageOptions,
    StorageOptionsArg,
    accepts_storage_options,
    default_options,
    open_kvstore,
    parse_header,
    read_context,
    retry_resources,
    shared_context,
    storage_options,
    threads_context,
    use_timeout,
    using,
)

if TYPE_CHECKING:
    import tensorstore as ts

JsonDict = dict[str, Any]

_SCHEMES = ("file", "memory", "http", "https", "s3", "gs")
_REMOTE = ("http", "https", "s3", "gs")
# user:password given in a URL, remembered per origin (scheme://host:port) for this process,
# so that a location reopened from its clean URL (a source reopened by a worker thread)
# still authenticates.
_origin_auth: dict[str, str] = {}


def configure(options: StorageOptions | None) -> None:
    """Make ``options`` the process-wide default for locations resolved from now on
    (None: back to the environment). Call it before the first remote access: the cache
    size, retries and timeout apply to contexts created afterwards."""
    transport.configure(options)


def forget_credentials() -> None:
    """Forget the user:password pairs remembered from URLs in this process."""
    _origin_auth.clear()


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
    """The address without secrets (no user:password)."""
    kvstore: JsonDict = field(hash=False, compare=False, repr=False)
    """The tensorstore kvstore spec; may hold secrets (headers), so it is never printed."""

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
    def is_remote(self) -> bool:
        return self.scheme in _REMOTE

    def secrets(self) -> tuple[str, ...]:
        """Header values this location sends (to keep them out of messages)."""
        return tuple(
            str(h).split(":", 1)[1].strip() for h in self.kvstore.get("headers", ()) if ":" in h
        )

    @property
    def name(self) -> str:
        """The last part of the path as the user wrote it (URLs hold it percent-encoded)."""
        return unquote(PurePosixPath(urlsplit(self.url).path.rstrip("/")).name)

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

    def display(self, key: str = "") -> str:
        """A human-readable address of ``key`` here, for messages (never includes secrets)."""
        base = self.url.rstrip("/")
        if self.scheme == "file":
            base = str(self.local_path).rstrip("/")
        return f"{base}/{key}" if key else base

    # -- the store -----------------------------------------------------------------------

    def check_host(self) -> None:
        """Fail fast, with a clear message, when the server's host name does not resolve."""
        base = self.kvstore.get("base_url") or self.kvstore.get("endpoint")
        if not base:
            return
        parts = urlsplit(str(base))
        if not parts.hostname:
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if loopback_refused(parts.hostname, port):
            raise StorageError(
                f"cannot reach {self.display()}: the connection was refused (nothing listens "
                f"on {parts.hostname}:{port}); is the server running, and are the host and "
                "port right?"
            )
        problem = host_error(parts.hostname, port)
        if problem is not None:
            raise StorageError(
                f"cannot reach {self.display()}: the host name {parts.hostname!r} does not "
                f"resolve ({problem}); check the URL{' and [[s3_endpoint]]' if self.scheme == 's3' else ''} "
                "and the network"
            )

    def _kv(self) -> ts.KvStore:
        if self.is_remote:
            use_timeout(default_options())
        return open_kvstore(self.kvstore, self, self.check_host)

    def check_bucket(self) -> None:
        """Raise a clear error when this location's bucket does not exist or refuses us.

        A read of a missing key in a missing bucket just says "missing"; a listing says why.
        """
        if self.scheme not in ("s3", "gs"):
            return
        import tensorstore as ts

        with mapped_errors(self):
            self._kv().list(ts.KvStore.KeyRange("zarr.json", "zarr.json\x00")).result()

    def _check_writable(self, key: str) -> None:
        if self.scheme in ("http", "https"):
            raise StorageError(
                f"cannot write {self.display(key)}: http(s):// locations are read-only; "
                "write to a local path, s3:// or gs:// instead"
            )

    def read(self, key: str) -> bytes | None:
        """The bytes at ``key``, or None when it does not exist."""
        if self.scheme == "file":
            # Plain file reads are several times cheaper than a kvstore round trip for the
            # small JSON files that dominate metadata access.
            path = Path(str(self.kvstore["path"])) / key
            with os_errors(str(path), "read"):
                try:
                    return path.read_bytes()
                except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                    return None
        with mapped_errors(self, key):
            result = self._kv().read(key).result()
        if result.state == "missing":
            return None
        return bytes(result.value)

    def read_range(self, key: str, start: int, stop: int) -> bytes:
        """Bytes ``start:stop`` of ``key`` (a Range request remotely): b"" when the range is
        not wholly inside the value, NotFoundError when the key is missing."""
        if self.scheme == "file":
            path = Path(str(self.kvstore["path"])) / key
            try:
                with path.open("rb") as f:
                    f.seek(start)
                    data = f.read(max(stop - start, 0))
                    return data if len(data) == stop - start else b""
            except FileNotFoundError:
                raise NotFoundError(f"{path} does not exist") from None
            except OSError as exc:
                raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from exc
        with mapped_errors(self, key):
            try:
                result = self._kv().read(key, byte_range=slice(start, stop)).result()
            except Exception as exc:
                if "OUT_OF_RANGE" in str(exc):
                    return b""
                raise
        if result.state == "missing":
            raise NotFoundError(f"{self.display(key)} was not found")
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
                f"{self.display(key)} is not valid JSON ({exc}); "
                "fix or restore the file, or rewrite the dataset"
            ) from exc
        if not isinstance(value, dict):
            raise MetadataError(
                f"{self.display(key)} should hold a JSON object, but holds a {type(value).__name__}"
            )
        return value

    def write(self, key: str, data: bytes) -> None:
        if self.scheme == "file":
            path = Path(str(self.kvstore["path"])) / key
            tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
            with os_errors(str(path), "write"):
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tmp.write_bytes(data)
                    # Atomic replace: a reader never sees half a metadata file.
                    os.replace(tmp, path)
                except OSError:
                    # A full disk must not leave the half-written temp file behind.
                    with contextlib.suppress(OSError):
                        tmp.unlink()
                    raise
            return
        self._check_writable(key)
        with mapped_errors(self, key):
            self._kv().write(key, data).result()

    def write_json(self, key: str, value: JsonDict) -> None:
        self.write(key, (json.dumps(value, indent=2) + "\n").encode())

    def delete(self, key: str) -> None:
        """Delete one key (no error when it is missing)."""
        if self.scheme == "file":
            with os_errors(self.display(key), "delete"), contextlib.suppress(FileNotFoundError):
                (Path(str(self.kvstore["path"])) / key).unlink()
            return
        self._check_writable(key)
        import tensorstore as ts

        with mapped_errors(self, key):
            self._kv().delete_range(ts.KvStore.KeyRange(key, key + "\x00")).result()

    def exists(self) -> bool:
        """Whether anything is stored at or below this location (where that can be told)."""
        local = self.local_path
        if local is not None:
            return local.exists()
        if any(self.read(k) is not None for k in ("zarr.json", ".zattrs", ".zgroup", ".zarray")):
            return True
        keys = self.list_keys()
        return bool(keys)

    def list_keys(self) -> list[str] | None:
        """Every key below this location; None if the store cannot list (HTTP)."""
        local = self.local_path
        if local is not None:
            sizes = self.list_sizes()
            return sorted(sizes) if sizes is not None else None
        if self.scheme in ("http", "https"):
            return None
        with mapped_errors(self):
            keys = self._kv().list().result()
        return sorted(k.decode() for k in keys)

    def list_sizes(self) -> dict[str, int] | None:
        """Every key below this location with its size in bytes; None if the store can't list."""
        local = self.local_path
        if local is not None:
            sizes: dict[str, int] = {}
            if local.is_dir():
                _local_sizes(os.fspath(local), "", sizes)
            return sizes
        if self.scheme != "memory":
            # Remote stores would need a request per key to learn sizes; not worth it here.
            return None
        kv = self._kv()
        out: dict[str, int] = {}
        with mapped_errors(self):
            for raw_key in kv.list().result():
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
        self._check_writable("")
        import tensorstore as ts

        with mapped_errors(self):
            self._kv().delete_range(ts.KvStore.KeyRange()).result()


def resolve(
    url: str | os.PathLike[str] | Location, *, options: StorageOptions | None = None
) -> Location:
    """Turn a path or URL into a :class:`Location`.

    Accepted: a local path, ``file://``, ``memory://`` (tests), ``http(s)://`` (with
    ``user:password@`` for HTTP basic auth), ``s3://`` and ``gs://``. ``options`` (default:
    :func:`default_options`) says how to reach remote stores; a Location is returned as is.
    """
    if isinstance(url, Location):
        return url
    text = os.fspath(url)
    if not text:
        raise InputError("an empty path was given; pass a path or a URL")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme and scheme not in _SCHEMES:
        raise InputError(
            f"unsupported URL scheme {scheme!r} in {redact_url(text)!r}; "
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
    opts = options if options is not None else default_options()
    if scheme in ("http", "https"):
        # tensorstore percent-encodes the path it sends: decode what the URL encoded
        # (a browser's copy of .../odd%20name/), or it would be encoded twice
        return _http_location(parts, unquote(path), opts)
    retries = retry_resources(opts)
    bucket = parts.netloc
    if not bucket or "@" in bucket:
        raise InputError(
            f"{redact_url(text)!r} names no bucket; write it as {scheme}://BUCKET/path "
            "(credentials go in the environment or a profile, not in the URL)"
        )
    if scheme == "s3":
        spec: JsonDict = {"driver": "s3", "bucket": bucket, "path": f"{path}/" if path else ""}
        if opts.s3_endpoint:
            spec["endpoint"] = opts.s3_endpoint.rstrip("/")
        if opts.s3_region:
            spec["aws_region"] = opts.s3_region
        credentials = _aws_credentials(opts)
        spec["context"] = {"s3_request_retries": retries["s3_request_retries"]}
        if credentials is not None:
            spec["context"]["aws_credentials"] = credentials
        return Location(url=f"s3://{bucket}/{path}".rstrip("/"), kvstore=spec)
    spec = {
        "driver": "gcs",
        "bucket": bucket,
        "path": f"{path}/" if path else "",
        "context": {"gcs_request_retries": retries["gcs_request_retries"]},
    }
    return Location(url=f"gs://{bucket}/{path}".rstrip("/"), kvstore=spec)


def _http_location(parts: Any, path: str, opts: StorageOptions) -> Location:
    host = parts.hostname or ""
    if not host:
        raise InputError(f"{redact_url(parts.geturl())!r} names no host")
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    base = f"{parts.scheme.lower()}://{netloc}"
    headers = list(opts.headers)
    if parts.username is not None:
        user, password = unquote(parts.username), unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        _origin_auth[base] = f"Authorization: Basic {token}"
    has_auth = any(h.lower().startswith("authorization:") for h in headers)
    if base in _origin_auth and not has_auth:
        headers.append(_origin_auth[base])
    query = f"?{parts.query}" if parts.query else ""
    spec: JsonDict = {
        "driver": "http",
        "base_url": base + query,
        "path": f"/{path}/" if path else "/",
    }
    if headers:
        spec["headers"] = headers
    spec["context"] = {"http_request_retries": retry_resources(opts)["http_request_retries"]}
    clean = f"{base}/{quote(path)}" if path else base
    return Location(url=clean, kvstore=spec)


def _aws_credentials(opts: StorageOptions) -> JsonDict | None:
    """The ``aws_credentials`` context resource, or None for tensorstore's default chain.

    Naming the source avoids the default chain's probing (and its log lines about a missing
    ``~/.aws/config``) when the answer is known.
    """
    if opts.anonymous:
        return {"type": "anonymous"}
    if opts.aws_profile:
        return {"type": "profile", "profile": opts.aws_profile}
    if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        return {"type": "environment"}
    return None


def _local_sizes(folder: str, prefix: str, out: dict[str, int]) -> None:
    """Add the files below ``folder`` to ``out`` as ``prefix + relative key`` -> bytes.

    What ``os.walk`` would list (files of a folder before its subfolders, symbolic links to
    folders not followed, unreadable folders and vanished or dangling files skipped),
    without its per-file path joins and ``relpath``: a pyramid has a file per shard, and
    the summary of every conversion lists them all.
    """
    subfolders = []
    try:
        with os.scandir(folder) as entries:
            found = list(entries)
    except OSError:
        return
    for entry in found:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            if not entry.is_symlink():
                subfolders.append(entry)
            continue
        try:
            out[prefix + entry.name] = entry.stat().st_size
        except OSError:
            continue
    for entry in subfolders:
        _local_sizes(entry.path, f"{prefix}{entry.name}/", out)


__all__ = [
    "ANONYMOUS_ENV",
    "CACHE_ENV",
    "HEADERS_ENV",
    "RETRIES_ENV",
    "S3_ENDPOINT_ENV",
    "TIMEOUT_ENV",
    "KvstoreSpec",
    "Location",
    "StorageOptions",
    "StorageOptionsArg",
    "accepts_storage_options",
    "configure",
    "default_options",
    "forget_credentials",
    "map_error",
    "mapped_errors",
    "os_errors",
    "parse_header",
    "read_context",
    "resolve",
    "shared_context",
    "storage_options",
    "threads_context",
    "using",
]
