"""``ngff view`` in a real browser: headless Chromium opens the printed URL, the data server
answers chunk requests, and the canvas shows the data's pattern (not a blank canvas).

Each image is dark in one half and bright in the other (labels: red top, green bottom), so a
screenshot can be checked region by region. Loops are bounded; nothing is timed.
"""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from .conftest import BRIGHT, DARK, ViewProcess, write_pattern

pytestmark = pytest.mark.browser

WAIT_SECONDS = 90


def _panel_centre(page: Any) -> tuple[int, int]:
    box = page.locator(".neuroglancer-rendered-data-panel").first.bounding_box()
    assert box is not None, "no Neuroglancer data panel on the page"
    return int(box["x"] + box["width"] / 2), int(box["y"] + box["height"] / 2)


def _regions(shot: np.ndarray, centre: tuple[int, int], split: str) -> tuple[np.ndarray, ...]:
    """Pixels well inside the first and the second half of the data around ``centre``
    (away from the crosshair lines through the centre)."""
    cx, cy = centre
    near, far, across = 30, 110, 60
    if split == "x":
        first = shot[cy - across : cy + across, cx - far : cx - near]
        second = shot[cy - across : cy + across, cx + near : cx + far]
    else:
        first = shot[cy - far : cy - near, cx - across : cx + across]
        second = shot[cy + near : cy + far, cx - across : cx + across]
    return first.reshape(-1, 3).astype(float), second.reshape(-1, 3).astype(float)


def _open_and_wait(browser: Any, view: ViewProcess, check: Any) -> tuple[np.ndarray, list[str]]:
    """Open the viewer; wait for chunk responses and for ``check(shot, centre)`` to hold."""
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    requests: list[str] = []
    chunks: list[tuple[str, int]] = []
    data_path = re.compile(r"/(c/)?\d+(/\d+)+$")
    page.on("request", lambda r: requests.append(r.url))

    def on_response(response: Any) -> None:
        if response.url.startswith(view.data_url) and data_path.search(urlsplit(response.url).path):
            chunks.append((response.url, response.status))

    page.on("response", on_response)
    try:
        page.goto(view.url, timeout=60_000)
        deadline = time.monotonic() + WAIT_SECONDS
        shot = None
        while time.monotonic() < deadline:
            page.wait_for_timeout(1000)
            if not any(status in (200, 206) for _, status in chunks):
                continue
            shot = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"))
            if check(shot, _panel_centre(page)):
                return shot, requests
        if shot is not None and os.environ.get("NGFF_DEBUG_SHOT"):
            Image.fromarray(shot).save(os.environ["NGFF_DEBUG_SHOT"])
        raise AssertionError(
            f"the canvas never showed the data within {WAIT_SECONDS} s; chunk responses: "
            f"{chunks[:10]}; last screenshot mean {None if shot is None else shot.mean():.1f}"
        )
    finally:
        page.close()


def _only_loopback(requests: list[str]) -> None:
    hosts = {urlsplit(u).hostname for u in requests if urlsplit(u).scheme in ("http", "https")}
    assert hosts <= {"127.0.0.1"}, hosts


def _shown_and_stopped(browser: Any, view: ViewProcess, check: Any) -> list[str]:
    """Wait for ``check`` to hold, stop ``ngff view`` (cleanly), and return the requests
    (all to 127.0.0.1)."""
    try:
        _shot, requests = _open_and_wait(browser, view, check)
    finally:
        code, _out, err = view.stop()
    assert code == 0, err
    _only_loopback(requests)
    return requests


def _quadrant(shot: np.ndarray, centre: tuple[int, int], dx: int, dy: int) -> np.ndarray:
    """The median colour of a square well inside one quadrant around ``centre`` (``dx``,
    ``dy``: -1 left/top, 1 right/bottom), away from the crosshair lines."""
    cx, cy = centre
    near, far = 40, 100
    xs = slice(cx + near, cx + far) if dx > 0 else slice(cx - far, cx - near)
    ys = slice(cy + near, cy + far) if dy > 0 else slice(cy - far, cy - near)
    return np.median(shot[ys, xs].reshape(-1, 3).astype(float), axis=0)


def _halves(split: str, dark_first: bool = True) -> Any:
    def check(shot: np.ndarray, centre: tuple[int, int]) -> bool:
        first, second = _regions(shot, centre, split)
        dark, bright = (first, second) if dark_first else (second, first)
        # Contrast comes from percentiles: 100 → black, 3000 → white.
        return bool(np.median(dark) < 40 and np.median(bright) > 200)

    return check


