"""UDUNITS-2 unit names that OME-Zarr 0.4/0.5 (and Neuroglancer) accept, and common aliases."""

from __future__ import annotations

SPACE_UNITS: frozenset[str] = frozenset(
    [
        "angstrom",
        "attometer",
        "centimeter",
        "decimeter",
        "exameter",
        "femtometer",
        "foot",
        "gigameter",
        "hectometer",
        "inch",
        "kilometer",
        "megameter",
        "meter",
        "micrometer",
        "mile",
        "millimeter",
        "nanometer",
        "parsec",
        "petameter",
        "picometer",
        "terameter",
        "yard",
        "yoctometer",
        "yottameter",
        "zeptometer",
        "zettameter",
    ]
)
TIME_UNITS: frozenset[str] = frozenset(
    [
        "attosecond",
        "centisecond",
        "day",
        "decisecond",
        "exasecond",
        "femtosecond",
        "gigasecond",
        "hectosecond",
        "hour",
        "kilosecond",
        "megasecond",
        "microsecond",
        "millisecond",
        "minute",
        "nanosecond",
        "petasecond",
        "picosecond",
        "second",
        "terasecond",
        "yoctosecond",
        "yottasecond",
        "zeptosecond",
        "zettasecond",
    ]
)

# Spellings people (and other tools) use, mapped to the UDUNITS name.
ALIASES: dict[str, str] = {
    "um": "micrometer",
    "µm": "micrometer",
    "μm": "micrometer",
    "micron": "micrometer",
    "microns": "micrometer",
    "micrometre": "micrometer",
    "micrometers": "micrometer",
    "nm": "nanometer",
    "nanometre": "nanometer",
    "nanometers": "nanometer",
    "mm": "millimeter",
    "millimetre": "millimeter",
    "millimeters": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "metre": "meter",
    "meters": "meter",
    "pm": "picometer",
    "km": "kilometer",
    "in": "inch",
    "ft": "foot",
    "å": "angstrom",
    "Å": "angstrom",
    "a": "angstrom",
    "angstroms": "angstrom",
    "s": "second",
    "sec": "second",
    "seconds": "second",
    "ms": "millisecond",
    "us": "microsecond",
    "µs": "microsecond",
    "ns": "nanosecond",
    "min": "minute",
    "h": "hour",
}

# Size of one unit in meters / seconds, to compare voxel sizes across units.
_SI_PREFIX = {
    "yocto": 1e-24,
    "zepto": 1e-21,
    "atto": 1e-18,
    "femto": 1e-15,
    "pico": 1e-12,
    "nano": 1e-9,
    "micro": 1e-6,
    "milli": 1e-3,
    "centi": 1e-2,
    "deci": 1e-1,
    "": 1.0,
    "deca": 1e1,
    "hecto": 1e2,
    "kilo": 1e3,
    "mega": 1e6,
    "giga": 1e9,
    "tera": 1e12,
    "peta": 1e15,
    "exa": 1e18,
    "zetta": 1e21,
    "yotta": 1e24,
}
_SPECIAL = {
    "angstrom": 1e-10,
    "foot": 0.3048,
    "inch": 0.0254,
    "mile": 1609.344,
    # IAU 2015 Resolution B2: 648000/π astronomical units
    "parsec": 3.0856775814913673e16,
    "yard": 0.9144,
    "minute": 60.0,
    "hour": 3600.0,
    "day": 86400.0,
}


def normalize_unit(unit: str) -> str:
    """The UDUNITS name for ``unit`` (aliases such as ``um`` or ``nm`` accepted)."""
    text = unit.strip()
    low = text.lower()
    if low in SPACE_UNITS or low in TIME_UNITS:
        return low
    return ALIASES.get(low, ALIASES.get(text, text))


def is_known_unit(unit: str) -> bool:
    return unit in SPACE_UNITS or unit in TIME_UNITS


def unit_in_si(unit: str) -> float | None:
    """How many meters (or seconds) one ``unit`` is; None for unknown units."""
    factor, base = to_si(unit)
    return factor if base else None


def to_si(unit: str | None) -> tuple[float, str]:
    """``(factor, base)`` so that one ``unit`` is ``factor`` ``base`` (``"m"``, ``"s"``;
    ``(1.0, "")`` for no unit or an unknown one)."""
    if not unit:
        return 1.0, ""
    if unit in _SPECIAL:
        return _SPECIAL[unit], "s" if unit in TIME_UNITS else "m"
    for base, symbol in (("meter", "m"), ("second", "s")):
        if unit.endswith(base) and unit[: -len(base)] in _SI_PREFIX:
            return _SI_PREFIX[unit[: -len(base)]], symbol
    return 1.0, ""


def udunits_length(unit: str | None) -> str | None:
    """The UDUNITS length name for a unit as instruments and OME-XML write it ("µm", "nm");
    ``None`` for what is not a length, so callers drop rather than invent."""
    if unit is None or not unit.strip():
        return None
    name = normalize_unit(unit)
    return name if name in SPACE_UNITS else None


__all__ = [
    "ALIASES",
    "SPACE_UNITS",
    "TIME_UNITS",
    "is_known_unit",
    "normalize_unit",
    "to_si",
    "udunits_length",
    "unit_in_si",
]
