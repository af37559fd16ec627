"""Pure model of an OME-Zarr collection: the node tree of RFC-8, still a draft.

RFC-8 ("An Extensible Metadata Framework for OME-Zarr", status D1, review snapshot
``v1-2026-08``) describes a collection as a tree of nodes under ``ome``::

    {"ome": {"version": ..., "type": "collection", "name": "jrc_hela-1",
             "nodes": [{"type": "multiscale", "name": "raw", "id": "raw",
                        "path": {"type": "zarr", "path": "./raw"}}, ...]}}

Each draft rule is one validator here, and its message says what was found. Nothing here
reads or writes: :mod:`ngffkit._collection` does the I/O. Earlier drafts (the 2024
``members`` list, the 2025 ``node_type`` / ``image`` nodes with plain-string paths) are
read by :func:`upgrade`, which returns the current shape and what it changed.

The attributes ngffkit itself writes are prefixed ``ngffkit:`` (the draft reserves
unprefixed keys): ``ngffkit:display`` on a member (window, colour, inverted, disabled) and
``ngffkit:view`` on the root (position and zoom, in the first member's physical units).
Label references use the draft's own ``labels.source``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The version string ngffkit writes: the one the other RFC-8 implementation (ngff-zarr's
# open PR #719) uses. It names a development version; the draft may still change.
DRAFT_VERSION = "0.9.dev3"
DRAFT = "RFC-8 (draft, review snapshot v1-2026-08)"
DRAFT_NOTICE = (
    "note: collections follow RFC-8, a draft that may still change; "
    f"written as version {DRAFT_VERSION}"
)
DISPLAY_KEY = "ngffkit:display"
VIEW_KEY = "ngffkit:view"
CREATOR_KEY = "ngffkit:creator"

NODE_TYPES = ("collection", "multiscale", "singlescale")
PATH_TYPES = ("zarr", "json")
_ID = re.compile(r"[a-zA-Z0-9_.-]+")
_PREFIXED = re.compile(r"[a-zA-Z0-9_.-]+:[^\s]+")


def _known_or_prefixed(value: str, known: tuple[str, ...], what: str) -> str:
    """The draft's types are its own or an extension's, named ``prefix:name``."""
    if value not in known and not _PREFIXED.fullmatch(value):
        raise ValueError(
            f"{what} {value!r} is none of {', '.join(known)} nor a prefixed extension "
            "('prefix:name')"
        )
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class PathRef(_Frozen):
    """Where a node's data is: ``{"type": "zarr" | "json", "path": "./raw"}`` (a relative
    path, ``file://`` or ``http(s)://``)."""

    type: str
    path: str

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return _known_or_prefixed(value, PATH_TYPES, "path type")

    @field_validator("path")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("path is empty")
        return value


class Reference(_Frozen):
    """A reference to a node by ``id`` (with a ``path`` when it is in another document)."""

    id: str
    path: PathRef | None = None


class Node(_Frozen):
    """One node of the tree: a collection of nodes, or a multiscale image (by ``path``)."""

    type: str
    name: str
    id: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    nodes: tuple[Node, ...] | None = None
    path: PathRef | None = None

    @field_validator("type")
    @classmethod
    def _type_known(cls, value: str) -> str:
        return _known_or_prefixed(value, NODE_TYPES, "node type")

    @field_validator("name")
    @classmethod
    def _name_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a node's name is required and may not be empty")
        return value

    @field_validator("id")
    @classmethod
    def _id_format(cls, value: str | None) -> str | None:
        if value is not None and not _ID.fullmatch(value):
            raise ValueError(f"id {value!r} has characters outside [a-zA-Z0-9-_.]")
        return value

    @model_validator(mode="after")
    def _nodes_or_path(self) -> Node:
        if self.type in ("collection", "multiscale") and (self.nodes is None) == (
            self.path is None
        ):
            found = "both 'nodes' and 'path'" if self.path is not None else "neither"
            raise ValueError(
                f"{self.type} node {self.name!r} needs exactly one of 'nodes' and 'path', "
                f"found {found}"
            )
        return self

    @model_validator(mode="after")
    def _sibling_names_unique(self) -> Node:
        seen: set[str] = set()
        for child in self.nodes or ():
            if child.name in seen:
                raise ValueError(
                    f"node {self.name!r} has two children named {child.name!r}; names must "
                    "be unique among siblings"
                )
            seen.add(child.name)
        return self

    @model_validator(mode="after")
    def _display_valid(self) -> Node:
        if DISPLAY_KEY in self.attributes:
            try:
                display_of(self)
            except ValueError as exc:  # pydantic's ValidationError is one
                raise ValueError(f"node {self.name!r}: {DISPLAY_KEY}: {exc}") from None
        return self

    @model_validator(mode="after")
    def _view_valid(self) -> Node:
        if VIEW_KEY in self.attributes:
            try:
                view_of(self)
            except ValueError as exc:
                raise ValueError(f"node {self.name!r}: {VIEW_KEY}: {exc}") from None
        return self

    def walk(self, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Node]]:
        """Every node below this one (not itself), with its path of names, depth first."""
        for child in self.nodes or ():
            where = (*prefix, child.name)
            yield where, child
            yield from child.walk(where)

    def label_sources(self) -> tuple[Reference, ...]:
        """The images this node labels (``attributes.labels.source``)."""
        labels = self.attributes.get("labels")
        sources = labels.get("source") if isinstance(labels, dict) else None
        if not isinstance(sources, list):
            return ()
        return tuple(Reference.model_validate(s) for s in sources if isinstance(s, dict))


