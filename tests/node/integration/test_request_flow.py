"""End to end on a real anvil: a LendingPool asks for a credit score, the node serves it from the event alone, and
anyone can verify the recorded result with the Python commitment. The pool asks for its callback at finality: the
loan is decided only once the result's challenge window has passed, by a `deliverFinal` anyone may send."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from web3 import Web3
from web3.contract import Contract
from web3.types import RPCEndpoint

from tests.node.support import ENV_HASH, MODEL_ID, PRICE, SCALE, Actors, open_all_windows
from verinfer.chain import commitments, lottery
from verinfer.chain.abi import find_entry, param_names
from verinfer.chain.artifacts import load_artifact
from verinfer.chain.events import EventCodec, InferenceRequested
from verinfer.errors import ContractRevert
from verinfer.inference import codec
from verinfer.types import CALLBACK_ON_FINAL, RequestParams, Status

pytestmark = pytest.mark.integration

ETHER = 10**18
THRESHOLD = 500_000  # approve when P(default) < 0.5
SCORE_INDEX = 1
FEATURES = np.array([0.2, -1.0, 0.5, 3.0])
APPROVED, REFUSED_SCORE = 2, 3


def deploy_pool(actors: Actors) -> Contract:
    pool, _ = actors.user.sender.deploy(
        load_artifact("LendingPool"), actors.deployment.hub.address, MODEL_ID, THRESHOLD, SCORE_INDEX
    )
    actors.user.sender.transfer(pool.address, 5 * ETHER)
    return pool


def struct_fields(contract: Contract, function: str, value: tuple[Any, ...]) -> dict[str, Any]:
    """A returned struct by field name, with the names from the ABI (so field order can change in the contract)."""
    (output,) = find_entry(contract.abi, "function", function)["outputs"]
    return dict(zip(param_names(output["components"]), value, strict=True))


def serve(actors: Actors, from_block: int, output: bytes) -> tuple[InferenceRequested, RequestParams, dict[str, Any]]:
    """What a node does: read the request from the raw logs, rebuild its parameters, submit the output."""
    node = actors.node
    (event,) = node.requested(from_block)
    params = event.params(node.terms_of(event.model_id))
    open_all_windows(node.sender.w3, event.lottery)  # by hand, as any node once every window is open
    receipt = node.sender.send(node.hub.functions.submitResult(event.request_id, params.as_abi(), output))
    return event, params, dict(receipt)


def travel_to(w3: Web3, timestamp: int) -> None:
    """Moves anvil's clock to `timestamp` (if it is ahead) and mines a block there."""
    now = int(w3.eth.get_block("latest")["timestamp"])
    if timestamp > now:
        w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [timestamp - now])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])


