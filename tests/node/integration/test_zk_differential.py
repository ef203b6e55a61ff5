"""Differential test: `verinfer.zk.instances` against `ZkInstances.sol` (through tests/contracts/harness/
ZkInstancesHarness.sol) on anvil, fed the same hypothesis-generated tensors."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.contract import Contract

from tests.node.support import Actors
from verinfer.chain.artifacts import load_artifact
from verinfer.inference import codec
from verinfer.zk import instances_for, to_field

pytestmark = pytest.mark.integration

DIFF = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
INT64 = st.integers(min_value=codec.INT64_MIN, max_value=codec.INT64_MAX)


@pytest.fixture(scope="module")
def harness(deployed: Actors) -> Contract:
    contract, _ = deployed.deployer.sender.deploy(load_artifact("ZkInstancesHarness"))
    return contract


@DIFF
@given(st.lists(INT64, max_size=24), st.lists(INT64, max_size=8))
def test_instances_agree(harness: Contract, inputs: list[int], outputs: list[int]) -> None:
    input_data, output_data = codec.encode_ints(inputs), codec.encode_ints(outputs)
    assert harness.functions.fromTensors(input_data, output_data).call() == instances_for(input_data, output_data)


@DIFF
@given(INT64)
def test_to_field_agrees(harness: Contract, value: int) -> None:
    assert harness.functions.toField(value).call() == to_field(value)
