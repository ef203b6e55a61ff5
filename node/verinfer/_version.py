"""verinfer's version, in one place: the package face, the environment manifest and the wheel's metadata read it."""

from __future__ import annotations

__version__ = "0.1.0"
