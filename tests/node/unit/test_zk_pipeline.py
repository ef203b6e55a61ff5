"""verinfer.zk without proving: configuration, SRS files, the verifier compile, the artifact cache, input checks.

The committed fixture (tests/fixtures/zk, made by scripts/zk_fixture.py) doubles as a check that the verifier source
compiles, with the project's solc, to exactly the creation code the forge tests deploy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from verinfer.inference import codec
from verinfer.types import ModelId
from verinfer.zk import (
    CircuitConfig,
    SrsError,
    StepTimes,
    VerifierBuildError,
    ZkArtifacts,
    ZkArtifactsInvalid,
    ZkInputInvalid,
    instances_for,
    load_artifacts,
    load_srs,
    prove,
)
from verinfer.zk.artifacts import write_manifest
from verinfer.zk.solidity import MAX_RUNTIME_BYTES, SOLC_ENV, compile_verifier, ezkl_without_downloads, find_solc
from verinfer.zk.srs import Srs, srs_logrows

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = ROOT / "tests" / "fixtures" / "zk"
MODEL = ModelId(b"\x11" * 32)


def _vector() -> dict[str, object]:
    data: dict[str, object] = json.loads((FIXTURE / "mlp16.json").read_text())
    return data


# -- configuration ---------------------------------------------------------------------------------------------------


def test_config_registered_scale_is_two_to_the_k() -> None:
    assert CircuitConfig(scale_bits=10).registered_scale == 1024
    assert CircuitConfig().as_dict() == {"scale_bits": 10, "decomp_base": 1024, "decomp_legs": 3, "max_logrows": 20}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("scale_bits", 0),
        ("scale_bits", 31),
        ("decomp_base", 1),
        ("decomp_legs", 0),
        ("max_logrows", 27),
        ("scale_bits", True),
    ],
)
def test_config_refuses_out_of_range(field: str, value: int) -> None:
    with pytest.raises(ZkInputInvalid, match=f"CircuitConfig.{field}"):
        CircuitConfig(**{field: value})


# -- SRS -------------------------------------------------------------------------------------------------------------


def _fake_srs(path: Path, logrows: int) -> Path:
    path.write_bytes(logrows.to_bytes(4, "little") + b"\x00" * 64)
    return path


def test_srs_logrows_reads_the_header(tmp_path: Path) -> None:
    assert srs_logrows(_fake_srs(tmp_path / "k.srs", 11)) == 11


def test_load_srs_refuses_too_small(tmp_path: Path) -> None:
    with pytest.raises(SrsError, match="has logrows 11 but the circuit needs 15"):
        load_srs(_fake_srs(tmp_path / "k.srs", 11), 15)


def test_load_srs_marks_local_ones_insecure(tmp_path: Path) -> None:
    srs = _fake_srs(tmp_path / "k.srs", 12)
    assert not load_srs(srs, 11).insecure
    Path(f"{srs}.insecure").write_text("local\n")
    assert load_srs(srs, 11) == Srs(srs, 12, insecure=True)


@pytest.mark.parametrize(
    ("content", "message"), [(b"", "not an SRS file"), (b"\xff\xff\xff\x7f", "does not look like")]
)
def test_load_srs_refuses_garbage(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.srs"
    path.write_bytes(content)
    with pytest.raises(SrsError, match=message):
        load_srs(path)


def test_load_srs_refuses_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SrsError, match="no SRS file"):
        load_srs(tmp_path / "absent.srs")


# -- the Solidity verifier -------------------------------------------------------------------------------------------


def test_committed_verifier_source_compiles_to_the_committed_creation_code() -> None:
    compiled = compile_verifier((FIXTURE / "Verifier.sol").read_text())
    vector = _vector()
    assert "0x" + compiled.bytecode.hex() == vector["verifierBytecode"]
    runtime_bytes = vector["verifierRuntimeBytes"]
    assert isinstance(runtime_bytes, int)
    assert compiled.runtime_size == runtime_bytes <= MAX_RUNTIME_BYTES
    assert [entry["name"] for entry in compiled.abi if entry["type"] == "function"] == ["verifyProof"]


def test_committed_instances_are_the_canonical_mapping() -> None:
    vector = _vector()
    inputs, outputs = vector["input"], vector["output"]
    assert isinstance(inputs, list)
    assert isinstance(outputs, list)
    got = instances_for(codec.encode_ints(inputs), codec.encode_ints(outputs))
    assert [str(v) for v in got] == vector["instances"]


def _fake_solc(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "solc"
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("echo boom >&2; exit 3", "exited 3: boom"),
        ("echo not-json", "no standard-JSON output"),
        ("""echo '{"errors":[{"severity":"error","formattedMessage":"ParserError: nope"}]}'""", "ParserError: nope"),
        ("""echo '{"contracts":{}}'""", "no Halo2Verifier"),
    ],
)
def test_compile_verifier_names_each_failure(tmp_path: Path, script: str, message: str) -> None:
    with pytest.raises(VerifierBuildError, match=message):
        compile_verifier("contract Halo2Verifier {}", _fake_solc(tmp_path, script))


def test_compile_verifier_refuses_oversized_runtime(tmp_path: Path) -> None:
    runtime = "00" * (MAX_RUNTIME_BYTES + 1)
    output = {
        "contracts": {
            "Verifier.sol": {
                "Halo2Verifier": {
                    "abi": [],
                    "evm": {"bytecode": {"object": "00"}, "deployedBytecode": {"object": runtime}},
                }
            }
        }
    }
    (tmp_path / "out.json").write_text(json.dumps(output))
    solc = _fake_solc(tmp_path, f"cat {tmp_path / 'out.json'}")
    with pytest.raises(VerifierBuildError, match="over the 24576-byte limit"):
        compile_verifier("contract Halo2Verifier {}", solc)


def test_find_solc_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    solc = _fake_solc(tmp_path, "exit 0")
    monkeypatch.setenv(SOLC_ENV, str(solc))
    assert find_solc() == solc
    monkeypatch.setenv(SOLC_ENV, str(tmp_path / "absent"))
    with pytest.raises(VerifierBuildError, match="missing or not executable"):
        find_solc()


def test_ezkl_sees_a_stub_solc_and_the_environment_comes_back(tmp_path: Path) -> None:
    solc = _fake_solc(tmp_path, 'echo "shim $@"')
    before = (os.environ.get("HOME"), os.environ.get("XDG_DATA_HOME"))
    with ezkl_without_downloads(solc):
        stub = Path(os.environ["XDG_DATA_HOME"]) / "svm" / "0.8.20" / "solc-0.8.20"
        assert not (Path(os.environ["HOME"]) / ".svm").exists()  # so svm looks under XDG_DATA_HOME
        assert os.access(stub, os.X_OK)
        assert os.popen(f"{stub} --version").read().strip() == "shim --version"
    assert (os.environ.get("HOME"), os.environ.get("XDG_DATA_HOME")) == before


# -- the artifact cache ----------------------------------------------------------------------------------------------


def _artifacts(directory: Path) -> ZkArtifacts:
    srs = _fake_srs(directory.parent / "k.srs", 11)
    return ZkArtifacts(MODEL, directory, CircuitConfig(), Srs(srs, 11, True), 11, (1, 4), (1, 2), "23.0.5")


def test_load_artifacts_without_preparation(tmp_path: Path) -> None:
    with pytest.raises(ZkArtifactsInvalid, match=r"run verinfer\.zk\.prepare"):
        load_artifacts(tmp_path, MODEL)


def test_load_artifacts_round_trips_and_names_missing_files(tmp_path: Path) -> None:
    artifacts = _artifacts(tmp_path / ("0x" + MODEL.hex()))
    artifacts.directory.mkdir()
    write_manifest(artifacts)
    with pytest.raises(ZkArtifactsInvalid, match=r"lacks .*pk\.key"):
        load_artifacts(tmp_path, MODEL)
    for path in (
        artifacts.model_path,
        artifacts.settings_path,
        artifacts.compiled_path,
        artifacts.pk_path,
        artifacts.vk_path,
        artifacts.verifier_source_path,
        artifacts.verifier_json_path,
    ):
        path.write_text("x")
    assert load_artifacts(tmp_path, MODEL) == artifacts


def test_load_artifacts_refuses_another_models_folder(tmp_path: Path) -> None:
    other = ModelId(b"\x22" * 32)
    artifacts = _artifacts(tmp_path / ("0x" + other.hex()))
    artifacts.directory.mkdir()
    write_manifest(artifacts)  # the manifest says MODEL, the folder is other's
    with pytest.raises(ZkArtifactsInvalid, match="holds artifacts of model 0x1111"):
        load_artifacts(tmp_path, other)


# -- input checks before any proving ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [([1, 2, 3], "takes 4 input values"), ([1, 2, 3, 2**63], "int64"), ([1, 2, 3, 2**53], "beyond 2\\^53")],
)
def test_prove_refuses_bad_inputs_before_proving(tmp_path: Path, values: list[int], message: str) -> None:
    with pytest.raises(ZkInputInvalid, match=message):
        prove(_artifacts(tmp_path / "a"), values)


def test_step_times_records_each_step() -> None:
    times = StepTimes()
    with times.step("a"):
        pass
    with times.step("a"):
        pass
    assert set(times.seconds) == {"a"}
    assert times.seconds["a"] >= 0.0
