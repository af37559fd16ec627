"""``Voxel(x=, y=, z=)``: a voxel size that cannot be given in the wrong order.

The one rule for voxel sizes (and every per-axis value) in the Python API: **name the
axes** — ``Voxel(x=11.24, y=11.24, z=25)`` or ``{"x": 11.24, "y": 11.24, "z": 25}``. A
bare sequence is read in array order (z, y, x), as numpy indexes the data; the CLI's
triples are x,y,z because that is how the field writes them. A ``Voxel`` is a mapping, so
it is accepted wherever a voxel size is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Voxel(Mapping[str, float]):
    """A voxel size by axis name; axes left out are not given (the input's, or 1).

    Attributes:
        x: the size along x (a positive number), or None.
        y: the size along y, or None.
        z: the size along z, or None.
    """

    x: float | None = None
    y: float | None = None
    z: float | None = None

    def __post_init__(self) -> None:
        for name in ("x", "y", "z"):
            value = getattr(self, name)
            if value is not None:
                number = float(value)
                if not number > 0:
                    raise ValueError(f"voxel size {name}={value!r} must be a positive number")
                object.__setattr__(self, name, number)

    def __getitem__(self, key: str) -> float:
        value = getattr(self, key, None) if key in ("x", "y", "z") else None
        if value is None:
            raise KeyError(key)
        return float(value)

    def __iter__(self) -> Iterator[str]:
        # array order, as the image's axes are
        return (n for n in ("z", "y", "x") if getattr(self, n) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @classmethod
    def of(cls, value: float | Mapping[str, float]) -> Voxel:
        """One number (isotropic) or a mapping by axis name."""
        if isinstance(value, Mapping):
            unknown = set(value) - {"x", "y", "z"}
            if unknown:
                raise ValueError(f"voxel size names {sorted(unknown)}; use x, y, z")
            return cls(**{k: float(v) for k, v in value.items()})
        return cls(x=value, y=value, z=value)


def missing_voxel_note(space: Sequence[str], voxel: Mapping[str, float], unit: str | None) -> str:
    """What is written when the voxel size or unit is neither given nor in the input."""
    sizes = " × ".join(f"{n} {float(voxel.get(n, 1.0)):g}" for n in space)
    missing = [n for n in space if n not in voxel]
    size_gone = "voxel size" + (f" for {','.join(missing)}" if len(missing) < len(space) else "")
    lacking = [w for w, gone in ((size_gone, bool(missing)), ("unit", unit is None)) if gone]
    return (
        f"no {' or '.join(lacking)} was given or found in the input: the image says its "
        f"voxels are {sizes}{' ' + unit if unit else ' with no unit'}"
        + (", which strict validation flags" if unit is None else "")
        + ". Give the voxel size and unit to record the real ones."
    )


__all__ = ["Voxel", "missing_voxel_note"]
