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
    "å": "angstrom",
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
    "parsec": 3.0857e16,
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
    if unit in _SPECIAL:
        return _SPECIAL[unit]
    for base in ("meter", "second"):
        if unit.endswith(base):
            return _SI_PREFIX.get(unit[: -len(base)])
    return None


__all__ = ["ALIASES", "SPACE_UNITS", "TIME_UNITS", "is_known_unit", "normalize_unit", "unit_in_si"]
