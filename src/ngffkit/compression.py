"""Compression settings: parse ``zstd:5``-style strings, render Zarr v2 / v3 codec JSON.

One :class:`Compression` value describes what the user asked for; :meth:`v3_codecs` and
:meth:`v2_compressor` spell it for each Zarr format, and :func:`describe_codecs` turns any
array's stored codec JSON (ours or another tool's) back into a short readable string.

This is the codec model only; re-encoding stored images (``ngffkit.compress``,
``ngff compress``) is :mod:`ngffkit._recompress`.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ngffkit.errors import InputError

CompressionName = Literal["zstd", "blosc-zstd", "blosc-lz4", "gzip", "none"]

_LEVELS: dict[str, tuple[int, int, int]] = {
    # name: (min, max, default)
    "zstd": (-7, 22, 5),
    "blosc-zstd": (0, 9, 5),
    "blosc-lz4": (0, 9, 5),
    "gzip": (0, 9, 5),
    "none": (0, 0, 0),
}

DEFAULT_COMPRESSION = "zstd:5"


class Compression(BaseModel):
    """A compressor and its level."""

    model_config = ConfigDict(frozen=True)

    name: CompressionName
    level: int = Field(default=5)

    @model_validator(mode="after")
    def _level_in_range(self) -> Compression:
        lo, hi, _ = _LEVELS[self.name]
        if not lo <= self.level <= hi:
            raise ValueError(f"level {self.level} for {self.name} must be between {lo} and {hi}")
        return self

    @classmethod
    def parse(cls, text: str | Compression) -> Compression:
        """Parse ``zstd[:L]``, ``blosc-zstd[:L]``, ``blosc-lz4[:L]``, ``gzip[:L]`` or ``none``."""
        if isinstance(text, Compression):
            return text
        name, _, level_text = text.strip().lower().partition(":")
        if name not in _LEVELS:
            raise InputError(
                f"unknown compression {text!r}; use one of zstd[:L], blosc-zstd[:L], "
                "blosc-lz4[:L], gzip[:L], none"
            )
        lo, hi, default = _LEVELS[name]
        if not level_text:
            level = default
        else:
            try:
                level = int(level_text)
            except ValueError:
                raise InputError(
                    f"compression level {level_text!r} in {text!r} is not a whole number"
                ) from None
            if not lo <= level <= hi:
                raise InputError(
                    f"compression level {level} for {name} must be between {lo} and {hi}"
                )
        return cls.model_validate({"name": name, "level": level})

    def __str__(self) -> str:
        return "none" if self.name == "none" else f"{self.name}:{self.level}"

    def _blosc_shuffle(self, dtype: np.dtype[Any]) -> tuple[str, int]:
        # Bit-shuffle helps single-byte data, byte-shuffle multi-byte (measured in the
        # peer benchmark: blosc-zstd5 2.01 ratio u8 bitshuffle, 1.78 u16 shuffle).
        return ("bitshuffle", 2) if dtype.itemsize == 1 else ("shuffle", 1)

    def v3_codecs(self, dtype: np.dtype[Any]) -> list[dict[str, Any]]:
        """The bytes-to-bytes chain after ``bytes`` for a Zarr v3 array (or inner chunk)."""
        chain: list[dict[str, Any]] = [{"name": "bytes", "configuration": {"endian": "little"}}]
        if self.name == "zstd":
            chain.append(
                {"name": "zstd", "configuration": {"level": self.level, "checksum": False}}
            )
        elif self.name == "gzip":
            chain.append({"name": "gzip", "configuration": {"level": self.level}})
        elif self.name.startswith("blosc"):
            shuffle, _ = self._blosc_shuffle(dtype)
            chain.append(
                {
                    "name": "blosc",
                    "configuration": {
                        "cname": self.name.split("-", 1)[1],
                        "clevel": self.level,
                        "shuffle": shuffle,
                        "typesize": dtype.itemsize,
                        "blocksize": 0,
                    },
                }
            )
        return chain

    def v2_compressor(self, dtype: np.dtype[Any]) -> dict[str, Any] | None:
        """The ``compressor`` entry of a Zarr v2 ``.zarray``."""
        if self.name == "none":
            return None
        if self.name == "zstd":
            return {"id": "zstd", "level": self.level}
        if self.name == "gzip":
            return {"id": "gzip", "level": self.level}
        _, shuffle = self._blosc_shuffle(dtype)
        return {
            "id": "blosc",
            "cname": self.name.split("-", 1)[1],
            "clevel": self.level,
            "shuffle": shuffle,
            "blocksize": 0,
        }


def _describe_one(codec: dict[str, Any]) -> str | None:
    name = str(codec.get("name") or codec.get("id") or "?")
    conf = codec.get("configuration", codec)
    if name in ("bytes", "crc32c", "transpose") and name != "transpose":
        return None
    if name == "transpose":
        return f"transpose{tuple(conf.get('order', ()))}"
    if name == "zstd":
        return f"zstd:{conf.get('level', '?')}"
    if name == "gzip" or name == "zlib":
        return f"{name}:{conf.get('level', '?')}"
    if name == "blosc":
        shuffle = conf.get("shuffle")
        shuffle_name = {0: "noshuffle", 1: "shuffle", 2: "bitshuffle"}.get(shuffle, shuffle)
        return f"blosc-{conf.get('cname', '?')}:{conf.get('clevel', '?')}({shuffle_name})"
    return name


def describe_codecs(
    codecs: list[dict[str, Any]] | None = None,
    compressor: dict[str, Any] | None = None,
    filters: list[dict[str, Any]] | None = None,
) -> str:
    """A short readable spelling of an array's compression, e.g. ``blosc-zstd:5(shuffle)``."""
    parts: list[str] = []
    for codec in filters or []:
        parts.append(_describe_one(codec) or "")
    if compressor is not None:
        parts.append(_describe_one(compressor) or "")
    for codec in codecs or []:
        if codec.get("name") == "sharding_indexed":
            inner = codec.get("configuration", {}).get("codecs", [])
            parts.append(describe_codecs(inner))
            continue
        described = _describe_one(codec)
        if described:
            parts.append(described)
    text = " + ".join(p for p in parts if p)
    return text or "none"


