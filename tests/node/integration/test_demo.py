"""The README's first command runs this story: it must serve both applicants, decide both loans and verify both."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from verinfer.demo import story

pytestmark = pytest.mark.integration


def test_demo_story_serves_decides_and_verifies(forge_build: object) -> None:
    printed = io.StringIO()
    outcomes = story.run(Console(file=printed, width=120))

    assert [o.decision for o in outcomes] == ["approved", "refused (risk)"]
    assert outcomes[0].score < story.THRESHOLD / story.SCALE <= outcomes[1].score
    assert all(o.verified for o in outcomes)
    text = printed.getvalue()
    assert "Requests served on the devnet" in text
    assert text.count("✓") == 2
