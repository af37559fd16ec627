"""Which of many parts (slices, grid cells) is the odd one: decided by majority.

A stack's reference shape and dtype must not be whatever the first file happens to be: an
odd first slice would make every good slice look wrong. The reference is the most common
header; the parts that differ are named, with what the others are ("00000.tif is 64×81
uint8 but the other 7 slices are 64×80 uint8"). On a tie, both sides are shown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def majority(headers: Sequence[tuple[str, K]]) -> tuple[K, list[tuple[str, K]], bool]:
    """The most common header, the ``(name, header)`` pairs that differ from it, and
    whether the most common one is a tie (then no side is more likely right)."""
    counts = Counter(h for _, h in headers)
    (best, n), *rest = counts.most_common()
    tie = bool(rest) and rest[0][1] == n
    return best, [(name, h) for name, h in headers if h != best], tie


def odd_ones(
    what: str, headers: Sequence[tuple[str, K]], fmt: Callable[[K], str], limit: int = 5
) -> str | None:
    """A message naming the parts whose header differs from the majority, or None;
    ``fmt`` writes a header (e.g. "64×80 uint8")."""
    best, odd, tie = majority(headers)
    if not odd:
        return None
    others = len(headers) - len(odd)
    named = ", ".join(f"{name} is {fmt(h)}" for name, h in odd[:limit])
    more = f" (and {len(odd) - limit} more)" if len(odd) > limit else ""
    if tie:
        return (
            f"{named}{more} but the other {others} {what} are {fmt(best)}: as many "
            "differ as agree, so check which is right"
        )
    return f"{named}{more} but the other {others} {what} are {fmt(best)}"


__all__ = ["majority", "odd_ones"]
