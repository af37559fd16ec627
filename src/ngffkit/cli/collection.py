"""``ngff collection create|add|remove``: collections of images (the RFC-8 draft).

The library is imported in the commands, not here: ``ngff --help`` loads this module too.
Every write says, on stderr, that the format is a draft (before its ``done:`` line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from ngffkit.cli._common import err_console, out_console

if TYPE_CHECKING:
    from rich.tree import Tree

    from ngffkit._collection import Collection

collection_app = typer.Typer(
    name="collection",
    help="Collections of OME-Zarr images (experimental: the RFC-8 draft): "
    "collection create, add, remove. `ngff info`, `validate` and `view` read them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

Out = Annotated[
    str,
    typer.Argument(
        metavar="OUT",
        help="The collection: a Zarr group (folder or URL), or a .json document.",
    ),
]
Member = Annotated[
    str,
    typer.Argument(
        metavar="IMAGE[=NAME]",
        help="An OME-Zarr image (path or URL), optionally =NAME (default: its folder's name "
        "without .ome.zarr). Relative paths are stored relative to the collection.",
    ),
]


def split_member(text: str) -> tuple[str, str | None]:
    """``IMAGE=NAME`` → (IMAGE, NAME); an ``=`` inside a URL's query is not a name."""
    image, sep, name = text.rpartition("=")
    if not sep or not image or not name or "/" in name or "?" in image.rpartition("/")[2]:
        return text, None
    return image, name


def _notice() -> None:
    from ngffkit.collection import DRAFT_NOTICE

    err_console.print(DRAFT_NOTICE, markup=False)


def _done(collection: Collection, *, webknossos: bool = False) -> None:
    """Say what the collection now holds; then rewrite its WEBKNOSSOS dataset when asked
    or when it has one (so that it never points at removed members)."""
    from ngffkit.errors import InputError
    from ngffkit.webknossos import PROPERTIES
    from ngffkit.wk_export import FOLDER

    _notice()
    names = ", ".join(m.name for m in collection.members) or "none"
    count = len(collection.members)
    out_console.print(
        f"done: {collection.url}: collection {collection.name!r}, {count} "
        f"member{'s' if count != 1 else ''} ({names})",
        markup=False,
    )
    has_dataset = not collection.place.is_json and (
        collection.place.folder.child(FOLDER).read(PROPERTIES) is not None
    )
    if webknossos or has_dataset:
        from ngffkit.cli.webknossos_properties import write_for

        try:
            write_for(collection.place.folder.url, False)
        except InputError as exc:
            raise InputError(
                f"the collection is written, but not its WEBKNOSSOS dataset ({FOLDER}/): {exc}"
            ) from None


def create(
    out: Out,
    images: Annotated[
        list[str],
        typer.Argument(
            metavar="IMAGE[=NAME]...",
            help="OME-Zarr images (paths or URLs), each optionally =NAME. A label image "
            "whose image is also a member is linked to it as its labels.",
        ),
    ],
    name: Annotated[
        str | None, typer.Option(help="The collection's name (default: OUT's name).")
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Write a standalone JSON document at OUT (a file)."),
    ] = False,
    zarr_format: Annotated[
        int, typer.Option(help="Zarr format of the group: 3 (zarr.json) or 2 (.zattrs).")
    ] = 3,
    overwrite: Annotated[
        bool,
        typer.Option(
            help="Replace a collection ngffkit wrote at OUT (only its document; never "
            "member images, nor anything ngffkit did not write)."
        ),
    ] = False,
    position: Annotated[
        str | None,
        typer.Option(
            help="Where viewers start: X,Y,Z in the first image's physical units "
            "(x,y,z order, as the other commands)."
        ),
    ] = None,
    pixel_size: Annotated[
        float | None,
        typer.Option(help="Viewers' starting zoom: the size of one screen pixel, same units."),
    ] = None,
    webknossos: Annotated[
        bool,
        typer.Option(
            help="Also write OUT/webknossos/datasource-properties.json: one WEBKNOSSOS "
            "dataset with a layer per member (kept up to date by collection add/remove)."
        ),
    ] = False,
) -> None:
    """Write a collection of IMAGEs at OUT (a Zarr group, or a JSON document with --json)."""
    from ngffkit.collection_edit import create_collection

    if webknossos and (as_json or out.endswith(".json")):
        raise typer.BadParameter(
            "a collection kept as a JSON document has no folder for a WEBKNOSSOS dataset; "
            "leave out --json (write the collection as a Zarr group)",
            param_hint="--webknossos",
        )
    view: dict[str, Any] = {}
    if position is not None:
        view["position"] = _position(position)
    if pixel_size is not None:
        if not pixel_size > 0:
            raise typer.BadParameter("give a size more than 0", param_hint="--pixel-size")
        view["pixelSize"] = pixel_size
    members = [split_member(text) for text in images]
    collection = create_collection(
        out,
        [(image, label) if label else image for image, label in members],
        name=name,
        json_document=True if as_json else None,
        zarr_format=zarr_format,
        overwrite=overwrite,
        view=view or None,
    )
    _done(collection, webknossos=webknossos)


