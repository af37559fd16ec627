#!/usr/bin/env bash
# Install everything the tests need on a fresh machine of this kind, then run the whole suite:
# lint (ruff), types (mypy --strict on src/), and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install -q --disable-pip-version-check -e ".[test]"

# Debian's Chromium drives the Neuroglancer browser tests (Playwright uses it, never its own download).
if ! command -v chromium >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
            || echo "warning: could not install chromium; the browser tests will fail" >&2
    fi
fi

python3 -m ruff check --no-cache src tests benchmarks
python3 -m mypy
python3 -m pytest -q "$@"
