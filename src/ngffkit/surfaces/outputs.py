"""Where flattened layers go: a folder of TIFFs or an OME-Zarr image, band by band.

Both outputs record each finished band in a journal (``.ngffkit-flatten.json`` in OUTPUT)
with the settings it was started with, so a resumed run continues after the last band
written, and refuses when the settings differ. Until the end the output does not look
complete: TIFFs are written as ``NN.tif.partial`` and renamed last; a Zarr image has
ngffkit's partial marker until its level 0 is written, then gets its pyramid.
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import Executor
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ngffkit._output import claim_output, mark_owned
from ngffkit.errors import ConflictError, InputError
from ngffkit.markers import DOWNSAMPLE_MARKER, FLATTEN_JOURNAL, OWNED, PARTIAL_MARKER
from ngffkit.storage import Location, resolve
from ngffkit.surfaces.plan import FlattenPlan, FlattenSettings
from ngffkit.surfaces.tiffwriter import StripTiff, encode_strip

if TYPE_CHECKING:
    from ngffkit.surfaces.render import Volume

COMPOSITE_NAME = "composite.tif"
_OURS = re.compile(r"^(\d{2,}\.tif|composite\.tif)(\.partial)?$")


class Output(Protocol):
    url: str
    band_rows: int
    done: set[int]

    def write_band(
        self, band: int, row: int, data: np.ndarray, composite: np.ndarray | None, pool: Executor
    ) -> None: ...

    def finish(self, *, jobs: int, max_memory: int) -> tuple[str, ...]: ...


def layer_names(layers: int) -> list[str]:
    """``00.tif`` ... zero-padded to at least two digits (as VC and scroll2zarr name them)."""
    digits = max(2, len(str(layers - 1)))
    return [f"{i:0{digits}d}.tif" for i in range(layers)]


def replace_output(loc: Location, overwrite: bool) -> None:
    """The one place flatten applies the project's rule for replacing an existing output."""
    claim_output(loc, overwrite)


def open_output(
    output: str | os.PathLike[str],
    plan: FlattenPlan,
    settings: FlattenSettings,
    volume: Volume,
    *,
    resume: bool,
    overwrite: bool,
) -> Output:
    loc = resolve(output)
    record = {
        "settings": asdict(settings),
        "surface": plan.surface,
        "volume": plan.volume,
        "shape": list(plan.shape),
        "dtype": plan.dtype,
    }
    if settings.format == "tiff":
        return TiffOutput(loc, plan, settings, record, resume=resume, overwrite=overwrite)
    return ZarrOutput(loc, plan, settings, volume, record, resume=resume, overwrite=overwrite)


def _check_journal(journal: dict[str, Any], record: dict[str, Any], where: str) -> None:
    for key, value in record.items():
        if json.loads(json.dumps(journal.get(key))) != json.loads(json.dumps(value)):
            raise ConflictError(
                f"{where} was started with other settings ({key}: {journal.get(key)!r}, now "
                f"{value!r}); resume with the same options, or start again with [[overwrite=True]]"
            )


