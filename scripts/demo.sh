#!/usr/bin/env bash
# Sets up (idempotently) and runs the devnet story: devnet up (anvil, contracts, demo models, three running nodes that
# also watch each other), two loan requests served and decided on chain, a CONSENSUS and a ZK request, every result
# verified; then a lying node's answer is challenged, overturned and slashed, and the loan it tried to win refused.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$VERINFER_ROOT"
"$VERINFER_ROOT/scripts/setup.sh"
exec .venv/bin/python -m verinfer.demo.story "$@"
