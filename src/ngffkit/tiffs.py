"""Rewrite a folder of compressed TIFFs uncompressed, pixel for pixel (``ngff decompress-tiffs``).

The masked Vesuvius volumes are zlib/LZW-compressed slices that read about five times
slower than plain ones; a plain slice is also one contiguous run of bytes that a reader
memory-maps or fetches by ``Range``. :func:`decompress_tiffs` writes every TIFF of INPUT
under the same name in OUTPUT, page by page, uncompressed and contiguous, keeping every
tag that describes the image rather than its storage: resolution and unit, description,
photometric interpretation, sample format, extra samples, planar configuration, colour
map, ICC profile and any other plain tag (software, date, artist, private tags). Tags
that point at other IFDs (EXIF, GPS, sub-IFDs) cannot be carried over safely and are
reported per file.

Each file is written to a hidden temporary name in OUTPUT, read back and compared with the
decoded input (dtype, shape and CRC-32 of every page), and only then renamed: a file under its final
name is always complete and verified, which is what ``resume`` relies on. Files that are
already uncompressed are copied byte for byte.
"""

from __future__ import annotations

import os
import shutil
import struct
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ngffkit.errors import InputError, NotFoundError, StorageError

TIFF_SUFFIXES = (".tif", ".tiff")
PARTIAL_SUFFIX = ".ngff-partial"

# Tags the writer derives from the data and the layout it writes (or that describe how the
# input was stored and no longer apply once decoded); never copied.
_LAYOUT_TAGS = frozenset(
    {
        254,
        255,
        256,
        257,
        258,
        259,
        262,
        266,
        273,
        277,
        278,
        279,
        284,
        317,
        320,
        322,
        323,
        324,
        325,
        338,
        339,
        347,
        270,
        282,
        283,
        296,
        305,
        306,
        530,
        531,
        532,
        32997,
        32998,
        34675,
    }
)
# Tags whose values are offsets of other IFDs: a byte copy would point into the void.
_IFD_TAGS = frozenset({330, 34665, 34853, 40965, 400})
_TYPE_SIZES = {
    1: 1,
    2: 1,
    3: 2,
    4: 4,
    5: 8,
    6: 1,
    7: 1,
    8: 2,
    9: 4,
    10: 8,
    11: 4,
    12: 8,
    16: 8,
    17: 8,
}
_BIGTIFF_BYTES = 2**32 - 2**25  # leave room for the headers of a classic TIFF


@dataclass
class DecompressResult:
    """What a run did. ``written``: files decoded and rewritten; ``copied``: files already
    uncompressed, copied as they were; ``skipped``: files done by an earlier run (resume);
    ``not_tiff``: entries of INPUT that are not TIFFs, left alone; ``dropped_tags``: per
    file, the tags that could not be carried over."""

    output: Path
    written: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    not_tiff: list[str] = field(default_factory=list)
    dropped_tags: dict[str, list[str]] = field(default_factory=dict)
    bytes_in: int = 0
    bytes_out: int = 0


def _check_folders(input: Path, output: Path) -> None:
    if not input.exists():
        raise NotFoundError(f"{input}: no such folder.")
    if not input.is_dir():
        raise InputError(f"{input}: expected a folder of TIFF files, found a file.")
    if output.exists() and not output.is_dir():
        raise InputError(f"{output} is a file; the output must be a folder.")
    if input == output or input in output.parents or output in input.parents:
        raise InputError(
            f"the output {output} overlaps the input {input}; decompress-tiffs never writes "
            "into its input: choose an OUTPUT folder outside INPUT."
        )


def list_tiffs(folder: Path) -> tuple[list[Path], list[str]]:
    """The TIFF files of ``folder`` (sorted) and the names of everything else in it."""
    tiffs: list[Path] = []
    other: list[str] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if (
                entry.is_file()
                and os.path.splitext(entry.name)[1].lower() in TIFF_SUFFIXES
                and not entry.name.startswith(".")
            ):
                tiffs.append(Path(entry.path))
            else:
                other.append(entry.name + ("/" if entry.is_dir() else ""))
    return sorted(tiffs), sorted(other)