class TiffOutput:
    """``00.tif`` ... ``NN.tif`` (and ``composite.tif``) in a local folder."""

    def __init__(
        self,
        loc: Location,
        plan: FlattenPlan,
        settings: FlattenSettings,
        record: dict[str, Any],
        *,
        resume: bool,
        overwrite: bool,
    ) -> None:
        folder = loc.local_path
        if folder is None:
            raise InputError(
                f"TIFF layers are written to a local folder, not {loc.url}; use [[format=zarr]] "
                "to write to s3:// or gs://"
            )
        self.url = str(folder)
        self.folder = folder
        self.names = layer_names(settings.layers)
        if settings.composite is not None:
            self.names.append(COMPOSITE_NAME)
        self.compression = settings.tiff_compression
        _, height, width = plan.shape
        self.shape = (height, width)
        self.dtype = np.dtype(plan.dtype)
        journal_path = folder / FLATTEN_JOURNAL
        self.done: set[int] = set()
        journal = _read_json(journal_path) if resume else None
        if journal is not None:
            _check_journal(journal, record, str(folder))
            self.band_rows = int(journal["band_rows"])
            self.rows_per_strip = int(journal["rows_per_strip"])
            self.done = {int(b) for b in journal["done"]}
            self.strips: dict[str, list[list[int]]] = journal["strips"]
            self.record = journal
            self.files = {n: self._tiff(n, [tuple(s) for s in self.strips[n]]) for n in self.names}
            if not journal.get("finished"):
                for f in self.files.values():
                    f.reopen()
            return
        if resume and _complete(folder, self.names):
            raise ConflictError(f"{folder} is already complete; nothing to resume")
        if folder.exists() and folder.is_dir() and any(folder.iterdir()):
            others = [
                p.name
                for p in folder.iterdir()
                if not (_OURS.match(p.name) or p.name in (FLATTEN_JOURNAL, PARTIAL_MARKER, OWNED))
            ]
            if overwrite and others:
                raise ConflictError(
                    f"{folder} holds files flatten did not write ({', '.join(sorted(others)[:3])}"
                    f"{'...' if len(others) > 3 else ''}); [[overwrite=True]] replaces only a flatten "
                    "output: choose another folder"
                )
        replace_output(loc, overwrite)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / PARTIAL_MARKER).write_text(json.dumps({"command": "flatten"}) + "\n")
        self.band_rows = plan.band_rows
        self.rows_per_strip = plan.tile
        self.strips = {n: [] for n in self.names}
        self.record = dict(
            record,
            band_rows=self.band_rows,
            rows_per_strip=self.rows_per_strip,
            done=[],
            strips=self.strips,
        )
        self.files = {n: self._tiff(n, []) for n in self.names}
        for f in self.files.values():
            f.create()
        self._save()

    def _tiff(self, name: str, strips: list[tuple[int, int]]) -> StripTiff:
        return StripTiff(
            self.folder / f"{name}.partial",
            self.shape,
            self.dtype,
            self.rows_per_strip,
            self.compression,
            strips=strips,
        )

    def _save(self) -> None:
        _write_json(self.folder / FLATTEN_JOURNAL, self.record)

    def write_band(
        self, band: int, row: int, data: np.ndarray, composite: np.ndarray | None, pool: Executor
    ) -> None:
        planes = list(data) + ([composite] if composite is not None else [])
        step = self.rows_per_strip
        jobs = [
            (name, plane[s : s + step])
            for name, plane in zip(self.names, planes, strict=True)
            for s in range(0, plane.shape[0], step)
        ]
        # Encode on the pool (zlib and zstd release the GIL) a window at a time; append in
        # order, so each file's strips stay in row order.
        window = 2 * max(getattr(pool, "_max_workers", 1), 1)
        for start in range(0, len(jobs), window):
            chunk = jobs[start : start + window]
            encoded = list(pool.map(lambda j: encode_strip(j[1], self.compression), chunk))
            for (name, _), blob in zip(chunk, encoded, strict=True):
                offset, count = self.files[name].append(blob)
                self.strips[name].append([offset, count])
        self.done.add(band)
        self.record["done"] = sorted(self.done)
        self._save()

    def finish(self, *, jobs: int, max_memory: int) -> tuple[str, ...]:
        if not self.record.get("finished"):
            for f in self.files.values():
                f.finish()
            self.record["finished"] = True
            self._save()
        for name in self.names:
            partial = self.folder / f"{name}.partial"
            if partial.exists():
                os.replace(partial, self.folder / name)
        (self.folder / FLATTEN_JOURNAL).unlink(missing_ok=True)
        mark_owned(self.folder, "flatten")  # a later --overwrite may replace these TIFFs
        (self.folder / PARTIAL_MARKER).unlink(missing_ok=True)
        return tuple(str(self.folder / n) for n in self.names)