# Codecs that change the layout or add a checksum but not the compression.
_NOT_COMPRESSORS = {"bytes", "crc32c", "transpose", "endian"}


def compression_of(
    codecs: list[dict[str, Any]] | None = None,
    compressor: dict[str, Any] | None = None,
) -> Compression | None:
    """The :class:`Compression` closest to a stored array's codecs (v3 ``codecs`` or the v2
    ``compressor``), or None when it uses one ngffkit cannot write.

    Blosc's shuffle mode is not kept: ngffkit picks it by dtype when it writes.
    """
    found: list[dict[str, Any]] = []
    for codec in codecs or []:
        if codec.get("name") == "sharding_indexed":
            found += [
                c
                for c in codec.get("configuration", {}).get("codecs", [])
                if c.get("name") not in _NOT_COMPRESSORS
            ]
        elif codec.get("name") not in _NOT_COMPRESSORS:
            found.append(codec)
    if compressor is not None:
        found.append(compressor)
    if not found:
        return Compression(name="none", level=0)
    if len(found) > 1:
        return None
    codec = found[0]
    name = str(codec.get("name") or codec.get("id"))
    conf = codec.get("configuration", codec)
    try:
        if name == "zstd":
            return Compression(name="zstd", level=int(conf.get("level", 5)))
        if name in ("gzip", "zlib"):
            return Compression(name="gzip", level=int(conf.get("level", 5)))
        if name == "blosc" and conf.get("cname") in ("zstd", "lz4"):
            return Compression.model_validate(
                {"name": f"blosc-{conf['cname']}", "level": int(conf.get("clevel", 5))}
            )
    except (ValueError, TypeError):
        return None
    return None


__all__ = [
    "DEFAULT_COMPRESSION",
    "Compression",
    "CompressionName",
    "compression_of",
    "describe_codecs",
]
