#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine and builds the contracts. Idempotent: a second run
# reinstalls nothing that is already current.
#
# The installs are independent of each other and mostly wait on the network and the disk, so they run at the same
# time, each into its own log, printed when it ends. The contracts build as soon as the Foundry toolchain is in.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$VERINFER_ROOT"

stamp() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

# Node toolchain: Foundry (anvil, forge, cast) and solc, pinned in package-lock.json; then the contracts: one build
# whose artifacts (out/) forge tests, Python and Slither all read.
toolchain_and_contracts() {
    local lock_stamp
    lock_stamp=$(stamp package.json package-lock.json)
    if [ ! -f node_modules/.verinfer-stamp ] || [ "$(cat node_modules/.verinfer-stamp)" != "$lock_stamp" ]; then
        echo "==> npm ci (Foundry + solc)"
        npm ci --no-audit --no-fund --loglevel=error
        echo "$lock_stamp" >node_modules/.verinfer-stamp
    fi
    echo "==> forge build"
    "$(foundry_bin forge)" build
}

# The TypeScript package (js/): its own lock; its install scripts stay off (js/.npmrc: onnxruntime-node's would
# download CUDA binaries; the CPU ones ship in the npm package). Then the explorer's page (esbuild bundle +
# onnxruntime-web's WASM) into the Python package, which serves it.
js_package() {
    local js_stamp
    js_stamp=$(stamp js/package.json js/package-lock.json)
    if [ ! -f js/node_modules/.verinfer-stamp ] || [ "$(cat js/node_modules/.verinfer-stamp)" != "$js_stamp" ]; then
        echo "==> npm ci --prefix js (@verinfer/sdk)"
        npm ci --prefix js --no-audit --no-fund --loglevel=error
        echo "$js_stamp" >js/node_modules/.verinfer-stamp
    fi
    echo "==> npm --prefix js run build:explorer"
    npm --prefix js run build:explorer --silent
}

# The browser tests drive Debian's chromium headless (Playwright for Python with executable_path=/usr/bin/chromium;
# never a browser build of Playwright's own). Installed once, where apt is there to do it.
debian_chromium() {
    if ! command -v chromium >/dev/null 2>&1; then
        if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
            echo "==> apt-get install chromium"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
        else
            echo "warning: no chromium, and no apt-get as root to install it: the explorer's browser tests will fail" >&2
        fi
    fi
}

# Python: the verinfer package with its dev extras in .venv.
python_env() {
    local python=${PYTHON:-python3.11} py_stamp
    command -v "$python" >/dev/null 2>&1 || python=python3
    py_stamp=$(stamp pyproject.toml)
    if [ ! -x .venv/bin/python ]; then
        echo "==> creating .venv with $python"
        "$python" -m venv .venv
    fi
    if [ ! -f .venv/.verinfer-stamp ] || [ "$(cat .venv/.verinfer-stamp)" != "$py_stamp" ]; then
        echo "==> pip install -e .[dev]"
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -e '.[dev]'
        echo "$py_stamp" >.venv/.verinfer-stamp
    fi
    # Bytecode for the package and the tests, which an editable install does not compile: with
    # PYTHONDONTWRITEBYTECODE set (as on these machines) every process would compile them again on import, ~0.1 s of
    # CPU per node process. Stale files are harmless: Python checks each against its source and recompiles in memory.
    env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -m compileall -q node/verinfer tests bench >/dev/null
}

logs=$(mktemp -d)
declare -A pids
for step in toolchain_and_contracts js_package debian_chromium python_env; do
    # Not `( ... ) || ...`: bash ignores `set -e` inside a command whose status a `||` tests.
    (
        set -euo pipefail
        "$step"
        echo "==> $step done (at ${SECONDS}s)"
    ) >"$logs/$step" 2>&1 &
    pids[$step]=$!
done
failed=""
for step in toolchain_and_contracts js_package debian_chromium python_env; do
    rc=0
    wait "${pids[$step]}" || rc=$?
    cat "$logs/$step"
    if [ "$rc" -ne 0 ]; then
        echo "error: setup step $step failed (exit $rc)" >&2
        failed="$failed $step"
    fi
done
rm -rf "$logs"
[ -z "$failed" ] || exit 1
