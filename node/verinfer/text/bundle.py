"""Model bundles: several files (ONNX graphs, tokenizer, generation config) named by one id.

A bundle's manifest lists every file with its relative path, keccak256 and size. Its canonical encoding (docs/text.md)
is JSON with sorted keys, no whitespace, UTF-8, the files sorted by path; the bundle id is keccak256 of those bytes.
So a manifest written in any order or layout names the same bundle, and a bundle whose files differ in one byte is
another bundle. A single-file ONNX model is not a bundle: its id stays keccak256 of the file.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from eth_hash.auto import keccak

from verinfer.errors import ModelError

MANIFEST_NAME = "verinfer-bundle.json"
MANIFEST_VERSION = 1


class BundleError(ModelError):
    """A bundle or its manifest is unusable (the subclass says why)."""


class BundleManifestError(BundleError):
    """The manifest is not a valid bundle manifest."""


class BundleFileMissingError(BundleError):
    """A file the manifest lists is not in the bundle."""


class BundleFileMismatchError(BundleError):
    """A file's size or keccak256 differs from the manifest."""


class BundleExtraFileError(BundleError):
    """The bundle directory holds a file the manifest does not list (the id would not cover it)."""


class BundleIdMismatchError(BundleError):
    """The manifest is not the bundle the expected id names."""


@dataclass(frozen=True)
class BundleFile:
    path: str
    """Relative POSIX path inside the bundle."""
    keccak256: bytes
    size: int


