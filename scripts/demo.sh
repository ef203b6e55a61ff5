#!/usr/bin/env bash
# Sets up (idempotently) and runs the devnet story: anvil, deploy, demo model, staked node, two loan requests served
# and decided on chain, both results re-executed and verified.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$VERINFER_ROOT"
"$VERINFER_ROOT/scripts/setup.sh"
exec .venv/bin/python -m verinfer.demo.story "$@"
