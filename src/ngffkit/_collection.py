"""Collections on disk: read, write and open the RFC-8 draft's node tree (see
:mod:`ngffkit.collection` for the model and its rules).

A collection lives in a Zarr group (v3: ``zarr.json`` → ``attributes.ome``; v2: ``.zattrs`` →
``ome``) or in a standalone JSON document (``{"ome": {...}}``, a file whose name ends in
``.json``). Member paths are kept as the user gave them: relative paths relative to the
collection's folder (the group itself, or the folder holding the JSON file), URLs as URLs,
an absolute local path as a ``file://`` URL. Every write records :data:`DRAFT_VERSION`.
"""

from __future__ import annotations

import os
import posixpath
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError

from ngffkit.collection import (
    Display,
    Node,
    PathRef,
    RootNode,
    upgrade,
)
from ngffkit.errors import InputError, MetadataError, NgffkitError, NgffWarning, NotFoundError
from ngffkit.image import Image, open_image
from ngffkit.storage import JsonDict, Location, StorageOptionsArg, accepts_storage_options, resolve

# Earlier drafts kept OME keys under a URL (the 2024 slides).
_URL_KEYS = ("https://ngff.openmicroscopy.org/0.6", "https://ngff.openmicroscopy.org/latest")
_SUFFIXES = (".ome.zarr", ".zarr", ".ome")


# --------------------------------------------------------------------------- where it is


@dataclass(frozen=True)
class Place:
    """Where a collection document is: a Zarr group (``key`` empty) or a JSON file
    ``key`` in the folder ``folder``. Member paths are relative to ``folder``."""

    folder: Location
    key: str = ""
    zarr_format: int = 3

    @property
    def is_json(self) -> bool:
        return bool(self.key)

    def display(self) -> str:
        return self.folder.display(self.key) if self.key else self.folder.display()


def place_of(url: str | os.PathLike[str] | Location, *, json_document: bool | None = None) -> Place:
    """The :class:`Place` of ``url``: a JSON document when ``json_document`` (or, when None,
    when its name ends in ``.json``), else a Zarr group."""
    loc = resolve(url)
    is_json = loc.name.endswith(".json") if json_document is None else json_document
    if not is_json:
        return Place(loc)
    return Place(_walk(loc, ".."), loc.name)


def _namespace(doc: JsonDict) -> JsonDict | None:
    """The collection's ``ome`` object inside group attributes or a JSON document."""
    for key in ("ome", *_URL_KEYS):
        ome = doc.get(key)
        if isinstance(ome, dict) and _is_collection(ome):
            # the 2024 form gave its version in the key's URL
            return ome if key == "ome" else {"version": key.rpartition("/")[2], **ome}
    return doc if _is_collection(doc) else None


def _is_collection(ome: JsonDict) -> bool:
    kind = ome.get("type", ome.get("node_type"))
    return kind == "collection" or isinstance(ome.get("collection"), dict)


def read_raw(place: Place) -> tuple[JsonDict, int] | None:
    """(the ``ome`` object, the Zarr format) at ``place``; None when there is no collection."""
    if place.is_json:
        doc = place.folder.read_json(place.key)
        if doc is None:
            return None
        ome = _namespace(doc)
        if ome is None:
            raise MetadataError(
                f"{place.display()} is not an OME-Zarr collection: it has no 'ome' object of "
                "type 'collection'"
            )
        return ome, 0
    meta = place.folder.read_json("zarr.json")
    if meta is not None:
        attrs, zarr_format = meta.get("attributes") or {}, 3
    else:
        attrs, zarr_format = place.folder.read_json(".zattrs") or {}, 2
    ome = _namespace(attrs) if isinstance(attrs, dict) else None
    return (ome, zarr_format) if ome is not None else None


def is_collection(url: str | os.PathLike[str] | Location) -> bool:
    """Whether ``url`` holds a collection (a group or a ``.json`` document); never raises
    for what is something else."""
    try:
        return read_raw(place_of(url)) is not None
    except NgffkitError:  # unreadable or something else: the caller's own error says so
        return False


def parse_collection(ome: JsonDict, where: str) -> tuple[RootNode, list[str]]:
    """The validated tree of ``ome`` and the earlier-draft forms read (one note each).

    Raises:
        MetadataError: a draft rule is broken; the message names each node at fault.
    """
    current, notes = upgrade(ome)
    try:
        return RootNode.model_validate(current), notes
    except ValidationError as exc:
        raise MetadataError(
            f"{where}: not a valid collection: {'; '.join(rule_errors(exc))}"
        ) from None


def rule_errors(exc: ValidationError) -> list[str]:
    """Each broken rule of a :class:`ValidationError`, where it is and what was found."""
    out = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        out.append(f"{where}: {message}" if where else message)
    return out


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Member:
    """One image of a collection: its path of names, its node, and where it is."""

    names: tuple[str, ...]
    node: Node
    location: Location

    @property
    def name(self) -> str:
        """The node's names from the root down, joined with ``/``."""
        return "/".join(self.names)

    @property
    def display(self) -> Display | None:
        """The member's display settings (``ngffkit:display``), when it has any."""
        from ngffkit.collection import display_of

        return display_of(self.node)


