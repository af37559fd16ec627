"""The grid rules of a pyramid, pure arithmetic in array order: one home for each.

* **Default shards** (OME-Zarr 0.5): :data:`DEFAULT_SHARD_CHUNKS` chunks per space axis,
  one chunk on t and c.
* **Shards clipped** to the level: never larger than the whole chunks that cover it.
* **Shard shrink per level**: level ``k``'s shard is level 0's shard divided by the
  cumulative factor, in whole chunks, never below one chunk — so one level-0 shard maps
  onto whole shards of every level (the planner's promise rests on it).

``convert`` (through :mod:`ngffkit.plan` and :func:`ngffkit.layout.pyramid_spec`) and
``compress`` both take their shards from here.
"""

from __future__ import annotations

from collections.abc import Sequence

# Default shard edge, in chunks per axis (0.5): 256³ voxels for 64³ chunks.
DEFAULT_SHARD_CHUNKS = 4


def default_shards(chunks: Sequence[int], space: Sequence[bool]) -> tuple[int, ...]:
    """Level-0 shards when none are asked for: a few chunks on each space axis."""
    return tuple(c * DEFAULT_SHARD_CHUNKS if sp else c for c, sp in zip(chunks, space, strict=True))


def clip_shards(
    shards: Sequence[int], chunks: Sequence[int], shape: Sequence[int]
) -> tuple[int, ...]:
    """Shards no bigger than the whole chunks that cover ``shape`` (empty axes keep theirs)."""
    return tuple(
        min(sh, -(-s // c) * c) if s > 0 else sh
        for sh, c, s in zip(shards, chunks, shape, strict=True)
    )


def level_shards(
    shard0: Sequence[int],
    factors: Sequence[int],
    chunks: Sequence[int],
    shape: Sequence[int],
) -> tuple[int, ...]:
    """A level's shards: level-0 ``shard0`` over the level's cumulative ``factors``, in
    whole ``chunks`` of the level (at least one), clipped to the level's ``shape``."""
    shrunk = tuple(
        max(c, (max(sh // f, c) // c) * c) for sh, f, c in zip(shard0, factors, chunks, strict=True)
    )
    return clip_shards(shrunk, chunks, shape)


__all__ = ["DEFAULT_SHARD_CHUNKS", "clip_shards", "default_shards", "level_shards"]
