"""The errors of the ZK pipeline, each saying what failed, with the values, and how to fix it.

    ModelError
    └── ZkError                     root of the ZK pipeline's errors
        ├── ZkModelUnsupported      the ONNX graph cannot become a circuit (shape, op, calibration)
        ├── SrsError                the structured reference string is missing, unreadable or too small
        ├── CircuitStepFailed       an ezkl step (settings, compile, setup, witness, prove) failed
        ├── ZkArtifactsInvalid      cached artifacts are missing, incomplete or belong to another model or setup
        ├── ZkInputInvalid          an input does not fit the circuit (length, range, scale)
        ├── ProofInvalid            a proof did not verify locally, or its instances are not the input and output
        └── VerifierBuildError      the Solidity verifier could not be written, compiled or is too large to deploy

Chain-side failures (deploying the verifier, a hub revert) are the `ChainError`/`ContractRevert` of `verinfer.chain`.
"""

from __future__ import annotations

from verinfer.errors import ModelError


class ZkError(ModelError):
    """Root of the ZK pipeline's errors."""


class ZkModelUnsupported(ZkError):  # noqa: N818 - reads as the condition, like the contracts' errors
    """The ONNX model cannot be turned into a circuit here."""


class SrsError(ZkError):
    """The structured reference string (SRS) is missing, unreadable or smaller than the circuit needs."""


class CircuitStepFailed(ZkError):  # noqa: N818
    """An ezkl step failed; `step` names it."""

    def __init__(self, step: str, detail: str, fix: str) -> None:
        self.step = step
        super().__init__(f"ezkl {step} failed: {detail}. Fix: {fix}")


class ZkArtifactsInvalid(ZkError):  # noqa: N818
    """Cached artifacts are missing, incomplete or do not match the model, configuration or SRS."""


class ZkInputInvalid(ZkError, ValueError):  # noqa: N818
    """An input does not fit the circuit."""


class ProofInvalid(ZkError):  # noqa: N818
    """A proof failed local verification, or its public instances are not the expected input and output."""


class VerifierBuildError(ZkError):
    """The Solidity verifier could not be generated or compiled, or its runtime code exceeds the 24,576-byte limit."""
