"""``ngff convert WK_DATASET OUT``: the WEBKNOSSOS branch of ``convert`` (see
``ngffkit.wk_import``). The library is imported inside the functions, as in every command
module, so that ``ngff --help`` loads none of it."""

from __future__ import annotations

import time
from typing import Any

import typer

from ngffkit.cli._work import notice_printer, partial_on_interrupt, peak_rss, say


def is_webknossos_dataset(path: str) -> bool:
    """Whether ``path`` is a WEBKNOSSOS dataset folder (it holds datasource-properties.json)."""
    from ngffkit.errors import NgffkitError
    from ngffkit.storage import resolve
    from ngffkit.webknossos import is_dataset

    try:
        return is_dataset(resolve(path))
    except (NgffkitError, OSError, ValueError):
        return False


def convert_dataset(
    dataset: str,
    output: str,
    options: dict[str, Any],
    *,
    refused: dict[str, bool],
    quiet: bool,
    webknossos: bool = False,
) -> None:
    """Convert the dataset (``options``: :func:`~ngffkit.wk_import.convert_webknossos`'s),
    one line per image written; ``refused``: the options of ``convert`` given that this
    kind of input does not take (named in the error)."""
    given = [flag for flag, on in refused.items() if on]
    if given:
        raise typer.BadParameter(
            f"not for a WEBKNOSSOS dataset: {', '.join(given)} (its voxel size, region and "
            "levels come from its datasource-properties.json)",
            param_hint="INPUT",
        )
    from ngffkit.wk_import import convert_webknossos

    notice = notice_printer(quiet)
    started = time.perf_counter()
    with partial_on_interrupt(output):  # says how to --resume
        images = convert_webknossos(
            dataset,
            output,
            progress=lambda step: notice(f"writing {step}") or None,
            notice=notice,
            **options,
        )
    seconds = time.perf_counter() - started
    for image in images:
        labels = f", labels: {', '.join(image.labels)}" if image.labels else ""
        say(f"image: {image.location.display()} ({len(image.levels)} levels{labels})", quiet)
    say(
        f"done: {len(images)} image(s) from {dataset} in {seconds:.1f} s, "
        f"peak memory {peak_rss() / 2**20:.0f} MiB",
        quiet,
    )
    if webknossos:
        from ngffkit.cli.webknossos_properties import write_for

        for image in images:
            write_for(image.url, quiet)


__all__ = ["convert_dataset", "is_webknossos_dataset"]
