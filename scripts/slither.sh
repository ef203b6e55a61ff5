#!/usr/bin/env bash
# Static analysis of contracts/ with Slither, in one idempotent command:
#
#   bash scripts/slither.sh [extra slither flags...]
#
# 1. Creates (once) a dedicated venv .venv-slither at the repository root with a pinned slither-analyzer.
#    It must not share the project venv .venv: slither-analyzer pins web3 < 8.
# 2. Compiles contracts/ (only) with the native forge and `--build-info` into cache/slither/out, its own output
#    and cache folders, so it neither clobbers nor reads the out/ of concurrent `forge build`/`forge test` runs.
#    Both folders are deleted first, so every run compiles from scratch and no stale build-info is analysed. (Not
#    `forge build --force`: that also wipes the project's cache/invariant and cache/test-failures.)
#    The compiler is the npm solc through scripts/solc (foundry.toml: solc = "scripts/solc", offline = true).
# 3. Runs `slither . --foundry-ignore-compile` with slither.config.json (analysis restricted to contracts/) and
#    fails (non-zero exit) when any High or Medium finding remains (--fail-medium).
#
# Nothing is downloaded at run time apart from the first pip install into .venv-slither (PyPI); no solc-select.
# Environment: PYTHON (default python3, needs >= 3.10), SLITHER_JSON (default cache/slither/report.json).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SLITHER_VERSION="0.11.6"
CRYTIC_COMPILE_VERSION="0.4.2"
VENV="$ROOT/.venv-slither"
PYTHON="${PYTHON:-python3}"
FORGE_DIR="$ROOT/node_modules/@foundry-rs/forge-linux-amd64/bin"
OUT_DIR="cache/slither/out"
CACHE_DIR="cache/slither/cache"
REPORT="${SLITHER_JSON:-cache/slither/report.json}"

log() { printf 'slither.sh: %s\n' "$*" >&2; }

# --- 1. venv with pinned slither -------------------------------------------------------------------------------
stamp="slither-analyzer==$SLITHER_VERSION crytic-compile==$CRYTIC_COMPILE_VERSION"
if [[ ! -x "$VENV/bin/slither" || "$(cat "$VENV/.installed" 2>/dev/null)" != "$stamp" ]]; then
  log "installing $stamp into $VENV"
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -qq --disable-pip-version-check \
    "slither-analyzer==$SLITHER_VERSION" "crytic-compile==$CRYTIC_COMPILE_VERSION"
  printf '%s' "$stamp" > "$VENV/.installed"
fi
installed="$("$VENV/bin/slither" --version)"
[[ "$installed" == "$SLITHER_VERSION" ]] || { log "expected slither $SLITHER_VERSION, found $installed"; exit 2; }

# --- 2. forge build --build-info ---------------------------------------------------------------------------------
# crytic-compile runs `forge config --json` (and `forge --version`), so the native forge must be on PATH.
# Never the node_modules/.bin launcher: it exits 0 whatever forge did.
[[ -x "$FORGE_DIR/forge" ]] || { log "native forge missing at $FORGE_DIR/forge: run 'npm ci'"; exit 2; }
[[ -d "$ROOT/node_modules/solc" ]] || { log "npm solc missing: run 'npm ci'"; exit 2; }
export PATH="$FORGE_DIR:$VENV/bin:$PATH"

log "forge build --build-info (contracts/ only) -> $OUT_DIR"
rm -rf "$OUT_DIR" "$CACHE_DIR"
forge build --build-info --out "$OUT_DIR" --cache-path "$CACHE_DIR" contracts >&2
shopt -s nullglob
build_info=("$OUT_DIR"/build-info/*.json)
shopt -u nullglob
(( ${#build_info[@]} > 0 )) || { log "forge wrote no build-info under $OUT_DIR/build-info"; exit 2; }

# --- 3. slither ----------------------------------------------------------------------------------------------------
# Slither matches filter_paths against absolute paths: a checkout under a folder such as .../tests/... or .../mocks/...
# would have every finding filtered away and pass silently. Refuse to run there instead.
"$VENV/bin/python" - "$ROOT/contracts/x.sol" <<'PY' || exit 2
import json, re, sys
pats = json.load(open("slither.config.json")).get("filter_paths") or ""
# slither strips leading/trailing '.' and '/' from each pattern before re.search
hits = [p for p in pats.split(",") if p and re.search(p.split("..")[-1].strip(".").strip("/"), sys.argv[1])]
if hits:
    sys.exit(f"slither.sh: the checkout path {sys.argv[1]} matches filter_paths {hits}: every finding would be hidden")
PY
# Settings (out/build-info folders, solc shim, path filters, fail level) live in slither.config.json; the flags below
# repeat the ones that decide the outcome so the command line reads on its own.
mkdir -p "$(dirname "$REPORT")"
rm -f "$REPORT"
log "slither . --foundry-ignore-compile --fail-medium (report: $REPORT)"
set +e
slither . \
  --config-file slither.config.json \
  --foundry-ignore-compile \
  --foundry-out-directory "$OUT_DIR" \
  --foundry-build-info-directory "$OUT_DIR/build-info" \
  --solc scripts/solc \
  --fail-medium \
  --json "$REPORT" \
  "$@"
rc=$?
set -e

# One line per impact level, from the JSON report.
if [[ -s "$REPORT" ]]; then
  "$VENV/bin/python" - "$REPORT" <<'PY' >&2 || true
import collections, json, sys
data = json.load(open(sys.argv[1]))
if not data.get("success", False):
    print("slither.sh: slither reported an error:", data.get("error"))
dets = (data.get("results") or {}).get("detectors", [])
counts = collections.Counter(d["impact"] for d in dets)
order = ["High", "Medium", "Low", "Informational", "Optimization"]
print("slither.sh: findings by impact: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in order))
PY
fi

if (( rc != 0 )); then
  log "FAILED (slither exit $rc): High/Medium findings remain or slither itself failed"
  exit 1
fi
log "OK: no High or Medium findings"
