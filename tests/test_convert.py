"""ngff convert: every level equals the reference, options do what they say, faults lose nothing."""

from __future__ import annotations

import inspect
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tensorstore as ts
import tifffile
import zarr

import ngffkit
from ngffkit._convert import convert, plan_convert, write
from ngffkit.errors import ConflictError, InputError, OptionError, PartialDatasetError
from ngffkit.kernels import downsample
from ngffkit.samples import scroll_volume
from run_helpers import kill_when_journalled, ngff, tree_digest


def write_stack(folder: Path, volume: np.ndarray, **kwargs: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for z, plane in enumerate(volume):
        tifffile.imwrite(folder / f"slice_{z:04d}.tif", plane, **kwargs)  # type: ignore[arg-type]
    return folder


@pytest.fixture(scope="module")
def awkward(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    volume = scroll_volume((77, 301, 257), "uint16", seed=3)
    return write_stack(tmp_path_factory.mktemp("awkward") / "stack", volume), volume


def check_pyramid(
    image: ngffkit.Image,
    reference: np.ndarray,
    factors: tuple[tuple[int, ...], ...],
    method: str = "mean",
) -> None:
    np.testing.assert_array_equal(image.read(), reference)
    data = reference
    for level, step in zip(image.levels[1:], factors, strict=True):
        data = downsample(data, step, method)
        np.testing.assert_array_equal(level.read(), data, err_msg=f"level {level.path}")
        assert level.shape == data.shape


def test_convert_and_plan_convert_take_the_same_planning_options() -> None:
    """Each public signature names the planning keywords (for its users' signature help and
    type checks); they must agree in name, order, type and default, or ``convert`` would
    write another plan than ``plan_convert`` shows."""
    own = {"zarr_only", "overwrite", "resume", "progress", "notice", "storage_options"}
    planning = [p for p in inspect.signature(plan_convert).parameters.values() if p.name not in own]
    converting = [p for p in inspect.signature(convert).parameters.values() if p.name not in own]
    assert len(planning) == 30  # input, output and the 28 planning keywords
    assert converting == planning


@pytest.mark.parametrize(
    "options",
    [
        {"version": "0.5", "chunks": 32, "shards": 64},
        {"version": "0.5", "chunks": 16, "shards": 32, "max_memory": 300 << 20},
        {"version": "0.4", "chunks": 32},
        {"version": "0.5", "chunks": 32, "method": "max"},
        {"version": "0.5", "chunks": 32, "method": "nearest", "levels": 3},
    ],
    ids=["sharded", "small-bricks", "v04", "max", "nearest"],
)
def test_every_level_matches_the_reference(
    tmp_path: Path, awkward: tuple[Path, np.ndarray], options: dict[str, object]
) -> None:
    stack, volume = awkward
    out = tmp_path / "out.ome.zarr"
    em = {"voxel_size": {"x": 11.24, "y": 11.24, "z": 25}, "unit": "nanometer"}
    image = convert(stack, out, **em, **options)  # type: ignore[arg-type]
    plan = plan_convert(stack, tmp_path / "x", **em, **options)  # type: ignore[arg-type]
    assert isinstance(image, ngffkit.Image) and not isinstance(plan, ngffkit.Image)
    check_pyramid(image, volume, plan.factors, str(options.get("method", "mean")))
    # Shapes are true extents; scale and translation follow the factors.
    for k, level in enumerate(image.levels):
        cum = plan.cumulative(k)
        assert level.scale == pytest.approx(
            tuple(s * c for s, c in zip((25, 11.24, 11.24), cum, strict=True))
        )
        shift = 0.0 if options.get("method") == "nearest" else 0.5
        assert level.translation == pytest.approx(
            tuple(s * (c - 1) * shift for s, c in zip((25, 11.24, 11.24), cum, strict=True))
        )
    report = ngffkit.validate(out)
    assert report.valid, report.problems


def test_anisotropic_em_downsamples_xy_first(
    tmp_path: Path, awkward: tuple[Path, np.ndarray]
) -> None:
    stack, _ = awkward
    plan = plan_convert(
        stack,
        tmp_path / "x",
        voxel_size={"x": 11.24, "y": 11.24, "z": 25},
        chunks=16,
        levels=4,
    )
    assert not isinstance(plan, ngffkit.Image)
    assert plan.factors[0] == (1, 2, 2)
    iso = plan_convert(
        stack,
        tmp_path / "y",
        voxel_size={"x": 11.24, "y": 11.24, "z": 25},
        chunks=16,
        levels=4,
        anisotropic=False,
    )
    assert not isinstance(iso, ngffkit.Image)
    assert iso.factors[0] == (2, 2, 2)


def test_output_opens_in_other_readers(tmp_path: Path, awkward: tuple[Path, np.ndarray]) -> None:
    stack, volume = awkward
    out = tmp_path / "o.ome.zarr"
    convert(stack, out, chunks=32, shards=64, levels=3)
    group = zarr.open_group(str(out), mode="r")
    np.testing.assert_array_equal(group["0"][...], volume)
    assert group["0"].shards == (64, 64, 64) and group["0"].chunks == (32, 32, 32)
    level1 = ts.open(
        {"driver": "zarr3", "kvstore": {"driver": "file", "path": f"{out}/1/"}}
    ).result()
    assert level1.shape == (39, 151, 129)
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    nodes = list(Reader(parse_url(str(out)))())
    np.testing.assert_array_equal(np.asarray(nodes[0].data[0]), volume)
    from ome_zarr_models import open_ome_zarr

    open_ome_zarr(group, version="0.5")


def test_ranges_keep_their_place(tmp_path: Path, awkward: tuple[Path, np.ndarray]) -> None:
    stack, volume = awkward
    region = ((10, 70), (5, None), (None, 100))
    image = convert(stack, tmp_path / "r.zarr", region=region, voxel_size=2.0, chunks=16, levels=2)
    assert isinstance(image, ngffkit.Image)
    np.testing.assert_array_equal(image.read(), volume[10:70, 5:, :100])
    assert image.levels[0].translation == (20.0, 10.0, 0.0)
    cropped = convert(
        stack,
        tmp_path / "c.zarr",
        region=region,
        voxel_size=2.0,
        chunks=16,
        levels=2,
        crop_to_origin=True,
    )
    assert isinstance(cropped, ngffkit.Image)
    assert cropped.levels[0].translation == (0.0, 0.0, 0.0)


def test_dtype_cast_with_window(tmp_path: Path, awkward: tuple[Path, np.ndarray]) -> None:
    stack, volume = awkward
    image = convert(
        stack, tmp_path / "u8.zarr", dtype="uint8", window=(1000, 50000), chunks=32, levels=2
    )
    assert isinstance(image, ngffkit.Image) and image.dtype == np.uint8
    expected = np.clip((volume.astype(np.float32) - 1000) * (255 / 49000) + 0.5, 0, 255).astype(
        np.uint8
    )
    np.testing.assert_array_equal(image.read(), expected)
    with pytest.raises(OptionError, match="would change values"):
        convert(stack, tmp_path / "bad.zarr", dtype="uint8", chunks=32)


def test_zarr_only_writes_one_plain_array(tmp_path: Path, awkward: tuple[Path, np.ndarray]) -> None:
    stack, volume = awkward
    out = tmp_path / "plain.zarr"
    write(stack, out, {"chunks": 32}, zarr_only=True)
    array = zarr.open_array(str(out), mode="r")
    np.testing.assert_array_equal(array[...], volume)
    assert not (out / ".ngffkit-partial.json").exists()


def test_empty_chunks_are_skipped_unless_asked(tmp_path: Path) -> None:
    volume = np.zeros((32, 64, 64), np.uint8)
    volume[:16, :32, :32] = 7
    stack = write_stack(tmp_path / "s", volume)
    sparse = tmp_path / "sparse.zarr"
    convert(stack, sparse, version="0.4", chunks=16, levels=1)
    dense = tmp_path / "dense.zarr"
    convert(stack, dense, version="0.4", chunks=16, levels=1, write_empty_chunks=True)

    def count(p: Path) -> int:
        return sum(1 for f in (p / "0").rglob("*") if f.is_file() and not f.name.startswith("."))

    assert count(sparse) == 4 and count(dense) == 32
    np.testing.assert_array_equal(ngffkit.open(sparse).read(), ngffkit.open(dense).read())


def test_existing_output_and_overlap(tmp_path: Path, awkward: tuple[Path, np.ndarray]) -> None:
    stack, _ = awkward
    out = tmp_path / "o.zarr"
    convert(stack, out, chunks=32, levels=1)
    with pytest.raises(ConflictError, match="overwrite=True"):
        convert(stack, out, chunks=32, levels=1)
    keep = tmp_path / "keep.txt"
    keep.write_text("x")
    convert(stack, out, chunks=32, levels=1, overwrite=True)
    assert keep.read_text() == "x"
    with pytest.raises(InputError, match="overlaps the input"):
        convert(stack, stack / "inside.zarr", chunks=32)
    with pytest.raises(InputError, match="overlaps the input"):
        convert(stack, stack, chunks=32, overwrite=True)
    assert any(stack.iterdir())


def test_bad_slices_are_named(tmp_path: Path) -> None:
    volume = scroll_volume((6, 32, 40), "uint8")
    stack = write_stack(tmp_path / "bad", volume)
    (stack / "slice_0003.tif").write_bytes(b"II*\x00garbage")
    out = tmp_path / "o.zarr"
    with pytest.raises(InputError, match=r"slice_0003\.tif.*z=3|z=3.*slice_0003\.tif"):
        convert(stack, out)
    assert not out.exists() or not (out / "zarr.json").exists()
    stack2 = write_stack(tmp_path / "mixed", volume)
    tifffile.imwrite(stack2 / "slice_0004.tif", np.zeros((30, 40), np.uint8))
    with pytest.raises(InputError, match=r"slice_0004\.tif"):
        convert(stack2, tmp_path / "o2.zarr")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError):
        convert(empty, tmp_path / "o3.zarr")
    gappy = write_stack(tmp_path / "gappy", volume)
    (gappy / "slice_0002.tif").unlink()
    with pytest.raises(InputError, match="missing"):
        convert(gappy, tmp_path / "o4.zarr")
    image = convert(gappy, tmp_path / "o5.zarr", allow_gaps=True, levels=1)
    assert isinstance(image, ngffkit.Image)
    assert (image.read()[2] == 0).all()


def test_kill_then_resume_is_byte_identical(tmp_path: Path) -> None:
    # Big enough for the smallest budget to need several bricks (see --dry-run).
    volume = scroll_volume((256, 256, 512), "uint16", seed=5)
    stack = write_stack(tmp_path / "stack", volume)
    common = [
        "--chunks",
        "16",
        "--shards",
        "16",
        "--levels",
        "3",
        "--jobs",
        "2",
        "-q",
        "--max-memory",
        "300M",
    ]
    reference = tmp_path / "ref" / "out.zarr"  # same name: the name is in the metadata
    done = ngff("convert", str(stack), str(reference), *common)
    assert done.wait(timeout=300) == 0, done.stderr.read() if done.stderr else ""
    out = tmp_path / "killed" / "out.zarr"
    proc = ngff("convert", str(stack), str(out), *common)
    kill_when_journalled(proc, out)
    with pytest.raises(PartialDatasetError):
        ngffkit.open(out)
    assert ngffkit.describe(out)["status"] == "partial"
    assert not ngffkit.validate(out).valid
    again = ngff("convert", str(stack), str(out), *common)
    assert again.wait(timeout=300) == 1  # exists: refused without --resume
    resumed = ngff("convert", str(stack), str(out), *common, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read() if resumed.stderr else ""
    assert tree_digest(out) == tree_digest(reference)
    other = ngff("convert", str(stack), str(out), "--chunks", "32", "--resume")
    assert other.wait(timeout=300) == 1


def test_cli_convert_as_a_user_runs_it(tmp_path: Path, awkward: tuple[Path, np.ndarray]) -> None:
    stack, volume = awkward
    out = tmp_path / "cli.ome.zarr"
    proc = ngff(
        "convert",
        str(stack),
        str(out),
        "--voxel-size",
        "11.24,11.24,25",
        "--unit",
        "nm",
        "--chunks",
        "32",
        "--shards",
        "64,64,64",
        "--levels",
        "3",
    )
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert "done:" in stdout and "MB/s" in stdout and "peak memory" in stdout
    image = ngffkit.open(out)
    assert image.voxel_size == {"z": 25.0, "y": 11.24, "x": 11.24}
    assert image.units["x"] == "nanometer"
    np.testing.assert_array_equal(image.read(), volume)
    dry = ngff("convert", str(stack), str(tmp_path / "dry"), "--dry-run")
    stdout, _ = dry.communicate(timeout=120)
    assert dry.returncode == 0 and "stage 0" in stdout and "memory" in stdout
    assert not (tmp_path / "dry").exists()
    for bad in (
        ["--chunks", "0"],
        ["--chunks", "-4"],
        ["--shards", "48", "--chunks", "32"],
        ["--ranges", "5:1,,"],
        ["--voxel-size", "1,2"],
        ["--max-memory", "lots"],
    ):
        proc = ngff("convert", str(stack), str(tmp_path / "bad"), *bad)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 2, (bad, stderr)
        assert bad[0] in stderr and "Traceback" not in stderr, stderr


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs mount rights, as root on the CI machines has); unmounted after."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_is_a_clear_error_and_resumes(tmp_path: Path, small_disk: Path) -> None:
    volume = scroll_volume((64, 256, 256), "uint16", seed=3)  # 8 MiB in, about 5 MiB out
    stack = write_stack(tmp_path / "stack", volume)
    common = ["--levels", "3", "-q"]
    out = small_disk / "out.zarr"
    full = ngff("convert", str(stack), str(out), *common)
    _, stderr = full.communicate(timeout=300)
    assert full.returncode == 1
    assert "no space left" in stderr and str(out) in stderr and "--resume" in stderr, stderr
    assert "Traceback" not in stderr
    assert ngffkit.describe(out)["status"] == "partial"  # nothing looks complete
    # Make room (tmpfs can grow in place), then the same command with --resume finishes.
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    resumed = ngff("convert", str(stack), str(out), *common, "--resume")
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    reference = tmp_path / "ref" / "out.zarr"
    done = ngff("convert", str(stack), str(reference), *common)
    assert done.wait(timeout=300) == 0
    assert tree_digest(out) == tree_digest(reference)
