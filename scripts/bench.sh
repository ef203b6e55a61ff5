#!/usr/bin/env bash
# Sets up (idempotently, with the bench extra) and runs the benchmarks; each writes its table to bench/results/.
#   gas.py   whole-transaction gas of the hub's hot paths
#   node.py  the node under a 2,000-request flood: results/s, latency, gas per result, CPU split (+ node.png)
#   node.py --sustained  20,000-request streams at stepped offered rates: the highest rate the node sustains
#   zk.py    proving times, key sizes, memory, verifier and submission gas
#   model_fidelity.py  rows a served tree / linear model answers differently from the float model, by input scale
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$VERINFER_ROOT"
"$VERINFER_ROOT/scripts/setup.sh"
.venv/bin/python -m pip install --quiet -e '.[dev,bench]'
for bench in gas node zk model_fidelity; do
    echo "==> bench/$bench.py"
    .venv/bin/python "bench/$bench.py"
done
echo "==> bench/node.py --sustained"
.venv/bin/python bench/node.py --sustained
