"""Writing collections (the RFC-8 draft): create one, add and remove members.

Only the collection's document is ever written: the JSON file, or the group's metadata
files; member images (inside the group or anywhere) are never touched. ``overwrite``
replaces a collection ngffkit wrote (its root carries ``ngffkit:creator``), nothing else.
Member paths are kept as the user gave them: a relative path relative to the collection's
folder (the group itself, or the folder holding the JSON file), a URL as it is (never with
credentials), an absolute path as a ``file://`` URL.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from ngffkit._collection import (
    Collection,
    Place,
    member_location,
    place_of,
    read_collection,
    read_raw,
    rule_errors,
)
from ngffkit._output import holds_data, output_lock
from ngffkit.collection import (
    CREATOR_KEY,
    DISPLAY_KEY,
    DRAFT,
    DRAFT_VERSION,
    VIEW_KEY,
    Display,
    Node,
    PathRef,
    RootNode,
    ViewSettings,
    make_id,
)
from ngffkit.errors import (
    ConflictError,
    InputError,
    MetadataError,
    NgffkitError,
    NgffWarning,
    OptionError,
)
from ngffkit.image import Image, open_image
from ngffkit.metadata.io import group_files
from ngffkit.storage import Location, StorageOptionsArg, accepts_storage_options

_SUFFIXES = (".ome.zarr", ".zarr", ".ome")
_GROUP_KEYS = ("zarr.json", ".zattrs", ".zgroup")


def stored_path(place: Place, image: str | os.PathLike[str]) -> str:
    """How a member is written: a URL as given (never with credentials), a relative path
    relative to the collection's folder, an absolute path as a ``file://`` URL."""
    text = os.fspath(image)
    if "://" in text and not text.startswith("file://"):
        if "@" in urlsplit(text).netloc:
            raise InputError(
                f"member {text.split('@', 1)[1]!r} has credentials in its URL; a collection "
                "is shared with others, so give the URL without them (pass credentials as "
                "storage options instead)"
            )
        return text
    local = place.folder.local_path
    path = Path(text.removeprefix("file://")).expanduser()
    if path.is_absolute() or local is None:
        return path.absolute().as_uri()
    rel = os.path.relpath(os.path.normpath(path.absolute()), os.path.normpath(local))
    rel = rel.replace(os.sep, "/")
    return rel if rel.startswith("..") else f"./{rel}"


def default_name(location: Location) -> str:
    """A member's name from its folder: ``raw.ome.zarr`` → ``raw``."""
    name = location.name
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name.removesuffix(suffix)
    return name or "image"


