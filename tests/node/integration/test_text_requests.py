"""Text models end to end on a real anvil: the demo language model, a bundle served over http, answers prompts in
SINGLE and CONSENSUS through three running nodes, and every answer verifies by regeneration; the demo text
classifier (one ONNX file with a string input) scores governance proposals. The world is built once per module."""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import pytest
from typer.testing import CliRunner

from tests.node.integration.nodeworld import PRICE, SCALE, USER, NodeWorld, node_world, running
from verinfer.chain.deploy import ENV_DEPLOYMENTS, save_deployment
from verinfer.cli import app
from verinfer.demo import text_classifier, text_model
from verinfer.node.service import NodeService
from verinfer.text.bundle import BundleFileMismatchError
from verinfer.text.codec import decode_answer
from verinfer.types import FORMAT_BUNDLE, FORMAT_VARIABLE_INPUT, FORMAT_VARIABLE_OUTPUT, Mode, Status

pytestmark = pytest.mark.integration

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")
SPAM = "free airdrop click here to claim your tokens now"
PROPOSAL = "increase the reserve factor of the usdc market to ten percent"


@dataclass
class TextWorld:
    world: NodeWorld
    lm_id: bytes
    classifier_id: bytes
    bundle_dir: Path


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def text_world(tmp_path_factory: pytest.TempPathFactory, forge_build: Path) -> Iterator[TextWorld]:
    work = tmp_path_factory.mktemp("text")
    served = work / "served"
    bundle_dir = served / "zen"
    text_model.write_bundle(bundle_dir, text_model.train())
    classifier_path = served / "spam.onnx"
    onnx.save(text_classifier.build_graph(text_classifier.train()), classifier_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, name="bundle-http", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with node_world(work) as world, ExitStack() as stack:
            modes = [Mode.SINGLE, Mode.CONSENSUS]
            lm_id = world.client.register_text_model(bundle_dir, f"{base}/zen/", PRICE, modes, max_input_bytes=256)
            classifier_id = world.client.register_text_model(
                classifier_path, f"{base}/spam.onnx", PRICE, modes, max_input_bytes=512, scale=SCALE
            )
            for i in range(3):
                stack.enter_context(running(NodeService(world.config(i))))
            yield TextWorld(world, lm_id, classifier_id, bundle_dir)
    finally:
        server.shutdown()
        server.server_close()


def test_text_request_end_to_end(text_world: TextWorld, tmp_path: Path) -> None:
    world, client = text_world.world, text_world.world.client
    spec = client.model(text_world.lm_id)
    assert spec.format == FORMAT_VARIABLE_INPUT | FORMAT_VARIABLE_OUTPUT | FORMAT_BUNDLE
    assert spec.uri.startswith("http://")

    single = client.generate(text_world.lm_id, "Beautiful is")
    answer = single.result(timeout=90)
    assert answer.mode == Mode.SINGLE
    assert answer.text == " better than ugly."
    assert answer.token_ids is not None
    assert answer.token_ids[-1] == text_model.NEWLINE
    assert decode_answer(answer.output_bytes).text == answer.text
    report = client.verify(single.request_id)
    assert report.matches, report.checks
    assert report.regeneration is not None
    assert report.regeneration.first_difference is None

    consensus = client.generate(text_world.lm_id, "Q: How is an answer checked? A:", Mode.CONSENSUS, 3)
    agreed = consensus.result(timeout=120)
    assert agreed.mode == Mode.CONSENSUS
    assert agreed.text == " by regenerating it token by token."
    # Every seat agreed on the token ids (a node may hold several of the k = 3 seats): nobody slashed.
    (reached,) = [e for e in world.hub_events("ConsensusReached") if e.args["requestId"] == consensus.request_id]
    assert reached.args["agreeing"] == len(agreed.nodes) >= 2
    seats = sum(
        bin(e.args["seats"]).count("1")
        for e in world.hub_events("ResultCommitted")
        if e.args["requestId"] == consensus.request_id
    )
    assert seats == 3
    assert world.hub_events("VoteSlashed") == []
    report = client.verify(consensus.request_id)
    assert report.matches, report.checks

    # A bound below the answer: exactly that many tokens, the same prefix, and it still verifies.
    short = client.generate(text_world.lm_id, "Errors should", max_new_tokens=6).result(timeout=90)
    assert short.text == " never"
    assert short.token_ids is not None
    assert len(short.token_ids) == 6
    assert client.verify(short.request_id).matches

    # Verification regenerates: a copy of the bundle changed in one file is refused by its hash before it is run.
    changed = shutil.copytree(text_world.bundle_dir, tmp_path / "changed")
    (changed / "verinfer-text.json").write_text('{"max_new_tokens": 2}\n')
    with pytest.raises(BundleFileMismatchError, match=r"verinfer-text\.json"):
        client.verify(single.request_id, model_path=changed)


def test_text_classifier_end_to_end(text_world: TextWorld) -> None:
    world, client = text_world.world, text_world.world.client
    assert client.model(text_world.classifier_id).format == FORMAT_VARIABLE_INPUT
    spam = client.classify(text_world.classifier_id, SPAM)
    proposal = client.classify(text_world.classifier_id, PROPOSAL, Mode.CONSENSUS, 3)
    spam_score = float(spam.result(timeout=90).output.reshape(-1)[0])
    proposal_score = float(proposal.result(timeout=120).output.reshape(-1)[0])
    assert spam_score > 0.5 > proposal_score, (spam_score, proposal_score)
    assert world.owner.status_of(proposal.request_id) == Status.FULFILLED
    for handle in (spam, proposal):
        report = client.verify(handle.request_id)
        assert report.matches, report.checks


def test_text_ask_cli(text_world: TextWorld, tmp_path: Path) -> None:
    """`verinfer ask --wait --json` prints the answer's text and ids; `verinfer verify --json` regenerates it."""
    world = text_world.world
    deployments = tmp_path / "deployments"
    save_deployment(world.owner.deployment, deployments / f"{world.owner.deployment.chain_id}.json")
    env = {
        ENV_DEPLOYMENTS: str(deployments),
        "VERINFER_RPC_URL": world.anvil.rpc_url,
        "VERINFER_PRIVATE_KEY": world.anvil.accounts[USER].private_key,
    }
    model = "0x" + text_world.lm_id.hex()
    asked = CliRunner().invoke(app, ["ask", model, "Namespaces are", "--wait", "--timeout", "90", "--json"], env=env)
    assert asked.exit_code == 0, asked.output
    result = _document(asked.stdout)["result"]
    assert result["text"] == " one honking great idea -- let's do more of those!"
    assert result["tokenIds"][-1] == text_model.NEWLINE
    verified = CliRunner().invoke(app, ["verify", str(result["requestId"]), "--json"], env=env)
    assert verified.exit_code == 0, verified.output
    assert _document(verified.stdout)["regeneration"]["firstDifference"] is None


def _document(stdout: str) -> Any:
    """The command's JSON, without the log lines the running nodes print to the same stdout."""
    return json.loads("\n".join(line for line in stdout.splitlines() if not LOG_LINE.match(line)))
