#!/usr/bin/env bash
# Sets up (idempotently) and runs every check and test: formatters, linters, types and layers; forge unit, fuzz and
# invariant tests with the gas snapshots; Slither; pytest (unit, anvil integration, the example Foundry project,
# the docs); the TypeScript package against a devnet; the docs site.
set -euo pipefail
# Each phase prints how long the run has taken so far, so a slow phase shows in the CI log.
phase() { echo "==> $* (at ${SECONDS}s)"; }
source "$(dirname "$0")/env.sh"
cd "$VERINFER_ROOT"
"$VERINFER_ROOT/scripts/setup.sh"
FORGE=$(foundry_bin forge)
PY=.venv/bin

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

phase "pytest"
# Exit code 5 (no tests collected) is a failure like any other non-zero code.
# --dist loadfile: a module's tests share one worker, so a module-scoped world (a devnet, a browser) is built once
# and its tests run in file order.
"$PY/python" -m pytest tests/node -n "${VERINFER_TEST_WORKERS:-2}" --dist loadfile

phase "js (@verinfer/sdk against a devnet)"
npm --prefix js run build
npm --prefix js test

phase "docs site"
NO_MKDOCS_2_WARNING=1 "$PY/mkdocs" build --strict --quiet
phase "all checks passed"
