"""``source_plan.plan_source``: convert, labels and the WEBKNOSSOS import plan an input alike.

Each of the three once assembled ``make_plan``'s arguments itself, and they drifted apart
(labels planned every input as if its y/x windows were cheap to read). Here the same input
goes through all three, where their options agree, and their plans must agree: the stages
and bricks, the workers, the memory per task and the thread budget.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

import ngffkit
from ngffkit.errors import OptionError
from ngffkit.plan import ConversionPlan
from ngffkit.storage import resolve
from ngffkit.webknossos import read_dataset
from ngffkit.wk_import import _layer_plan, _Run, convert_webknossos

ZYX = (24, 64, 1024)  # wide in x: full-width bricks and windowed ones differ


def _work(plan: ConversionPlan) -> tuple[object, ...]:
    """What decides how a plan runs (not what it writes)."""
    return (plan.region, plan.factors, plan.stages, plan.workers, plan.task_memory, plan.budget)


@pytest.fixture
def dataset(tmp_path: Path, write_wk_layer: Callable[..., dict[str, np.ndarray]]) -> Path:
    rng = np.random.default_rng(7)
    root = tmp_path / "ds"
    write_wk_layer(root, rng.integers(1, 6, ZYX, dtype=np.uint8))
    # mags 1 and 2-2-1 only: the factor convert chooses for this voxel size (11.24 × 11.24 × 25)
    properties = root / "datasource-properties.json"
    doc = json.loads(properties.read_text())
    doc["dataLayers"][0]["mags"] = doc["dataLayers"][0]["mags"][:2]
    properties.write_text(json.dumps(doc))
    return root


def test_the_webknossos_import_plans_a_layer_as_convert_plans_its_array(
    dataset: Path, tmp_path: Path
) -> None:
    ds = read_dataset(resolve(dataset))
    color = ds.layers[0]
    wk, _spec = _layer_plan(ds, color, _Run())
    z, y, x = ZYX
    zarr_convert = ngffkit.plan_convert(
        dataset / "color" / "1",
        tmp_path / "color.ome.zarr",
        input_format="zarr",
        voxel_size=dict(zip("xyz", ds.voxel_size, strict=True)),
        unit=ds.unit,
        levels=len(color.mags),
        region=[(None, None), (0, z), (0, y), (0, x)],
        name="color",
    )
    assert wk.factors == zarr_convert.factors == ((1, 1, 2, 2),)
    assert wk == zarr_convert  # the whole plan: levels, bricks, workers, budget, metadata
    # Zarr's windows are cheap to read: level-0 bricks need not span the width
    assert wk.stages[0].brick[-1] < x


def test_labels_plan_their_input_as_convert_does(tmp_path: Path, dataset: Path) -> None:
    """A folder of PNGs decodes whole slices (its windows are not cheap): convert plans
    full-width bricks for it, and so must labels of the same folder."""
    rng = np.random.default_rng(3)
    png = tmp_path / "png"
    png.mkdir()
    for k, plane in enumerate(rng.integers(0, 5, ZYX, dtype=np.uint8)):
        PILImage.fromarray(plane).save(png / f"z{k:03d}.png")
    options = {"levels": 2, "chunks": 16, "shards": 32, "voxel_size": 4.0, "unit": "nanometer"}
    image = ngffkit.convert(png, tmp_path / "img.ome.zarr", **options)  # type: ignore[arg-type]
    labels = ngffkit.add_labels(image, png, name="seg", dry_run=True)
    assert isinstance(labels, ConversionPlan)
    converted = ngffkit.plan_convert(png, tmp_path / "o.ome.zarr", method="mode", **options)  # type: ignore[arg-type]
    assert _work(labels) == _work(converted)
    assert labels.stages[0].brick[-1] == ZYX[-1]  # full width

    # and a Zarr input (cheap windows), labelled onto the WEBKNOSSOS layer's image
    image = convert_webknossos(dataset, tmp_path / "wk.ome.zarr", layer="color")[0]
    z, y, x = ZYX
    region = [(None, None), (0, z), (0, y), (0, x)]
    mag1 = dataset / "color" / "1"
    labels = ngffkit.add_labels(image, mag1, name="seg", region=region, dry_run=True)
    assert isinstance(labels, ConversionPlan)
    ds = read_dataset(resolve(dataset))
    converted = ngffkit.plan_convert(
        mag1,
        tmp_path / "o2.ome.zarr",
        input_format="zarr",
        voxel_size=dict(zip("xyz", ds.voxel_size, strict=True)),
        unit=ds.unit,
        levels=len(ds.layers[0].mags),
        region=region,
        method="mode",
    )
    assert _work(labels) == _work(converted)
    assert labels.stages[0].brick[-1] < x


def test_the_webknossos_import_names_a_bad_option(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(OptionError) as caught:
        convert_webknossos(dataset, tmp_path / "out.ome.zarr", version="0.3")
    assert caught.value.option == "version"
    with pytest.raises(OptionError) as caught:
        convert_webknossos(dataset, tmp_path / "out.ome.zarr", shards="some")
    assert caught.value.option == "shards"
