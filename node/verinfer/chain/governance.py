"""Owner actions through the Timelock that owns the deployment's contracts: schedule, wait out the delay, execute.

    gov = Governance.of(system)                                   # system's sender must be the timelock's proposer
    call = gov.schedule(system.nodes.functions.setMinStake(2 * 10**18))
    ...                                                           # call.eta: the delay is public; cancel if need be
    gov.execute(call)                                             # waits until call.eta, then runs it
    gov.enact(system.hub.functions.setParams(params.as_abi()))    # both at once, on a devnet's short delay

Every scheduled call is visible on chain (`CallScheduled` carries target, calldata and eta) for the whole delay.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxParams, TxReceipt

from verinfer.chain.artifacts import packaged_artifact
from verinfer.chain.registration import new_salt
from verinfer.chain.system import System
from verinfer.chain.tx import GAS_MARGIN, TxSender, rpc
from verinfer.errors import ChainError, ConfigError, ContractRevert

__all__ = ["DEFAULT_WAIT", "CallState", "Governance", "ScheduledCall"]

DEFAULT_WAIT = 120.0
"""Longest `execute` waits for a call's eta by default, in seconds (devnet delays are a few seconds)."""


class CallState(enum.IntEnum):
    """`ITimelock.CallState`."""

    UNSET = 0
    WAITING = 1
    READY = 2
    EXPIRED = 3
    DONE = 4


@dataclass(frozen=True)
class ScheduledCall:
    """A call scheduled on the timelock: `target.call(data)` may run from `eta` (unix seconds)."""

    id: bytes
    target: ChecksumAddress
    data: bytes
    salt: bytes
    eta: int


class Governance:
    """The timelock of a deployment, driven by its proposer (`sender`)."""

    def __init__(
        self,
        sender: TxSender,
        timelock: ChecksumAddress | str,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sender = sender
        self.timelock: Contract = sender.bind(packaged_artifact("Timelock"), timelock)
        self._clock = clock
        self._sleep = sleep

    @classmethod
    def of(cls, system: System) -> Governance:
        """The deployment's timelock, sending from `system`'s account."""
        timelock = system.deployment.timelock
        if timelock is None:
            raise ConfigError(
                f"the deployment on chain {system.deployment.chain_id} records no Timelock (deployed before it "
                "existed): redeploy with `verinfer deploy`"
            )
        return cls(system.sender, timelock.address)

    # -- actions ---------------------------------------------------------------------------------------------------

    def schedule(self, fn: ContractFunction, salt: bytes | None = None) -> ScheduledCall:
        """Schedules `fn` (a call on a contract the timelock owns); returns it with its eta."""
        target = to_checksum_address(fn.address)
        data = bytes.fromhex(fn._encode_transaction_data()[2:])
        salt = salt if salt is not None else new_salt()
        receipt = self.sender.send(self.timelock.functions.schedule(target, data, salt))
        (event,) = self.timelock.events.CallScheduled().process_receipt(receipt)
        return ScheduledCall(
            id=bytes(event["args"]["id"]), target=target, data=data, salt=salt, eta=int(event["args"]["eta"])
        )

    def execute(self, call: ScheduledCall, wait: float = DEFAULT_WAIT) -> TxReceipt:
        """Runs `call`, first waiting (at most `wait` seconds) for its eta; the target's own error is raised as is."""
        remaining = call.eta - self._clock()
        if remaining > wait:
            raise ChainError(
                f"timelock call {call.id.hex()} runs from {call.eta}, {remaining:.0f}s from now (more than the "
                f"{wait:.0f}s this waits): execute it then with Governance.execute, or cancel it"
            )
        if remaining > 0:
            self._sleep(remaining)
        fn = self.timelock.functions.execute(call.target, call.data, call.salt)
        return self.sender.send(fn, gas=self._gas_when_ready(call, fn, wait))

    def enact(self, fn: ContractFunction, wait: float = DEFAULT_WAIT) -> TxReceipt:
        """Schedules `fn` and executes it once the delay has passed (for short devnet delays)."""
        return self.execute(self.schedule(fn), wait)

    def cancel(self, call: ScheduledCall) -> TxReceipt:
        return self.sender.send(self.timelock.functions.cancel(call.id))

    # -- reads -----------------------------------------------------------------------------------------------------

    def scheduled(self, from_block: int = 0) -> list[ScheduledCall]:
        """Every call scheduled since `from_block`, oldest first (executed and cancelled ones included: see `state`)."""
        logs = rpc(
            lambda: self.timelock.events.CallScheduled().get_logs(from_block=from_block), "read CallScheduled logs"
        )
        return [
            ScheduledCall(
                id=bytes(log["args"]["id"]),
                target=to_checksum_address(log["args"]["target"]),
                data=bytes(log["args"]["data"]),
                salt=bytes(log["args"]["salt"]),
                eta=int(log["args"]["eta"]),
            )
            for log in logs
        ]

    def find(self, call_id: bytes, from_block: int = 0) -> ScheduledCall:
        """The scheduled call with this id (its latest scheduling), from the timelock's `CallScheduled` events."""
        matches = [c for c in self.scheduled(from_block) if c.id == call_id]
        if not matches:
            raise ConfigError(
                f"no call 0x{call_id.hex()} was scheduled on the timelock {self.timelock.address}: "
                "list them with `verinfer admin pending`"
            )
        return matches[-1]

    def state(self, call: ScheduledCall) -> CallState:
        return CallState(self.sender.call(self.timelock.functions.stateOf(call.id)))

    def delay(self) -> int:
        return int(self.sender.call(self.timelock.functions.delay()))

    def proposer(self) -> ChecksumAddress:
        return to_checksum_address(self.sender.call(self.timelock.functions.proposer()))

    # -- private ---------------------------------------------------------------------------------------------------

    def _gas_when_ready(self, call: ScheduledCall, fn: ContractFunction, wait: float) -> int:
        """Estimates `execute` in the next block; a block built before the eta says `TooEarly`, so retry briefly (the
        chain's clock may trail ours by a block)."""
        tx: TxParams = {"from": self.sender.address}
        deadline = self._clock() + wait
        while True:
            try:
                with self.sender.decoder.translate():
                    estimate = rpc(lambda: fn.estimate_gas(tx, block_identifier="pending"), "estimate gas of execute")
                return int(estimate * GAS_MARGIN)
            except ContractRevert as exc:
                if exc.name != "TooEarly" or self._clock() > deadline:
                    raise
                self._sleep(1.0)
