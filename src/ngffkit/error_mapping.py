"""Store errors in the user's words: the one place upstream errors are mapped.

Every call into tensorstore runs inside :func:`mapped_errors`, which turns tensorstore's
status texts and ``OSError`` into :mod:`ngffkit.errors` through :func:`map_error` (naming
the key, what the store answered and what to do, never a secret); local file errors are
worded by :func:`os_error`. The place that failed is anything with the small :class:`Where`
protocol (a :class:`~ngffkit.storage.Location`, or a bare :class:`KvstoreSpec`), so this
module needs nothing of the storage layer.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import ipaddress
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from ngffkit.errors import InputError, MetadataError, NgffkitError, NotFoundError, StorageError

JsonDict = dict[str, Any]


@functools.lru_cache(maxsize=64)
def host_error(host: str, port: int) -> str | None:
    """Why ``host`` cannot be looked up, or None. Checked once per host: tensorstore would
    retry a DNS failure with backoff for many seconds before saying so."""
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return str(exc.args[-1] if exc.args else exc)
    return None


def loopback_refused(host: str, port: int) -> bool:
    """Whether ``host`` is this machine and nothing listens on ``port`` right now.

    A refused connection to a loopback address is an answer, not a network hiccup:
    retrying it with backoff only made the user wait (17 s) for the same error.
    """
    try:
        if not ipaddress.ip_address(host.strip("[]")).is_loopback:
            return False
    except ValueError:
        if host != "localhost":
            return False
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def redact_url(text: str) -> str:
    """``text`` with any user:password in a URL replaced by ``***``."""
    return re.sub(r"(://)[^/@\s]*@", r"\1***@", text)


_HTTP_CODE = re.compile(r"\[HTTP code (\d{3})\]|http_response_code='(\d{3})'")
_CURL_CODE = re.compile(r"curl_code='(\d+)'")
_S3_CODE = re.compile(r"<Code>([A-Za-z]+)</Code>|: ([A-Z][A-Za-z]+): ")


def _redact(text: str, where: Where) -> str:
    for secret in where.secrets():
        if secret:
            text = text.replace(secret, "***")
    text = re.sub(r"(?i)(authorization:\s*\S+\s+)\S+", r"\1***", text)
    return redact_url(text)


def _short(text: str) -> str:
    """The first line of a tensorstore message without response bodies and request ids."""
    text = re.sub(r" \[(http_response_body|x-amzn-requestid|x-amz-id-2)=.*", "", text, flags=re.S)
    return text.strip().splitlines()[0][:300] if text.strip() else text


_LOCAL_TEXT = (
    ("PERMISSION_DENIED", errno.EACCES),
    ("Permission denied", errno.EACCES),
    ("No space left", errno.ENOSPC),
    ("Disk quota exceeded", errno.EDQUOT),
    ("Read-only file system", errno.EROFS),
)
#: What a rerun needs after the disk filled: the same command resumes what was written.
FULL_DISK_HINT = (
    "free some space, then run the same command again (with [[resume=True]] where it "
    "was interrupted; nothing written so far is lost)"
)


def local_os_error(exc: BaseException, path: str, verb: str = "access") -> StorageError | None:
    """The :func:`os_error` of a tensorstore error on a local file (its status text names
    the errno: permission denied, no space left, read-only), or None when it is another
    kind of failure (e.g. a chunk that does not decode)."""
    text = str(exc)
    for needle, code in _LOCAL_TEXT:
        if needle in text:
            named = re.search(r'local file "([^"]+)"', text)  # the very file, when told
            return os_error(
                OSError(code, os.strerror(code)), named.group(1) if named else path, verb
            )
    return None


def os_error(exc: OSError, path: str, verb: str = "access") -> StorageError:
    """A local file error in the user's words, with its ``errno`` kept.

    The one place that says what permission denied, a full disk, a read-only filesystem or
    a missing file means for the user; it never speaks of HTTP, nor calls a file corrupt.
    """
    code = exc.errno
    if code in (errno.EACCES, errno.EPERM):
        text = (
            f"cannot {verb} {path}: permission denied; check the permissions of the file "
            "and of the folders above it (ls -ld)"
        )
    elif code in (errno.ENOSPC, errno.EDQUOT):
        what = "no space left on the device" if code == errno.ENOSPC else "disk quota exceeded"
        text = f"cannot {verb} {path}: {what}; {FULL_DISK_HINT}"
    elif code == errno.EROFS:
        text = f"cannot {verb} {path}: the filesystem is read-only; write somewhere else"
    elif code == errno.ENOENT:
        text = f"cannot {verb} {path}: no such file or folder"
    elif code == errno.ENOTDIR:
        text = f"cannot {verb} {path}: a part of the path is a file, not a folder"
    elif code == errno.EISDIR:
        text = f"cannot {verb} {path}: it is a folder, not a file"
    else:
        text = f"cannot {verb} {path}: {exc.strerror or exc}"
    error: StorageError = NotFoundError(text) if code == errno.ENOENT else StorageError(text)
    error.errno = code
    return error


def denied(exc: BaseException) -> bool:
    """Whether ``exc`` (an error raised by ngffkit or the OS) means permission denied or a
    read-only filesystem: the place is not writable, as opposed to full or gone."""
    return isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)


class Where(Protocol):
    """What an error message needs to know of the place that failed (a
    :class:`~ngffkit.storage.Location`, or a bare kvstore spec: :class:`KvstoreSpec`)."""

    @property
    def scheme(self) -> str: ...

    @property
    def kvstore(self) -> JsonDict: ...

    def display(self, key: str = "") -> str: ...

    def secrets(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class KvstoreSpec:
    """A tensorstore kvstore spec as a :class:`Where` (the serve proxy has no Location)."""

    kvstore: JsonDict

    @property
    def scheme(self) -> str:
        driver = str(self.kvstore.get("driver", ""))
        if driver == "http":
            return str(self.kvstore.get("base_url", "http")).split("://", 1)[0]
        return {"gcs": "gs"}.get(driver, driver)

    def display(self, key: str = "") -> str:
        spec = self.kvstore
        if self.scheme in ("http", "https"):
            base = redact_url(f"{spec.get('base_url', '')}{spec.get('path', '')}")
        elif self.scheme in ("s3", "gs"):
            base = f"{self.scheme}://{spec.get('bucket', '')}/{spec.get('path', '')}"
        else:
            base = f"{self.scheme}://{spec.get('path', '')}"
        return f"{base.rstrip('/')}/{key}" if key else base

    def secrets(self) -> tuple[str, ...]:
        headers = self.kvstore.get("headers", ())
        return tuple(str(h).split(":", 1)[1].strip() for h in headers if ":" in h)


@contextlib.contextmanager
def mapped_errors(where: Where, key: str = "") -> Iterator[None]:
    """Run the block with upstream errors (tensorstore's ``ValueError``/``RuntimeError``
    status texts, ``OSError``, ...) turned into :mod:`ngffkit.errors` by :func:`map_error`.

    The one place every call into tensorstore goes through (``tests/test_error_mapping.py``
    checks that none escapes it); ngffkit's own errors pass unchanged.
    """
    try:
        yield
    except NgffkitError:
        raise
    except Exception as exc:
        raise map_error(exc, where, key) from exc


@contextlib.contextmanager
def os_errors(path: str, verb: str = "access") -> Iterator[None]:
    """Run the block with a local ``OSError`` turned into :func:`os_error`'s words."""
    try:
        yield
    except NgffkitError:
        raise
    except OSError as exc:
        raise os_error(exc, path, verb) from exc


