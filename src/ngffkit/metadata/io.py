"""Where each OME-Zarr version keeps its metadata, and moving between versions.

- :func:`extract` finds the version and the OME namespace in a group's attributes
  (0.5: ``attributes.ome``; 0.4 and older: the top-level ``.zattrs``).
- :func:`parse` builds :class:`OmeAttributes` — leniently (fixing what can be fixed, with a
  note for each fix) or strictly (every MUST violation an error naming its field).
- :func:`dump` writes the exact JSON of version 0.4 or 0.5.
- :func:`recommendations` lists SHOULD-level findings for ``ngff validate``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ngffkit.errors import MetadataError
from ngffkit.metadata.models import WELL_KNOWN_TYPES, OmeAttributes
from ngffkit.metadata.units import is_known_unit, normalize_unit

JsonDict = dict[str, Any]

WRITE_VERSIONS = ("0.4", "0.5")
# Versions we read. 0.1-0.3 are read leniently (no axes objects / transforms yet).
READ_VERSIONS = ("0.1", "0.2", "0.3", "0.4", "0.5", "0.5-dev")
OME_KEYS = (
    "multiscales",
    "omero",
    "labels",
    "image-label",
    "plate",
    "well",
    "bioformats2raw.layout",
    "series",
)


@dataclass(frozen=True)
class Finding:
    """One problem or recommendation, with where it is."""

    where: str
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


def extract(attrs: JsonDict, zarr_format: int, where: str) -> tuple[str, JsonDict, list[Finding]]:
    """Find the OME version and namespace dict in a group's attributes.

    Returns ``(version, namespace, notes)``; raises MetadataError when there is no OME
    metadata or the version is not one ngffkit reads.
    """
    notes: list[Finding] = []
    if zarr_format == 3 and isinstance(attrs.get("ome"), dict):
        ns = dict(attrs["ome"])
        version = ns.get("version")
        if version is None:
            notes.append(Finding("ome.version", "missing; assuming 0.5", "warning"))
            version = "0.5"
    else:
        ns = {k: v for k, v in attrs.items() if k in OME_KEYS or k in ("_creator",)}
        if not any(k in ns for k in OME_KEYS):
            raise MetadataError(
                f"{where} has no OME-Zarr metadata (no 'ome', 'multiscales' or 'labels' "
                "attributes); is this an OME-Zarr image group?"
            )
        version = _v2_version(ns)
        if version is None:
            version = "0.4"
            notes.append(
                Finding(
                    "multiscales[0].version",
                    "missing; assuming 0.4 (Neuroglancer ignores multiscales without it)",
                    "warning",
                )
            )
        if zarr_format == 3:
            notes.append(
                Finding("attributes", "Zarr v3 group without the 'ome' namespace", "warning")
            )
    version = str(version)
    if version not in READ_VERSIONS:
        raise MetadataError(
            f"{where} declares OME-Zarr version {version!r}, which ngffkit does not read; "
            f"supported: {', '.join(WRITE_VERSIONS)} (and 0.1-0.3 leniently)"
        )
    if version.startswith("0.5") and zarr_format == 2 and version != "0.5-dev":
        notes.append(Finding("version", "0.5 requires Zarr v3 but this is Zarr v2", "warning"))
    ns["version"] = version
    return version, ns, notes


def _v2_version(ns: JsonDict) -> str | None:
    for key in ("multiscales", "plate", "well"):
        value = ns.get(key)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            if value[0].get("version"):
                return str(value[0]["version"])
        elif isinstance(value, dict) and value.get("version"):
            return str(value["version"])
    label = ns.get("image-label")
    if isinstance(label, dict) and label.get("version"):
        return str(label["version"])
    return None


def _lenient_fixes(ns: JsonDict, version: str) -> tuple[JsonDict, list[Finding], bool]:
    """Repair what older or sloppier writers leave out; say what was repaired."""
    fixed = copy.deepcopy(ns)
    notes: list[Finding] = []
    missing_scale = False
    for m_index, ms in enumerate(fixed.get("multiscales") or []):
        if not isinstance(ms, dict):
            continue
        where = f"multiscales[{m_index}]"
        axes = ms.get("axes")
        if axes is None:
            # 0.1/0.2 had no axes: the data was always 5-D t,c,z,y,x.
            ms["axes"] = [{"name": n, "type": WELL_KNOWN_TYPES[n]} for n in "tczyx"]
            notes.append(Finding(f"{where}.axes", "missing; assuming t,c,z,y,x", "warning"))
        else:
            new_axes = []
            for a_index, axis in enumerate(axes):
                if isinstance(axis, str):
                    axis = {"name": axis}
                if isinstance(axis, dict):
                    axis = dict(axis)
                    name = str(axis.get("name", ""))
                    if axis.get("type") is None and name.lower() in WELL_KNOWN_TYPES:
                        axis["type"] = WELL_KNOWN_TYPES[name.lower()]
                        notes.append(
                            Finding(
                                f"{where}.axes[{a_index}].type",
                                f"missing; assuming {axis['type']!r} from the name",
                                "warning",
                            )
                        )
                    unit = axis.get("unit")
                    if isinstance(unit, str) and not is_known_unit(unit):
                        normal = normalize_unit(unit)
                        if is_known_unit(normal):
                            axis["unit"] = normal
                        notes.append(
                            Finding(
                                f"{where}.axes[{a_index}].unit",
                                f"{unit!r} is not a UDUNITS name"
                                + (f"; reading it as {normal!r}" if normal != unit else ""),
                                "warning",
                            )
                        )
                new_axes.append(axis)
            ms["axes"] = new_axes
        n_axes = len(ms["axes"])
        for d_index, dataset in enumerate(ms.get("datasets") or []):
            if isinstance(dataset, dict) and not dataset.get("coordinateTransformations"):
                dataset["coordinateTransformations"] = [{"type": "scale", "scale": [1.0] * n_axes}]
                missing_scale = True
                notes.append(
                    Finding(
                        f"{where}.datasets[{d_index}].coordinateTransformations",
                        "missing; deriving the scale from the array shapes",
                        "warning",
                    )
                )
    return fixed, notes, missing_scale


def _format_validation_error(exc: ValidationError, prefix: str = "") -> list[Finding]:
    out = []
    for err in exc.errors():
        loc_parts = []
        for part in err["loc"]:
            if isinstance(part, int):
                loc_parts.append(f"[{part}]")
            elif (
                part
                in (
                    "ScaleTransform",
                    "TranslationTransform",
                    "IdentityTransform",
                    "scale",
                    "translation",
                    "identity",
                )
                and loc_parts
                and loc_parts[-1].startswith("[")
            ):
                continue
            else:
                loc_parts.append(("." if loc_parts else "") + str(part))
        where = prefix + "".join(loc_parts)
        message = str(err["msg"]).removeprefix("Value error, ")
        out.append(Finding(where, message))
    return out


def parse(
    ns: JsonDict, *, strict: bool = False, where: str = ""
) -> tuple[OmeAttributes, list[Finding], bool]:
    """Build the models from a namespace dict found by :func:`extract`.

    Lenient (default): fix what can be fixed, returning a note per fix, and a flag telling
    whether scales must be derived from array shapes. Strict: no fixes; any MUST violation
    raises MetadataError listing every problem with its field.
    """
    version = str(ns.get("version", ""))
    notes: list[Finding] = []
    missing_scale = False
    data = ns
    if not strict:
        data, notes, missing_scale = _lenient_fixes(ns, version)
    try:
        model = OmeAttributes.model_validate(data)
    except ValidationError as exc:
        findings = _format_validation_error(exc)
        listed = "; ".join(str(f) for f in findings)
        raise MetadataError(
            f"{where + ': ' if where else ''}invalid OME-Zarr {version} metadata: {listed}"
        ) from exc
    return model, notes, missing_scale


def validation_findings(ns: JsonDict) -> list[Finding]:
    """Every MUST violation in a namespace dict, as findings (nothing raised)."""
    try:
        OmeAttributes.model_validate(ns)
    except ValidationError as exc:
        return _format_validation_error(exc)
    return []


def dump(meta: OmeAttributes, version: str) -> JsonDict:
    """The group attributes for ``version`` (0.4: ``.zattrs`` content; 0.5: ``zarr.json``
    ``attributes``), written exactly as the spec says."""
    if version not in WRITE_VERSIONS:
        raise MetadataError(f"cannot write OME-Zarr version {version!r}; use 0.4 or 0.5")
    body = meta.model_dump(by_alias=True, exclude_none=True, mode="json")
    body.pop("version", None)
    for ms in body.get("multiscales", []):
        ms.pop("version", None)
        if version == "0.4":
            # Neuroglancer ignores a 0.4 multiscale without its version; the schema needs it.
            ms["version"] = "0.4"
    label = body.get("image-label")
    if isinstance(label, dict):
        label.pop("version", None)
        if version == "0.4":
            label["version"] = "0.4"
    omero = body.get("omero")
    if isinstance(omero, dict) and version == "0.5":
        omero.pop("version", None)
    if version == "0.5":
        return {"ome": {"version": "0.5", **body}}
    return body


def zarr_format_of(version: str) -> int:
    """The Zarr format an OME-Zarr version is written in: 0.5 in v3, 0.4 in v2."""
    return 3 if version.startswith("0.5") else 2


def version_of(zarr_format: int) -> str:
    """The OME-Zarr version ngffkit writes in a Zarr format: 0.5 in v3, 0.4 in v2."""
    return "0.5" if zarr_format == 3 else "0.4"


def group_files(attributes: JsonDict, zarr_format: int) -> dict[str, JsonDict]:
    """The metadata files of a Zarr group holding ``attributes``, in the order to write
    them: v3 one ``zarr.json``; v2 ``.zgroup`` then ``.zattrs``."""
    if zarr_format == 3:
        return {"zarr.json": {"zarr_format": 3, "node_type": "group", "attributes": attributes}}
    return {".zgroup": {"zarr_format": 2}, ".zattrs": attributes}


def ome_namespace(attrs: JsonDict, zarr_format: int) -> JsonDict:
    """Where a group's OME keys live, as stored (edit it to edit them): ``attributes.ome``
    in Zarr v3 (0.5), the top-level attributes in Zarr v2 (0.4)."""
    ome = attrs.get("ome")
    return ome if zarr_format == 3 and isinstance(ome, dict) else attrs


def labels_attributes(
    names: Sequence[str], version: str, existing: JsonDict | None = None
) -> JsonDict:
    """The attributes of a ``labels`` group listing ``names`` (0.4 keeps ``existing``'s
    other keys; 0.5 writes the ``ome`` namespace alone)."""
    if zarr_format_of(version) == 3:
        return {"ome": {"version": "0.5", "labels": list(names)}}
    return {**(existing or {}), "labels": list(names)}


def recommendations(meta: OmeAttributes) -> list[Finding]:
    """SHOULD-level findings: things readers cope with but the spec recommends otherwise."""
    out: list[Finding] = []
    for m_index, ms in enumerate(meta.multiscales or ()):
        where = f"multiscales[{m_index}]"
        if not ms.name:
            out.append(Finding(f"{where}.name", "should be present", "warning"))
        if meta.version == "0.4" and not ms.version:
            out.append(Finding(f"{where}.version", "should be '0.4'", "warning"))
        space = [a.name for a in ms.axes if a.type == "space"]
        canonical = [n for n in "zyx" if n in space]
        if len(space) in (2, 3) and len(canonical) == len(space) and space != canonical:
            count = "three" if len(space) == 3 else "two"
            out.append(
                Finding(
                    f"{where}.axes",
                    f"{count} space axes should be {', '.join(canonical)}; got "
                    f"{', '.join(space)} (ngffkit reads axes by name; some readers go by position)",
                    "warning",
                )
            )
        for a_index, axis in enumerate(ms.axes):
            if axis.type is None:
                out.append(Finding(f"{where}.axes[{a_index}].type", "should be present", "warning"))
            if axis.unit is not None and not is_known_unit(axis.unit):
                out.append(
                    Finding(
                        f"{where}.axes[{a_index}].unit",
                        f"{axis.unit!r} is not a UDUNITS unit name",
                        "warning",
                    )
                )
            if axis.type in ("space", "time") and axis.unit is None:
                out.append(
                    Finding(
                        f"{where}.axes[{a_index}].unit",
                        "should be present for space and time axes",
                        "warning",
                    )
                )
    return out


__all__ = [
    "READ_VERSIONS",
    "WRITE_VERSIONS",
    "Finding",
    "dump",
    "extract",
    "group_files",
    "labels_attributes",
    "ome_namespace",
    "parse",
    "recommendations",
    "validation_findings",
    "version_of",
    "zarr_format_of",
]
