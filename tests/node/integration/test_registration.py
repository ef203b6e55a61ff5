"""Commit-reveal registration on anvil: the Python commitment is the contract's, `System.register_model` commits
then reveals, and a reveal nobody committed to is refused with a named error."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3
from web3.types import TxReceipt

from tests.node.support import MODEL_ID, Actors, model_spec
from verinfer.chain.artifacts import load_artifact
from verinfer.chain.registration import ZERO_HASH, new_salt, registration_commitment
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender
from verinfer.errors import ContractRevert

pytestmark = pytest.mark.integration

NEW_MODEL = Web3.keccak(text="onnx bytes of a model registered by commit-reveal")


def test_commitment_matches_the_contract(system: Actors) -> None:
    spec = model_spec(input_shape=(2, 3, 4))
    salt = new_salt()
    vk_hash = Web3.keccak(text="a verifying key")
    models = system.user.models
    on_chain = models.functions.registrationCommitment(
        NEW_MODEL, spec.as_abi(), vk_hash, system.user.sender.address, salt
    ).call()
    local = registration_commitment(
        system.deployment.chain_id, models.address, NEW_MODEL, spec, vk_hash, system.user.sender.address, salt
    )
    assert local == bytes(on_chain)


def test_register_model_commits_then_reveals_in_a_later_block(system: Actors) -> None:
    receipt = system.user.register_model(NEW_MODEL, model_spec())
    models = system.user.models
    publisher, _spec, terms = models.functions.getModel(NEW_MODEL).call()
    assert publisher == system.user.sender.address
    assert terms[6] is True  # exists
    provenance = models.functions.provenanceOf(NEW_MODEL).call()
    assert provenance[0] == system.user.sender.address
    assert provenance[1] == receipt["blockNumber"]
    committed = models.events.RegistrationCommitted().get_logs(from_block=receipt["blockNumber"] - 1)
    assert committed
    assert committed[-1]["blockNumber"] < receipt["blockNumber"]
    assert committed[-1]["args"]["publisher"] == system.user.sender.address


def test_reveal_without_commitment_is_refused(system: Actors) -> None:
    spec = model_spec()
    salt = new_salt()
    user = system.user
    expected = registration_commitment(
        system.deployment.chain_id, user.models.address, NEW_MODEL, spec, ZERO_HASH, user.sender.address, salt
    )
    reveal = user.models.functions.registerModel(NEW_MODEL, spec.as_abi(), ZERO_HASH, user.sender.address, salt)
    with pytest.raises(ContractRevert) as caught:
        user.sender.send(reveal, gas=500_000)
    assert caught.value.name == "CommitmentNotFound"
    assert caught.value["publisher"] == user.sender.address
    assert caught.value["commitment"] == expected


def test_register_model_refuses_a_taken_id(system: Actors) -> None:
    """The session's model belongs to the deployer: another account's registration of it names the publisher."""
    with pytest.raises(ContractRevert) as caught:
        system.user.register_model(MODEL_ID, model_spec())
    assert caught.value.name == "ModelAlreadyRegistered"
    assert caught.value["publisher"] == system.deployer.sender.address


class _FrontRunningSender(TxSender):
    """Sends as the publisher, but a copier replays each `registerModel` verbatim, first, from its own account."""

    def __init__(self, publisher: TxSender, copier: TxSender) -> None:
        super().__init__(publisher.w3, publisher.account, publisher.decoder)
        self.copier = copier

    def send(self, fn: Any, value: int = 0, gas: int | None = None) -> TxReceipt:
        if getattr(fn, "fn_name", "") == "registerModel":
            copied = self.copier.bind(load_artifact("ModelRegistry"), fn.address).functions.registerModel(*fn.args)
            self.copier.send(copied, gas=gas)
        return super().send(fn, value, gas)


def test_register_model_accepts_its_own_reveal_replayed_first(system: Actors) -> None:
    """A copier that front-runs the reveal verbatim registers the publisher's own entry: not an error for it."""
    publisher = _FrontRunningSender(system.user.sender, system.node.sender)
    receipt = System.bind(publisher, system.deployment).register_model(NEW_MODEL, model_spec())
    registered_by, _spec, _terms = system.user.models.functions.getModel(NEW_MODEL).call()
    assert registered_by == system.user.sender.address
    logs = system.user.models.events.ModelRegistered().get_logs(from_block=receipt["blockNumber"])
    assert [log["args"]["publisher"] for log in logs] == [system.user.sender.address]
