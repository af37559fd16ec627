"""How remote stores are reached: :class:`StorageOptions` (from the environment or the command
line), the process-wide tensorstore contexts they configure (chunk cache, retries with
backoff, timeouts), and the translation of store errors into :mod:`ngffkit.errors`.

Part of the storage layer: import these names from :mod:`ngffkit.storage`.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ngffkit.errors import InputError, MetadataError, NotFoundError, OptionError, StorageError

if TYPE_CHECKING:
    import tensorstore as ts

    from ngffkit.storage import Location

JsonDict = dict[str, Any]

_context_lock = threading.Lock()
_context: ts.Context | None = None
_read_context: ts.Context | None = None
_defaults: StorageOptions | None = None
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
    import tensorstore as ts

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
    import tensorstore as ts

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


def _redact_url(text: str) -> str:
    """``text`` with any user:password in a URL replaced by ``***``."""
    return re.sub(r"(://)[^/@\s]*@", r"\1***@", text)


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
        return StorageError(f"no space left while writing {addr}; free some space, then run "
                            "the same command again with --resume to continue")
    if status is not None:
        return StorageError(f"cannot access {addr}: HTTP {status}: {_short(text)}")
    return StorageError(f"cannot access {addr}: {_short(text)}")
