"""``ngff webknossos-properties IMAGE``: write ``IMAGE/webknossos/datasource-properties.json``
so that WEBKNOSSOS opens the image (a color layer) and its labels (segmentation layers).

``convert --webknossos`` and ``labels add --webknossos`` call :func:`write_for` after
writing. The library is imported in the functions: ``ngff --help`` loads none of it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ngffkit.cli._work import Quiet, say


def write_for(image: str, quiet: bool) -> None:
    """Write the properties of ``image`` and say where they are."""
    from ngffkit.wk_export import write_properties

    folder = write_properties(image)
    say(f"webknossos: {folder.display()} (open this folder as the dataset)", quiet)


def webknossos_properties(
    image: Annotated[str, typer.Argument(help="Path of an OME-Zarr image.")],
    quiet: Quiet = False,
) -> None:
    """Make an OME-Zarr image (and its labels) a WEBKNOSSOS dataset: writes
    IMAGE/webknossos/datasource-properties.json, whose layers point at the image's levels.
    The image itself is not written to."""
    write_for(image, quiet)


def register(app: typer.Typer) -> None:
    app.command("webknossos-properties")(webknossos_properties)


__all__ = ["register", "webknossos_properties", "write_for"]
