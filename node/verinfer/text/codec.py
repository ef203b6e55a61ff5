"""The bytes a text request and its answer travel as (docs/text.md, "On chain").

A prompt: a 2-byte big-endian `max_new_tokens` (0: the bundle's bound) then the prompt's UTF-8 bytes. A text
classifier's input is the UTF-8 text alone. An answer: a 4-byte big-endian count n, n token ids of 4 bytes each
(big-endian), then the decoded text's UTF-8 bytes. The ids are what nodes agree on; the text is derived from them and
carried so a dApp reads it without a tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass

from verinfer.errors import CodecError

PROMPT_HEADER = 2
ID_BYTES = 4
MAX_NEW_TOKENS = (1 << 16) - 1


def encode_prompt(prompt: str, max_new_tokens: int = 0) -> bytes:
    if not 0 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise CodecError(f"max_new_tokens is 0 (the model's bound) to {MAX_NEW_TOKENS}, got {max_new_tokens}")
    return max_new_tokens.to_bytes(PROMPT_HEADER, "big") + prompt.encode()


def decode_prompt(data: bytes) -> tuple[str, int]:
    """(prompt, max_new_tokens) of a generation request's input; 0 asks for the model's bound."""
    if len(data) < PROMPT_HEADER:
        raise CodecError(f"a prompt is {PROMPT_HEADER} bytes of max_new_tokens then UTF-8 text; got {len(data)} bytes")
    return decode_text(data[PROMPT_HEADER:]), int.from_bytes(data[:PROMPT_HEADER], "big")


def decode_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CodecError(f"the input is not UTF-8 text: {exc}") from exc


@dataclass(frozen=True)
class Answer:
    token_ids: tuple[int, ...]
    text: str


def encode_answer(token_ids: tuple[int, ...] | list[int], text: str) -> bytes:
    if any(not 0 <= i < 1 << 32 for i in token_ids):
        raise CodecError(f"a token id is a 32-bit unsigned integer: {list(token_ids)}")
    ids = b"".join(i.to_bytes(ID_BYTES, "big") for i in token_ids)
    return len(token_ids).to_bytes(ID_BYTES, "big") + ids + text.encode()


def decode_answer(data: bytes) -> Answer:
    if len(data) < ID_BYTES:
        raise CodecError(f"an answer starts with a {ID_BYTES}-byte token count; got {len(data)} bytes")
    n = int.from_bytes(data[:ID_BYTES], "big")
    end = ID_BYTES * (1 + n)
    if len(data) < end:
        raise CodecError(f"the answer counts {n} token ids ({end} bytes with the count) but has {len(data)} bytes")
    ids = tuple(int.from_bytes(data[i : i + ID_BYTES], "big") for i in range(ID_BYTES, end, ID_BYTES))
    return Answer(ids, decode_text(data[end:]))


def answer_bound(max_new_tokens: int, longest_token_bytes: int) -> int:
    """The most bytes an answer of at most `max_new_tokens` tokens can take: register the output bound at least this."""
    return ID_BYTES + max_new_tokens * (ID_BYTES + longest_token_bytes)
