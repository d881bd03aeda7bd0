"""adapt_message's fast paths (cached header checks, pydantic-core's JSON parser first)
answer exactly as json.loads and a per-message check would."""

import json

import pytest

from metering.adapters import _json_record, adapt_message
from metering.schema import InvalidUsageEvent
from tests.metering.test_native_ingest import openai_record

ARGS = {"source": "test-gw", "customer": "acme"}
# Inputs where the two parsers could part ways: all must read as json.loads reads them.
ODD_JSON = [
    b'{"a":123456789012345678901234567890}',
    b'{"a":NaN,"b":Infinity,"c":-Infinity}',
    b'{"a":-0.0,"b":1e400,"c":-1e-400,"d":1E5}',
    b'{"a":1,"a":2}',
    b'{"a":"\\ud800"}',  # a lone surrogate: json takes it, pydantic-core does not
    b'\xef\xbb\xbf{"a":1}',  # a UTF-8 BOM
    '{"a":1}'.encode("utf-16"),
    '{"a":1}'.encode("utf-32"),
    b'{"a":"\\ud83d\\ude00","b":"\\u0000"}',
    b'{"a":0.1,"b":2.675,"c":1718900000.123456,"d":5e-324}',
]
NOT_JSON = [b"", b'{"a":1,}', b'{"a":01}', b'{"a":"\xff"}', b'{"a":1} x', b"[" * 100_000]


@pytest.mark.parametrize("value", ODD_JSON)
def test_a_record_reads_as_json_loads_reads_it(value):
    parsed = _json_record(value)
    expected = json.loads(value)
    assert repr(parsed) == repr(expected)  # repr: NaN != NaN, -0.0 == 0.0
    assert [type(v) for v in parsed.values()] == [type(v) for v in expected.values()]


@pytest.mark.parametrize("value", NOT_JSON, ids=lambda v: repr(v[:12]))
def test_what_json_refuses_is_refused_never_raised(value):
    with pytest.raises(InvalidUsageEvent, match="not JSON"):
        adapt_message("openai", value, ARGS)


def test_a_bom_prefixed_record_still_adapts():
    record = openai_record()
    event = adapt_message("openai", b"\xef\xbb\xbf" + json.dumps(record).encode(), ARGS)
    assert (event.event_id, event.metadata["adapter"]) == (record["id"], "openai")


def test_a_bad_header_is_refused_every_time_and_good_ones_do_not_leak_between_calls():
    value = json.dumps(openai_record()).encode()
    for _ in range(2):  # the second call meets the cache
        with pytest.raises(InvalidUsageEvent, match="occurred_at"):
            adapt_message("openai", value, {**ARGS, "occurred_at": "yesterday"})
    first = adapt_message("openai", value, ARGS)
    second = adapt_message("openai", value, {**ARGS, "customer": "globex"})
    assert (first.customer, second.customer) == ("acme", "globex")
    assert first.metadata == second.metadata
