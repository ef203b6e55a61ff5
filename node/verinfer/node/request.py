"""What a job's `params` hold: the complete `RequestParams` the hub hashed, stored once at ingestion (the event's
fields plus the model terms the hub hashes: output size, env restriction), so no stage asks the hub again.

The bytes are the struct's eleven static ABI words in Solidity field order, exactly as `submitResults` lays them out
(so the submit stage copies them into calldata as they are); a unit test pins them to eth_abi.
"""

from __future__ import annotations

from functools import lru_cache

from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak

from verinfer.chain.events import InferenceRequested
from verinfer.node.journal import Job, JournalError
from verinfer.types import UINT32_MAX, UINT64_MAX, Mode, ModelId, ModelTerms, RequestParams, checksum

PARAMS_BYTES = 11 * 32
DECODED_CACHE = 32_768
"""Decoded params kept (a few MB): each job's are read at compute, submit and track, several times while it waits
for its lottery window, and decoding (validation, checksum keccak) costs ~20 µs each time."""
_MODES = frozenset(Mode)
_WORD_BOUND = 2**256
LEGACY_PARAMS_BYTES = 8 * 32
"""Journals of schema 3 stored only the event's eight static words (requestId, modelId, requester, fee, deadline,
callbackGasLimit, mode, redundancy); `legacy_params` completes them with the model's terms."""


def encode_params(p: RequestParams) -> bytes:
    return _pack(
        p.model_id,
        p.input_hash,
        bytes.fromhex(p.requester[2:]),
        p.fee,
        p.deadline,
        p.callback_gas_limit,
        p.output_bytes,
        int(p.mode),
        p.redundancy,
        p.env_restricted,
        p.lottery,
    )


def _pack(
    model_id: bytes,
    input_hash: bytes,
    requester: bytes,
    fee: int,
    deadline: int,
    callback_gas_limit: int,
    output_bytes: int,
    mode: int,
    redundancy: int,
    env_restricted: bool,
    lottery: int,
) -> bytes:
    """The eleven words in RequestParams' field order (the one layout `encode_params` and `event_params` share)."""
    return b"".join(
        (
            model_id,
            input_hash,
            bytes(12) + requester,
            _word(fee),
            _word(deadline),
            _word(callback_gas_limit),
            _word(output_bytes),
            _word(mode),
            _word(redundancy),
            _word(int(env_restricted)),
            _word(lottery),
        )
    )


def decode_params(data: bytes) -> RequestParams:
    """The inverse of `encode_params`; JournalError for bytes of another shape. The same bytes decode to the same
    (frozen) value, so it is cached."""
    if len(data) != PARAMS_BYTES:
        raise JournalError(
            f"request params are {len(data)} bytes, expected {PARAMS_BYTES}"
            + (
                ": a schema 3 journal row the node completes at start-up (Ingest.complete_legacy)"
                if len(data) == LEGACY_PARAMS_BYTES
                else ""
            )
        )
    return _decode(bytes(data))


@lru_cache(maxsize=DECODED_CACHE)
def _decode(data: bytes) -> RequestParams:
    word = [int.from_bytes(data[i : i + 32], "big") for i in range(0, PARAMS_BYTES, 32)]
    return RequestParams(
        model_id=ModelId(data[0:32]),
        input_hash=data[32:64],
        requester=_address(data[76:96]),
        fee=word[3],
        deadline=word[4],
        callback_gas_limit=word[5],
        output_bytes=word[6],
        mode=Mode(word[7]),
        redundancy=word[8],
        env_restricted=bool(word[9]),
        lottery=word[10],
    )


def params_of(job: Job) -> RequestParams:
    """The request a job serves, as the hub hashed it."""
    try:
        return decode_params(job.params)
    except JournalError as exc:
        raise JournalError(f"job {job.request_id}: {exc}") from exc


def event_params(event: InferenceRequested, terms: ModelTerms) -> bytes:
    """What ingestion stores for an event: its complete params (`event.params(terms)`), encoded.

    Laid out straight from the event's fields when they are in range (as a decoded log's always are): ingestion
    encodes thousands a second, and building the validated `RequestParams` first (two checksum keccaks among its
    checks) cost as much as the rest of ingestion. Anything out of range takes that path, and its error."""
    if (
        len(event.model_id) == 32
        and len(event.requester) == 42
        and 0 <= event.fee < _WORD_BOUND
        and 0 <= event.deadline <= UINT64_MAX
        and 0 <= event.callback_gas_limit <= UINT32_MAX
        and 0 <= terms.output_bytes <= UINT32_MAX
        and event.mode in _MODES
        and 0 <= event.redundancy <= 255
        and 0 <= event.lottery < _WORD_BOUND
    ):
        try:
            requester = bytes.fromhex(event.requester[2:])
        except ValueError:
            pass  # not hex: RequestParams names the problem
        else:
            return _pack(
                event.model_id,
                keccak(event.input),
                requester,
                event.fee,
                event.deadline,
                event.callback_gas_limit,
                terms.output_bytes,
                int(event.mode),
                event.redundancy,
                terms.env_restricted,
                event.lottery,
            )
    return encode_params(event.params(terms))


def legacy_params(job: Job, terms: ModelTerms) -> bytes:
    """A schema 3 row's eight event words completed with the model's terms (input hash from the job's input)."""
    p = job.params
    if len(p) != LEGACY_PARAMS_BYTES:
        raise JournalError(f"job {job.request_id}: params are {len(p)} bytes, not a schema 3 row's 256")
    word = [int.from_bytes(p[i : i + 32], "big") for i in range(0, LEGACY_PARAMS_BYTES, 32)]
    return encode_params(
        RequestParams(
            model_id=ModelId(p[32:64]),
            input_hash=bytes(keccak(job.input)),
            requester=_address(p[76:96]),
            fee=word[3],
            deadline=word[4],
            callback_gas_limit=word[5],
            output_bytes=terms.output_bytes,
            mode=Mode(word[6]),
            redundancy=word[7],
            env_restricted=terms.env_restricted,
            # Schema 3 rows predate the lottery (and the hub that has one): their requests cannot be delivered to a
            # lottery hub, whose parameter hash they would fail.
            lottery=0,
        )
    )


def legacy_model_id(job: Job) -> bytes:
    """The model of a schema 3 row (its second word)."""
    return job.params[32:64]


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _address(raw: bytes) -> ChecksumAddress:
    return checksum(raw)
