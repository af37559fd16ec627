"""compression: parsing the --compression option and spelling it for Zarr v2 and v3."""

from __future__ import annotations

import numpy as np
import pytest

from ngffkit.compression import Compression, describe_codecs
from ngffkit.errors import InputError


@pytest.mark.parametrize(
    ("text", "name", "level"),
    [
        ("zstd", "zstd", 5),
        ("zstd:3", "zstd", 3),
        ("ZSTD:-1", "zstd", -1),
        ("gzip:9", "gzip", 9),
        ("blosc-zstd:5", "blosc-zstd", 5),
        ("blosc-lz4", "blosc-lz4", 5),
        ("none", "none", 0),
    ],
)
def test_parse(text: str, name: str, level: int) -> None:
    c = Compression.parse(text)
    assert (c.name, c.level) == (name, level)


@pytest.mark.parametrize("bad", ["lzma", "zstd:x", "zstd:99", "gzip:-1", "blosc-zstd:10"])
def test_bad_compression_names_the_value(bad: str) -> None:
    with pytest.raises(InputError, match=bad.split(":")[0] if ":" not in bad else r"level"):
        Compression.parse(bad)


def test_spellings_round_trip_through_describe() -> None:
    u8, u16 = np.dtype("uint8"), np.dtype("uint16")
    assert describe_codecs(Compression.parse("zstd:5").v3_codecs(u8)) == "zstd:5"
    assert describe_codecs(compressor=Compression.parse("zstd:5").v2_compressor(u8)) == "zstd:5"
    assert "bitshuffle" in describe_codecs(Compression.parse("blosc-zstd:5").v3_codecs(u8))
    assert "(shuffle)" in describe_codecs(
        compressor=Compression.parse("blosc-lz4").v2_compressor(u16)
    )
    assert Compression.parse("none").v2_compressor(u8) is None
    assert describe_codecs(Compression.parse("none").v3_codecs(u8)) == "none"
    sharded = [
        {
            "name": "sharding_indexed",
            "configuration": {"codecs": Compression.parse("gzip:4").v3_codecs(u8)},
        }
    ]
    assert describe_codecs(sharded) == "gzip:4"
