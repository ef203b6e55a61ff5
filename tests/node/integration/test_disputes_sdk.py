"""Optimistic SINGLE results through the SDK on a real anvil: a lie recorded by a registered node is challenged
with `Client.challenge`, a committee re-executes in commit-reveal, and `Client.resolve_dispute` overturns it and
slashes the liar; a challenge of an honest result loses its bond; `finality` before and after the window; final
callbacks delivered with `deliver_final` (also of requests sent with `Client.request_many`); and `verinfer challenge`
and `verinfer resolve` on the command line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner
from web3 import Web3
from web3.types import RPCEndpoint

from tests.node.integration.test_sdk import SCALE, World, serve, true_output
from tests.node.support import NODE_STAKE, Actors, next_second, open_all_windows
from verinfer.chain import commitments, lottery
from verinfer.chain.anvil import Anvil
from verinfer.chain.deploy import ENV_DEPLOYMENTS, deploy, save_deployment
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender
from verinfer.cli import app
from verinfer.demo.models import DemoModel, build_credit_model
from verinfer.errors import ChainError
from verinfer.inference import codec
from verinfer.inference.manifest import manifest, manifest_hash
from verinfer.inference.runner import OnnxRunner
from verinfer.sdk import Client, RequestHandle
from verinfer.types import (
    CALLBACK_ON_FINAL,
    DISPUTE_SEATS,
    ESCALATION_SEATS,
    DeployConfig,
    DisputeState,
    HubParams,
    Mode,
    Status,
)

pytestmark = pytest.mark.integration

PRICE = 10**15
DEPLOYER, NODE, USER, CHALLENGER, MEMBER = 5, 6, 7, 8, 9
ALL_SEATS = (1 << DISPUTE_SEATS) - 1
SALT = Web3.keccak(text="committee salt")
HUB_PARAMS = HubParams()


@dataclass(frozen=True)
class Arena:
    """A fresh deployment: the credit model, the node that answers (honestly or not), the requester, a challenger
    and a committee member staked before any challenge (so it holds tickets for every seat)."""

    world: World
    challenger: Client
    member: System
    rpc_url: str
    user_key: str
    challenger_key: str

    @property
    def w3(self) -> Web3:
        return self.world.node.sender.w3


@pytest.fixture(scope="module")
def credit_model(tmp_path_factory: pytest.TempPathFactory) -> DemoModel:
    return build_credit_model(tmp_path_factory.mktemp("models"))


@pytest.fixture
def arena(system: Actors, anvil: Anvil, accounts: list[LocalAccount], credit_model: DemoModel, tmp_path: Path) -> Arena:
    """Built inside `system`'s snapshot, so everything is rolled back after the test."""
    w3 = system.deployer.sender.w3
    decoder = system.deployer.sender.decoder
    deployment = deploy(TxSender(w3, accounts[DEPLOYER], decoder))
    client = Client(anvil.rpc_url, anvil.accounts[USER].private_key, deployment, cache_dir=tmp_path / "cache")
    model_id = client.register_model(
        credit_model.path, credit_model.path.as_uri(), PRICE, [Mode.SINGLE, Mode.CONSENSUS], scale=SCALE
    )
    env_hash = manifest_hash(manifest(OnnxRunner(credit_model.path, expected_id=model_id)))
    node = System.bind(TxSender(w3, accounts[NODE], decoder), deployment)
    member = System.bind(TxSender(w3, accounts[MEMBER], decoder), deployment)
    for staked in (node, member):
        staked.register_node(env_hash, [model_id], NODE_STAKE)
    next_second(w3)
    challenger_key = anvil.accounts[CHALLENGER].private_key
    challenger = Client(anvil.rpc_url, challenger_key, deployment, cache_dir=tmp_path / "cache")
    world = World(deployment, client, node, credit_model, model_id, env_hash)
    return Arena(world, challenger, member, anvil.rpc_url, anvil.accounts[USER].private_key, challenger_key)


def answered(arena: Arena, sample: int, *, lie: bool, **request: object) -> tuple[RequestHandle, bytes, bytes]:
    """A request for sample `sample`, answered by the node with the true output or a lie (its two probabilities
    swapped); returns the handle, the true output and the output recorded."""
    world = arena.world
    features = world.model.samples[sample]
    handle = world.client.request(world.model_id, features, **request)  # type: ignore[arg-type]
    honest = true_output(world.model, features)
    recorded = codec.encode(codec.decode(honest, (1, 2), SCALE)[:, ::-1], SCALE) if lie else honest
    serve(world, handle, recorded)
    return handle, honest, recorded


