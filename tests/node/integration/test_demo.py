"""The README's first command runs this story: devnet up with two real nodes, both applicants served and decided,
a CONSENSUS request served by both nodes, every result verified by re-execution."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from verinfer.demo import story
from verinfer.types import Mode

pytestmark = pytest.mark.integration


def test_demo_story_serves_decides_and_verifies(forge_build: object) -> None:
    printed = io.StringIO()
    outcomes = story.run(Console(file=printed, width=160))

    lending, consensus = outcomes[:2], outcomes[2]
    assert [o.decision for o in lending] == ["approved", "refused (risk)"]
    assert lending[0].score < story.THRESHOLD / story.SCALE <= lending[1].score
    assert all(o.mode == Mode.SINGLE and len(o.nodes) == 1 for o in lending)
    assert consensus.mode == Mode.CONSENSUS
    assert len(set(consensus.nodes)) == 2
    assert all(o.verified for o in outcomes)
    text = printed.getvalue()
    assert "Requests served on the devnet" in text
    assert text.count("✓") == 3
