"""The chain reads the stages make, behind the `HubReader` and `Clock` ports: the hub's rounds and statuses, the node
registry's eligibility (cached briefly), this node's own events, and the chain's time.

Every read goes through the node's `JsonRpc` client (eth_call encoded and decoded here with the contracts' ABIs), so
it shares that client's timeouts, capped retries and error model: a hostile or flaky RPC answer is a `ChainError`,
never a crash."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_typing import ChecksumAddress
from eth_utils.abi import collapse_if_tuple
from eth_utils.crypto import keccak
from web3.contract.contract import ContractFunction

from verinfer.chain import lottery
from verinfer.chain.events import EventCodec
from verinfer.chain.jsonrpc import JsonRpc
from verinfer.chain.system import System
from verinfer.chain.txmanager import TxManager
from verinfer.errors import ChainError
from verinfer.node.ports import Round
from verinfer.types import DISPUTE_SEATS, Eligibility, ModelTerms, RequestParams, Status, checksum

ELIGIBILITY_TTL_S = 10.0
FALLBACK_GRACE_S = 5
"""How long after the primary's window a fallback waits before it works on a request (and only if the request is
still open then): the primary's time to compute and deliver, so that in the normal case one node works."""
MAX_RANKED_NODES = 256
STATUS_TTL_S = 1.0
WINDOWS_KEPT = 32_768  # requests whose lottery windows `seats_open` remembers (a few MB)
QUIET_FOREVER = 2**64  # past any window or deadline (uint64 seconds)
STATUS_BATCH = 100  # eth_calls per batch POST (providers cap batch sizes)
_STATUS_OF = bytes(keccak(text="statusOf(uint256)"))[:4]


def open_phase(draw: lottery.Lottery, k: int, round_: Round) -> tuple[lottery.Lottery, range]:
    """The draw and the seats of a round's open phase: the request's own and seats 0 .. k - 1, or, once the round
    escalated, the same tickets with windows counted from the escalation and its seats k .. k + e - 1 (the hub's
    rule in `commitResult`)."""
    if not round_.escalation_seats:
        return draw, range(k)
    return replace(draw, requested_at=round_.escalated_at), range(k, k + round_.escalation_seats)


def seat_mask(seats: range) -> int:
    """The bitmask of `seats` (bit j = seat j)."""
    return ((1 << len(seats)) - 1) << seats.start


