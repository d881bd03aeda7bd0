"""The one usage event every gateway's record becomes, and the only way bytes become one.

A `UsageEvent` says: this gateway (`source`) served this request (`event_id`) for this
customer at this moment, on this upstream `provider` and `model`, and it used these
tokens. Adapters in `metering.adapters` turn each gateway's own record into one; a
gateway that speaks this schema natively sends it as JSON (Kafka topic `usage.events`
or HTTP `POST /v1/usage`), and `parse_usage_event` reads it.

Token counts are DISJOINT, so rating can price each kind at its own rate and never
count a token twice:

- `input`: prompt tokens read fresh, excluding cache reads and cache writes;
- `cache_read`: prompt tokens served from the provider's prompt cache;
- `cache_write`: prompt tokens written to the provider's prompt cache;
- `output`: generated tokens, excluding reasoning tokens;
- `reasoning`: generated reasoning ("thinking") tokens the provider reports apart.

`tokens.total` is their sum: what OpenAI calls `total_tokens`. Providers count these
differently (OpenAI's `prompt_tokens` includes cached tokens, Anthropic's
`input_tokens` does not); the adapters' docstrings say how each one maps.

Every bad input becomes `InvalidUsageEvent` with a stable `code` and a short `reason`
naming the bad fields, so the consumer can dead-letter it and go on; never anything
else. Strict means strict: no numbers as strings, no bools or floats as counts, no
naive timestamps, no unknown fields (a typo must not silently drop a count).
"""

import datetime as dt
from typing import Annotated, Any, Final, Literal

import pydantic_core
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from config.errors import DomainError
from config.text import NUL, NUL_ESCAPE

SCHEMA_VERSION: Final = 1

# Error codes: short, stable, machine-readable (dead-letter headers, metrics, API errors).
MALFORMED_JSON: Final = "malformed_json"
SCHEMA_VIOLATION: Final = "schema_violation"
UNSUPPORTED_SCHEMA_VERSION: Final = "unsupported_schema_version"
INCONSISTENT_USAGE: Final = "inconsistent_usage"  # counts that contradict each other
NOT_BILLABLE: Final = "not_billable"  # a well-formed record of a call that served nothing
UNKNOWN_ADAPTER: Final = "unknown_adapter"
ERROR_CODES: Final = frozenset(
    {
        MALFORMED_JSON,
        SCHEMA_VIOLATION,
        UNSUPPORTED_SCHEMA_VERSION,
        INCONSISTENT_USAGE,
        NOT_BILLABLE,
        UNKNOWN_ADAPTER,
    }
)

TOKENS_MAX: Final = 10**9  # per kind and event; far above any context window
IDENTIFIER_CHARS_MAX: Final = 200
GATEWAY_ID_CHARS_MAX: Final = 64
PROVIDER_ID_CHARS_MAX: Final = 64
METADATA_KEYS_MAX: Final = 32
METADATA_KEY_CHARS_MAX: Final = 64
METADATA_VALUE_CHARS_MAX: Final = 1000
METADATA_INT_MIN, METADATA_INT_MAX = -(2**63), 2**63 - 1  # what every JSON reader can hold
# Garbage guard, not a lateness rule: a timestamp outside this window is a unit or
# parsing mistake upstream (milliseconds read as seconds, a zero date), never a real call.
OCCURRED_AT_MIN: Final = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
OCCURRED_AT_MAX: Final = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
REASON_CHARS_MAX: Final = 1000
REASON_ERRORS_MAX: Final = 8
PATH_PART_CHARS_MAX: Final = 64

# Secret keys of LiteLLM (virtual keys), OpenAI, Anthropic, OpenRouter and DeepSeek start
# with "sk-": a value like that in `api_key` is a leaked secret, not a key id.
SECRET_KEY_PREFIXES: Final = ("sk-",)


class MeteringError(DomainError):
    code = "metering_error"


class InvalidUsageEvent(MeteringError, ValueError):
    """A record that cannot become a `UsageEvent`: bad input, not a bug.

    `code` is one of `ERROR_CODES`; `reason` is a short human sentence naming the bad
    field(s); `fields` lists their dotted paths. None of them echo field values, so a
    secret sent by mistake does not travel on into logs and dead-letter headers.
    """

    code = SCHEMA_VIOLATION

    def __init__(self, reason: str, *, code: str = SCHEMA_VIOLATION, fields: tuple[str, ...] = ()):
        assert code in ERROR_CODES, code
        reason = _clip(reason, REASON_CHARS_MAX)
        super().__init__(reason, details={"fields": list(fields)} if fields else None)
        self.code = code
        self.reason = reason
        self.fields = tuple(fields)

    def __reduce__(self):
        # Keyword-only arguments do not survive the default pickling of exceptions.
        return (_rebuild_invalid_usage_event, (self.reason, self.code, self.fields))

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


