"""``storage_options=`` per call, against real servers on 127.0.0.1 (moto's S3, http.server).

Nothing is configured process-wide here (no endpoint, headers or credentials in the
environment): whatever works, works because of the call's own options, and must not change
what the next call sees.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import ngffkit
from _support import src_env
from ngffkit import storage
from ngffkit.errors import InputError, NgffWarning, StorageError
from ngffkit.transport import storage_options

from .conftest import CREDENTIALS, Moto, ServerFactory


def test_the_options_are_checked_and_secrets_stay_hidden() -> None:
    with pytest.raises(
        InputError,
        match=r"unknown key 'endpoint_url'; the keys are "
        "s3_endpoint, s3_region, headers, anonymous, aws_profile, cache_size, "
        "retries, timeout",
    ):
        storage_options({"endpoint_url": "http://x"})
    with pytest.raises(
        InputError,
        match=r"storage_options\['s3_endpoint'\]: 'minio:9000' must "
        "be an http:// or https:// URL",
    ):
        storage_options({"s3_endpoint": "minio:9000"})
    with pytest.raises(InputError, match=r"storage_options\['retries'\] must be a whole number"):
        storage_options({"retries": 2.5})
    with pytest.raises(InputError, match=r"storage_options\['anonymous'\] must be True or False"):
        storage_options({"anonymous": "yes"})
    with pytest.raises(InputError, match="malformed header") as caught:
        storage_options({"headers": ["Bearer s3cr3t-token"]})
    assert "s3cr3t" not in str(caught.value)
    with pytest.raises(InputError, match="must be a mapping"):
        ngffkit.open("memory://x", storage_options=[("timeout", 1)])  # type: ignore[arg-type]
    options = storage_options(
        {"headers": {"Authorization": "Bearer s3cr3t-token"}, "cache_size": "64M", "timeout": 5}
    )
    assert options is not None
    assert options.headers == ("Authorization: Bearer s3cr3t-token",)
    assert options.cache_bytes == 64 * 2**20 and options.timeout == 5.0
    assert "s3cr3t" not in repr(options)
    with pytest.raises(Exception, match="cannot assign|frozen"):
        options.timeout = 1  # type: ignore[misc]


def test_headers_reach_the_server_for_this_call_only(server_factory: ServerFactory) -> None:
    server = server_factory(bearer="s3cr3t-token")
    url = server.url("sharded.ome.zarr")
    token = {"headers": {"Authorization": "Bearer s3cr3t-token"}}
    image = ngffkit.open(url, storage_options=token)
    assert image.levels[0][0:2, 0:4, 0:4].shape == (2, 4, 4)
    assert ngffkit.describe(url, storage_options=token)["levels"]
    assert ngffkit.validate(url, storage_options=token).valid
    sent = {r.authorization for r in server.log if r.status in (200, 206)}
    assert sent == {"Bearer s3cr3t-token"}
    # The next call without the option goes without the header: nothing leaked.
    with pytest.raises(StorageError, match="needs credentials") as caught:
        ngffkit.open(url)
    assert "s3cr3t" not in str(caught.value)
    with pytest.raises(StorageError, match="was refused") as caught:
        ngffkit.open(url, storage_options={"headers": {"Authorization": "Bearer wrong-one"}})
    assert "wrong-one" not in str(caught.value)
    assert storage.default_options().headers == ()


def test_two_endpoints_in_one_process(
    keys: None,
    s3: Moto,
    other_moto: Moto,
    stack: tuple[Path, np.ndarray],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NGFFKIT_S3_ENDPOINT")  # nothing process-wide: each call says where
    storage.configure(None)
    folder, data = stack
    url = "s3://lab/img.ome.zarr"  # the same URL on both servers, different images
    for server, volume in ((s3, data), (other_moto, data[:, ::-1].copy())):
        server.create_bucket("lab")
        if volume is not data:
            (tmp_path / "flipped").mkdir()
            for z, plane in enumerate(volume):
                tifffile.imwrite(tmp_path / "flipped" / f"s{z:03d}.tif", plane)
        source = folder if volume is data else tmp_path / "flipped"
        # Several worker threads: the options reach every task, not only the caller's thread.
        ngffkit.convert(
            source, url, chunks=16, jobs=2, storage_options={"s3_endpoint": server.endpoint}
        )
    first = ngffkit.open(url, storage_options={"s3_endpoint": s3.endpoint})
    second = ngffkit.open(url, storage_options={"s3_endpoint": other_moto.endpoint})
    np.testing.assert_array_equal(first.read(), data)
    np.testing.assert_array_equal(second.read(), data[:, ::-1])
    # ... and both again, interleaved, in worker threads of one call each (the input side).
    back = ngffkit.convert(
        url,
        tmp_path / "from-second.ome.zarr",
        jobs=2,
        storage_options={"s3_endpoint": other_moto.endpoint},
    )
    assert isinstance(back, ngffkit.Image)
    np.testing.assert_array_equal(back.read(), data[:, ::-1])
    assert ngffkit.describe(url, storage_options={"s3_endpoint": s3.endpoint})["levels"]
    with pytest.raises(StorageError):  # no endpoint given: AWS itself, unreachable here
        ngffkit.open(
            url,
            storage_options={
                "retries": 0,
                "s3_region": "us-east-1",
                "s3_endpoint": "http://127.0.0.1:9",
            },
        )


def test_downsample_and_compress_take_the_options(
    keys: None, s3: Moto, stack: tuple[Path, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NGFFKIT_S3_ENDPOINT")
    storage.configure(None)
    folder, data = stack
    opts = {"s3_endpoint": s3.endpoint}
    s3.create_bucket("work")
    ngffkit.convert(folder, "s3://work/a.ome.zarr", chunks=8, levels=1, storage_options=opts)
    image = ngffkit.downsample("s3://work/a.ome.zarr", levels=3, jobs=2, storage_options=opts)
    assert isinstance(image, ngffkit.Image) and len(image.levels) == 3
    out = ngffkit.compress(
        "s3://work/a.ome.zarr",
        output="s3://work/b.ome.zarr",
        compression="gzip:1",
        jobs=2,
        storage_options=opts,
    )
    assert isinstance(out, ngffkit.Image)
    np.testing.assert_array_equal(out.read(), data)
    assert ngffkit.validate("s3://work/b.ome.zarr", storage_options=opts).valid
    with pytest.raises(StorageError):  # without the option: not this server
        ngffkit.open(
            "s3://work/b.ome.zarr",
            storage_options={"retries": 0, "s3_endpoint": "http://127.0.0.1:9"},
        )


def test_anonymous_sends_no_credentials(
    s3: Moto, monkeypatch: pytest.MonkeyPatch, stack: tuple[Path, np.ndarray]
) -> None:
    s3.create_bucket("public")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": ["arn:aws:s3:::public", "arn:aws:s3:::public/*"],
            }
        ],
    }
    s3.client().put_bucket_policy(Bucket="public", Policy=json.dumps(policy))
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    ngffkit.convert(stack[0], "s3://public/img.ome.zarr", chunks=16)
    # A profile that does not exist: every signed request fails before it is sent.
    for name in CREDENTIALS:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    storage.configure(None)
    with pytest.raises(StorageError):
        ngffkit.open("s3://public/img.ome.zarr", storage_options={"retries": 0})
    image = ngffkit.open("s3://public/img.ome.zarr", storage_options={"anonymous": True})
    np.testing.assert_array_equal(image.read(), stack[1])
    assert ngffkit.describe("s3://public/img.ome.zarr", storage_options={"anonymous": True})[
        "levels"
    ]


def test_the_cache_size_holds_for_the_images_the_call_opened(ranged: Any) -> None:
    url = ranged.url("sharded.ome.zarr")
    small = ngffkit.open(url, storage_options={"cache_size": "64K"})
    default = ngffkit.open(url)
    assert small.levels[0].storage.cache_bytes == 64 << 10
    assert default.levels[0].storage.cache_bytes == storage.default_options().cache_bytes
    # A read bigger than a quarter of the cache bypasses it: only for the small cache, and
    # still after the call returned (the level keeps its call's options).
    np.testing.assert_array_equal(small.read(), default.read())
    assert small.levels[0]._uncached is not None and default.levels[0]._uncached is None


def test_retries_are_per_call(server_factory: ServerFactory) -> None:
    # The image's .zattrs answers 503 twice before it serves (every path: 10 s of backoffs).
    server = server_factory(fail_status=503, fail_times=2, fail_match=r"^/v04\.ome\.zarr/\.zattrs$")
    url = server.url("v04.ome.zarr")
    with pytest.raises(StorageError, match="HTTP 503"):
        ngffkit.open(url, storage_options={"retries": 0})
    failed = [r for r in server.log if r.status == 503]
    assert len(failed) == 1  # no retry
    image = ngffkit.open(url, storage_options={"retries": 4})
    assert image.levels[0][0:1, 0:2, 0:2].shape == (1, 2, 2)
    assert [r.status for r in server.log if r.path.endswith("/.zattrs")][:3] == [503, 503, 200]


TIMEOUT_SCRIPT = """
import sys, time, warnings
import ngffkit
from ngffkit.errors import StorageError
started = time.monotonic()
try:
    ngffkit.open(sys.argv[1], storage_options={"timeout": 1, "retries": 0})
