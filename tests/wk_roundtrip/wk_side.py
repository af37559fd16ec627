"""Run by the ``webknossos`` package's own interpreter (it needs Python >= 3.12 and pins
typer, rich, psutil... apart from ours): ``python wk_side.py write DATASET X,Y,Z`` writes a
dataset (zarr3 sharded color + segmentation, mags down to 4-4-2) and saves the mag-1 data
beside it as .npy; ``python wk_side.py open DATASET OUT.json`` opens a dataset with
``Dataset.open`` and saves what it sees (layers, mags, voxel size, every mag's data, in
the layer's axis order); ``python wk_side.py touch DATASET`` opens it read-write and changes
a property, so that WEBKNOSSOS rewrites its files."""

import json
import sys

import cluster_tools
import numpy as np
import webknossos as wk


def write(path: str, offset: str) -> None:
    off = tuple(int(v) for v in offset.split(","))
    rng = np.random.default_rng(0)
    shape = (70, 50, 20)  # x, y, z
    color = rng.integers(0, 255, shape, dtype=np.uint8)
    seg = (np.arange(np.prod(shape)).reshape(shape) // 997 + 70000).astype(np.uint32)
    voxel = wk.VoxelSize((11.0, 11.0, 25.0), wk.LengthUnit.NANOMETER)
    ds = wk.Dataset(path, voxel_size_with_unit=voxel)
    c = ds.add_layer("color", wk.COLOR_CATEGORY, dtype="uint8", data_format="zarr3")
    c.add_mag(1).write(color, absolute_offset=off, allow_resize=True, allow_unaligned=True)
    s = ds.add_layer(
        "seg",
        wk.SEGMENTATION_CATEGORY,
        dtype="uint32",
        data_format="zarr3",
        largest_segment_id=int(seg.max()),
    )
    s.add_mag(1).write(seg, absolute_offset=off, allow_resize=True, allow_unaligned=True)
    with cluster_tools.get_executor("sequential") as executor:  # no spawned pool
        for layer in (c, s):
            layer.downsample(coarsest_mag=wk.Mag((4, 4, 2)), executor=executor)
    np.save(path + "-color.npy", color)
    np.save(path + "-seg.npy", seg)


def open_(path: str, out: str) -> None:
    ds = wk.Dataset.open(path)
    seen = {
        "voxel_size": list(ds.voxel_size_with_unit.factor),
        "unit": str(ds.voxel_size_with_unit.unit.value),
        "layers": {},
    }
    for name, layer in ds.layers.items():
        bbox = layer.bounding_box
        entry = {
            "category": layer.category,
            "dtype": str(layer.dtype),
            "top_left": list(bbox.topleft),
            "size": list(bbox.size),
            "mags": [],
        }
        transforms = layer.coordinate_transformations or []
        entry["transforms"] = [np.asarray(t.matrix).tolist() for t in transforms]
        if layer.category == "segmentation":
            entry["largest_segment_id"] = layer.largest_segment_id
        for mag, view in sorted(layer.mags.items(), key=lambda kv: max(kv[0].to_list())):
            data = view.read(absolute_bounding_box=view.bounding_box)  # c,x,y,z
            file = f"{out}-{name}-{mag.to_layer_name()}.npy"
            np.save(file, data)
            entry["mags"].append({"mag": mag.to_list(), "data": file})
        seen["layers"][name] = entry
    with open(out, "w") as f:
        json.dump(seen, f)


def touch(path: str) -> None:
    """Open read-write and change a property: WEBKNOSSOS rewrites the dataset's files."""
    ds = wk.Dataset.open(path)
    ds.default_view_configuration = wk.DatasetViewConfiguration(zoom=2.0)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "touch":
        touch(sys.argv[2])
    else:
        open_(sys.argv[2], sys.argv[3])
