"""Canonical JSON and the chain's hash: what every event's hash is made of."""

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from config.text import is_storable_text
from ledger import canonical
from ledger.errors import InvalidEvent

# Text PostgreSQL can store: everything but U+0000 (refused, see the NUL tests below).
texts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20
)
json_scalars = st.none() | st.booleans() | st.integers() | texts
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=25,
)


@given(st.dictionaries(texts, json_values, max_size=6))
def test_plain_payloads_are_sorted_compact_and_round_trip(payload):
    text = canonical.canonical_json(payload)
    assert text == json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(text) == payload


@given(
    st.dictionaries(texts, json_values, min_size=1, max_size=4),
    st.floats(allow_nan=False),
)
def test_a_float_anywhere_is_refused_by_its_path(payload, number):
    key = sorted(payload)[0]
    payload[key] = [{"deep": number}]
    with pytest.raises(InvalidEvent, match=re.escape(f"$.{key}[0].deep is a float")):
        canonical.canonical_json(payload)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"a": {1: "x"}}, r"payload key \$\.a\.1 is not a string"),
        ({"a": Decimal("1.5")}, r"\$\.a has unsupported type Decimal"),
        ({"a": [datetime.now(UTC)]}, r"\$\.a\[0\] has unsupported type datetime"),
    ],
)
def test_other_non_json_values_are_named(payload, message):
    with pytest.raises(InvalidEvent, match=message):
        canonical.canonical_json(payload)


def test_tuples_encode_as_lists():
    assert canonical.canonical_json({"b": (1, 2), "a": None}) == '{"a":null,"b":[1,2]}'


@pytest.mark.django_db
def test_the_chain_hash_is_the_documented_text_in_two_parts():
    """The append hashes in PostgreSQL (ledger_event_hash) from Python's tail: together
    they must make exactly this text (see migrations/sql/0008_append.sql)."""
    moment = datetime(2026, 11, 29, 17, 0, 1, 5, tzinfo=timezone(timedelta(hours=8)))
    fields = {
        "event_type": "ledger.transfer",
        "idempotency_key": "k-1",
        "input_hash_hex": "ab" * 32,
        "payload_json": '{"memo":"Überweisung"}',
        "occurred_at": moment,
        "recorded_at": moment + timedelta(seconds=1),
        "actor": "test",
    }
    text = (
        f"{'0' * 64}\n7\nledger.transfer\nk-1\n{'ab' * 32}\n"
        "2026-11-29T09:00:01.000005+00:00\n2026-11-29T09:00:02.000005+00:00\ntest\n"
        '{"memo":"Überweisung"}'
    )
    expected = hashlib.sha256(text.encode()).hexdigest()
    tail = canonical.chain_hash_tail(**fields)
    with connection.cursor() as cursor:
        cursor.execute("SELECT ledger_event_hash(%s, %s, %s)", ["0" * 64, 7, tail])
        assert cursor.fetchone()[0] == expected


def test_naive_timestamps_are_refused_every_time():
    naive = datetime(2026, 1, 1)
    for _ in range(2):  # the memo of timestamp texts must not swallow the refusal
        with pytest.raises(InvalidEvent, match="timezone-aware"):
            canonical.timestamp_text(naive)


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"entries": [{"memo": "a\x00b"}]}, "$.entries[0].memo"),
        ({"meta": {"k\x00": 1}}, "$.meta (a key)"),
    ],
)
def test_the_nul_character_is_refused_by_its_path(payload, where):
    """jsonb cannot hold U+0000: refused here with a clear error, not by the database."""
    with pytest.raises(InvalidEvent, match=re.escape(f"payload text at {where} contains the NUL")):
        canonical.canonical_json(payload)


def test_an_escaped_backslash_before_u0000_is_plain_text():
    text = canonical.canonical_json({"memo": "C:\\u0000"})
    assert json.loads(text) == {"memo": "C:\\u0000"}


def test_text_that_is_not_unicode_is_refused():
    with pytest.raises(InvalidEvent, match="lone surrogate"):
        canonical.canonical_json({"memo": "a\ud800"})
    assert not is_storable_text("k\udfff")
    assert not is_storable_text("k\x00")
    assert is_storable_text("Überweisung 转账 😀")
