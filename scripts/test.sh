#!/usr/bin/env bash
# Sets up (idempotently) and runs every test: forge unit/fuzz/invariant tests, the gas snapshot check, pytest.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$VERINFER_ROOT"
"$VERINFER_ROOT/scripts/setup.sh"
FORGE=$(foundry_bin forge)

echo "==> forge test"
"$FORGE" test --no-match-contract GasTest

# Gas: isolated (each call its own transaction), so the figures are whole-transaction gas. Both the named
# snapshots (snapshots/GasTest.json) and .gas-snapshot must match what is committed.
echo "==> gas snapshots"
FORGE_SNAPSHOT_CHECK=true "$FORGE" test --isolate --match-contract GasTest
"$FORGE" snapshot --isolate --match-contract GasTest --check

echo "==> slither (no High or Medium finding may remain)"
bash "$VERINFER_ROOT/scripts/slither.sh"

echo "==> pytest"
# Exit code 5 (no tests collected) is a failure like any other non-zero code.
.venv/bin/python -m pytest tests/node
