"""Deterministic greedy generation on an ONNX decoder graph.

Each step takes the argmax of the last logit row (the lowest id on an exact tie), feeding the graph's KV cache back
when it has `past_key_values.*` inputs and recomputing the whole sequence when it has none. It stops at a stop
token, at `max_new_tokens` or at the context length. The answer is the generated token ids (a stop token included)
plus their decoded text (the stop token left out); the smallest top-1 margin (top logit minus the runner-up) over
the steps is recorded, and an answer whose margin is below `near_tie_margin` is flagged: another machine's float
rounding could pick the other token there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from verinfer.errors import ModelError
from verinfer.inference.runner import _ORT_ERRORS
from verinfer.text.bundle import Bundle
from verinfer.text.settings import DEFAULT_LEVEL, DEFAULT_THREADS, make_session
from verinfer.text.tokenizer import ByteTokenizer, JsonTokenizer, Tokenizer

CONFIG_NAME = "verinfer-text.json"
GENAI_CONFIG_NAME = "genai_config.json"
DEFAULT_NEAR_TIE = 1e-3


@dataclass(frozen=True)
class GenerationConfig:
    decoder: str = "decoder.onnx"
    """The decoder graph's path inside the bundle."""
    tokenizer: str | None = None
    """tokenizer.json's path inside the bundle; None: byte-level tokens."""
    stop_token_ids: tuple[int, ...] = ()
    max_new_tokens: int = 32
    """The bound per request."""
    context_length: int = 0
    """Prompt plus answer, in tokens; 0: no bound besides the graph's own."""
    near_tie_margin: float = DEFAULT_NEAR_TIE
    past_key: str = "past_key_values.%d.key"
    past_value: str = "past_key_values.%d.value"
    present_key: str = "present.%d.key"
    present_value: str = "present.%d.value"


def _ints(value: Any) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in items):
        raise ModelError(f"token ids are non-negative integers, got {value!r}")
    return tuple(items)


