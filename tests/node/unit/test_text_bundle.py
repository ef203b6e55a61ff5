"""Model bundles: the id covers the canonical manifest, and loading checks every file it lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_hash.auto import keccak

from verinfer.text.bundle import (
    MANIFEST_NAME,
    BundleExtraFileError,
    BundleFileMismatchError,
    BundleFileMissingError,
    BundleIdMismatchError,
    BundleManifestError,
    load_bundle,
    parse_manifest,
    single_file_id,
    write_manifest,
)


def _bundle(root: Path) -> bytes:
    (root / "tokenizer").mkdir(parents=True)
    (root / "decoder.onnx").write_bytes(b"\x08\x07graph bytes")
    (root / "tokenizer" / "tokenizer.json").write_text('{"model": "bytes"}')
    (root / "generation.json").write_text('{"max_new_tokens": 16}')
    return write_manifest(root)


def test_bundle_manifest_hash_checks_every_file(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    bundle_id = _bundle(root)
    bundle = load_bundle(root, bundle_id)
    assert bundle.bundle_id == bundle_id == bytes(keccak((root / MANIFEST_NAME).read_bytes()))
    assert [f.path for f in bundle.manifest.files] == ["decoder.onnx", "generation.json", "tokenizer/tokenizer.json"]
    assert load_bundle(root.as_uri(), bundle_id).bundle_id == bundle_id  # file:// URI

    # A reordered, re-indented manifest names the same bundle.
    document = json.loads((root / MANIFEST_NAME).read_bytes())
    document["files"].reverse()
    document["files"] = [dict(reversed(list(entry.items()))) for entry in document["files"]]
    reordered = json.dumps(document, indent=2)
    assert reordered.encode() != (root / MANIFEST_NAME).read_bytes()
    assert parse_manifest(reordered).bundle_id == bundle_id
    assert load_bundle(root, bundle_id, manifest=reordered).bundle_id == bundle_id

    # A manifest for another id.
    with pytest.raises(BundleIdMismatchError, match="not 0x" + "11" * 32):
        load_bundle(root, b"\x11" * 32)

    # Tampered file, same size: the hash names the file.
    original = (root / "generation.json").read_bytes()
    (root / "generation.json").write_bytes(original.replace(b"16", b"99"))
    with pytest.raises(BundleFileMismatchError, match=r"generation\.json: keccak256 .* restore it"):
        load_bundle(root, bundle_id)
    # Changed size.
    (root / "generation.json").write_bytes(original + b" ")
    with pytest.raises(BundleFileMismatchError, match=rf"generation\.json: {len(original) + 1} bytes, .* says"):
        load_bundle(root, bundle_id)
    (root / "generation.json").write_bytes(original)

    # Missing file.
    tokenizer = (root / "tokenizer" / "tokenizer.json").read_bytes()
    (root / "tokenizer" / "tokenizer.json").unlink()
    with pytest.raises(BundleFileMissingError, match=r"tokenizer/tokenizer\.json: listed in the manifest but missing"):
        load_bundle(root, bundle_id)
    (root / "tokenizer" / "tokenizer.json").write_bytes(tokenizer)

    # Extra file: the id would not cover it.
    (root / "tokenizer" / "vocab.txt").write_text("stray")
    with pytest.raises(BundleExtraFileError, match=r"tokenizer/vocab\.txt"):
        load_bundle(root, bundle_id)
    (root / "tokenizer" / "vocab.txt").unlink()

    # A file read after loading is hashed again.
    bundle = load_bundle(root, bundle_id)
    (root / "decoder.onnx").write_bytes(b"\x08\x07graph bytez")
    with pytest.raises(BundleFileMismatchError, match=r"decoder\.onnx"):
        bundle.read("decoder.onnx")

    # A single-file ONNX model keeps id = keccak256 of the file.
    assert single_file_id(root / "decoder.onnx") == bytes(keccak(b"\x08\x07graph bytez"))


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ('{"files": [], "version": 1}', "at least one file"),
        ('{"files": [{"path": "a", "keccak256": "0x00", "size": 1}], "version": 1}', "64 lowercase hex"),
        ('{"files": [{"path": "../a", "keccak256": "0x' + "0" * 64 + '", "size": 1}], "version": 1}', "relative"),
        ('{"files": [{"path": "a", "keccak256": "0x' + "0" * 64 + '", "size": -1}], "version": 1}', "non-negative"),
        ('{"files": [{"path": "a", "keccak256": "0x' + "0" * 64 + '", "size": 1}], "version": 2}', "version 2"),
        ("not json", "not JSON"),
    ],
)
def test_bad_manifests_say_what_is_wrong(manifest: str, message: str) -> None:
    with pytest.raises(BundleManifestError, match=message):
        parse_manifest(manifest)
