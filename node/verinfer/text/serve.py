"""Text models as the node and the SDK run them: a language-model bundle that answers prompts, and a single-file
ONNX classifier with a string input. Both take a request's input bytes and give the bytes a node commits
(verinfer.text.codec).

They run with the pinned settings of verinfer.text.settings. On a node they run in a sandbox worker like the tensor
models (`TextLoad`, `SandboxedText`), under the node's wall-clock and memory limits: the bundle's files are
hash-checked like any model, and a hostile graph costs its own requests a breach, not the node.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from verinfer.errors import CodecError, ModelError
from verinfer.inference import codec
from verinfer.inference.runner import _ORT_ERRORS
from verinfer.text import codec as text_codec
from verinfer.text.bundle import Bundle, Fetcher, fetch_bundle
from verinfer.text.generate import Generation, Generator, load_generator
from verinfer.text.settings import ALLOWED_LEVELS, DEFAULT_LEVEL, DEFAULT_THREADS, make_session
from verinfer.types import ModelSpec, max_length


class NearTieError(ModelError):
    """The answer has a near-tie: a node following the rule in docs/text.md does not post it."""


@dataclass
class TextGenerator:
    """A language-model bundle serving prompts (`encode_prompt` bytes) with answers (`encode_answer` bytes).

    With `abstain_on_near_tie` (the node's rule, docs/text.md) an answer whose smallest top-1 margin is below the
    bundle's `near_tie_margin` is not posted: another machine's rounding may pick the other token there, so an honest
    node that posted it could be outvoted (CONSENSUS) or challenged (SINGLE) and slashed for it. The request then
    fails at this node, named, and its fee is refunded at the deadline if no node answers.
    """

    model_id: bytes
    spec: ModelSpec
    generator: Generator
    on_generation: Callable[[Generation], None] | None = field(default=None, repr=False)
    """Called with each answer (the node logs its smallest margin and near-tie flag)."""
    abstain_on_near_tie: bool = True

    def answer(self, data: bytes) -> tuple[bytes, Generation]:
        prompt, wanted = text_codec.decode_prompt(data)
        generation = self.generator.generate(prompt, wanted or None)
        output = text_codec.encode_answer(generation.token_ids, generation.text)
        bound = max_length(self.spec.output_shape[0]) if self.spec.output_shape else 0
        if len(output) > bound:
            raise ModelError(
                f"the answer is {len(output)} bytes; model 0x{self.model_id.hex()} is registered with at most {bound} "
                f"(register the bound with text.codec.answer_bound)"
            )
        return output, generation

    def compute(self, inputs: Sequence[bytes]) -> list[bytes | ModelError]:
        results: list[bytes | ModelError] = []
        for data in inputs:
            try:
                output, generation = self.answer(data)
            except CodecError as exc:
                results.append(ModelError(f"malformed prompt: {exc}"))
                continue
            except ModelError as exc:
                results.append(exc)
                continue
            if self.on_generation is not None:
                self.on_generation(generation)
            if generation.near_tie and self.abstain_on_near_tie:
                at = generation.margins.index(generation.min_margin)
                results.append(
                    NearTieError(
                        f"the answer has a near-tie at token {at} (top-1 margin {generation.min_margin:.3g} < "
                        f"{self.generator.config.near_tie_margin:g}): not posted, as docs/text.md's rule says"
                    )
                )
                continue
            results.append(output)
        return results


@dataclass
class StringClassifier:
    """A single-file ONNX graph with one string input (shape [n]) answering UTF-8 text with a canonical tensor."""

    model_id: bytes
    spec: ModelSpec
    session: Any
    input_name: str

    def classify(self, data: bytes) -> bytes:
        text = text_codec.decode_text(data)
        try:
            outputs = self.session.run(None, {self.input_name: np.asarray([text], dtype=object)})
        except _ORT_ERRORS as exc:
            raise ModelError(f"onnxruntime failed on model 0x{self.model_id.hex()}: {exc}") from exc
        values = np.concatenate([np.asarray(out, np.float64).reshape(-1) for out in outputs])
        expected = math.prod(self.spec.output_shape)
        if values.size != expected:
            raise ModelError(
                f"the classifier gave {values.size} values; the registry says {list(self.spec.output_shape)}"
            )
        return codec.encode(values, self.spec.scale)

    def compute(self, inputs: Sequence[bytes]) -> list[bytes | ModelError]:
        results: list[bytes | ModelError] = []
        for data in inputs:
            try:
                results.append(self.classify(data))
            except CodecError as exc:
                results.append(ModelError(f"malformed text: {exc}"))
            except ModelError as exc:
                results.append(exc)
        return results


TextModel = TextGenerator | StringClassifier


def load_text_model(
    store: Fetcher,
    fetch_file: Callable[[bytes, str], bytes],
    model_id: bytes,
    spec: ModelSpec,
    *,
    intra_op_threads: int = DEFAULT_THREADS,
    graph_optimization_level: str = DEFAULT_LEVEL,
) -> TextModel:
    """The text model a registry entry names: a bundle (FORMAT_BUNDLE) is a language model, fetched file by file
    from its base URI and checked; a single file (`fetch_file(id, uri)` gives its hash-checked bytes) is a string
    classifier."""
    if graph_optimization_level not in ALLOWED_LEVELS:
        raise ModelError(
            f"model 0x{model_id.hex()} is a text model, which runs at graph_optimization_level "
            f"{' or '.join(ALLOWED_LEVELS)} only (docs/text.md says why); this node runs {graph_optimization_level!r}"
        )
    if spec.is_bundle:
        bundle = fetch_bundle(store, model_id, spec.uri)
        return TextGenerator(model_id, spec, generator_of(bundle, intra_op_threads, graph_optimization_level))
    data = fetch_file(model_id, spec.uri)
    return string_classifier(model_id, spec, data, intra_op_threads, graph_optimization_level)


def generator_of(bundle: Bundle, intra_op_threads: int, graph_optimization_level: str) -> Generator:
    return load_generator(bundle, intra_op_threads=intra_op_threads, graph_optimization_level=graph_optimization_level)


def string_classifier(
    model_id: bytes,
    spec: ModelSpec,
    data: bytes,
    intra_op_threads: int = DEFAULT_THREADS,
    graph_optimization_level: str = DEFAULT_LEVEL,
) -> StringClassifier:
    try:
        session = make_session(data, intra_op_threads, graph_optimization_level)
    except _ORT_ERRORS as exc:
        raise ModelError(f"onnxruntime cannot load model 0x{model_id.hex()}: {exc}") from exc
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(string)":
        described = [(i.name, i.type) for i in inputs]
        raise ModelError(
            f"a text model without a bundle is a classifier with one string input; model 0x{model_id.hex()} takes "
            f"{described}"
        )
    return StringClassifier(model_id, spec, session, inputs[0].name)


# ---------------------------------------------------------------------------------------------- in a sandbox


@dataclass(frozen=True)
class TextLoad:
    """A text model loaded in a sandbox worker (`verinfer.inference.sandbox`) from the node's model cache, where the
    node fetched and checked its files first: the worker follows no URI (a store without schemes), and checks the
    files again as it loads them."""

    cache_dir: str
    max_bytes: int
    model_id: bytes
    spec: ModelSpec
    threads: int = DEFAULT_THREADS
    level: str = DEFAULT_LEVEL

    @property
    def what(self) -> str:
        return f"text model 0x{self.model_id.hex()}"

    def load(self) -> Callable[[Any], Any]:
        from verinfer.inference.model_store import ModelStore

        store = ModelStore(self.cache_dir, max_bytes=self.max_bytes, timeout=1.0, schemes=())
        model = load_text_model(
            store,
            lambda mid, uri: store.fetch(mid, uri).read_bytes(),
            self.model_id,
            self.spec,
            intra_op_threads=self.threads,
            graph_optimization_level=self.level,
        )
        return lambda inputs: _answers(model, inputs)


def _answers(model: TextModel, inputs: Sequence[bytes]) -> tuple[list[Any], list[tuple[int, float, bool]]]:
    """What crosses back from the worker: each result as bytes or (error class name, message), and each answer's
    (tokens, smallest margin, near tie) for the node's log. Plain values: a model's exception need not pickle."""
    generations: list[tuple[int, float, bool]] = []
    if isinstance(model, TextGenerator):
        model.on_generation = lambda g: generations.append((len(g.token_ids), g.min_margin, g.near_tie))
    results = [r if isinstance(r, bytes) else (type(r).__name__, str(r)) for r in model.compute(inputs)]
    return results, generations


@dataclass
class SandboxedText:
    """A text model computing in a sandbox worker under the node's limits, like a tensor model: a graph that loops
    or allocates without end costs its own requests a breach (`LimitExceededError`), never the node."""

    sandbox: Any
    """A `verinfer.inference.sandbox.Sandbox` running a `TextLoad`."""
    on_generation: Callable[[int, float, bool], None] | None = None

    def compute(self, inputs: Sequence[bytes]) -> list[bytes | ModelError]:
        """Each input's answer bytes or the error that stops it; a batch that breaches a limit is run again one
        input at a time, so the input that breaks it fails alone (`CancelledError` propagates)."""
        from verinfer.inference.sandbox import LimitExceededError

        try:
            return self._call(inputs)
        except LimitExceededError as exc:
            if len(inputs) == 1:
                return [exc]
        results: list[bytes | ModelError] = []
        for data in inputs:
            try:
                results.extend(self._call([data]))
            except LimitExceededError as exc:
                results.append(exc)
        return results

    def _call(self, inputs: Sequence[bytes]) -> list[bytes | ModelError]:
        answers, generations = self.sandbox.call(list(inputs), f"{len(inputs)} text request(s)")
        if self.on_generation is not None:
            for tokens, margin, near_tie in generations:
                self.on_generation(tokens, margin, near_tie)
        return [a if isinstance(a, bytes) else _error(*a) for a in answers]


def _error(name: str, message: str) -> ModelError:
    return NearTieError(message) if name == NearTieError.__name__ else ModelError(message)