def config_from_bundle(bundle: Bundle) -> GenerationConfig:
    """The bundle's verinfer-text.json, or the subset of an onnxruntime-genai genai_config.json that greedy decoding
    needs (docs/text.md lists the fields read)."""
    if bundle.has(CONFIG_NAME):
        raw = json.loads(bundle.read(CONFIG_NAME))
        known = set(GenerationConfig.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise ModelError(f"{CONFIG_NAME} has unknown fields {sorted(unknown)}; known: {sorted(known)}")
        if "stop_token_ids" in raw:
            raw["stop_token_ids"] = _ints(raw["stop_token_ids"])
        return GenerationConfig(**raw)
    if bundle.has(GENAI_CONFIG_NAME):
        return genai_config(json.loads(bundle.read(GENAI_CONFIG_NAME)), bundle)
    raise ModelError(f"the bundle has neither {CONFIG_NAME} nor {GENAI_CONFIG_NAME}: it says nothing about generation")


def genai_config(raw: dict[str, Any], bundle: Bundle) -> GenerationConfig:
    model = raw.get("model", {})
    decoder = model.get("decoder", {})
    search = raw.get("search", {})
    names_in = decoder.get("inputs", {})
    names_out = decoder.get("outputs", {})
    if search.get("do_sample") or search.get("num_beams", 1) != 1:
        raise ModelError("genai_config.json asks for sampling or beam search; verinfer decodes greedily only")
    if names_in.get("input_ids", "input_ids") != "input_ids" or names_out.get("logits", "logits") != "logits":
        raise ModelError("the decoder's token input must be named input_ids and its output logits")
    eos = model.get("eos_token_id", [])
    context = int(model.get("context_length", 0))
    max_length = int(search.get("max_length", context or 0))
    return GenerationConfig(
        decoder=str(decoder.get("filename", "model.onnx")),
        tokenizer="tokenizer.json" if bundle.has("tokenizer.json") else None,
        stop_token_ids=_ints(eos) if eos != [] else (),
        max_new_tokens=max(1, max_length) if max_length else 32,
        context_length=context,
        past_key=str(names_in.get("past_key_names", "past_key_values.%d.key")),
        past_value=str(names_in.get("past_value_names", "past_key_values.%d.value")),
        present_key=str(names_out.get("present_key_names", "present.%d.key")),
        present_value=str(names_out.get("present_value_names", "present.%d.value")),
    )


@dataclass(frozen=True)
class Generation:
    prompt_ids: tuple[int, ...]
    token_ids: tuple[int, ...]
    """What the model generated, a final stop token included."""
    text: str
    """The decoded answer (without the stop token)."""
    finish: Literal["stop", "length"]
    min_margin: float
    """The smallest top-1 logit margin over the steps."""
    near_tie: bool
    """min_margin < the bundle's near_tie_margin: regeneration elsewhere may legitimately differ here."""
    margins: tuple[float, ...] = field(repr=False, default=())


class Generator:
    """One decoder session with pinned settings (verinfer.text.settings)."""

    def __init__(
        self,
        model: bytes,
        config: GenerationConfig,
        tokenizer: Tokenizer | None = None,
        *,
        intra_op_threads: int = DEFAULT_THREADS,
        graph_optimization_level: str = DEFAULT_LEVEL,
    ) -> None:
        self.config = config
        self.tokenizer: Tokenizer = tokenizer or ByteTokenizer()
        try:
            self._session = make_session(model, intra_op_threads, graph_optimization_level)
        except _ORT_ERRORS as exc:
            raise ModelError(f"onnxruntime cannot load the decoder {config.decoder}: {exc}") from exc
        inputs = {i.name: i for i in self._session.get_inputs()}
        if "input_ids" not in inputs:
            raise ModelError(f"the decoder has no input_ids input (inputs: {sorted(inputs)})")
        self._outputs = [o.name for o in self._session.get_outputs()]
        if "logits" not in self._outputs:
            raise ModelError(f"the decoder has no logits output (outputs: {self._outputs})")
        self._mask = "attention_mask" in inputs
        self._positions = "position_ids" in inputs
        self._past: list[tuple[str, str, str, str]] = []
        self._empty: dict[str, npt.NDArray[np.float32]] = {}
        layer = 0
        while (key := config.past_key % layer) in inputs:
            names = (key, config.past_value % layer, config.present_key % layer, config.present_value % layer)
            if names[1] not in inputs or not set(names[2:]) <= set(self._outputs):
                raise ModelError(f"layer {layer}'s cache needs {names[1]} in and {names[2:]} out")
            for name in names[:2]:
                shape = inputs[name].shape
                if len(shape) != 4 or not isinstance(shape[1], int) or not isinstance(shape[3], int):
                    raise ModelError(f"{name} is [batch, heads, past, head_size] with static heads and size: {shape}")
                self._empty[name] = np.zeros((1, shape[1], 0, shape[3]), np.float32)
            self._past.append(names)
            layer += 1
        known = {"input_ids", "attention_mask", "position_ids"} | {n for p in self._past for n in p[:2]}
        if set(inputs) - known:
            raise ModelError(f"the decoder takes inputs verinfer does not feed: {sorted(set(inputs) - known)}")

    @property
    def uses_cache(self) -> bool:
        return bool(self._past)

    def _run(self, feeds: dict[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        try:
            values = self._session.run(None, feeds)
        except _ORT_ERRORS as exc:
            raise ModelError(f"onnxruntime failed on the decoder: {exc}") from exc
        return dict(zip(self._outputs, values, strict=True))

    def generate(self, prompt: str | list[int], max_new_tokens: int | None = None) -> Generation:
        prompt_ids = self.tokenizer.encode(prompt) if isinstance(prompt, str) else list(prompt)
        if not prompt_ids:
            raise ModelError("the prompt is empty: a decoder needs at least one token to continue")
        limit = self.config.max_new_tokens if max_new_tokens is None else max_new_tokens
        if not 1 <= limit <= self.config.max_new_tokens:
            raise ModelError(f"max_new_tokens is 1..{self.config.max_new_tokens} for this model, got {limit}")
        if self.config.context_length:
            room = self.config.context_length - len(prompt_ids)
            if room < 1:
                raise ModelError(
                    f"the prompt is {len(prompt_ids)} tokens; this model's context is {self.config.context_length}"
                )
            limit = min(limit, room)
        sequence = list(prompt_ids)
        cache: dict[str, npt.NDArray[Any]] = dict(self._empty)
        fresh = sequence
        generated: list[int] = []
        margins: list[float] = []
        finish: Literal["stop", "length"] = "length"
        for _ in range(limit):
            step = fresh if self._past else sequence
            done = len(sequence) - len(step)
            feeds: dict[str, npt.NDArray[Any]] = {"input_ids": np.asarray([step], np.int64), **cache}
            if self._mask:
                feeds["attention_mask"] = np.ones((1, len(sequence)), np.int64)
            if self._positions:
                feeds["position_ids"] = np.arange(done, len(sequence), dtype=np.int64)[None, :]
            out = self._run(feeds)
            row = np.asarray(out["logits"][0, -1], np.float32)
            top2 = np.partition(row, -2)[-2:]
            token = int(np.argmax(row))
            margins.append(float(top2[1] - top2[0]))
            for key, value, present_key, present_value in self._past:
                cache[key], cache[value] = out[present_key], out[present_value]
            generated.append(token)
            sequence.append(token)
            fresh = [token]
            if token in self.config.stop_token_ids:
                finish = "stop"
                break
        answer = generated[:-1] if finish == "stop" else generated
        min_margin = min(margins)
        return Generation(
            prompt_ids=tuple(prompt_ids),
            token_ids=tuple(generated),
            text=self.tokenizer.decode(answer),
            finish=finish,
            min_margin=min_margin,
            near_tie=min_margin < self.config.near_tie_margin,
            margins=tuple(margins),
        )


def load_generator(
    bundle: Bundle, *, intra_op_threads: int = DEFAULT_THREADS, graph_optimization_level: str = DEFAULT_LEVEL
) -> Generator:
    """A generator over a checked bundle: its config, decoder and tokenizer (bytes when it ships none)."""
    config = config_from_bundle(bundle)
    tokenizer: Tokenizer = JsonTokenizer(bundle.read(config.tokenizer)) if config.tokenizer else ByteTokenizer()
    return Generator(
        bundle.read(config.decoder),
        config,
        tokenizer,
        intra_op_threads=intra_op_threads,
        graph_optimization_level=graph_optimization_level,
    )


@dataclass(frozen=True)
class Regeneration:
    """A committed answer checked by regenerating it."""

    regenerated: Generation
    first_difference: int | None
    """The first position (0 = the first generated token) where the committed ids and the regenerated ids differ,
    a length difference included; None when they are equal."""
    near_tie_margin: float

    @property
    def matches(self) -> bool:
        return self.first_difference is None

    @property
    def near_tie_at_difference(self) -> bool:
        """The regeneration's margin at the first difference is below the bundle's near-tie margin: the proposed
        CONSENSUS rule (docs/text.md) does not slash there."""
        if self.first_difference is None or self.first_difference >= len(self.regenerated.margins):
            return False
        return self.regenerated.margins[self.first_difference] < self.near_tie_margin


def regenerate(
    generator: Generator, prompt: str | list[int], committed_ids: list[int] | tuple[int, ...], max_new_tokens: int
) -> Regeneration:
    """Regenerates an answer and compares it token by token with the committed ids."""
    again = generator.generate(prompt, max_new_tokens)
    committed = tuple(committed_ids)
    first = next((i for i, (a, b) in enumerate(zip(committed, again.token_ids, strict=False)) if a != b), None)
    if first is None and len(committed) != len(again.token_ids):
        first = min(len(committed), len(again.token_ids))
    return Regeneration(again, first, generator.config.near_tie_margin)