def vote(arena: Arena, request_id: int, output: bytes) -> None:
    """The committee member takes every seat once all its windows are open, then reveals `output`."""
    disputes = arena.member.disputes
    assert disputes is not None
    dispute = arena.challenger.finality(request_id).dispute
    assert dispute is not None
    open_all_windows(arena.w3, dispute.lottery)
    member = arena.member.sender
    member.send(
        disputes.functions.commit(request_id, commitments.vote(Web3.keccak(output), SALT, member.address), ALL_SEATS)
    )
    member.send(disputes.functions.reveal(request_id, output, SALT))


def stake_of(arena: Arena, node: str) -> int:
    return int(arena.member.sender.call(arena.member.nodes.functions.standing(node, arena.world.model_id))[2])


def travel(w3: Web3, seconds: int) -> None:
    w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [seconds])
    w3.provider.make_request(RPCEndpoint("anvil_mine"), [1])


def test_a_lie_is_overturned_and_its_node_slashed(arena: Arena) -> None:
    world = arena.world
    handle, honest, lie = answered(arena, 1, lie=True)
    liar = world.node.sender.address
    staked = stake_of(arena, liar)

    provisional = arena.challenger.finality(handle.request_id)
    assert (provisional.status, provisional.phase, provisional.is_final, provisional.dispute) == (
        Status.FULFILLED,
        "provisional",
        False,
        None,
    )
    with pytest.raises(ChainError, match=r"bond of 1 wei is below the .* wei request .* needs"):
        arena.challenger.challenge(handle.request_id, bond=1)

    dispute = arena.challenger.challenge(handle.request_id)
    bond = max(DeployConfig().dispute_min_bond, DISPUTE_SEATS * PRICE)
    assert (dispute.state, dispute.challenger, dispute.node, dispute.bond) == (
        DisputeState.OPEN,
        arena.challenger.address,
        liar,
        bond,
    )
    assert dispute.output_hash == Web3.keccak(lie)
    disputed = arena.challenger.finality(handle.request_id)
    assert (disputed.status, disputed.phase, disputed.is_final) == (Status.DISPUTED, "disputed", False)
    with pytest.raises(ChainError, match="disputed already by"):
        arena.challenger.challenge(handle.request_id)
    with pytest.raises(ChainError, match=r"revealed \(0 of 0\) or after"):
        arena.challenger.resolve_dispute(handle.request_id)

    vote(arena, handle.request_id, honest)
    refunds_before = world.client.balance()
    ended = arena.challenger.resolve_dispute(handle.request_id)
    assert (ended.status, ended.phase, ended.is_final) == (Status.OVERTURNED, "overturned", True)
    assert ended.dispute is not None
    assert (ended.dispute.state, ended.dispute.winner) == (DisputeState.OVERTURNED, Web3.keccak(honest))

    slashed = staked * HUB_PARAMS.slash_bps // 10_000
    assert stake_of(arena, liar) == staked - slashed
    rest = slashed - PRICE  # the requester's fee comes back first
    assert arena.challenger.dispute_balance() == bond + rest // 2
    # The fee goes back to the requester's hub balance, where a consumer contract already withdraws refunds.
    assert world.client.balance() - refunds_before == PRICE
    assert world.client.dispute_balance() == 0
    assert Client(arena.rpc_url, arena.member.sender.account.key.hex(), world.deployment).dispute_balance() == (
        (rest - rest // 2) // DISPUTE_SEATS * DISPUTE_SEATS
    )

    # The result now reads as the committee's, recorded under the member that revealed it, and verifies.
    result = handle.result(timeout=0)
    assert result.output_bytes == honest
    assert result.nodes == (arena.member.sender.address,)
    report = world.client.verify(handle.request_id)
    assert report.matches, report.checks

    before = arena.w3.eth.get_balance(arena.challenger.address)
    assert arena.challenger.withdraw_dispute() == bond + rest // 2
    assert arena.w3.eth.get_balance(arena.challenger.address) > before
    assert arena.challenger.dispute_balance() == 0


def test_a_split_committee_escalates_and_a_fresh_one_decides(arena: Arena, accounts: list[LocalAccount]) -> None:
    """The first committee splits one seat against one (the third seat empty): `resolve_dispute` escalates to a
    fresh seven-seat committee, whose majority overturns the lie and judges the first committee's votes."""
    world = arena.world
    handle, honest, lie = answered(arena, 3, lie=True)
    rid = handle.request_id
    decoder = world.node.sender.decoder
    dissenter, fresh = (System.bind(TxSender(arena.w3, accounts[i], decoder), world.deployment) for i in (3, 4))
    for staked in (dissenter, fresh):
        staked.register_node(world.env_hash, [world.model_id], NODE_STAKE)
    next_second(arena.w3)
    arena.challenger.challenge(rid)
    first = arena.challenger.finality(rid).dispute
    assert first is not None
    assert (first.round, first.seat_count) == (0, DISPUTE_SEATS)
    open_all_windows(arena.w3, first.lottery)
    disputes = arena.member.disputes
    assert disputes is not None
    for voter, output, seats in ((arena.member, honest, 1), (dissenter, lie, 2)):
        sender = voter.sender
        sender.send(disputes.functions.commit(rid, commitments.vote(Web3.keccak(output), SALT, sender.address), seats))
    travel(arena.w3, first.commit_ends_at - int(arena.w3.eth.get_block("latest")["timestamp"]) + 1)
    for voter, output in ((arena.member, honest), (dissenter, lie)):
        voter.sender.send(disputes.functions.reveal(rid, output, SALT))
    dissent_stake = stake_of(arena, dissenter.sender.address)

    escalated = arena.challenger.resolve_dispute(rid)
    assert (escalated.status, escalated.phase) == (Status.DISPUTED, "disputed")
    second = escalated.dispute
    assert second is not None
    assert (second.state, second.escalated, second.seat_count, second.commits) == (
        DisputeState.OPEN,
        True,
        ESCALATION_SEATS,
        0,
    )
    assert second.lottery != first.lottery
    assert second.opened_at == first.opened_at
    open_all_windows(arena.w3, second.lottery)
    sender = fresh.sender
    every = (1 << ESCALATION_SEATS) - 1
    sender.send(disputes.functions.commit(rid, commitments.vote(Web3.keccak(honest), SALT, sender.address), every))
    sender.send(disputes.functions.reveal(rid, honest, SALT))

    ended = arena.challenger.resolve_dispute(rid)
    assert (ended.status, ended.phase) == (Status.OVERTURNED, "overturned")
    assert ended.dispute is not None
    assert ended.dispute.winner == Web3.keccak(honest)
    assert stake_of(arena, dissenter.sender.address) == dissent_stake - dissent_stake * HUB_PARAMS.slash_bps // 10_000
    slashed = NODE_STAKE * HUB_PARAMS.slash_bps // 10_000
    per_seat = (slashed - PRICE - (slashed - PRICE) // 2) // (DISPUTE_SEATS + ESCALATION_SEATS)
    key_of = {c: c.sender.account.key.hex() for c in (arena.member, dissenter, fresh)}
    paid = {c: Client(arena.rpc_url, key_of[c], world.deployment).dispute_balance() for c in key_of}
    assert paid == {arena.member: per_seat, dissenter: 0, fresh: ESCALATION_SEATS * per_seat}
    assert handle.result(timeout=0).output_bytes == honest


def test_challenging_an_honest_result_loses_the_bond(arena: Arena) -> None:
    world = arena.world
    handle, honest, _ = answered(arena, 2, lie=False)
    node = world.node.sender.address
    staked = stake_of(arena, node)
    dispute = arena.challenger.challenge(handle.request_id)
    vote(arena, handle.request_id, honest)

    ended = arena.challenger.resolve_dispute(handle.request_id)
    assert (ended.status, ended.phase, ended.is_final) == (Status.CONFIRMED, "final", True)
    assert ended.dispute is not None
    assert ended.dispute.state == DisputeState.UPHELD
    assert arena.challenger.dispute_balance() == 0
    assert stake_of(arena, node) == staked
    to_node = dispute.bond // 2
    committee = (dispute.bond - to_node) // DISPUTE_SEATS * DISPUTE_SEATS
    node_client = Client(arena.rpc_url, world.node.sender.account.key.hex(), world.deployment)
    assert node_client.dispute_balance() == dispute.bond - committee
    with pytest.raises(ChainError, match="dispute ended UPHELD"):
        arena.challenger.resolve_dispute(handle.request_id)
    with pytest.raises(ChainError, match="its result is final"):
        arena.challenger.challenge(handle.request_id)


def test_finality_before_and_after_the_window(arena: Arena) -> None:
    handle, _, _ = answered(arena, 0, lie=False)
    result_at = int(arena.w3.eth.get_block(handle.result(timeout=0).result_block)["timestamp"])
    before = arena.challenger.finality(handle.request_id)
    assert (before.phase, before.is_final, before.final_at) == (
        "provisional",
        False,
        result_at + HUB_PARAMS.reveal_window,
    )

    travel(arena.w3, HUB_PARAMS.reveal_window + 1)
    after = arena.challenger.finality(handle.request_id)
    assert (after.status, after.phase, after.is_final, after.final_at) == (
        Status.FULFILLED,
        "final",
        True,
        before.final_at,
    )
    with pytest.raises(ChainError, match="its challenge window closed at"):
        arena.challenger.challenge(handle.request_id)
    with pytest.raises(ChainError, match="did not ask for its callback at finality"):
        arena.challenger.deliver_final([handle.request_id])
    with pytest.raises(ChainError, match="no dispute: `challenge` opens one"):
        arena.challenger.resolve_dispute(handle.request_id)


def test_final_callbacks_wait_for_the_window(arena: Arena) -> None:
    handle, _, _ = answered(arena, 3, lie=False, callback_gas_limit=50_000, callback_on_final=True)
    with pytest.raises(ChainError, match="is provisional until"):
        arena.challenger.deliver_final([handle.request_id])
    travel(arena.w3, HUB_PARAMS.reveal_window + 1)
    assert arena.challenger.deliver_final([handle.request_id]) == 1
    assert handle.status() == Status.CONFIRMED
    assert arena.challenger.finality(handle.request_id).phase == "final"
    with pytest.raises(ChainError, match="delivered already"):
        arena.challenger.deliver_final([handle.request_id])
    with pytest.raises(ValueError, match="without a callback_gas_limit"):
        arena.world.client.request(arena.world.model_id, arena.world.model.samples[0], callback_on_final=True)


def test_cli_challenge_result_and_verify(arena: Arena, tmp_path: Path) -> None:
    world = arena.world
    handle, honest, lie = answered(arena, 1, lie=True)
    deployments = tmp_path / "deployments"
    save_deployment(world.deployment, deployments / f"{world.deployment.chain_id}.json")
    env = {ENV_DEPLOYMENTS: str(deployments), "VERINFER_RPC_URL": arena.rpc_url}
    runner = CliRunner()

    shown = runner.invoke(app, ["result", str(handle.request_id), "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    finality = json.loads(shown.stdout)["finality"]
    assert (finality["phase"], finality["isFinal"], finality["dispute"]) == ("provisional", False, None)

    challenged = runner.invoke(
        app, ["challenge", str(handle.request_id), "--json"], env={**env, "VERINFER_PRIVATE_KEY": arena.challenger_key}
    )
    assert challenged.exit_code == 0, challenged.output
    document = json.loads(challenged.stdout)
    assert (document["requestId"], document["state"], document["challenger"]) == (
        handle.request_id,
        "OPEN",
        arena.challenger.address,
    )
    assert document["outputHash"] == Web3.keccak(lie).to_0x_hex()

    again = runner.invoke(
        app, ["challenge", str(handle.request_id)], env={**env, "VERINFER_PRIVATE_KEY": arena.challenger_key}
    )
    assert again.exit_code == 1
    assert "disputed already" in again.stderr

    shown = runner.invoke(app, ["result", str(handle.request_id)], env=env)
    assert shown.exit_code == 0, shown.output
    assert "disputed" in shown.stdout

    vote(arena, handle.request_id, honest)
    arena.challenger.resolve_dispute(handle.request_id)
    verified = runner.invoke(app, ["verify", str(handle.request_id), "--json"], env=env)
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)
    assert report["matches"] is True
    assert (report["finality"]["phase"], report["finality"]["dispute"]["state"]) == ("overturned", "OVERTURNED")
    np.testing.assert_array_equal(handle.result(timeout=0).output, codec.decode(honest, (1, 2), SCALE))

    # The challenger's bond and reward come out of the dispute contract with `withdraw --disputes`.
    owed = arena.challenger.dispute_balance()
    assert owed > 0
    challenger_env = {**env, "VERINFER_PRIVATE_KEY": arena.challenger_key}
    paid = runner.invoke(app, ["withdraw", "--disputes", "--json"], env=challenger_env)
    assert paid.exit_code == 0, paid.output
    assert json.loads(paid.stdout)["withdrawnDisputes"] == str(owed)
    assert arena.challenger.dispute_balance() == 0
    nothing = runner.invoke(app, ["withdraw", "--disputes"], env=challenger_env)
    assert nothing.exit_code == 1
    assert "nothing to withdraw from the hub or the dispute contract" in nothing.stderr


def test_cli_resolve_waits_for_the_reveals_then_ends_the_dispute(arena: Arena, tmp_path: Path) -> None:
    world = arena.world
    lied, honest, lie = answered(arena, 1, lie=True)
    kept, kept_output, _ = answered(arena, 2, lie=False)
    deployments = tmp_path / "deployments"
    save_deployment(world.deployment, deployments / f"{world.deployment.chain_id}.json")
    # Anyone may resolve: here the requester does, not the challenger.
    env = {ENV_DEPLOYMENTS: str(deployments), "VERINFER_RPC_URL": arena.rpc_url, "VERINFER_PRIVATE_KEY": arena.user_key}
    runner = CliRunner()

    unchallenged = runner.invoke(app, ["resolve", str(lied.request_id)], env=env)
    assert unchallenged.exit_code == 1
    assert "has no dispute: `challenge` opens one" in unchallenged.stderr

    dispute = arena.challenger.challenge(lied.request_id)
    early = runner.invoke(app, ["resolve", str(lied.request_id)], env=env)
    assert early.exit_code == 1
    assert f"or after {dispute.resolvable_at} (chain time" in early.stderr, early.stderr
    assert lied.status() == Status.DISPUTED

    vote(arena, lied.request_id, honest)
    resolved = runner.invoke(app, ["resolve", str(lied.request_id), "--json"], env=env)
    assert resolved.exit_code == 0, resolved.output
    document = json.loads(resolved.stdout)
    assert document["requestId"] == lied.request_id
    finality = document["finality"]
    assert (finality["status"], finality["phase"], finality["isFinal"]) == ("OVERTURNED", "overturned", True)
    assert (finality["dispute"]["state"], finality["dispute"]["winner"]) == (
        "OVERTURNED",
        Web3.keccak(honest).to_0x_hex(),
    )
    assert finality["dispute"]["outputHash"] == Web3.keccak(lie).to_0x_hex()
    assert lied.result(timeout=0).output_bytes == honest

    again = runner.invoke(app, ["resolve", str(lied.request_id)], env=env)
    assert again.exit_code == 1
    assert "dispute ended OVERTURNED: there is nothing to resolve" in again.stderr

    arena.challenger.challenge(kept.request_id)
    vote(arena, kept.request_id, kept_output)
    upheld = runner.invoke(app, ["resolve", str(kept.request_id)], env=env)
    assert upheld.exit_code == 0, upheld.output
    assert f"request {kept.request_id}: dispute resolved UPHELD: the node's result stands" in upheld.stdout
    assert kept.status() == Status.CONFIRMED


def test_request_many_with_final_callbacks(arena: Arena) -> None:
    world = arena.world
    gas, gas_price = 50_000, 7
    rows = [world.model.samples[i] for i in (0, 1)]
    with pytest.raises(ValueError, match="without a callback_gas_limit"):
        world.client.request_many(world.model_id, rows, callback_on_final=True)
    sent = world.client.request_many(
        world.model_id, rows, callback_gas_limit=gas, callback_gas_price=gas_price, callback_on_final=True
    )
    ids = sent.request_ids(world.client)
    assert len(ids) == len(rows)
    events = {int(e.request_id): e for e in world.node.requested(0) if e.request_id in ids}
    assert sorted(events) == sorted(ids)
    for event in events.values():
        assert event.callback_gas_limit == gas | CALLBACK_ON_FINAL
        assert event.fee == PRICE + gas_price * gas
        assert lottery.Lottery.unpack(event.lottery).callback_gas_price == gas_price

    for request_id, row in zip(ids, rows, strict=True):
        event = events[request_id]
        params = event.params(world.node.terms_of(event.model_id))
        open_all_windows(arena.w3, event.lottery)
        world.node.sender.send(
            world.node.hub.functions.submitResult(request_id, params.as_abi(), true_output(world.model, row))
        )
    # The callbacks wait for the window, as `request(..., callback_on_final=True)`'s do.
    with pytest.raises(ChainError, match="is provisional until"):
        arena.challenger.deliver_final(ids)
    travel(arena.w3, HUB_PARAMS.reveal_window + 1)
    assert arena.challenger.deliver_final(ids) == len(ids)
    assert {world.client.handle(i).status() for i in ids} == {Status.CONFIRMED}
