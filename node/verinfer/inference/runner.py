"""Runs one ONNX model on onnxruntime's CPU provider with settings chosen for bit-reproducible outputs.

Everything that can change the bits of an output is fixed and reported by `environment()`: one provider (CPU), a
fixed thread count (never "all cores"), sequential execution, a named graph optimisation level, deterministic
compute where onnxruntime offers it, denormals kept. The CPU's instruction set extensions are reported too, because
onnxruntime picks its kernels by them.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from eth_hash.auto import keccak
from onnxruntime.capi import onnxruntime_pybind11_state as _ort_state

from verinfer.errors import ConfigError, ModelError
from verinfer.inference.model_store import ModelHashMismatchError, ModelInfo, TensorInfo, inspect_model
from verinfer.types import ARITHMETIC_CLASSES

PROVIDER = "CPUExecutionProvider"

OPTIMIZATION_LEVELS: dict[str, ort.GraphOptimizationLevel] = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}

# onnxruntime's errors derive from Exception directly; pybind11 adds RuntimeError and ValueError for bad arguments.
_ORT_ERRORS: tuple[type[Exception], ...] = (
    *(cls for cls in vars(_ort_state).values() if isinstance(cls, type) and issubclass(cls, Exception)),
    RuntimeError,
    ValueError,
)

_SIMD_FLAGS = frozenset(
    {
        # x86
        "sse2",
        "ssse3",
        "sse4_1",
        "sse4_2",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512bw",
        "avx512dq",
        "avx512vl",
        "avx512_vnni",
        "avx512_bf16",
        "avx512_fp16",
        "avx_vnni",
        "amx_tile",
        "amx_int8",
        "amx_bf16",
        # arm64
        "asimd",
        "asimdhp",
        "asimddp",
        "fphp",
        "sve",
        "sve2",
        "i8mm",
        "bf16",
    }
)


class InputShapeError(ModelError):
    """A batch does not fit the model's input."""


class OnnxRunner:
    """One inference session over one model file.

    The file is read once: the bytes that are hashed (`model_id`, checked against `expected_id` when given) and
    inspected are the bytes the session loads, so nothing can swap the file in between.
    """

    def __init__(
        self,
        model_path: Path | str,
        intra_op_threads: int = 1,
        graph_optimization_level: str = "basic",
        *,
        expected_id: bytes | None = None,
    ) -> None:
        _check_settings(intra_op_threads, graph_optimization_level)
        self.model_path = Path(model_path)
        try:
            data = self.model_path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read the model file {self.model_path}: {exc}") from exc
        self.model_id: bytes = bytes(keccak(data))
        if expected_id is not None and self.model_id != bytes(expected_id):
            raise ModelHashMismatchError(bytes(expected_id), self.model_id, self.model_path.as_uri())
        self.info: ModelInfo = inspect_model(data, allow_dynamic_batch=True)
        self.intra_op_threads = intra_op_threads
        self.inter_op_threads = 1
        self.graph_optimization_level = graph_optimization_level

        options = session_options(intra_op_threads, graph_optimization_level)
        self.deterministic_compute = hasattr(options, "use_deterministic_compute")
        try:
            self._session = ort.InferenceSession(self.info.serving, options, providers=[PROVIDER])
        except _ORT_ERRORS as exc:
            raise ModelError(f"onnxruntime cannot load {self.model_path}: {exc}") from exc
        self.info = self.info.signature_only()  # the session holds the graph now
        providers = self._session.get_providers()
        if providers != [PROVIDER]:
            raise ModelError(f"onnxruntime runs {self.model_path} on {providers}, expected only {PROVIDER}")

    @overload
    def run_batch(self, inputs: Mapping[str, npt.ArrayLike]) -> list[npt.NDArray[Any]]: ...
    @overload
    def run_batch(self, inputs: npt.ArrayLike) -> npt.NDArray[Any]: ...
    def run_batch(self, inputs: Mapping[str, npt.ArrayLike] | npt.ArrayLike) -> Any:
        """Runs n requests, rows of `inputs` shaped (n, *input_shape[1:]); returns their outputs stacked the same way.

        `inputs` is one array for a one-input model (the output is then the one committed output), or every input
        by name (the outputs are then the committed ones, in graph order). A model whose batch dimension is symbolic
        runs them as one call; a model fixed at batch 1 runs them one row at a time (batching in one call needs a
        symbolic batch dimension in the graph).
        """
        if isinstance(inputs, Mapping):
            return self._run_named(inputs)
        spec = self.info.input
        array = self._rows(spec, inputs)
        rows = array.shape[0]
        batch = spec.shape[0]
        if batch == -1:
            output = self._run(array)
        elif batch == 1:
            output = np.concatenate([self._run(array[row : row + 1]) for row in range(rows)])
        elif rows == batch:
            output = self._run(array)
        else:
            raise InputShapeError(f"input {spec.name!r} has a fixed batch of {batch} rows, got {rows}")
        if output.shape[:1] != (rows,):
            raise ModelError(f"the model answered {rows} rows with an output shaped {output.shape}")
        return output

    def _rows(self, spec: TensorInfo, inputs: npt.ArrayLike) -> npt.NDArray[Any]:
        if not spec.shape:
            raise InputShapeError(f"input {spec.name!r} is a scalar: there is no batch dimension to run rows along")
        array = np.asarray(inputs)
        rows = array.shape[0] if array.ndim else 0
        if array.ndim != len(spec.shape) or array.shape[1:] != spec.shape[1:] or rows < 1:
            wanted = ("n", *spec.shape[1:])
            raise InputShapeError(
                f"input {spec.name!r} takes rows shaped ({', '.join(map(str, wanted))}) with n >= 1, got {array.shape}"
            )
        if not np.can_cast(array.dtype, spec.dtype, casting="same_kind"):
            raise InputShapeError(f"input {spec.name!r} takes {spec.dtype} values, got {array.dtype}")
        return np.ascontiguousarray(array, dtype=spec.dtype)

    def _run(self, array: npt.NDArray[Any]) -> npt.NDArray[Any]:
        (output,) = self._call({self.info.input.name: array}, [self.info.output.name])
        return output

    def _run_named(self, inputs: Mapping[str, npt.ArrayLike]) -> list[npt.NDArray[Any]]:
        names = [spec.name for spec in self.info.inputs]
        if set(inputs) != set(names):
            raise InputShapeError(f"the model takes inputs {names}, got {sorted(inputs)}")
        arrays = {spec.name: self._rows(spec, inputs[spec.name]) for spec in self.info.inputs}
        counts = {len(array) for array in arrays.values()}
        if len(counts) != 1:
            raise InputShapeError(f"the inputs carry different numbers of rows: {sorted(counts)}")
        rows = counts.pop()
        outputs = [spec.name for spec in self.info.outputs]
        batches = {spec.shape[0] for spec in self.info.inputs}
        if batches == {-1} or batches == {rows}:
            return self._call(arrays, outputs)
        if batches != {1}:
            raise InputShapeError(f"the inputs have fixed batches of {sorted(batches)} rows, got {rows}")
        per_row = [self._call({n: a[row : row + 1] for n, a in arrays.items()}, outputs) for row in range(rows)]
        return [np.concatenate([answer[i] for answer in per_row]) for i in range(len(outputs))]

    def _call(self, feeds: Mapping[str, npt.NDArray[Any]], outputs: list[str]) -> list[npt.NDArray[Any]]:
        try:
            answers = self._session.run(outputs, dict(feeds))
        except _ORT_ERRORS as exc:
            raise ModelError(f"onnxruntime failed on {self.model_path}: {exc}") from exc
        return [np.asarray(answer) for answer in answers]

    def environment(self) -> dict[str, str | int | bool]:
        """Everything about this runner and machine that can change an output's bits (manifest material)."""
        return runner_environment(self.intra_op_threads, self.graph_optimization_level)


