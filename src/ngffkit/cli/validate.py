"""``ngff validate URL``: spec and array checks; exit 0 valid, 1 invalid, 2 unreadable."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ngffkit.cli._common import EXIT_ERROR, cli_message, err_console, out_console
from ngffkit.errors import NgffkitError

EXIT_UNREADABLE = 2


def validate(
    url: Annotated[str, typer.Argument(help="Path or URL of an OME-Zarr image (or a collection).")],
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as problems.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    data: Annotated[
        bool,
        typer.Option(
            "--data",
            help="Also read and decode every stored chunk or shard of every level "
            "(labels too) and name each that fails; reads the whole image.",
        ),
    ] = False,
    webknossos: Annotated[
        bool,
        typer.Option(
            "--webknossos",
            help="Also warn of what keeps WEBKNOSSOS from opening the image (done anyway for "
            "an image with a webknossos/ dataset folder).",
        ),
    ] = False,
) -> None:
    """Check an OME-Zarr image against the spec (JSON schemas, ome-zarr-models) and its
    arrays against the metadata; with --data, every chunk's bytes too. A collection (the
    RFC-8 draft) is checked against the draft's rules, and each member as an image.
    Exit status: 0 valid, 1 invalid, 2 unreadable."""
    # Imported here, not above: `ngff --help` and the other commands load this module too.
    from ngffkit._validate import validate_with_models
    from ngffkit.cli._work import progress_bar

    try:
        with progress_bar("checking data", as_json) as progress:
            report = validate_with_models(
                url,
                strict=strict,
                data=data,
                webknossos=webknossos,
                progress=progress if data else None,
            )
    except NgffkitError as exc:
        err_console.print(f"Error: {cli_message(exc)}", markup=False)
        raise typer.Exit(EXIT_UNREADABLE) from None
    if as_json:
        out_console.print_json(json.dumps(report.as_dict()))
    else:
        for problem in report.problems:
            out_console.print(f"✗ {problem}", markup=False)
        for warning in report.warnings:
            out_console.print(f"! {warning}", markup=False)
        what = " ".join(part for part in ("OME-Zarr", report.version, report.kind) if part)
        if report.kind == "collection":
            what += " (RFC-8 draft)"
        if report.valid:
            extra = f" ({len(report.warnings)} warnings)" if report.warnings else ""
            if report.data_checked:
                extra += "; every stored chunk read and decoded"
            out_console.print(f"valid: {report.url} is a valid {what}{extra}", markup=False)
        else:
            state = "partial and " if report.partial else ""
            out_console.print(
                f"invalid: {report.url} is {state}not a valid {what}: "
                f"{len(report.problems)} problem(s)",
                markup=False,
            )
    if not report.valid:
        raise typer.Exit(EXIT_ERROR)


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