def _check_member(location: Location) -> Image:
    """The image a new member points at; an error naming it when it is not one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NgffWarning)  # `ngff validate` reports those
        try:
            return open_image(location)
        except MetadataError as exc:
            raise InputError(f"{exc}; a collection's members must be OME-Zarr images") from None


def _label_reference(image: Image, members: Mapping[str, Node], place: Place) -> str | None:
    """The id of the member this label image labels (its ``image-label`` source, by default
    ``../../``), when that image is in the collection."""
    if image.image_label is None:
        return None
    source = image.image_label.source
    relative = (source.image if source is not None else None) or "../../"
    target = member_location(image.location, relative).url.rstrip("/")
    for node in members.values():
        if node.path is not None and node.id is not None:
            there = member_location(place.folder, node.path.path).url.rstrip("/")
            if there == target:
                return node.id
    return None


def _new_node(
    place: Place,
    image: str | os.PathLike[str],
    name: str | None,
    siblings: dict[str, Node],
    display: Display | Mapping[str, Any] | None,
) -> tuple[Node, Image]:
    stored = stored_path(place, image)
    location = member_location(place.folder, stored)
    opened = _check_member(location)
    if name is not None:
        if not name.strip() or "/" in name:
            raise InputError(f"member name {name!r} is empty or has a '/'; give a plain name")
        if name in siblings:
            raise ConflictError(
                f"{place.display()} already has a member named {name!r}; choose another "
                "name, or remove that member first"
            )
    else:
        base, n, name = default_name(location), 2, default_name(location)
        while name in siblings:
            name, n = f"{base}-{n}", n + 1
    taken = {n.id for n in siblings.values() if n.id is not None}
    attributes: dict[str, Any] = {}
    if display is not None:
        settings = display if isinstance(display, Display) else Display.model_validate(display)
        if settings.attribute():
            attributes[DISPLAY_KEY] = settings.attribute()
    node = Node(
        type="multiscale",
        name=name,
        id=make_id(name, taken),
        attributes=attributes,
        path=PathRef(type="zarr", path=stored),
    )
    return node, opened


def _with_labels(node: Node, image: Image, nodes: dict[str, Node], place: Place) -> Node:
    if "labels" in node.attributes:
        return node
    source = _label_reference(image, nodes, place)
    if source is None:
        return node
    labels: dict[str, Any] = {"source": [{"id": source}]}
    colors = image.image_label.colors if image.image_label is not None else None
    if colors:
        labels["labelAttributes"] = [
            {"labelValue": c.label_value, "color": list(c.rgba)}
            for c in colors
            if c.rgba is not None
        ]
    return node.model_copy(update={"attributes": {**node.attributes, "labels": labels}})


def _link_labels_of(name: str, nodes: dict[str, Node], place: Place) -> None:
    """Link the unlinked label members whose source image is the member ``name``."""
    for key, other in list(nodes.items()):
        if key == name or other.path is None or "labels" in other.attributes:
            continue
        try:
            image = _check_member(member_location(place.folder, other.path.path))
        except NgffkitError:  # a broken member is `ngff validate`'s to report
            continue
        if image.image_label is not None:
            nodes[key] = _with_labels(other, image, {name: nodes[name]}, place)


def _root_node(name: str, nodes: Sequence[Node], attributes: Mapping[str, Any]) -> RootNode:
    from ngffkit import __version__

    attrs = {**attributes, CREATOR_KEY: {"name": "ngffkit", "version": __version__, "draft": DRAFT}}
    return RootNode(
        version=DRAFT_VERSION, type="collection", name=name, attributes=attrs, nodes=tuple(nodes)
    )


def _write(place: Place, root: RootNode) -> None:
    """Write the document: the JSON file, or the group's metadata files (and nothing else:
    member images inside the group are never touched)."""
    doc = root.document()
    if place.is_json:
        place.folder.write_json(place.key, doc)
        return
    files = group_files(doc, place.zarr_format)
    for key, value in files.items():
        place.folder.write_json(key, value)
    stale = (".zgroup", ".zattrs") if place.zarr_format == 3 else ("zarr.json",)
    for key in stale:  # a collection rewritten in the other Zarr format
        if place.folder.read(key) is not None:
            place.folder.delete(key)


def _existing(place: Place) -> tuple[str, str]:
    """What is at ``place`` now: "nothing", "ours", "theirs" (another tool's collection) or
    "other", and for "other" what was found."""
    if place.is_json:
        if place.folder.read(place.key) is None:
            return "nothing", ""
    else:
        local = place.folder.local_path
        if local is not None and local.exists() and not local.is_dir():
            return "other", "a file"
        if not holds_data(place.folder):
            return "nothing", ""
        if not any(place.folder.read(k) is not None for k in _GROUP_KEYS):
            # A folder of Zarr datasets (the members, say) may become the collection's
            # group: only its metadata file is added. Anything else is somebody's files.
            odd = _not_datasets(local) if local is not None else ["files that are not Zarr"]
            if not odd:
                return "nothing", ""
            shown = ", ".join(odd[:5]) + (", …" if len(odd) > 5 else "")
            return "other", f"files or folders that are not Zarr datasets ({shown})"
    try:
        found = read_raw(place)
    except MetadataError:
        return "other", "something else"
    if found is None:
        return "other", "something else"
    attrs = found[0].get("attributes")
    ours = isinstance(attrs, dict) and isinstance(attrs.get(CREATOR_KEY), dict)
    return ("ours" if ours else "theirs"), ""


def _not_datasets(folder: Path) -> list[str]:
    """The entries of ``folder`` that are neither Zarr datasets, JSON documents nor
    ngffkit's own files."""
    odd = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".ngffkit-") or entry.name.startswith("."):
            continue
        if entry.is_symlink():
            odd.append(entry.name)
        elif entry.is_dir():
            if not any((entry / key).is_file() for key in (*_GROUP_KEYS, ".zarray")):
                odd.append(entry.name + "/")
        elif entry.suffix != ".json":
            odd.append(entry.name)
    return odd


