"""Finding and loading the forge build output, and what a user is told when it is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verinfer.chain import artifacts
from verinfer.chain.artifacts import find_repo_root, load_artifact
from verinfer.errors import ArtifactError

# Reads the real build output: built once per session if missing.
pytestmark = pytest.mark.usefixtures("forge_build")

ROOT = Path(__file__).resolve().parents[3]


def test_finds_the_repository_and_its_out_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(artifacts.ENV_VAR, raising=False)
    assert find_repo_root(ROOT / "node" / "verinfer") == ROOT
    assert artifacts.artifacts_dir() == ROOT / "out"


def test_loads_abi_and_bytecode() -> None:
    hub = load_artifact("InferenceHub")
    assert hub.source == "contracts/InferenceHub.sol"
    assert hub.deployable
    assert any(e.get("name") == "requestInference" for e in hub.abi)
    assert not load_artifact("IInferenceHub").deployable


def test_missing_build_output_says_how_to_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(artifacts.ENV_VAR, str(tmp_path / "out"))
    with pytest.raises(ArtifactError, match=r"no contract build output at .*out: build the contracts with") as caught:
        load_artifact("InferenceHub")
    assert "forge build" in str(caught.value)
    assert "scripts/setup.sh" in str(caught.value)


def test_missing_contract_says_how_to_build(tmp_path: Path) -> None:
    (tmp_path / "Other.sol").mkdir()
    with pytest.raises(ArtifactError, match=r"no artifact for contract 'InferenceHub'.*forge build"):
        load_artifact("InferenceHub", tmp_path)


def _write(out: Path, file: str, name: str, abi: list[object], bytecode: str = "0x6001") -> None:
    (out / file).mkdir(parents=True, exist_ok=True)
    (out / file / f"{name}.json").write_text(json.dumps({"abi": abi, "bytecode": {"object": bytecode}}))


def test_ambiguous_names_need_the_file(tmp_path: Path) -> None:
    _write(tmp_path, "A.sol", "Twin", [])
    _write(tmp_path, "B.sol", "Twin", [{"type": "error", "name": "E", "inputs": []}])
    with pytest.raises(ArtifactError, match=r"ambiguous; name one of: A.sol:Twin, B.sol:Twin"):
        load_artifact("Twin", tmp_path)
    assert load_artifact("B.sol:Twin", tmp_path).abi[0]["name"] == "E"
    assert load_artifact("A.sol:Twin", tmp_path).bytecode == b"\x60\x01"


def test_corrupt_artifact(tmp_path: Path) -> None:
    (tmp_path / "C.sol").mkdir()
    (tmp_path / "C.sol" / "C.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="unreadable artifact"):
        load_artifact("C", tmp_path)


def test_no_foundry_toml_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(artifacts.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(artifacts, "find_repo_root", lambda start=None: None)
    with pytest.raises(ArtifactError, match=r"no foundry\.toml"):
        artifacts.artifacts_dir()


# ---------------------------------------------------------------------------------------------------------------------
# The ABIs shipped in the package
# ---------------------------------------------------------------------------------------------------------------------


def test_packaged_abis_equal_the_build_output() -> None:
    stale = artifacts.stale_packaged_abis()
    assert not stale, (
        f"the ABIs in node/verinfer/abi/ differ from the forge build output for {', '.join(stale)}: "
        f"regenerate them with `{artifacts.REGENERATE_ABIS}` and commit the result"
    )
    for name in artifacts.PACKAGED_ABIS:
        assert artifacts.load_abi(name) == load_artifact(name).abi, name


def test_stale_check_sees_a_changed_abi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The equality test above is only as good as this check: point the package at a copy and change one entry.
    copy = tmp_path / "abi"
    artifacts.write_packaged_abis(dest=copy)
    monkeypatch.setattr(artifacts, "packaged_abi_dir", lambda: copy)
    assert artifacts.stale_packaged_abis() == []
    hub = json.loads((copy / "InferenceHub.json").read_text())
    (copy / "InferenceHub.json").write_text(artifacts.abi_text(hub[1:]))
    (copy / "Leftover.json").write_text("[]\n")
    assert artifacts.stale_packaged_abis() == ["InferenceHub", "Leftover"]


def test_packaged_abis_need_no_build_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(artifacts.ENV_VAR, str(tmp_path / "no-out"))
    monkeypatch.chdir(tmp_path)
    hub = artifacts.packaged_artifact("InferenceHub")
    assert any(e.get("name") == "requestInference" for e in hub.abi)
    assert not hub.deployable  # binding only: deploying needs the build output's bytecode
    with pytest.raises(ArtifactError, match=r"ships no ABI for 'CodecHarness'.*load_artifact\('CodecHarness'\)"):
        artifacts.load_abi("CodecHarness")
