"""Units have one home (ngffkit.metadata.units): names, aliases, and their size in SI."""

from __future__ import annotations

import math

import pytest

from ngffkit.metadata.units import SPACE_UNITS, TIME_UNITS, to_si, udunits_length, unit_in_si


def test_the_parsec_is_the_iau_value() -> None:
    # IAU 2015 Resolution B2: 1 pc = 648000/π au, 1 au = 149 597 870 700 m exactly
    parsec = 648000 / math.pi * 149_597_870_700
    assert to_si("parsec") == (pytest.approx(parsec, rel=1e-15), "m")
    assert unit_in_si("parsec") == pytest.approx(parsec, rel=1e-15)


def test_every_udunits_name_has_a_size() -> None:
    for unit in SPACE_UNITS:
        assert to_si(unit)[1] == "m", unit
    for unit in TIME_UNITS:
        assert to_si(unit)[1] == "s", unit
    assert to_si("furlong") == (1.0, "") and unit_in_si("furlong") is None


@pytest.mark.parametrize(
    ("written", "name"),
    [("Å", "angstrom"), ("km", "kilometer"), ("in", "inch"), ("ft", "foot"), ("s", None)],
)
def test_instrument_length_units(written: str, name: str | None) -> None:
    assert udunits_length(written) == name
