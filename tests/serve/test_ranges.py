"""The Range and conditional-request rules, without a server."""

from __future__ import annotations

import pytest

from ngffkit.serve.paths import is_served_name, key_from_raw_path
from ngffkit.serve.ranges import (
    UNSATISFIABLE,
    ByteSpan,
    closed_range,
    http_date,
    if_range_allows,
    not_modified,
    parse_http_date,
    parse_range,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", ByteSpan(0, 1)),
        ("bytes=0-99", ByteSpan(0, 100)),
        ("bytes=10-", ByteSpan(10, 100)),
        ("bytes=-10", ByteSpan(90, 100)),
        ("bytes=-1000", ByteSpan(0, 100)),  # suffix longer than the object: all of it
        ("bytes=50-5000", ByteSpan(50, 100)),  # last-pos past the end is clamped
        ("bytes=99-99", ByteSpan(99, 100)),
        ("Bytes = 1-2", ByteSpan(1, 3)),  # unit is case-insensitive, whitespace tolerated
    ],
)
def test_single_ranges(header: str, expected: ByteSpan) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=-0", "bytes=5000-"])
def test_unsatisfiable(header: str) -> None:
    assert parse_range(header, 100) is UNSATISFIABLE


def test_any_range_of_empty_object_is_unsatisfiable() -> None:
    assert parse_range("bytes=0-", 0) is UNSATISFIABLE
    assert parse_range("bytes=-5", 0) is UNSATISFIABLE


@pytest.mark.parametrize(
    "header",
    [
        "bytes=5-2",  # last < first
        "bytes=0-1,4-5",  # multi-range: ignored by decision
        "bytes=0-1, 4-5",
        "items=0-1",
        "bytes",
        "bytes=",
        "bytes=-",
        "bytes=a-b",
        "bytes=+1-2",
        "bytes=1-+2",
        "bytes=0x10-",
        "bytes=1--2",
        "bytes=١-٢",  # non-ASCII digits
        "bytes=" + "9" * 40 + "-",
        "",
    ],
)
def test_ignored_headers(header: str) -> None:
    assert parse_range(header, 100) is None


def test_content_range() -> None:
    assert ByteSpan(90, 100).content_range(100) == "bytes 90-99/100"


def test_http_date_round_trip() -> None:
    assert parse_http_date(http_date(784111777)) == 784111777
    assert http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert parse_http_date("not a date") is None


def test_conditionals() -> None:
    etag = '"abc"'
    assert not_modified(etag=etag, mtime=100.5, if_none_match='"abc"', if_modified_since=None)
    assert not_modified(etag=etag, mtime=100.5, if_none_match='W/"abc"', if_modified_since=None)
    assert not_modified(etag=etag, mtime=100.5, if_none_match='"x", "abc"', if_modified_since=None)
    assert not_modified(etag=etag, mtime=100.5, if_none_match="*", if_modified_since=None)
    assert not not_modified(etag=etag, mtime=100.5, if_none_match='"x"', if_modified_since=None)
    # If-None-Match wins over If-Modified-Since.
    assert not not_modified(
        etag=etag, mtime=100.5, if_none_match='"x"', if_modified_since=http_date(200)
    )
    assert not_modified(
        etag=etag, mtime=100.5, if_none_match=None, if_modified_since=http_date(100)
    )
    assert not not_modified(
        etag=etag, mtime=100.5, if_none_match=None, if_modified_since=http_date(99)
    )
    assert not not_modified(etag=etag, mtime=100.5, if_none_match=None, if_modified_since="junk")


def test_if_range() -> None:
    assert if_range_allows(None, etag='"a"', mtime=1.0)
    assert if_range_allows('"a"', etag='"a"', mtime=1.0)
    assert not if_range_allows('"b"', etag='"a"', mtime=1.0)
    assert not if_range_allows('W/"a"', etag='"a"', mtime=1.0)  # weak never matches
    assert if_range_allows(http_date(1000), etag='"a"', mtime=1000.7)
    assert not if_range_allows(http_date(999), etag='"a"', mtime=1000.7)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b"/", ""),
        (b"/a/b.bin", "a/b.bin"),
        (b"//a//b", "a/b"),
        (b"/a/with%20space", "a/with space"),
        (b"/x/.zattrs", "x/.zattrs"),
        (b"/x/zarr.json", "x/zarr.json"),
        (b"/%252e%252e", "%2e%2e"),  # decoded once: a literal name, not a parent reference
    ],
)
def test_keys(raw: bytes, key: str) -> None:
    assert key_from_raw_path(raw) == key


@pytest.mark.parametrize(
    "raw",
    [
        b"/..",
        b"/../etc/passwd",
        b"/a/../../etc/passwd",
        b"/%2e%2e/etc/passwd",
        b"/%2E%2E/",
        b"/.%2e/",
        b"/a%2f..%2f..%2fetc",
        b"/a%2F..",
        b"/..\\x",
        b"/a%5c..%5cb",
        b"/a\\b",
        b"/a%00b",
        b"/./a",
        b"/.secret",
        b"/.git/config",
        b"/a/.hidden",
        b"http://evil/etc/passwd",
        b"*",
        b"etc/passwd",
        b"/%ff%fe",  # not UTF-8
    ],
)
def test_refused_keys(raw: bytes) -> None:
    assert key_from_raw_path(raw) is None


def test_served_names() -> None:
    for name in (".zarray", ".zattrs", ".zgroup", ".zmetadata", "zarr.json", "c", "0.0.0"):
        assert is_served_name(name)
    for name in ("", ".", "..", ".env", ".DS_Store", "a/b", "a\\b", "a\x00"):
        assert not is_served_name(name)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", ByteSpan(0, 1)),
        ("bytes=10-19", ByteSpan(10, 20)),
        ("bytes=5-" + "9" * 19, ByteSpan(5, 10**19)),
        ("bytes=10-", None),  # open: needs the size
        ("bytes=-10", None),  # suffix: needs the size
        ("bytes=5-2", None),
        ("bytes=0-1,4-5", None),
        ("items=0-1", None),
        ("bytes=" + "9" * 40 + "-" + "9" * 41, None),
    ],
)
def test_closed_range(header: str, expected: ByteSpan | None) -> None:
    assert closed_range(header) == expected


def test_content_range_of_unknown_size() -> None:
    assert ByteSpan(10, 20).content_range(None) == "bytes 10-19/*"
