"""Whole-transaction gas (receipt gasUsed) of the hub's hot paths on a real anvil, after a warm-up round.

    .venv/bin/python bench/gas.py

Starts its own anvil, deploys the system, registers a model with a 32-byte input and a 32-byte output ([1, 4] int64
tensors) and one staked node, runs one full request + submit cycle so the request counter and the node's balance slot
are non-zero (as on a live hub), then measures. Then two more nodes join as a dispute committee: a wrong SINGLE result
is challenged, the committee commits and reveals, and the dispute is resolved (overturned); and a result whose callback
waits for finality is delivered with `deliverFinal`. Last, a first committee splits, its resolve escalates, and a third
member's seven seats settle the escalation. Prints a Markdown table and writes it to bench/results/gas.md.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3
from web3.types import RPCEndpoint

from verinfer.chain import commitments, lottery
from verinfer.chain.anvil import Anvil
from verinfer.chain.artifacts import load_artifact
from verinfer.chain.deploy import deploy
from verinfer.chain.events import EventCodec
from verinfer.chain.revert import RevertDecoder
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender, connect
from verinfer.inference import codec
from verinfer.types import CALLBACK_ON_FINAL, Mode, ModelId, ModelSpec, RequestParams

RESULTS = Path(__file__).resolve().parent / "results" / "gas.md"

MODEL_ID = Web3.keccak(text="onnx bytes of the gas benchmark model")
ENV_HASH = Web3.keccak(text="env: onnxruntime cpu, 1 thread")
PRICE = 10**16
CALLBACK_GAS = 100_000
BATCH = 32
INPUT = codec.encode_ints([1_000_000, -2_500_000, 0, 42])


def output(tag: int) -> bytes:
    return codec.encode_ints([250_000, 750_000, tag, -1])


@dataclass(frozen=True)
class Row:
    operation: str
    gas: int
    target: int | None
    peer: str


class Bench:
    """The deployed system and the three actors of the measurements."""

    def __init__(self, anvil: Anvil) -> None:
        w3 = connect(anvil.rpc_url)
        decoder = RevertDecoder.for_system([load_artifact("NoopConsumer").abi])
        deployer, self.node, self.user, self.member_a, self.member_b, self.member_c = (
            TxSender(w3, Account.from_key(anvil.accounts[i].private_key), decoder) for i in range(6)
        )
        self.system = System.bind(deployer, deploy(deployer))
        self.system.register_model(
            MODEL_ID,
            ModelSpec(
                uri="file:///models/gas-bench.onnx",
                input_shape=(1, 4),
                output_shape=(1, 4),
                scale=1_000_000,
                price=PRICE,
                modes=Mode.mask([Mode.SINGLE, Mode.CONSENSUS]),
            ),
        )
        self.system.as_sender(self.node).register_node(ENV_HASH, [MODEL_ID], 2 * 10**18)
        # Tickets go to stakes older than the request; anvil may give the next block the same second.
        self.user.w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [1])
        self.user.w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        self.hub_as_node = self.system.as_sender(self.node).hub
        self.hub_as_user = self.system.as_sender(self.user).hub
        self.noop, _ = self.user.deploy(load_artifact("NoopConsumer"), self.system.hub.address)
        self.requested = EventCodec.from_abi(self.system.hub.abi, "InferenceRequested")

    def deadline(self) -> int:
        return int(self.user.w3.eth.get_block("latest")["timestamp"]) + 3600

    def request_via_noop(self, callback_gas: int = CALLBACK_GAS) -> tuple[int, RequestParams, int]:
        """A SINGLE request through the no-op consumer; the params rebuilt from its event, and the gas it took."""
        deadline = self.deadline()
        receipt = self.user.send(
            self.noop.functions.request(MODEL_ID, INPUT, int(Mode.SINGLE), 1, callback_gas, deadline), value=PRICE
        )
        (log,) = self.requested.decode_all(receipt["logs"])
        request_id = int(log.args["requestId"])
        params = RequestParams(
            model_id=ModelId(MODEL_ID),
            input_hash=Web3.keccak(INPUT),
            requester=self.noop.address,
            fee=PRICE,
            deadline=deadline,
            callback_gas_limit=callback_gas,
            output_bytes=len(output(0)),
            mode=Mode.SINGLE,
            redundancy=1,
            env_restricted=False,
            lottery=int(log.args["lottery"]),
        )
        return request_id, params, int(receipt["gasUsed"])

    def open_window(self, request_id: int, params: RequestParams) -> None:
        """Moves anvil's clock to the node's lottery window on the request (the only node: it is the primary)."""
        stake = int(self.system.nodes.functions.nodeInfo(self.node.address).call()[0])
        opens = lottery.opens_at(lottery.Lottery.unpack(params.lottery), request_id, self.node.address, 0, stake)
        now = int(self.user.w3.eth.get_block("latest")["timestamp"])
        if opens > now:
            self.user.w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [opens - now])
            self.user.w3.provider.make_request(RPCEndpoint("evm_mine"), [])

    def advance(self, seconds: int) -> None:
        self.user.w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [seconds])
        self.user.w3.provider.make_request(RPCEndpoint("evm_mine"), [])

    def dispute_rows(self) -> list[Row]:
        """A wrong result challenged and overturned by a two-member committee (seats 2 + 1), and a final callback."""
        disputes = self.system.disputes
        if disputes is None:
            raise RuntimeError("the deployment has no dispute contract")
        for member in (self.member_a, self.member_b, self.member_c):
            self.system.as_sender(member).register_node(ENV_HASH, [MODEL_ID], 2 * 10**18)
        self.advance(1)
        request_id, params, _ = self.request_via_noop()
        self.submit(request_id, params, 99)
        bond = int(disputes.functions.bondFor(params.fee).call())
        as_user = self.system.as_sender(self.user).disputes
        assert as_user is not None
        challenge = self.user.send(
            as_user.functions.challenge(request_id, params.as_abi(), output(99), ENV_HASH, self.node.address),
            value=bond,
        )
        self.advance(lottery.MAX_TICKET_UNITS * self.system.deployment.hub_params.ticket_delay + 1)
        truth = output(1)
        committee = []
        for member, seats in ((self.member_a, 0b011), (self.member_b, 0b100)):
            salt = Web3.keccak(text=f"salt {member.address}")
            contract = self.system.as_sender(member).disputes
            assert contract is not None
            vote = commitments.vote(Web3.keccak(truth), salt, member.address)
            committee.append((member, contract, salt, member.send(contract.functions.commit(request_id, vote, seats))))
        reveals = [member.send(c.functions.reveal(request_id, truth, salt)) for member, c, salt, _ in committee]
        resolve = self.user.send(as_user.functions.resolve(request_id, params.as_abi(), truth))

        final_id, final_params, _ = self.request_via_noop(CALLBACK_GAS | CALLBACK_ON_FINAL)
        self.submit(final_id, final_params, 1)
        self.advance(self.system.deployment.hub_params.reveal_window + 1)
        item = (final_id, final_params.as_abi(), output(1), ENV_HASH, self.node.address)
        deliver = self.node.send(self.hub_as_node.functions.deliverFinal([item]))
        escalate, decide = self.escalation_rows()
        return [
            Row("challenge (bond, dispute opened, stake locked)", int(challenge["gasUsed"]), None, "n/a"),
            Row("dispute commit (first vote, 2 seats)", int(committee[0][3]["gasUsed"]), None, "n/a"),
            Row("dispute reveal", int(reveals[0]["gasUsed"]), None, "n/a"),
            Row("resolve (overturned: slash, refund, pay 2 members, callback)", int(resolve["gasUsed"]), None, "n/a"),
            Row("deliverFinal (1 item, no-op callback)", int(deliver["gasUsed"]), None, "n/a"),
            Row("resolve, first committee split (escalates: a fresh 7-seat draw)", escalate, None, "n/a"),
            Row("resolve after the escalation (overturned: judges 3 members of 2 committees)", decide, None, "n/a"),
        ]

    def escalation_rows(self) -> tuple[int, int]:
        """A wrong result whose first committee splits one seat against one (the third empty): the resolve that
        escalates, and the one that settles once a fresh member took the escalation's seven seats."""
        request_id, params, _ = self.request_via_noop()
        self.submit(request_id, params, 98)
        as_user = self.system.as_sender(self.user).disputes
        assert as_user is not None
        bond = int(as_user.functions.bondFor(params.fee).call())
        self.user.send(
            as_user.functions.challenge(request_id, params.as_abi(), output(98), ENV_HASH, self.node.address),
            value=bond,
        )
        every_window = lottery.MAX_TICKET_UNITS * self.system.deployment.hub_params.ticket_delay + 1
        reveal_window = self.system.deployment.hub_params.reveal_window
        self.advance(every_window)
        truth = output(1)

        def vote(member: TxSender, answer: bytes, seats: int) -> tuple[Any, bytes]:
            salt = Web3.keccak(text=f"escalation salt {member.address}")
            contract = self.system.as_sender(member).disputes
            assert contract is not None
            member.send(
                contract.functions.commit(
                    request_id, commitments.vote(Web3.keccak(answer), salt, member.address), seats
                )
            )
            return contract, salt

        split = [
            (m, answer, vote(m, answer, seats))
            for m, answer, seats in ((self.member_a, truth, 1), (self.member_b, output(98), 2))
        ]
        self.advance(every_window + reveal_window)
        for member, answer, (contract, salt) in split:
            member.send(contract.functions.reveal(request_id, answer, salt))
        self.advance(reveal_window + 1)
        escalate = self.user.send(as_user.functions.resolve(request_id, params.as_abi(), output(98)))
        self.advance(every_window)
        contract, salt = vote(self.member_c, truth, (1 << 7) - 1)
        self.member_c.send(contract.functions.reveal(request_id, truth, salt))
        decide = self.user.send(as_user.functions.resolve(request_id, params.as_abi(), truth))
        state = int(as_user.functions.disputeOf(request_id).call()[0])
        if state != 3:
            raise RuntimeError(f"the escalated dispute ended in state {state}, not OVERTURNED (3)")
        return int(escalate["gasUsed"]), int(decide["gasUsed"])

    def submit(self, request_id: int, params: RequestParams, tag: int) -> int:
        self.open_window(request_id, params)
        receipt = self.node.send(self.hub_as_node.functions.submitResult(request_id, params.as_abi(), output(tag)))
        return int(receipt["gasUsed"])

    def run(self) -> list[Row]:
        warm_id, warm_params, _ = self.request_via_noop()
        self.submit(warm_id, warm_params, 0)

        eoa_request = self.user.send(
            self.hub_as_user.functions.requestInference(
                MODEL_ID, INPUT, int(Mode.SINGLE), 1, CALLBACK_GAS, self.deadline()
            ),
            value=PRICE,
        )
        request_id, params, consumer_request_gas = self.request_via_noop()
        submit_gas = self.submit(request_id, params, 1)

        items: list[Any] = []
        for i in range(BATCH):
            rid, p, _ = self.request_via_noop()
            self.open_window(rid, p)
            items.append((rid, p.as_abi(), output(i)))
        batch = self.node.send(self.hub_as_node.functions.submitResults(items))
        fulfilled = EventCodec.from_abi(self.system.hub.abi, "ResultSubmitted").decode_all(batch["logs"])
        if len(fulfilled) != BATCH:
            raise RuntimeError(f"the batch fulfilled {len(fulfilled)} of {BATCH} requests")

        return [
            Row("requestInference (EOA, 32-byte input)", int(eoa_request["gasUsed"]), 62_000, "154,679 (Infernet)"),
            Row("request through a consumer contract (NoopConsumer)", consumer_request_gas, None, "154,679 (Infernet)"),
            Row("submitResult (SINGLE, 32-byte output, no-op callback)", submit_gas, 60_000, "65,313 (ORA)"),
            Row(f"submitResults, per item ({BATCH} items)", int(batch["gasUsed"]) // BATCH, 18_000, "n/a"),
            Row(f"submitResults, whole batch ({BATCH} items)", int(batch["gasUsed"]), None, "n/a"),
            *self.dispute_rows(),
        ]


def table(rows: list[Row]) -> str:
    lines = [
        "| operation | gas | target | within target | peer best |",
        "| --- | ---: | ---: | :---: | ---: |",
    ]
    for row in rows:
        target = f"≤ {row.target:,}" if row.target else ""
        verdict = ("yes" if row.gas <= row.target else "**no**") if row.target else ""
        lines.append(f"| {row.operation} | {row.gas:,} | {target} | {verdict} | {row.peer} |")
    return "\n".join(lines)


def report(rows: list[Row]) -> str:
    return (
        "# Gas: whole-transaction gasUsed on anvil\n\n"
        "Measured by `.venv/bin/python bench/gas.py` after one warm-up request + submit cycle; model input and output "
        f"are 32 bytes ([1, 4] int64), callback gas limit {CALLBACK_GAS:,}. Peer figures: 32-byte input and output, "
        "whole transaction, after a warm-up (Infernet's request goes through a callback consumer; ORA's delivery "
        "carries no payment).\n\n" + table(rows) + "\n"
    )


def main() -> int:
    with Anvil.start() as anvil:
        rows = Bench(anvil).run()
    text = report(rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(table(rows))
    print(f"\nwritten to {RESULTS}")
    return 0 if all(row.target is None or row.gas <= row.target for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