def test_sharded_05_image(browser: Any, tmp_path: Path) -> None:
    write_pattern(tmp_path / "scroll.ome.zarr", version="0.5", shards=32, split="x")
    view = ViewProcess(str(tmp_path / "scroll.ome.zarr"), "--layout", "xy")
    try:
        shot, requests = _open_and_wait(browser, view, _halves("x"))
    finally:
        code, _out, err = view.stop()
    assert code == 0, err
    _only_loopback(requests)
    assert any("/scroll.ome.zarr/0/c/" in u for u in requests)  # shard reads happened
    assert shot.std() > 20  # not a blank canvas


def test_04_image(browser: Any, tmp_path: Path) -> None:
    # Split along y this time: a transposed display would fail the check.
    write_pattern(tmp_path / "old.ome.zarr", version="0.4", shards=None, split="y")
    view = ViewProcess(str(tmp_path / "old.ome.zarr"), "--layout", "xy")
    try:
        _shot, requests = _open_and_wait(browser, view, _halves("y"))
    finally:
        code, _out, err = view.stop()
    assert code == 0, err
    _only_loopback(requests)


def test_image_with_labels(browser: Any, tmp_path: Path) -> None:
    write_pattern(tmp_path / "cells.ome.zarr", version="0.5", shards=32, split="x", labels=True)
    view = ViewProcess(str(tmp_path / "cells.ome.zarr"), "--layout", "xy")
    assert "cells.ome.zarr cells" in " ".join(view.lines)  # the segmentation layer

    def check(shot: np.ndarray, centre: tuple[int, int]) -> bool:
        top, bottom = _regions(shot, centre, "y")
        # Label 1 (top) is red, label 2 (bottom) green, drawn over the grey image.
        top_rgb, bottom_rgb = np.median(top, axis=0), np.median(bottom, axis=0)
        return bool(top_rgb[0] > top_rgb[1] + 40 and bottom_rgb[1] > bottom_rgb[0] + 40)

    requests = _shown_and_stopped(browser, view, check)
    assert any("/labels/cells/" in u for u in requests)


def test_two_channels_in_their_omero_colours(browser: Any, tmp_path: Path) -> None:
    # Converted the user's way, so the omero block (red, green; windows from percentiles) is
    # what ngff convert writes. Channel 0 is bright on the right half, channel 1 on the
    # bottom half: additive blending gives black, red, green and yellow quadrants.
    import tifffile

    import ngffkit

    data = np.full((2, 16, 64, 64), DARK, dtype=np.uint16)
    data[0, :, :, 32:] = BRIGHT
    data[1, :, 32:, :] = BRIGHT
    src = tmp_path / "two.ome.tif"
    tifffile.imwrite(src, data.transpose(1, 0, 2, 3), ome=True, metadata={"axes": "ZCYX"})
    out = tmp_path / "two.ome.zarr"
    ngffkit.convert(src, out, voxel_size=0.5, unit="micrometer", levels=2, chunks=16)
    assert [c.color for c in ngffkit.open(out).omero.channels] == ["FF0000", "00FF00"]  # type: ignore[union-attr]
    view = ViewProcess(str(out), "--layout", "xy")

    def check(shot: np.ndarray, centre: tuple[int, int]) -> bool:
        black, red, green, yellow = (
            _quadrant(shot, centre, dx, dy) for dx, dy in ((-1, -1), (1, -1), (-1, 1), (1, 1))
        )
        return bool(
            black.max() < 60
            and red[0] > 180 and red[1] < 60 and red[2] < 60
            and green[1] > 180 and green[0] < 60 and green[2] < 60
            and yellow[0] > 180 and yellow[1] > 180 and yellow[2] < 60
        )  # fmt: skip

    _shown_and_stopped(browser, view, check)


def test_webknossos_layer_shows_the_xy_plane(
    browser: Any, tmp_path: Path, write_wk_layer: Any
) -> None:
    # A WEBKNOSSOS layer stores c,x,y,z, padded to whole shards: the xy panel must show x
    # across (dark left, bright right), centred on the data rather than on the padding.
    zyx = np.full((20, 50, 60), 10, dtype=np.uint8)
    zyx[:, :, 30:] = 250
    write_wk_layer(tmp_path / "ds", zyx)
    view = ViewProcess(str(tmp_path / "ds" / "color"), "--layout", "xy")
    _shown_and_stopped(browser, view, _halves("x"))


