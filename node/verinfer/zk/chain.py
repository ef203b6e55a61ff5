"""The ZK pipeline on chain: deploy a model's verifier, register the model for Mode.ZK, submit and check proofs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy.typing as npt
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.exceptions import ContractLogicError
from web3.types import TxReceipt

from verinfer.chain.artifacts import Artifact, load_abi
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender, rpc
from verinfer.types import Mode, ModelId, ModelSpec, RequestParams
from verinfer.zk.artifacts import ZkArtifacts
from verinfer.zk.config import CircuitConfig
from verinfer.zk.errors import ZkInputInvalid
from verinfer.zk.instances import instances_for
from verinfer.zk.pipeline import prepare
from verinfer.zk.progress import Progress
from verinfer.zk.prover import ZkProof
from verinfer.zk.solidity import VERIFIER_CONTRACT


class HasSystem(Protocol):
    """Anything holding a bound `System` (the SDK's `Client` does)."""

    @property
    def system(self) -> System: ...


@dataclass(frozen=True)
class ZkModel:
    """A model registered for Mode.ZK: its id, its verifier's address, the spec it was registered with."""

    model_id: ModelId
    verifier: ChecksumAddress
    spec: ModelSpec
    artifacts: ZkArtifacts


def verifier_artifact(artifacts: ZkArtifacts) -> Artifact:
    """The model's compiled verifier in the shape `TxSender.deploy` takes."""
    compiled = artifacts.verifier()
    return Artifact(
        VERIFIER_CONTRACT,
        str(artifacts.verifier_source_path),
        compiled.abi,
        compiled.bytecode,
        artifacts.verifier_json_path,
    )


def deploy_verifier(sender: TxSender, artifacts: ZkArtifacts) -> ChecksumAddress:
    """Deploys the model's verifier; returns its address."""
    contract, _ = sender.deploy(verifier_artifact(artifacts))
    return to_checksum_address(contract.address)


def zk_model_spec(
    artifacts: ZkArtifacts,
    *,
    uri: str,
    price: int,
    verifier: str,
    modes: Iterable[Mode] = (Mode.ZK,),
    allowed_environments: Sequence[bytes] = (),
) -> ModelSpec:
    """The registry entry of a prepared model: its shapes, scale 2^k and verifier (ZK is always allowed)."""
    return ModelSpec(
        uri=uri,
        input_shape=artifacts.input_shape,
        output_shape=artifacts.output_shape,
        scale=artifacts.scale,
        price=price,
        modes=Mode.mask({*modes, Mode.ZK}),
        allowed_environments=tuple(allowed_environments),
        verifier=to_checksum_address(verifier),
    )


def register_prepared(
    target: System | HasSystem,
    artifacts: ZkArtifacts,
    *,
    uri: str,
    price: int,
    modes: Iterable[Mode] = (Mode.ZK,),
    allowed_environments: Sequence[bytes] = (),
    verifier: str | None = None,
) -> ZkModel:
    """Deploys the verifier (unless `verifier` is given) and registers the prepared model for Mode.ZK."""
    system = _system(target)
    address = to_checksum_address(verifier) if verifier is not None else deploy_verifier(system.sender, artifacts)
    spec = zk_model_spec(
        artifacts, uri=uri, price=price, verifier=address, modes=modes, allowed_environments=allowed_environments
    )
    # The entry pins the verifying key the verifier was generated from, next to the verifier's code hash.
    system.register_model(artifacts.model_id, spec, vk_hash=keccak(artifacts.vk_path.read_bytes()))
    return ZkModel(artifacts.model_id, address, spec, artifacts)


def register_zk_model(
    target: System | HasSystem,
    model_path: Path | str,
    calibration: npt.ArrayLike,
    *,
    uri: str,
    price: int,
    cache_dir: Path | str,
    srs_path: Path | str | None = None,
    config: CircuitConfig | None = None,
    modes: Iterable[Mode] = (Mode.ZK,),
    allowed_environments: Sequence[bytes] = (),
    progress: Progress | None = None,
) -> ZkModel:
    """The whole of `model register --zk`: prepare (or reuse) the circuit artifacts, deploy the verifier, register.

    Without `srs_path` an INSECURE SRS is generated locally: devnets only.
    """
    artifacts = prepare(
        model_path, calibration, cache_dir=cache_dir, srs_path=srs_path, config=config, progress=progress
    )
    return register_prepared(
        target, artifacts, uri=uri, price=price, modes=modes, allowed_environments=allowed_environments
    )


def submit_zk_result(target: System | HasSystem, request_id: int, params: RequestParams, proof: ZkProof) -> TxReceipt:
    """Sends `submitZkResult` for a proven inference of the request's input."""
    system = _system(target)
    input_data = proof.input_bytes
    if keccak(input_data) != params.input_hash:
        raise ZkInputInvalid(
            f"the proof is for input 0x{keccak(input_data).hex()}, request {request_id} has input "
            f"0x{params.input_hash.hex()}"
        )
    fn = system.hub.functions.submitZkResult(request_id, params.as_abi(), input_data, proof.output_bytes, proof.proof)
    return system.sender.send(fn)


def verify_on_chain(
    target: System | HasSystem, verifier: str, input_data: bytes, output_data: bytes, proof: bytes
) -> bool:
    """Whether the deployed `verifier` accepts `proof` for `output_data` on `input_data` (an eth_call; EZKL's
    verifiers revert on a bad proof, read here as False)."""
    system = _system(target)
    contract = system.sender.w3.eth.contract(address=to_checksum_address(verifier), abi=list(load_abi("IZkVerifier")))
    fn = contract.functions.verifyProof(proof, instances_for(input_data, output_data))
    try:
        return bool(rpc(lambda: fn.call({"from": system.sender.address}), "call verifyProof"))
    except ContractLogicError:
        return False


def _system(target: System | HasSystem) -> System:
    return target if isinstance(target, System) else target.system
