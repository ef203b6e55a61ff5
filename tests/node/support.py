"""Constants and builders shared by the fixtures (conftest.py), the tests and nothing else."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from web3 import Web3
from web3.types import RPCEndpoint

from verinfer.chain import lottery
from verinfer.chain.system import System
from verinfer.types import Deployment, Mode, ModelId, ModelSpec

MODEL_ID = ModelId(Web3.keccak(text="onnx bytes of the integration test model"))
ENV_HASH = Web3.keccak(text="env: onnxruntime cpu, 1 thread")
PRICE = 10**16
SCALE = 1_000_000
NODE_STAKE = 2 * 10**18


@dataclass(frozen=True)
class Actors:
    """Senders for the roles of a test, all bound to the same deployment."""

    deployer: System
    node: System
    user: System

    @property
    def deployment(self) -> Deployment:
        return self.deployer.deployment


def model_spec(input_shape: tuple[int, ...] = (1, 4), output_shape: tuple[int, ...] = (1, 2)) -> ModelSpec:
    return ModelSpec(
        uri="file:///models/integration.onnx",
        input_shape=input_shape,
        output_shape=output_shape,
        scale=SCALE,
        price=PRICE,
        modes=Mode.mask([Mode.SINGLE, Mode.CONSENSUS]),
    )


def gemm_softmax(batch: int | str = 1, features: int = 4, classes: int = 2, seed: int = 1) -> onnx.ModelProto:
    """softmax(x·W + b), optionally with a symbolic batch dimension."""
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((features, classes)).astype(np.float32)
    bias = rng.standard_normal(classes).astype(np.float32)
    graph = helper.make_graph(
        nodes=[
            helper.make_node("Gemm", ["x", "W", "b"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["y"], axis=1),
        ],
        name="tiny",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, features])],
        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, classes])],
        initializer=[numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def open_all_windows(w3: Web3, lottery_word: int) -> None:
    """Moves anvil's clock past every lottery window of a request, for tests that deliver by hand: after the cap any
    eligible node may act (the lottery itself is tested in forge and in test_assignment.py)."""
    opens = lottery.Lottery.unpack(lottery_word).opens_to_all_at
    now = int(w3.eth.get_block("latest")["timestamp"])
    if opens >= now:
        w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [opens - now + 1])
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])


def next_second(w3: Web3) -> None:
    """Mines a block a second later: a stake registered just now holds tickets only for requests made after it."""
    w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [1])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])