except StorageError as exc:
    print(f"{time.monotonic() - started:.1f}", exc)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        ngffkit.open(sys.argv[1], storage_options={"timeout": 20, "retries": 0})
    except StorageError:
        pass
print("WARN", [str(w.message) for w in caught])
"""


def test_a_timeout_takes_effect(server_factory: ServerFactory) -> None:
    # A fresh process: the HTTP transport takes its timeout from the first call that needs it.
    server = server_factory(stall=6.0)
    done = subprocess.run(
        [sys.executable, "-c", TIMEOUT_SCRIPT, server.url("v04.ome.zarr")],
        env=src_env(base={"PATH": "/usr/bin:/bin"}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    first, warned = done.stdout.splitlines()[:2]
    seconds, message = first.split(" ", 1)
    assert float(seconds) < 5.0, first
    assert "did not answer in time" in message
    assert "timeout 20 s cannot apply" in warned and "already uses 1 s" in warned


def test_options_do_not_leak_between_threads(server_factory: ServerFactory) -> None:
    import concurrent.futures

    server = server_factory(bearer="t0ken")
    url = server.url("sharded.ome.zarr")

    def open_with(token: str | None) -> str:
        opts: Any = {"headers": {"Authorization": f"Bearer {token}"}} if token else None
        try:
            ngffkit.open(url, storage_options=opts)
            return "ok"
        except StorageError:
            return "refused"
        finally:
            time.sleep(0.01)

    with concurrent.futures.ThreadPoolExecutor(4) as pool, warnings.catch_warnings():
        warnings.simplefilter("ignore", NgffWarning)
        results = list(pool.map(open_with, ["t0ken", None, "t0ken", None] * 3))
    assert results == ["ok", "refused", "ok", "refused"] * 3
