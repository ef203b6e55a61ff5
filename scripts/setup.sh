#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine and builds the contracts. Idempotent: a second run
# reinstalls nothing that is already current.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$VERINFER_ROOT"

stamp() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

# Node toolchain: Foundry (anvil, forge, cast) and solc, pinned in package-lock.json.
lock_stamp=$(stamp package.json package-lock.json)
if [ ! -f node_modules/.verinfer-stamp ] || [ "$(cat node_modules/.verinfer-stamp)" != "$lock_stamp" ]; then
    echo "==> npm ci (Foundry + solc)"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$lock_stamp" > node_modules/.verinfer-stamp
fi

# The TypeScript package (js/): its own lock; its install scripts stay off (js/.npmrc: onnxruntime-node's would
# download CUDA binaries; the CPU ones ship in the npm package).
js_stamp=$(stamp js/package.json js/package-lock.json)
if [ ! -f js/node_modules/.verinfer-stamp ] || [ "$(cat js/node_modules/.verinfer-stamp)" != "$js_stamp" ]; then
    echo "==> npm ci --prefix js (@verinfer/sdk)"
    npm ci --prefix js --no-audit --no-fund --loglevel=error
    echo "$js_stamp" > js/node_modules/.verinfer-stamp
fi

# The explorer's page (esbuild bundle + onnxruntime-web's WASM) into the Python package, which serves it.
echo "==> npm --prefix js run build:explorer"
npm --prefix js run build:explorer --silent

# The browser tests drive Debian's chromium headless (Playwright for Python with executable_path=/usr/bin/chromium;
# never a browser build of Playwright's own). Installed once, where apt is there to do it.
if ! command -v chromium >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "==> apt-get install chromium"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "warning: no chromium, and no apt-get as root to install it: the explorer's browser tests will fail" >&2
    fi
fi

# Python: the verinfer package with its dev extras in .venv.
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
py_stamp=$(stamp pyproject.toml)
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
fi
if [ ! -f .venv/.verinfer-stamp ] || [ "$(cat .venv/.verinfer-stamp)" != "$py_stamp" ]; then
    echo "==> pip install -e .[dev]"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[dev]'
    echo "$py_stamp" > .venv/.verinfer-stamp
fi

# Contracts: one build whose artifacts (out/) forge tests, Python and Slither all read.
FORGE=$(foundry_bin forge)
echo "==> forge build"
"$FORGE" build
