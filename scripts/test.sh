#!/usr/bin/env bash
# Install everything the tests need on a fresh machine of this kind, then run the whole suite on
# every supported Python: lint (ruff) and types (mypy --strict on src/ and benchmarks/) once,
# then pytest in one virtual environment per interpreter under .venvs/:
#   3.11 with the oldest releases ngffkit supports (.ci/lower-bounds.txt: pyproject's lower bounds),
#   3.12 and 3.13 with the newest releases.
# The Neuroglancer browser tests (marker `browser`) run on one interpreter ($BROWSER_PYTHON), and
# so do the WEBKNOSSOS round trips (marker `webknossos`): the `webknossos` package runs in its own
# venv (.venvs/webknossos, Python $WEBKNOSSOS_PYTHON; it pins typer, rich, psutil, click apart
# from ours), which the tests call through NGFF_WEBKNOSSOS_PYTHON.
#
# The whole run must stay under 30 minutes on a 2-core machine, and one suite keeps about one
# core busy (its CPU time is 98 % of its wall time: much of it waits on subprocesses, servers
# and disks). So the installs (network and disk) run side by side, and so do the suites of the
# interpreters that run neither the browser nor the WEBKNOSSOS tests, each in its own pytest
# base folder, their output printed when they end; the browser interpreter's suite, whose
# Chromium is the most sensitive to a busy machine, runs alone. NGFF_SUITES_TOGETHER=0 runs
# every suite alone. (On 2026-12-05, one after the other: 30 min on a slower machine of this
# kind, 23 min on a faster one.)
# Extra arguments go to every pytest run. NGFF_PYTHONS="3.12" runs a subset.
# Prints one summary line per interpreter; exits non-zero when any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHONS=(${NGFF_PYTHONS:-3.11 3.12 3.13})
LOWER_BOUNDS_PYTHON=3.11
BROWSER_PYTHON=3.12
WEBKNOSSOS_PYTHON=3.12
VENVS=.venvs
TOGETHER=${NGFF_SUITES_TOGETHER:-1}

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
install_chromium() {
    command -v chromium >/dev/null 2>&1 && return 0
    command -v apt-get >/dev/null 2>&1 || return 0
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "warning: could not install chromium; the browser tests will fail" >&2
}

# The webknossos package's own venv (tests/wk_roundtrip); prints its python when it works.
install_webknossos() {
    local wk_python=$1 wk_venv="$VENVS/webknossos"
    # (about 40 s and 530 MiB from scratch; the import check catches a half-installed venv)
    { [ -x "$wk_venv/bin/python" ] || "$wk_python" -m venv "$wk_venv"; } \
        && "$wk_venv/bin/python" -m pip install -q --disable-pip-version-check \
            "webknossos>=4.3" 2>&1 | quiet_pip \
        && WEBKNOSSOS_SKIP_VERSION_CHECK=1 "$wk_venv/bin/python" -W ignore \
            -c "import webknossos, cluster_tools"
}

