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
from verinfer.text.generate import GenerationConfig, Generator, load_generator, regenerate
from verinfer.text.graph import DecoderWeights, build_decoder, head_logits, random_weights, residual
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


def _genai_bundle(root: Path, weights: DecoderWeights) -> dict[str, Any]:
    """onnxruntime-genai's layout: model.onnx + genai_config.json + a byte-per-token tokenizer.json."""
    from tokenizers import Tokenizer, models, pre_tokenizers  # the text extra

    onnx.save(build_decoder(weights), root / "model.onnx")
    vocab = {chr(i) if 33 <= i < 127 else f"<0x{i:02X}>": i for i in range(256)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<0x00>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tokenizer.save(str(root / "tokenizer.json"))
    (root / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast"}))
    layer = weights.layers[0]
    genai: dict[str, Any] = {
        "model": {
            "type": "llama",
            "bos_token_id": 1,
            "pad_token_id": 0,
            "eos_token_id": 10,
            "vocab_size": weights.vocab,
            "context_length": weights.context,
            "decoder": {
                "filename": "model.onnx",
                "hidden_size": weights.tok_emb.shape[1],
                "head_size": layer.wq.shape[1] // layer.heads,
                "num_attention_heads": layer.heads,
                "num_key_value_heads": layer.heads,
                "num_hidden_layers": len(weights.layers),
                "session_options": {"provider_options": [], "intra_op_num_threads": 1},
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
        "search": {"do_sample": False, "num_beams": 1, "max_length": 20, "past_present_share_buffer": False},
    }
    (root / "genai_config.json").write_text(json.dumps(genai))
    return genai


def test_genai_config_bundle(tmp_path: Path) -> None:
    """The genai layout loads as a bundle, and onnxruntime-genai's own greedy search gives the same token ids."""
    weights = random_weights(seed=5)
    genai = _genai_bundle(tmp_path, weights)
    generator = load_generator(load_bundle(tmp_path, write_manifest(tmp_path)))
    assert generator.uses_cache
    assert generator.config.stop_token_ids == (10,)
    assert generator.config.tokenizer == "tokenizer.json"
    prompt = "prompt"
    ours = generator.generate(prompt, max_new_tokens=14)
    assert ours.prompt_ids == tuple(prompt.encode())

    og = pytest.importorskip("onnxruntime_genai")
    model = og.Model(str(tmp_path))
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(prompt) + 14, do_sample=False)
    theirs = og.Generator(model, params)
    theirs.append_tokens([list(ours.prompt_ids)])
    tokens: list[int] = []
    while not theirs.is_done():
        theirs.generate_next_token()
        tokens.append(int(theirs.get_next_tokens()[0]))
    cut = tokens.index(10) + 1 if 10 in tokens else len(tokens)
    assert tuple(tokens[:cut]) == ours.token_ids

    genai["search"]["do_sample"] = True
    (tmp_path / "genai_config.json").write_text(json.dumps(genai))
    with pytest.raises(ModelError, match="greedily only"):
        load_generator(load_bundle(tmp_path, write_manifest(tmp_path)))


def test_regeneration_names_the_first_differing_position(decoder: bytes) -> None:
    generator = Generator(decoder, CONFIG)
    answer = generator.generate(PROMPTS[7])
    same = regenerate(generator, PROMPTS[7], answer.token_ids, 12)
    assert (same.matches, same.first_difference) == (True, None)
    forged = list(answer.token_ids)
    forged[5] = (forged[5] + 1) % 256
    checked = regenerate(generator, PROMPTS[7], forged, 12)
    assert (checked.matches, checked.first_difference) == (False, 5)
    assert checked.near_tie_at_difference == (answer.margins[5] < CONFIG.near_tie_margin)
    assert regenerate(generator, PROMPTS[7], answer.token_ids[:4], 12).first_difference == 4
