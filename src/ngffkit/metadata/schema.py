"""The spec's own JSON schemas (vendored from ome/ngff-spec), as a second, independent check."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from ngffkit.metadata.io import Finding

_BASE = "https://ngff.openmicroscopy.org/{version}/schemas/{name}.schema"


@lru_cache(maxsize=4)
def _registry(version: str) -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    folder = resources.files("ngffkit.metadata") / "schemas" / version
    pairs = []
    for entry in folder.iterdir():
        if entry.name.endswith(".schema"):
            contents = json.loads(entry.read_text())
            # strict_* schemas carry no $schema; tell the registry which draft they are.
            resource = Resource.from_contents(contents, default_specification=DRAFT202012)
            pairs.append((contents["$id"], resource))
    return Registry().with_resources(pairs)


def schema_findings(
    attrs: dict[str, Any], version: str, kind: str, *, strict: bool = False
) -> list[Finding]:
    """Check group attributes against the spec schema of ``kind`` (image, label, plate, well).

    ``attrs`` is the ``.zattrs`` content (0.4) or the ``zarr.json`` ``attributes`` (0.5).
    """
    from jsonschema import Draft202012Validator

    if version not in ("0.4", "0.5"):
        return []
    registry = _registry(version)
    name = f"strict_{kind}" if strict else kind
    uri = _BASE.format(version=version, name=name)
    try:
        schema = registry.contents(uri)
    except Exception:
        return []
    validator = Draft202012Validator(schema, registry=registry)
    out = []
    for error in sorted(validator.iter_errors(attrs), key=lambda e: list(e.absolute_path)):
        where = "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        ).lstrip(".")
        message = error.message
        if len(message) > 300:
            message = message[:300] + "..."
        out.append(
            Finding(
                where or "attributes",
                f"{message} (JSON schema {name})",
                "warning" if strict else "error",
            )
        )
    return out


__all__ = ["schema_findings"]
