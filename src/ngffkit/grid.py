"""The grid rules of a pyramid, pure arithmetic in array order: one home for each.

* **Default shards** (OME-Zarr 0.5): :data:`DEFAULT_SHARD_CHUNKS` chunks per space axis,
  one chunk on t and c.
* **Shards clipped** to the level: never larger than the whole chunks that cover it.
* **Shard shrink per level**: level ``k``'s shard is level 0's shard divided by the
  cumulative factor, in whole chunks, never below one chunk — so one level-0 shard maps
  onto whole shards of every level (the planner's promise rests on it).

* **Factors** between levels (:func:`cumulative_factors`, :func:`relative_factors`): the
  steps of the levels multiplied up, per axis.

* **One number or per axis** (:func:`per_axis`): how a user's chunks, shards or voxel size
  become one value per axis.

``convert`` (through :mod:`ngffkit.plan` and :func:`ngffkit.spec.pyramid_spec`) and
``compress`` both take their shards and per-axis values from here.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from ngffkit.errors import InputError, OptionError

T = TypeVar("T", int, float)
PerAxisValue = float | Sequence[float] | Mapping[str, float] | None

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


def per_axis(
    value: PerAxisValue,
    names: Sequence[str],
    space: Sequence[bool],
    default: Sequence[T],
    cast: Callable[[float], T],
    *,
    what: str,
    other_names: str = "refuse",
) -> tuple[T, ...]:
    """One value per axis (array order) from what a user gave; axes not given keep ``default``.

    * one number: every space axis (t and c keep their default);
    * a sequence in array order: one value per axis, or one per space axis;
    * a mapping by axis name, such as ``Voxel(x=11.24, y=11.24, z=25)``: names that are
      not space axes are refused (``other_names="refuse"``), or — where one mapping serves
      images of any dimensionality, as the CLI's x,y,z does — ignored
      (``other_names="ignore"``).

    Every value must be a positive, finite number. Raises :class:`InputError` naming
    ``what``.
    """
    out = list(default)
    for i, v in _given(value, names, space, cast, what, other_names).items():
        out[i] = v
    return tuple(out)


def given_per_axis(
    value: PerAxisValue,
    names: Sequence[str],
    cast: Callable[[float], T],
    *,
    what: str,
) -> dict[str, T]:
    """The values a user gave by axis name, for the space axes ``names`` only (the rules of
    :func:`per_axis`); axes not given are left out."""
    given = _given(value, names, [True] * len(names), cast, what, "refuse")
    return {names[i]: v for i, v in given.items()}


def _given(
    value: PerAxisValue,
    names: Sequence[str],
    space: Sequence[bool],
    cast: Callable[[float], T],
    what: str,
    other_names: str,
) -> dict[int, T]:
    n = len(names)
    space_names = [a for a, sp in zip(names, space, strict=True) if sp]
    listed = ", ".join(space_names)
    out: dict[int, T] = {}
    if value is None:
        return out
    if isinstance(value, Mapping):
        unknown = set(value) - set(space_names)
        if unknown and other_names == "refuse":
            raise InputError(
                f"{what} names axes {sorted(unknown)} that are not space axes ({listed})"
            )
        given = [i for i, a in enumerate(names) if a in value]
        for i in given:
            out[i] = cast(value[names[i]])
    elif isinstance(value, numbers.Real):  # numpy's numbers too
        given = [i for i, sp in enumerate(space) if sp]
        for i in given:
            out[i] = cast(value)  # type: ignore[arg-type]
    else:
        values = [cast(v) for v in value]  # type: ignore[union-attr]
        if len(values) == n:
            given = list(range(n))
        elif len(values) == len(space_names):
            given = [i for i, sp in enumerate(space) if sp]
        else:
            raise InputError(
                f"{what} has {len(values)} values but there are {len(space_names)} space axes "
                f"({listed}, in array order)"
                + (f" and {n} axes in all" if n != len(space_names) else "")
            )
        for i, v in zip(given, values, strict=True):
            out[i] = v
    if any(not v > 0 or not math.isfinite(v) for v in out.values()):
        raise InputError(f"{what} must be positive numbers, got {value!r}")
    return out


def input_region(
    shape: Sequence[int],
    region: Sequence[tuple[int | None, int | None]] | None,
    axes: Sequence[str],
    space: Sequence[bool],
) -> tuple[tuple[int, int], ...]:
    """The ``(start, stop)`` of every axis that ``region`` (one range per axis, or one per
    space axis; ``None`` ends and negative values as in Python) selects of ``shape``."""
    if region is None:
        return tuple((0, s) for s in shape)
    space_index = [i for i, s in enumerate(space) if s]
    if len(region) not in (len(shape), len(space_index)):
        raise OptionError("region", f"needs {len(space_index)} ranges; got {len(region)}")
    full: list[tuple[int | None, int | None]] = [(None, None)] * len(shape)
    targets = range(len(shape)) if len(region) == len(shape) else space_index
    for i, r in zip(targets, region, strict=True):
        full[i] = r
    out = []
    for name, extent, (a, b) in zip(axes, shape, full, strict=True):
        start = 0 if a is None else (a + extent if a < 0 else a)
        stop = extent if b is None else (b + extent if b < 0 else b)
        if not 0 <= start < stop <= extent:
            raise OptionError(
                "region",
                f"{a if a is not None else ''}:{b if b is not None else ''} on axis "
                f"{name} is empty or outside the input (0:{extent})",
            )
        out.append((start, stop))
    return tuple(out)


def cumulative_factors(steps: Sequence[Sequence[int]], level: int, ndim: int) -> tuple[int, ...]:
    """Level-0 voxels per voxel of ``level``: the ``steps`` of the levels above it multiplied."""
    out = [1] * ndim
    for step in steps[:level]:
        out = [o * f for o, f in zip(out, step, strict=True)]
    return tuple(out)


def relative_factors(
    steps: Sequence[Sequence[int]], base: int, level: int, ndim: int
) -> tuple[int, ...]:
    """Voxels of level ``base`` per voxel of ``level`` (below it)."""
    below = cumulative_factors(steps, level, ndim)
    above = cumulative_factors(steps, base, ndim)
    return tuple(c // b for c, b in zip(below, above, strict=True))


__all__ = [
    "DEFAULT_SHARD_CHUNKS",
    "PerAxisValue",
    "clip_shards",
    "cumulative_factors",
    "default_shards",
    "given_per_axis",
    "input_region",
    "level_shards",
    "per_axis",
    "relative_factors",
]