@dataclass(frozen=True)
class Collection:
    """An opened collection: its tree and its members (the images it points at).

    Attributes:
        place: where the document is (a Zarr group or a JSON file).
        root: the validated node tree (:class:`ngffkit.collection.RootNode`).
        members: every image node with a path, in document order.
        notes: earlier-draft forms that were read (each also an :class:`NgffWarning`).
    """

    place: Place
    root: RootNode
    members: tuple[Member, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        """The collection's name."""
        return self.root.name

    @property
    def version(self) -> str:
        """The version string the document declares."""
        return self.root.version

    @property
    def url(self) -> str:
        """Where the document is."""
        return self.place.display()

    def member(self, name: str) -> Member:
        """The member named ``name`` (its names joined with ``/``, or its last name)."""
        for member in self.members:
            if name in (member.name, member.names[-1]):
                return member
        known = ", ".join(m.name for m in self.members) or "none"
        raise InputError(f"{self.url} has no member {name!r} (members: {known})")

    def open(self, name: str) -> Image:
        """Open the member ``name`` as an :class:`~ngffkit.Image`."""
        return open_image(self.member(name).location)

    def images(self) -> dict[str, Image]:
        """Every member opened as an :class:`~ngffkit.Image`, by name."""
        return {m.name: open_image(m.location) for m in self.members}

    def __iter__(self) -> Iterator[Member]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)


def member_location(folder: Location, path: str) -> Location:
    """Where a member's ``path`` points: a URL as it is, a relative path from ``folder``."""
    if "://" in path:
        return resolve(path)
    return _walk(folder, path)


def _walk(folder: Location, path: str) -> Location:
    """``path`` (relative, or absolute on the same host) from ``folder``, any store."""
    local = folder.local_path
    if local is not None:
        return resolve(os.path.normpath(local / path))
    # By URL: credentials and headers are the storage options', which resolve() applies.
    parts = urlsplit(folder.url)
    joined = posixpath.normpath(posixpath.join(parts.path.rstrip("/") + "/", path))
    return resolve(urlunsplit((parts.scheme, parts.netloc, joined.lstrip("/") and joined, "", "")))


@accepts_storage_options
def open_collection(
    url: str | os.PathLike[str] | Location,
    *,
    storage_options: StorageOptionsArg = None,
) -> Collection:
    """Open the collection (RFC-8 draft) at ``url``: a Zarr group or a ``.json`` document.

    Earlier draft forms (``members``, ``node_type``, plain-string paths) are read, each
    with an :class:`~ngffkit.NgffWarning`. Nested collections given by path are followed.

    Parameters:
        url: the collection (a path or a URL).
        storage_options: how remote stores are reached (see docs/remote.md).

    Returns:
        The :class:`Collection`; ``collection.images()`` opens its members.

    Raises:
        NotFoundError: there is nothing at ``url``.
        MetadataError: there is no collection there, or it breaks a rule of the draft.
    """
    return read_collection(place_of(url), warn=True)


def read_collection(place: Place, *, warn: bool = False, depth: int = 0) -> Collection:
    """The :class:`Collection` at ``place`` (:func:`open_collection` without the wrapper)."""
    found = read_raw(place)
    if found is None:
        local = place.folder.local_path
        if local is not None and not (local / place.key).exists():
            raise NotFoundError(f"{place.display()} does not exist")
        raise MetadataError(
            f"{place.display()} is not an OME-Zarr collection: no 'ome' object of type "
            "'collection' there"
        )
    ome, zarr_format = found
    root, notes = parse_collection(ome, place.display())
    if warn and notes:
        warnings.warn(
            f"{place.display()} uses earlier RFC-8 draft forms, read as the current draft: "
            f"{'; '.join(notes)}",
            NgffWarning,
            stacklevel=3,
        )
    place = Place(place.folder, place.key, zarr_format or place.zarr_format)
    members: list[Member] = []
    for names, node in root.walk():
        if node.path is None:
            continue
        where = member_location(place.folder, node.path.path)
        if node.type == "multiscale":
            members.append(Member(names, node, where))
        elif node.type == "collection" and depth < 8:
            inner = _nested_place(where, node.path)
            nested = read_collection(inner, warn=warn, depth=depth + 1)
            members.extend(Member((*names, *m.names), m.node, m.location) for m in nested.members)
    return Collection(place, root, tuple(members), tuple(notes))


def _nested_place(where: Location, path: PathRef) -> Place:
    if path.type == "json":
        return Place(_walk(where, ".."), where.name)
    return Place(where)


__all__ = [
    "Collection",
    "Member",
    "Place",
    "is_collection",
    "member_location",
    "open_collection",
    "parse_collection",
    "place_of",
    "read_collection",
    "read_raw",
    "rule_errors",
]
