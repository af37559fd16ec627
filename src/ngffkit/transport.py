"""How remote stores are reached: :class:`StorageOptions` (from the environment or the command
line) and the process-wide tensorstore state they configure (contexts with chunk cache,
retries with backoff and timeouts; the open kvstores) — all of it, in this one module.

Part of the storage layer: import these names from :mod:`ngffkit.storage`. This module
imports nothing of the storage layer above it; store errors are mapped by
:mod:`ngffkit.error_mapping`.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from ngffkit.error_mapping import Where, mapped_errors
from ngffkit.errors import InputError, NgffWarning, OptionError

if TYPE_CHECKING:
    import tensorstore as ts

JsonDict = dict[str, Any]

_context_lock = threading.Lock()
_context: ts.Context | None = None
# Chunk-cache contexts by cache size (children of the shared context).
_read_contexts: dict[int, ts.Context] = {}
_threads_contexts: dict[str, ts.Context] = {}
_defaults: StorageOptions | None = None
# The options of the call in progress (``storage_options=``): they override the process-wide
# default for this thread (and the tasks it hands on: see ``tasks.Job.storage``).
_scoped: contextvars.ContextVar[StorageOptions | None] = contextvars.ContextVar(
    "ngffkit_storage_options", default=None
)
# Open kvstores by (context, spec): opening an S3 kvstore costs a request (the bucket's region).
_kvstores: dict[tuple[int, str], ts.KvStore] = {}
_timeout_in_effect: float | None = None
_timeouts_warned: set[float] = set()
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
        raise OptionError("headers", "expected 'Name: value', e.g. 'Authorization: Bearer TOKEN'")
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
                "s3_endpoint", f"{self.s3_endpoint!r} must be an http:// or https:// URL"
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
    """The options in effect: the current call's ``storage_options=`` (see :func:`using`),
    else the process-wide ones from :func:`configure`, else the environment (read again on
    every call until :func:`configure` pins them)."""
    scoped = _scoped.get()
    if scoped is not None:
        return scoped
    return _defaults if _defaults is not None else StorageOptions.from_env()


#: The keys of ``storage_options=`` -> the :class:`StorageOptions` field each sets.
STORAGE_OPTION_KEYS = {
    "s3_endpoint": "s3_endpoint",
    "s3_region": "s3_region",
    "headers": "headers",
    "anonymous": "anonymous",
    "aws_profile": "aws_profile",
    "cache_size": "cache_bytes",
    "retries": "retries",
    "timeout": "timeout",
}

StorageOptionsArg = Mapping[str, Any] | StorageOptions | None
"""What every public function takes as ``storage_options=``."""


def _header_list(value: Any) -> tuple[str, ...]:
    # {"Authorization": "Bearer T"} (as fsspec takes them) or ["Authorization: Bearer T"].
    if isinstance(value, Mapping):
        items = [f"{k}: {v}" for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        raise InputError(
            "storage_options['headers'] must be a mapping {'Name': 'value'} or a list of "
            f"'Name: value' strings, not a {type(value).__name__}"
        )
    try:
        return tuple(parse_header(h) for h in items)
    except OptionError:
        raise InputError(
            "storage_options['headers'] holds a malformed header; write each as "
            "{'Authorization': 'Bearer TOKEN'} or 'Authorization: Bearer TOKEN'"
        ) from None


def _number(key: str, value: Any, kind: type[int] | type[float]) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if key == "cache_size" and isinstance(value, str):
            from ngffkit.cli.options import parse_size

            try:
                return parse_size("cache_size", value)
            except Exception:
                pass
        raise InputError(
            f"storage_options[{key!r}] must be a number"
            f"{' of bytes or a size like 512M' if key == 'cache_size' else ''}, got {value!r}"
        )
    if kind is int and value != int(value):
        raise InputError(f"storage_options[{key!r}] must be a whole number, got {value!r}")
    return kind(value)


def storage_options(value: StorageOptionsArg) -> StorageOptions | None:
    """Check a ``storage_options=`` argument and return the :class:`StorageOptions` it means.

    A mapping sets some of ``s3_endpoint``, ``s3_region``, ``headers`` (a mapping or
    ``"Name: value"`` strings), ``anonymous``, ``aws_profile``, ``cache_size`` (bytes, or a
    size like ``"512M"``), ``retries`` and ``timeout`` (seconds); the others keep the
    process-wide values (:func:`configure`, the environment). None: no change.
    """
    if value is None or isinstance(value, StorageOptions):
        return value
    if not isinstance(value, Mapping):
        raise InputError(
            "storage_options must be a mapping such as {'s3_endpoint': 'http://host:9000'}, "
            f"not a {type(value).__name__}"
        )
    unknown = sorted(str(k) for k in value if k not in STORAGE_OPTION_KEYS)
    if unknown:
        raise InputError(
            f"storage_options: unknown key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(k) for k in unknown)}; the keys are "
            f"{', '.join(STORAGE_OPTION_KEYS)}"
        )
    changes: dict[str, Any] = {}
    for key, given in value.items():
        if given is None:
            continue
        if key == "headers":
            changes["headers"] = _header_list(given)
        elif key == "anonymous":
            if not isinstance(given, bool):
                raise InputError(
                    f"storage_options['anonymous'] must be True or False, got {given!r}"
                )
            changes["anonymous"] = given
        elif key in ("s3_endpoint", "s3_region", "aws_profile"):
            if not isinstance(given, str):
                raise InputError(f"storage_options[{key!r}] must be a string, got {given!r}")
            changes[key] = given
        else:
            changes[STORAGE_OPTION_KEYS[key]] = _number(
                key, given, float if key == "timeout" else int
            )
    base = _defaults if _defaults is not None else StorageOptions.from_env()
    try:
        return replace(base, **changes)
    except OptionError as exc:
        raise InputError(f"storage_options[{exc.option!r}]: {exc.detail_template}") from None
    except InputError as exc:
        raise InputError(f"storage_options: {exc.template or exc}") from None


@contextlib.contextmanager
def using(options: StorageOptions | None) -> Iterator[None]:
    """Reach stores with ``options`` inside the block (this thread only; None: as before)."""
    if options is None:
        yield
        return
    token = _scoped.set(options)
    try:
        yield
    finally:
        _scoped.reset(token)


P = ParamSpec("P")
R = TypeVar("R")


def accepts_storage_options(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` with the options of its ``storage_options=`` argument in effect.

    The one way public functions take per-call storage options: each declares
    ``storage_options: StorageOptionsArg = None`` (for its signature and documentation)
    and is wrapped by this; inside, :func:`default_options` returns them, so every
    location it resolves, and every task it starts (``tasks.Job.storage``), reaches
    the stores that way. Nothing leaks into other calls.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        options = storage_options(kwargs.get("storage_options"))  # type: ignore[arg-type]
        with using(options):
            return func(*args, **kwargs)

    return wrapper


def configure(options: StorageOptions | None) -> None:
    """Make ``options`` the process-wide default for locations resolved from now on
    (None: back to the environment).

    The cache size, retries and timeout apply to contexts created afterwards: call this
    before the first remote access (the timeout is read once per process by tensorstore's
    HTTP transport).
    """
    global _defaults, _context
    with _context_lock:
        _defaults = options
        _context = None
        _read_contexts.clear()
        _threads_contexts.clear()
        _kvstores.clear()


def retry_resources(options: StorageOptions) -> JsonDict:
    """The retry settings of ``options`` as context resources: the shared context's, and
    each remote Location's kvstore spec carries its own (they hold for it alone, in any
    thread or process)."""
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
    importing ngffkit starts no threads. Per-location retries travel in the kvstore spec
    (``storage.resolve``), so calls with other options share this context.
    """
    import tensorstore as ts

    global _context
    options = default_options()
    with _context_lock:
        if _context is None:
            if _timeout_in_effect is None:
                _set_transport_timeouts(options.timeout)
            _context = ts.Context(retry_resources(options))
        return _context


