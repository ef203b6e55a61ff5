"""The structured reference string (SRS) of the KZG commitments: a ceremony file by path, or an insecure local one.

A locally generated SRS is INSECURE: the secret it was derived from existed on this machine, so whoever ran the
generation could forge proofs. It is fine for devnets and tests. A real deployment passes the file of a public
ceremony (e.g. the perpetual powers of tau, converted to ezkl's format) by path; nothing here ever downloads one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ezkl
import structlog

from verinfer.zk.errors import SrsError

_log = structlog.get_logger(__name__)

INSECURE_MARKER_SUFFIX = ".insecure"
"""A file next to a locally generated SRS (`<srs>.insecure`) records that it is insecure."""


@dataclass(frozen=True)
class Srs:
    """An SRS file, its size (2^logrows points) and whether it was generated on this machine."""

    path: Path
    logrows: int
    insecure: bool


def srs_logrows(path: Path) -> int:
    """The logrows an SRS file was made for (its first four bytes, little-endian, in ezkl's format)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(4)
    except OSError as exc:
        raise SrsError(f"cannot read the SRS file {path}: {exc}. Fix: pass the path of a ceremony SRS file") from exc
    if len(header) != 4:
        raise SrsError(f"{path} is not an SRS file ({len(header)} bytes). Fix: pass an SRS in ezkl's format")
    logrows = int.from_bytes(header, "little")
    if not 1 <= logrows <= 28:
        raise SrsError(f"{path} does not look like an SRS in ezkl's format (header says logrows {logrows})")
    return logrows


def load_srs(path: Path | str, needed_logrows: int | None = None) -> Srs:
    """An existing SRS file, checked to be large enough for a circuit of `needed_logrows`."""
    file = Path(path)
    if not file.is_file():
        raise SrsError(
            f"no SRS file at {file}. Fix: pass a ceremony SRS file, or omit it on a devnet to generate an insecure one"
        )
    logrows = srs_logrows(file)
    if needed_logrows is not None and logrows < needed_logrows:
        raise SrsError(
            f"the SRS {file} has logrows {logrows} but the circuit needs {needed_logrows}. Fix: pass an SRS "
            f"with at least 2^{needed_logrows} points"
        )
    return Srs(file, logrows, insecure=Path(f"{file}{INSECURE_MARKER_SUFFIX}").exists())


def generate_insecure_srs(path: Path | str, logrows: int) -> Srs:
    """Generates an INSECURE SRS of 2^logrows points at `path` (devnets and tests only), or reuses one made before."""
    file = Path(path)
    marker = Path(f"{file}{INSECURE_MARKER_SUFFIX}")
    if file.is_file() and marker.exists() and srs_logrows(file) == logrows:
        return Srs(file, logrows, insecure=True)
    _log.warning(
        "generating an INSECURE SRS: its secret existed on this machine; use it on devnets only, and pass a "
        "ceremony SRS file for real deployments",
        path=str(file),
        logrows=logrows,
    )
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".partial")
    try:
        ezkl.gen_srs(str(partial), logrows)
    except (RuntimeError, OSError, ValueError) as exc:
        raise SrsError(f"generating an SRS with logrows {logrows} at {file} failed: {exc}") from exc
    partial.replace(file)
    marker.write_text("generated locally by verinfer.zk: INSECURE, devnet and tests only\n")
    return Srs(file, logrows, insecure=True)
