#!/usr/bin/env bash
# Sets up (idempotently) and runs every check and test: formatters, linters, types and layers; forge unit, fuzz and
# invariant tests with the gas snapshots; Slither; pytest (unit, anvil integration, the example Foundry project,
# the docs); the TypeScript package against a devnet; the docs site.
#
# Three lanes share the machine's two cores. pytest runs in the foreground and the TypeScript tests beside it: their
# integration tests wait on anvil, node processes and a browser most of the time. The checks that only compute
# (formatters, types, forge, Slither, the docs site) run meanwhile in a background lane at the lowest CPU priority
# (nice 19), so they take the cycles the tests leave idle and never the ones a test is waiting for. The background
# lane's output is printed as one block once it ends; any failure in either lane fails the command.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$VERINFER_ROOT"
source scripts/phases.sh

phase "setup"
"$VERINFER_ROOT/scripts/setup.sh"
FORGE=$(foundry_bin forge)
PY=.venv/bin

checks() {
    phase "formatters, linters, types, layers"
    "$PY/ruff" format --check node tests bench scripts/*.py js/test/python
    "$PY/ruff" check node tests bench scripts/*.py js/test/python
    "$FORGE" fmt --check
    "$PY/lint-imports"
    "$PY/mypy" --strict node/verinfer
    # Tests and bench import the package from node/ and their shared helpers as tests.node.*, hence the paths.
    MYPYPATH=node:. "$PY/mypy" --strict --explicit-package-bases tests bench

    phase "forge test"
    "$FORGE" test --no-match-contract GasTest

    # Gas: isolated (each call its own transaction), so the figures are whole-transaction gas. Both the named
    # snapshots (snapshots/GasTest.json) and .gas-snapshot must match what is committed.
    phase "gas snapshots"
    FORGE_SNAPSHOT_CHECK=true "$FORGE" test --isolate --match-contract GasTest
    "$FORGE" snapshot --isolate --match-contract GasTest --check

    phase "slither (no High or Medium finding may remain)"
    bash "$VERINFER_ROOT/scripts/slither.sh"

    phase "docs site"
    NO_MKDOCS_2_WARNING=1 "$PY/mkdocs" build --strict --quiet
    phase_end
}

# The TypeScript tests wait on their devnets like pytest's integration tests, so they run beside pytest at the same
# priority; their devnets take free ports and temporary folders, as pytest's do.
js() {
    phase "js (@verinfer/sdk against a devnet)"
    npm --prefix js run build
    npm --prefix js test
    phase_end
}

# The checks lane reads the build that setup made and writes only its own folders (cache/slither, site/, forge's fuzz
# and invariant caches); no test reads those.
lane_start checks
lane_start js 0

phase "pytest"
# Exit code 5 (no tests collected) is a failure like any other non-zero code.
# --dist loadfile: a module's tests share one worker, so a module-scoped world (a devnet, a browser) is built once
# and its tests run in file order (tests/node/conftest.py starts the longest modules first). Three workers on two
# cores: the integration tests mostly wait on anvil, node processes and the browser, and the third fills the waits.
"$PY/python" -m pytest tests/node -n "${VERINFER_TEST_WORKERS:-3}" --dist loadfile --no-loadscope-reorder --durations=25

phase_end

lane_wait
phase_summary
echo "==> all checks passed (at ${SECONDS}s)"
