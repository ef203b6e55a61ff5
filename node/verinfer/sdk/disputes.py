"""Optimistic SINGLE results: when a result is final, and the dispute that may replace it.

A SINGLE result is provisional for its request's `revealWindow` after it was recorded (`finalityOf`); until then
anyone may challenge it with a bond (`Disputes.challenge`). A committee of `DISPUTE_SEATS` seats, drawn by the
stake-weighted lottery, re-executes in commit-reveal, and `resolve` ends the dispute by its strict majority: an
overturned result costs its node `slashBps` of its stake. Without a majority, `resolve` escalates once to a fresh
committee of `ESCALATION_SEATS` seats (none of the first's members), whose majority decides; without one either,
the dispute is VOID and the result stands. A request whose callback waits for finality
(`CALLBACK_ON_FINAL`) is called back by `deliverFinal` once its window passed, or by the dispute's end.

Everything the dispute contract checks is rebuilt from the request's `InferenceRequested` and the result's
`ResultSubmitted` events, as the node rebuilds a request's parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from verinfer.chain import commitments
from verinfer.chain.disputes import Dispute as Dispute  # re-exported (one decoder, in the chain layer)
from verinfer.chain.system import System
from verinfer.chain.tx import rpc
from verinfer.errors import ChainError
from verinfer.sdk.client import (
    Recorded,
    chain_now,
    contract_events,
    request_logs,
    request_params,
    submitted_log,
)
from verinfer.types import CALLBACK_ON_FINAL, DISPUTE_SEATS, DisputeState, Mode, Status

MAX_DELIVERIES = 256
"""The most items one `deliverFinal` takes (the hub's `MAX_BATCH`)."""
ZERO32 = bytes(32)


@dataclass(frozen=True)
class Finality:
    """Whether a request's result is final, and its dispute when it has one."""

    request_id: int
    status: Status
    is_final: bool
    final_at: int
    """When a SINGLE result's window ends (or ended); 0 for a result final when recorded (CONSENSUS, ZK, or one a
    dispute put in place) and for a request without a result."""
    dispute: Dispute | None = None

    @property
    def phase(self) -> str:
        """In a word: pending, failed, provisional, final, disputed or overturned."""
        if self.status in (Status.NONE, Status.PENDING):
            return "pending"
        if self.status in (Status.NO_CONSENSUS, Status.REFUNDED):
            return "failed"
        if self.status == Status.DISPUTED:
            return "disputed"
        if self.status == Status.OVERTURNED:
            return "overturned"
        return "final" if self.is_final else "provisional"


def _disputes(system: System) -> Contract:
    if system.disputes is None:
        raise ChainError(
            "this deployment has no dispute contract (its deployment file predates it): redeploy with "
            "`verinfer deploy`, or use a deployment file that lists Disputes"
        )
    return system.disputes


def read_dispute(system: System, request_id: int) -> Dispute | None:
    """The request's dispute (None without one, or without a dispute contract)."""
    if system.disputes is None:
        return None
    raw = system.sender.call(system.disputes.functions.disputeOf(request_id))
    dispute = Dispute.from_abi(request_id, raw)
    return None if dispute.state == DisputeState.NONE else dispute


def finality(system: System, request_id: int) -> Finality:
    """Whether request `request_id`'s result is final (`finalityOf`) and when, with its dispute."""
    _event, params = request_params(system, request_id)
    status = system.status_of(request_id)
    is_final, final_at = system.sender.call(system.hub.functions.finalityOf(request_id, params.as_abi()))
    return Finality(request_id, status, bool(is_final), int(final_at), read_dispute(system, request_id))


def challenge(system: System, request_id: int, bond: int | None = None) -> Dispute:
    """Challenges the provisional SINGLE result of `request_id` with `bond` wei (default: `bondFor(fee)`)."""
    disputes = _disputes(system)
    event, params = request_params(system, request_id)
    if event.mode != Mode.SINGLE:
        raise ChainError(
            f"request {request_id} is {event.mode.name}: its result was final when recorded; only SINGLE results "
            "can be challenged"
        )
    status = system.status_of(request_id)
    if status != Status.FULFILLED:
        raise ChainError(f"request {request_id} cannot be challenged: {_why_not_open(system, request_id, status)}")
    is_final, final_at = system.sender.call(system.hub.functions.finalityOf(request_id, params.as_abi()))
    if is_final:
        raise ChainError(
            f"request {request_id}'s result is final: its challenge window closed at {final_at} (chain time "
            f"{chain_now(system.sender.w3)}); a final result can no longer be disputed"
        )
    result = submitted_log(system, request_id, event.block_number)
    node = to_checksum_address(result.args["node"])
    if node == system.sender.address:
        raise ChainError(f"request {request_id}'s result is this account's own: a node may not challenge itself")
    required = int(system.sender.call(disputes.functions.bondFor(params.fee)))
    if bond is None:
        bond = required
    elif bond < required:
        raise ChainError(
            f"a bond of {bond} wei is below the {required} wei request {request_id} needs (bondFor(fee) = "
            f"max(minBond, {DISPUTE_SEATS} x fee)): bond at least {required}, or leave it out"
        )
    call = disputes.functions.challenge(
        request_id, params.as_abi(), bytes(result.args["output"]), bytes(result.args["envHash"]), node
    )
    system.sender.send(call, value=bond)
    opened = read_dispute(system, request_id)
    if opened is None:
        raise ChainError(f"challenge of request {request_id} was mined but the dispute contract shows no dispute")
    return opened


def _why_not_open(system: System, request_id: int, status: Status) -> str:
    """Why a request's result is not one a challenge can open on, with what to do instead."""
    if status == Status.PENDING:
        return "it has no result yet (challenge once a node recorded one)"
    if status == Status.DISPUTED:
        dispute = read_dispute(system, request_id)
        by = f" by {dispute.challenger}" if dispute is not None else ""
        return f"it is disputed already{by}: follow it with `finality` and end it with `resolve_dispute`"
    if status == Status.CONFIRMED:
        return "its result is final (confirmed after its window or a dispute)"
    if status == Status.OVERTURNED:
        return "a dispute replaced its result already, and that one is final"
    return f"it is {status.name}, without a result"


def _open_dispute(system: System, request_id: int) -> Dispute:
    dispute = read_dispute(system, request_id)
    if dispute is None:
        raise ChainError(f"request {request_id} has no dispute: `challenge` opens one")
    if dispute.state != DisputeState.OPEN:
        raise ChainError(f"request {request_id}'s dispute ended {dispute.state.name}: there is nothing to resolve")
    return dispute


def resolve(system: System, request_id: int) -> Finality:
    """Ends request `request_id`'s dispute by its committee's vote; without a majority in the first committee,
    escalates it (the returned `Finality.dispute` is then still OPEN, `escalated`, with its new committee's times)."""
    disputes = _disputes(system)
    dispute = _open_dispute(system, request_id)
    now = chain_now(system.sender.w3)
    if not dispute.all_revealed and now <= dispute.resolvable_at:
        raise ChainError(
            f"request {request_id}'s dispute can be resolved once every committed seat revealed "
            f"({dispute.reveals} of {dispute.commits}) or after {dispute.resolvable_at} (chain time {now}): "
            f"try again in {dispute.resolvable_at - now + 1} s"
        )
    event, params = request_params(system, request_id)
    output = _majority_output(system, disputes, request_id, event.block_number)
    if output is None:  # no majority: the first committee's resolve escalates, the escalation's leaves it standing
        output = bytes(submitted_log(system, request_id, event.block_number).args["output"])
    system.sender.send(disputes.functions.resolve(request_id, params.as_abi(), output))
    return finality(system, request_id)


def _majority_output(system: System, disputes: Contract, request_id: int, from_block: int) -> bytes | None:
    """The output a strict majority of the current committee's seats revealed (`majorityOf`, its bytes from
    `DisputeRevealed`), or None."""
    winner = bytes(system.sender.call(disputes.functions.majorityOf(request_id)))
    if winner == ZERO32:
        return None
    for log in request_logs(system, "DisputeRevealed", request_id, from_block, contract=disputes):
        if bytes(log.args["outputHash"]) == winner:
            return bytes(log.args["output"])
    raise ChainError(f"request {request_id}'s committee majority revealed {winner.hex()}, but no reveal carries it")


def deliver_final(system: System, request_ids: Sequence[int]) -> int:
    """Delivers the final callbacks of `request_ids` (`deliverFinal`); returns how many the hub delivered."""
    if not 1 <= len(request_ids) <= MAX_DELIVERIES:
        raise ChainError(f"deliver_final takes 1 to {MAX_DELIVERIES} request ids, got {len(request_ids)}")
    items = []
    for request_id in request_ids:
        event, params = request_params(system, request_id)
        if not params.callback_gas_limit & CALLBACK_ON_FINAL:
            raise ChainError(
                f"request {request_id} did not ask for its callback at finality (CALLBACK_ON_FINAL): its callback "
                "ran when its result was delivered"
            )
        status = system.status_of(request_id)
        if status != Status.FULFILLED:
            raise ChainError(f"request {request_id} has no final callback to deliver: {_why_not_waiting(status)}")
        is_final, final_at = system.sender.call(system.hub.functions.finalityOf(request_id, params.as_abi()))
        if not is_final:
            raise ChainError(
                f"request {request_id}'s result is provisional until {final_at} (chain time "
                f"{chain_now(system.sender.w3)}): deliver its callback after that"
            )
        result = submitted_log(system, request_id, event.block_number)
        output, env_hash, node = bytes(result.args["output"]), bytes(result.args["envHash"]), result.args["node"]
        items.append((request_id, params.as_abi(), output, env_hash, node))
    receipt = system.sender.send(system.hub.functions.deliverFinal(items))
    skipped = {int(log.args["requestId"]) for log in contract_events(system.hub, receipt, "ResultSkipped")}
    return sum(1 for request_id in request_ids if request_id not in skipped)


def _why_not_waiting(status: Status) -> str:
    return {
        Status.PENDING: "it has no result yet",
        Status.CONFIRMED: "it was delivered already",
        Status.DISPUTED: "its result is disputed: the dispute's resolution delivers it",
        Status.OVERTURNED: "the dispute that overturned its result delivered it",
    }.get(status, f"it is {status.name}, without a result")


def balance_of(system: System, account: str) -> int:
    """`account`'s withdrawable balance in the dispute contract, in wei."""
    return int(system.sender.call(_disputes(system).functions.balanceOf(account)))


def withdraw(system: System, to: str | None = None) -> int:
    """Pays the sender's whole dispute balance to `to` (default: the sender); returns the amount, in wei."""
    disputes = _disputes(system)
    if to is not None and not Web3.is_address(to):
        raise ChainError(f"withdraw to: {to!r} is not an address (0x + 40 hex digits)")
    recipient = to_checksum_address(to) if to is not None else system.sender.address
    amount = balance_of(system, system.sender.address)
    if amount == 0:
        raise ChainError(f"{system.sender.address} has nothing to withdraw from the dispute contract")
    system.sender.send(disputes.functions.withdraw(recipient))
    return amount


def overturned(system: System, request_id: int, model_id: bytes, input_hash: bytes, from_block: int) -> Recorded:
    """The result a dispute put in place of request `request_id`'s: the committee's majority output under the first
    agreeing member and its environment (as the dispute contract records it), or a proof's under the dispute
    contract itself."""
    disputes = _disputes(system)
    resolved = request_logs(system, "DisputeResolved", request_id, from_block, contract=disputes)
    if not resolved:
        raise ChainError(f"request {request_id} is OVERTURNED but has no DisputeResolved log from block {from_block}")
    log = resolved[-1]
    winner = bytes(log.args["outputHash"])
    dispute = read_dispute(system, request_id)
    members = dispute.members if dispute is not None else ()
    revealed = {
        to_checksum_address(r.args["member"]): bytes(r.args["output"])
        for r in request_logs(system, "DisputeRevealed", request_id, from_block, contract=disputes)
        if bytes(r.args["outputHash"]) == winner
    }
    agreeing = [m for m in members if m in revealed]
    if agreeing:
        by = agreeing[0]
        env_hash = bytes(system.sender.call(disputes.functions.voteOf(request_id, by))[2])
        output = revealed[by]
    else:  # settled by a proof: its output is in the settling call
        by, env_hash, output = disputes.address, ZERO32, _proven_output(system, disputes, log.transaction_hash)
    commitment = commitments.result(request_id, model_id, input_hash, winner, env_hash, by)
    return Recorded(log, output, (env_hash,), (by,), commitment)


def _proven_output(system: System, disputes: Contract, tx_hash: bytes) -> bytes:
    tx = rpc(lambda: system.sender.w3.eth.get_transaction(HexBytes(tx_hash)), "read the settling transaction")
    try:
        fn, args = disputes.decode_function_input(tx["input"])
    except ValueError as exc:
        raise ChainError(f"the settling transaction 0x{tx_hash.hex()} is not a call of the dispute contract") from exc
    if fn.fn_name != "settleByProof":
        raise ChainError(f"the settling transaction 0x{tx_hash.hex()} calls {fn.fn_name}, not settleByProof")
    return bytes(args["output"])
