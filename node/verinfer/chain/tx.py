"""Connects to an RPC endpoint and sends locally signed transactions, turning reverts into `ContractRevert`.

Deliberately small: one account, nonce read from the chain per transaction, EIP-1559 fees from the latest block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractLogicError, TimeExhausted, Web3Exception
from web3.types import TxParams, TxReceipt, Wei

from verinfer.chain.artifacts import Artifact
from verinfer.chain.revert import RevertDecoder
from verinfer.errors import ChainError

T = TypeVar("T")

RPC_TIMEOUT = 30.0
RECEIPT_TIMEOUT = 120.0
GAS_MARGIN = 1.2


def connect(rpc_url: str, timeout: float = RPC_TIMEOUT) -> Web3:
    """A Web3 on `rpc_url` (HTTP), checked to answer."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        w3.eth.chain_id  # noqa: B018 - a cheap request that proves the endpoint answers
    except (Web3Exception, OSError) as exc:
        raise ChainError(f"no JSON-RPC endpoint answering at {rpc_url}: {exc}") from exc
    return w3


def sign_many(account: LocalAccount, txs: Iterable[Mapping[str, Any]]) -> list[bytes]:
    """Signs each transaction dict (nonce, gas and fees included) and returns the raw transactions in order, for
    `JsonRpc.send_raw_batch`. eth-account signs through coincurve when it is installed (a verinfer dependency),
    about 20x faster than the pure-Python fallback."""
    return [bytes(account.sign_transaction(dict(tx)).raw_transaction) for tx in txs]


def rpc(action: Callable[[], T], what: str) -> T:
    """Runs an RPC-backed action, wrapping transport and node errors in `ChainError`. Reverts pass through, for the
    revert decoder to name."""
    try:
        return action()
    except (ContractLogicError, ChainError):
        raise
    except (Web3Exception, OSError, ValueError) as exc:  # ValueError: web3's JSONDecodeError on a non-JSON answer
        raise ChainError(f"{what} failed: {exc}") from exc


class TxSender:
    """Signs with one local account and sends; every revert surfaces as a named `ContractRevert`."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        decoder: RevertDecoder | None = None,
        receipt_timeout: float = RECEIPT_TIMEOUT,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.decoder = decoder if decoder is not None else RevertDecoder()
        self.receipt_timeout = receipt_timeout

    @property
    def address(self) -> ChecksumAddress:
        return self.account.address

    def bind(self, artifact: Artifact, address: str) -> Contract:
        """The contract at `address` with the artifact's ABI; its errors are learnt by the decoder."""
        self.decoder.add_abi(artifact.abi)
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=list(artifact.abi))

    def deploy(self, artifact: Artifact, *args: Any, value: int = 0) -> tuple[Contract, TxReceipt]:
        """Deploys `artifact` with constructor `args`; returns the bound contract and the receipt."""
        if not artifact.deployable:
            raise ChainError(f"{artifact.name} has no creation code (an interface or abstract contract)")
        self.decoder.add_abi(artifact.abi)
        factory = self.w3.eth.contract(abi=list(artifact.abi), bytecode=artifact.bytecode)
        receipt = self.send(factory.constructor(*args), value=value)
        address = receipt.get("contractAddress")
        if not address:
            raise ChainError(f"deploying {artifact.name} produced no contract address")
        return self.bind(artifact, address), receipt

    def call(self, fn: ContractFunction, value: int = 0) -> Any:
        """eth_call of `fn` from this account."""
        self._learn(fn)
        with self.decoder.translate():
            return rpc(lambda: fn.call({"from": self.address, "value": Wei(value)}), f"call {fn.fn_name}")

    def send(self, fn: ContractFunction | ContractConstructor, value: int = 0, gas: int | None = None) -> TxReceipt:
        """Signs and sends `fn`, waits for the receipt, and raises `ContractRevert` if it reverts."""
        self._learn(fn)
        tx = self._base_tx(value)
        name = getattr(fn, "fn_name", "constructor")
        with self.decoder.translate():
            if gas is None:
                estimate = rpc(lambda: fn.estimate_gas(tx), f"estimate gas of {name}")
                gas = int(estimate * GAS_MARGIN)
            tx["gas"] = gas
            built = rpc(lambda: fn.build_transaction(tx), f"build {name}")
        return self._sign_send_wait(built, name)

    def transfer(self, to: str, value: int) -> TxReceipt:
        """Sends `value` wei to `to` (a contract's receive function must accept it)."""
        tx = self._base_tx(value)
        tx["to"] = Web3.to_checksum_address(to)
        with self.decoder.translate():
            tx["gas"] = int(rpc(lambda: self.w3.eth.estimate_gas(tx), "estimate gas of a transfer") * GAS_MARGIN)
        return self._sign_send_wait(tx, "transfer")

    def _sign_send_wait(self, tx: TxParams, name: str) -> TxReceipt:
        signed = self.account.sign_transaction(cast(dict[str, Any], tx))
        tx_hash = rpc(lambda: self.w3.eth.send_raw_transaction(signed.raw_transaction), f"send {name}")
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.receipt_timeout, poll_latency=0.05)
        except TimeExhausted as exc:
            raise ChainError(f"{name}: no receipt for {tx_hash.to_0x_hex()} within {self.receipt_timeout}s") from exc
        except (Web3Exception, OSError) as exc:
            raise ChainError(f"{name}: waiting for the receipt of {tx_hash.to_0x_hex()} failed: {exc}") from exc
        if receipt["status"] != 1:
            raise self._replay_revert(tx, receipt)
        return receipt

    def _learn(self, fn: ContractFunction | ContractConstructor) -> None:
        abi = getattr(fn, "contract_abi", None) or getattr(fn, "abi", None)
        if isinstance(abi, list):
            self.decoder.add_abi(abi)

    def _base_tx(self, value: int) -> TxParams:
        """From, value, chain id, the pending nonce and EIP-1559 fees (legacy gas price where there is no base fee)."""
        tx: TxParams = {
            "from": self.address,
            "value": Wei(value),
            "chainId": rpc(lambda: self.w3.eth.chain_id, "read chain id"),
            "nonce": rpc(lambda: self.w3.eth.get_transaction_count(self.address, "pending"), "read nonce"),
        }
        block = rpc(lambda: self.w3.eth.get_block("latest"), "read latest block")
        base_fee = block.get("baseFeePerGas")
        if base_fee is None:
            tx["gasPrice"] = rpc(lambda: self.w3.eth.gas_price, "read gas price")
        else:
            priority = rpc(lambda: self.w3.eth.max_priority_fee, "read priority fee")
            tx["maxFeePerGas"] = Wei(2 * base_fee + priority)
            tx["maxPriorityFeePerGas"] = priority
        return tx

    def _replay_revert(self, tx: TxParams, receipt: TxReceipt) -> ChainError:
        """Re-runs a mined, reverted transaction as eth_call at its block to recover the revert data."""
        call: TxParams = {k: v for k, v in tx.items() if k in ("from", "to", "value", "data", "gas")}  # type: ignore[assignment]
        try:
            self.w3.eth.call(call, block_identifier=receipt["blockNumber"] - 1)
        except ContractLogicError as exc:
            return self.decoder.from_web3(exc)
        except (Web3Exception, OSError) as exc:
            return ChainError(f"transaction {receipt['transactionHash'].to_0x_hex()} reverted; replay failed: {exc}")
        return ChainError(
            f"transaction {receipt['transactionHash'].to_0x_hex()} reverted on chain but not when replayed "
            "(out of gas, or state changed in its block)"
        )
