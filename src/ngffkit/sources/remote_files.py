"""Files of a remote folder (``http(s)://`` autoindex listings, ``s3://`` prefixes), read
whole or by byte range through the storage layer.

Every request goes through the :class:`~ngffkit.storage.Location`'s tensorstore kvstore, so
the retries with backoff on 429/5xx and network errors, the timeouts, the credentials and
the bounded number of requests in flight (tensorstore's ``http_request_concurrency`` /
``s3_request_concurrency``) are the storage layer's, configured in one place
(:mod:`ngffkit.transport`), and errors are mapped by :func:`~ngffkit.error_mapping.mapped_errors`.

A folder is listed once: on S3 by listing the prefix, over HTTP by parsing the HTML index
page the server makes for the folder URL (Apache, nginx, ``python -m http.server``,
``ngff serve --listing``). A server that ignores ``Range`` gets whole-file requests instead
(each file fetched once and kept while it is read).
"""

from __future__ import annotations

import html.parser
import io
import re
import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from ngffkit.errors import InputError, NotFoundError

#: Bytes fetched at once for small reads (headers, IFDs): one request covers most headers.
BLOCK = 16 * 1024
#: A stand-in file size for tifffile until the real one is known (a range request does not
#: return it); reads past the real end fail with an error that names the file.
UNKNOWN_SIZE = 2**32 - 1
_TOTAL = re.compile(r"total size (\d+)|value of size (\d+)")
_WHOLE_FILES = 4  # files kept whole at once for servers without Range support
_KEPT_FILES = 256  # files whose header blocks are kept (at most _FILE_BLOCKS each)
_FILE_BLOCKS = 8


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.lower() == "a":
            for name, value in attrs:
                if name.lower() == "href" and value:
                    self.hrefs.append(value)


def parse_listing(page: str, folder_url: str) -> list[str]:
    """File names an HTML directory listing of ``folder_url`` links to.

    Links are resolved against the folder URL (relative, absolute-path and full URLs alike)
    and kept when they name a file directly inside the folder: parent and sub-folder links,
    sort links (``?C=N;O=D``), fragments and other hosts are dropped; names are
    percent-decoded.
    """
    base = folder_url if folder_url.endswith("/") else folder_url + "/"
    want = urlsplit(base)
    parser = _Links()
    parser.feed(page)
    names: list[str] = []
    seen: set[str] = set()
    for href in parser.hrefs:
        url = urlsplit(urljoin(base, href.strip()))
        if url.query or url.netloc != want.netloc or url.scheme != want.scheme:
            continue
        path = url.path
        if not path.startswith(want.path) or path.endswith("/"):
            continue
        rest = path[len(want.path) :]
        if not rest or "/" in rest:
            continue
        name = unquote(rest)
        if name not in seen and not name.startswith("."):
            seen.add(name)
            names.append(name)
    return names