def _claim(place: Place, overwrite: bool) -> None:
    state, found = _existing(place)
    if state == "nothing":
        return
    if state == "ours":
        if overwrite:
            return
        raise ConflictError(
            f"{place.display()} already holds a collection; pass [[overwrite=True]] to "
            "replace it (its member images are kept), or add members to it"
        )
    what = "a collection written by another tool" if state == "theirs" else found
    raise ConflictError(
        f"{place.display()} holds {what}, not a collection written by ngffkit; ngffkit "
        "replaces only its own collections. Choose another output"
    )


@contextlib.contextmanager
def _writing(place: Place, command: str) -> Iterator[None]:
    """The writer's lock on a group collection (a JSON document is written atomically)."""
    if place.is_json:
        yield
        return
    with output_lock(place.folder, command, new_output=False):
        yield


def _members_of(root: RootNode) -> dict[str, Node]:
    return {node.name: node for node in root.nodes or ()}


def _default_collection_name(place: Place) -> str:
    name = place.key.removesuffix(".json") if place.is_json else place.folder.name
    for suffix in (".collection", *_SUFFIXES):
        name = name.removesuffix(suffix)
    return name or "collection"


ImageArg = str | os.PathLike[str] | tuple[str | os.PathLike[str], str]


@accepts_storage_options
def create_collection(
    out: str | os.PathLike[str] | Location,
    images: Sequence[ImageArg] = (),
    *,
    name: str | None = None,
    json_document: bool | None = None,
    zarr_format: int = 3,
    overwrite: bool = False,
    view: ViewSettings | Mapping[str, Any] | None = None,
    storage_options: StorageOptionsArg = None,
) -> Collection:
    """Write a collection (RFC-8 draft, version :data:`DRAFT_VERSION`) of ``images``.

    Each image must be an OME-Zarr image; a label image whose source image is also a
    member gets a label reference to it. Relative paths are stored relative to the
    collection's folder, URLs as given.

    Parameters:
        out: the collection: a Zarr group, or a JSON document when ``json_document`` (by
            default: when its name ends in ``.json``).
        images: paths or URLs of the members, or ``(image, name)`` pairs (a member's name
            defaults to its folder's name without ``.ome.zarr``).
        name: the collection's name (default: ``out``'s name).
        json_document: write a standalone JSON document instead of a Zarr group.
        zarr_format: 3 (``zarr.json``) or 2 (``.zattrs``) for a group.
        overwrite: replace a collection ngffkit wrote there (nothing else is replaced).
        view: where viewers start: a :class:`ngffkit.collection.ViewSettings` or a mapping
            (``position`` by axis name and ``pixelSize``, in the first member's units).
        storage_options: how remote stores are reached (see docs/remote.md).

    Returns:
        The :class:`Collection` written.

    Raises:
        ConflictError: ``out`` holds something that is not ngffkit's collection, or one
            already and ``overwrite`` is false; two members share a name.
        InputError: a member is not an OME-Zarr image.
    """
    if zarr_format not in (2, 3):
        raise OptionError("zarr_format", f"give 2 or 3, not {zarr_format!r}")
    place = place_of(out, json_document=json_document)
    place = Place(place.folder, place.key, zarr_format)
    title = name if name is not None else _default_collection_name(place)
    if not title.strip():
        raise InputError("[[name]] of the collection is empty; give a name")
    nodes: dict[str, Node] = {}
    opened: dict[str, Image] = {}
    for item in images:
        image, member_name = item if isinstance(item, tuple) else (item, None)
        node, image_opened = _new_node(place, image, member_name, nodes, None)
        nodes[node.name] = node
        opened[node.name] = image_opened
    for key, node in nodes.items():
        nodes[key] = _with_labels(node, opened[key], nodes, place)
    attributes: dict[str, Any] = {}
    if view is not None:
        try:
            settings = view if isinstance(view, ViewSettings) else ViewSettings.model_validate(view)
        except ValidationError as exc:
            raise InputError(f"[[view]]: {'; '.join(rule_errors(exc))}") from None
        attributes[VIEW_KEY] = settings.attribute()
    root = _root_node(title, list(nodes.values()), attributes)
    with _writing(place, "ngff collection create"):
        _claim(place, overwrite)
        _write(place, root)
    return read_collection(place)


