"""How verinfer drives a headless browser over the explorer page (its tests and bench/explorer_wasm.py): Debian's
chromium, never a downloaded one, with the flags that keep it from dialling out."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags chromium keeps dialling out (to update components, sync, QUIC probes).
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
