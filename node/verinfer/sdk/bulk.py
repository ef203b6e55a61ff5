"""Many requests at once: signed locally with consecutive nonces and sent as JSON-RPC batch POSTs, so a load
generator (the benchmark, the node's integration tests, a dApp's backfill) is never the bottleneck.

    sent = request_many(client, model_id, rows, mode=Mode.SINGLE)   # -> BulkRequests (tx hashes, in order)
    ids = sent.request_ids(client)                                   # after they are mined
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy.typing as npt

from verinfer.chain.events import EventCodec
from verinfer.chain.jsonrpc import JsonRpc
from verinfer.chain.tx import rpc, sign_many
from verinfer.chain.txmanager import classify_send_error
from verinfer.errors import ChainError
from verinfer.sdk.client import chain_now
from verinfer.types import Mode

if TYPE_CHECKING:
    from verinfer.sdk.client import Client

REQUEST_GAS = 300_000  # generous for inputs up to a few KB; unused gas is not paid
POST_CHUNK = 1_000
RPC_TIMEOUT_S = 30.0
SEND_TIMEOUT_S = 60.0  # a POST of POST_CHUNK raw transactions
REBROADCAST_S = 5.0  # how long request_ids waits before it sends a forgotten transaction again


@dataclass(frozen=True)
class BulkRequests:
    """The sent requests' transaction hashes, in sending order, and (from `send_signed`) the signed transactions,
    which `request_ids` sends again if the node forgets one (dropped from its pool)."""

    tx_hashes: tuple[bytes, ...]
    raws: tuple[bytes, ...] = ()

    def request_ids(self, client: Client, timeout: float = 60.0) -> list[int]:
        """The request ids, in sending order, once every transaction is mined (ChainError on a revert). Every
        `REBROADCAST_S` of waiting, a transaction the node no longer knows (neither mined nor pooled: evicted, or
        lost in a reorg or a restart of the node) is sent again, as a wallet rebroadcasts; the timeout's error says
        whether the first missing one is still pooled."""
        system = client.system
        codec_ = EventCodec.from_abi(system.hub.abi, "InferenceRequested")
        deadline = time.monotonic() + timeout
        rebroadcast_at = time.monotonic() + REBROADCAST_S
        receipts: dict[bytes, Any] = {}
        missing = list(self.tx_hashes)
        with JsonRpc(_url(client), timeout=RPC_TIMEOUT_S) as rpc_client:
            while True:
                for chunk in _chunks(missing):
                    answers = rpc_client.batch("eth_getTransactionReceipt", [["0x" + h.hex()] for h in chunk])
                    for tx_hash, answer in zip(chunk, answers, strict=True):
                        if isinstance(answer, dict):
                            receipts[tx_hash] = answer
                missing = [h for h in self.tx_hashes if h not in receipts]
                if not missing:
                    break
                if time.monotonic() > deadline:
                    unknown = self._unknown(rpc_client, missing[:1])
                    where = "unknown to the node (dropped)" if unknown else "still pooled, not mined"
                    raise ChainError(
                        f"{len(missing)} requests not mined within {timeout}s; the first, 0x{missing[0].hex()}, is "
                        f"{where}"
                    )
                if self.raws and time.monotonic() > rebroadcast_at:
                    self._rebroadcast(rpc_client, self._unknown(rpc_client, missing))
                    rebroadcast_at = time.monotonic() + REBROADCAST_S
                time.sleep(0.1)
        ids = []
        for tx_hash in self.tx_hashes:
            receipt = receipts[tx_hash]
            if int(receipt["status"], 16) != 1:
                raise ChainError(f"request transaction 0x{tx_hash.hex()} reverted")
            events = codec_.decode_all([log for log in receipt["logs"] if codec_.matches(log)])
            ids.append(int(events[0].args["requestId"]))
        return ids

    @staticmethod
    def _unknown(rpc_client: JsonRpc, hashes: Sequence[bytes]) -> list[bytes]:
        """Those of `hashes` the node knows nothing of (eth_getTransactionByHash answers null)."""
        unknown = []
        for chunk in _chunks(hashes):
            answers = rpc_client.batch("eth_getTransactionByHash", [["0x" + h.hex()] for h in chunk])
            unknown += [h for h, answer in zip(chunk, answers, strict=True) if answer is None]
        return unknown

    def _rebroadcast(self, rpc_client: JsonRpc, hashes: Sequence[bytes]) -> None:
        """Sends the signed transactions of `hashes` again, in sending (nonce) order. The node's answers do not
        matter: one that is pooled or mined meanwhile is refused as known or as a used nonce, harmlessly."""
        raw_of = dict(zip(self.tx_hashes, self.raws, strict=True))
        wanted = set(hashes)
        raws = [raw_of[h] for h in self.tx_hashes if h in wanted]
        for chunk in _chunks(raws):
            rpc_client.send_raw_batch(chunk)


def _chunks(hashes: Sequence[bytes]) -> list[Sequence[bytes]]:
    return [hashes[start : start + POST_CHUNK] for start in range(0, len(hashes), POST_CHUNK)]


def request_many(
    client: Client,
    model_id: bytes,
    rows: Sequence[npt.ArrayLike],
    *,
    mode: Mode = Mode.SINGLE,
    redundancy: int = 1,
    deadline_s: int = 3600,
    callback_gas_limit: int = 0,
    gas: int = REQUEST_GAS,
    fee: int | None = None,
) -> BulkRequests:
    """Signs one `requestInference` per row (consecutive nonces) and sends them as batch POSTs; does not wait."""
    raws = sign_requests(
        client,
        model_id,
        rows,
        mode=mode,
        redundancy=redundancy,
        deadline_s=deadline_s,
        callback_gas_limit=callback_gas_limit,
        gas=gas,
        fee=fee,
    )
    return send_signed(client, raws)


def send_signed(client: Client, raws: Sequence[bytes]) -> BulkRequests:
    """Posts signed transactions in batches of POST_CHUNK; ChainError names the first one the node refuses (and how
    many went out before it). An RPC that runs a batch's calls concurrently or refuses nonce gaps (Hardhat's
    automine) answers `nonce too high` for some: those are sent again one per POST, in nonce order."""
    hashes: list[bytes] = []
    with JsonRpc(_url(client), timeout=SEND_TIMEOUT_S) as rpc_client:
        for start in range(0, len(raws), POST_CHUNK):
            chunk = raws[start : start + POST_CHUNK]
            items = rpc_client.send_raw_batch(chunk)
            for item in items:
                if item.tx_hash is None and item.error is not None and classify_send_error(item.error) == "nonce_high":
                    (items[item.index],) = rpc_client.send_raw_batch([chunk[item.index]])
            for index, item in enumerate(items):
                if item.tx_hash is None:
                    raise ChainError(
                        f"request #{start + index} refused: {item.error} ({len(hashes)} requests before it were sent: "
                        "their transactions are pending)"
                    )
                hashes.append(bytes(item.tx_hash))
    return BulkRequests(tuple(hashes), tuple(bytes(raw) for raw in raws))


def _url(client: Client) -> str:
    """The RPC URL the client's web3 talks to (the bulk paths post to it directly)."""
    return str(client.system.sender.w3.provider.endpoint_uri)  # type: ignore[attr-defined]


