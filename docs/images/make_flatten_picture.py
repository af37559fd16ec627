"""Draw docs/images/flatten-layer.png: a synthetic scroll-like volume, a wavy papyrus sheet
with "ink" letters on it, flattened by ``ngffkit.flatten``; the picture shows a z slice of
the volume, the surface's middle layer and a max composite.

    python docs/images/make_flatten_picture.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "src"))

import ngffkit  # noqa: E402
from ngffkit.spec import pyramid_spec  # noqa: E402
from ngffkit.writer import create_image, finish_image  # noqa: E402

Z, Y, X = 160, 320, 160


def sheet_x(y: np.ndarray) -> np.ndarray:
    return 70 + 18 * np.sin(y / 40.0)


def main() -> None:
    rng = np.random.default_rng(4)
    ink = Image.new("L", (Y, Z), 0)  # the sheet unrolled: columns y, rows z
    draw = ImageDraw.Draw(ink)
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", 64)
    except OSError:
        font = ImageFont.load_default()
    draw.text((30, 45), "ΝΓΦΦ", fill=255, font=font)
    ink_yz = np.asarray(ink, np.float64).T / 255.0  # (y, z)
    tmp = Path(tempfile.mkdtemp())
    spec = pyramid_spec((Z, Y, X), "uint8", voxel_size=7.91, unit="micrometer", levels=1, chunks=64)
    image = create_image(tmp / "scroll.ome.zarr", spec)
    y = np.arange(Y)[:, None]
    x = np.arange(X)[None, :]
    dist = x - sheet_x(y)
    fibres = 0.8 + 0.2 * np.sin(y / 2.5)[:, :]
    vol = np.empty((Z, Y, X), np.uint8)
    for z in range(Z):
        sheet = np.exp(-((dist / 4.0) ** 2)) * fibres
        papyrus = 120 * sheet * (1 - 0.55 * ink_yz[:, z][:, None] * (np.abs(dist) < 3))
        back = 40 * np.exp(-(((dist - 45) / 5.0) ** 2))  # the next wrap of the scroll
        vol[z] = np.clip(papyrus + back + 20 + rng.normal(0, 8, (Y, X)), 0, 255)
    image.levels[0].write(vol)
    finish_image(tmp / "scroll.ome.zarr", spec)
    # The surface: rows along z, columns along the sheet; the normal points to +x.
    rows, cols = np.meshgrid(np.arange(Z - 20) + 10, np.arange(Y), indexing="ij")
    rec = np.zeros((Z - 20, Y, 6))
    rec[..., 0] = sheet_x(cols)
    rec[..., 1] = cols
    rec[..., 2] = rows
    slope = 18 / 40.0 * np.cos(cols / 40.0)
    rec[..., 3], rec[..., 4] = 1.0, -slope
    with (tmp / "seg.ppm").open("wb") as f:
        f.write(
            f"width: {Y}\nheight: {Z - 20}\ndim: 6\nordered: true\ntype: double\n"
            "version: 1\n<>\n".encode()
        )
        f.write(rec.astype("<f8").tobytes())
    ngffkit.flatten(
        tmp / "seg.ppm",
        tmp / "scroll.ome.zarr",
        tmp / "layers",
        layers=65,
        composite="max",
        composite_layers=5,
    )
    import tifffile

    mid = tifffile.imread(tmp / "layers" / "32.tif")
    comp = tifffile.imread(tmp / "layers" / "composite.tif")
    side = vol[Z // 2].T  # (x, y): the sheet's cross-section
    panels = [
        ("z slice of the volume", side),
        ("layer 32 (the surface)", mid),
        ("max of layers 30-34", comp),
    ]
    width = sum(p.shape[1] for _, p in panels) + 20 * (len(panels) + 1)
    height = max(p.shape[0] for _, p in panels) + 50
    canvas = Image.new("L", (width, height), 255)
    pen = ImageDraw.Draw(canvas)
    at = 20
    for title, panel in panels:
        canvas.paste(Image.fromarray(panel.astype(np.uint8)), (at, 40))
        pen.text((at, 12), title, fill=0)
        at += panel.shape[1] + 20
    canvas.save(HERE / "flatten-layer.png", optimize=True)
    print(HERE / "flatten-layer.png")


if __name__ == "__main__":
    main()