def not_billable_reason(event: "UsageEvent") -> str | None:
    """Why a valid event bills nothing, or None: every token count zero means the call
    served nothing (a refused or failed request), so there is no usage to record."""
    if event.tokens.total == 0:
        return "tokens: every count is zero; a call that served nothing is not billable"
    return None


def _rebuild_invalid_usage_event(reason: str, code: str, fields: tuple[str, ...]):
    return InvalidUsageEvent(reason, code=code, fields=fields)


def _clip(text: str, chars_max: int) -> str:
    return text if len(text) <= chars_max else text[: chars_max - 1] + "…"


def _not_a_secret(value: str | None) -> str | None:
    if value is not None and value.lower().startswith(SECRET_KEY_PREFIXES):
        raise ValueError("looks like a secret key; send the key's id or hash instead")
    return value


Identifier = Annotated[str, StringConstraints(min_length=1, max_length=IDENTIFIER_CHARS_MAX)]
# A gateway id is half of every dedupe key: no spaces or look-alike variants.
GatewayId = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=GATEWAY_ID_CHARS_MAX, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$"
    ),
]
# LiteLLM's `litellm_provider` spelling ("openai", "vertex_ai", "dashscope", ...), so the
# price map and settlement join on one id per provider.
ProviderId = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=PROVIDER_ID_CHARS_MAX, pattern=r"^[a-z0-9][a-z0-9_.\-]*$"
    ),
]
TokenCount = Annotated[int, Field(ge=0, le=TOKENS_MAX)]
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=METADATA_KEY_CHARS_MAX)]
MetadataValue = (
    Annotated[str, StringConstraints(max_length=METADATA_VALUE_CHARS_MAX)]
    | Annotated[int, Field(ge=METADATA_INT_MIN, le=METADATA_INT_MAX)]
    | bool
    | None
)
Metadata = dict[MetadataKey, MetadataValue]

_STRICT = ConfigDict(strict=True, frozen=True, extra="forbid")


class TokenCounts(BaseModel):
    """Disjoint token counts of one request; see the module docstring."""

    model_config = _STRICT

    input: TokenCount
    output: TokenCount
    cache_read: TokenCount
    cache_write: TokenCount
    reasoning: TokenCount

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write + self.reasoning


class UsageEvent(BaseModel):
    """One metered request, as the metering consumer rates and books it (schema v1)."""

    model_config = _STRICT

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: Identifier  # the upstream response id by default (chatcmpl-…, msg_…, gen-…)
    source: GatewayId  # the gateway that served the call, e.g. "litellm-prod"
    # Kept with the offset it was sent with; compare instants, not wall clocks. The window
    # is checked in pydantic's core: a Python validator here would cost half the parse.
    occurred_at: Annotated[AwareDatetime, Field(ge=OCCURRED_AT_MIN, lt=OCCURRED_AT_MAX)]
    customer: Identifier
    api_key: Annotated[Identifier | None, AfterValidator(_not_a_secret)] = None  # a key id
    model: Identifier  # as the provider names it, e.g. "gpt-4o-2024-08-06"
    provider: ProviderId  # whom we owe for the call, e.g. "openai", "openrouter"
    upstream_request_id: Identifier | None = None
    tokens: TokenCounts
    authorization_id: Identifier | None = None  # a wallet hold to capture
    metadata: Metadata = Field(default_factory=dict, max_length=METADATA_KEYS_MAX)

    @field_validator("schema_version", mode="before")
    @classmethod
    def _schema_version_is_an_integer(cls, value: Any) -> Any:
        # Literal[1] alone would take `true` and `1.0` for 1.
        if type(value) is not int:
            raise ValueError("must be the integer 1")
        return value

    @property
    def dedupe_key(self) -> tuple[str, str]:
        """Two records with the same key are the same call, whatever else they say."""
        return (self.source, self.event_id)


_validate_json = UsageEvent.model_validate_json
_validate_python = UsageEvent.model_validate

# PostgreSQL text cannot hold U+0000: an event carrying one would fail its whole batch at
# COPY, again after every restart. JSON can only carry it escaped, so the precise check
# runs only when the raw text has the escape (source and provider patterns exclude it).
_FREE_TEXT_FIELDS: Final = (
    "event_id",
    "customer",
    "api_key",
    "model",
    "upstream_request_id",
    "authorization_id",
)


def _refuse_nul(event: UsageEvent) -> UsageEvent:
    fields = [name for name in _FREE_TEXT_FIELDS if NUL in (getattr(event, name) or "")]
    fields += [
        f"metadata.{_clip(key, PATH_PART_CHARS_MAX)}"
        for key, value in event.metadata.items()
        if NUL in key or (type(value) is str and NUL in value)
    ]
    if fields:
        raise InvalidUsageEvent(
            f"{', '.join(fields)}: must not contain the NUL character (U+0000)",
            fields=tuple(fields),
        )
    return event


