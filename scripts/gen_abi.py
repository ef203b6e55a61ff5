"""Regenerates the ABIs shipped inside the package (node/verinfer/abi/) from the forge build output (out/).

    python scripts/gen_abi.py           # after `forge build`: write them
    python scripts/gen_abi.py --check   # exit 1, naming them, when any differs from the build output

`tests/node/unit/test_artifacts.py` fails when they are stale, with this command in its message.
"""

from __future__ import annotations

import argparse
import sys

from verinfer.chain.artifacts import REGENERATE_ABIS, packaged_abi_dir, stale_packaged_abis, write_packaged_abis
from verinfer.errors import ArtifactError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the packaged ABIs are current")
    args = parser.parse_args()
    try:
        if args.check:
            stale = stale_packaged_abis()
            if stale:
                print(f"stale packaged ABIs in {packaged_abi_dir()}: {', '.join(stale)}; run `{REGENERATE_ABIS}`")
                return 1
            print(f"packaged ABIs in {packaged_abi_dir()} match the build output")
            return 0
        for path in write_packaged_abis():
            print(f"wrote {path}")
    except ArtifactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
