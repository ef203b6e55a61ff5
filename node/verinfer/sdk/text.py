"""Text models in the SDK: the registry entry of a bundle or a string classifier, and verification by regeneration.

A language model's answer is verified by regenerating it from the prompt on the chain with the pinned settings and
comparing token by token: the report names the first position where the ids differ, and whether the regeneration's
top-1 margin there is a near-tie (docs/text.md: the CONSENSUS rule does not slash a difference at a near-tie).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from web3 import Web3

from verinfer.errors import CodecError, ModelError
from verinfer.text import codec as text_codec
from verinfer.text.bundle import Bundle, fetch_bundle, load_bundle
from verinfer.types import (
    FORMAT_BUNDLE,
    FORMAT_VARIABLE_INPUT,
    FORMAT_VARIABLE_OUTPUT,
    MAX_MODEL_BYTES,
    ModelId,
    ModelSpec,
)

if TYPE_CHECKING:
    from verinfer.sdk.client import Client, InferenceResult

FETCH_TIMEOUT = 30.0
FFFD_BYTES = 3  # an incomplete UTF-8 sequence decodes to U+FFFD, three bytes


@dataclass(frozen=True)
class TextRegeneration:
    """A language model's recorded answer against its regeneration."""

    recorded_ids: tuple[int, ...]
    regenerated_ids: tuple[int, ...]
    regenerated_text: str
    first_difference: int | None
    """The first position (0 = the first generated token) where the ids differ; None when they are equal."""
    near_tie_at_difference: bool
    """The regeneration's margin at the first difference is below the bundle's near-tie margin."""
    min_margin: float


def longest_token_bytes(bundle: Bundle) -> int:
    """The most UTF-8 bytes one token of the bundle's tokenizer decodes to (bytes: U+FFFD's three)."""
    from verinfer.text.generate import config_from_bundle
    from verinfer.text.tokenizer import JsonTokenizer

    config = config_from_bundle(bundle)
    if config.tokenizer is None:
        return FFFD_BYTES
    tokenizer = JsonTokenizer(bundle.read(config.tokenizer))
    vocab = tokenizer.vocab_size
    return max(FFFD_BYTES, *(len(tokenizer.decode([i]).encode()) for i in range(vocab)))


def text_spec(
    path: Path | str,
    uri: str,
    price: int,
    modes: int,
    *,
    max_input_bytes: int,
    scale: int,
    envs: Sequence[bytes] = (),
) -> tuple[ModelId, ModelSpec]:
    """The id and registry entry of a text model at `path`: a bundle directory (a language model) or a single ONNX
    file with one string input (a classifier)."""
    path = Path(path)
    if path.is_dir():
        from verinfer.text.generate import config_from_bundle

        bundle = load_bundle(path)
        config = config_from_bundle(bundle)
        bound = text_codec.answer_bound(config.max_new_tokens, longest_token_bytes(bundle))
        spec = ModelSpec(
            uri=uri,
            input_shape=(text_codec.PROMPT_HEADER + max_input_bytes,),
            output_shape=(bound,),
            scale=scale,
            price=price,
            modes=modes,
            allowed_environments=tuple(envs),
            format=FORMAT_VARIABLE_INPUT | FORMAT_VARIABLE_OUTPUT | FORMAT_BUNDLE,
        )
        return ModelId(bundle.bundle_id), spec
    from verinfer.text.serve import string_classifier

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read the model file {path}: {exc}") from exc
    model_id = ModelId(bytes(Web3.keccak(data)))
    probe = ModelSpec(uri, (max_input_bytes,), (1,), scale, price, modes, format=FORMAT_VARIABLE_INPUT)
    classifier = string_classifier(model_id, probe, data)
    outputs = classifier.session.run(None, {classifier.input_name: [""]})
    elements = sum(int(out.size) for out in outputs)
    spec = ModelSpec(
        uri=uri,
        input_shape=(max_input_bytes,),
        output_shape=(1, elements),
        scale=scale,
        price=price,
        modes=modes,
        allowed_environments=tuple(envs),
        format=FORMAT_VARIABLE_INPUT,
    )
    return model_id, spec


def recompute(
    client: Client,
    model_id: bytes,
    spec: ModelSpec,
    input_bytes: bytes,
    result: InferenceResult,
    model_path: Path | str | None,
    max_model_bytes: int = MAX_MODEL_BYTES,
) -> tuple[bytes, TextRegeneration | None]:
    """The output re-execution gives for a text request, and for a language model how it compares with the
    recorded ids. The model comes from `model_path` (a bundle directory or the classifier's file, checked against
    the id) or from its registered URI, hash-checked, into the client's cache."""
    from verinfer.inference.model_store import ModelStore
    from verinfer.text.generate import regenerate
    from verinfer.text.serve import generator_of, string_classifier
    from verinfer.text.settings import DEFAULT_LEVEL, DEFAULT_THREADS

    store = ModelStore(
        client.cache_dir,
        max_bytes=max_model_bytes,
        timeout=FETCH_TIMEOUT,
        limit_name="max_model_bytes (verinfer verify --max-model-bytes)",
    )
    if not spec.is_bundle:
        path = Path(model_path) if model_path is not None else store.fetch(bytes(model_id), spec.uri)
        data = path.read_bytes()
        if bytes(Web3.keccak(data)) != bytes(model_id):
            raise ModelError(f"{path} is not model 0x{bytes(model_id).hex()}: its keccak256 differs")
        try:
            return string_classifier(bytes(model_id), spec, data).classify(input_bytes), None
        except CodecError as exc:
            raise ModelError(f"the request's input cannot be classified: {exc}") from exc
    if model_path is not None:
        bundle = load_bundle(model_path, bytes(model_id))
    else:
        bundle = fetch_bundle(store, bytes(model_id), spec.uri)
    generator = generator_of(bundle, DEFAULT_THREADS, DEFAULT_LEVEL)
    try:
        prompt, wanted = text_codec.decode_prompt(input_bytes)
    except CodecError as exc:
        raise ModelError(f"the request's prompt cannot be decoded: {exc}") from exc
    recorded = result.token_ids or ()
    again = regenerate(generator, prompt, recorded, wanted or generator.config.max_new_tokens)
    generation = again.regenerated
    output = text_codec.encode_answer(generation.token_ids, generation.text)
    return output, TextRegeneration(
        recorded_ids=tuple(recorded),
        regenerated_ids=generation.token_ids,
        regenerated_text=generation.text,
        first_difference=again.first_difference,
        near_tie_at_difference=again.near_tie_at_difference,
        min_margin=generation.min_margin,
    )