def parse_usage_event(raw: bytes | str | dict) -> UsageEvent:
    """Read one event: a Kafka message value, an HTTP body, or its decoded JSON object.

    Raises `InvalidUsageEvent` and nothing else, whatever the input. Bytes and str go
    straight to pydantic's JSON validator (the fast path); a dict is first serialised
    to JSON so that it meets exactly the same rules (a timestamp arrives as a string).
    """
    if isinstance(raw, bytes | str):
        data = raw
    elif isinstance(raw, dict):
        try:
            data = pydantic_core.to_json(raw)
        except Exception as exc:  # any unserialisable object: the caller's bad input
            raise InvalidUsageEvent(
                f"event is not JSON-serialisable ({type(exc).__name__})"
            ) from None
    elif isinstance(raw, bytearray | memoryview):
        data = bytes(raw)
    else:
        raise InvalidUsageEvent(
            f"expected JSON bytes, str or dict, got {type(raw).__name__}", code=MALFORMED_JSON
        )
    try:
        event = _validate_json(data)
    except ValidationError as exc:
        raise invalid_from_validation_error(exc) from None
    escape = NUL_ESCAPE.encode() if isinstance(data, bytes) else NUL_ESCAPE
    return _refuse_nul(event) if escape in data else event


def build_usage_event(fields: dict[str, Any], *, may_hold_nul: bool = True) -> UsageEvent:
    """Validate an event built in Python (by an adapter): same rules, `InvalidUsageEvent`.
    `may_hold_nul=False`: the caller knows no string in `fields` holds U+0000 (its JSON
    had no escape), so the NUL check, a third of this call, is left out."""
    try:
        event = _validate_python(fields)
    except ValidationError as exc:
        raise invalid_from_validation_error(exc) from None
    return _refuse_nul(event) if may_hold_nul else event


_UNION_BRANCH_TAGS: Final = frozenset(
    {"str", "int", "bool", "none", "constrained-str", "constrained-int"}
)
_FRIENDLY: Final = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "int_type": "must be an integer",
    "string_type": "must be a string",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "timezone_aware": "must carry a timezone offset (naive timestamps are refused)",
    "datetime_type": "must be an RFC 3339 date-time string with a timezone offset",
    "datetime_parsing": "must be an RFC 3339 date-time string with a timezone offset",
    "datetime_from_date_parsing": "must be an RFC 3339 date-time string with a timezone offset",
}
_PATTERN_HINTS: Final = {
    ("source",): "must be a gateway id of letters, digits and _ . : - (e.g. 'litellm-prod')",
    ("provider",): "must be a lower-case provider id as LiteLLM spells it (e.g. 'openai')",
}


def invalid_from_validation_error(exc: ValidationError) -> InvalidUsageEvent:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    for error in errors:
        if error["type"] in ("json_invalid", "string_unicode") and not error["loc"]:
            return InvalidUsageEvent(f"not valid JSON: {error['msg']}", code=MALFORMED_JSON)
    for error in errors:
        if error["loc"][:1] == ("schema_version",):
            return InvalidUsageEvent(
                f"schema_version: unsupported (this reader knows version {SCHEMA_VERSION})",
                code=UNSUPPORTED_SCHEMA_VERSION,
                fields=("schema_version",),
            )
    # Keyed by the full location: two long field names may share a clipped prefix.
    described: dict[tuple[Any, ...], str] = {}
    for error in errors:
        loc, message = _describe(error)
        described.setdefault(loc, message)
    shown = list(described.items())[:REASON_ERRORS_MAX]
    parts = [f"{_path(loc)}: {message}" for loc, message in shown]
    if len(described) > REASON_ERRORS_MAX:
        parts.append(f"(+{len(described) - REASON_ERRORS_MAX} more)")
    return InvalidUsageEvent(
        "; ".join(parts), code=SCHEMA_VIOLATION, fields=tuple(_path(loc) for loc, _ in shown)
    )


def _describe(error: Any) -> tuple[tuple[Any, ...], str]:
    """The location to name and what is wrong there, in words that echo no input."""
    loc = tuple(error["loc"])
    if not loc:
        return ("event",), "must be a JSON object"
    if loc[0] == "metadata" and len(loc) == 3 and loc[2] in _UNION_BRANCH_TAGS:
        # One bad value fails every branch of the union; say it once.
        return loc[:2], (
            f"must be a string (at most {METADATA_VALUE_CHARS_MAX} characters), "
            "a 64-bit integer, a boolean or null"
        )
    if loc[0] == "metadata" and loc[-1] == "[key]":
        return loc[:-1], f"key must have 1 to {METADATA_KEY_CHARS_MAX} characters"
    message = _FRIENDLY.get(error["type"])
    if error["type"] == "greater_than_equal" and loc[0] == "tokens":
        message = "must not be negative"
    elif error["type"] == "string_pattern_mismatch":
        message = _PATTERN_HINTS.get(loc)
    if message is None:
        message = error["msg"].removeprefix("Value error, ")
    return loc, message


def _path(loc: tuple[Any, ...]) -> str:
    return ".".join(_clip(str(part), PATH_PART_CHARS_MAX) for part in loc)
