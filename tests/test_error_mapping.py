"""Upstream errors reach users only through one mapping (``error_mapping.mapped_errors``).

- every call into tensorstore in ``src/ngffkit`` (an open, a read, a write, a listing, a
  delete) sits inside a ``with mapped_errors(...)`` block: found with ``ast``, so a new call
  site that forgets it fails here;
- a table of what tensorstore and the OS say, and what the user is told instead.
"""

from __future__ import annotations

import ast
import errno

import pytest
import tensorstore as ts

from _support import SRC
from ngffkit.error_mapping import map_error
from ngffkit.errors import InputError, NgffkitError, NotFoundError, StorageError
from ngffkit.storage import KvstoreSpec, mapped_errors, os_errors, resolve

PACKAGE = SRC / "ngffkit"

# Methods of a tensorstore KvStore / TensorStore whose future (``.result()``) or awaitable
# carries the store's error.
_STORE_OPS = {"open", "read", "write", "list", "delete_range"}


def _is_store_call(node: ast.AST) -> bool:
    """``ts.open(...)``, ``ts.KvStore.open(...)``, ``X.read(...).result()`` and the like, or
    ``await X.read(...)``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        func = node.func
        target = func.value
        if func.attr == "open" and (
            (isinstance(target, ast.Name) and target.id == "ts")
            or (isinstance(target, ast.Attribute) and target.attr == "KvStore")
        ):
            return True
        if func.attr == "result" and not node.args:
            inner = target
            return (
                isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Attribute)
                and inner.func.attr in _STORE_OPS
            )
    if isinstance(node, ast.Await):
        # an awaited KvStore operation (the serve proxy's ``await self._kv.read(...)``);
        # ngffkit names its KvStore handles ``kv`` or ``_kv``
        value = node.value
        return (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Attribute)
            and value.func.attr in _STORE_OPS
            and _name_of(value.func.value) in ("kv", "_kv")
        )
    return False


def _name_of(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _is_mapping_with(node: ast.AST) -> bool:
    if not isinstance(node, (ast.With, ast.AsyncWith)):
        return False
    for item in node.items:
        call = item.context_expr
        if isinstance(call, ast.Call):
            name = (
                call.func.attr
                if isinstance(call.func, ast.Attribute)
                else getattr(call.func, "id", "")
            )
            if name == "mapped_errors":
                return True
    return False


def unmapped_store_calls(tree: ast.AST) -> list[int]:
    """Line numbers of calls into tensorstore not inside ``with mapped_errors(...)``."""
    found: list[int] = []

    def visit(node: ast.AST, mapped: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            mapped = False  # a function body runs later: only its own blocks count
        if _is_store_call(node) and not mapped:
            found.append(node.lineno)  # type: ignore[attr-defined]
        inside = mapped or _is_mapping_with(node)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return found


def test_every_tensorstore_call_is_mapped() -> None:
    offenders = []
    calls = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        calls += sum(_is_store_call(n) for n in ast.walk(tree))
        offenders += [f"{path.relative_to(PACKAGE)}:{line}" for line in unmapped_store_calls(tree)]
    assert calls > 20, "the scan no longer finds the tensorstore calls it is meant to check"
    assert not offenders, f"calls into tensorstore outside `with mapped_errors(...)`: {offenders}"


def test_the_scan_finds_an_unmapped_call() -> None:
    """The scan itself can fail: a bare call, or one in a nested function, is reported."""
    source = (
        "def f(kv, ts):\n"
        "    kv.read('k').result()\n"
        "    with mapped_errors(loc):\n"
        "        kv.write('k', b'').result()\n"
        "        def later():\n"
        "            return ts.open({}).result()\n"
        "async def g(kv):\n"
        "    return await kv.read('k')\n"
    )
    assert unmapped_store_calls(ast.parse(source)) == [2, 6, 6, 8]


# -- the table: what upstream says, what the user reads ------------------------------------

S3 = resolve("s3://bucket/data.zarr")
HTTP = resolve("http://127.0.0.1:9/data.zarr")

TABLE = [
    # (where, upstream error, our class, words the message must hold)
    (
        HTTP,
        ValueError("NOT_FOUND: Error reading \"zarr.json\" [http_response_code='404']"),
        NotFoundError,
        "http://127.0.0.1:9/data.zarr/zarr.json was not found",
    ),
    (
        HTTP,
        ValueError("PERMISSION_DENIED: HTTP response code: 401 [http_response_code='401']"),
        StorageError,
        "needs credentials (HTTP 401)",
    ),
    (
        HTTP,
        ValueError("PERMISSION_DENIED: [HTTP code 403] forbidden"),
        StorageError,
        "was refused (HTTP 403); the credentials are missing",
    ),
    (
        S3,
        ValueError("PERMISSION_DENIED: [HTTP code 403] forbidden"),
        StorageError,
        "check the AWS credentials",
    ),
    (
        S3,
        ValueError("NOT_FOUND: <Code>NoSuchBucket</Code> [http_response_code='404']"),
        NotFoundError,
        "the bucket 'bucket' does not exist",
    ),
    (
        S3,
        ValueError("<Code>InvalidAccessKeyId</Code> [http_response_code='403']"),
        StorageError,
        "the credentials were refused for s3://bucket/data.zarr/zarr.json",
    ),
    (
        HTTP,
        ValueError("UNAVAILABLE: All 3 retry attempts failed [http_response_code='503']"),
        StorageError,
        "failed with HTTP 503 after retrying",
    ),
    (
        HTTP,
        ValueError("RESOURCE_EXHAUSTED: [http_response_code='429']"),
        StorageError,
        "429 Too Many Requests",
    ),
    (
        HTTP,
        ValueError("UNAVAILABLE: CURL error Couldn't connect [curl_code='7']"),
        StorageError,
        "the connection was refused",
    ),
    (
        HTTP,
        ValueError("UNAVAILABLE: Could not resolve host: nowhere [curl_code='6']"),
        StorageError,
        "the host name does not resolve",
    ),
    (
        HTTP,
        ValueError("DEADLINE_EXCEEDED: Operation timed out [curl_code='28']"),
        StorageError,
        "did not answer in time (timeout sets the limit)",
    ),
    (
        resolve("/tmp/x.zarr"),
        ValueError(
            'PERMISSION_DENIED: Error writing local file "/tmp/x.zarr/c/0": Permission denied'
        ),
        StorageError,
        "cannot access /tmp/x.zarr/c/0: permission denied",
    ),
    (
        resolve("/tmp/x.zarr"),
        ValueError("RESOURCE_EXHAUSTED: No space left on device"),
        StorageError,
        "no space left on the device",
    ),
    (
        HTTP,
        RuntimeError("INTERNAL: something odd [http_response_code='418']"),
        StorageError,
        "cannot access http://127.0.0.1:9/data.zarr/zarr.json: HTTP 418",
    ),
    (
        HTTP,
        OSError("a socket went away"),
        StorageError,
        "cannot access http://127.0.0.1:9/data.zarr/zarr.json: a socket went away",
    ),
    (
        KvstoreSpec({"driver": "gcs", "bucket": "b", "path": "p/"}),
        ValueError("PERMISSION_DENIED: [HTTP code 403]"),
        StorageError,
        "access to gs://b/p/zarr.json was refused (HTTP 403); check GOOGLE_APPLICATION_CREDENTIALS",
    ),
]


@pytest.mark.parametrize(("where", "upstream", "kind", "words"), TABLE)
def test_upstream_errors_are_worded(where, upstream, kind, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(kind) as caught, mapped_errors(where, "zarr.json"):
        raise upstream
    assert words in str(caught.value)
    assert caught.value.__cause__ is upstream
    # map_error (the function behind the block) says the same
    assert str(map_error(upstream, where, "zarr.json")) == str(caught.value)


def test_secrets_never_reach_the_message() -> None:
    where = KvstoreSpec(
        {
            "driver": "http",
            "base_url": "http://u:pw@127.0.0.1:9",
            "path": "/d/",
            "headers": ["Authorization: Bearer SECRET"],
        }
    )
    upstream = ValueError("INTERNAL: sent Authorization: Bearer SECRET to http://u:pw@127.0.0.1:9/")
    with pytest.raises(StorageError) as caught, mapped_errors(where):
        raise upstream
    assert "SECRET" not in str(caught.value) and "pw" not in str(caught.value)


def test_real_tensorstore_error_is_mapped() -> None:
    """What tensorstore itself raises for a missing array becomes a NotFoundError."""
    where = resolve("memory://nothing-here.zarr")
    spec = {"driver": "zarr3", "kvstore": where.kvstore}
    with pytest.raises(NotFoundError, match="memory://nothing-here.zarr"), mapped_errors(where):
        ts.open(spec, open=True).result()


def test_ngffkit_errors_pass_unchanged() -> None:
    for error in (InputError("bad input"), NgffkitError("ours"), NotFoundError("gone")):
        with pytest.raises(type(error)) as caught, mapped_errors(HTTP):
            raise error
        assert caught.value is error


@pytest.mark.parametrize(
    ("code", "kind", "words"),
    [
        (errno.EACCES, StorageError, "cannot write /x/y: permission denied"),
        (errno.ENOSPC, StorageError, "no space left on the device"),
        (errno.EROFS, StorageError, "the filesystem is read-only"),
        (errno.ENOENT, NotFoundError, "no such file or folder"),
        (errno.EISDIR, StorageError, "it is a folder, not a file"),
    ],
)
def test_os_errors_are_worded(code: int, kind: type[Exception], words: str) -> None:
    with pytest.raises(kind, match=words) as caught, os_errors("/x/y", "write"):
        raise OSError(code, "upstream words")
    assert caught.value.errno == code  # type: ignore[attr-defined]
