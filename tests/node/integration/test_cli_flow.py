"""The CLI on the session anvil, as a user types it: register a model, request, (a node serves by hand), read the
result as JSON, verify by re-execution; and a lying node makes `verinfer verify` exit 1."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner, Result
from web3 import Web3

from tests.node.support import NODE_STAKE, Actors, next_second, open_all_windows
from tests.node.unit.test_import_weight import loaded_by_command
from verinfer.chain.anvil import Anvil
from verinfer.chain.deploy import ENV_DEPLOYMENTS, save_deployment
from verinfer.chain.system import System
from verinfer.chain.tx import TxSender
from verinfer.cli import app
from verinfer.demo.models import DemoModel, build_credit_model
from verinfer.inference import codec
from verinfer.inference.runner import OnnxRunner

pytestmark = pytest.mark.integration

PRICE = 10**15
SCALE = 1_000_000
OWNER, OPERATOR, USER = 5, 6, 7

runner = CliRunner()


@dataclass(frozen=True)
class Shell:
    """The CLI pointed at the session deployment through VERINFER_* variables, and a node to serve by hand."""

    env: dict[str, str]
    owner_key: str
    node: System

    def run(self, *args: str, key: str | None = None) -> Result:
        env = {**self.env, "VERINFER_PRIVATE_KEY": key or ""}
        return runner.invoke(app, list(args), env=env)


@pytest.fixture(scope="module")
def credit_model(tmp_path_factory: pytest.TempPathFactory) -> DemoModel:
    return build_credit_model(tmp_path_factory.mktemp("models"))


@pytest.fixture
def shell(system: Actors, anvil: Anvil, accounts: list[LocalAccount], tmp_path: Path) -> Shell:
    deployments = tmp_path / "deployments"
    save_deployment(system.deployment, deployments / f"{system.deployment.chain_id}.json")
    sender = system.deployer.sender
    node = System.bind(TxSender(sender.w3, accounts[OPERATOR], sender.decoder), system.deployment)
    env = {ENV_DEPLOYMENTS: str(deployments), "VERINFER_RPC_URL": anvil.rpc_url}
    return Shell(env, anvil.accounts[OWNER].private_key, node)


def ok_json(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.output
    document: dict[str, object] = json.loads(result.stdout)
    return document


def register(shell: Shell, model: DemoModel) -> str:
    """Registers the model through the CLI and stakes the node to serve it (with its real environment hash)."""
    env_hash = ok_json(shell.run("env", "show", "--json"))["hash"]
    assert isinstance(env_hash, str)
    args = ["model", "register", str(model.path), "--uri", model.path.as_uri(), "--price", str(PRICE)]
    registered = ok_json(shell.run(*args, "--mode", "single", "--mode", "consensus", "--json", key=shell.owner_key))
    model_id = registered["modelId"]
    assert model_id == Web3.keccak(model.path.read_bytes()).to_0x_hex()
    shell.node.register_node(bytes.fromhex(env_hash[2:]), [bytes.fromhex(model_id[2:])], NODE_STAKE)
    next_second(shell.node.sender.w3)
    return model_id


def request(shell: Shell, model_id: str, features: np.ndarray, user_key: str) -> int:
    requested = ok_json(
        shell.run("request", model_id, "--input", json.dumps([features.tolist()]), "--json", key=user_key)
    )
    assert requested["modelId"] == model_id
    assert requested["mode"] == "single"
    request_id = requested["requestId"]
    assert isinstance(request_id, int)
    return request_id


def serve(shell: Shell, request_id: int, output: bytes) -> None:
    """What a node does, by hand (as in test_sdk): read the request from the logs, rebuild its params, submit."""
    node = shell.node
    (event,) = [e for e in node.requested(node.deployment.hub.block) if e.request_id == request_id]
    params = event.params(node.terms_of(event.model_id))
    open_all_windows(node.sender.w3, event.lottery)
    node.sender.send(node.hub.functions.submitResult(event.request_id, params.as_abi(), output))


def honest_output(model: DemoModel, features: np.ndarray) -> bytes:
    decoded = codec.decode(codec.encode(features, SCALE), (1, features.size), SCALE).astype(np.float32)
    return codec.encode(OnnxRunner(model.path).run_batch(decoded), SCALE)


def test_register_request_result_verify(shell: Shell, credit_model: DemoModel, anvil: Anvil) -> None:
    model_id = register(shell, credit_model)
    listed = ok_json(shell.run("model", "list", "--json"))["models"]
    assert isinstance(listed, list)
    assert model_id in listed
    shown = ok_json(shell.run("model", "show", model_id, "--json"))
    assert shown["modelId"] == model_id
    assert shown["spec"] == {
        "uri": credit_model.path.as_uri(),
        "inputShape": [1, 4],
        "outputShape": [1, 2],
        "scale": SCALE,
        "price": str(PRICE),
        "modes": ["single", "consensus"],
        "allowedEnvironments": [],
        "challengeWindow": 0,
        "stakeAtRisk": "0",
        "arithmeticClasses": [],
        "verifier": "0x" + "00" * 20,
        "card": {  # register writes the file's ports, so the entry alone lays tensors out
            "inputs": [{"dtype": "float32", "name": "features", "shape": [1, 4]}],
            "outputs": [{"dtype": "float32", "name": "probabilities", "shape": [1, 2]}],
            "v": 1,
        },
    }
    provenance = shown["provenance"]
    assert isinstance(provenance, dict)
    assert provenance["publisher"] == Account.from_key(shell.owner_key).address
    assert provenance["verifierCodeHash"] == provenance["vkHash"] == "0x" + "00" * 32
    assert provenance["mirrors"] == []
    terms = shown["terms"]
    assert isinstance(terms, dict)
    assert terms["exists"] is True
    assert terms["price"] == str(PRICE)

    features = credit_model.samples[0]
    request_id = request(shell, model_id, features, anvil.accounts[USER].private_key)
    pending = shell.run("result", str(request_id))
    assert pending.exit_code == 1
    assert pending.stderr.startswith(f"error: request {request_id} is still PENDING")
    assert f"Assignment of request {request_id}" in pending.stdout
    pending_json = shell.run("result", str(request_id), "--json")
    assert pending_json.exit_code == 1
    assignment = json.loads(pending_json.stdout)["assignment"]
    assert assignment["primary"] == shell.node.sender.address

    waited = shell.run(
        "request",
        model_id,
        "--input",
        json.dumps(features.tolist()),
        "--wait",
        "--timeout",
        "0.3",
        key=anvil.accounts[USER].private_key,
    )
    assert waited.exit_code == 1
    assert "is still PENDING after 0.3s" in waited.stderr
    assert waited.stdout.strip().isdigit()  # the id of the request it sent, printed before waiting

    output = honest_output(credit_model, features)
    serve(shell, request_id, output)
    table = shell.run("result", str(request_id))
    assert table.exit_code == 0, table.output
    assert f"Result of request {request_id}" in table.stdout
    result = ok_json(shell.run("result", str(request_id), "--json"))
    assert result["requestId"] == request_id
    assert result["mode"] == "single"
    assert result["output"] == codec.decode(output, (1, 2), SCALE).tolist()
    assert result["modelId"] == model_id
    assert result["outputHash"] == Web3.keccak(output).to_0x_hex()
    assert result["nodes"] == [shell.node.sender.address]
    assigned: Any = result["assignment"]
    assert assigned["primary"] == shell.node.sender.address
    assert assigned["opensToAllAt"] >= assigned["windows"][0]["opensAt"]
    # The same read in a fresh process, as the console script runs it: a chain read loads no ML runtime.
    code, loaded = loaded_by_command(["result", str(request_id), "--json"], env={**os.environ, **shell.env})
    assert code == 0
    assert loaded == set()

    verified = shell.run("verify", str(request_id), "--model", str(credit_model.path))
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.rstrip().endswith("match")
    report = ok_json(shell.run("verify", str(request_id), "--model", str(credit_model.path), "--json"))
    assert report["matches"] is True
    checks = report["checks"]
    assert isinstance(checks, list)
    assert [c["field"] for c in checks] == [
        "model hash",
        "output bytes",
        "output hash",
        "commitment",
        "on-chain verifyResult",
    ]


def test_verify_exits_1_on_a_lying_node(shell: Shell, credit_model: DemoModel, anvil: Anvil) -> None:
    model_id = register(shell, credit_model)
    features = credit_model.samples[1]
    request_id = request(shell, model_id, features, anvil.accounts[USER].private_key)
    honest = codec.decode(honest_output(credit_model, features), (1, 2), SCALE)
    serve(shell, request_id, codec.encode(honest[:, ::-1], SCALE))  # the two probabilities swapped

    verified = shell.run("verify", str(request_id), "--model", str(credit_model.path))
    assert verified.exit_code == 1
    assert "mismatch: output bytes, output hash, commitment, on-chain verifyResult" in verified.stdout
    report = json.loads(shell.run("verify", str(request_id), "--model", str(credit_model.path), "--json").stdout)
    assert report["matches"] is False
    # The mismatch decoded, value by value: the two probabilities, each where the other should be.
    differences = report["differences"]
    assert [(d["index"], d["recorded"]) for d in differences] == [(0, honest[0, 1]), (1, honest[0, 0])]
    assert [d["expected"] for d in differences] == [honest[0, 0], honest[0, 1]]
    assert "Recorded output values" in verified.stdout


def test_register_zk_deploys_the_verifier_and_allows_zk(shell: Shell, tmp_path: Path) -> None:
    from verinfer.zk.models import calibration_rows, mlp

    model = tmp_path / "zk.onnx"
    model.write_bytes(mlp(4, 4, 2, seed=9).SerializeToString())
    calibration = tmp_path / "rows.csv"
    calibration.write_text("\n".join(",".join(f"{v:.6f}" for v in row) for row in calibration_rows(4)) + "\n")
    args = [
        "model",
        "register",
        str(model),
        "--uri",
        model.as_uri(),
        "--price",
        str(PRICE),
        "--zk",
        "--calibration-csv",
        str(calibration),
        "--zk-dir",
        str(tmp_path / "zk"),
        "--json",
    ]
    registered = ok_json(shell.run(*args, key=shell.owner_key))
    assert Path(str(registered["artifacts"])).is_dir()
    shown = ok_json(shell.run("model", "show", str(registered["modelId"]), "--json"))
    spec = shown["spec"]
    assert isinstance(spec, dict)
    assert spec["verifier"] == registered["verifier"]
    assert "zk" in [str(m).lower() for m in spec["modes"]]
    assert spec["scale"] == 1024
    provenance = shown["provenance"]
    assert isinstance(provenance, dict)
    assert provenance["verifierCodeHash"] != "0x" + "00" * 32  # the verifier's code, pinned
    vk = (Path(str(registered["artifacts"])) / "vk.key").read_bytes()
    assert provenance["vkHash"] == "0x" + Web3.keccak(vk).hex().removeprefix("0x")


def test_reclaim_withdraw_and_deprecate(shell: Shell, tmp_path: Path, anvil: Anvil) -> None:
    """An expired request's fee comes back through `verinfer reclaim --withdraw` (refused, named, before its
    deadline); a publisher deprecates its model with `verinfer model deprecate`, nobody else can, and the hub then
    refuses new requests for it."""
    import onnx

    from tests.node.support import gemm_softmax

    path = tmp_path / "cli-lifecycle.onnx"
    onnx.save_model(gemm_softmax(seed=11), path)
    args = ["model", "register", str(path), "--uri", path.as_uri(), "--price", str(PRICE), "--json"]
    model_id = str(ok_json(shell.run(*args, key=shell.owner_key))["modelId"])
    shell.node.register_node(b"\x22" * 32, [bytes.fromhex(model_id[2:])], NODE_STAKE)
    next_second(shell.node.sender.w3)
    user = anvil.accounts[USER].private_key
    features = json.dumps([[0.1, 0.2, 0.3, 0.4]])
    requested = ok_json(shell.run("request", model_id, "--input", features, "--deadline", "60", "--json", key=user))
    request_id = str(requested["requestId"])

    early = shell.run("reclaim", request_id, key=user)
    assert early.exit_code == 1
    assert "has not passed" in early.output, early.output
    w3 = shell.node.sender.w3
    (event,) = [e for e in shell.node.requested(shell.node.deployment.hub.block) if e.request_id == int(request_id)]
    w3.provider.make_request("evm_increaseTime", [event.deadline - int(w3.eth.get_block("latest")["timestamp"]) + 1])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    before = shell.node.sender.w3.eth.get_balance(Account.from_key(user).address)
    reclaimed = ok_json(shell.run("reclaim", request_id, "--withdraw", "--json", key=user))
    assert reclaimed["reclaimed"] == str(PRICE)
    assert int(str(reclaimed["withdrawn"])) >= PRICE
    assert shell.node.sender.w3.eth.get_balance(Account.from_key(user).address) > before  # minus two txs' gas
    again = shell.run("reclaim", request_id, key=user)
    assert again.exit_code == 1
    assert "REFUNDED" in again.output, again.output

    stranger = shell.run("model", "deprecate", model_id, key=user)
    assert stranger.exit_code == 1
    assert "NotModelPublisher" in stranger.output, stranger.output
    deprecated = shell.run("model", "deprecate", model_id, key=shell.owner_key)
    assert deprecated.exit_code == 0, deprecated.output
    assert ok_json(shell.run("model", "show", model_id, "--json"))["terms"]["deprecated"] is True  # type: ignore[index]
    refused = shell.run("request", model_id, "--input", features, key=user)
    assert refused.exit_code == 1
    assert "ModelIsDeprecated" in refused.output, refused.output


def test_register_with_a_card_and_add_a_mirror(shell: Shell, tmp_path: Path, anvil: Anvil) -> None:
    """`model register` writes the card the options ask for (a port's own scale, the committed outputs, labels,
    limits), `model show` prints it; `model add-mirror` checks the URI serves the file before adding it, and only
    the publisher (or the registry's owner) may add one."""
    import onnx

    from tests.node.unit.test_signature import mixed

    path = tmp_path / "cli-card.onnx"
    onnx.save_model(mixed(), path)
    args = ["model", "register", str(path), "--uri", path.as_uri(), "--price", str(PRICE), "--json", "--skip-checks"]
    card = ["--port-scale", "features=2^40", "--commit", "more", "--labels", "joined=a,b,c,d", "--memory-mb", "64"]
    model_id = str(ok_json(shell.run(*args, *card, key=shell.owner_key))["modelId"])
    spec = ok_json(shell.run("model", "show", model_id, "--json"))["spec"]
    assert isinstance(spec, dict)
    assert spec["outputShape"] == [1, 2]  # "more" only: "joined" is not committed
    assert spec["card"] == {
        "inputs": [
            {"dtype": "float32", "name": "features", "scale": str(2**40), "shape": [-1, 2]},
            {"dtype": "int64", "name": "counts", "shape": [-1, 2]},
        ],
        "limits": {"memory_mb": 64},
        "outputs": [
            {"commit": False, "dtype": "float32", "labels": ["a", "b", "c", "d"], "name": "joined", "shape": [-1, 4]},
            {"dtype": "bool", "name": "more", "shape": [-1, 2]},
        ],
        "v": 1,
    }
    bad = shell.run(*args, "--port-scale", "counts=10", key=shell.owner_key)
    assert bad.exit_code == 1
    assert "travels exactly, so it takes no scale" in bad.output, bad.output
    unlabelable = shell.run(*args, "--labels", "more=small,large", key=shell.owner_key)
    assert unlabelable.exit_code == 1
    assert "one value per row, it has 2" in unlabelable.output, unlabelable.output

    wrong = tmp_path / "other.onnx"
    wrong.write_bytes(path.read_bytes() + b"\x00")
    refused = shell.run("model", "add-mirror", model_id, wrong.as_uri(), key=shell.owner_key)
    assert refused.exit_code == 1
    assert "does not serve model" in refused.output, refused.output
    stranger = shell.run("model", "add-mirror", model_id, path.as_uri(), key=anvil.accounts[USER].private_key)
    assert stranger.exit_code == 1
    assert "NotMirrorAdmin" in stranger.output, stranger.output
    added = shell.run("model", "add-mirror", model_id, path.as_uri(), key=shell.owner_key)
    assert added.exit_code == 0, added.output
    assert ok_json(shell.run("model", "show", model_id, "--json"))["provenance"]["mirrors"] == [path.as_uri()]  # type: ignore[index]