# ngffkit and its test needs in .venvs/pyX.Y; the lower-bounds interpreter under .ci/lower-bounds.txt.
install_venv() {
    local version=$1 python=$2 venv="$VENVS/py$1" constraints=()
    [ "$version" = "$LOWER_BOUNDS_PYTHON" ] && constraints=(-c .ci/lower-bounds.txt)
    # pipefail: the pipeline fails when pip does.
    { [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"; } \
        && "$venv/bin/python" -m pip install -q --disable-pip-version-check \
            "${constraints[@]}" -e ".[test]" 2>&1 | quiet_pip
}

what_of() { [ "$1" = "$LOWER_BOUNDS_PYTHON" ] && echo "lower bounds" || echo "newest releases"; }

mkdir -p "$VENVS"
status=0
summaries=()
started=$SECONDS

# --- Installs, side by side: Chromium, the webknossos venv, one venv per interpreter.
install_chromium &
chromium_job=$!
export NGFF_REQUIRE_WEBKNOSSOS=1  # a missing webknossos venv fails those tests
wk_job=""
if [[ " ${PYTHONS[*]} " == *" $WEBKNOSSOS_PYTHON "* ]] \
    && wk_python=$(find_python "$WEBKNOSSOS_PYTHON"); then
    echo "=== webknossos ($wk_python): installing into $VENVS/webknossos"
    install_webknossos "$wk_python" >"$VENVS/install-webknossos.log" 2>&1 &
    wk_job=$!
fi
declare -A python_of install_job
ready=()
for version in "${PYTHONS[@]}"; do
    python=$(find_python "$version") || {
        echo "error: Python $version not found (looked in \$(pyenv root)/versions/$version.*," \
             "/root/.pyenv/versions/$version.* and python$version on PATH); install it, e.g." \
             "'pyenv install $version'" >&2
        summaries+=("Python $version: NOT FOUND")
        status=1
        continue
    }
    python_of[$version]=$python
    echo "=== Python $version ($python, $(what_of "$version")): installing into $VENVS/py$version"
    install_venv "$version" "$python" >"$VENVS/install-$version.log" 2>&1 &
    install_job[$version]=$!
done
wait "$chromium_job"
if [ -n "$wk_job" ]; then
    if wait "$wk_job"; then
        export NGFF_WEBKNOSSOS_PYTHON="$PWD/$VENVS/webknossos/bin/python"
        summaries+=("webknossos venv: ok")
    else
        cat "$VENVS/install-webknossos.log"
        summaries+=("webknossos venv: INSTALL FAILED (its tests fail)")
        status=1
    fi
fi
for version in "${PYTHONS[@]}"; do
    [ -n "${install_job[$version]:-}" ] || continue
    if wait "${install_job[$version]}"; then
        ready+=("$version")
    else
        cat "$VENVS/install-$version.log"
        summaries+=("Python $version ($(what_of "$version")): INSTALL FAILED")
        status=1
    fi
done
echo "=== installed in $((SECONDS - started)) s"

# --- Lint and type-check once, against the newest releases (the first interpreter that has
# them; the lower-bounds one only when it is the only one).
for version in "${PYTHONS[@]}"; do
    [[ " ${ready[*]} " == *" $version "* ]] || continue
    if [ "$version" != "$LOWER_BOUNDS_PYTHON" ] || [ "${#PYTHONS[@]}" = 1 ]; then
        venv="$VENVS/py$version"
        echo "=== ruff and mypy (Python $version)"
        ruff=ok mypy=ok
        "$venv/bin/python" -m ruff check --no-cache src tests benchmarks || { ruff=FAILED; status=1; }
        "$venv/bin/python" -m ruff format --check --no-cache src tests benchmarks scripts || { ruff=FAILED; status=1; }
        "$venv/bin/python" -m mypy || { mypy=FAILED; status=1; }
        summaries+=("ruff $ruff, mypy $mypy (Python $version)")
        break
    fi
done

# One interpreter's suite; its output to $VENVS/pytest-X.Y.log (and to the terminal with "tee").
run_suite() {
    local version=$1 show=$2 venv="$VENVS/py$1" skip=() markers=()
    [ "$version" = "$BROWSER_PYTHON" ] || skip+=("not browser")
    [ "$version" = "$WEBKNOSSOS_PYTHON" ] || skip+=("not webknossos")
    if [ "${#skip[@]}" -gt 0 ]; then
        local joined="${skip[0]}"
        [ "${#skip[@]}" -gt 1 ] && joined="$joined and ${skip[1]}"
        markers=(-m "$joined")
    fi
    local log="$VENVS/pytest-$version.log" base="${TMPDIR:-/tmp}/ngffkit-pytest-$version"
    if [ "$show" = tee ]; then
        "$venv/bin/python" -m pytest -q -p no:cacheprovider --basetemp "$base" "${markers[@]}" \
            "${@:3}" 2>&1 | tee "$log"
        return "${PIPESTATUS[0]}"
    fi
    "$venv/bin/python" -m pytest -q -p no:cacheprovider --basetemp "$base" "${markers[@]}" \
        "${@:3}" >"$log" 2>&1
}

# The summary line of one suite, from its log and exit status.
summarise() {
    local version=$1 code=$2 seconds=$3 result
    # pytest's closing line, e.g. "812 passed, 3 skipped in 281.02s (0:04:41)"
    result=$(grep -E '^=*.*(passed|failed|error|no tests ran).* in [0-9.]+s' "$VENVS/pytest-$version.log" | tail -1 | tr -d '=')
    [ "$code" = 0 ] || status=1
    summaries+=("Python $version ($(what_of "$version")): ${result:-no pytest summary} -> $([ "$code" = 0 ] && echo ok || echo "FAILED (exit $code)"); tests ${seconds} s")
}

# --- The suites: those without the browser and WEBKNOSSOS tests side by side, then the rest alone.
together=() alone=()
for version in "${ready[@]}"; do
    if [ "$TOGETHER" != 0 ] && [ "$version" != "$BROWSER_PYTHON" ] \
        && [ "$version" != "$WEBKNOSSOS_PYTHON" ]; then
        together+=("$version")
    else
        alone+=("$version")
    fi
done
if [ "${#together[@]}" = 1 ]; then
    alone=("${together[@]}" "${alone[@]}")
    together=()
fi
if [ "${#together[@]}" -gt 0 ]; then
    echo "=== Python ${together[*]}: pytest, side by side (each printed when it ends)"
    tested=$SECONDS
    declare -A suite_job
    for version in "${together[@]}"; do
        run_suite "$version" log "$@" &
        suite_job[$version]=$!
    done
    for version in "${together[@]}"; do
        wait "${suite_job[$version]}"
        code=$?
        echo "=== Python $version: pytest (ended by $((SECONDS - tested)) s)"
        cat "$VENVS/pytest-$version.log"
        summarise "$version" "$code" $((SECONDS - tested))
    done
fi
for version in "${alone[@]}"; do
    echo "=== Python $version: pytest"
    tested=$SECONDS
    run_suite "$version" tee "$@"
    summarise "$version" $? $((SECONDS - tested))
done

echo
echo "=== summary (in $((SECONDS - started)) s)"
for line in "${summaries[@]}"; do
    echo "$line"
done
exit $status
