#!/usr/bin/env bash
# Sets up (idempotently) and runs the devnet story: devnet up (anvil, contracts, demo models, two running nodes), two
# loan requests served and decided on chain, a CONSENSUS request served by both nodes, every result verified.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$VERINFER_ROOT"
"$VERINFER_ROOT/scripts/setup.sh"
exec .venv/bin/python -m verinfer.demo.story "$@"
