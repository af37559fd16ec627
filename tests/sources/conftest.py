"""Fixtures for the source tests: small real inputs written into tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from source_helpers import SHAPE, random_volume, write_tiff_stack


@pytest.fixture
def tiff_stack(tmp_path: Path) -> Callable[..., tuple[Path, np.ndarray]]:
    """Factory: write a random TIFF stack, return (folder, volume)."""

    def make(dtype: Any = np.uint16, shape: tuple[int, ...] = SHAPE, **kwargs: Any):
        vol = random_volume(shape, dtype)
        folder = tmp_path / "stack"
        write_tiff_stack(folder, vol, **kwargs)
        return folder, vol

    return make
