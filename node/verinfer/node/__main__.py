"""`python -m verinfer.node --config node.toml`: runs the node (the same as `verinfer node run`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from verinfer.errors import VerinferError
from verinfer.node.service import run_node


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m verinfer.node", description=__doc__)
    parser.add_argument("--config", type=Path, default=None, help="node TOML (VERINFER_* variables override it)")
    parser.add_argument("--json-logs", action="store_true", default=None, help="JSON log lines even on a terminal")
    args = parser.parse_args()
    try:
        run_node(args.config, json_logs=args.json_logs)
    except VerinferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
