"""Resume markers have one home (ngffkit.markers): names, body, fingerprint."""

from __future__ import annotations

import pytest

from ngffkit.markers import fingerprint, marker, resumable
from ngffkit.plan import ConversionPlan, ConvertOptions, make_plan
from ngffkit.plan_writer import plan_fingerprint as _fingerprint


def _plan(**options: object) -> ConversionPlan:
    return make_plan((40, 300, 300), "uint16", "zyx", ConvertOptions(**options), window_cheap=True)  # type: ignore[arg-type]


def test_convert_fingerprints_the_plan_data_not_its_wording(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = _plan()
    before = _fingerprint(plan, None)
    monkeypatch.setattr(ConversionPlan, "summary", lambda self: "reworded entirely")
    assert _fingerprint(plan, None) == before
    # what fixes the output changes it; how many workers run the bricks does not
    assert _fingerprint(_plan(chunks=32), None) != before
    assert _fingerprint(_plan(compression="gzip:1"), None) != before
    assert _fingerprint(_plan(jobs=1, max_memory=1 << 30), None) == before


def test_a_marker_is_resumable_only_with_its_fingerprint() -> None:
    body = marker("ngff convert", fingerprint({"a": 1}), source="x")
    assert body["tool"] == "ngff convert" and body["source"] == "x" and body["started"]
    assert resumable(body, fingerprint({"a": 1}))
    assert not resumable(body, fingerprint({"a": 2}))
    assert not resumable(None, fingerprint({"a": 1}))
    # canonical: key order does not matter
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