@pytest.mark.parametrize(
    ("probabilities", "decision"),
    [([0.8, 0.2], APPROVED), ([0.3, 0.7], REFUSED_SCORE)],
    ids=["approved", "refused"],
)
def test_loan_request_is_served_verified_and_decided(system: Actors, probabilities: list[float], decision: int) -> None:
    pool = deploy_pool(system)
    features = codec.quantize(FEATURES, SCALE).tolist()
    applied = system.user.sender.send(pool.functions.applyForLoan(features, ETHER), value=PRICE)

    output = codec.encode(np.array([probabilities]), SCALE)
    event, params, receipt = serve(system, applied["blockNumber"], output)

    # The event carried everything: the input is the canonical encoding of the features.
    assert event.requester == pool.address
    assert event.input == codec.encode(FEATURES, SCALE)
    assert event.fee == PRICE

    hub = system.node.hub
    request_id = event.request_id
    assert event.callback_gas_limit & CALLBACK_ON_FINAL  # the pool waits for the final result
    commitment = commitments.result(
        request_id, MODEL_ID, Web3.keccak(event.input), Web3.keccak(output), ENV_HASH, system.node.sender.address
    )
    assert hub.functions.statusOf(request_id).call() == Status.FULFILLED
    assert hub.functions.commitmentOf(request_id).call() == commitments.stored_form(commitment)
    assert hub.functions.verifyResult(
        request_id, MODEL_ID, params.input_hash, Web3.keccak(output), ENV_HASH, system.node.sender.address
    ).call()
    assert not hub.functions.verifyResult(
        request_id, MODEL_ID, params.input_hash, Web3.keccak(b"forged"), ENV_HASH, system.node.sender.address
    ).call()

    submitted = EventCodec.from_abi(hub.abi, "ResultSubmitted").decode_all(receipt["logs"])
    assert [(s.args["requestId"], s.args["commitment"], s.args["output"]) for s in submitted] == [
        (request_id, commitment, output)
    ]
    assert hub.functions.balanceOf(system.node.sender.address).call() == PRICE

    # Delivered but provisional: no decision yet, and the callback cannot be delivered before the window ends.
    loan_decided = EventCodec.from_abi(pool.abi, "LoanDecided")
    assert loan_decided.decode_all(receipt["logs"]) == []
    is_final, final_at = hub.functions.finalityOf(request_id, params.as_abi()).call()
    block = system.node.sender.w3.eth.get_block(receipt["blockNumber"])
    assert (is_final, final_at) == (
        False,
        int(block["timestamp"]) + lottery.Lottery.unpack(params.lottery).reveal_window,
    )
    item = (request_id, params.as_abi(), output, ENV_HASH, system.node.sender.address)
    with pytest.raises(ContractRevert, match=rf"NotFinal\(requestId={request_id}, finalAt={final_at}\)"):
        system.user.sender.send(hub.functions.deliverFinal([item]))

    # Once the window has passed unchallenged, anyone delivers the final callback: the callback decided the loan.
    travel_to(system.node.sender.w3, final_at)
    assert hub.functions.finalityOf(request_id, params.as_abi()).call() == [True, final_at]
    delivered = system.user.sender.send(system.user.hub.functions.deliverFinal([item]))
    assert hub.functions.statusOf(request_id).call() == Status.CONFIRMED
    (decided,) = loan_decided.decode_all(delivered["logs"])
    score = codec.value_at(output, SCORE_INDEX)
    assert decided.args == {
        "requestId": request_id,
        "applicant": system.user.sender.address,
        "decision": decision,
        "score": score,
    }
    application = struct_fields(pool, "applicationOf", pool.functions.applicationOf(request_id).call())
    assert application == {
        "applicant": system.user.sender.address,
        "decision": decision,
        "score": score,
        "amount": ETHER,
        "fee": PRICE,
    }


def test_pending_request_hash_matches_python(system: Actors) -> None:
    pool = deploy_pool(system)
    applied = system.user.sender.send(pool.functions.applyForLoan([1, 2, 3, 4], ETHER), value=PRICE)
    (event,) = system.node.requested(applied["blockNumber"])
    params = event.params(system.node.terms_of(event.model_id))
    hub = system.node.hub
    assert hub.functions.statusOf(event.request_id).call() == Status.PENDING
    stored = hub.functions.commitmentOf(event.request_id).call()
    assert stored == commitments.stored_params_form(commitments.request_hash(event.request_id, params))


def test_underpaid_request_raises_named_revert(system: Actors) -> None:
    pool = deploy_pool(system)
    with pytest.raises(ContractRevert) as caught:
        system.user.sender.send(pool.functions.applyForLoan([1, 2, 3, 4], ETHER), value=PRICE - 1)
    assert caught.value.name == "InsufficientFee"
    assert dict(caught.value.arguments) == {"paid": PRICE - 1, "required": PRICE}
    assert str(caught.value) == f"InsufficientFee(paid={PRICE - 1}, required={PRICE})"


def test_revert_mined_on_chain_is_replayed_and_named(system: Actors) -> None:
    """With an explicit gas limit there is no estimate to fail: the transaction is mined, reverts, and the sender
    recovers the reason by replaying it."""
    hub = system.user.hub
    block = system.user.sender.w3.eth.get_block("latest")
    deadline = int(block["timestamp"]) + 3600
    fn = hub.functions.requestInference(MODEL_ID, b"\x00" * 24, 0, 1, 0, deadline)
    with pytest.raises(ContractRevert) as caught:
        system.user.sender.send(fn, value=PRICE, gas=200_000)
    assert str(caught.value) == "InputLengthMismatch(length=24, expected=32)"


def test_wrong_params_are_refused_by_name(system: Actors) -> None:
    pool = deploy_pool(system)
    applied = system.user.sender.send(pool.functions.applyForLoan([1, 2, 3, 4], ETHER), value=PRICE)
    (event,) = system.node.requested(applied["blockNumber"])
    params = event.params(system.node.terms_of(event.model_id))
    tampered = RequestParams.from_abi((*params.as_abi()[:3], params.fee + 1, *params.as_abi()[4:]))
    output = codec.encode_ints([0, 0])
    with pytest.raises(ContractRevert, match=rf"RequestParamsMismatch\(requestId={event.request_id}\)"):
        system.node.sender.send(system.node.hub.functions.submitResult(event.request_id, tampered.as_abi(), output))
