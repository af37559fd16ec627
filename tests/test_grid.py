"""The grid rules' one home (ngffkit.grid): default shards, clipping, shrink per level."""

from __future__ import annotations

from ngffkit.grid import DEFAULT_SHARD_CHUNKS, clip_shards, default_shards, level_shards


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
