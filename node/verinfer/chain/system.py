"""The deployed system bound to the packaged ABIs (generated from the build output): hub, model registry, node
registry, and the reads a node needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3.contract import Contract
from web3.types import BlockIdentifier, FilterParams, TxReceipt

from verinfer.chain.artifacts import packaged_artifact
from verinfer.chain.events import EventCodec, InferenceRequested
from verinfer.chain.registration import ZERO_HASH, new_salt, registration_commitment, reveal_gas
from verinfer.chain.tx import TxSender, rpc
from verinfer.errors import ContractRevert
from verinfer.types import Deployment, ModelSpec, ModelTerms, Status


@dataclass(frozen=True)
class System:
    """The three contracts of a deployment, bound for `sender`."""

    deployment: Deployment
    sender: TxSender
    hub: Contract
    models: Contract
    nodes: Contract
    disputes: Contract | None = None
    """Challenges of SINGLE results (None for a deployment made before the dispute contract existed)."""

    @classmethod
    def bind(cls, sender: TxSender, deployment: Deployment) -> System:
        return cls(
            deployment=deployment,
            sender=sender,
            hub=sender.bind(packaged_artifact("InferenceHub"), deployment.hub.address),
            models=sender.bind(packaged_artifact("ModelRegistry"), deployment.model_registry.address),
            nodes=sender.bind(packaged_artifact("NodeRegistry"), deployment.node_registry.address),
            disputes=(
                sender.bind(packaged_artifact("Disputes"), deployment.disputes.address)
                if deployment.disputes is not None
                else None
            ),
        )

    def as_sender(self, sender: TxSender) -> System:
        """The same contracts, sending from another account."""
        return System.bind(sender, self.deployment)

    # -- writes ----------------------------------------------------------------------------------------------------

    def register_model(self, model_id: bytes, spec: ModelSpec, vk_hash: bytes = ZERO_HASH) -> TxReceipt:
        """Registers `model_id` with this account as its publisher: commits, then reveals in a later block (the
        commit's receipt comes back only once its block is sealed, so the reveal cannot land in it). `vk_hash` is
        keccak256 of the ZK verifying key, zero without ZK. Returns the reveal's receipt, or the commit's when someone
        replayed our own reveal first (the entry is then exactly ours)."""
        publisher = self.sender.address
        salt = new_salt()
        commitment = registration_commitment(
            self.deployment.chain_id, self.models.address, model_id, spec, vk_hash, publisher, salt
        )
        committed = self.sender.send(self.models.functions.commitRegistration(commitment))
        reveal = self.models.functions.registerModel(model_id, spec.as_abi(), vk_hash, publisher, salt)
        try:
            return self.sender.send(reveal, gas=reveal_gas(self.sender, reveal, int(committed["blockNumber"])))
        except ContractRevert as exc:
            if exc.name == "ModelAlreadyRegistered" and self._is_entry(model_id, publisher, spec):
                return committed
            raise

    def register_node(
        self, env_hash: bytes, model_ids: list[bytes], stake: int, arithmetic_class: int = 0
    ) -> TxReceipt:
        return self.sender.send(self.nodes.functions.register(env_hash, arithmetic_class, model_ids), value=stake)

    def arithmetic_classes_of(self, model_id: bytes) -> int:
        """The arithmetic classes whose nodes may serve the model (bit i = class i; 0 = any)."""
        return int(self.sender.call(self.models.functions.arithmeticClassesOf(model_id)))

    # -- reads -----------------------------------------------------------------------------------------------------

    def _is_entry(self, model_id: bytes, publisher: str, spec: ModelSpec) -> bool:
        """Whether `model_id` is registered by `publisher` with exactly `spec`."""
        registered_by, registered, _terms = self.sender.call(self.models.functions.getModel(model_id))
        return bool(registered_by == publisher and _normal(registered) == _normal(spec.as_abi()))

    def terms_of(self, model_id: bytes) -> ModelTerms:
        """The hub's copy of the model's request terms."""
        return ModelTerms.from_abi(self.sender.call(self.hub.functions.modelTermsOf(model_id)))

    def stake_at_risk_of(self, model_id: bytes) -> int:
        """The stake (wei) a node needs to serve the model, which an overturned result of it loses at least."""
        _window, stake = self.sender.call(self.models.functions.riskOf(model_id))
        return int(stake)

    def status_of(self, request_id: int) -> Status:
        return Status(self.sender.call(self.hub.functions.statusOf(request_id)))

    def hub_logs(self, from_block: BlockIdentifier, to_block: BlockIdentifier = "latest") -> list[Any]:
        """The hub's raw logs (eth_getLogs, undecoded) in a block range."""
        query: FilterParams = {"address": self.hub.address, "fromBlock": from_block, "toBlock": to_block}
        return list(rpc(lambda: self.sender.w3.eth.get_logs(query), "eth_getLogs"))

    def requested(self, from_block: BlockIdentifier, to_block: BlockIdentifier = "latest") -> list[InferenceRequested]:
        """The `InferenceRequested` events in a block range, decoded from the raw logs."""
        codec = EventCodec.from_abi(self.hub.abi, "InferenceRequested")
        return [InferenceRequested.from_log(log) for log in codec.decode_all(self.hub_logs(from_block, to_block))]


def _normal(value: object) -> object:
    """An ABI value with every list and tuple as a tuple, so an encoded and a decoded struct compare equal."""
    if isinstance(value, list | tuple):
        return tuple(_normal(v) for v in value)
    if isinstance(value, bytes):
        return bytes(value)
    return value
