"""Model registration by commit-reveal (`ModelRegistry.commitRegistration` then `registerModel`).

The commitment hides the model id until the publisher's commitment is at least one block old, so a copier watching
the mempool cannot register the id first (IModelRegistry.sol explains the scheme). It is computed here, locally:
asking an RPC endpoint to compute it (`registrationCommitment`) would show that endpoint the id early.
"""

from __future__ import annotations

import secrets
import time

from eth_abi.abi import encode
from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from web3.contract.contract import ContractFunction
from web3.types import TxParams

from verinfer.chain.tx import GAS_MARGIN, TxSender, rpc
from verinfer.errors import ChainError, ContractRevert
from verinfer.types import ModelSpec

ZERO_HASH = bytes(32)
HEAD_TIMEOUT = 300.0
"""Longest wait, in seconds, for the chain to move past the commit's block where "pending" is not supported."""
MODEL_SPEC_ABI = "(string,uint32[],uint32[],uint64,uint96,uint8,bytes32[],uint32,uint96,uint32,address,uint8,bytes)"
"""The ABI type of `ModelSpec` (checked against the build output by a unit test)."""


def new_salt() -> bytes:
    """A fresh secret salt: 32 random bytes, so the commitment cannot be matched against guessed ids."""
    return secrets.token_bytes(32)


def registration_commitment(
    chain_id: int,
    registry: ChecksumAddress | str,
    model_id: bytes,
    spec: ModelSpec,
    vk_hash: bytes,
    publisher: ChecksumAddress | str,
    salt: bytes,
) -> bytes:
    """keccak256(abi.encode(chainid, registry, modelId, keccak256(abi.encode(spec)), vkHash, publisher, salt)), as
    `ModelRegistry.registrationCommitment` computes it."""
    spec_hash = keccak(encode([MODEL_SPEC_ABI], [spec.as_abi()]))
    return keccak(
        encode(
            ["uint256", "address", "bytes32", "bytes32", "bytes32", "address", "bytes32"],
            [chain_id, registry, model_id, spec_hash, vk_hash, publisher, salt],
        )
    )


def reveal_gas(sender: TxSender, reveal: ContractFunction, committed_block: int, timeout: float = HEAD_TIMEOUT) -> int:
    """The gas for `reveal` (`registerModel`), estimated where it will run: after the commit's block.

    An estimate against "latest" runs in the commit's own block and fails `CommitmentTooNew`; "pending" is the next
    block on anvil and geth. Where an endpoint treats "pending" as "latest", this waits (up to `timeout` seconds) for
    the head to move past `committed_block` and estimates again.
    """
    tx: TxParams = {"from": sender.address}
    try:
        with sender.decoder.translate():
            estimate = rpc(lambda: reveal.estimate_gas(tx, block_identifier="pending"), "estimate gas of registerModel")
    except ContractRevert as exc:
        if exc.name != "CommitmentTooNew":
            raise
        _wait_for_head(sender, committed_block + 1, timeout)
        with sender.decoder.translate():
            estimate = rpc(lambda: reveal.estimate_gas(tx), "estimate gas of registerModel")
    return int(estimate * GAS_MARGIN)


def _wait_for_head(sender: TxSender, block: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        head = int(rpc(lambda: sender.w3.eth.block_number, "read the block number"))
        if head >= block:
            return
        if time.monotonic() > deadline:
            raise ChainError(
                f"the registration was committed in block {block - 1} but the chain head is still {head} after "
                f"{timeout:.0f}s: the reveal must land in a later block; retry once the chain produces blocks"
            )
        time.sleep(0.5)
