"""ABI JSON helpers: canonical type strings, signatures, selectors and value conversion for eth_abi."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eth_utils.crypto import keccak

from verinfer.types import ENUMS, checksum

AbiParam = Mapping[str, Any]


def abi_type(param: AbiParam) -> str:
    """The canonical type of an ABI parameter, with tuples spelled out: `(bytes32,uint8)[]`."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def signature(entry: AbiParam) -> str:
    """`Name(type,...)` of an error, event or function entry."""
    return f"{entry['name']}({','.join(abi_type(p) for p in entry.get('inputs', []))})"


def selector(entry: AbiParam) -> bytes:
    """The 4-byte selector of an error or function."""
    return keccak(text=signature(entry))[:4]


def topic(entry: AbiParam) -> bytes:
    """The topic0 of an event."""
    return keccak(text=signature(entry))


def param_names(params: Sequence[AbiParam]) -> list[str]:
    """Parameter names, `arg<i>` for unnamed ones."""
    return [str(p.get("name") or f"arg{i}") for i, p in enumerate(params)]


def is_dynamic(type_str: str) -> bool:
    """Whether a value of this type is stored in a topic as its hash rather than itself."""
    return type_str in ("bytes", "string") or type_str.endswith("]") or type_str.startswith("(")


def python_value(param: AbiParam, value: Any) -> Any:
    """An eth_abi-decoded value with addresses checksummed and enums mapped to their twins (`enum Status`)."""
    if param.get("type") == "address" and isinstance(value, str):
        return checksum(value)
    internal = str(param.get("internalType", ""))
    if internal.startswith("enum ") and not internal.endswith("]"):
        enum_cls = ENUMS.get(internal.removeprefix("enum ").rpartition(".")[2])
        if enum_cls is not None and value in enum_cls._value2member_map_:
            return enum_cls(value)
    return value


def find_entry(abi: Sequence[AbiParam], kind: str, name: str) -> AbiParam:
    """The ABI entry of `kind` ("event", "error", "function") called `name`; KeyError if absent or overloaded."""
    matches = [e for e in abi if e.get("type") == kind and e.get("name") == name]
    if len(matches) != 1:
        raise KeyError(f"{len(matches)} ABI {kind}s named {name!r}")
    return matches[0]
