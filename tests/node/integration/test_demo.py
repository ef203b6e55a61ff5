"""The README's first command runs this story: devnet up with three real nodes (watchtowers), both applicants served
and decided, a CONSENSUS request served by the nodes, a ZK request proven and checked on chain, every result
verified; then a lying node's answer is challenged, overturned and slashed, and the pool decides on the committee's;
last, an agent's question is answered by the language model in CONSENSUS and a proposal classified, both verified."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from rich.console import Console

from verinfer.demo import story
from verinfer.demo.models import build_credit_zk_model
from verinfer.devnet import MODEL_PRICE
from verinfer.inference.runner import OnnxRunner
from verinfer.types import DisputeState, HubParams, Mode, Status

pytestmark = pytest.mark.integration


def test_demo_story_serves_decides_and_verifies(forge_build: object, tmp_path: Path) -> None:
    printed = io.StringIO()
    outcomes = story.run(Console(file=printed, width=160))

    lending, consensus, zk = outcomes[:2], outcomes[2], outcomes[3]
    assert [o.decision for o in lending] == ["approved", "refused (risk)"]
    assert lending[0].score < story.THRESHOLD / story.SCALE <= lending[1].score
    assert all(o.mode == Mode.SINGLE and len(o.nodes) == 1 for o in lending)
    assert consensus.mode == Mode.CONSENSUS
    # Seats go by lottery and a node may hold several: one to three distinct agreeing nodes, all of the devnet's.
    assert 1 <= len(set(consensus.nodes)) <= 3
    assert zk.mode == Mode.ZK
    assert len(zk.nodes) == 1
    # The proven fixed-point logit (scale 2^10) agrees with a float run of the same graph on the same applicant.
    zk_model = build_credit_zk_model(tmp_path)
    logit = float(OnnxRunner(zk_model.path).run_batch(zk_model.samples[1:2])[0, 0])
    assert zk.score == pytest.approx(1 / (1 + math.exp(-logit)), abs=0.01)
    assert all(o.verified for o in outcomes)
    text = printed.getvalue()
    assert "Requests served on the devnet" in text
    assert text.count("✓") == 6  # the four requests above and the two text requests below
    assert all(f"#/request/{o.request_id}" in text for o in outcomes)  # each request's explorer page

    # The lying node: its answer would have got bob the loan; a watchtower (not the liar) challenged it, the
    # committee's re-execution overturned it, the liar lost the slash, and the pool refused on the corrected score.
    lie = outcomes[4]
    caught = lie.caught
    assert caught is not None
    assert all(o.caught is None for o in outcomes[:4])
    assert caught.lie_score < story.THRESHOLD / story.SCALE
    assert not caught.lie_verified
    assert caught.liar not in caught.honest_nodes
    assert caught.challenger in caught.honest_nodes
    assert caught.committee
    assert not {caught.liar, caught.challenger} & set(caught.committee)
    assert (caught.dispute, caught.status) == (DisputeState.OVERTURNED, Status.OVERTURNED)
    slash = caught.stake_before * HubParams().slash_bps // 10_000
    assert caught.slashed == slash > 0
    assert caught.stake_after == caught.stake_before - slash
    assert caught.refund == MODEL_PRICE
    assert caught.slashed > caught.loan  # the lie cost more than the loan it went for
    assert lie.decision == "refused (risk)"
    assert lie.score == lending[1].score  # the committee's score is bob's honest one
    assert set(lie.nodes) <= set(caught.committee)
    assert "A lying node, caught" in text
    assert caught.liar in text

    # Text: the agent's question answered in CONSENSUS (every seat's holder revealed the same token ids) and
    # verified by regeneration; the proposal scored well below spam by the classifier, verified by re-running it.
    answer, proposal = outcomes[5], outcomes[6]
    assert (answer.mode, answer.question) == (Mode.CONSENSUS, story.AGENT_QUESTION)
    assert answer.decision == "by regenerating it token by token."
    assert 1 <= len(set(answer.nodes)) <= 3
    assert (proposal.mode, proposal.question, proposal.decision) == (Mode.SINGLE, story.PROPOSAL, "not spam")
    assert proposal.score < 0.1
    assert answer.verified
    assert proposal.verified
    assert "Text answered on the devnet" in text
    assert "✓ regenerated" in text
