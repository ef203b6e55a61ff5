"""Lazy re-exports for a package face (PEP 562): a name loads its defining module on first use, then stays."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str], public: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module `__getattr__` and `__dir__` of `package`, for `exports` (public name => defining module).

    Assign them under `if not TYPE_CHECKING:` next to `TYPE_CHECKING` imports of the same names, so that type
    checkers see the real types and still flag a misspelt attribute."""
    namespace = vars(sys.modules[package])

    def getattr_(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # the next lookup is a plain module attribute
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *public})

    return getattr_, dir_
