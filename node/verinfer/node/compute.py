"""Inference for the node: each served model loaded once (hash-checked fetch, deterministic runner), and the
pending requests of one model run as one onnxruntime batch.

A request that cannot be served gets a `ModelError` naming why (wrong input length, unreadable model, runtime
failure); the others in its batch still get their outputs. Nothing false is ever produced: a failed row has no
output at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from verinfer.errors import CodecError, ModelError
from verinfer.inference import codec
from verinfer.inference.model_store import ModelStore
from verinfer.inference.runner import OnnxRunner
from verinfer.types import ModelSpec

MODEL_RETRY_S = 30.0  # a model that failed to load is tried again after this long (its URI may come back)


@dataclass(frozen=True)
class LoadedModel:
    model_id: bytes
    spec: ModelSpec
    runner: OnnxRunner

    def compute(self, inputs: Sequence[bytes]) -> list[bytes | ModelError]:
        """The canonical output of each input, or the error that stops it; batched where the inputs allow."""
        results: list[bytes | ModelError] = [ModelError("not computed")] * len(inputs)
        rows: list[np.ndarray] = []
        where: list[int] = []
        for i, data in enumerate(inputs):
            try:
                rows.append(codec.decode(data, self.spec.input_shape, self.spec.scale).astype(np.float32))
                where.append(i)
            except CodecError as exc:
                results[i] = ModelError(f"malformed input: {exc}")
        if not rows:
            return results
        try:
            outputs = self._run(rows)
        except ModelError:
            outputs = None
        if outputs is None:  # find the row that breaks the batch; the others still get served
            for i, row in zip(where, rows, strict=True):
                try:
                    results[i] = self._encode(self._run([row])[0])
                except ModelError as exc:
                    results[i] = exc
            return results
        for i, output in zip(where, outputs, strict=True):
            try:
                results[i] = self._encode(output)
            except ModelError as exc:
                results[i] = exc
        return results

    def _run(self, rows: list[np.ndarray]) -> list[np.ndarray]:
        per_row = rows[0].shape[0] if rows[0].ndim else 1
        stacked = np.concatenate(rows) if len(rows) > 1 else rows[0]
        out = self.runner.run_batch(stacked)
        return [out[i * per_row : (i + 1) * per_row] for i in range(len(rows))]

    def _encode(self, output: np.ndarray) -> bytes:
        expected = int(np.prod(self.spec.output_shape))
        if output.size != expected:
            raise ModelError(
                f"the model produced {output.size} output values; the registry says {list(self.spec.output_shape)}"
            )
        try:
            return codec.encode(output, self.spec.scale)
        except CodecError as exc:
            raise ModelError(f"output cannot be encoded canonically: {exc}") from exc


class ModelCatalog:
    """The models this node has loaded, by id. A load failure is remembered for MODEL_RETRY_S, then retried."""

    def __init__(
        self,
        store: ModelStore,
        spec_of: Callable[[bytes], ModelSpec],
        *,
        intra_op_threads: int = 1,
        graph_optimization_level: str = "basic",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._spec_of = spec_of
        self._threads = intra_op_threads
        self._level = graph_optimization_level
        self._clock = clock
        self._loaded: dict[bytes, LoadedModel] = {}
        self._failed: dict[bytes, tuple[float, ModelError]] = {}

    def get(self, model_id: bytes) -> LoadedModel:
        """The loaded model, or the `ModelError` that stops it loading (unknown, unreachable, hash mismatch, …)."""
        model_id = bytes(model_id)
        loaded = self._loaded.get(model_id)
        if loaded is not None:
            return loaded
        failed = self._failed.get(model_id)
        if failed is not None and self._clock() - failed[0] < MODEL_RETRY_S:
            raise failed[1]
        try:
            spec = self._spec_of(model_id)
            path = self.store.fetch(model_id, spec.uri)
            runner = OnnxRunner(path, self._threads, self._level, expected_id=model_id)
        except ModelError as exc:
            self._failed[model_id] = (self._clock(), exc)
            raise
        self._failed.pop(model_id, None)
        loaded = LoadedModel(model_id, spec, runner)
        self._loaded[model_id] = loaded
        return loaded
