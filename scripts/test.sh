#!/usr/bin/env bash
# Install everything the tests need on a fresh machine of this kind, then run the whole suite on
# every supported Python, one after the other (the machine has two cores; one suite keeps both
# busy): lint (ruff) and types (mypy --strict on src/ and benchmarks/) once, then pytest in one
# virtual environment per interpreter under .venvs/:
#   3.11 with the oldest releases ngffkit supports (.ci/lower-bounds.txt: pyproject's lower bounds),
#   3.12 and 3.13 with the newest releases.
# The Neuroglancer browser tests (marker `browser`) run on one interpreter ($BROWSER_PYTHON), and
# so do the WEBKNOSSOS round trips (marker `webknossos`): the `webknossos` package runs in its own
# venv (.venvs/webknossos, Python $WEBKNOSSOS_PYTHON; it pins typer, rich, psutil, click apart
# from ours), which the tests call through NGFF_WEBKNOSSOS_PYTHON.
# Extra arguments go to every pytest run. NGFF_PYTHONS="3.12" runs a subset.
# Prints one summary line per interpreter; exits non-zero when any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHONS=(${NGFF_PYTHONS:-3.11 3.12 3.13})
LOWER_BOUNDS_PYTHON=3.11
BROWSER_PYTHON=3.12
WEBKNOSSOS_PYTHON=3.12
VENVS=.venvs

# The interpreter for version X.Y: pyenv's newest X.Y.*, else python X.Y on PATH; checked by asking it.
find_python() {
    local want=$1 candidate roots=()
    command -v pyenv >/dev/null 2>&1 && roots+=("$(pyenv root)")
    roots+=("${PYENV_ROOT:-$HOME/.pyenv}" /root/.pyenv)
    for root in "${roots[@]}"; do
        for candidate in $(ls -d "$root/versions/$want".*/bin/python 2>/dev/null | sort -V -r); do
            if [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$want" ]; then
                echo "$candidate"
                return 0
            fi
        done
    done
    candidate=$(command -v "python$want" 2>/dev/null) || return 1
    [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$want" ] \
        && echo "$candidate"
}

# pip on this machine warns about each configured local index it cannot find; that is noise.
quiet_pip() { grep -v "is ignored: it is neither a file nor a directory" || true; }

# Debian's Chromium drives the Neuroglancer browser tests (Playwright uses it, never its own download).
if ! command -v chromium >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
            || echo "warning: could not install chromium; the browser tests will fail" >&2
    fi
fi

mkdir -p "$VENVS"
status=0
linted=""
summaries=()

# The webknossos package's own venv (tests/wk_roundtrip): a missing one fails those tests.
export NGFF_REQUIRE_WEBKNOSSOS=1
if [[ " ${PYTHONS[*]} " == *" $WEBKNOSSOS_PYTHON "* ]] \
    && wk_python=$(find_python "$WEBKNOSSOS_PYTHON"); then
    wk_venv="$VENVS/webknossos"
    echo "=== webknossos ($wk_python): installing into $wk_venv"
    started=$SECONDS
    # (about 40 s and 530 MiB from scratch; the import check catches a half-installed venv)
    if { [ -x "$wk_venv/bin/python" ] || "$wk_python" -m venv "$wk_venv"; } \
        && "$wk_venv/bin/python" -m pip install -q --disable-pip-version-check \
            "webknossos>=4.3" 2>&1 | quiet_pip \
        && WEBKNOSSOS_SKIP_VERSION_CHECK=1 "$wk_venv/bin/python" -W ignore \
            -c "import webknossos, cluster_tools"; then
        export NGFF_WEBKNOSSOS_PYTHON="$PWD/$wk_venv/bin/python"
        summaries+=("webknossos venv: ok, install $((SECONDS - started)) s")
    else
        summaries+=("webknossos venv: INSTALL FAILED (its tests fail)")
        status=1
    fi
fi
for version in "${PYTHONS[@]}"; do
    started=$SECONDS
    python=$(find_python "$version") || {
        echo "error: Python $version not found (looked in \$(pyenv root)/versions/$version.*," \
             "/root/.pyenv/versions/$version.* and python$version on PATH); install it, e.g." \
             "'pyenv install $version'" >&2
        summaries+=("Python $version: NOT FOUND")
        status=1
        continue
    }
    venv="$VENVS/py$version"
    constraints=()
    what="newest releases"
    if [ "$version" = "$LOWER_BOUNDS_PYTHON" ]; then
        constraints=(-c .ci/lower-bounds.txt)
        what="lower bounds"
    fi
    echo "=== Python $version ($python, $what): installing into $venv"
    # pipefail: the pipeline fails when pip does.
    if ! { [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"; } \
        || ! "$venv/bin/python" -m pip install -q --disable-pip-version-check \
                "${constraints[@]}" -e ".[test]" 2>&1 | quiet_pip; then
        summaries+=("Python $version ($what): INSTALL FAILED")
        status=1
        continue
    fi
    installed=$((SECONDS - started))
    # Lint and type-check once, against the newest releases (the first interpreter that has
    # them; the lower-bounds one only when it runs alone).
    if [ -z "$linted" ] && { [ "$version" != "$LOWER_BOUNDS_PYTHON" ] || [ "${#PYTHONS[@]}" = 1 ]; }; then
        linted=$version
        echo "=== ruff and mypy (Python $version)"
        ruff=ok mypy=ok
        "$venv/bin/python" -m ruff check --no-cache src tests benchmarks || { ruff=FAILED; status=1; }
        "$venv/bin/python" -m ruff format --check --no-cache src tests benchmarks scripts || { ruff=FAILED; status=1; }
        "$venv/bin/python" -m mypy || { mypy=FAILED; status=1; }
        summaries+=("ruff $ruff, mypy $mypy (Python $version)")
    fi
    markers=()
    skip=()
    [ "$version" = "$BROWSER_PYTHON" ] || skip+=("not browser")
    [ "$version" = "$WEBKNOSSOS_PYTHON" ] || skip+=("not webknossos")
    if [ "${#skip[@]}" -gt 0 ]; then
        joined="${skip[0]}"
        [ "${#skip[@]}" -gt 1 ] && joined="$joined and ${skip[1]}"
        markers=(-m "$joined")
    fi
    echo "=== Python $version: pytest"
    log="$VENVS/pytest-$version.log"
    tested=$SECONDS
    "$venv/bin/python" -m pytest -q -p no:cacheprovider "${markers[@]}" "$@" 2>&1 | tee "$log"
    code=${PIPESTATUS[0]}
    [ "$code" = 0 ] || status=1
    # pytest's closing line, e.g. "812 passed, 3 skipped in 281.02s (0:04:41)"
    result=$(grep -E '^=*.*(passed|failed|error|no tests ran).* in [0-9.]+s' "$log" | tail -1 | tr -d '=')
    summaries+=("Python $version ($what): ${result:-no pytest summary} -> $([ "$code" = 0 ] && echo ok || echo "FAILED (exit $code)"); install ${installed} s, tests $((SECONDS - tested)) s")
done

echo
echo "=== summary"
for line in "${summaries[@]}"; do
    echo "$line"
done
exit $status
