"""URLs to tensorstore kvstores: the only module that knows about URLs and credentials.

A :class:`Location` is a directory-like place in a store (``file``, ``memory``, ``http(s)``,
``s3``, ``gs``). Everything above this module — metadata JSON, level arrays, info sizes —
goes through a Location, so local and remote data take one code path.

How remote stores are reached is a :class:`StorageOptions`: HTTP headers (a bearer token),
the S3 endpoint and credentials, the chunk cache size, retries and timeouts. The process-wide
default comes from the environment and can be replaced with :func:`configure` (the CLI does
this from its shared options); ``resolve(url, options=...)`` overrides it for one location.
Per-location settings (headers, endpoint, credentials) travel inside the Location's kvstore
spec, so a Location handed to another thread or process reaches the store the same way.
Secrets never appear in ``Location.url``, ``describe()``, ``repr()`` or error messages.

Tensorstore errors are mapped to :mod:`ngffkit.errors` here and nowhere else.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import shutil
import socket
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import tensorstore as ts

from ngffkit.errors import InputError, MetadataError, NotFoundError, OptionError, StorageError

JsonDict = dict[str, Any]

_SCHEMES = ("file", "memory", "http", "https", "s3", "gs")
_REMOTE = ("http", "https", "s3", "gs")
_context_lock = threading.Lock()
_context: ts.Context | None = None
_read_context: ts.Context | None = None
_defaults: StorageOptions | None = None
# user:password given in a URL, remembered per origin (scheme://host:port) for this process,
# so that a location reopened from its clean URL (a source reopened by a worker thread)
# still authenticates.
_origin_auth: dict[str, str] = {}
# Open kvstores by spec: opening an S3 kvstore costs a request (the bucket's region).
_kvstores: dict[tuple[int, str], ts.KvStore] = {}
_timeouts_set: set[str] = set()
_TIMEOUTS_MARKER = "NGFFKIT_CURL_TIMEOUTS_SET"

# Environment variables naming an S3-compatible endpoint (MinIO, Ceph, moto), after AWS's own.
S3_ENDPOINT_ENV = ("NGFFKIT_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
HEADERS_ENV = "NGFFKIT_HTTP_HEADERS"
ANONYMOUS_ENV = "NGFFKIT_ANONYMOUS"
CACHE_ENV = "NGFFKIT_CACHE_SIZE"
RETRIES_ENV = "NGFFKIT_RETRIES"
TIMEOUT_ENV = "NGFFKIT_TIMEOUT"

DEFAULT_CACHE_BYTES = 256 * 2**20
DEFAULT_RETRIES = 6
DEFAULT_TIMEOUT = 30.0
_HEADER = re.compile(r"^([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*:\s*(.*)$")


def _env_number(name: str, kind: type[int] | type[float]) -> Any:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise InputError(f"the environment variable {name}={text!r} is not a number") from None
    if value < 0:
        raise InputError(f"the environment variable {name}={text!r} must not be negative")
    return value


def parse_header(text: str) -> str:
    """Check one ``Name: value`` HTTP header and return it normalised."""
    match = _HEADER.match(text.strip())
    if not match or not match.group(2).strip():
        raise OptionError("--header", "expected 'Name: value', e.g. 'Authorization: Bearer TOKEN'")
    return f"{match.group(1)}: {match.group(2).strip()}"


@dataclass(frozen=True)
class StorageOptions:
    """How remote stores are reached. Every field has a default; see ``docs/remote.md``.

    ``headers``: ``"Name: value"`` strings sent with every HTTP(S) request (e.g. a bearer
    token). ``s3_endpoint``: an S3-compatible server (MinIO, Ceph) instead of AWS.
    ``s3_region``: the bucket's region (saves tensorstore asking for it with an unsigned
    request). ``aws_profile``: a profile of ``~/.aws/credentials``. ``anonymous``: send no credentials
    (public buckets). ``cache_bytes``: the chunk cache for reads. ``retries``: attempts after
    a 429, a 5xx or a network error, with exponential backoff. ``timeout``: seconds to
    connect, and seconds a transfer may stall before it fails.
    """

    headers: tuple[str, ...] = ()
    s3_endpoint: str | None = None
    s3_region: str | None = None
    aws_profile: str | None = None
    anonymous: bool = False
    cache_bytes: int = DEFAULT_CACHE_BYTES
    retries: int = DEFAULT_RETRIES
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", tuple(parse_header(h) for h in self.headers))
        if self.s3_endpoint is not None and not re.match(r"^https?://[^/]", self.s3_endpoint):
            raise OptionError(
                "--s3-endpoint", f"{self.s3_endpoint!r} must be an http:// or https:// URL"
            )
        if self.cache_bytes < 0 or self.retries < 0 or not self.timeout > 0:
            raise InputError("cache size and retries must not be negative; timeout must be > 0")

    def __repr__(self) -> str:
        # Header values are secrets (tokens); show only the names.
        names = [h.split(":", 1)[0] + ": ***" for h in self.headers]
        return (
            f"StorageOptions(headers={names}, s3_endpoint={self.s3_endpoint!r}, "
            f"aws_profile={self.aws_profile!r}, anonymous={self.anonymous}, "
            f"cache_bytes={self.cache_bytes}, retries={self.retries}, timeout={self.timeout})"
        )

    @classmethod
    def from_env(cls) -> StorageOptions:
        """Options from the environment (``NGFFKIT_*``, ``AWS_ENDPOINT_URL``, ``AWS_PROFILE``)."""
        headers = [h for h in os.environ.get(HEADERS_ENV, "").splitlines() if h.strip()]
        endpoint = next((os.environ[v] for v in S3_ENDPOINT_ENV if os.environ.get(v)), None)
        cache = _env_number(CACHE_ENV, int)
        retries = _env_number(RETRIES_ENV, int)
        timeout = _env_number(TIMEOUT_ENV, float)
        return cls(
            headers=tuple(headers),
            s3_endpoint=endpoint,
            s3_region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None,
            aws_profile=os.environ.get("AWS_PROFILE") or None,
            anonymous=os.environ.get(ANONYMOUS_ENV, "").lower() in ("1", "true", "yes"),
            cache_bytes=DEFAULT_CACHE_BYTES if cache is None else cache,
            retries=DEFAULT_RETRIES if retries is None else retries,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
        )

    def updated(self, **changes: Any) -> StorageOptions:
        """A copy with ``changes`` applied (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def secrets(self) -> tuple[str, ...]:
        return tuple(h.split(":", 1)[1].strip() for h in self.headers)


def default_options() -> StorageOptions:
    """The process-wide options: from :func:`configure`, else from the environment (read
    again on every call until :func:`configure` pins them)."""
    return _defaults if _defaults is not None else StorageOptions.from_env()


def configure(options: StorageOptions | None) -> None:
    """Make ``options`` the process-wide default for locations resolved from now on
    (None: back to the environment).

    The cache size, retries and timeout apply to contexts created afterwards: call this
    before the first remote access (the timeout is read once per process by tensorstore's
    HTTP transport).
    """
    global _defaults, _context, _read_context
    with _context_lock:
        _defaults = options
        _context = None
        _read_context = None
        _kvstores.clear()


def forget_credentials() -> None:
    """Forget the user:password pairs remembered from URLs in this process."""
    _origin_auth.clear()


def _context_spec(options: StorageOptions) -> JsonDict:
    retries = {"max_retries": options.retries, "initial_delay": "250ms", "max_delay": "8s"}
    return {
        "http_request_retries": retries,
        "s3_request_retries": retries,
        "gcs_request_retries": retries,
    }


def _set_transport_timeouts(timeout: float) -> None:
    # tensorstore's curl transport has no per-request timeout, only these variables, read
    # when the transport is first created; without them a stalled server hangs forever.
    # A value the user put in the environment wins; one we set is updated.
    seconds = str(max(1, round(timeout)))
    wanted = {
        "TENSORSTORE_CURL_CONNECT_TIMEOUT_SECONDS": seconds,
        "TENSORSTORE_CURL_LOW_SPEED_TIME_SECONDS": seconds,
        "TENSORSTORE_CURL_LOW_SPEED_LIMIT_BYTES": "1",
    }
    # Child processes inherit the variables; the marker tells them the values were ours.
    ours = os.environ.get(_TIMEOUTS_MARKER) == "1"
    for name, value in wanted.items():
        if name not in os.environ or ours or name in _timeouts_set:
            os.environ[name] = value
            _timeouts_set.add(name)
    if _timeouts_set == set(wanted):
        os.environ[_TIMEOUTS_MARKER] = "1"


def shared_context() -> ts.Context:
    """The process-wide tensorstore context (no chunk cache: writes and convert reads).

    One context means one set of thread pools and retry settings, and — for ``memory://`` —
    one in-memory store that every open in this process sees. Created on first use so that
    importing ngffkit starts no threads.
    """
    global _context
    options = default_options()
    with _context_lock:
        if _context is None:
            _set_transport_timeouts(options.timeout)
            _context = ts.Context(_context_spec(options))
        return _context


def read_context() -> ts.Context:
    """The context for reading images: the shared one plus a chunk cache of
    ``cache_bytes`` (which also keeps shard indexes, so a remote read of a sharded array
    fetches each index once)."""
    global _read_context
    parent = shared_context()
    cache = default_options().cache_bytes
    with _context_lock:
        if _read_context is None:
            spec = {"cache_pool": {"total_bytes_limit": cache}}
            _read_context = ts.Context(ts.Context.Spec(spec), parent)
        return _read_context


@functools.lru_cache(maxsize=64)
def _host_error(host: str, port: int) -> str | None:
    """Why ``host`` cannot be looked up, or None. Checked once per host: tensorstore would
    retry a DNS failure with backoff for many seconds before saying so."""
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return str(exc.args[-1] if exc.args else exc)
    return None


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

    def check_host(self) -> None:
        """Fail fast, with a clear message, when the server's host name does not resolve."""
        base = self.kvstore.get("base_url") or self.kvstore.get("endpoint")
        if not base:
            return
        parts = urlsplit(str(base))
        if not parts.hostname:
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        problem = _host_error(parts.hostname, port)
        if problem is not None:
            raise StorageError(
                f"cannot reach {self.describe()}: the host name {parts.hostname!r} does not "
                f"resolve ({problem}); check the URL{' and --s3-endpoint' if self.scheme == 's3' else ''} "
                "and the network"
            )

    def _kv(self) -> ts.KvStore:
        context = shared_context()
        key = (id(context), json.dumps(self.kvstore, sort_keys=True))
        with _context_lock:
            found = _kvstores.get(key)
        if found is not None:
            return found
        self.check_host()
        try:
            kv = ts.KvStore.open(self.kvstore, context=context).result()
        except Exception as exc:
            raise map_error(exc, self, "") from exc
        with _context_lock:
            if len(_kvstores) >= 256:
                _kvstores.clear()
            _kvstores[key] = kv
        return kv

    def check_bucket(self) -> None:
        """Raise a clear error when this location's bucket does not exist or refuses us.

        A read of a missing key in a missing bucket just says "missing"; a listing says why.
        """
        if self.scheme not in ("s3", "gs"):
            return
        try:
            self._kv().list(ts.KvStore.KeyRange("zarr.json", "zarr.json\x00")).result()
        except Exception as exc:
            raise map_error(exc, self, "") from exc

    def _check_writable(self, key: str) -> None:
        if self.scheme in ("http", "https"):
            raise StorageError(
                f"cannot write {self.describe(key)}: http(s):// locations are read-only; "
                "write to a local path, s3:// or gs:// instead"
            )

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
        self._check_writable(key)
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
        self._check_writable(key)
        try:
            self._kv().delete_range(ts.KvStore.KeyRange(key, key + "\x00")).result()
        except Exception as exc:
            raise map_error(exc, self, key) from exc

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
        try:
            keys = self._kv().list().result()
        except Exception as exc:
            raise map_error(exc, self, "") from exc
        return sorted(k.decode() for k in keys)

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
        if self.scheme != "memory":
            # Remote stores would need a request per key to learn sizes; not worth it here.
            return None
        kv = self._kv()
        out: dict[str, int] = {}
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
        try:
            self._kv().delete_range(ts.KvStore.KeyRange()).result()
        except Exception as exc:
            raise map_error(exc, self, "") from exc


def _redact_url(text: str) -> str:
    """``text`` with any user:password in a URL replaced by ``***``."""
    return re.sub(r"(://)[^/@\s]*@", r"\1***@", text)


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
            f"unsupported URL scheme {scheme!r} in {_redact_url(text)!r}; "
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
        return _http_location(parts, path, opts)
    bucket = parts.netloc
    if not bucket or "@" in bucket:
        raise InputError(
            f"{_redact_url(text)!r} names no bucket; write it as {scheme}://BUCKET/path "
            "(credentials go in the environment or a profile, not in the URL)"
        )
    if scheme == "s3":
        spec: JsonDict = {"driver": "s3", "bucket": bucket, "path": f"{path}/" if path else ""}
        if opts.s3_endpoint:
            spec["endpoint"] = opts.s3_endpoint.rstrip("/")
        if opts.s3_region:
            spec["aws_region"] = opts.s3_region
        credentials = _aws_credentials(opts)
        if credentials is not None:
            spec["context"] = {"aws_credentials": credentials}
        return Location(url=f"s3://{bucket}/{path}".rstrip("/"), kvstore=spec)
    spec = {"driver": "gcs", "bucket": bucket, "path": f"{path}/" if path else ""}
    return Location(url=f"gs://{bucket}/{path}".rstrip("/"), kvstore=spec)


def _http_location(parts: Any, path: str, opts: StorageOptions) -> Location:
    host = parts.hostname or ""
    if not host:
        raise InputError(f"{_redact_url(parts.geturl())!r} names no host")
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
    spec: JsonDict = {"driver": "http", "base_url": base + query, "path": f"/{path}/" if path else "/"}
    if headers:
        spec["headers"] = headers
    clean = f"{base}/{path}" if path else base
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


_HTTP_CODE = re.compile(r"\[HTTP code (\d{3})\]|http_response_code='(\d{3})'")
_CURL_CODE = re.compile(r"curl_code='(\d+)'")
_S3_CODE = re.compile(r"<Code>([A-Za-z]+)</Code>|: ([A-Z][A-Za-z]+): ")


def _redact(text: str, where: Location) -> str:
    for secret in where.secrets():
        if secret:
            text = text.replace(secret, "***")
    text = re.sub(r"(?i)(authorization:\s*\S+\s+)\S+", r"\1***", text)
    return _redact_url(text)


def _short(text: str) -> str:
    """The first line of a tensorstore message without response bodies and request ids."""
    text = re.sub(r" \[(http_response_body|x-amzn-requestid|x-amz-id-2)=.*", "", text, flags=re.S)
    return text.strip().splitlines()[0][:300] if text.strip() else text


def map_error(exc: BaseException, where: Location, key: str) -> Exception:
    """Translate a tensorstore/OS error into the ngffkit error tree, naming the key.

    Messages say which key, what the store answered and what to do; they never contain a
    secret (header values, passwords in URLs).
    """
    if isinstance(exc, (StorageError, MetadataError, InputError)):
        return exc
    text = _redact(str(exc), where)
    addr = where.describe(key)
    http = _HTTP_CODE.search(text)
    status = int(http.group(1) or http.group(2)) if http else None
    curl = _CURL_CODE.search(text)
    curl_code = int(curl.group(1)) if curl else None
    s3 = _S3_CODE.search(text)
    s3_code = (s3.group(1) or s3.group(2)) if s3 else None
    retried = "retry attempts failed" in text
    after = " after retrying" if retried else ""
    if s3_code == "NoSuchBucket":
        bucket = where.kvstore.get("bucket", "?")
        return NotFoundError(
            f"{addr}: the bucket {bucket!r} does not exist"
            f"{' at ' + str(where.kvstore['endpoint']) if 'endpoint' in where.kvstore else ''}; "
            "create it first or check the bucket name (and --s3-endpoint)"
        )
    if s3_code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
                   "ExpiredToken"):
        return StorageError(
            f"the credentials were refused for {addr} ({s3_code}); check AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY or --aws-profile (or use --anonymous for a public bucket)"
        )
    if status == 401 or "UNAUTHENTICATED" in text:
        if where.secrets():
            return StorageError(
                f"{addr}: the server refused the credentials given (HTTP 401); check the "
                "token or password"
            )
        return StorageError(
            f"{addr} needs credentials (HTTP 401); pass --header 'Authorization: Bearer "
            "TOKEN', or user:password in the URL"
        )
    if status == 403 or "PERMISSION_DENIED" in text:
        if where.scheme == "s3":
            hint = ("check the AWS credentials (AWS_* variables, --aws-profile) and the bucket "
                    "policy, or use --anonymous for a public bucket")
        elif where.scheme == "gs":
            hint = "check GOOGLE_APPLICATION_CREDENTIALS and the bucket's permissions"
        else:
            hint = "the credentials are missing or not allowed; check --header or user:password"
        return StorageError(f"access to {addr} was refused (HTTP 403); {hint}")
    if status == 404 or (status is None and "NOT_FOUND" in text):
        return NotFoundError(f"{addr} was not found")
    if status == 429:
        return StorageError(
            f"{addr}: the server kept answering 429 Too Many Requests{after}; try again later, "
            "or with fewer parallel requests (--jobs) and more --retries"
        )
    if status is not None and status >= 500:
        return StorageError(
            f"{addr}: the server failed with HTTP {status}{after}; try again later "
            "(--retries sets how often to retry)"
        )
    if curl_code == 6 or "resolve host" in text.lower():
        return StorageError(
            f"cannot reach {addr}: the host name does not resolve; check the URL and the network"
        )
    if curl_code == 7:
        return StorageError(
            f"cannot reach {addr}: the connection was refused{after}; is the server running, "
            "and are the host and port right?"
        )
    if curl_code == 28 or "timed out" in text.lower() or "timeout" in text.lower():
        return StorageError(
            f"{addr}: the server did not answer in time{after} (--timeout sets the limit)"
        )
    if "RESOURCE_EXHAUSTED" in text or "No space left" in text:
        return StorageError(f"no space left while writing {addr}; free space and resume")
    if status is not None:
        return StorageError(f"cannot access {addr}: HTTP {status}: {_short(text)}")
    return StorageError(f"cannot access {addr}: {_short(text)}")


__all__ = [
    "Location",
    "StorageOptions",
    "configure",
    "default_options",
    "forget_credentials",
    "map_error",
    "parse_header",
    "read_context",
    "resolve",
    "shared_context",
]
