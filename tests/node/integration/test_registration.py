"""Commit-reveal registration on anvil: the Python commitment is the contract's, `System.register_model` commits
then reveals, and a reveal nobody committed to is refused with a named error."""

from __future__ import annotations

import pytest
from web3 import Web3

from tests.node.support import MODEL_ID, Actors, model_spec
from verinfer.chain.registration import ZERO_HASH, new_salt, registration_commitment
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
