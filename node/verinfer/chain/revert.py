"""Decodes revert data into `ContractRevert` with named arguments, using the error selectors of every ABI it knows.

decoder = RevertDecoder.for_system()            # hub, registries, consumer base and examples
decoder.decode(data)                            # -> ContractRevert: InsufficientFee(paid=1, required=5)
with decoder.translate(): contract_fn.call()    # web3's ContractLogicError -> ContractRevert
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak
from web3.exceptions import ContractLogicError

from verinfer.chain.abi import AbiParam, abi_type, param_names, python_value, selector, signature
from verinfer.chain.artifacts import Abi, load_abi
from verinfer.errors import ContractRevert

ERROR_STRING_SELECTOR = keccak(text="Error(string)")[:4]
PANIC_SELECTOR = keccak(text="Panic(uint256)")[:4]

PANIC_REASONS: Mapping[int, str] = {
    0x00: "generic compiler panic",
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "value out of an enum's range",
    0x22: "corrupt storage byte array",
    0x31: "pop() on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to a zero internal function",
}

# The contracts whose errors a node or dApp can meet when it talks to the system.
SYSTEM_CONTRACTS = (
    "InferenceHub",
    "ModelRegistry",
    "NodeRegistry",
    "Disputes",
    "Timelock",
    "IOwned2Step",
    "InferenceConsumer",
    "LendingPool",
    "TensorCodec",
)


@dataclass(frozen=True)
class _ErrorType:
    name: str
    signature: str
    inputs: tuple[AbiParam, ...]

    def decode(self, data: bytes) -> ContractRevert:
        types = [abi_type(p) for p in self.inputs]
        try:
            values = abi_decode(types, data[4:])
        except (DecodingError, ValueError, OverflowError):
            return ContractRevert(self.name, {"malformed": data[4:]}, signature=self.signature, data=data)
        named = {
            key: python_value(param, value)
            for key, param, value in zip(param_names(self.inputs), self.inputs, values, strict=True)
        }
        return ContractRevert(self.name, named, signature=self.signature, data=data)


class RevertDecoder:
    """Maps revert data to `ContractRevert` by selector. Add every ABI the caller talks to with `add_abi`."""

    def __init__(self, abis: Iterable[Abi] = ()) -> None:
        self._errors: dict[bytes, _ErrorType] = {}
        for abi in abis:
            self.add_abi(abi)

    @classmethod
    def for_system(cls, extra: Iterable[Abi] = ()) -> RevertDecoder:
        """A decoder knowing the system contracts' errors (from the packaged ABIs) and those of `extra`."""
        decoder = cls()
        for name in SYSTEM_CONTRACTS:
            decoder.add_abi(load_abi(name))
        for abi in extra:
            decoder.add_abi(abi)
        return decoder

    def add_abi(self, abi: Abi) -> None:
        """Learns the custom errors of `abi` (an error with the same signature from two contracts is one error)."""
        for entry in abi:
            if entry.get("type") != "error":
                continue
            sel = selector(entry)
            self._errors.setdefault(sel, _ErrorType(str(entry["name"]), signature(entry), tuple(entry["inputs"])))

    def knows(self, error_selector: bytes) -> bool:
        return error_selector in self._errors

    def decode(self, data: bytes) -> ContractRevert:
        """The named error for revert `data`. Unknown selectors give `UnknownError(selector=..., data=...)`."""
        if not data:
            return ContractRevert("EmptyRevert", data=data)
        sel = data[:4]
        if sel == ERROR_STRING_SELECTOR:
            return _decode_builtin("Error(string)", "Error", ["string"], ["message"], data)
        if sel == PANIC_SELECTOR:
            revert = _decode_builtin("Panic(uint256)", "Panic", ["uint256"], ["code"], data)
            code = revert.arguments.get("code")
            if isinstance(code, int):
                reason = PANIC_REASONS.get(code, "unknown panic code")
                return ContractRevert(
                    "Panic", {"code": hex(code), "reason": reason}, signature=revert.signature, data=data
                )
            return revert
        known = self._errors.get(sel)
        if known is None:
            return ContractRevert("UnknownError", {"selector": sel, "data": data[4:]}, data=data)
        return known.decode(data)

    def from_web3(self, exc: ContractLogicError) -> ContractRevert:
        """The named error behind one of web3's revert exceptions."""
        data = revert_data(exc.data)
        if data is None:
            return ContractRevert("EmptyRevert", {"message": exc.message or "execution reverted"})
        return self.decode(data)

    @contextlib.contextmanager
    def translate(self) -> Iterator[None]:
        """Re-raises web3's `ContractLogicError` (and subclasses) inside the block as `ContractRevert`."""
        try:
            yield
        except ContractLogicError as exc:
            raise self.from_web3(exc) from exc


def _decode_builtin(sig: str, name: str, types: list[str], names: list[str], data: bytes) -> ContractRevert:
    try:
        values = abi_decode(types, data[4:])
    except (DecodingError, ValueError, OverflowError):
        return ContractRevert(name, {"malformed": data[4:]}, signature=sig, data=data)
    return ContractRevert(name, dict(zip(names, values, strict=True)), signature=sig, data=data)


def revert_data(raw: Any) -> bytes | None:
    """Revert bytes from what an RPC error carried: hex, `Reverted 0x…`, or a dict with a `data` field."""
    if isinstance(raw, Mapping):
        raw = raw.get("data")
    if isinstance(raw, bytes | bytearray):
        return bytes(raw)
    if not isinstance(raw, str):
        return None
    text = raw.removeprefix("Reverted ").strip()
    if not text.startswith("0x"):
        return None
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        return None
