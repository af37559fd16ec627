"""The cast rule: when a change of dtype may change values, and how a window maps them.

One rule for the library and the CLI, decided here and nowhere else:

* **Same dtype**: nothing happens.
* **Value-preserving cast** (numpy's ``can_cast(..., "safe")``: uint8 → uint16, uint16 →
  int32, any integer of up to 16 bits → float32, anything → float64 that fits): every
  input value is stored unchanged. A window is not needed; given one, it rescales.
* **Any other cast** (narrowing, float → int, signed → unsigned, int32 → float32) would
  change values, so it needs a window: the input values ``lo..hi`` mapped linearly onto the
  output dtype's range (integers) or onto 0..1 (floats), clipped outside. ``"auto"`` picks
  the window from a sample of the input; the window used is then reported and recorded in
  the image metadata (:func:`cast_record`), so the cast can be repeated and inverted.

Pure: no I/O here. The planner calls :func:`check_cast`; the pipeline calls :func:`cast`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ngffkit.errors import OptionError


def keeps_values(source: np.dtype[Any] | str, target: np.dtype[Any] | str) -> bool:
    """Whether every value of ``source`` is stored unchanged as ``target``."""
    return bool(np.can_cast(np.dtype(source), np.dtype(target), casting="safe"))


def check_cast(
    source: np.dtype[Any] | str,
    target: np.dtype[Any] | str,
    window: tuple[float, float] | None,
) -> tuple[float, float] | None:
    """The window the cast ``source`` → ``target`` will use (``None``: values kept as they are).

    Raises :class:`~ngffkit.errors.OptionError` (naming ``window``) when the cast would change
    values and no window says how.
    """
    src, dst = np.dtype(source), np.dtype(target)
    if src == dst:
        return None
    if window is not None:
        lo, hi = (float(v) for v in window)
        if not hi > lo:
            raise OptionError(
                "window", f"{lo:g}:{hi:g}: the upper end must be greater than the lower"
            )
        return (lo, hi)
    if keeps_values(src, dst):
        return None
    raise OptionError(
        "window",
        f"converting {src} to {dst} would change values ({_why(src, dst)}); give a window "
        f"LO:HI of {src} values to map linearly onto {_range(dst)}, or auto to measure one "
        "from the input (it is recorded in the metadata)",
    )


def _why(src: np.dtype[Any], dst: np.dtype[Any]) -> str:
    if src.kind == "f" and dst.kind in "iu":
        return "fractions and out-of-range values are lost"
    if src.kind == "i" and dst.kind == "u":
        return "negative values do not fit"
    if dst.kind == "f":
        return f"{dst} cannot hold every {src} value exactly"
    return f"{dst} holds fewer values than {src}"


def _range(dtype: np.dtype[Any]) -> str:
    if dtype.kind == "f":
        return "0..1"
    info = np.iinfo(dtype)
    return f"{info.min}..{info.max}"


def cast(data: np.ndarray, window: tuple[float, float] | None, dtype: np.dtype[Any]) -> np.ndarray:
    """Map ``window`` (input values) linearly onto ``dtype``'s range, clipping outside.

    Without a window the values are kept (the planner allows that only for value-preserving
    casts, :func:`check_cast`).
    """
    if data.dtype == dtype:
        return data
    if window is None:
        return data.astype(dtype)
    lo, hi = window
    span = float(hi - lo) or 1.0
    # float32 holds every value of 16-bit integers exactly and halves the temporary
    work = np.dtype(np.float32 if data.dtype.itemsize <= 2 and dtype.itemsize <= 2 else np.float64)
    values: np.ndarray[Any, np.dtype[np.floating[Any]]] = data.astype(work)
    values -= lo
    if dtype.kind == "f":
        values /= span
        return values.astype(dtype)
    info = np.iinfo(dtype)
    top = float(info.max) - float(info.min)
    values *= top / span
    values += 0.5
    np.clip(values, 0.0, top, out=values)
    np.floor(values, out=values)
    values += float(info.min)
    return values.astype(dtype)


def cast_record(
    source: np.dtype[Any] | str,
    target: np.dtype[Any] | str,
    window: tuple[float, float] | None,
    *,
    auto: bool,
) -> dict[str, Any] | None:
    """What the image metadata records of a cast: enough to repeat it and to invert it
    (``input = lo + stored / (max - min of the output) * (hi - lo)``)."""
    if window is None:
        return None
    dst = np.dtype(target)
    out = (0.0, 1.0) if dst.kind == "f" else (float(np.iinfo(dst).min), float(np.iinfo(dst).max))
    return {
        "from": np.dtype(source).name,
        "to": dst.name,
        "window": [window[0], window[1]],
        "onto": [out[0], out[1]],
        "window_source": "auto" if auto else "given",
    }


__all__ = ["cast", "cast_record", "check_cast", "keeps_values"]
