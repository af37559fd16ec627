"""Start everything ``ngff view`` needs: the data server (or proxy) and a Neuroglancer viewer.

The ``neuroglancer`` package ships its built client and serves it from a tornado server in
this process (the client only works behind that server: it takes its token from the
``/v/<token>/`` path). Our data server runs beside it on another port; both bind 127.0.0.1.
Every target is mounted on one data server under its own name, local folders served from
disk and URLs proxied (credentials stay in this process).
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ngffkit._collection import Member, is_collection, open_collection
from ngffkit.errors import InputError, NgffWarning, StorageError
from ngffkit.image import open_image
from ngffkit.serve.app import create_app
from ngffkit.serve.backends import Backend, open_backend
from ngffkit.serve.discover import Dataset, discover_datasets
from ngffkit.serve.paths import is_served_name
from ngffkit.serve.proxy import MountBackend
from ngffkit.serve.runner import ServerHandle, bind_socket, start_server
from ngffkit.storage import Location, resolve
from ngffkit.view.collection import describe_member, start_settings
from ngffkit.view.state import (
    ViewImage,
    ViewLabels,
    build_state,
    describe_image,
    describe_labels,
    notes_for,
)

BIND = "127.0.0.1"


@dataclass
class ViewSession:
    """A running ``ngff view``: the viewer URL, the state it shows, and :meth:`stop`."""

    url: str
    data_server: ServerHandle
    state: dict[str, Any]
    images: list[ViewImage]
    notes: list[str] = field(default_factory=list)
    _backend: Backend | None = None
    # The neuroglancer server holds viewers weakly: the session must keep its viewer alive.
    _viewer: Any = None

    def stop(self) -> None:
        """Stop the Neuroglancer server and the data server (idempotent)."""
        import neuroglancer

        neuroglancer.stop()
        self._viewer = None
        self.data_server.stop()
        if self._backend is not None:
            asyncio.run(self._backend.aclose())
            self._backend = None

    def __enter__(self) -> ViewSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _mount_name(location: Location, taken: dict[str, Any]) -> str:
    base = location.name if is_served_name(location.name) else "data"
    name, n = base, 2
    while name in taken:
        name = f"{base}-{n}"
        n += 1
    return name


def _find_images(target: str, backend: Backend) -> list[Dataset]:
    found = asyncio.run(discover_datasets(backend))
    images = [d for d in found if d.kind == "image"]
    if not images:
        arrays = [d for d in found if d.kind == "array"]
        hint = (
            f" (found plain zarr arrays: {', '.join(d.key or '.' for d in arrays[:3])})"
            if arrays
            else ""
        )
        raise InputError(
            f"{target}: no OME-Zarr image found{hint}; give an OME-Zarr image folder or URL, "
            "or a folder that holds some (looked 3 folders deep)."
        )
    return images


def start_view(targets: Sequence[str], *, port: int = 0, layout: str = "4panel") -> ViewSession:
    """Serve ``targets`` (paths or URLs of OME-Zarr images, folders of them, or collections)
    and start a Neuroglancer viewer on them at ``http://127.0.0.1:PORT/v/<token>/``.

    A collection's members are mounted one by one (local ones served from disk, remote
    ones proxied) and shown as its layers (:mod:`ngffkit.view.collection`)."""
    if not targets:
        raise InputError("give at least one PATH or URL to view")
    # Checked first so that a busy port fails before anything is started or read.
    bind_socket(BIND, port).close()
    mounts: dict[str, Backend] = {}
    found: list[tuple[str, Location, Dataset]] = []
    members: list[tuple[str, Member]] = []
    start: tuple[dict[str, float] | None, float | None] = (None, None)
    for target in targets:
        if is_collection(target):  # every member mounted on its own, remote ones proxied
            collection = open_collection(target)
            if not found and not members:
                start = start_settings(collection)
            for member in collection.members:
                name = _mount_name(member.location, mounts)
                mounts[name] = open_backend(str(member.location.local_path or member.location.url))
                members.append((name, member))
            continue
        location = resolve(target)
        backend = open_backend(target)
        name = _mount_name(location, mounts)
        mounts[name] = backend
        found.extend((name, location, d) for d in _find_images(target, backend))
    mount = MountBackend(mounts)
    server = start_server(create_app(mount), BIND, 0)
    try:
        images = []
        for name, location, dataset in found:
            where = location.child(dataset.key) if dataset.key else location
            with warnings.catch_warnings():
                # Lenient reads are reported by `ngff validate`; here they only add noise.
                warnings.simplefilter("ignore", NgffWarning)
                image = open_image(where)
                mounted = Dataset(f"{name}/{dataset.key}".rstrip("/"), dataset.zarr_format, "image")
                source = mounted.neuroglancer_source(server.url)
                labels = [
                    describe_labels(image.label(label), f"{source}/labels/{label}", label)
                    for label in image.labels
                ]
            title = dataset.key.rpartition("/")[2] or name
            images.append(describe_image(image, source, name=title, labels=labels))
        segmentations = []
        for name, member in members:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NgffWarning)
                image = open_image(member.location)
            source = Dataset(name, image.zarr_format, "image").neuroglancer_source(server.url)
            layer = describe_member(image, source, member)
            if isinstance(layer, ViewLabels):
                segmentations.append(layer)
            else:
                images.append(layer)
        if not images:
            raise InputError(f"{', '.join(targets)}: no image to show (only label images)")
        state = build_state(
            images,
            layout=layout,
            segmentations=segmentations,
            position=start[0],
            pixel_size=start[1],
        )
        viewer = _start_neuroglancer(state, port)
    except BaseException:
        server.stop()
        raise
    return ViewSession(
        str(viewer.get_viewer_url()),
        server,
        state,
        images,
        notes_for(images, segmentations),
        mount,
        viewer,
    )


def _start_neuroglancer(state: dict[str, Any], port: int) -> Any:
    import neuroglancer

    neuroglancer.stop()  # the bind address applies only to a server started after this
    neuroglancer.set_server_bind_address(BIND, port)
    try:
        viewer = neuroglancer.Viewer()
        viewer.set_state(neuroglancer.ViewerState(state))
        return viewer
    except OSError as exc:
        raise StorageError(f"cannot start the Neuroglancer server on {BIND}:{port}: {exc}") from exc


__all__ = ["ViewSession", "start_view"]