@dataclass(frozen=True)
class Manifest:
    files: tuple[BundleFile, ...]
    """Sorted by path (UTF-8 bytes)."""

    def canonical(self) -> bytes:
        """The canonical encoding: the bytes the bundle id hashes."""
        document = {
            "files": [{"keccak256": "0x" + f.keccak256.hex(), "path": f.path, "size": f.size} for f in self.files],
            "version": MANIFEST_VERSION,
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @property
    def bundle_id(self) -> bytes:
        return bytes(keccak(self.canonical()))

    def file(self, path: str) -> BundleFile:
        for entry in self.files:
            if entry.path == path:
                return entry
        raise BundleFileMissingError(f"the bundle has no file {path!r}; it lists {[f.path for f in self.files]}")


def _check_path(path: object) -> str:
    if not isinstance(path, str) or not path:
        raise BundleManifestError(f"a file path is a non-empty string, got {path!r}")
    parts = PurePosixPath(path).parts
    if (
        "\\" in path
        or path.startswith("/")
        or any(part in ("", ".", "..") for part in path.split("/"))
        or str(PurePosixPath(*parts)) != path
    ):
        raise BundleManifestError(
            f"file path {path!r} must be relative, with '/' separators and no '.', '..' or empty parts"
        )
    if path == MANIFEST_NAME:
        raise BundleManifestError(f"the manifest does not list itself ({MANIFEST_NAME})")
    return path


def _sort_key(entry: BundleFile) -> bytes:
    return entry.path.encode()


def parse_manifest(data: bytes | str) -> Manifest:
    """A manifest from its JSON, in any key order or layout; every field is checked."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleManifestError(f"the bundle manifest is not JSON: {exc}") from exc
    if not isinstance(document, dict) or set(document) != {"files", "version"}:
        raise BundleManifestError('a bundle manifest is {"files": [...], "version": 1} and nothing else')
    if document["version"] != MANIFEST_VERSION or isinstance(document["version"], bool):
        raise BundleManifestError(f"unknown bundle manifest version {document['version']!r}; this node reads 1")
    if not isinstance(document["files"], list) or not document["files"]:
        raise BundleManifestError("a bundle manifest lists at least one file")
    files = [_parse_entry(entry) for entry in document["files"]]
    paths = [entry.path for entry in files]
    duplicates = sorted({p for p in paths if paths.count(p) > 1})
    if duplicates:
        raise BundleManifestError(f"the manifest lists {duplicates} more than once")
    return Manifest(tuple(sorted(files, key=_sort_key)))


def _parse_entry(entry: Any) -> BundleFile:
    if not isinstance(entry, dict) or set(entry) != {"path", "keccak256", "size"}:
        raise BundleManifestError(f'a file entry is {{"path", "keccak256", "size"}}, got {entry!r}')
    path = _check_path(entry["path"])
    digest = entry["keccak256"]
    if not isinstance(digest, str) or len(digest) != 66 or not digest.startswith("0x") or digest != digest.lower():
        raise BundleManifestError(f"{path}: keccak256 is 0x + 64 lowercase hex digits, got {digest!r}")
    try:
        raw = bytes.fromhex(digest[2:])
    except ValueError as exc:
        raise BundleManifestError(f"{path}: keccak256 {digest!r} is not hex") from exc
    size = entry["size"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise BundleManifestError(f"{path}: size is a non-negative integer, got {size!r}")
    return BundleFile(path, raw, size)


def _files_under(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.relative_to(root).as_posix()
    )


def build_manifest(root: Path | str) -> Manifest:
    """The manifest of every file under `root` (except the manifest itself)."""
    root = Path(root)
    entries = []
    for rel in _files_under(root):
        if rel == MANIFEST_NAME:
            continue
        data = (root / rel).read_bytes()
        entries.append(BundleFile(_check_path(rel), bytes(keccak(data)), len(data)))
    if not entries:
        raise BundleManifestError(f"{root} holds no files to bundle")
    return Manifest(tuple(sorted(entries, key=_sort_key)))


def write_manifest(root: Path | str) -> bytes:
    """Writes the canonical manifest of `root` into it as verinfer-bundle.json; returns the bundle id."""
    manifest = build_manifest(root)
    (Path(root) / MANIFEST_NAME).write_bytes(manifest.canonical())
    return manifest.bundle_id


def _local_path(base: Path | str) -> Path:
    if isinstance(base, Path):
        return base
    parts = urlsplit(base)
    if parts.scheme == "":
        return Path(base)
    if parts.scheme != "file":
        raise BundleError(
            f"cannot read bundle {base!r} in place: only local directories and file:// URIs are; fetch an "
            "http(s) bundle with fetch_bundle (the node's model store)"
        )
    if parts.netloc not in ("", "localhost"):
        raise BundleError(f"{base!r} names host {parts.netloc!r}: a file URI is file:///absolute/path")
    return Path(url2pathname(unquote(parts.path)))


@dataclass(frozen=True)
class Bundle:
    """A checked bundle: every file listed is there with its size and hash, and nothing else is."""

    root: Path
    manifest: Manifest

    @property
    def bundle_id(self) -> bytes:
        return self.manifest.bundle_id

    def read(self, path: str) -> bytes:
        """A file's bytes, hashed again as they are read (so what the caller gets is what the id names)."""
        return _read_checked(self.root, self.manifest.file(path))

    def has(self, path: str) -> bool:
        return any(entry.path == path for entry in self.manifest.files)


def _read_checked(root: Path, entry: BundleFile) -> bytes:
    where = root / entry.path
    try:
        data = where.read_bytes()
    except FileNotFoundError as exc:
        raise BundleFileMissingError(
            f"{entry.path}: listed in the manifest but missing from {root}; copy the file back "
            "or rebuild the manifest (that makes another bundle id)"
        ) from exc
    except OSError as exc:
        raise BundleError(f"{entry.path}: cannot read {where}: {exc}") from exc
    if len(data) != entry.size:
        raise BundleFileMismatchError(
            f"{entry.path}: {len(data)} bytes, the manifest says {entry.size}; the file changed since the bundle "
            "was built: restore it, or rebuild the manifest and register the new bundle id"
        )
    actual = bytes(keccak(data))
    if actual != entry.keccak256:
        raise BundleFileMismatchError(
            f"{entry.path}: keccak256 0x{actual.hex()}, the manifest says 0x{entry.keccak256.hex()}; the file "
            "changed since the bundle was built: restore it, or rebuild the manifest and register the new bundle id"
        )
    return data


def load_bundle(base: Path | str, expected_id: bytes | None = None, *, manifest: bytes | str | None = None) -> Bundle:
    """Reads and checks the bundle at `base` (a directory or a file:// URI): the manifest (given, or the one at
    base/verinfer-bundle.json) against `expected_id`, then every file it lists, and that the directory holds no other
    file."""
    root = _local_path(base)
    if manifest is None:
        try:
            manifest = (root / MANIFEST_NAME).read_bytes()
        except OSError as exc:
            raise BundleManifestError(
                f"cannot read the bundle manifest {root / MANIFEST_NAME}: {exc.strerror or exc}; "
                "write it with verinfer.text.bundle.write_manifest"
            ) from exc
    parsed = parse_manifest(manifest)
    if expected_id is not None and parsed.bundle_id != bytes(expected_id):
        raise BundleIdMismatchError(
            f"the manifest at {base} is bundle 0x{parsed.bundle_id.hex()}, not 0x{bytes(expected_id).hex()}: "
            "point the entry at the bundle it names, or register this bundle's id"
        )
    for entry in parsed.files:
        _read_checked(root, entry)
    listed = {entry.path for entry in parsed.files} | {MANIFEST_NAME}
    extra = [rel for rel in _files_under(root) if rel not in listed]
    if extra:
        raise BundleExtraFileError(
            f"{root} holds {extra}, which the manifest does not list (the bundle id would not cover them): "
            "remove them, or rebuild the manifest to include them (that makes another bundle id)"
        )
    return Bundle(root, parsed)


def single_file_id(path: Path | str) -> bytes:
    """The id of a single-file ONNX model: keccak256 of the file, as before bundles."""
    return bytes(keccak(Path(path).read_bytes()))


MANIFEST_LIMIT = 1 << 20
"""The largest manifest fetched: a list of files, so a megabyte is thousands of them."""


class Fetcher(Protocol):
    """What fetching a bundle needs of the node's model store (`verinfer.inference.model_store.ModelStore`)."""

    max_bytes: int
    limit_name: str

    def bundle_dir(self, bundle_id: bytes) -> Path: ...

    def fetch_to(self, uri: str, target: Path, limit: int) -> tuple[int, bytes]: ...


def fetch_bundle(store: Fetcher, bundle_id: bytes, base_uri: str) -> Bundle:
    """The checked bundle `bundle_id`, from the store's cache or fetched from `base_uri` (a directory URI: file://,
    http:// or https://): the manifest at base/verinfer-bundle.json first, whose canonical keccak256 must be the id,
    then every file it lists at base/path, each bounded by its listed size as it arrives and checked against its
    keccak256; all files together are bounded by the store's `max_bytes`. Nothing is cached unless all of it checks,
    and the cached directory is checked again, every file, each time it is loaded."""
    bundle_id = bytes(bundle_id)
    final = store.bundle_dir(bundle_id)
    if (final / MANIFEST_NAME).is_file():
        try:
            return load_bundle(final, bundle_id)
        except BundleError:
            shutil.rmtree(final, ignore_errors=True)  # a damaged cache entry is fetched again
    base = base_uri if base_uri.endswith("/") else base_uri + "/"
    parent = final.parent
    try:
        staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{bundle_id.hex()[:16]}.", suffix=".part"))
    except OSError as exc:
        raise BundleError(f"cannot write into the model cache {parent}: {exc}") from exc
    try:
        store.fetch_to(base + MANIFEST_NAME, staging / MANIFEST_NAME, MANIFEST_LIMIT)
        manifest = parse_manifest((staging / MANIFEST_NAME).read_bytes())
        if manifest.bundle_id != bundle_id:
            raise BundleIdMismatchError(
                f"the manifest at {base}{MANIFEST_NAME} is bundle 0x{manifest.bundle_id.hex()}, not "
                f"0x{bundle_id.hex()}: point the entry at the bundle it names, or register this bundle's id"
            )
        total = sum(entry.size for entry in manifest.files)
        if total > store.max_bytes:
            raise BundleError(
                f"bundle 0x{bundle_id.hex()} lists {total} bytes of files, over the {store.max_bytes}-byte limit: "
                f"raise {store.limit_name} if it is expected"
            )
        for entry in manifest.files:
            target = staging / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            size, digest = store.fetch_to(base + entry.path, target, entry.size)
            if size != entry.size or digest != entry.keccak256:
                raise BundleFileMismatchError(
                    f"{base}{entry.path}: {size} bytes with keccak256 0x{digest.hex()}, the manifest says "
                    f"{entry.size} bytes and 0x{entry.keccak256.hex()}: the host serves another file"
                )
        staging.replace(final)
    except OSError as exc:
        raise BundleError(f"cannot write bundle 0x{bundle_id.hex()} into the cache {parent}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return load_bundle(final, bundle_id)
