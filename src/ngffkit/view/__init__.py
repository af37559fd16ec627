"""``ngff view``: Neuroglancer on OME-Zarr data in one command.

:mod:`ngffkit.view.state` builds the viewer state (pure, from image descriptions);
:mod:`ngffkit.view.viewer` starts the data server and the Neuroglancer viewer. Importing this
package starts nothing and does not import neuroglancer.
"""

from __future__ import annotations

from ngffkit.view.state import LAYOUTS, ViewImage, build_state, describe_image
from ngffkit.view.viewer import ViewSession, start_view

__all__ = ["LAYOUTS", "ViewImage", "ViewSession", "build_state", "describe_image", "start_view"]
