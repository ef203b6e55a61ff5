"""`python -m verinfer ...`: the same as the `verinfer` command."""

from __future__ import annotations

from verinfer.cli import app

if __name__ == "__main__":
    app(prog_name="verinfer")