def sign_requests(
    client: Client,
    model_id: bytes,
    rows: Sequence[npt.ArrayLike],
    *,
    mode: Mode = Mode.SINGLE,
    redundancy: int = 1,
    deadline_s: int = 3600,
    callback_gas_limit: int = 0,
    gas: int = REQUEST_GAS,
    fee: int | None = None,
) -> list[bytes]:
    """One signed `requestInference` per row, with consecutive nonces from the account's pending count."""
    system = client.system
    w3 = system.sender.w3
    spec = client.model(model_id)
    terms = system.terms_of(model_id)
    value = terms.price * redundancy if fee is None else fee
    account = system.sender.account
    chain_id = int(rpc(lambda: w3.eth.chain_id, "read chain id"))
    latest = rpc(lambda: w3.eth.get_block("latest"), "read latest block")
    base_fee = int(latest.get("baseFeePerGas") or 0)
    now = chain_now(w3)
    nonce = int(rpc(lambda: w3.eth.get_transaction_count(account.address, "pending"), "read nonce"))
    hub = system.hub
    txs = []
    for i, row in enumerate(rows):
        encoded, _ = client.encode_input(model_id, spec, row)
        data = hub.encode_abi(
            "requestInference", [model_id, encoded, int(mode), redundancy, callback_gas_limit, now + deadline_s]
        )
        txs.append(
            {
                "type": 2,
                "chainId": chain_id,
                "nonce": nonce + i,
                "to": hub.address,
                "value": value,
                "data": data,
                "gas": gas,
                "maxFeePerGas": 3 * base_fee + 10**9,
                "maxPriorityFeePerGas": 10**9,
            }
        )
    return sign_many(account, txs)