def _edit_place(collection: str | os.PathLike[str] | Location) -> tuple[Place, RootNode]:
    place = place_of(collection)
    if not place.is_json and place.folder.local_path is not None:
        local = place.folder.local_path
        if local.is_file():
            place = place_of(collection, json_document=True)
    opened = read_collection(place, warn=True)
    return opened.place, opened.root


@accepts_storage_options
def add_to_collection(
    collection: str | os.PathLike[str] | Location,
    image: str | os.PathLike[str],
    *,
    name: str | None = None,
    display: Display | Mapping[str, Any] | None = None,
    storage_options: StorageOptionsArg = None,
) -> Collection:
    """Add ``image`` to the collection at ``collection`` (a group or a JSON document).

    Parameters:
        collection: the collection to change.
        image: the member's path or URL (an OME-Zarr image).
        name: its name (default: its folder's name without ``.ome.zarr``).
        display: how it is shown: a :class:`ngffkit.collection.Display` or a mapping of its
            fields (``window``, ``color``, ``inverted``, ``disabled``).
        storage_options: how remote stores are reached (see docs/remote.md).

    Returns:
        The :class:`Collection` as written.

    Raises:
        ConflictError: a member of that name exists.
        InputError: ``image`` is not an OME-Zarr image.
    """
    place, root = _edit_place(collection)
    nodes = _members_of(root)
    try:
        node, opened = _new_node(place, image, name, nodes, display)
    except ValidationError as exc:
        raise InputError(f"[[display]]: {'; '.join(rule_errors(exc))}") from None
    nodes[node.name] = _with_labels(node, opened, nodes, place)
    if opened.image_label is None:  # label images added before their image link to it now
        _link_labels_of(node.name, nodes, place)
    updated = root.model_copy(update={"nodes": tuple(nodes.values())})
    with _writing(place, "ngff collection add"):
        _write(place, RootNode.model_validate(updated.document()["ome"]))
    return read_collection(place)


@accepts_storage_options
def remove_from_collection(
    collection: str | os.PathLike[str] | Location,
    name: str,
    *,
    storage_options: StorageOptionsArg = None,
) -> Collection:
    """Remove the member ``name`` from the collection (its image is not touched).

    Parameters:
        collection: the collection to change.
        name: the member's name.
        storage_options: how remote stores are reached (see docs/remote.md).

    Returns:
        The :class:`Collection` as written.

    Raises:
        InputError: there is no member ``name``.
        ConflictError: other members are labels of it (remove them first).
    """
    place, root = _edit_place(collection)
    nodes = _members_of(root)
    if name not in nodes:
        known = ", ".join(nodes) or "none"
        raise InputError(f"{place.display()} has no member {name!r} (members: {known})")
    gone = nodes.pop(name)
    users = [n.name for n in nodes.values() if any(r.id == gone.id for r in n.label_sources())]
    if gone.id is not None and users:
        raise ConflictError(
            f"{', '.join(users)} of {place.display()} label {name!r}; remove "
            f"{'them' if len(users) > 1 else 'it'} first"
        )
    updated = root.model_copy(update={"nodes": tuple(nodes.values())})
    with _writing(place, "ngff collection remove"):
        _write(place, RootNode.model_validate(updated.document()["ome"]))
    return read_collection(place)


__all__ = [
    "add_to_collection",
    "create_collection",
    "default_name",
    "remove_from_collection",
    "stored_path",
]
