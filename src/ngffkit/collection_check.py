"""What ``ngff info`` and ``ngff validate`` say about a collection (the RFC-8 draft).

:func:`describe_collection` is the tree with each member's shape; :func:`validate_collection`
checks the draft's rules (the model's validators: required name and type, sibling-unique
names, id format and uniqueness, exactly one of ``nodes``/``path``, label references that
resolve) and then every member as an image (:func:`ngffkit.validate`), each finding named
by the node it is about.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from ngffkit._collection import (
    Collection,
    member_location,
    place_of,
    read_collection,
    read_raw,
    rule_errors,
)
from ngffkit._validate import ValidationReport, validate
from ngffkit.collection import DISPLAY_KEY, DRAFT, Node, Reference, RootNode, upgrade
from ngffkit.errors import MetadataError, NgffkitError, NgffWarning, NotFoundError
from ngffkit.image import open_image
from ngffkit.metadata import Finding
from ngffkit.storage import Location


def _node(node: Node, collection: Collection) -> dict[str, Any]:
    out: dict[str, Any] = {"name": node.name, "type": node.type}
    if node.id is not None:
        out["id"] = node.id
    if node.path is not None:
        out["path"] = node.path.path
        out["path_type"] = node.path.type
    if DISPLAY_KEY in node.attributes:
        out["display"] = node.attributes[DISPLAY_KEY]
    sources = [r.id for r in node.label_sources()]
    if sources:
        out["labels_of"] = sources
    others = sorted(k for k in node.attributes if k not in (DISPLAY_KEY, "labels"))
    if others:
        out["attributes"] = others
    if node.nodes is not None:
        out["nodes"] = [_node(child, collection) for child in node.nodes]
    return out


def describe_collection(url: str | os.PathLike[str] | Location) -> dict[str, Any]:
    """A JSON-ready description of the collection at ``url`` (``ngff info --json``): its
    tree, and each member's image summary (or why it cannot be opened)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NgffWarning)
        collection = read_collection(place_of(url), warn=True)
        members = []
        for member in collection.members:
            entry: dict[str, Any] = {"name": member.name, "url": member.location.display()}
            try:
                image = open_image(member.location)
            except NgffkitError as exc:
                entry["error"] = str(exc)
            else:
                entry.update(
                    shape=list(image.shape),
                    dtype=str(image.dtype),
                    levels=len(image.levels),
                    axes=list(image.axis_names),
                )
            members.append(entry)
    return {
        "kind": "collection",
        "url": collection.url,
        "name": collection.name,
        "version": collection.version,
        "draft": DRAFT,
        "tree": [_node(node, collection) for node in collection.root.nodes or ()],
        "members": members,
        "notes": sorted({str(w.message) for w in caught}),
    }


def validate_collection(
    url: str | os.PathLike[str] | Location, *, strict: bool = False
) -> ValidationReport:
    """Check the collection at ``url`` against the draft's rules, then each member as an
    image (a member's findings are prefixed by its name)."""
    place = place_of(url)
    report = ValidationReport(url=place.display(), kind="collection")
    found = read_raw(place)
    if found is None:
        raise MetadataError(f"{place.display()} is not an OME-Zarr collection")
    current, notes = upgrade(found[0])
    report.version = str(current.get("version") or "") or None
    for note in notes:
        report.warnings.append(Finding("", f"earlier draft form: {note}", "warning"))
    try:
        root = RootNode.model_validate(current)
    except ValidationError as exc:
        report.problems.extend(Finding("", error) for error in rule_errors(exc))
        return _strict(report, strict)
    for names, node in root.walk():
        for ref in node.label_sources():
            if ref.path is not None:  # in another document: it must have that id
                _check_reference(place.folder, names, ref, report)
        if node.path is None or node.type != "multiscale":
            if node.path is not None and node.type == "collection":
                _check_nested(place.folder, names, node, report)
            continue
        where = "/".join(names)
        try:
            location = member_location(place.folder, node.path.path)
            member = validate(location, strict=strict)
        except NotFoundError as exc:
            report.problems.append(Finding(where, f"member {node.path.path!r}: {exc}"))
            continue
        except NgffkitError as exc:
            report.problems.append(
                Finding(where, f"member {node.path.path!r} is not a readable image: {exc}")
            )
            continue
        if member.kind not in ("image", "label"):  # a label image is a multiscale image too
            report.problems.append(
                Finding(where, f"member {node.path.path!r} is {member.kind}, not an image")
            )
        report.problems.extend(_under(where, f) for f in member.problems)
        report.warnings.extend(_under(where, f) for f in member.warnings)
    return _strict(report, strict)


def check_members_data(
    report: ValidationReport,
    url: str | os.PathLike[str] | Location,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """``validate --data`` of a collection: every member's stored chunks read and decoded
    (members that cannot be opened are already problems of the report)."""
    from ngffkit.datacheck import check_data

    for member in read_collection(place_of(url)).members:
        try:
            findings = check_data(member.location, progress=progress)
        except NgffkitError as exc:
            findings = [Finding("data", f"not checked: {exc}")]
        report.problems.extend(_under(member.name, f) for f in findings)
    report.data_checked = True


def _check_reference(
    folder: Location, names: tuple[str, ...], ref: Reference, report: ValidationReport
) -> None:
    assert ref.path is not None
    where = "/".join(names)
    try:
        location = member_location(folder, ref.path.path)
        other = read_collection(place_of(location, json_document=ref.path.type == "json"))
    except NgffkitError as exc:
        report.problems.append(Finding(where, f"labels {ref.id!r} in {ref.path.path!r}: {exc}"))
        return
    ids = {n.id for _, n in other.root.walk()} | {other.root.id}
    if ref.id not in ids:
        report.problems.append(
            Finding(where, f"labels id {ref.id!r}, which {ref.path.path!r} has no node with")
        )


def _check_nested(
    folder: Location, names: tuple[str, ...], node: Node, report: ValidationReport
) -> None:
    assert node.path is not None
    where = "/".join(names)
    try:
        location = member_location(folder, node.path.path)
        read_collection(place_of(location, json_document=node.path.type == "json"))
    except NgffkitError as exc:
        report.problems.append(Finding(where, f"nested collection {node.path.path!r}: {exc}"))


def _under(where: str, finding: Finding) -> Finding:
    inner = f"{where}: {finding.where}" if finding.where else where
    return Finding(inner, finding.message, finding.severity)


def _strict(report: ValidationReport, strict: bool) -> ValidationReport:
    if strict:
        report.problems.extend(Finding(w.where, w.message, "error") for w in report.warnings)
        report.warnings = []
    return report


__all__ = ["check_members_data", "describe_collection", "validate_collection"]