def map_error(exc: BaseException, where: Where, key: str) -> Exception:
    """Translate a tensorstore/OS error into the ngffkit error tree, naming the key.

    Messages say which key, what the store answered and what to do; they never contain a
    secret (header values, passwords in URLs).
    """
    if isinstance(exc, (StorageError, MetadataError, InputError)):
        return exc
    text = _redact(str(exc), where)
    addr = where.display(key)
    http = _HTTP_CODE.search(text)
    status = int(http.group(1) or http.group(2)) if http else None
    curl = _CURL_CODE.search(text)
    curl_code = int(curl.group(1)) if curl else None
    s3 = _S3_CODE.search(text)
    s3_code = (s3.group(1) or s3.group(2)) if s3 else None
    retried = "retry attempts failed" in text
    after = " after retrying" if retried else ""
    if where.scheme in ("file", "memory"):
        # Local stores speak errno through tensorstore's status text, never HTTP.
        local = local_os_error(exc, addr)
        if local is not None:
            return local
    if s3_code == "NoSuchBucket":
        bucket = where.kvstore.get("bucket", "?")
        return NotFoundError(
            f"{addr}: the bucket {bucket!r} does not exist"
            f"{' at ' + str(where.kvstore['endpoint']) if 'endpoint' in where.kvstore else ''}; "
            "create it first or check the bucket name (and [[s3_endpoint]])"
        )
    if s3_code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"):
        return StorageError(
            f"the credentials were refused for {addr} ({s3_code}); check AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY or [[aws_profile]] (or use [[anonymous=True]] for a public bucket)"
        )
    if status == 401 or "UNAUTHENTICATED" in text:
        if where.secrets():
            return StorageError(
                f"{addr}: the server refused the credentials given (HTTP 401); check the "
                "token or password"
            )
        return StorageError(
            f"{addr} needs credentials (HTTP 401); pass [[headers='Authorization: Bearer "
            "TOKEN']], or user:password in the URL"
        )
    if status == 403 or "PERMISSION_DENIED" in text:
        if where.scheme == "s3":
            hint = (
                "check the AWS credentials (AWS_* variables, [[aws_profile]]) and the bucket "
                "policy, or use [[anonymous=True]] for a public bucket"
            )
        elif where.scheme == "gs":
            hint = "check GOOGLE_APPLICATION_CREDENTIALS and the bucket's permissions"
        else:
            hint = "the credentials are missing or not allowed; check [[headers]] or user:password"
        return StorageError(f"access to {addr} was refused (HTTP 403); {hint}")
    if status == 404 or (status is None and "NOT_FOUND" in text):
        return NotFoundError(f"{addr} was not found")
    if status == 429:
        return StorageError(
            f"{addr}: the server kept answering 429 Too Many Requests{after}; try again later, "
            "or with fewer parallel requests ([[jobs]]) and more [[retries]]"
        )
    if status is not None and status >= 500:
        return StorageError(
            f"{addr}: the server failed with HTTP {status}{after}; try again later "
            "([[retries]] sets how often to retry)"
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
            f"{addr}: the server did not answer in time{after} ([[timeout]] sets the limit)"
        )
    if "RESOURCE_EXHAUSTED" in text or "No space left" in text:
        return StorageError(f"no space left while writing {addr}; {FULL_DISK_HINT}")
    if status is not None:
        return StorageError(f"cannot access {addr}: HTTP {status}: {_short(text)}")
    return StorageError(f"cannot access {addr}: {_short(text)}")
