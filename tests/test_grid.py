"""The grid rules' one home (ngffkit.grid): default shards, clipping, shrink per level."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ngffkit import Voxel
from ngffkit.errors import InputError
from ngffkit.grid import (
    DEFAULT_SHARD_CHUNKS,
    clip_shards,
    default_shards,
    given_per_axis,
    level_shards,
    per_axis,
)


def test_default_shards_are_a_few_chunks_on_space_axes_only() -> None:
    assert DEFAULT_SHARD_CHUNKS == 4
    assert default_shards((1, 64, 64, 64), (False, True, True, True)) == (1, 256, 256, 256)


def test_shards_are_clipped_to_the_chunks_covering_the_shape() -> None:
    assert clip_shards((256, 256), (64, 64), (100, 1000)) == (128, 256)
    assert clip_shards((256,), (64,), (0,)) == (256,)  # an empty axis keeps its shard


def test_shards_shrink_with_the_level_in_whole_chunks() -> None:
    # level 0: 256 over 64-chunks; level 2 (factor 4): 64; level 3 (factor 8): one chunk
    assert level_shards((256, 256), (1, 1), (64, 64), (1000, 1000)) == (256, 256)
    assert level_shards((256, 256), (4, 4), (64, 64), (250, 250)) == (64, 64)
    assert level_shards((256, 256), (8, 2), (64, 64), (125, 500)) == (64, 128)
    # a shard that does not divide evenly rounds down to whole chunks, never below one
    assert level_shards((192,), (2,), (64,), (1000,)) == (64,)
    # and is never larger than the whole chunks that cover the level
    assert level_shards((512,), (1,), (64,), (70,)) == (128,)


# "one number or per axis": the one normaliser


NAMES = ("c", "z", "y", "x")
SPACE = (False, True, True, True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, (1, 64, 64, 64)),
        (32, (1, 32, 32, 32)),
        (np.int64(32), (1, 32, 32, 32)),
        ((16, 32, 32), (1, 16, 32, 32)),  # a tuple: the space axes, array order
        ([16, 32, 32], (1, 16, 32, 32)),
        ((2, 16, 32, 32), (2, 16, 32, 32)),  # every axis
        ({"x": 128, "z": 8}, (1, 8, 64, 128)),
        (Voxel(x=4, y=4, z=2), (1, 2, 4, 4)),
    ],
)
def test_per_axis_takes_one_number_a_sequence_or_names(value: object, expected: tuple) -> None:
    assert per_axis(value, NAMES, SPACE, (1, 64, 64, 64), int, what="chunks") == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ((1, 2), "chunks has 2 values but there are 3 space axes (z, y, x, in array order)"),
        ({"c": 2}, "chunks names axes ['c'] that are not space axes (z, y, x)"),
        (0, "chunks must be positive numbers, got 0"),
        ((1, -2, 3), "chunks must be positive numbers"),
        (float("nan"), "chunks must be positive numbers"),
    ],
)
def test_per_axis_refuses_what_fits_no_axis(value: object, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        per_axis(value, NAMES, SPACE, (1, 1, 1, 1), float, what="chunks")  # type: ignore[arg-type]


def test_per_axis_can_ignore_names_the_image_lacks() -> None:
    # the CLI's x,y,z mapping on a 2-D image
    got = per_axis(
        {"z": 8, "y": 16, "x": 32},
        ("y", "x"),
        (True, True),
        (64, 64),
        int,
        what="chunks",
        other_names="ignore",
    )
    assert got == (16, 32)


def test_given_per_axis_keeps_only_what_was_given() -> None:
    assert given_per_axis({"x": 2}, ("z", "y", "x"), float, what="voxel size") == {"x": 2.0}
    assert given_per_axis(3, ("y", "x"), float, what="voxel size") == {"y": 3.0, "x": 3.0}
    assert given_per_axis((5, 1, 1), ("z", "y", "x"), float, what="v") == {
        "z": 5.0,
        "y": 1.0,
        "x": 1.0,
    }
