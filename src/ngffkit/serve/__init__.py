"""Serve OME-Zarr over HTTP the way Neuroglancer and other browser viewers need it.

:func:`create_app` builds the ASGI app around a :class:`Backend`; :func:`start_server` runs it
on uvicorn in a background thread. Importing this package starts nothing.
"""

from __future__ import annotations

from ngffkit.serve.app import DataServer, create_app
from ngffkit.serve.backends import Backend, DirEntry, FileBackend, KvStoreBackend, ObjectInfo
from ngffkit.serve.discover import Dataset, discover_datasets
from ngffkit.serve.runner import ServerHandle, is_loopback, start_server

__all__ = [
    "Backend",
    "DataServer",
    "Dataset",
    "DirEntry",
    "FileBackend",
    "KvStoreBackend",
    "ObjectInfo",
    "ServerHandle",
    "create_app",
    "discover_datasets",
    "is_loopback",
    "start_server",
]
