"""How a model becomes a circuit: the fixed-point scale and the range-check decomposition handed to ezkl."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from verinfer.zk.errors import ZkInputInvalid

MIN_LOGROWS = 1
MAX_LOGROWS = 26


@dataclass(frozen=True)
class CircuitConfig:
    """ezkl run arguments verinfer fixes (the rest is calibrated).

    `scale_bits` (k) is the input, parameter and output scale: ezkl quantizes x as round(x * 2^k) and, with a rebase
    multiplier of 1, divides every product back to 2^k, so the output comes out at 2^k too. The model is registered
    with scale 2^k (`registered_scale`), which makes the canonical int64 values on chain the circuit's own integers.
    `decomp_base` ** `decomp_legs` bounds the magnitude of every intermediate value; a small base keeps the range-check
    table (and so the circuit's row count, `logrows`) small: 1024 with 3 legs gives 2^30 and logrows 11 for a
    16-8-2 MLP.
    """

    scale_bits: int = 10
    decomp_base: int = 1024
    decomp_legs: int = 3
    max_logrows: int = 20

    def __post_init__(self) -> None:
        _check("scale_bits", self.scale_bits, 1, 30)
        _check("decomp_base", self.decomp_base, 2, 2**20)
        _check("decomp_legs", self.decomp_legs, 1, 16)
        _check("max_logrows", self.max_logrows, MIN_LOGROWS, MAX_LOGROWS)

    @property
    def registered_scale(self) -> int:
        """The `scale` to register the model with: 2^k."""
        return 1 << self.scale_bits

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _check(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ZkInputInvalid(f"CircuitConfig.{name} must be an integer in [{low}, {high}], got {value!r}")