def decompress_tiffs(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    jobs: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> DecompressResult:
    """Write every TIFF of ``input`` uncompressed under the same name in ``output``.

    ``resume``: keep the files an earlier run finished (each is checked against its input's
    headers) and do the rest. ``overwrite``: replace an existing, non-empty ``output``.
    ``progress(done, total)`` is called with input bytes. Raises :class:`InputError` naming
    every file that could not be read (the others are written).
    """
    from ngffkit._output import claim_output, mark_owned
    from ngffkit.storage import resolve

    src, dst = Path(input).resolve(), Path(output).resolve()
    _check_folders(src, dst)
    if resume and overwrite:
        raise InputError("choose one of [[resume=True]] and [[overwrite=True]]")
    tiffs, other = list_tiffs(src)
    if not tiffs:
        shown = ", ".join(other[:8]) + (" …" if len(other) > 8 else "")
        raise InputError(
            f"{src}: no TIFF files (.tif/.tiff) found"
            f"{' (found: ' + shown + ')' if other else ' (the folder is empty)'}."
        )
    if not resume:
        claim_output(resolve(dst), overwrite)  # the one rule for replacing an output
    try:
        dst.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create {dst}: {exc.strerror or exc}") from exc
    for stale in dst.glob(f".*{PARTIAL_SUFFIX}"):
        stale.unlink()  # a temporary file of an interrupted run: ours, never complete
    mark_owned(dst, "decompress-tiffs")  # before any TIFF: a later --overwrite may replace it
    result = DecompressResult(output=dst, not_tiff=other)
    sizes = {p: p.stat().st_size for p in tiffs}
    total = sum(sizes.values())
    done = 0
    lock = threading.Lock()
    failures: dict[str, str] = {}
    if progress:
        progress(0, total)

    workers = max(1, jobs or os.cpu_count() or 1)
    # fewer files at once than cores: the strips of one page decode in parallel
    threads = max(1, (os.cpu_count() or 1) // workers)

    def one(path: Path) -> tuple[str, list[str]]:
        target = dst / path.name
        if resume and target.exists():
            problem = _finished_problem(path, target)
            if problem is None:
                return "skipped", []
            target.unlink()  # not a faithful copy of this input: do it again
        return _rewrite(path, target, threads)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decompress") as pool:
        futures = {pool.submit(one, p): p for p in tiffs}
        for future in as_completed(futures):
            path = futures[future]
            try:
                outcome, dropped = future.result()
            except InputError as exc:
                failures[path.name] = str(exc)
                continue
            with lock:
                getattr(result, outcome).append(path.name)
                if dropped:
                    result.dropped_tags[path.name] = dropped
                result.bytes_in += sizes[path]
                result.bytes_out += (dst / path.name).stat().st_size
                done += sizes[path]
            if progress:
                progress(done, total)
    for names in (result.written, result.copied, result.skipped):
        names.sort()
    if failures:
        lines = "\n".join(f"  {failures[n]}" for n in sorted(failures)[:20])
        more = f"\n  … and {len(failures) - 20} more" if len(failures) > 20 else ""
        raise InputError(
            f"{len(failures)} of {len(tiffs)} TIFF file(s) could not be decompressed:\n"
            f"{lines}{more}\nThe other files are written; replace or remove the files named, "
            "then run again with [[resume=True]]."
        )
    return result


def _open(path: Path) -> Any:
    import tifffile

    try:
        return tifffile.TiffFile(path)
    except Exception as exc:  # tifffile raises many kinds for a broken file
        raise InputError(
            f"{path}: not a readable TIFF ({type(exc).__name__}: {exc}). It is corrupt or "
            "truncated; replace it."
        ) from exc


def _rewrite(path: Path, target: Path, threads: int = 1) -> tuple[str, list[str]]:
    """Decode ``path`` and write it uncompressed to ``target`` (via a temporary name)."""
    tmp = target.with_name(f".{target.name}{PARTIAL_SUFFIX}")
    try:
        with _open(path) as tif:
            pages = list(tif.pages)
            _check_complete(path, pages)
            if all(_is_plain(page) for page in pages):
                shutil.copyfile(path, tmp)
                os.replace(tmp, target)
                return "copied", []
            digests, dropped = _write_pages(tif, pages, path, tmp, threads)
        _verify(tmp, digests, path)
        os.replace(tmp, target)
        return "written", dropped
    except InputError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write {target}: {exc.strerror or exc}") from exc


def _check_complete(path: Path, pages: list[Any]) -> None:
    """Refuse a file whose strips or tiles run past its end: some tifffile releases decode
    the missing part as zeros (with a log line), which would pass a truncated file off as
    a good one."""
    size = path.stat().st_size
    for i, page in enumerate(pages):
        for offset, count in zip(page.dataoffsets, page.databytecounts, strict=False):
            if int(offset) + int(count) > size:
                raise InputError(
                    f"{path}: page {i}'s data runs past the end of the file ({size} bytes); "
                    "the file is truncated. Replace it."
                )


def _is_plain(page: Any) -> bool:
    return int(page.compression) == 1 and int(page.predictor) == 1 and int(page.fillorder) == 1


def _digest(data: np.ndarray[Any, Any]) -> tuple[str, tuple[int, ...], int]:
    # CRC-32 of the samples with their dtype and shape: it catches every change of up to 32
    # consecutive bits and any other with odds of 2^-32, at memory speed (BLAKE2 took 25x
    # longer than the write itself)
    return data.dtype.str, tuple(data.shape), zlib.crc32(np.ascontiguousarray(data).data)


def _write_pages(
    tif: Any, pages: list[Any], path: Path, tmp: Path, threads: int
) -> tuple[list[tuple[str, tuple[int, ...], int]], list[str]]:
    import tifffile

    for page in pages:
        if 330 in page.tags:
            raise InputError(
                f"{path}: has sub-IFDs (reduced-resolution images inside pages), "
                "which decompress-tiffs cannot rewrite faithfully."
            )
    need = sum(int(np.prod(p.shape)) * np.dtype(p.dtype).itemsize for p in pages)
    bigtiff = bool(tif.is_bigtiff) or need > _BIGTIFF_BYTES
    digests: list[tuple[str, tuple[int, ...], int]] = []
    dropped: set[str] = set()
    with tifffile.TiffWriter(tmp, bigtiff=bigtiff, byteorder=tif.byteorder) as writer:
        for number, page in enumerate(pages):
            try:
                data = page.asarray(maxworkers=threads)
            except Exception as exc:
                raise InputError(
                    f"{path}: page {number} cannot be decoded ({type(exc).__name__}: {exc}). "
                    "The file is corrupt or truncated; replace it."
                ) from exc
            digests.append(_digest(data))
            extratags, lost = _copied_tags(page, tif.filehandle)
            dropped.update(lost)
            photometric = int(page.photometric)
            if photometric == 6 and int(page.compression) in (6, 7):
                photometric = 2  # JPEG-compressed YCbCr decodes to RGB
            tags = page.tags
            resolution = None
            if 282 in tags and 283 in tags:
                resolution = (tuple(tags[282].value), tuple(tags[283].value))
            writer.write(
                data,
                photometric=photometric,
                planarconfig=int(page.planarconfig) if int(page.samplesperpixel) > 1 else None,
                extrasamples=tuple(int(v) for v in page.extrasamples) or None,
                colormap=page.colormap if photometric == 3 else None,
                iccprofile=tags[34675].value if 34675 in tags else None,
                description=tags[270].value if 270 in tags else None,
                resolution=resolution,
                resolutionunit=int(tags[296].value)
                if 296 in tags
                else (None if resolution is None else 1),
                subfiletype=int(page.subfiletype) or None,
                software=tags[305].value if 305 in tags else False,
                datetime=None,
                metadata=None,
                compression=None,
                contiguous=False,
                extratags=extratags,
            )
            del data
    return digests, sorted(dropped)


def _copied_tags(page: Any, fh: Any) -> tuple[list[tuple[int, int, None, bytes, bool]], list[str]]:
    """Every other tag of ``page`` as raw bytes for the writer, and the names of those that
    cannot be copied."""
    out: list[tuple[int, int, None, bytes, bool]] = []
    lost: list[str] = []
    for tag in page.tags.values():
        code, dtype = int(tag.code), int(tag.dtype)
        if code in _LAYOUT_TAGS:
            continue
        size = _TYPE_SIZES.get(dtype)
        if code in _IFD_TAGS or size is None:
            lost.append(f"{tag.name} ({code})")
            continue
        fh.seek(tag.valueoffset)
        raw = fh.read(size * int(tag.count))
        if len(raw) != size * int(tag.count):
            lost.append(f"{tag.name} ({code})")
            continue
        out.append((code, dtype, None, raw, False))
    return out, lost


def _verify(tmp: Path, digests: list[tuple[str, tuple[int, ...], int]], path: Path) -> None:
    """Read the written file back: every page uncompressed and equal to the decoded input."""
    import tifffile

    with tifffile.TiffFile(tmp) as out:
        if len(out.pages) != len(digests):
            raise InputError(
                f"{path}: the rewritten file has {len(out.pages)} pages, the input "
                f"{len(digests)}; nothing was written for it."
            )
        for number, (page, want) in enumerate(zip(out.pages, digests, strict=True)):
            if not _is_plain(page) or _digest(page.asarray()) != want:
                raise InputError(
                    f"{path}: page {number} of the rewritten file differs from the input "
                    "after decoding; nothing was written for it. Please report this file."
                )


def _finished_problem(path: Path, target: Path) -> str | None:
    """Why ``target`` is not a finished rewrite of ``path`` (None: it is).

    Only finished files are renamed to their final names, after the pixel check, so a
    header check here suffices: the same pages, shapes and dtypes, uncompressed, and
    every page's bytes present.
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as a, tifffile.TiffFile(target) as b:
            if len(a.pages) != len(b.pages):
                return "page count"
            size = b.filehandle.size
            for pa, pb in zip(a.pages, b.pages, strict=True):
                if tuple(pa.shape) != tuple(pb.shape) or pa.dtype != pb.dtype:
                    return "shape"
                if not _is_plain(pb):
                    return "compressed"
                ends = [
                    int(o) + int(c) for o, c in zip(pb.dataoffsets, pb.databytecounts, strict=True)
                ]
                if ends and max(ends) > size:
                    return "truncated"
    except (Exception, struct.error):  # unreadable output: write it again
        return "unreadable"
    return None


__all__ = ["DecompressResult", "decompress_tiffs", "list_tiffs"]
