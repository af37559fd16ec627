"""Test images shared by the fixtures of several test folders."""

from __future__ import annotations

from typing import Any

from ngffkit.metadata import ImageLabel
from ngffkit.spec import ImageSpec, pyramid_spec

#: The two-colour label image "cells" the fixtures write beside their images.
CELL_COLORS = [
    {"label-value": 1, "rgba": [255, 0, 0, 255]},
    {"label-value": 2, "rgba": [0, 255, 0, 255]},
]


def cells_label_spec(shape: Any, dtype: Any, **pyramid: Any) -> ImageSpec:
    """The spec of a label image "cells" (nearest downsampling, two colours) whose source
    is the image two folders up; ``pyramid`` goes to :func:`pyramid_spec`."""
    spec = pyramid_spec(shape, dtype, name="cells", method="nearest", **pyramid)
    label = ImageLabel.model_validate({"colors": CELL_COLORS, "source": {"image": "../../"}})
    return spec.model_copy(update={"image_label": label})
