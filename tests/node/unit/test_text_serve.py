"""The text models as the node runs them (verinfer.text.serve): answers as committed bytes, the near-tie rule, the
string classifier, and bundles fetched over http by their manifest with every file checked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from verinfer.inference.model_store import ModelStore
from verinfer.text.bundle import BundleFileMismatchError, BundleIdMismatchError, fetch_bundle, write_manifest
from verinfer.text.codec import decode_answer, decode_prompt, encode_prompt
from verinfer.text.generate import GenerationConfig, Generator
from verinfer.text.graph import build_decoder, random_weights
from verinfer.text.serve import NearTieError, TextGenerator
from verinfer.types import FORMAT_BUNDLE, FORMAT_VARIABLE_INPUT, FORMAT_VARIABLE_OUTPUT, LENGTH_UP_TO, ModelSpec

CONFIG = GenerationConfig(max_new_tokens=6)
SPEC = ModelSpec(
    "http://bundles.test/lm/",
    (258,),
    (4 + 6 * 7,),
    1,
    0,
    3,
    format=FORMAT_VARIABLE_INPUT | FORMAT_VARIABLE_OUTPUT | FORMAT_BUNDLE,
)


def _generator(config: GenerationConfig = CONFIG) -> Generator:
    return Generator(build_decoder(random_weights(seed=1)).SerializeToString(), config)


def test_answers_are_the_committed_bytes_and_near_ties_are_not_posted() -> None:
    served = TextGenerator(bytes(32), SPEC, _generator())
    (output,) = served.compute([encode_prompt("hello", 3)])
    assert isinstance(output, bytes)
    expected = _generator().generate("hello", 3)
    assert decode_answer(output).token_ids == expected.token_ids
    assert decode_answer(output).text == expected.text

    # Every margin is below a margin of 1e9: each answer is a near-tie, named, and not posted unless told to.
    tied = TextGenerator(bytes(32), SPEC, _generator(replace(CONFIG, near_tie_margin=1e9)))
    (refused,) = tied.compute([encode_prompt("hello", 3)])
    assert isinstance(refused, NearTieError)
    assert "near-tie at token" in str(refused)
    tied.abstain_on_near_tie = False
    assert tied.compute([encode_prompt("hello", 3)]) == [output]


def test_malformed_prompts_and_oversized_answers_fail_named() -> None:
    served = TextGenerator(bytes(32), replace(SPEC, output_shape=(8,)), _generator())
    short, bad_utf8, too_long = served.compute([b"\x00", b"\x00\x03\xff", encode_prompt("hello", 3)])
    assert "malformed prompt" in str(short)
    assert "not UTF-8" in str(bad_utf8)
    assert "registered with at most 8" in str(too_long)
    assert decode_prompt(encode_prompt("héllo", 7)) == ("héllo", 7)
    assert LENGTH_UP_TO == 1 << 31


def _served(bundle: Path) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        path = bundle / request.url.path.removeprefix("/lm/")
        return httpx.Response(200, content=path.read_bytes()) if path.is_file() else httpx.Response(404)

    return httpx.MockTransport(answer)


def test_bundle_is_fetched_over_http_by_its_manifest(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "sub").mkdir(parents=True)
    (bundle / "decoder.onnx").write_bytes(b"graph bytes")
    (bundle / "sub" / "tokenizer.json").write_text("{}")
    bundle_id = write_manifest(bundle)
    store = ModelStore(tmp_path / "cache", max_bytes=1 << 20, timeout=5, transport=_served(bundle))
    fetched = fetch_bundle(store, bundle_id, "http://bundles.test/lm/")
    assert fetched.read("sub/tokenizer.json") == b"{}"
    assert fetched.root == store.bundle_dir(bundle_id)

    # Another id than the manifest's, and a file the host changed after the manifest: refused, nothing cached.
    with pytest.raises(BundleIdMismatchError):
        fetch_bundle(store, bytes(32), "http://bundles.test/lm/")
    (bundle / "decoder.onnx").write_bytes(b"graph byteZ")
    other = ModelStore(tmp_path / "cache2", max_bytes=1 << 20, timeout=5, transport=_served(bundle))
    with pytest.raises(BundleFileMismatchError, match=r"decoder\.onnx"):
        fetch_bundle(other, bundle_id, "http://bundles.test/lm")
    assert not other.bundle_dir(bundle_id).exists()