def test_labels_added_with_ngff_labels_add_show_their_colours(browser: Any, tmp_path: Path) -> None:
    import tifffile

    from _support import cli

    image = tmp_path / "added.ome.zarr"
    write_pattern(image, version="0.4", shards=None, split="x")
    seg = np.ones((16, 64, 64), np.int32)
    seg[:, 32:] = 2  # label 1 on top, 2 at the bottom
    (tmp_path / "seg").mkdir()
    for z, plane in enumerate(seg):
        tifffile.imwrite(tmp_path / "seg" / f"{z:02d}.tif", plane)
    # yellow on top and blue at the bottom: neither is the grey image's colour
    (tmp_path / "colors.csv").write_text("1,255,255,0\n2,0,0,255\n")
    code, _out, err = cli(
        "labels",
        "add",
        image,
        tmp_path / "seg",
        "--name",
        "cells",
        "--colors",
        tmp_path / "colors.csv",
        "-q",
    )
    assert code == 0, err
    view = ViewProcess(str(image), "--layout", "xy")
    assert "added.ome.zarr cells" in " ".join(view.lines)

    def check(shot: np.ndarray, centre: tuple[int, int]) -> bool:
        top, bottom = _regions(shot, centre, "y")
        top_rgb, bottom_rgb = np.median(top, axis=0), np.median(bottom, axis=0)
        yellow = top_rgb[0] > top_rgb[2] + 40 and top_rgb[1] > top_rgb[2] + 40
        blue = bottom_rgb[2] > bottom_rgb[0] + 40 and bottom_rgb[2] > bottom_rgb[1] + 40
        return bool(yellow and blue)

    try:
        _shot, requests = _open_and_wait(browser, view, check)
    finally:
        code, _out, err = view.stop()
    assert code == 0, err
    _only_loopback(requests)
    assert any("/labels/cells/" in u for u in requests)


def _collection_of_three(folder: Path) -> None:
    """In ``folder`` (the current folder: members are given as users type them, relative
    paths), ``study.zarr``: ``cells`` (dark left, bright right) in blue, inverted, window 100:3000;
    ``seg``, its labels (1 red on top, 2 green at the bottom); ``em`` (dark top, bright
    bottom) in yellow but disabled."""
    from ngffkit.collection_edit import add_to_collection, create_collection

    write_pattern(folder / "cells.ome.zarr", version="0.5", shards=32, split="x", labels=True)
    write_pattern(folder / "em.ome.zarr", version="0.4", shards=None, split="y")
    study = folder / "study.zarr"
    create_collection(study, [], name="study")
    add_to_collection(
        study,
        "cells.ome.zarr",
        display={"color": "0000FF", "inverted": True, "window": (DARK, BRIGHT)},
    )
    add_to_collection(study, "cells.ome.zarr/labels/cells", name="seg")
    add_to_collection(study, "em.ome.zarr", display={"color": "FFFF00", "disabled": True})


def _collection_colours(shot: np.ndarray, centre: tuple[int, int]) -> bool:
    """Inverted blue cells (bright on the left) under red (top) and green (bottom) labels;
    the disabled yellow image nowhere (it would add red to the bottom half)."""

    def rgb(dx: int, dy: int) -> np.ndarray:
        return _quadrant(shot, centre, dx, dy)

    (r1, g1, b1), (r2, g2, b2) = rgb(-1, -1), rgb(1, -1)
    (r3, g3, b3), (r4, g4, b4) = rgb(-1, 1), rgb(1, 1)
    return bool(
        r1 > g1 + 40 and b1 > g1 + 40        # top left: blue + red
        and r2 > g2 + 40 and r2 > b2 + 40    # top right: black + red
        and g3 > r3 + 40 and b3 > r3 + 40    # bottom left: blue + green
        and g4 > r4 + 40 and g4 > b4 + 40    # bottom right: black + green
    )  # fmt: skip


def test_a_collection_shows_its_members_with_their_settings(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _collection_of_three(tmp_path)
    view = ViewProcess(str(tmp_path / "study.zarr"), "--layout", "xy")
    assert "Layers: cells, em, seg" in view.lines
    requests = _shown_and_stopped(browser, view, _collection_colours)
    assert any("/cells/" in u and "/c/" in u for u in requests)  # the labels' chunks


def test_a_collection_served_over_http_shows_the_same(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ngffkit.serve import FileBackend, create_app, start_server

    monkeypatch.chdir(tmp_path)
    _collection_of_three(tmp_path)
    with start_server(create_app(FileBackend(tmp_path))) as remote:
        view = ViewProcess(f"{remote.url}/study.zarr", "--layout", "xy")
        assert "Layers: cells, em, seg" in view.lines
        _shown_and_stopped(browser, view, _collection_colours)
