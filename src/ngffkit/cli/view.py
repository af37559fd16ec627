"""``ngff view``: the data server plus a Neuroglancer viewer, one URL to open."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from ngffkit.cli._common import err_console, out_console
from ngffkit.cli.serve import stop_on_signals, wait_until_stopped
from ngffkit.errors import OptionError

HELP = """Open OME-Zarr images in Neuroglancer: serves each PATH (an image, or a folder of images)
or URL (https://user:password@host/..., s3://bucket/..., gs://...; remote data is read here
and served locally) on 127.0.0.1, starts Neuroglancer from the installed `neuroglancer`
package (no internet needed) and prints one URL.

The view is ready as it opens: one image layer per dataset with contrast from the omero window
or from percentiles of a coarse level, one layer per channel, each label image as a
segmentation layer, physical units and voxel sizes, the position at the volume's centre.
A collection (the RFC-8 draft, `ngff collection`) shows every member as a layer with its
display settings, label members as segmentation layers; remote members through the proxy.
Stop with Ctrl-C."""


def view(
    targets: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH|URL...",
            help="OME-Zarr images (or folders of them), or collections, to show.",
        ),
    ],
    port: Annotated[
        int,
        typer.Option(
            "--port", "-p", help="Port of the Neuroglancer viewer URL; 0 picks a free one."
        ),
    ] = 0,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the URL in a web browser.")
    ] = False,
    layout: Annotated[
        str,
        typer.Option("--layout", help="Panels to show: xy, 4panel (xy, xz, yz and 3d) or 3d."),
    ] = "4panel",
) -> None:
    # Imported here, not above: `ngff --help` and the other commands load this module too.
    from ngffkit.view.state import LAYOUTS

    if layout not in LAYOUTS:
        raise OptionError("layout", f"{layout!r} is not one of {', '.join(LAYOUTS)}")
    from ngffkit.view.viewer import start_view  # imports neuroglancer: only when viewing

    logging.getLogger("ngffkit.serve").addHandler(logging.StreamHandler())
    with stop_on_signals() as stop:
        session = start_view(targets, port=port, layout=layout)
        try:
            for note in session.notes:
                err_console.print(f"Warning: {note}", markup=False)
            names = ", ".join(layer["name"] for layer in session.state["layers"])
            out_console.print(f"Layers: {names}", markup=False)
            out_console.print(f"Data served at {session.data_server.url}/", markup=False)
            out_console.print(f"Neuroglancer: {session.url}", markup=False)
            if open_browser:
                import webbrowser

                webbrowser.open(session.url)
            out_console.print("Press Ctrl-C to stop.", markup=False)
            wait_until_stopped(stop, session.data_server.wait)
        finally:
            session.stop()
    out_console.print("Stopped.", markup=False)


def register(app: typer.Typer) -> None:
    app.command("view", help=HELP)(view)