def session_options(intra_op_threads: int = 1, graph_optimization_level: str = "basic") -> ort.SessionOptions:
    """The session options every verinfer session runs with (the runner's and verinfer.text's)."""
    _check_settings(intra_op_threads, graph_optimization_level)
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = OPTIMIZATION_LEVELS[graph_optimization_level]
    if hasattr(options, "use_deterministic_compute"):
        options.use_deterministic_compute = True
    options.add_session_config_entry("session.set_denormal_as_zero", "0")  # the default, stated: it moves bits
    # Idle worker threads sleep instead of spinning; scheduling only, the results do not change.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: optimiser notes are not the node's business
    return options


def runner_environment(
    intra_op_threads: int = 1, graph_optimization_level: str = "basic"
) -> dict[str, str | int | bool]:
    """The environment a runner with these settings has on this machine: no model needed (the manifest does not
    depend on the model)."""
    _check_settings(intra_op_threads, graph_optimization_level)
    cpu, flags = cpu_description()
    return {
        "onnxruntime": ort.__version__,
        "provider": PROVIDER,
        "intra_op_threads": intra_op_threads,
        "inter_op_threads": 1,
        "execution_mode": "sequential",
        "graph_optimization_level": graph_optimization_level,
        "deterministic_compute": hasattr(ort.SessionOptions(), "use_deterministic_compute"),
        "denormal_as_zero": False,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "byteorder": sys.byteorder,
        "cpu": cpu,
        "cpu_flags": " ".join(flags),
        "arithmetic_class": ARITHMETIC_CLASSES[arithmetic_class(flags)],
    }


def _check_settings(intra_op_threads: int, graph_optimization_level: str) -> None:
    if isinstance(intra_op_threads, bool) or not isinstance(intra_op_threads, int) or intra_op_threads < 1:
        # 0 would mean "one per core": the environment would then depend on the machine.
        raise ConfigError(f"intra_op_threads must be a positive integer, got {intra_op_threads!r}")
    if graph_optimization_level not in OPTIMIZATION_LEVELS:
        raise ConfigError(
            f"graph_optimization_level must be one of {', '.join(OPTIMIZATION_LEVELS)}, "
            f"got {graph_optimization_level!r}"
        )


def arithmetic_class(flags: Sequence[str] | None = None) -> int:
    """This machine's arithmetic class for onnxruntime's CPU provider (`verinfer.types.ARITHMETIC_CLASSES`): the
    ISA and whether its kernels can fuse multiply-adds, which changes float results' low bits. `flags`: the CPU's
    SIMD flags (default: read them)."""
    if flags is None:
        flags = cpu_description()[1]
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return 1 if "fma" in flags else 2
    if machine in ("aarch64", "arm64"):
        return 3
    return 0


def cpu_description() -> tuple[str, tuple[str, ...]]:
    """The CPU's model name and its SIMD extensions that onnxruntime dispatches on (sorted; empty if unknown)."""
    name, flags = platform.processor() or platform.machine(), frozenset[str]()
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:  # not Linux
        return name, ()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model") and value.strip():
            name = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = frozenset(value.split())
        if key == "" and flags:  # the first processor's block is enough
            break
    return name, tuple(sorted(flags & _SIMD_FLAGS))