class HubView:
    """`HubReader` over the bound contracts (`System`) and the node's JSON-RPC client."""

    def __init__(
        self,
        system: System,
        client: JsonRpc,
        address: ChecksumAddress,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        max_log_range: int = 2_000,
    ) -> None:
        self.system = system
        self.client = client
        self.address = address
        self.max_log_range = max_log_range
        """Blocks per eth_getLogs (hosted providers cap ranges): config `max_log_range`."""
        self._clock = clock
        self._wall = wall
        self._codecs: dict[str, EventCodec] = {}
        self._eligibility: dict[bytes, tuple[float, str | None]] = {}
        self._standing: dict[tuple[bytes, str], tuple[float, int, int]] = {}
        self._servers: dict[bytes, tuple[float, list[ChecksumAddress]]] = {}
        self._open_checks: dict[int, tuple[float, bool]] = {}
        self._windows: dict[int, tuple[tuple[object, ...], int, lottery.Window | None]] = {}
        """request id => (what its windows were computed from, this node's window on seat 0, the primary's)."""
        self._asked, self._quiet, self._quiet_until = 0, False, QUIET_FOREVER
        """`seats_open` answers since `begin_seats`; whether all were a primary's "not yet"; the earliest change."""
        self._escalated: set[int] = set()
        """Rounds seen escalating (`escalated_between`): their seats are read from the round, not the draw alone."""

    def call(self, fn: ContractFunction) -> Any:
        """eth_call of `fn` (a bound contract function) from this node's address, decoded: a single output as
        itself, several as a tuple. A revert raises its named `ContractRevert` (the client's decoder)."""
        data = fn._encode_transaction_data()
        raw = self.client.call("eth_call", {"from": self.address, "to": fn.address, "data": data}, "latest")
        if not isinstance(raw, str) or not raw.startswith("0x"):
            raise ChainError(f"eth_call of {fn.fn_name} answered {str(raw)[:80]!r}, not hex data")
        types = [collapse_if_tuple(dict(output)) for output in fn.abi.get("outputs", [])]
        try:
            values = abi_decode(types, bytes.fromhex(raw[2:]))
        except Exception as exc:
            raise ChainError(f"eth_call of {fn.fn_name} answered data that does not decode as {types}: {exc}") from exc
        return values[0] if len(values) == 1 else tuple(values)

    def terms_of(self, model_id: bytes) -> ModelTerms:
        return ModelTerms.from_abi(self.call(self.system.hub.functions.modelTermsOf(model_id)))

    def status_of(self, request_id: int) -> Status:
        return Status(self.call(self.system.hub.functions.statusOf(request_id)))

    def statuses_of(self, request_ids: Sequence[int]) -> dict[int, Status]:
        """`status_of` for many requests, in batch POSTs of STATUS_BATCH calls."""
        if not request_ids:
            return {}
        hub = self.system.hub.address
        found: dict[int, Status] = {}
        ids = list(request_ids)
        for start in range(0, len(ids), STATUS_BATCH):
            chunk = ids[start : start + STATUS_BATCH]
            calls = [
                [
                    {"from": self.address, "to": hub, "data": "0x" + (_STATUS_OF + rid.to_bytes(32, "big")).hex()},
                    "latest",
                ]
                for rid in chunk
            ]
            for rid, answer in zip(chunk, self.client.batch("eth_call", calls), strict=True):
                if isinstance(answer, ChainError):
                    raise ChainError(f"statusOf({rid}) failed: {answer}") from answer
                if not isinstance(answer, str) or not answer.startswith("0x") or len(answer) != 66:
                    raise ChainError(f"statusOf({rid}) answered {str(answer)[:80]!r}, not one word")
                found[rid] = Status(int(answer, 16))
        return found

    def finality_of(self, request_id: int, params: RequestParams) -> tuple[bool, int]:
        """(whether the request's result is final, when it is or was): the hub's `finalityOf`."""
        is_final, final_at = self.call(self.system.hub.functions.finalityOf(request_id, params.as_abi()))
        return bool(is_final), int(final_at)

    def round_of(self, request_id: int) -> Round:
        view: Any = self.call(self.system.hub.functions.roundOf(request_id))
        return Round(
            commits=int(view[0]),
            reveals=int(view[1]),
            reveal_ends_at=int(view[2]),
            winning_output_hash=bytes(view[3]),
            committers=tuple(str(node) for node in view[4]),
            escalation_seats=int(view[5]),
            escalated_at=int(view[6]),
            escalation_ends_at=int(view[7]),
        )

    def block_number(self) -> int:
        return self.client.block_number()

    def vote_seats(self, request_id: int) -> int:
        """The seats of this node's vote in round `request_id` (0 if it has none)."""
        vote: Any = self.call(self.system.hub.functions.voteOf(request_id, self.address))
        return int(vote[4])

    def escalated_between(self, from_block: int, to_block: int) -> list[int]:
        """The ids of the rounds that escalated in blocks `from_block`..`to_block`, chunked by `max_log_range`."""
        topic = "0x" + self._codec("ConsensusEscalated").topic.hex()
        ids = [int(str(log["topics"][1]), 16) for log in self._hub_logs([topic], from_block, to_block)]
        self._escalated.update(ids)
        return ids

    def _codec(self, event: str) -> EventCodec:
        codec = self._codecs.get(event)
        if codec is None:
            codec = self._codecs[event] = EventCodec.from_abi(self.system.hub.abi, event)
        return codec

    def _hub_logs(self, topics: list[str], from_block: int, to_block: int) -> list[Any]:
        """The hub's raw logs matching `topics` in blocks `from_block`..`to_block`, in ranges of `max_log_range`
        blocks (hosted providers cap a query's range)."""
        logs: list[Any] = []
        for start in range(from_block, to_block + 1, self.max_log_range):
            logs.extend(
                self.client.logs(
                    {
                        "address": self.system.hub.address,
                        "fromBlock": hex(start),
                        "toBlock": hex(min(start + self.max_log_range - 1, to_block)),
                        "topics": topics,
                    }
                )
            )
        return logs

    def model_count(self) -> int:
        return int(self.call(self.system.models.functions.modelCount()))

    def model_id_at(self, index: int) -> bytes:
        return bytes(self.call(self.system.models.functions.modelIdAt(index)))

    def stake_at_risk_of(self, model_id: bytes) -> int:
        _window, stake = self.call(self.system.models.functions.riskOf(model_id))
        return int(stake)

    def arithmetic_classes_of(self, model_id: bytes) -> int:
        return int(self.call(self.system.models.functions.arithmeticClassesOf(model_id)))

    def own_stake(self) -> int:
        return int(self.call(self.system.nodes.functions.nodeInfo(self.address))[0])

    def eligibility(self, model_id: bytes) -> Eligibility:
        """This node's eligibility for `model_id` now (uncached)."""
        status, _env = self.call(self.system.nodes.functions.eligibility(self.address, model_id))
        return Eligibility(status)

    def set_models_calldata(self, model_ids: Sequence[bytes], serving: bool) -> tuple[str, bytes]:
        """(to, data) of the node registry's `setModels(model_ids, serving)`."""
        fn = self.system.nodes.functions.setModels([bytes(m) for m in model_ids], serving)
        return str(self.system.nodes.address), bytes.fromhex(fn._encode_transaction_data()[2:])

    def forget_eligibility(self, model_ids: Sequence[bytes]) -> None:
        for model_id in model_ids:
            self._eligibility.pop(bytes(model_id), None)

    def eligible(self, model_id: bytes) -> str | None:
        """None if this node may serve `model_id` now, else why not (cached for ELIGIBILITY_TTL_S)."""
        cached = self._eligibility.get(model_id)
        if cached is not None and self._clock() - cached[0] < ELIGIBILITY_TTL_S:
            return cached[1]
        status, _env = self.call(self.system.nodes.functions.eligibility(self.address, model_id))
        eligibility = Eligibility(status)
        reason = None if eligibility == Eligibility.ELIGIBLE else f"node registry says {eligibility.name}"
        self._eligibility[model_id] = (self._clock(), reason)
        return reason

    def seats_open(self, request_id: int, params: RequestParams, now: int) -> int | str:
        """The seats this node takes at `now` (`verinfer.chain.lottery`, the hub's rule), or why it will not serve.

        CONSENSUS: every seat whose window opened. SINGLE and ZK: the primary (best ticket among the serving nodes
        that hold one) works from its window on; a fallback waits until its own window and FALLBACK_GRACE_S after
        the primary's, then works only if the request is still open (a dead or slow primary). Stakes and the serving
        nodes come from the registry, cached for ELIGIBILITY_TTL_S."""
        seats, opens_at = self._seats_open(request_id, params, now)
        self._asked += 1
        if seats == 0 and opens_at is not None:
            self._quiet_until = min(self._quiet_until, opens_at, params.deadline)
        else:
            self._quiet = False
        return seats

    def begin_seats(self) -> None:
        """Starts a count of `seats_open` answers (one compute step's), for `seats_quiet`."""
        self._asked, self._quiet, self._quiet_until = 0, True, QUIET_FOREVER

    def seats_quiet(self, requests: int, now: int) -> bool:
        """Whether every answer since `begin_seats` was "not yet" on a primary's window, for exactly `requests`
        requests, and at `now` (chain time) none of those windows has opened nor deadline passed: asked again, with
        the same requests, fees and registry, each would still answer 0 (the scheduler skips a step that would)."""
        return self._quiet and self._asked == requests and max(now, int(self._wall()) - 1) < self._quiet_until

    def _seats_open(self, request_id: int, params: RequestParams, now: int) -> tuple[int | str, int | None]:
        """`seats_open`, and for a primary whose window is not open yet, when it opens."""
        # The delivery lands in a block not mined yet: judge windows by the wall clock (less a second, so the block's
        # time is past the window) when it is ahead of the latest block, as on an idle devnet that mines on demand.
        now = max(now, int(self._wall()) - 1)
        draw = lottery.Lottery.unpack(params.lottery)
        stake, since = self._standing_of(self.address, params.model_id)
        if stake == 0 or since >= draw.requested_at:
            return "no lottery ticket: this node's stake or service of the model is newer than the request", None
        stakes = self._ticket_stakes(params.model_id, draw.requested_at)
        if params.redundancy > 1:
            return self._consensus_seats(request_id, params.redundancy, draw, stakes, now), None
        mine, primary = self._single_windows(request_id, draw, params.lottery, stake, stakes)
        if primary is None or primary.node.lower() == self.address.lower():
            return (1, None) if mine <= now else (0, mine)
        if not self._still_open(request_id):
            return f"served by the primary {primary.node} while this node waited its turn as a fallback", None
        return 0 if now < max(mine, primary.opens_at + FALLBACK_GRACE_S) else 1, None

    def _single_windows(
        self, request_id: int, draw: lottery.Lottery, word: int, stake: int, stakes: dict[ChecksumAddress, int]
    ) -> tuple[int, lottery.Window | None]:
        """(when this node's window on seat 0 opens, the primary's window): a keccak per serving node, so computed
        once per request and stakes; a job waiting for its window is asked about at every compute step."""
        basis = (word, stake, *stakes.items())
        known = self._windows.get(request_id)
        if known is not None and known[0] == basis:
            return known[1], known[2]
        ranked = lottery.assignment(draw, request_id, stakes)
        me = self.address.lower()
        found = [w.opens_at for w in ranked if w.node.lower() == me and stakes[w.node] == stake]
        mine = found[0] if found else lottery.opens_at(draw, request_id, self.address, 0, stake)
        primary = ranked[0] if ranked else None
        if len(self._windows) >= WINDOWS_KEPT:
            del self._windows[next(iter(self._windows))]  # the oldest: long served, or long given up
        self._windows[request_id] = (basis, mine, primary)
        return mine, primary

    def _consensus_seats(
        self, request_id: int, k: int, draw: lottery.Lottery, stakes: dict[ChecksumAddress, int], now: int
    ) -> int | str:
        """The seats on which this node holds the best ticket, once all their windows opened (one commit); with none,
        the fallback's turn: after the cap plus the grace, every seat (the hub refuses taken ones, named)."""
        if request_id in self._escalated:
            escalated = self.round_of(request_id)
            if escalated.escalation_seats:
                return self._escalation_seats(request_id, k, draw, stakes, escalated, now)
        best, latest = self._best_seats(request_id, draw, stakes, range(k))
        if best:
            return best if latest <= now else 0
        if not self._still_open(request_id):
            return "the round's seats went to better tickets while this node waited its turn as a fallback"
        round_ = self.round_of(request_id)
        if round_.escalation_seats:
            return self._escalation_seats(request_id, k, draw, stakes, round_, now)
        if round_.commits >= k:
            return "the round's seats went to better tickets while this node waited its turn as a fallback"
        return 0 if now < draw.opens_to_all_at + FALLBACK_GRACE_S else seat_mask(range(k))

    def dispute_seats(
        self,
        request_id: int,
        model_id: bytes,
        draw: lottery.Lottery,
        conflicted: Iterable[str],
        taken: int,
        now: int,
        *,
        seats: int = DISPUTE_SEATS,
        opened_at: int | None = None,
    ) -> int | str:
        """The dispute committee seats this node takes at `now`, or why it sits on none: by the same lottery as a
        round's, drawn from `draw` (the current committee's), among the model's nodes that held a ticket when the
        dispute opened (`opened_at`; the draw's time for the first committee) except the challenged node and the
        challenger, seats 0 .. `seats` - 1; once every window is open (and the grace), any free seat."""
        now = max(now, int(self._wall()) - 1)
        opened = draw.requested_at if opened_at is None else opened_at
        stake, since = self._standing_of(self.address, model_id)
        if stake == 0 or since >= opened:
            return "no ticket: this node's stake or service of the model is newer than the dispute"
        excluded = {node.lower() for node in conflicted}
        if self.address.lower() in excluded:
            return "the challenged node and the challenger never sit on its committee"
        stakes = {node: s for node, s in self._ticket_stakes(model_id, opened).items() if node.lower() not in excluded}
        every = seat_mask(range(seats))
        free = every & ~taken
        if not free:
            return "the committee's seats are taken"
        best, latest = self._best_seats(request_id, draw, stakes, range(seats))
        best &= free
        if best:
            return best if latest <= now else 0
        return 0 if now < draw.opens_to_all_at + FALLBACK_GRACE_S else free

    def _best_seats(
        self, request_id: int, draw: lottery.Lottery, stakes: dict[ChecksumAddress, int], seats: Iterable[int]
    ) -> tuple[int, int]:
        """(the mask of `seats` on which this node holds the best ticket among `stakes`, when the last opens)."""
        best, latest = 0, draw.requested_at
        for seat in seats:
            ranked = lottery.assignment(draw, request_id, stakes, seat)
            if ranked and ranked[0].node.lower() == self.address.lower():
                best |= 1 << seat
                latest = max(latest, ranked[0].opens_at)
        return best, latest

    def _escalation_seats(
        self,
        request_id: int,
        k: int,
        draw: lottery.Lottery,
        stakes: dict[ChecksumAddress, int],
        round_: Round,
        now: int,
    ) -> int | str:
        """A round without a majority escalated: its fresh committee (no voter of the round) takes seats k ..
        k + e - 1 by the same tickets, with windows opening from the escalation's time."""
        voters = {node.lower() for node in round_.committers}
        if self.address.lower() in voters:
            return "a voter of the round: not on its escalation committee"
        fresh = {node: stake for node, stake in stakes.items() if node.lower() not in voters}
        shifted, seats = open_phase(draw, k, round_)
        best, latest = self._best_seats(request_id, shifted, fresh, seats)
        if best:
            return best if latest <= now else 0
        if round_.commits >= len(seats):
            return "the escalation's seats went to better tickets while this node waited its turn as a fallback"
        return 0 if now < shifted.opens_to_all_at + FALLBACK_GRACE_S else seat_mask(seats)

    def _still_open(self, request_id: int) -> bool:
        """Whether a request this node waits on as a fallback is still PENDING (read at most once a second each),
        so that a fallback drops it as soon as a better ticket served it."""
        checked = self._open_checks.get(request_id)
        if checked is not None and self._clock() - checked[0] < STATUS_TTL_S:
            return checked[1]
        pending = self.status_of(request_id) == Status.PENDING
        if pending:
            self._open_checks[request_id] = (self._clock(), True)
        else:
            self._open_checks.pop(request_id, None)
        return pending

    def _standing_of(self, node: str, model_id: bytes) -> tuple[int, int]:
        key = (bytes(model_id), node.lower())
        cached = self._standing.get(key)
        if cached is None or self._clock() - cached[0] >= ELIGIBILITY_TTL_S:
            standing: Any = self.system.sender.call(self.system.nodes.functions.standing(node, model_id))
            cached = (self._clock(), int(standing[2]), int(standing[3]))
            self._standing[key] = cached
        return cached[1], cached[2]

    def _ticket_stakes(self, model_id: bytes, requested_at: int) -> dict[ChecksumAddress, int]:
        """The stake of every serving node that holds a ticket for a request made at `requested_at`."""
        cached = self._servers.get(bytes(model_id))
        if cached is None or self._clock() - cached[0] >= ELIGIBILITY_TTL_S:
            nodes: Any = self.system.sender.call(
                self.system.nodes.functions.servingNodesOf(model_id, 0, MAX_RANKED_NODES)
            )
            cached = (self._clock(), [checksum(n) for n in nodes])
            self._servers[bytes(model_id)] = cached
        stakes: dict[ChecksumAddress, int] = {}
        for node in cached[1]:
            stake, since = self._standing_of(node, model_id)
            if stake > 0 and since < requested_at:
                stakes[node] = stake
        return stakes

    def own_event_tx(self, event: str, request_id: int, from_block: int) -> bytes | None:
        """The transaction of this node's latest `event` (indexed by request id, then node) for the request, from
        `from_block` on; None if there is none. For the rare paths that must learn what the chain already holds
        from this node (after a reorg re-mined an earlier transaction)."""
        topics = [
            "0x" + self._codec(event).topic.hex(),
            "0x" + request_id.to_bytes(32, "big").hex(),
            "0x" + bytes(12).hex() + self.address[2:].lower(),
        ]
        logs = self._hub_logs(topics, from_block, self.client.block_number())
        return bytes.fromhex(str(logs[-1]["transactionHash"])[2:]) if logs else None


class ChainClock:
    """`Clock` from the latest block the transaction manager read with the fees (once per new block), moved on by the
    wall-clock time elapsed since that read: on a chain without empty blocks the latest timestamp freezes while
    time goes on (finalization and expiry would wait for someone else's transaction)."""

    def __init__(self, txm: TxManager, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._txm = txm
        self._monotonic = monotonic

    def chain_time(self) -> int:
        if self._txm.latest_timestamp is None:
            self._txm.refresh_fees()
        if self._txm.latest_timestamp is None or self._txm.latest_read_at is None:
            raise ChainError("the latest block has no timestamp")
        return self._txm.latest_timestamp + int(max(self._monotonic() - self._txm.latest_read_at, 0.0))