class RemoteFolder:
    """A remote folder listed once; :meth:`file` reads one of its files."""

    def __init__(self, url: str) -> None:
        from ngffkit.storage import resolve

        self.loc = resolve(url)
        if self.loc.scheme not in ("http", "https", "s3"):
            raise InputError(
                f"{self.loc.display()}: folders of files can be read from "
                "http(s):// and s3:// (or a local path), not "
                f"{self.loc.scheme}://."
            )
        self.url = self.loc.url
        self.ranges = True  # cleared when the server ignores Range
        self._lock = threading.Lock()
        self._whole: OrderedDict[str, bytes] = OrderedDict()
        self._files: OrderedDict[str, RemoteFile] = OrderedDict()
        self.names = self._list()

    def display(self, name: str = "") -> str:
        return self.loc.display(name)

    def _list(self) -> list[str]:
        from ngffkit.storage import mapped_errors

        if self.loc.scheme == "s3":
            self.loc.check_bucket()
            keys = self.loc.list_keys() or []
            return sorted(k for k in keys if "/" not in k)
        kv = self.loc._kv()
        with mapped_errors(self.loc):
            result = kv.read("").result()
        if result.state == "missing":
            raise NotFoundError(
                f"{self.display()}/ was not found (HTTP 404): no array metadata (zarr.json, "
                ".zarray, attributes.json, info) and no folder listing there; check the URL."
            )
        page = bytes(result.value).decode("utf-8", "replace")
        if "<a" not in page.lower():
            raise InputError(
                f"{self.display()}/: the server did not answer with a directory listing "
                "(an HTML page of links), so the files there cannot be found. Serve the "
                "folder with directory listings on (Apache/nginx autoindex, "
                "`python -m http.server`, `ngff serve --listing`)."
            )
        return parse_listing(page, self.loc.url + "/")

    def file(self, name: str) -> RemoteFile:
        """The file ``name``; the last few hundred are kept, so the header blocks of a
        slice read by several bricks are fetched once."""
        with self._lock:
            found = self._files.get(name)
            if found is not None:
                self._files.move_to_end(name)
                return found
            found = self._files[name] = RemoteFile(self, name)
            while len(self._files) > _KEPT_FILES:
                self._files.popitem(last=False)
            return found

    # -- reads --------------------------------------------------------------------------
    def read_whole(self, name: str) -> bytes:
        """The whole file (kept for the next reads when the server ignores Range)."""
        from ngffkit.storage import mapped_errors

        with self._lock:
            data = self._whole.get(name)
            if data is not None:
                self._whole.move_to_end(name)
                return data
        with mapped_errors(self.loc, name):
            result = self.loc._kv().read(name).result()
        if result.state == "missing":
            raise NotFoundError(
                f"{self.display(name)} was not found; the folder listing "
                "named it, but the file is gone."
            )
        data = bytes(result.value)
        if not self.ranges:
            with self._lock:
                self._whole[name] = data
                while len(self._whole) > _WHOLE_FILES:
                    self._whole.popitem(last=False)
        return data

    def start_read(self, name: str, start: int, stop: int) -> Any:
        """Start a read of bytes ``[start, stop)``; pass the result to :meth:`finish_read`."""
        if not self.ranges:
            return None
        return self.loc._kv().read(name, byte_range=slice(start, stop))

    def finish_read(
        self, future: Any, name: str, start: int, stop: int, *, exact: bool = True
    ) -> bytes:
        """Bytes ``[start, stop)`` of ``name``; ValueError when the file ends before ``stop``
        (with ``exact=False``, fewer bytes when the whole file came and is shorter)."""
        from ngffkit.storage import mapped_errors

        if future is not None:
            try:
                result = future.result()
            except Exception as exc:
                text = str(exc)
                if "ignored by server" in text:
                    self.ranges = False  # this server sends whole files; so be it
                elif "OUT_OF_RANGE" in text or "Range Not Satisfiable" in text:
                    raise ValueError(
                        f"file is truncated: bytes {start}-{stop} are past its end"
                    ) from exc
                else:
                    with mapped_errors(self.loc, name):
                        raise
            else:
                if result.state == "missing":
                    raise NotFoundError(
                        f"{self.display(name)} was not found; the folder "
                        "listing named it, but the file is gone."
                    )
                return bytes(result.value)
        data = self.read_whole(name)
        if len(data) < stop and exact:
            raise ValueError(f"file is truncated: it has {len(data)} bytes, {stop} needed")
        return data[start:stop]

    def read_range(self, name: str, start: int, stop: int, *, exact: bool = True) -> bytes:
        return self.finish_read(self.start_read(name, start, stop), name, start, stop, exact=exact)


class RemoteFile:
    """One file of a :class:`RemoteFolder`, with ``pread`` that serves small reads from
    cached 64 KiB blocks and returns short at the end of the file, as ``os.pread`` does."""

    def __init__(self, folder: RemoteFolder, name: str) -> None:
        self.folder = folder
        self.name = name
        self.size: int | None = None
        self._blocks: dict[int, bytes] = {}

    def display(self) -> str:
        return self.folder.display(self.name)

    def _block(self, k: int) -> bytes:
        found = self._blocks.get(k)
        if found is not None:
            return found
        start = k * BLOCK
        stop = start + BLOCK if self.size is None else min(start + BLOCK, self.size)
        if stop <= start:
            return b""
        try:
            data = self.folder.read_range(self.name, start, stop, exact=False)
            if len(data) < stop - start:
                self.size = start + len(data)  # the whole file came: now its size is known
        except ValueError as exc:
            # the file ends inside this block: learn where (the message says, when the
            # server sent part of it), else read what tifffile asks for exactly
            found_size = _TOTAL.search(str(exc.__cause__ or ""))
            if found_size is None:
                raise
            self.size = int(found_size.group(1) or found_size.group(2))
            data = self.folder.read_range(self.name, start, self.size) if start < self.size else b""
        if len(self._blocks) >= _FILE_BLOCKS:
            self._blocks.clear()
        self._blocks[k] = data
        return data

    def pread(self, n: int, at: int) -> bytes:
        if n <= 0:
            return b""
        if n > 2 * BLOCK:
            return self.folder.read_range(self.name, at, at + n)
        parts = []
        for k in range(at // BLOCK, (at + n - 1) // BLOCK + 1):
            block = self._block(k)
            lo = max(at - k * BLOCK, 0)
            hi = min(at + n - k * BLOCK, len(block))
            parts.append(block[lo:hi])
            if len(block) < BLOCK:
                break
        return b"".join(parts)

    def open(self) -> RangeFile:
        return RangeFile(self)


class RangeFile(io.RawIOBase):
    """A read-only, seekable binary file over a :class:`RemoteFile` (for tifffile)."""

    def __init__(self, remote: RemoteFile) -> None:
        super().__init__()
        self.remote = remote
        self.name = remote.display()
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            self._pos = offset
        elif whence == 1:
            self._pos += offset
        else:
            self._pos = (self.remote.size or UNKNOWN_SIZE) + offset
        return self._pos

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            raise ValueError("reading a remote file to its end is not supported")
        data = self.remote.pread(size, self._pos)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)


__all__ = ["RangeFile", "RemoteFile", "RemoteFolder", "parse_listing"]
