"""Serve OME-Zarr over HTTP the way Neuroglancer and other browser viewers need it.

:func:`create_app` builds the ASGI app around a :class:`Backend` (:class:`FileBackend` for a
local folder, :class:`KvStoreBackend` for anything tensorstore can read); :func:`start_server`
runs it on uvicorn in a background thread. Importing this package starts nothing.

Behaviour, decided once here and tested in ``tests/serve``:

- GET and HEAD; OPTIONS answers preflights (204); anything else is 405 with ``Allow``.
- CORS headers on every response, errors, 304 and 416 included.
- Range: one range in any form (``a-b``, ``a-``, ``-n``) → 206 + Content-Range. A range
  selecting nothing → 416 + ``Content-Range: bytes */size``. Malformed, non-``bytes`` or
  multi-range headers (and repeated Range headers) are ignored → 200 with the whole object
  (RFC 9110 §14.2 allows it; no zarr client sends them). HEAD ignores Range (RFC: Range is
  defined for GET only) and reports the whole size. ``If-Range`` uses strong comparison.
- ETag (size + mtime) and Last-Modified; If-None-Match / If-Modified-Since → 304;
  ``Cache-Control: no-cache`` so browsers revalidate data that may be rewritten in place.
- Never compressed; application/json for zarr metadata, application/octet-stream otherwise.
- Paths: anything that could leave the root, hidden files (other than zarr v2 metadata),
  directories without ``listing``, FIFOs and devices → 404, never 403.
- ``token``: ``?token=`` or ``Authorization: Bearer``, compared in constant time; 401 with
  ``WWW-Authenticate: Bearer`` otherwise (before any 404, so existence does not leak).
- ``listing``: HTML with absolute links, or JSON ``{"path", "entries": [{"name", "type",
  "size"}]}`` when the request accepts ``application/json``.
"""

from __future__ import annotations

from ngffkit.serve.app import DataServer, create_app
from ngffkit.serve.backends import Backend, DirEntry, FileBackend, ObjectInfo, open_backend
from ngffkit.serve.discover import Dataset, discover_datasets
from ngffkit.serve.proxy import KvStoreBackend, MountBackend
from ngffkit.serve.runner import ServerHandle, is_loopback, start_server

__all__ = [
    "Backend",
    "DataServer",
    "Dataset",
    "DirEntry",
    "FileBackend",
    "KvStoreBackend",
    "MountBackend",
    "ObjectInfo",
    "ServerHandle",
    "create_app",
    "discover_datasets",
    "is_loopback",
    "open_backend",
    "start_server",
]