class ZarrOutput:
    """An OME-Zarr image: the layers as z, the surface's rows and columns as y and x."""

    def __init__(
        self,
        loc: Location,
        plan: FlattenPlan,
        settings: FlattenSettings,
        volume: Volume,
        record: dict[str, Any],
        *,
        resume: bool,
        overwrite: bool,
    ) -> None:
        from ngffkit.spec import ImageSpec, pyramid_spec
        from ngffkit.writer import create_image, open_partial

        self.loc = loc
        self.url = loc.url
        self.composite = settings.composite
        if settings.composite is not None and loc.local_path is None:
            raise InputError(
                f"a composite is written as composite.tif in a local output; {loc.url} is "
                "remote: write the Zarr output locally, or leave out the composite"
            )
        journal = loc.read_json(FLATTEN_JOURNAL) if resume else None
        self.done = set()
        if journal is not None:
            _check_journal(journal, record, loc.display())
            self.band_rows = int(journal["band_rows"])
            self.done = {int(b) for b in journal["done"]}
            self.spec = ImageSpec.model_validate(journal["spec"])
            self.record = journal
            self.image = open_partial(loc, self.spec) if not journal.get("finished") else None
            self.comp = self._composite_file(plan, [tuple(s) for s in journal["strips"]])
            if self.comp is not None and not journal.get("finished"):
                self.comp.reopen()
            return
        layers, height, width = plan.shape
        vx = volume.voxel_size[2]
        self.spec = pyramid_spec(
            (layers, height, width),
            plan.dtype,
            voxel_size=(vx * settings.step, vx, vx),
            unit=volume.unit,
            levels=1,
            chunks=64,
            version="0.5",
            name="flatten",
        )
        replace_output(loc, overwrite)
        self.image = create_image(loc, self.spec)
        self.band_rows = plan.band_rows
        self.record = dict(
            record,
            band_rows=self.band_rows,
            done=[],
            strips=[],
            spec=self.spec.model_dump(mode="json"),
        )
        self.comp = self._composite_file(plan, [])
        if self.comp is not None:
            self.comp.create()
        loc.write_json(FLATTEN_JOURNAL, self.record)

    def _composite_file(self, plan: FlattenPlan, strips: list[tuple[int, int]]) -> StripTiff | None:
        folder = self.loc.local_path
        if self.composite is None or folder is None:
            return None
        _, height, width = plan.shape
        return StripTiff(
            folder / f"{COMPOSITE_NAME}.partial",
            (height, width),
            np.dtype(plan.dtype),
            self.band_rows,
            "none",
            strips=strips,
        )

    def write_band(
        self, band: int, row: int, data: np.ndarray, composite: np.ndarray | None, pool: Executor
    ) -> None:
        assert self.image is not None
        self.image.levels[0].write(data, offset=(0, row, 0))
        if composite is not None and self.comp is not None:
            self.record["strips"].append(list(self.comp.append(encode_strip(composite, "none"))))
        self.done.add(band)
        self.record["done"] = sorted(self.done)
        self.loc.write_json(FLATTEN_JOURNAL, self.record)

    def finish(self, *, jobs: int, max_memory: int) -> tuple[str, ...]:
        from ngffkit._downsample import downsample
        from ngffkit.writer import finish_image

        if not self.record.get("finished"):
            if self.comp is not None:
                self.comp.finish()
            finish_image(self.loc, self.spec)
            self.record["finished"] = True
            self.loc.write_json(FLATTEN_JOURNAL, self.record)
        # A pyramid interrupted in an earlier run is resumed (its marker says so).
        interrupted = self.loc.read(DOWNSAMPLE_MARKER) is not None
        downsample(self.loc.url, jobs=jobs, max_memory=max_memory, resume=interrupted)
        files = [self.loc.url]
        folder = self.loc.local_path
        if self.comp is not None and folder is not None:
            if self.comp.path.exists():
                os.replace(self.comp.path, folder / COMPOSITE_NAME)
            files.append(str(folder / COMPOSITE_NAME))
        self.loc.delete(FLATTEN_JOURNAL)
        return tuple(files)


def _complete(folder: Path, names: list[str]) -> bool:
    return all((folder / n).exists() for n in names) and not (folder / PARTIAL_MARKER).exists()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConflictError(
            f"{path} is unreadable ({exc}); start again with [[overwrite=True]]"
        ) from exc
    return value if isinstance(value, dict) else None


def _write_json(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


__all__ = [
    "Output",
    "TiffOutput",
    "ZarrOutput",
    "layer_names",
    "open_output",
    "replace_output",
]
