"""``ngff info URL``: a readable tree of an OME-Zarr image (``--json`` for scripts)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ngffkit.cli._common import out_console

if TYPE_CHECKING:
    from rich.tree import Tree


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def _shape(values: list[int] | None) -> str:
    return "×".join(str(v) for v in values) if values else "-"


def render(data: dict[str, Any]) -> Tree:
    """The info tree as rich renderables."""
    from rich.table import Table
    from rich.tree import Tree

    tree = Tree(f"[bold]{data['url']}[/bold]")
    if data["status"] == "partial":
        tree.add(f"[yellow]PARTIAL[/yellow]: {data['message']}")
        tree.add(f"format: {data['format']}  started: {data.get('started')}")
        tree.add(f"stored so far: {_size(data.get('stored_bytes'))}")
        planned = tree.add("planned levels")
        for lv in data["levels"]:
            planned.add(f"{lv['path']}: shape {_shape(lv['shape'])}")
        return tree
    head = f"format: {data['format']}"
    if data.get("name"):
        head += f"   name: {data['name']}"
    if data.get("method"):
        head += f"   method: {data['method']}"
    tree.add(head)
    axes = ", ".join(
        f"{a['name']} ({a.get('type', '?')}{', ' + a['unit'] if a.get('unit') else ''})"
        for a in data["axes"]
    )
    tree.add(f"axes: {axes}")
    units = {a["name"]: a.get("unit") for a in data["axes"]}
    voxel = ", ".join(
        f"{k} {v:g}{' ' + units[k] if units.get(k) else ''}" for k, v in data["voxel_size"].items()
    )
    tree.add(f"voxel size: {voxel or '-'}")
    origin = data.get("origin") or {}
    if any(origin.values()):
        tree.add(
            "origin (level 0 translation): "
            + ", ".join(
                f"{k} {v:g}{' ' + units[k] if units.get(k) else ''}" for k, v in origin.items()
            )
        )
    if data.get("input_axes"):
        tree.add(f"input axes: {data['input_axes']}")
    cast = data.get("cast")
    if isinstance(cast, dict):
        lo, hi = cast.get("window", ("?", "?"))
        tree.add(
            f"cast: {cast.get('from')} -> {cast.get('to')}, window {lo}:{hi} "
            f"({cast.get('window_source')})"
        )
    tree.add(f"dtype: {data['dtype']}")
    table = Table(show_edge=False, pad_edge=False, box=None)
    for column in ("level", "shape", "chunks", "shards", "compression", "size", "stored", "ratio"):
        table.add_column(
            column, justify="right" if column in ("size", "stored", "ratio") else "left"
        )
    for lv in data["levels"]:
        table.add_row(
            lv["path"],
            _shape(lv["shape"]),
            _shape(lv["chunks"]),
            _shape(lv["shards"]),
            lv["compression"],
            _size(lv["bytes"]),
            _size(lv["stored_bytes"]),
            f"{lv['ratio']:.2f}×" if lv["ratio"] else "-",
        )
    levels = tree.add(
        f"levels ({len(data['levels'])}): {_size(data['total_bytes'])}, "
        f"stored {_size(data['stored_bytes'])}"
    )
    levels.add(table)
    if data["labels"]:
        labels = tree.add(f"labels ({len(data['labels'])})")
        for label in data["labels"]:
            if "error" in label:
                labels.add(f"{label['name']}: [red]{label['error']}[/red]")
            else:
                labels.add(
                    f"{label['name']}: {label['levels']} levels, {label['dtype']}, "
                    f"shape {_shape(label['shape'])}{_label_values(label)}"
                )
    else:
        tree.add("labels: none")
    if data["channels"]:
        tree.add("channels: " + ", ".join(str(c) for c in data["channels"]))
    for note in data["notes"]:
        tree.add(f"[yellow]note[/yellow]: {note}")
    return tree


def info(
    url: Annotated[str, typer.Argument(help="Path or URL of an OME-Zarr image (or a collection).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show an OME-Zarr image: format, axes, voxel size, levels (shape, chunks, shards,
    codecs, stored size, compression ratio), labels. A partial dataset is reported as such;
    a collection (the RFC-8 draft) as its tree of members."""
    # Imported here, not above: `ngff --help` and the other commands load this module too.
    from ngffkit.info import describe

    data = describe(url)
    if as_json:
        out_console.print_json(json.dumps(data, default=str))
    elif data.get("kind") == "collection":
        from ngffkit.cli.collection import render as render_collection

        out_console.print(render_collection(data))
    else:
        out_console.print(render(data))


def _label_values(label: dict[str, Any]) -> str:
    values = label.get("values")
    text = ""
    if values:
        count = values.get("count")
        text = f", values {values['min']}..{values['max']}" + (
            f" ({count} distinct)" if count is not None else ""
        )
    if label.get("colors"):
        text += f", {label['colors']} colours"
    return text


def register(app: typer.Typer) -> None:
    app.command("info")(info)
