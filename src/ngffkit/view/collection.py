"""A collection (the RFC-8 draft) as Neuroglancer layers.

Each member is one layer: an image with its ``ngffkit:display`` settings applied over what
:func:`~ngffkit.view.state.describe_image` finds (window, colour, inverted, disabled), a
label image (a node with a ``labels`` reference, or an image with ``image-label``) as a
segmentation layer in its ``labelAttributes`` colours. A member WEBKNOSSOS marks
``is_disabled`` (its ``webknossos:rendering``, as in the draft's example) starts hidden too.
The root's ``ngffkit:view`` gives the starting position and zoom.
"""

from __future__ import annotations

from dataclasses import replace

from ngffkit._collection import Collection, Member
from ngffkit.collection import display_of, view_of
from ngffkit.image import Image
from ngffkit.view.state import ViewImage, ViewLabels, describe_image, describe_labels


def is_labels(image: Image, member: Member) -> bool:
    """Whether a member is shown as a segmentation: it labels another member, or it is an
    OME label image."""
    return "labels" in member.node.attributes or image.image_label is not None


def _label_colors(member: Member) -> dict[int, str]:
    labels = member.node.attributes.get("labels")
    found = labels.get("labelAttributes") if isinstance(labels, dict) else None
    colors: dict[int, str] = {}
    for entry in found if isinstance(found, list) else ():
        value, color = entry.get("labelValue"), entry.get("color")
        whole = isinstance(value, int | float) and float(value).is_integer()
        rgb = color[:3] if isinstance(color, list) else []
        if whole and len(rgb) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in rgb):
            colors[int(value)] = "#{:02x}{:02x}{:02x}".format(*rgb)
    return colors


def describe_member(image: Image, source: str, member: Member) -> ViewImage | ViewLabels:
    """The layer of one member (see the module's doc)."""
    display = display_of(member.node)
    # WEBKNOSSOS's own key in the draft's example says the same of a layer
    wk = member.node.attributes.get("webknossos:rendering")
    hidden = (display is not None and display.disabled) or (
        isinstance(wk, dict) and wk.get("is_disabled") is True
    )
    if is_labels(image, member):
        labels = describe_labels(image, source, member.name)
        colors = _label_colors(member) or labels.colors
        return replace(labels, colors=colors, visible=not hidden)
    view = describe_image(image, source, name=member.name)
    if display is None:
        channels = tuple(replace(c, visible=c.visible and not hidden) for c in view.channels)
        return replace(view, channels=channels)
    channels = tuple(
        replace(
            channel,
            contrast=display.window if display.window is not None else channel.contrast,
            color=f"#{display.color.lower()}"
            if display.color is not None and len(view.channels) == 1
            else channel.color,
            visible=channel.visible and not hidden,
            inverted=display.inverted,
        )
        for channel in view.channels
    )
    return replace(view, channels=channels)


def start_settings(collection: Collection) -> tuple[dict[str, float] | None, float | None]:
    """(position, pixel size) from the root's ``ngffkit:view``, each None when not given."""
    settings = view_of(collection.root)
    if settings is None:
        return None, None
    return settings.position, settings.pixel_size


__all__ = ["describe_member", "is_labels", "start_settings"]
