"""storage: URLs to kvstore specs, reads/writes, listing, and safe deletion."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ngffkit.errors import InputError, MetadataError
from ngffkit.storage import resolve


def test_local_paths_and_file_urls_resolve_alike(tmp_path: Path) -> None:
    a = resolve(tmp_path / "x.zarr")
    b = resolve((tmp_path / "x.zarr").as_uri())
    assert a.url == b.url
    assert a.kvstore == {"driver": "file", "path": f"{tmp_path}/x.zarr/"}
    assert a.local_path == tmp_path / "x.zarr"
    assert a.child("0", "c").kvstore["path"] == f"{tmp_path}/x.zarr/0/c/"


@pytest.mark.parametrize(
    ("url", "spec"),
    [
        ("memory://a/b", {"driver": "memory", "path": "a/b/"}),
        (
            "http://127.0.0.1:8000/data/img.zarr",
            {"driver": "http", "base_url": "http://127.0.0.1:8000", "path": "/data/img.zarr/"},
        ),
        (
            "s3://bucket/path/img.zarr",
            {"driver": "s3", "bucket": "bucket", "path": "path/img.zarr/"},
        ),
        ("gs://bucket/img.zarr", {"driver": "gcs", "bucket": "bucket", "path": "img.zarr/"}),
    ],
)
def test_remote_urls_map_to_kvstores(
    url: str, spec: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in (
        "NGFFKIT_S3_ENDPOINT",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "NGFFKIT_HTTP_HEADERS",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("NGFFKIT_RETRIES", raising=False)
    kvstore = dict(resolve(url).kvstore)
    context = kvstore.pop("context", {})
    assert kvstore == spec
    # A remote location carries its retry settings (they hold for it alone).
    retries = {key: value for key, value in context.items() if key.endswith("_request_retries")}
    assert list(retries.values()) == (
        []
        if url.startswith("memory")
        else [{"max_retries": 6, "initial_delay": "250ms", "max_delay": "8s"}]
    )


def test_s3_endpoint_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NGFFKIT_S3_ENDPOINT", "http://127.0.0.1:9000")
    assert resolve("s3://b/p").kvstore["endpoint"] == "http://127.0.0.1:9000"


@pytest.mark.parametrize("bad", ["ftp://host/x", "", "s3:///nobucket"])
def test_bad_urls_are_input_errors(bad: str) -> None:
    with pytest.raises(InputError):
        resolve(bad)


def test_child_refuses_to_escape() -> None:
    with pytest.raises(InputError, match=r"'\.\.'"):
        resolve("memory://root").child("../other")


@pytest.mark.parametrize("url_kind", ["file", "memory"])
def test_read_write_list_delete(url_kind: str, tmp_path: Path) -> None:
    loc = resolve(tmp_path / "store") if url_kind == "file" else resolve("memory://storage-test")
    assert loc.read("missing") is None
    loc.write("a/zarr.json", b'{"x": 1}')
    loc.write("a/b/c", b"12345")
    assert loc.read_json("a/zarr.json") == {"x": 1}
    sizes = loc.list_sizes()
    assert sizes is not None and sizes["a/b/c"] == 5
    loc.write("bad.json", b"{not json")
    with pytest.raises(MetadataError, match=r"bad\.json is not valid JSON"):
        loc.read_json("bad.json")
    loc.write("list.json", b"[1, 2]")
    with pytest.raises(MetadataError, match="JSON object"):
        loc.read_json("list.json")
    loc.delete("a/b/c")
    assert loc.read("a/b/c") is None
    child = loc.child("a")
    assert child.read_json("zarr.json") == {"x": 1}
    child.delete_tree()
    assert loc.read("a/zarr.json") is None
    assert loc.read("bad.json") is not None  # siblings survive


def test_local_sizes_list_what_os_walk_lists(tmp_path: Path) -> None:
    root = tmp_path / "img"
    for key, size in {
        "zarr.json": 3,
        "0/zarr.json": 5,
        "0/c/0/0/0": 7,
        "0/c/0/0/1": 0,
        "1/c/1/0/0": 11,
        ".hidden/x": 2,
    }.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(b"x" * size)
    (root / "empty").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big").write_bytes(b"x" * 100)
    (root / "linked-folder").symlink_to(outside)  # listed by os.walk, not entered
    (root / "0" / "linked-file").symlink_to(outside / "big")  # the target's size
    (root / "dangling").symlink_to(tmp_path / "nothing")  # skipped
    expected: dict[str, int] = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(folder, name)
            if os.path.exists(full):
                expected[os.path.relpath(full, root).replace(os.sep, "/")] = os.stat(full).st_size
    sizes = resolve(str(root)).list_sizes()
    assert sizes is not None and list(sizes.items()) == list(expected.items())
    assert sizes["0/linked-file"] == 100 and "dangling" not in sizes
    assert resolve(str(tmp_path / "none")).list_sizes() == {}


def test_delete_tree_never_touches_outside(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("keep")
    target = tmp_path / "out"
    (target / "sub").mkdir(parents=True)
    (target / "sub" / "f").write_text("x")
    resolve(target).delete_tree()
    assert not target.exists()
    assert (tmp_path / "keep.txt").read_text() == "keep"
