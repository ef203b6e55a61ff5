"""Transactions for one account: EIP-1559 fees, local nonces, signing, one-POST broadcasts, receipts read in
batches, fee-bumped replacements and re-signing under a fresh nonce. It knows calls and transactions, not what they
are for: the caller keeps its own records.

Every transaction goes through the same three steps, in this order, so a crash between any two loses nothing:

    signed = txm.sign(to, data, gas, kind)       # nonce reserved, signed locally (coincurve)
    (the caller records hash, nonce and raw bytes durably)
    txm.broadcast([signed, ...])                  # one JSON-RPC batch POST

After a crash the recorded raw bytes are broadcast again (`broadcast_raw`): the same transaction, never a second
one that could also be mined. All reads and sends go through one `JsonRpc` client.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3

from verinfer.chain.jsonrpc import BAD_RESPONSE, NO_RESPONSE, JsonRpc, RpcError
from verinfer.chain.nonces import NonceManager
from verinfer.chain.revert import RevertDecoder
from verinfer.errors import ChainError, ContractRevert

FEE_BUMP = 1.25  # geth and anvil want >= 10 % more on both fees to replace; a bit more gets through on the first try
GAS_MARGIN = 1.25
NONCE_TOO_LOW = ("nonce too low", "nonce is too low", "already known", "known transaction")
NONCE_OCCUPIED = ("replacement transaction underpriced", "replacement fee too low")
NONCE_TOO_HIGH = ("nonce too high", "nonce is too high", "nonce gap")
FEE_TOO_LOW = ("less than block base fee", "transaction underpriced", "max fee per gas less than", "fee too low")
TRANSIENT = (
    "insufficient funds",
    "txpool is full",
    "transaction pool is full",
    "too many requests",
    "rate limit",
    "try again",
    "timeout",
    "temporarily",
)


@dataclass(frozen=True)
class Signed:
    """A signed transaction, not yet broadcast."""

    hash: bytes
    nonce: int
    raw: bytes
    kind: str
    max_fee: int
    tip: int


@dataclass(frozen=True)
class Receipt:
    """The parts of a receipt the node uses."""

    tx_hash: bytes
    block_number: int
    status: int
    gas_used: int
    effective_gas_price: int
    logs: tuple[Mapping[str, Any], ...]


def decode_raw(raw: bytes) -> dict[str, Any]:
    """The fields of a signed type-2 transaction (to, data, gas, nonce, fees, …)."""
    return dict(TypedTransaction.from_bytes(HexBytes(raw)).as_dict())


def is_nonce_used(error: RpcError) -> bool:
    """Whether a broadcast failed because the nonce is taken (mined, or this very transaction is already pooled)."""
    return classify_send_error(error) == "nonce_used"


def classify_send_error(error: RpcError) -> str:
    """What a refused broadcast means, for the caller to act on:

    "nonce_used"     the nonce is mined, or this very transaction is pooled ("nonce too low", "already known");
    "nonce_occupied" another pooled transaction holds the nonce ("replacement transaction underpriced");
    "nonce_high"     earlier nonces are not in yet: an RPC that refuses gaps, or one that ran a batch's calls out
                     of order; send again once they are (an ordering event, not a refusal);
    "fee"            the fees are below what the chain takes now: replace with higher fees;
    "transient"      funds, a full pool, rate limits, an answer the client could not read: send again later;
    "permanent"      anything else (intrinsic gas, invalid signature, ...): count it, give up at a cap.
    """
    message = error.message.lower()
    if any(phrase in message for phrase in NONCE_TOO_LOW):
        return "nonce_used"
    if any(phrase in message for phrase in NONCE_OCCUPIED):
        return "nonce_occupied"
    if any(phrase in message for phrase in NONCE_TOO_HIGH):
        return "nonce_high"
    if any(phrase in message for phrase in FEE_TOO_LOW):
        return "fee"
    if error.code in (NO_RESPONSE, BAD_RESPONSE) or any(phrase in message for phrase in TRANSIENT):
        return "transient"
    return "permanent"


class TxManager:
    """Signs and sends for one account. Not thread-safe beyond what `NonceManager` is: one scheduler drives it."""

    def __init__(
        self,
        client: JsonRpc,
        account: LocalAccount,
        *,
        chain_id: int,
        tip_wei: int | None = None,
        max_fee_wei: int | None = None,
    ) -> None:
        if client.decoder is None:
            raise ValueError("the TxManager's JsonRpc needs a RevertDecoder, so estimates name their reverts")
        self.rpc = client
        self.account = account
        self.chain_id = chain_id
        self.decoder: RevertDecoder = client.decoder
        self.nonces = NonceManager(client, account.address)
        self._tip_wei = tip_wei
        self._max_fee_wei = max_fee_wei
        self._base_fee: int | None = None
        self._tip: int | None = None
        self.latest_timestamp: int | None = None
        self.latest_read_at: float | None = None
        """time.monotonic() when `latest_timestamp` was read."""

    @property
    def address(self) -> ChecksumAddress:
        return self.account.address

    def close(self) -> None:
        self.rpc.close()

    # ------------------------------------------------------------------------------------------------------ fees

    def refresh_fees(self) -> int:
        """Reads the latest base fee (and the suggested tip unless one is configured); returns the base fee."""
        block = self.rpc.block("latest")
        if block is None:
            raise ChainError("the RPC node has no latest block")
        base_fee = block.get("baseFeePerGas")
        if base_fee is None:
            raise ChainError("the chain has no EIP-1559 base fee; the node sends type-2 transactions only")
        self._base_fee = int(base_fee, 16)
        self.latest_timestamp = int(block["timestamp"], 16)
        self.latest_read_at = time.monotonic()
        if self._tip_wei is not None:
            self._tip = self._tip_wei
        else:
            self._tip = int(self.rpc.call("eth_maxPriorityFeePerGas"), 16)
        return self._base_fee

    @property
    def base_fee(self) -> int:
        if self._base_fee is None:
            return self.refresh_fees()
        return self._base_fee

    @property
    def gas_price(self) -> int:
        """What this node pays per gas now: the base fee plus its priority fee (the latest block's)."""
        base_fee = self.base_fee
        return base_fee + (self._tip if self._tip is not None else 0)

    def fees(self, floor: tuple[int, int] | None = None) -> tuple[int, int]:
        """(maxFeePerGas, maxPriorityFeePerGas): room for the base fee to double, capped by the configured maximum;
        at least `floor` bumped by FEE_BUMP when replacing a transaction."""
        base_fee = self.base_fee
        tip = self._tip if self._tip is not None else 0
        max_fee = 2 * base_fee + tip
        if floor is not None:
            tip = max(tip, math.ceil(floor[1] * FEE_BUMP))
            max_fee = max(max_fee, math.ceil(floor[0] * FEE_BUMP), tip)
        if self._max_fee_wei is not None and max_fee > self._max_fee_wei:
            if floor is not None or base_fee > self._max_fee_wei:
                raise ChainError(
                    f"fees needed ({max_fee} wei/gas) exceed fees.max_fee_wei ({self._max_fee_wei}): wait for the "
                    "base fee to fall or raise the cap"
                )
            max_fee = self._max_fee_wei
            tip = min(tip, max_fee)
        return max_fee, tip

    # ------------------------------------------------------------------------------------------------ signing

    def estimate_gas(self, to: str, data: bytes, *, value: int = 0) -> int:
        """eth_estimateGas with a margin (of a call sending `value` wei); a revert raises its named `ContractRevert`."""
        call: dict[str, str] = {"from": self.address, "to": to, "data": "0x" + data.hex()}
        if value:
            call["value"] = hex(value)
        estimate = int(self.rpc.call("eth_estimateGas", call), 16)
        return int(estimate * GAS_MARGIN)

    def sign(
        self,
        to: str,
        data: bytes,
        gas: int,
        kind: str,
        *,
        nonce: int | None = None,
        floor: tuple[int, int] | None = None,
        value: int = 0,
    ) -> Signed:
        """Signs a type-2 transaction (sending `value` wei); reserves a nonce unless `nonce` is given (a
        replacement)."""
        max_fee, tip = self.fees(floor)
        reserved = nonce is None
        use = self.nonces.reserve() if nonce is None else nonce
        try:
            signed = self.account.sign_transaction(
                {
                    "type": 2,
                    "chainId": self.chain_id,
                    "nonce": use,
                    "to": Web3.to_checksum_address(to),
                    "value": value,
                    "data": data,
                    "gas": gas,
                    "maxFeePerGas": max_fee,
                    "maxPriorityFeePerGas": tip,
                }
            )
        except Exception:
            if reserved:
                self.nonces.release(use)
            raise
        return Signed(bytes(signed.hash), use, bytes(signed.raw_transaction), kind, max_fee, tip)

    def replacement(self, raw: bytes, kind: str) -> Signed:
        """The same call with the same nonce and both fees raised: replaces a transaction stuck in the pool."""
        old = decode_raw(raw)
        return self.sign(
            Web3.to_checksum_address(old["to"]),
            bytes(old["data"]),
            int(old["gas"]),
            kind,
            nonce=int(old["nonce"]),
            floor=(int(old["maxFeePerGas"]), int(old["maxPriorityFeePerGas"])),
            value=int(old.get("value", 0)),
        )

    def cancel(self, nonce: int, floor: tuple[int, int] | None = None) -> Signed:
        """A 0-value transfer to this account under `nonce`: fills the nonce without delivering anything (a delivery
        whose deadline passed before it could be sent). `floor`: the fees of a pooled transaction it replaces."""
        return self.sign(self.address, b"", 21_000, "cancel", nonce=nonce, floor=floor)

    def resign(self, raw: bytes, kind: str) -> Signed:
        """The same call under a fresh nonce (its old nonce was taken by another transaction)."""
        old = decode_raw(raw)
        return self.sign(
            Web3.to_checksum_address(old["to"]),
            bytes(old["data"]),
            int(old["gas"]),
            kind,
            value=int(old.get("value", 0)),
        )

    # ------------------------------------------------------------------------------------------------ sending

    def broadcast(self, signed: Sequence[Signed]) -> list[RpcError | None]:
        """Sends raw transactions in one POST; an entry per transaction: None when accepted, else the node's error.
        A transport failure raises `ChainError` (nothing known about which arrived: the caller re-checks)."""
        return self.broadcast_raw([s.raw for s in signed])

    def broadcast_raw(self, raws: Sequence[bytes]) -> list[RpcError | None]:
        return [item.error for item in self.rpc.send_raw_batch(raws)]

    # ------------------------------------------------------------------------------------------------- reading

    def receipts(self, hashes: Iterable[bytes]) -> dict[bytes, Receipt | None]:
        """Receipts of `hashes` (None: not mined), in one batch."""
        wanted = list(dict.fromkeys(hashes))
        answers = self.rpc.batch("eth_getTransactionReceipt", [["0x" + h.hex()] for h in wanted])
        found: dict[bytes, Receipt | None] = {}
        for tx_hash, answer in zip(wanted, answers, strict=True):
            if isinstance(answer, ChainError):
                raise ChainError(f"eth_getTransactionReceipt(0x{tx_hash.hex()}) failed: {answer}") from answer
            found[tx_hash] = None if answer is None else _receipt(tx_hash, cast(Mapping[str, Any], answer))
        return found

    def block_transactions(self, numbers: Iterable[int]) -> dict[int, frozenset[bytes]]:
        """The hashes of the transactions in each canonical block of `numbers` (empty: no such block), in one batch
        of header-sized answers (no receipts, no logs)."""
        wanted = sorted(set(numbers))
        answers = self.rpc.batch("eth_getBlockByNumber", [[hex(n), False] for n in wanted])
        found: dict[int, frozenset[bytes]] = {}
        for number, answer in zip(wanted, answers, strict=True):
            if isinstance(answer, ChainError):
                raise ChainError(f"eth_getBlockByNumber({number}) failed: {answer}") from answer
            block = cast(Mapping[str, Any], answer) if answer is not None else {}
            found[number] = frozenset(bytes.fromhex(str(h)[2:]) for h in block.get("transactions", ()))
        return found

    def known(self, hashes: Iterable[bytes]) -> dict[bytes, bool]:
        """Whether the node knows each transaction (pooled or mined), in one batch."""
        wanted = list(dict.fromkeys(hashes))
        answers = self.rpc.batch("eth_getTransactionByHash", [["0x" + h.hex()] for h in wanted])
        known: dict[bytes, bool] = {}
        for tx_hash, answer in zip(wanted, answers, strict=True):
            if isinstance(answer, ChainError):
                raise ChainError(f"eth_getTransactionByHash(0x{tx_hash.hex()}) failed: {answer}") from answer
            known[tx_hash] = answer is not None
        return known

    def block_number(self) -> int:
        return self.rpc.block_number()

    def resync_nonces(self) -> tuple[int, ...]:
        """`nonces.resync()`: the reserved nonces the chain does not hold, given up."""
        return self.nonces.resync()

    def foreign_nonce(self) -> int | None:
        """The chain's pending nonce of this account if it is ahead of every nonce handed out here (another
        process sends from the same key), else None. Not known before the first reservation."""
        ours = self.nonces.next_nonce
        if ours is None:
            return None
        pending = self.rpc.pending_nonce(self.address)
        return pending if pending > ours else None

    def balance(self) -> int:
        return int(self.rpc.call("eth_getBalance", self.address, "latest"), 16)

    def revert_reason(self, raw: bytes, block_number: int) -> str | None:
        """Why a mined transaction reverted: its call replayed as eth_call on the state before `block_number`, the
        revert decoded by name; None if the replay passes (it ran out of gas, or state changed within the block)."""
        tx = decode_raw(raw)
        call = {
            "from": self.address,
            "to": Web3.to_checksum_address(tx["to"]),
            "data": "0x" + bytes(tx["data"]).hex(),
            "gas": hex(int(tx["gas"])),
        }
        try:
            self.rpc.call("eth_call", call, hex(max(block_number - 1, 0)))
        except ContractRevert as exc:
            return str(exc)
        return None


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _receipt(tx_hash: bytes, raw: Mapping[str, Any]) -> Receipt:
    return Receipt(
        tx_hash=tx_hash,
        block_number=_int(raw["blockNumber"]),
        status=_int(raw["status"]),
        gas_used=_int(raw["gasUsed"]),
        effective_gas_price=_int(raw.get("effectiveGasPrice", 0)),
        logs=tuple(raw.get("logs", ())),
    )
