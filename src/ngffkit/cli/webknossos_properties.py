"""``ngff webknossos-properties IMAGE_OR_COLLECTION``: write
``IMAGE/webknossos/datasource-properties.json`` so that WEBKNOSSOS opens the image (a color
layer) and its labels (segmentation layers), or a collection's members as one dataset.

``convert --webknossos`` and ``labels add --webknossos`` call :func:`write_for` after
writing. The library is imported in the functions: ``ngff --help`` loads none of it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ngffkit.cli._work import Quiet, say


def write_for(image: str, quiet: bool) -> None:
    """Write the properties of ``image`` (an image or a collection) and say where they are."""
    from ngffkit._collection import is_collection

    if is_collection(image):
        from ngffkit.wk_collection import write_collection_properties

        folder = write_collection_properties(image)
    else:
        from ngffkit.wk_export import write_properties

        folder = write_properties(image)
    say(f"webknossos: {folder.display()} (open this folder as the dataset)", quiet)


def webknossos_properties(
    image: Annotated[
        str,
        typer.Argument(
            metavar="IMAGE_OR_COLLECTION",
            help="Path of an OME-Zarr image, or of a collection (a Zarr group).",
        ),
    ],
    quiet: Quiet = False,
) -> None:
    """Make an OME-Zarr image (and its labels), or a collection of images, a WEBKNOSSOS
    dataset: writes IMAGE/webknossos/datasource-properties.json, whose layers point at the
    image's levels (for a collection: one layer per member, named after it). The images
    themselves are not written to."""
    write_for(image, quiet)


def register(app: typer.Typer) -> None:
    app.command("webknossos-properties")(webknossos_properties)


__all__ = ["register", "webknossos_properties", "write_for"]