def _position(text: str) -> dict[str, float]:
    parts = text.split(",")
    try:
        if len(parts) != 3:
            raise ValueError
        return dict(zip("xyz", (float(p) for p in parts), strict=True))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not three numbers X,Y,Z", param_hint="--position"
        ) from None


def add(
    out: Out,
    image: Member,
    color: Annotated[
        str | None, typer.Option(help="Display colour, RRGGBB hex (e.g. FF00FF).")
    ] = None,
    window: Annotated[
        str | None, typer.Option(help="Display window LOW:HIGH, in the image's values.")
    ] = None,
    inverted: Annotated[bool, typer.Option(help="Show the image inverted.")] = False,
    disabled: Annotated[
        bool, typer.Option(help="Add it hidden: viewers show it switched off.")
    ] = False,
) -> None:
    """Add IMAGE to the collection OUT, optionally with how it is shown."""
    from ngffkit.collection_edit import add_to_collection

    settings: dict[str, Any] = {"inverted": inverted, "disabled": disabled}
    if color is not None:
        settings["color"] = color
    if window is not None:
        settings["window"] = _window(window)
    display = _display(settings)
    path, name = split_member(image)
    _done(add_to_collection(out, path, name=name, display=display))


def _window(text: str) -> tuple[float, float]:
    low, sep, high = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return float(low), float(high)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not LOW:HIGH (e.g. 0:1000)", param_hint="--window"
        ) from None


def _display(settings: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    from ngffkit.collection import Display

    try:
        return Display.model_validate(settings)
    except ValidationError as exc:
        error = exc.errors()[0]
        option = "--" + str(error["loc"][0]) if error["loc"] else "--color"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise typer.BadParameter(message, param_hint=option) from None


def remove(
    out: Out,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The member to remove.")],
) -> None:
    """Remove the member NAME from the collection OUT (its image is not touched)."""
    from ngffkit.collection_edit import remove_from_collection

    _done(remove_from_collection(out, name))


def render(data: dict[str, Any]) -> Tree:
    """``ngff info`` of a collection: its tree of nodes, each member with its image."""
    from rich.markup import escape
    from rich.tree import Tree

    tree = Tree(f"[bold]{escape(data['url'])}[/bold]")
    tree.add(
        f"collection {escape(data['name'])!r}   version: {escape(data['version'])}   "
        f"({escape(data['draft'])})"
    )
    images = {m["name"]: m for m in data["members"]}

    def add(branch: Tree, node: dict[str, Any], prefix: str) -> None:
        where = f"{prefix}{node['name']}"
        text = f"[bold]{escape(node['name'])}[/bold] ({node['type']}"
        text += f", id {escape(node['id'])})" if "id" in node else ")"
        if "path" in node:
            text += f" → {escape(node['path'])}"
        image = images.get(where)
        if image is not None:
            if "error" in image:
                text += f": [red]{escape(image['error'])}[/red]"
            else:
                shape = "×".join(str(v) for v in image["shape"])
                text += f": {image['levels']} levels, {image['dtype']}, {shape}"
        if node.get("labels_of"):
            text += f"; labels of {', '.join(node['labels_of'])}"
        if node.get("display"):
            shown = ", ".join(f"{k} {v}" for k, v in node["display"].items())
            text += f"; display {escape(shown)}"
        child = branch.add(text)
        for inner in node.get("nodes", ()):
            add(child, inner, f"{where}/")

    for node in data["tree"]:
        add(tree, node, "")
    for note in data["notes"]:
        tree.add(f"[yellow]note[/yellow]: {escape(note)}")
    return tree


def register(app: typer.Typer) -> None:
    from ngffkit.cli.app import Command

    if not collection_app.registered_commands:
        collection_app.command("create", cls=Command)(create)
        collection_app.command("add", cls=Command)(add)
        collection_app.command("remove", cls=Command)(remove)
    app.add_typer(collection_app, name="collection")


__all__ = ["collection_app", "register", "render", "split_member"]
