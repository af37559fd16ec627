"""``ngff serve``: a read-only CORS + Range HTTP server for OME-Zarr folders."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Annotated
from urllib.parse import quote

import typer

from ngffkit.cli._common import err_console, out_console
from ngffkit.errors import InputError

HELP = """Serve PATH (a dataset folder, or a folder of datasets) over HTTP for Neuroglancer and
other browser viewers: CORS on every response, Range requests, HEAD, ETag/304, no compression.

Given a URL instead (https://user:password@host/data.zarr, s3://bucket/data.zarr with the
usual AWS_* credentials and NGFFKIT_S3_ENDPOINT for other S3 services, gs://...), it reads
the remote data itself and serves it locally: the way to view protected data in a browser.

Safe by default: binds 127.0.0.1, read-only (GET/HEAD), never serves anything outside PATH
(`..`, encoded slashes, symlinks out) nor hidden files. Prints the Neuroglancer source URL of
each OME-Zarr dataset it finds. Stop with Ctrl-C."""


def serve(
    path: Annotated[
        str,
        typer.Argument(
            metavar="PATH|URL",
            help="Folder to serve (one dataset, or a folder of datasets), or a URL to proxy.",
        ),
    ],
    port: Annotated[int, typer.Option("--port", "-p", help="TCP port; 0 picks a free one.")] = 8000,
    bind: Annotated[
        str,
        typer.Option(
            "--bind",
            help="Address to listen on. Anything but loopback exposes the data to the network.",
        ),
    ] = "127.0.0.1",
    cors_origin: Annotated[
        str,
        typer.Option(
            "--cors-origin", help="Value of Access-Control-Allow-Origin on every response."
        ),
    ] = "*",
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="NGFF_SERVE_TOKEN",
            help=(
                "Shared secret: requests need ?token=SECRET or 'Authorization: Bearer SECRET'. "
                "Also read from NGFF_SERVE_TOKEN, which keeps it out of process listings."
            ),
        ),
    ] = None,
    listing: Annotated[
        bool,
        typer.Option("--list", help="Answer directory requests with an HTML (or JSON) listing."),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Log every request (method, path, status, bytes, ms)."
        ),
    ] = False,
) -> None:
    if token is not None and not token:
        raise InputError("--token is empty; give a non-empty secret, or leave --token out.")
    # Imported here, not above: `ngff --help` and the other commands load this module too.
    import asyncio

    from ngffkit.serve.app import create_app
    from ngffkit.serve.backends import FileBackend, open_backend
    from ngffkit.serve.discover import discover_datasets
    from ngffkit.serve.runner import is_loopback, public_hosts, start_server, url_host

    backend = open_backend(path)
    _configure_logging(verbose)
    if not is_loopback(bind):
        err_console.print(
            f"Warning: binding {bind} makes the data reachable from other machines"
            + ("." if token else "; consider --token."),
            markup=False,
        )
    app = create_app(
        backend, cors_origin=cors_origin, token=token, listing=listing, verbose=verbose
    )
    with stop_on_signals() as stop:
        handle = start_server(app, bind, port)
        query = f"token={quote(token, safe='')}" if token else ""
        suffix = "/" + (f"?{query}" if query else "")
        # Others reach a wildcard bind at the machine's addresses, not at 0.0.0.0.
        bases = [f"http://{url_host(h)}:{handle.port}" for h in public_hosts(bind)]
        if is_loopback(bind):
            bases = [handle.url]
        verb = "Serving" if isinstance(backend, FileBackend) else "Proxying"
        out_console.print(f"{verb} {backend.display()} at {bases[0]}{suffix}", markup=False)
        for other in bases[1:]:
            out_console.print(f"  also at {other}{suffix}", markup=False)
        if bases[0] != handle.url and bind in ("0.0.0.0", "", "::"):
            out_console.print(f"  and on this machine at {handle.url}{suffix}", markup=False)
        datasets = asyncio.run(discover_datasets(backend))
        if datasets:
            out_console.print("Neuroglancer sources:", markup=False)
            for dataset in datasets:
                if dataset.kind == "collection":  # the RFC-8 draft: no Neuroglancer source
                    where = dataset.url(bases[0]) + (f"?{query}" if query else "")
                    out_console.print(f"  {where}    (collection: ngff view URL)", markup=False)
                    continue
                source = dataset.neuroglancer_source(bases[0], query=query)
                out_console.print(f"  {source}    ({dataset.kind})", markup=False)
        else:
            out_console.print(
                "No OME-Zarr dataset found in the first levels; files are served as they are.",
                markup=False,
            )
        out_console.print("Press Ctrl-C to stop.", markup=False)
        wait_until_stopped(stop, handle.wait)
    handle.stop()
    asyncio.run(backend.aclose())
    out_console.print("Stopped.", markup=False)


def _configure_logging(verbose: bool) -> None:
    # Server errors always reach stderr; the per-request access log only with --verbose.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("ngffkit.serve")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO if verbose else logging.WARNING)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT/SIGTERM while the block runs.

    Signals become an event rather than KeyboardInterrupt so that Ctrl-C is the normal way to
    stop: in-flight requests finish and the exit status is 0. Installed before the URL is
    printed, so a signal sent as soon as it appears is not lost.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_until_stopped(stop: threading.Event, server_ended: Callable[[float], bool]) -> None:
    """Block until ``stop`` is set or the server thread ends by itself."""
    while not stop.wait(0.25):
        if server_ended(0):
            break


def register(app: typer.Typer) -> None:
    app.command("serve", help=HELP)(serve)