class RootNode(Node):
    """The root node of a collection document: a :class:`Node` with the ``version``."""

    version: str

    @field_validator("version")
    @classmethod
    def _version_given(cls, value: str) -> str:
        if not value:
            raise ValueError("the root node needs a version string")
        return value

    @model_validator(mode="after")
    def _ids_unique(self) -> RootNode:
        seen: dict[str, str] = {}
        for where, node in ((("",), self), *self.walk()):
            if node.id is None:
                continue
            name = "/".join(where) or self.name
            if node.id in seen:
                raise ValueError(
                    f"id {node.id!r} is used by both {seen[node.id]!r} and {name!r}; ids "
                    "must be unique in the document"
                )
            seen[node.id] = name
        return self

    @model_validator(mode="after")
    def _references_resolve(self) -> RootNode:
        ids = {n.id: n for _, n in self.walk() if n.id is not None}
        for where, node in self.walk():
            for ref in node.label_sources():
                if ref.path is not None:
                    continue  # in another document: checked when it is read
                target = ids.get(ref.id)
                if target is None:
                    raise ValueError(
                        f"node {'/'.join(where)!r} labels id {ref.id!r}, which no node of "
                        f"this collection has (ids: {', '.join(sorted(ids)) or 'none'})"
                    )
                if target.type != "multiscale":
                    raise ValueError(
                        f"node {'/'.join(where)!r} labels {ref.id!r}, a {target.type} node; "
                        "a label's source must be a multiscale image"
                    )
        return self

    def members(self) -> tuple[tuple[tuple[str, ...], Node], ...]:
        """The multiscale nodes with a path (the images), with their paths of names."""
        return tuple(
            (where, node)
            for where, node in self.walk()
            if node.type == "multiscale" and node.path is not None
        )

    def document(self) -> dict[str, Any]:
        """The JSON document: ``{"ome": {...}}`` in the draft's key order."""
        return {"ome": _dump(self, root=True)}


