"""The deployed system bound to the packaged ABIs (generated from the build output): hub, model registry, node
registry, and the reads a node needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3.contract import Contract
from web3.types import BlockIdentifier, FilterParams, TxReceipt

from verinfer.chain.artifacts import packaged_artifact
from verinfer.chain.events import EventCodec, InferenceRequested
from verinfer.chain.tx import TxSender, rpc
from verinfer.types import Deployment, ModelSpec, ModelTerms, Status


@dataclass(frozen=True)
class System:
    """The three contracts of a deployment, bound for `sender`."""

    deployment: Deployment
    sender: TxSender
    hub: Contract
    models: Contract
    nodes: Contract

    @classmethod
    def bind(cls, sender: TxSender, deployment: Deployment) -> System:
        return cls(
            deployment=deployment,
            sender=sender,
            hub=sender.bind(packaged_artifact("InferenceHub"), deployment.hub.address),
            models=sender.bind(packaged_artifact("ModelRegistry"), deployment.model_registry.address),
            nodes=sender.bind(packaged_artifact("NodeRegistry"), deployment.node_registry.address),
        )

    def as_sender(self, sender: TxSender) -> System:
        """The same contracts, sending from another account."""
        return System.bind(sender, self.deployment)

    # -- writes ----------------------------------------------------------------------------------------------------

    def register_model(self, model_id: bytes, spec: ModelSpec) -> TxReceipt:
        return self.sender.send(self.models.functions.registerModel(model_id, spec.as_abi()))

    def register_node(self, env_hash: bytes, model_ids: list[bytes], stake: int) -> TxReceipt:
        return self.sender.send(self.nodes.functions.register(env_hash, model_ids), value=stake)

    # -- reads -----------------------------------------------------------------------------------------------------

    def terms_of(self, model_id: bytes) -> ModelTerms:
        """The hub's copy of the model's request terms."""
        return ModelTerms.from_abi(self.sender.call(self.hub.functions.modelTermsOf(model_id)))

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
