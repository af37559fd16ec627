"""``ngff demo``: the built-in sample, end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ngffkit.cli._common import err_console, out_console
from ngffkit.cli.info import render
from ngffkit.cli.options import parse_xyz_shape


def demo(
    folder: Annotated[
        Path, typer.Argument(help="Folder to write the sample stack and image into.")
    ] = Path("ngff-demo"),
    shape: Annotated[
        str, typer.Option(help="Stack size as X,Y,Z (x,y,z order, like every CLI triple).")
    ] = "256,256,64",
    dtype: Annotated[str, typer.Option(help="uint8 or uint16.")] = "uint16",
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier demo in FOLDER.")] = False,
) -> None:
    """Generate a small scroll-like TIFF stack, convert it to a multiscale OME-Zarr image and
    show `ngff info` of it."""
    from ngffkit.demo import run_demo
    from ngffkit.info import describe

    zyx = parse_xyz_shape("--shape", shape)
    if dtype not in ("uint8", "uint16"):
        raise typer.BadParameter("choose uint8 or uint16", param_hint="--dtype")
    err_console.print(f"Writing a {'×'.join(map(str, zyx[::-1]))} (x×y×z) {dtype} stack ...")
    result = run_demo(folder, zyx, dtype, overwrite=overwrite)
    out_console.print(f"stack: {result.stack} ({result.slices} slices)")
    out_console.print(render(describe(result.image.location)))
    out_console.print(
        f"\nNext: ngff validate {result.image.location.local_path}\n"
        f"      python -c \"import ngffkit; print(ngffkit.open('{result.image.location.local_path}'))\""
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