def threads_context(limits: Mapping[str, Mapping[str, int]]) -> ts.Context:
    """The shared context with its thread pools held to ``limits`` (a plan's thread budget,
    ``parallelism.Budget.context_spec``): the writes of a conversion. Other resources (the
    ``memory://`` store, retries) come from the shared context; one per set of limits."""
    import tensorstore as ts

    parent = shared_context()
    key = json.dumps(limits, sort_keys=True)
    with _context_lock:
        found = _threads_contexts.get(key)
        if found is None:
            spec = ts.Context.Spec({k: dict(v) for k, v in limits.items()})
            found = _threads_contexts[key] = ts.Context(spec, parent)
        return found


def read_context() -> ts.Context:
    """The context for reading images: the shared one plus a chunk cache of
    ``cache_bytes`` (which also keeps shard indexes, so a remote read of a sharded array
    fetches each index once); one per cache size asked for."""
    import tensorstore as ts

    parent = shared_context()
    cache = default_options().cache_bytes
    with _context_lock:
        found = _read_contexts.get(cache)
        if found is None:
            spec = {"cache_pool": {"total_bytes_limit": cache}}
            found = _read_contexts[cache] = ts.Context(ts.Context.Spec(spec), parent)
        return found


def open_kvstore(
    spec: JsonDict, where: Where, check: Callable[[], None] | None = None
) -> ts.KvStore:
    """The tensorstore kvstore of ``spec`` on the shared context, opened once per process
    (per context and spec); ``check`` runs before a first open (e.g. a fast host check)."""
    import tensorstore as ts

    context = shared_context()
    key = (id(context), json.dumps(spec, sort_keys=True))
    with _context_lock:
        found = _kvstores.get(key)
    if found is not None:
        return found
    if check is not None:
        check()
    with mapped_errors(where):
        kv = ts.KvStore.open(spec, context=context).result()
    with _context_lock:
        if len(_kvstores) >= 256:
            _kvstores.clear()
        _kvstores[key] = kv
    return kv


def use_timeout(options: StorageOptions) -> None:
    """Before a remote store is first opened: give tensorstore's HTTP transport the timeout
    of ``options``. The transport reads it once per process, so a later call asking for
    another timeout gets a warning saying which one holds."""
    global _timeout_in_effect
    with _context_lock:
        if _timeout_in_effect is None:
            _set_transport_timeouts(options.timeout)
            _timeout_in_effect = options.timeout
            return
        in_effect = _timeout_in_effect
        if options.timeout == in_effect or options.timeout in _timeouts_warned:
            return
        _timeouts_warned.add(options.timeout)
    warnings.warn(
        f"timeout {options.timeout:g} s cannot apply: this process's HTTP transport already "
        f"uses {in_effect:g} s (tensorstore sets it once per process); give the timeout in "
        "the first call that reaches a remote store, or set NGFFKIT_TIMEOUT",
        NgffWarning,
        stacklevel=4,
    )
