"""The demo language model, built by its script in the test's tmp dir (seconds: only its MLP head is trained)."""

from __future__ import annotations

from pathlib import Path

import pytest

from verinfer.demo.text_model import corpus, train, write_bundle
from verinfer.text.bundle import load_bundle
from verinfer.text.generate import Generator, load_generator

ANSWERS = {
    "Beautiful is": " better than ugly.",
    "Errors should": " never pass silently.",
    "Namespaces are": " one honking great idea -- let's do more of those!",
    "Q: What does a node commit? A:": " the token ids and the text.",
    "Q: How is an answer checked? A:": " by regenerating it token by token.",
}


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("text-model")
    write_bundle(out, train())
    return out


def test_corpus_is_shipped_text() -> None:
    lines = corpus()
    assert "Beautiful is better than ugly." in lines  # the Zen of Python, from the standard library's `this`
    assert len(lines) > 20


def test_demo_model_answers_prompts(bundle_dir: Path) -> None:
    generator = load_generator(load_bundle(bundle_dir))
    assert generator.uses_cache
    for prompt, expected in ANSWERS.items():
        answer = generator.generate(prompt)
        assert (answer.text, answer.finish) == (expected, "stop"), prompt
        assert answer.token_ids[-1] == 10  # the newline stop token, committed with the ids


def test_demo_model_regenerates_identically(bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir)
    first = load_generator(bundle)
    other = load_generator(bundle, intra_op_threads=2, graph_optimization_level="disabled")
    assert isinstance(other, Generator)
    for prompt in ANSWERS:
        assert other.generate(prompt).token_ids == first.generate(prompt).token_ids
