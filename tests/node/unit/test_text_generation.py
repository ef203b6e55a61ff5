"""Greedy generation on ONNX decoders: identical token ids across threads and the allowed optimisation levels, the
KV cache agreeing with full recomputation, near-ties flagged, tokenizer.json and genai_config.json bundles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from verinfer.errors import ConfigError, ModelError
from verinfer.text.bundle import load_bundle, write_manifest
from verinfer.text.generate import GenerationConfig, Generator, load_generator
from verinfer.text.graph import build_decoder, head_logits, random_weights, residual
from verinfer.text.settings import ALLOWED_LEVELS

WORDS = ("the", "hub", "commits", "token", "ids", "and", "text")
PROMPTS = [f"prompt {i}: {'abcdefghij'[i % 10] * (i % 5 + 1)} {i * 7919 % 1000}" for i in range(50)]
CONFIG = GenerationConfig(max_new_tokens=12, context_length=64)


@pytest.fixture(scope="module")
def decoder() -> bytes:
    data: bytes = build_decoder(random_weights(seed=1)).SerializeToString()
    return data


def test_generation_deterministic_matrix(decoder: bytes) -> None:
    runs = {
        (threads, level): [
            Generator(decoder, CONFIG, intra_op_threads=threads, graph_optimization_level=level).generate(p)
            for p in PROMPTS
        ]
        for threads in (1, 2, 4)
        for level in ALLOWED_LEVELS
    }
    reference = runs[(1, "basic")]
    assert all(len(g.token_ids) == 12 for g in reference)  # no stop token configured: every answer runs to length
    for setting, answers in runs.items():
        assert [g.token_ids for g in answers] == [g.token_ids for g in reference], setting
        assert [g.text for g in answers] == [g.text for g in reference], setting
        # Stronger than the token ids: at the allowed levels the logits' bits agree, so the margins do too.
        assert [g.margins for g in answers] == [g.margins for g in reference], setting


def test_disallowed_level_is_refused(decoder: bytes) -> None:
    with pytest.raises(ConfigError, match="'all' is not allowed for text generation"):
        Generator(decoder, CONFIG, graph_optimization_level="all")


def test_kv_cache_agrees_with_recomputation_and_numpy() -> None:
    weights = random_weights(seed=2)
    cached = Generator(build_decoder(weights).SerializeToString(), CONFIG)
    plain = Generator(build_decoder(weights, use_cache=False).SerializeToString(), CONFIG)
    assert cached.uses_cache
    assert not plain.uses_cache
    for prompt in PROMPTS[:10]:
        a, b = cached.generate(prompt), plain.generate(prompt)
        assert a.token_ids == b.token_ids
        ids = np.asarray([*a.prompt_ids, *a.token_ids[:-1]], np.int64)
        expected = head_logits(weights, residual(weights, ids))[len(a.prompt_ids) - 1 :].argmax(axis=-1)
        assert tuple(int(t) for t in expected) == a.token_ids


def test_stop_token_and_max_new_tokens(decoder: bytes) -> None:
    first = Generator(decoder, CONFIG).generate(PROMPTS[0])
    stop = first.token_ids[3]
    answer = Generator(decoder, GenerationConfig(max_new_tokens=12, stop_token_ids=(stop,))).generate(PROMPTS[0])
    cut = first.token_ids.index(stop) + 1
    assert answer.token_ids == first.token_ids[:cut]
    assert answer.finish == "stop"
    assert answer.text == bytes(first.token_ids[: cut - 1]).decode(errors="replace")
    short = Generator(decoder, CONFIG).generate(PROMPTS[0], max_new_tokens=2)
    assert (short.token_ids, short.finish) == (first.token_ids[:2], "length")
    with pytest.raises(ModelError, match=r"max_new_tokens is 1\.\.12"):
        Generator(decoder, CONFIG).generate(PROMPTS[0], max_new_tokens=13)
    with pytest.raises(ModelError, match="context is 64"):
        Generator(decoder, CONFIG).generate("x" * 64)


def test_near_tie_is_flagged() -> None:
    weights = random_weights(seed=3)
    # Tokens 65 and 66 get the same large logit, 66 "ahead" by 1e-5 (below float32 resolution at that size, so the
    # tie is exact and argmax takes the lower id): every step is a near-tie between them.
    weights.w2[:, 65] = weights.w2[:, 66] = 10.0
    weights.b2[65], weights.b2[66] = 0.0, 1e-5
    tied = Generator(build_decoder(weights).SerializeToString(), CONFIG).generate("near tie", max_new_tokens=4)
    assert set(tied.token_ids) <= {65, 66}
    assert tied.min_margin < 1e-3
    assert tied.near_tie
    clear = random_weights(seed=3)
    clear.w2[:, 66] = 10.0
    clear.w2[:, 65] = 9.0
    answer = Generator(build_decoder(clear).SerializeToString(), CONFIG).generate("near tie", max_new_tokens=4)
    assert set(answer.token_ids) == {66}
    assert answer.min_margin > 1.0
    assert not answer.near_tie


def _word_tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers  # the text extra

    vocab = {"[UNK]": 0, "\n": 1, **{w: i + 2 for i, w in enumerate(WORDS)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(path))


def test_bundle_with_tokenizer_json(tmp_path: Path) -> None:
    weights = random_weights(seed=4, vocab=9)
    onnx.save(build_decoder(weights), tmp_path / "decoder.onnx")
    _word_tokenizer(tmp_path / "tokenizer.json")
    config = {"tokenizer": "tokenizer.json", "stop_token_ids": [1], "max_new_tokens": 8, "context_length": 64}
    (tmp_path / "verinfer-text.json").write_text(json.dumps(config))
    generator = load_generator(load_bundle(tmp_path, write_manifest(tmp_path)))
    answer = generator.generate("the hub commits")
    assert answer.prompt_ids == (2, 3, 4)
    assert all(0 <= t < 9 for t in answer.token_ids)
    assert answer.text == generator.tokenizer.decode(
        list(answer.token_ids[:-1] if answer.finish == "stop" else answer.token_ids)
    )


def test_genai_config_bundle(tmp_path: Path) -> None:
    """onnxruntime-genai's layout: genai_config.json beside model.onnx with its default tensor names."""
    weights = random_weights(seed=5)
    onnx.save(build_decoder(weights), tmp_path / "model.onnx")
    genai: dict[str, Any] = {
        "model": {
            "type": "decoder",
            "context_length": 64,
            "eos_token_id": 10,
            "decoder": {
                "filename": "model.onnx",
                "num_hidden_layers": 2,
                "inputs": {
                    "input_ids": "input_ids",
                    "past_key_names": "past_key_values.%d.key",
                    "past_value_names": "past_key_values.%d.value",
                },
                "outputs": {
                    "logits": "logits",
                    "present_key_names": "present.%d.key",
                    "present_value_names": "present.%d.value",
                },
            },
        },
        "search": {"do_sample": False, "num_beams": 1, "max_length": 16},
    }
    (tmp_path / "genai_config.json").write_text(json.dumps(genai))
    generator = load_generator(load_bundle(tmp_path, write_manifest(tmp_path)))
    assert generator.uses_cache
    assert generator.config.stop_token_ids == (10,)
    reference = Generator(build_decoder(weights).SerializeToString(), GenerationConfig(max_new_tokens=16))
    assert generator.generate("genai").token_ids[:5] == reference.generate("genai").token_ids[:5]
    genai["search"]["do_sample"] = True
    (tmp_path / "genai_config.json").write_text(json.dumps(genai))
    with pytest.raises(ModelError, match="greedily only"):
        load_generator(load_bundle(tmp_path, write_manifest(tmp_path)))
