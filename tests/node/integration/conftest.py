"""Markers of the node's integration tests (registered here until pyproject.toml lists them)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    markers = config.getini("markers")
    if not any(str(m).startswith("slow") for m in markers):
        config.addinivalue_line("markers", "slow: takes minutes (deselect with -m 'not slow')")
