"""The ``ngff`` Typer application.

Each command lives in its own module under ``ngffkit.cli`` and exposes ``register(app)``.
Only this package prints; the library raises :class:`~ngffkit.errors.NgffkitError` and the
:func:`main` wrapper turns those into ``Error: ...`` lines and an exit status, never a
traceback for a user's mistake.
"""

from __future__ import annotations

import importlib
import sys

import typer

from ngffkit.cli._common import run_app

# Order is the order in `ngff --help`.
COMMAND_MODULES: tuple[str, ...] = (
    "convert",
    "downsample",
    "compress",
    "info",
    "validate",
    "serve",
    "view",
    "flatten",
    "decompress_tiffs",
    "demo",
)

app = typer.Typer(
    name="ngff",
    help=(
        "Turn image volumes into multi-resolution OME-Zarr and make them streamable.\n\n"
        "Triples on the command line (--voxel-size, --ranges, offsets) are x,y,z; "
        "the Python API uses array order (z,y,x)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"ngffkit.cli.{name}")
        except ModuleNotFoundError as exc:
            # A command whose module is not written yet is simply absent.
            if exc.name == f"ngffkit.cli.{name}":
                continue
            raise
        module.register(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    sys.exit(run_app(app))
