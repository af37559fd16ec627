"""``ngff validate``: check any OME-Zarr image against the spec and its arrays.

Three independent views, so that one tool's blind spot is covered by another:
the spec's JSON schemas, our models' MUST rules, and the arrays themselves (every level
exists, dimensions match the axes, ``dimension_names``, integer label dtypes, fine-to-coarse
order). ome-zarr-models gives a fourth opinion on local stores when the others find nothing.
With ``data=True`` every stored chunk or shard is read and decoded too (:mod:`ngffkit.datacheck`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ngffkit.arrays import read_array_info
from ngffkit.errors import MetadataError, NgffkitError, NgffWarning, NotFoundError
from ngffkit.image import read_group_attrs
from ngffkit.markers import PARTIAL_MARKER
from ngffkit.metadata import (
    Finding,
    OmeAttributes,
    extract,
    parse,
    recommendations,
    validation_findings,
)
from ngffkit.metadata.io import ome_namespace
from ngffkit.metadata.schema import schema_findings
from ngffkit.storage import Location, StorageOptionsArg, accepts_storage_options, resolve

_LABEL_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64")


@dataclass
class ValidationReport:
    """The outcome: problems make it invalid; warnings only do so with ``strict``.

    Attributes:
        url: the group validated.
        version: its OME-Zarr version, when one was found.
        kind: what the group is (an image, a plate, a well, labels...).
        problems: what breaks the spec (each a finding: the rule, where, what was found).
        warnings: what the spec recommends otherwise.
        partial: the dataset was started but never finished.
        data_checked: every stored chunk and shard was read and decoded.
    """

    url: str
    version: str | None = None
    kind: str | None = None
    problems: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    partial: bool = False
    data_checked: bool = False  # every stored chunk/shard was read and decoded

    @property
    def valid(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "valid": self.valid,
            "version": self.version,
            "kind": self.kind,
            "partial": self.partial,
            "data_checked": self.data_checked,
            "problems": [f.__dict__ for f in self.problems],
            "warnings": [f.__dict__ for f in self.warnings],
        }


@accepts_storage_options
def validate(
    url: str | os.PathLike[str] | Location,
    *,
    strict: bool = False,
    webknossos: bool = False,
    storage_options: StorageOptionsArg = None,
) -> ValidationReport:
    """Validate the OME-Zarr group (or collection, the RFC-8 draft) at ``url``.

    Parameters:
        url: the group (a path, a URL or a ``Location``).
        strict: also report what the spec recommends but does not require.
        webknossos: also warn of what keeps WEBKNOSSOS from opening the image (always done
            for an image with a ``webknossos/`` dataset folder; see docs/webknossos.md).
        storage_options: how remote stores are reached (see docs/remote.md).

    Returns:
        The :class:`ValidationReport`: every problem found, by the rule it breaks.

    Raises:
        NotFoundError, StorageError: the group cannot be read at all.
        MetadataError: its JSON is malformed; everything else is in the report.
    """
    from ngffkit._collection import is_collection

    if is_collection(url):  # the RFC-8 draft's collections have their own rules
        from ngffkit.collection_check import validate_collection

        return validate_collection(url, strict=strict)
    loc = resolve(url)
    report = ValidationReport(url=loc.url)
    _check_group(loc, report, "", expected_levels=None)
    if report.valid and report.kind == "image":
        from ngffkit.wk_export import findings

        _add(report, "", findings(loc, always=webknossos))
    if strict:
        report.problems.extend(Finding(w.where, w.message, "error") for w in report.warnings)
        report.warnings = []
    return report


def _prefix(where: str, finding: Finding) -> Finding:
    if not where:
        return finding
    inner = f"{where}/{finding.where}" if finding.where else where
    return Finding(inner, finding.message, finding.severity)


def _add(report: ValidationReport, where: str, findings: list[Finding]) -> None:
    for f in findings:
        target = report.warnings if f.severity == "warning" else report.problems
        target.append(_prefix(where, f))


def _check_group(
    loc: Location, report: ValidationReport, where: str, expected_levels: int | None
) -> OmeAttributes | None:
    try:
        found = read_group_attrs(loc)
    except MetadataError as exc:
        if not where:
            raise  # the group asked about is unreadable
        # a broken label image does not make the image unreadable: it is a problem in it
        _add(report, where, [Finding("", str(exc))])
        return None
    if found is None:
        if loc.read(PARTIAL_MARKER) is not None:
            report.partial = True
            _add(
                report,
                where,
                [
                    Finding(
                        "",
                        "partial dataset: it was started but never "
                        "finished; rerun with --resume to finish it",
                    )
                ],
            )
            return None
        local = loc.local_path
        if local is not None and not local.exists() and not where:
            raise NotFoundError(f"{local} does not exist")
        if not where:
            loc.check_bucket()  # a missing bucket says so
            if loc.is_remote:
                raise NotFoundError(
                    f"{loc.display('zarr.json')} was not found (nor .zattrs or .zgroup): "
                    f"there is no OME-Zarr image at {loc.display()}; check the URL"
                )
            # Nothing there to validate (a plain folder): unreadable, not merely invalid.
            raise MetadataError(
                f"{loc.display()} is not an OME-Zarr image or Zarr group: found neither "
                "zarr.json nor .zattrs/.zgroup there"
            )
        _add(
            report,
            where,
            [Finding("", "not an OME-Zarr group: found neither zarr.json nor .zattrs/.zgroup")],
        )
        return None
    zarr_format, attrs = found
    _add(report, where, _group_format_findings(loc, zarr_format))
    if loc.read(PARTIAL_MARKER) is not None:
        report.partial = True
        _add(
            report,
            where,
            [Finding("", "a write to this dataset is unfinished; rerun it with --resume")],
        )
    try:
        version, ns, notes = extract(attrs, zarr_format, loc.display())
    except MetadataError as exc:
        _add(report, where, [Finding("attributes", str(exc))])
        return None
    if not where:
        report.version = version
    _add(report, where, notes)
    if version.startswith("0.5") and zarr_format == 2:
        _add(report, where, [Finding("zarr_format", "OME-Zarr 0.5 must be stored as Zarr v3")])
    if version == "0.4" and zarr_format == 3:
        _add(report, where, [Finding("zarr_format", "OME-Zarr 0.4 must be stored as Zarr v2")])
    kind = _kind(ns)
    if not where:
        report.kind = kind
    loose = schema_findings(attrs, version, kind)
    _add(report, where, loose)
    seen = {(f.where, f.message.rsplit(" (JSON schema", 1)[0]) for f in loose}
    _add(
        report,
        where,
        [
            f
            for f in schema_findings(attrs, version, kind, strict=True)
            if (f.where, f.message.rsplit(" (JSON schema", 1)[0]) not in seen
        ],
    )
    must = validation_findings(ns)
    if must:
        _add(report, where, must)
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NgffWarning)
        try:
            meta, fixes, _ = parse(ns, strict=False)
        except MetadataError as exc:  # pragma: no cover - must findings caught it
            _add(report, where, [Finding("", str(exc))])
            return None
    # What the lenient reading had to repair (e.g. unit 'nm' read as 'nanometer') is a
    # warning here; recommendations() only sees the repaired metadata.
    _add(report, where, fixes)
    _add(report, where, recommendations(meta))
    if meta.multiscales:
        _check_levels(loc, meta, zarr_format, report, where, expected_levels)
    if kind == "image":
        _check_labels(loc, meta, report, where)
    return meta


def _group_format_findings(loc: Location, zarr_format: int) -> list[Finding]:
    """The group's own Zarr metadata: ``zarr_format`` is the number 2 or 3, and a Zarr v2
    group has a ``.zgroup`` (without them zarr-python and tools built on it refuse the group;
    webknossos-libs, for one, writes ``{"zarr_format": "2"}``)."""
    key, expected = ("zarr.json", 3) if zarr_format == 3 else (".zgroup", 2)
    meta = loc.read_json(key)
    if meta is None:
        return [
            Finding(
                key,
                f"missing: a Zarr v{expected} group needs {key} with "
                f'{{"zarr_format": {expected}}}; zarr-python and other readers will not open '
                "the group without it",
            )
        ]
    value = meta.get("zarr_format")
    if type(value) is not int or value != expected:
        return [
            Finding(
                f"{key}.zarr_format",
                f"must be the number {expected}, found {value!r}; zarr-python refuses to open "
                "this group",
            )
        ]
    return []


def _kind(ns: dict[str, Any]) -> str:
    if "image-label" in ns:
        return "label"
    if "multiscales" in ns:
        return "image"
    for key in ("plate", "well"):
        if key in ns:
            return key
    if "bioformats2raw.layout" in ns:
        return "bf2raw"
    if "labels" in ns:
        return "labels"
    return "ome"


def _check_levels(
    loc: Location,
    meta: OmeAttributes,
    zarr_format: int,
    report: ValidationReport,
    where: str,
    expected_levels: int | None,
) -> None:
    assert meta.multiscales is not None
    is_label = meta.image_label is not None
    for m_index, ms in enumerate(meta.multiscales):
        names = list(ms.axis_names)
        previous: tuple[float, ...] | None = None
        if expected_levels is not None and len(ms.datasets) != expected_levels:
            _add(
                report,
                where,
                [
                    Finding(
                        f"multiscales[{m_index}].datasets",
                        f"a label image must have as many levels as its image ({expected_levels}), "
                        f"found {len(ms.datasets)}",
                    )
                ],
            )
        for d_index, dataset in enumerate(ms.datasets):
            at = f"multiscales[{m_index}].datasets[{d_index}] ({dataset.path})"
            try:
                info = read_array_info(loc.child(dataset.path))
            except MetadataError as exc:
                _add(report, where, [Finding(at, str(exc))])
                continue
            if info is None:
                _add(report, where, [Finding(at, f"no array at path {dataset.path!r}")])
                continue
            if info.zarr_format != zarr_format:
                _add(
                    report,
                    where,
                    [
                        Finding(
                            at,
                            f"array is Zarr v{info.zarr_format} but the "
                            f"group is Zarr v{zarr_format}",
                        )
                    ],
                )
            if info.ndim != len(names):
                _add(
                    report,
                    where,
                    [
                        Finding(
                            at,
                            f"array has {info.ndim} dimensions, expected "
                            f"{len(names)} (axes {', '.join(names)})",
                        )
                    ],
                )
                continue
            if info.zarr_format == 3:
                if info.dimension_names is None:
                    _add(
                        report,
                        where,
                        [Finding(at, f"zarr.json lacks dimension_names; expected {names}")],
                    )
                elif list(info.dimension_names) != names:
                    _add(
                        report,
                        where,
                        [
                            Finding(
                                at,
                                f"dimension_names "
                                f"{list(info.dimension_names)} do not match "
                                f"the axes {names}",
                            )
                        ],
                    )
            elif info.separator != "/":
                _add(
                    report,
                    where,
                    [
                        Finding(
                            at,
                            "Zarr v2 arrays in OME-Zarr should use '/' as dimension_separator",
                            "warning",
                        )
                    ],
                )
            if is_label and info.dtype.name not in _LABEL_DTYPES:
                _add(
                    report,
                    where,
                    [
                        Finding(
                            at,
                            f"label arrays must hold integers "
                            f"({', '.join(_LABEL_DTYPES)}); found "
                            f"{info.dtype.name}",
                        )
                    ],
                )
            # The spec orders levels by resolution, i.e. by scale. Stored shapes do not
            # decide it: WEBKNOSSOS pads every level to whole shards, so a coarse level's
            # array may be as large as a finer one's (or larger).
            if previous is not None:
                finer = [n for n, a, b in zip(names, previous, dataset.scale, strict=True) if b < a]
                if finer:
                    _add(
                        report,
                        where,
                        [
                            Finding(
                                at,
                                "levels must go from fine to coarse, but along "
                                f"{', '.join(sorted(finer))} this level's scale is finer "
                                "than the previous one's",
                            )
                        ],
                    )
            previous = dataset.scale


def _check_labels(loc: Location, meta: OmeAttributes, report: ValidationReport, where: str) -> None:
    labels_loc = loc.child("labels")
    try:
        found = read_group_attrs(labels_loc)
    except MetadataError as exc:
        _add(report, f"{where}/labels".lstrip("/"), [Finding("", str(exc))])
        return
    if found is None:
        return
    zarr_format, attrs = found
    ns = ome_namespace(attrs, zarr_format)
    names = ns.get("labels") if isinstance(ns, dict) else None
    at = f"{where}/labels".lstrip("/")
    _add(report, at, _group_format_findings(labels_loc, zarr_format))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        _add(
            report,
            "",
            [
                Finding(
                    at, "the labels group must list its label images in 'labels' (a list of paths)"
                )
            ],
        )
        return
    if zarr_format == 3 and meta.version.startswith("0.5"):
        labels_version = ns.get("version") if isinstance(ns, dict) else None
        if labels_version != meta.version:
            found_text = "it is missing" if labels_version is None else f"found {labels_version!r}"
            _add(
                report,
                "",
                [
                    Finding(
                        f"{at}/ome.version",
                        f"the labels group must declare the image's OME-Zarr version "
                        f"({meta.version!r}) in ome.version; {found_text}",
                    )
                ],
            )
    n_levels = len(meta.multiscales[0].datasets) if meta.multiscales else None
    for name in names:
        sub = f"{at}/{name}"
        child = labels_loc.child(name)
        label_meta = _check_group(child, report, sub, expected_levels=n_levels)
        if label_meta is not None and label_meta.image_label is None:
            _add(report, sub, [Finding("", "a label image must carry 'image-label' metadata")])


def ome_zarr_models_findings(
    loc: Location, version: str | None, kind: str | None = "image"
) -> list[Finding]:
    """What ome-zarr-models says about a local store (empty when it accepts it)."""
    local = loc.local_path
    if local is None or version not in ("0.4", "0.5"):
        return []
    try:
        # Their import-time deprecation notes (numcodecs on crc32c) are not the user's to act on.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import zarr
            from ome_zarr_models import open_ome_zarr
    except ImportError:  # pragma: no cover - a declared dependency
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            group = zarr.open_group(str(local), mode="r")
            if kind == "image":
                # Validate as what it is: open_ome_zarr tries every model and reports the
                # failures of all of them (plate, well, ...), burying the one that matters.
                if version == "0.5":
                    from ome_zarr_models.v05.image import Image as Image05

                    Image05.from_zarr(group)
                else:
                    from ome_zarr_models.v04.image import Image as Image04

                    Image04.from_zarr(group)
            else:
                open_ome_zarr(group, version="0.5" if version == "0.5" else "0.4")
    except Exception as exc:
        lines = [
            line.strip()
            for line in str(exc).splitlines()
            if line.strip() and "errors.pydantic.dev" not in line
        ]
        text = " ".join(lines)
        if len(text) > 600:
            text = text[:600] + "..."
        return [Finding("ome-zarr-models", text)]
    return []


def validate_with_models(
    url: str | os.PathLike[str] | Location,
    *,
    strict: bool = False,
    data: bool = False,
    webknossos: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ValidationReport:
    """:func:`validate`, then ome-zarr-models on local stores if nothing was found.

    ``data=True`` also reads and decodes every stored chunk or shard of every level (see
    :mod:`ngffkit.datacheck`); ``progress(done, total)`` follows it in decoded bytes.
    """
    report = validate(url, strict=strict, webknossos=webknossos)
    if report.valid and report.kind == "image":
        report.problems.extend(ome_zarr_models_findings(resolve(url), report.version, report.kind))
    if data and report.kind == "collection":
        from ngffkit.collection_check import check_members_data

        check_members_data(report, url, progress=progress)
    elif data:
        check_data_into(report, url, progress=progress)
    return report


def check_data_into(
    report: ValidationReport,
    url: str | os.PathLike[str] | Location,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Add the data check's findings to ``report`` (images whose levels can be opened)."""
    from ngffkit.datacheck import check_data

    if report.kind != "image" or report.partial:
        report.problems.append(
            Finding("data", "not checked: only the levels of a complete image can be read")
        )
        return
    try:
        report.problems.extend(check_data(url, progress=progress))
    except NgffkitError as exc:
        report.problems.append(Finding("data", f"not checked: {exc}"))
    report.data_checked = True


__all__ = ["ValidationReport", "ome_zarr_models_findings", "validate", "validate_with_models"]
