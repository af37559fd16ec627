"""Collections in a bucket (moto's S3 on 127.0.0.1): written, edited and opened there, with
members by URL or by a path relative to the collection; nothing of ngffkit's left behind."""

from __future__ import annotations

import json
from typing import Any

import pytest

import ngffkit
from ngffkit.errors import ConflictError

from .conftest import Moto


def test_a_collection_in_a_bucket(s3: Moto, make_image: Any) -> None:
    s3.create_bucket("study")
    make_image("s3://study/raw.ome.zarr", shape=(8, 32, 32), levels=2)
    make_image("s3://study/em.ome.zarr", shape=(8, 32, 32), levels=2, seed=1)
    collection = ngffkit.create_collection("s3://study/all.zarr", ["s3://study/raw.ome.zarr"])
    assert [m.name for m in collection] == ["raw"]
    ngffkit.add_to_collection("s3://study/all.zarr", "s3://study/em.ome.zarr", name="EM")
    doc = json.loads(s3.get("study", "all.zarr/zarr.json"))
    assert [n["path"]["path"] for n in doc["attributes"]["ome"]["nodes"]] == [
        "s3://study/raw.ome.zarr",
        "s3://study/em.ome.zarr",
    ]
    assert not [k for k in s3.keys("study", "all.zarr/") if ".ngffkit-" in k]  # no lock left
    with pytest.raises(ConflictError, match="already holds a collection"):
        ngffkit.create_collection("s3://study/all.zarr", ["s3://study/em.ome.zarr"])
    # a relative path is resolved against the collection's place in the bucket
    doc["attributes"]["ome"]["nodes"][1]["path"]["path"] = "../em.ome.zarr"
    s3.client().put_object(Bucket="study", Key="all.zarr/zarr.json", Body=json.dumps(doc))
    images = ngffkit.open_collection("s3://study/all.zarr").images()
    assert images["EM"].url == "s3://study/em.ome.zarr"
    assert images["raw"].shape == images["EM"].shape == (8, 32, 32)
