"""Canonical JSON and the hashes of the event log (Formance's IdempotencyHash and chain).

The canonical form sorts keys and has no insignificant whitespace, so the same payload
always hashes the same whether it comes from Python or back from PostgreSQL's jsonb.
Floats are refused: money in a payload is an integer amount in the asset's scale, or a
decimal string.
"""

import functools
import hashlib
import json
from datetime import UTC, datetime

from config.text import NUL, NUL_ESCAPE, is_valid_unicode
from ledger.errors import InvalidEvent

GENESIS_HASH = "0" * 64
# One encoder for every payload: json.dumps with options builds a new one per call.
_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)

_SCALARS = (str, int, bool, type(None))
_LEAF_TYPES = frozenset(_SCALARS)


def _is_plain_json(value) -> bool:
    """The fast check every payload gets (a loop: recursion cost more on every
    transfer); the path-naming walk below runs only on failure."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            for key, child in item.items():
                if type(key) is not str:
                    return False
                if type(child) not in _LEAF_TYPES:
                    pending.append(child)
        elif kind is list or kind is tuple:
            pending.extend(item)
        elif kind not in _LEAF_TYPES:
            return False
    return True


def _check_json_value(value, path: str) -> None:
    """Walk a payload and raise InvalidEvent naming the first value JSON or PostgreSQL
    cannot take (a non-string key, a float, another type, text holding U+0000)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidEvent(f"payload key {path}.{key!r} is not a string")
            _refuse_nul(key, f"{path} (a key)")
            _check_json_value(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_json_value(item, f"{path}[{index}]")
    elif isinstance(value, float):
        raise InvalidEvent(
            f"payload value at {path} is a float; use an integer amount or a decimal string"
        )
    elif not isinstance(value, _SCALARS):
        raise InvalidEvent(f"payload value at {path} has unsupported type {type(value).__name__}")
    elif isinstance(value, str):
        _refuse_nul(value, path)


def _refuse_nul(text: str, path: str) -> None:
    if NUL in text:
        raise InvalidEvent(
            f"payload text at {path} contains the NUL character (U+0000), "
            "which PostgreSQL cannot store"
        )


def canonical_json(payload: dict) -> str:
    if not _is_plain_json(payload):
        _check_json_value(payload, "$")  # raises, naming the offending value
    text = _CANONICAL_ENCODER.encode(payload)
    if NUL_ESCAPE in text:  # rare: then find out whether it spells a real U+0000
        _check_json_value(payload, "$")
    # The encoder escapes U+0000, so what the text can still hold is a lone surrogate.
    if not is_valid_unicode(text):
        raise InvalidEvent("payload text is not valid Unicode (a lone surrogate)")
    return text


@functools.lru_cache(maxsize=4096)  # a batch's events share their recording time
def timestamp_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise InvalidEvent("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def input_hash(event_type: str, payload_json: str) -> str:
    """What an idempotency key stands for: the same key must always mean this input.

    The recording time is not part of it, so a client's retry of the same request is
    recognised as the same input.
    """
    text = f"{event_type}\n{payload_json}"
    return hashlib.sha256(text.encode()).hexdigest()


def chain_hash_tail(
    *,
    event_type: str,
    idempotency_key: str,
    input_hash_hex: str,
    payload_json: str,
    occurred_at: datetime,
    recorded_at: datetime,
    actor: str,
) -> str:
    """The part of an event's hashed text that does not depend on its place in the chain.

    The append sends it to PostgreSQL, whose `ledger_event_hash` (see
    migrations/sql/0008_append.sql) prefixes the head's hash and the sequence the event
    takes under the chain lock: sha256(prev_hash + "\n" + sequence + "\n" + tail). That
    function is the only definition of the chain's part; ledger_verify calls it too.
    """
    return "\n".join(
        (
            event_type,
            idempotency_key,
            input_hash_hex,
            timestamp_text(occurred_at),
            timestamp_text(recorded_at),
            actor,
            payload_json,
        )
    )
