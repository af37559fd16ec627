"""S3 through moto's real S3 API server on 127.0.0.1: convert into a bucket, read back,
info/validate, inputs from a bucket, overwrite, and the errors for a missing bucket and
refused credentials."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ngffkit
from ngffkit.errors import NotFoundError, StorageError
from ngffkit.storage import StorageOptions, resolve

from .conftest import Moto


def test_convert_into_a_bucket_and_read_back(
    s3: Moto, stack: tuple[Path, np.ndarray], run_ngff: Any
) -> None:
    s3.create_bucket("convert-here")
    folder, data = stack
    url = "s3://convert-here/out/img.ome.zarr"
    done = run_ngff(
        "convert",
        folder,
        url,
        "--s3-endpoint",
        s3.endpoint,
        "--chunks",
        "16",
        "--shards",
        "32",
        "-q",
    )
    assert done.returncode == 0, done.stderr
    keys = s3.keys("convert-here", "out/img.ome.zarr/")
    assert "out/img.ome.zarr/zarr.json" in keys and "out/img.ome.zarr/0/zarr.json" in keys
    assert not [k for k in keys if ".ngffkit-" in k]  # no partial marker, no journal left
    meta = json.loads(s3.get("convert-here", "out/img.ome.zarr/zarr.json"))
    assert meta["attributes"]["ome"]["version"] == "0.5"
    image = ngffkit.open(url)
    np.testing.assert_array_equal(image.levels[0][...], data)
    np.testing.assert_array_equal(image.read(0, (5, 10, 20), (8, 30, 16)), data[5:13, 10:40, 20:36])

    done = run_ngff("info", url, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["levels"][0]["shape"] == [24, 70, 50]
    done = run_ngff("validate", url)
    assert done.returncode == 0 and "valid" in done.stdout, done.stdout + done.stderr

    # Existing output is kept unless --overwrite, which replaces it in the bucket.
    done = run_ngff("convert", folder, url, "-q")
    assert done.returncode == 1 and "already exists" in done.stderr
    done = run_ngff("convert", folder, url, "-q", "--overwrite", "--format", "0.4")
    assert done.returncode == 0, done.stderr
    keys = s3.keys("convert-here", "out/img.ome.zarr/")
    assert "out/img.ome.zarr/zarr.json" not in keys and "out/img.ome.zarr/.zattrs" in keys
    np.testing.assert_array_equal(ngffkit.open(url).levels[0][...], data)


def test_convert_reads_a_zarr_input_from_a_bucket(
    s3: Moto, stack: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    from ngffkit._convert import convert

    s3.create_bucket("inputs")
    folder, data = stack
    convert(folder, "s3://inputs/src.ome.zarr", levels=1)
    out = tmp_path / "local.ome.zarr"
    image = convert("s3://inputs/src.ome.zarr", out, levels=2)
    assert isinstance(image, ngffkit.Image) and len(image.levels) == 2
    np.testing.assert_array_equal(image.levels[0][...], data)


def test_missing_bucket_is_named(s3: Moto, stack: tuple[Path, np.ndarray], run_ngff: Any) -> None:
    with pytest.raises(NotFoundError, match="the bucket 'no-such-bucket' does not exist"):
        ngffkit.open("s3://no-such-bucket/img.ome.zarr")
    done = run_ngff("convert", stack[0], "s3://no-such-bucket/img.ome.zarr", "-q")
    assert done.returncode == 1
    assert "the bucket 'no-such-bucket' does not exist" in done.stderr
    done = run_ngff("validate", "s3://no-such-bucket/img.ome.zarr")
    assert done.returncode == 2 and "does not exist" in done.stderr


def test_missing_image_in_a_bucket_names_the_key(s3: Moto) -> None:
    s3.create_bucket("empty-bucket")
    with pytest.raises(NotFoundError, match=r"s3://empty-bucket/img\.ome\.zarr/zarr\.json was"):
        ngffkit.open("s3://empty-bucket/img.ome.zarr")


def test_s3_options_map_to_the_kvstore(monkeypatch: pytest.MonkeyPatch) -> None:
    opts = StorageOptions(s3_endpoint="http://127.0.0.1:9000/")
    spec = resolve("s3://b/p.zarr", options=opts).kvstore
    assert spec["endpoint"] == "http://127.0.0.1:9000"
    assert "aws_credentials" not in spec["context"]
    assert spec["context"]["s3_request_retries"]["max_retries"] == opts.retries
    spec = resolve("s3://b/p.zarr", options=opts.updated(anonymous=True)).kvstore
    assert spec["context"]["aws_credentials"] == {"type": "anonymous"}
    spec = resolve("s3://b/p.zarr", options=opts.updated(aws_profile="lab")).kvstore
    assert spec["context"]["aws_credentials"] == {"type": "profile", "profile": "lab"}
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    spec = resolve("s3://b/p.zarr", options=opts.updated(retries=1)).kvstore
    assert spec["context"] == {
        "aws_credentials": {"type": "environment"},
        "s3_request_retries": {"max_retries": 1, "initial_delay": "250ms", "max_delay": "8s"},
    }
    # Children keep how the store is reached.
    child = resolve("s3://b/p.zarr", options=opts).child("0")
    assert child.kvstore["endpoint"] == "http://127.0.0.1:9000"
    with pytest.raises(ngffkit.InputError, match="s3_endpoint"):
        StorageOptions(s3_endpoint="127.0.0.1:9000")


def test_refused_credentials_say_so(
    moto_with_auth: str,
    monkeypatch: pytest.MonkeyPatch,
    run_ngff: Any,
    stack: tuple[Path, np.ndarray],
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-value")
    with pytest.raises(StorageError, match="credentials were refused") as caught:
        _open_with(moto_with_auth)
    assert "wrong-secret-value" not in str(caught.value)
    done = run_ngff(
        "convert", stack[0], "s3://some-bucket/img.ome.zarr", "-q", "--s3-endpoint", moto_with_auth
    )
    assert done.returncode == 1 and "credentials were refused" in done.stderr
    assert "wrong-secret-value" not in done.stderr + done.stdout


def _open_with(endpoint: str) -> None:
    from ngffkit.image import open_image

    options = StorageOptions.from_env().updated(s3_endpoint=endpoint)
    open_image(resolve("s3://some-bucket/img.ome.zarr", options=options))


def test_downsample_and_compress_in_a_bucket(
    s3: Moto, stack: tuple[Path, np.ndarray], run_ngff: Any
) -> None:
    """Convert one level into a bucket, add the pyramid there, then re-encode it into another
    prefix of the bucket as 0.4: every level equals the local reference."""
    from ngffkit.kernels import downsample

    s3.create_bucket("pyramids")
    folder, data = stack
    url = "s3://pyramids/img.ome.zarr"
    opts = ["--s3-endpoint", s3.endpoint, "-q"]
    done = run_ngff("convert", folder, url, "--levels", "1", "--chunks", "16", *opts)
    assert done.returncode == 0, done.stderr
    done = run_ngff("downsample", url, "--levels", "3", *opts)
    assert done.returncode == 0, done.stderr
    image = ngffkit.open(url)
    assert len(image.levels) == 3
    expected = data
    for level in image.levels:
        np.testing.assert_array_equal(level[...], expected)
        expected = downsample(expected, (2, 2, 2), "mean")
    assert not [k for k in s3.keys("pyramids", "img.ome.zarr/") if ".ngffkit-" in k]

    copy = "s3://pyramids/copy.ome.zarr"
    done = run_ngff(
        "compress", url, "--output", copy, "--format", "0.4", "--compression", "gzip:3", *opts
    )
    assert done.returncode == 0, done.stderr
    assert "copy.ome.zarr/.zattrs" in s3.keys("pyramids", "copy.ome.zarr/")
    again = ngffkit.open(copy)
    assert again.version == "0.4" and len(again.levels) == 3
    for a, b in zip(image.levels, again.levels, strict=True):
        np.testing.assert_array_equal(a[...], b[...])
