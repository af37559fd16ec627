"""The ``ngff`` Typer application.

Each command lives in its own module under ``ngffkit.cli`` and exposes ``register(app)``.
Only this package prints; the library raises :class:`~ngffkit.errors.NgffkitError` and the
:func:`main` wrapper turns those into ``Error: ...`` lines and an exit status, never a
traceback for a user's mistake.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from ngffkit.cli._common import long_lived, run_app

# Order is the order in `ngff --help`.
COMMAND_MODULES: tuple[str, ...] = (
    "convert",
    "labels",
    "collection",
    "downsample",
    "compress",
    "info",
    "validate",
    "serve",
    "view",
    "flatten",
    "decompress_tiffs",
    "demo",
    "webknossos_properties",
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
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from ngffkit import __version__

        print(f"ngff (ngffkit) {__version__}")
        raise typer.Exit()


@app.callback()
def _group(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    # A callback keeps ``ngff`` a command group even when only one command is registered.
    pass


class Command(TyperCommand):
    """A command whose usage line names its arguments as Unix tools do: ``INPUT OUTPUT``,
    ``[FOLDER]``, ``PATH|URL...`` (Typer 0.29 writes required ones as ``{input}``)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if getattr(param, "param_type_name", "") != "argument":
                continue
            name = param.metavar or str(param.name).upper()
            if param.nargs != 1 and not name.endswith("..."):
                name += "..."
            pieces.append(name if param.required else f"[{name}]")
        return pieces


def register_commands(only: str | None = None) -> None:
    """Register every command module present (or only the module of command ``only``)."""
    names = COMMAND_MODULES if only is None else (only,)
    for name in names:
        if any(info.name == name.replace("_", "-") for info in app.registered_commands) or any(
            info.name == name for info in app.registered_groups
        ):
            continue
        try:
            module = importlib.import_module(f"ngffkit.cli.{name}")
        except ModuleNotFoundError as exc:
            # A command whose module is not written yet is simply absent.
            if exc.name == f"ngffkit.cli.{name}":
                continue
            raise
        module.register(app)
    for info in app.registered_commands:
        info.cls = Command


def _requested(args: list[str]) -> str | None:
    """The command module named by ``args``, when the first argument names one."""
    if args and not args[0].startswith("-"):
        name = args[0].replace("-", "_")
        if name in COMMAND_MODULES:
            return name
    return None


# glibc's mallopt parameters (malloc.h) and the fixed mmap threshold tune_malloc sets.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
MMAP_THRESHOLD = 4 << 20


def tune_malloc() -> None:
    """Make glibc give freed brick buffers back to the system at once.

    By default glibc raises its mmap threshold after each large free (up to 32 MiB), so
    later brick-sized arrays come from per-thread heaps that fragment and never shrink;
    with a dozen tensorstore and worker threads that held 40 % more than the data
    (measured: 438 → about 300 MiB peak on 20,000² slices). A fixed 4 MiB threshold and
    two arenas keep the process near what it uses. Only the command line does this: it
    is a process-wide setting, not a library's to change.

    The threshold sits above the 3 MiB that zstd allocates (and clears) for every chunk
    blosc compresses: c-blosc builds a fresh zstd context per call, and a workspace that
    is mapped and unmapped each time costs a page fault per 4 KiB (measured on 64³
    blosc-zstd 5 chunks: 650,000 faults and 1.1 of 4.3 CPU-s for a 256 MiB stack). The
    trim threshold (fixed at 128 KiB once the mmap one is set) keeps that freed workspace
    in the heap for the next chunk instead of handing it back to the system.
    """
    try:
        libc = ctypes.CDLL(None)  # the running program, which links the C library
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD)
    mallopt(M_ARENA_MAX, 2)


def prepare_process() -> None:
    """Process-wide settings of the ``ngff`` command, made before it imports the library
    (a command line's to make, not a library's; a user's own environment settings win)."""
    tune_malloc()
    # numpy's OpenBLAS starts a thread per core when it loads, and they spin for a while
    # before sleeping (measured: 0.1 CPU-s of a 256 MiB conversion's 3.2); nothing here
    # multiplies matrices. Set before numpy is imported.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # pydantic looks for plugins in the entry points of every installed distribution when
    # it builds its first model (measured: 5 ms of every conversion's start-up with 240
    # installed). Plugins observe a program's own models; this process builds ngffkit's only.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


def main() -> None:
    """Console-script entry point.

    Only the invoked command's module is imported (``ngff serve`` does not load the
    converter, ``ngff convert`` not the web server): start-up time is part of every run.
    ``ngff --help`` and unknown commands load them all.
    """
    prepare_process()
    args = sys.argv[1:]
    with long_lived():
        if _requested(args):  # a command runs: its plans count this whole process (it is the run's)
            from ngffkit.process_memory import count_whole_process

            count_whole_process()
        register_commands(_requested(args))
        if not app.registered_commands and not app.registered_groups:
            register_commands()
    code = run_app(app, args)
    # Everything is written and closed; spare the interpreter's final garbage collection a
    # walk over every object the run created (measured up to 0.3 s of a short conversion).
    gc.freeze()
    sys.exit(code)
