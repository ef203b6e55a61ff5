"""Text <-> token ids: a bundle's tokenizer.json through the `tokenizers` library, or bytes when it has none."""

from __future__ import annotations

from typing import Protocol

from verinfer.errors import ModelError, requires_extra


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


class ByteTokenizer:
    """One token per UTF-8 byte (ids 0-255); decoding replaces an incomplete or invalid sequence with U+FFFD."""

    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode())

    def decode(self, ids: list[int]) -> str:
        if any(not 0 <= i < 256 for i in ids):
            raise ModelError(f"a byte-level token id is 0-255, got {[i for i in ids if not 0 <= i < 256][:5]}")
        return bytes(ids).decode("utf-8", errors="replace")


class JsonTokenizer:
    """A Hugging Face tokenizer.json, run by the `tokenizers` library (Rust, deterministic: no sampling, no dropout
    at inference). Special tokens are not added on encode: the bundle's prompt is the text, as given."""

    def __init__(self, data: bytes) -> None:
        with requires_extra("a tokenizer.json", "text"):
            from tokenizers import Tokenizer as _Tokenizer  # optional, and heavy for the SDK's face
        try:
            self._tokenizer = _Tokenizer.from_str(data.decode())
        except Exception as exc:  # the library raises a bare Exception for a malformed file
            raise ModelError(f"tokenizer.json cannot be loaded by the tokenizers library: {exc}") from exc
        self.vocab_size = int(self._tokenizer.get_vocab_size(with_added_tokens=True))

    def encode(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: list[int]) -> str:
        return str(self._tokenizer.decode(ids, skip_special_tokens=False))