def _dump(node: Node, *, root: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if root and isinstance(node, RootNode):
        out["version"] = node.version
    out["type"] = node.type
    out["name"] = node.name
    if node.id is not None:
        out["id"] = node.id
    if node.attributes:
        out["attributes"] = node.attributes
    if node.path is not None:
        out["path"] = node.path.model_dump(exclude_none=True)
    if node.nodes is not None:
        out["nodes"] = [_dump(child) for child in node.nodes]
    extra = {k: v for k, v in (node.model_extra or {}).items() if k not in out}
    return {**out, **extra}


class Display(_Frozen):
    """How a member is shown (``attributes["ngffkit:display"]``): the display window, a
    colour (``RRGGBB``), inverted, and disabled (not shown at first)."""

    window: tuple[float, float] | None = None
    color: str | None = None
    inverted: bool = False
    disabled: bool = False

    @field_validator("window")
    @classmethod
    def _window_rises(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not value[1] > value[0]:
            raise ValueError(f"window {value[0]:g}:{value[1]:g} does not rise; give LOW:HIGH")
        return value

    @field_validator("color")
    @classmethod
    def _color_hex(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.removeprefix("#").upper()
        if not re.fullmatch(r"[0-9A-F]{6}", text):
            raise ValueError(f"colour {value!r} is not RRGGBB hex (e.g. FF0000)")
        return text

    def attribute(self) -> dict[str, Any]:
        """The JSON of ``attributes["ngffkit:display"]`` (what is set only)."""
        out: dict[str, Any] = {}
        if self.window is not None:
            out["window"] = list(self.window)
        if self.color is not None:
            out["color"] = self.color
        if self.inverted:
            out["inverted"] = True
        if self.disabled:
            out["disabled"] = True
        return out


class ViewSettings(_Frozen):
    """Where a viewer starts (``attributes["ngffkit:view"]`` of the root): ``position`` by
    axis name and ``pixelSize`` (the size of one screen pixel), both in the physical units
    of the first member's axes."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)

    position: dict[str, float] | None = None
    pixel_size: float | None = Field(default=None, alias="pixelSize")

    @field_validator("pixel_size")
    @classmethod
    def _pixel_size_positive(cls, value: float | None) -> float | None:
        if value is not None and not value > 0:
            raise ValueError(f"pixelSize must be more than 0, found {value:g}")
        return value

    def attribute(self) -> dict[str, Any]:
        """The JSON of ``attributes["ngffkit:view"]``."""
        return self.model_dump(by_alias=True, exclude_none=True)


def view_of(node: Node) -> ViewSettings | None:
    """The root's :class:`ViewSettings`, when it has any."""
    raw = node.attributes.get(VIEW_KEY)
    return ViewSettings.model_validate(raw) if isinstance(raw, dict) else None


def display_of(node: Node) -> Display | None:
    """The node's :class:`Display` settings, when it has any."""
    raw = node.attributes.get(DISPLAY_KEY)
    return Display.model_validate(raw) if isinstance(raw, dict) else None


def make_id(name: str, taken: set[str]) -> str:
    """An id for a node named ``name`` in the draft's alphabet, unique among ``taken``."""
    base = re.sub(r"[^a-zA-Z0-9_.-]+", "-", name).strip("-") or "node"
    candidate, n = base, 2
    while candidate in taken:
        candidate = f"{base}-{n}"
        n += 1
    taken.add(candidate)
    return candidate


# --------------------------------------------------------------------------- earlier drafts


def upgrade(ome: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The current draft's shape of ``ome`` (a collection in any draft form), and a note
    for each earlier-draft form found (the caller warns with them)."""
    notes: list[str] = []
    if "collection" in ome and isinstance(ome["collection"], dict) and "type" not in ome:
        # 2024 slides: {"collection": {"name": ..., "members": [...]}} (maybe under a URL key)
        inner = ome["collection"]
        notes.append("'collection' object of the 2024 draft read as the root node")
        ome = {"version": ome.get("version", inner.get("version", "")), **inner}
        ome.setdefault("type", "collection")
    return _upgrade_node(ome, notes, root=True), notes


def _upgrade_node(node: dict[str, Any], notes: list[str], *, root: bool) -> dict[str, Any]:
    out = dict(node)
    if "node_type" in out and "type" not in out:
        out["type"] = out.pop("node_type")
        _note(notes, "'node_type' of the 2025 draft read as 'type'")
    if out.get("type") == "image":
        out["type"] = "multiscale"
        _note(notes, "'image' nodes of the 2025 draft read as 'multiscale'")
    if isinstance(out.get("path"), str):
        path = out["path"]
        kind = "json" if path.endswith(".json") else "zarr"
        out["path"] = {"type": kind, "path": path}
        _note(notes, "plain-string 'path' of an earlier draft read as a typed path object")
    if "members" in out and "nodes" not in out:
        out["nodes"] = _members(out.pop("members"), notes)
        _note(notes, "'members' of the 2024 draft read as 'nodes'")
    if root and "type" not in out:
        out["type"] = "collection"
    if isinstance(out.get("nodes"), list):
        out["nodes"] = [
            _upgrade_node(child, notes, root=False) if isinstance(child, dict) else child
            for child in out["nodes"]
        ]
    return out


def _members(members: Any, notes: list[str]) -> list[Any]:
    """2024 members: a list of ``{"name", "path" | "url", ...}`` or strings, or a mapping
    name → path."""
    items = list(members.items()) if isinstance(members, dict) else list(enumerate(members))
    out: list[Any] = []
    for key, member in items:
        if isinstance(member, str):
            member = {"path": member}
        if not isinstance(member, dict):
            out.append(member)
            continue
        entry = dict(member)
        if "url" in entry and "path" not in entry:
            entry["path"] = entry.pop("url")
        entry.setdefault("name", str(key) if isinstance(key, str) else _stem(entry.get("path")))
        entry.setdefault("type", "multiscale")
        out.append(entry)
    return out


def _stem(path: Any) -> str:
    text = str(path or "").rstrip("/")
    return text.rpartition("/")[2] or "member"


def _note(notes: list[str], note: str) -> None:
    if note not in notes:
        notes.append(note)


__all__ = [
    "CREATOR_KEY",
    "DISPLAY_KEY",
    "DRAFT",
    "DRAFT_NOTICE",
    "DRAFT_VERSION",
    "NODE_TYPES",
    "VIEW_KEY",
    "Display",
    "Node",
    "PathRef",
    "Reference",
    "RootNode",
    "ViewSettings",
    "display_of",
    "make_id",
    "upgrade",
    "view_of",
]
