"""Pure parsers of provider statements: a file's bytes in, rows and refusals out.

Each parser reads one documented shape and says, per row, what the provider claims one
model used or cost on one UTC day (or for one request). Amounts stay Decimal in the
file's currency (JSON is parsed with parse_float=Decimal, so a JSON number is never a
float); tokens are turned into our usage records' disjoint kinds. Whether the model is
known and what the amount is in the contract's currency is the import service's
business (it needs the catalogue and the contract). A file that is not the shape at all
raises StatementMalformed; a row that is not is a Refusal, and the other rows import.

  openai_usage    GET /v1/organization/usage/completions (group_by=model), pages of
                  buckets: input_tokens (cached included), input_cached_tokens,
                  output_tokens (reasoning included), num_model_requests, model
  openai_costs    GET /v1/organization/costs (group_by=line_item): amount.value (USD,
                  a JSON number), line_item "<model>, input" and the like
  anthropic_usage /v1/organizations/usage_report/messages (group_by[]=model):
                  uncached_input_tokens, cache_creation.ephemeral_{5m,1h}_input_tokens,
                  cache_read_input_tokens, output_tokens
  anthropic_costs /v1/organizations/cost_report (group_by[]=description): amount in
                  cents as a decimal string, currency, model, token_type
  openrouter_generations  generation records (GET /api/v1/generation, whole or their
                  `data`), a list or {"data": [...]}: id, created_at, model,
                  native_tokens_* (what OpenRouter bills), total_cost
  openrouter_activity     GET /api/v1/activity: date, model, usage (USD), requests,
                  prompt_tokens, completion_tokens, reasoning_tokens
  focus_csv       a FOCUS-style CSV: ChargePeriodStart, BilledCost, model, tokens, and
                  optionally BillingCurrency, requests, token_type, ResourceId, SkuId
"""

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from settlement.errors import StatementMalformed

ROW_TEXT_MAX = 2000
ROWS_MAX = 1_000_000  # a statement is a month of buckets; a bigger file is refused whole
FILE_BYTES_MAX = 200 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Row:
    locator: str
    raw: str
    kind: str  # "usage" | "cost"
    row_key: str
    usage_day: date
    model: str
    request_id: str = ""
    requests: int | None = None
    tokens_split: bool = True
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    total_tokens: int | None = None
    amount: Decimal | None = None  # in `currency`'s major units
    currency: str = ""
    source_amount: str = ""


@dataclass(frozen=True, slots=True)
class Refusal:
    locator: str
    raw: str
    reason_code: str
    reason: str


@dataclass(slots=True)
class Parsed:
    rows: list[Row] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    # Days the buckets span, [start, end): empty buckets count (a day with no usage).
    period_start: date | None = None
    period_end: date | None = None

    def cover(self, start: date, end: date) -> None:
        self.period_start = start if self.period_start is None else min(self.period_start, start)
        self.period_end = end if self.period_end is None else max(self.period_end, end)


class _Bad(Exception):
    """A row is not as documented (turned into a Refusal)."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


def _text(value) -> str:
    return json.dumps(value, default=str, sort_keys=True)[:ROW_TEXT_MAX]


def load_json(content: bytes):
    if len(content) > FILE_BYTES_MAX:
        raise StatementMalformed(f"a statement is at most {FILE_BYTES_MAX} bytes")
    try:
        return json.loads(content.decode("utf-8"), parse_float=Decimal, parse_constant=_no_nan)
    except (UnicodeDecodeError, ValueError) as exc:
        raise StatementMalformed(f"the file is not JSON: {exc}") from exc


def _no_nan(name: str):
    raise ValueError(f"{name} is not a number")


def _int(data: dict, name: str, *, required: bool = True) -> int | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if type(value) is not int or value < 0:
        raise _Bad("invalid_row", f"{name} must be a whole number of at least 0, not {value!r}")
    return value


def _str(data: dict, name: str, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise _Bad("invalid_row", f"{name} must be a non-empty string, not {value!r}")
    return value.strip()


def _decimal(value, name: str) -> Decimal:
    # A JSON number arrives as Decimal (parse_float) or int; a string is parsed exactly.
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise _Bad("invalid_amount", f"{name} must be a number, not {value!r}")
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise _Bad("invalid_amount", f"{name} is not a decimal number: {value!r}") from exc
    if not amount.is_finite() or amount < 0:
        raise _Bad("invalid_amount", f"{name} must be a finite amount of at least 0: {value!r}")
    return amount


def _day_of_unix(value, name: str) -> date:
    if type(value) is not int or not 0 <= value < 2**37:
        raise _Bad("invalid_row", f"{name} must be Unix seconds, not {value!r}")
    return datetime.fromtimestamp(value, UTC).date()


def _day_of_iso(value, name: str) -> date:
    if not isinstance(value, str):
        raise _Bad("invalid_row", f"{name} must be an ISO 8601 time, not {value!r}")
    text = value.strip().replace("Z", "+00:00")
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise _Bad("invalid_row", f"{name} is not an ISO 8601 time: {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # providers report UTC
    return moment.astimezone(UTC).date()


def _pages(document) -> list:
    """The buckets of one page or of a list of pages (a month is several)."""
    pages = document if isinstance(document, list) else [document]
    buckets = []
    for page in pages:
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise StatementMalformed("each page is an object with a `data` list of buckets")
        buckets.extend(page["data"])
    return buckets


def _buckets(
    document, parsed: Parsed, start_key: str, end_key: str, day_of
) -> Iterator[tuple[str, date, object]]:
    for b, bucket in enumerate(_pages(document)):
        where = f"data[{b}]"
        try:
            if not isinstance(bucket, dict) or not isinstance(bucket.get("results"), list):
                raise _Bad("invalid_bucket", "a bucket is an object with a `results` list")
            start = day_of(bucket.get(start_key), start_key)
            end = day_of(bucket.get(end_key), end_key)
            if end <= start:
                end = start + timedelta(days=1)
        except _Bad as bad:
            parsed.refusals.append(Refusal(where, _text(bucket), bad.code, bad.reason))
            continue
        parsed.cover(start, end)
        for r, result in enumerate(bucket["results"]):
            yield f"{where}.results[{r}]", start, result


def _each(parsed: Parsed, items, build) -> None:
    if len(parsed.rows) + len(parsed.refusals) > ROWS_MAX:
        raise StatementMalformed(f"a statement has at most {ROWS_MAX} rows")
    for locator, day, item in items:
        try:
            if not isinstance(item, dict):
                raise _Bad("invalid_row", "a row is a JSON object")
            parsed.rows.append(build(locator, day, item))
        except _Bad as bad:
            parsed.refusals.append(Refusal(locator, _text(item), bad.code, bad.reason))


def _row_key(day: date, item: dict, *names: str) -> str:
    """The provider's identity of a bucket's row: its day and the fields it is grouped by."""
    return "|".join([day.isoformat(), *(str(item.get(name) or "") for name in names)])


def _bucketed(content: bytes, build, start_key: str, end_key: str, day_of) -> Parsed:
    parsed = Parsed()
    _each(parsed, _buckets(load_json(content), parsed, start_key, end_key, day_of), build)
    return parsed


def parse_openai_usage(content: bytes) -> Parsed:
    def build(locator, day, item) -> Row:
        model = _str(item, "model")
        inputs = _int(item, "input_tokens")
        cached = _int(item, "input_cached_tokens", required=False) or 0
        if cached > inputs:
            raise _Bad("invalid_row", "input_cached_tokens exceeds input_tokens")
        output = _int(item, "output_tokens")
        audio_in = _int(item, "input_audio_tokens", required=False) or 0
        audio_out = _int(item, "output_audio_tokens", required=False) or 0
        return Row(
            locator,
            _text(item),
            "usage",
            _row_key(day, item, "model", "project_id", "user_id", "api_key_id", "batch"),
            day,
            model,
            requests=_int(item, "num_model_requests", required=False),
            input_tokens=inputs - cached + audio_in,
            output_tokens=output + audio_out,
            cache_read_tokens=cached,
            cache_write_tokens=0,
            total_tokens=inputs + output + audio_in + audio_out,
        )

    return _bucketed(content, build, "start_time", "end_time", _day_of_unix)


def parse_openai_costs(content: bytes) -> Parsed:
    def build(locator, day, item) -> Row:
        amount = item.get("amount")
        if not isinstance(amount, dict):
            raise _Bad("invalid_amount", "amount is an object {value, currency}")
        line_item = item.get("line_item")
        if not isinstance(line_item, str) or not line_item.strip():
            raise _Bad(
                "no_model",
                "the cost has no line_item naming a model (fetch costs with group_by=line_item)",
            )
        # "gpt-4o-2024-08-06, input", "gpt-4o-mini, cached input", "o3, output"...
        model = line_item.split(",")[0].strip()
        value = _decimal(amount.get("value"), "amount.value")
        return Row(
            locator,
            _text(item),
            "cost",
            _row_key(day, item, "line_item", "project_id"),
            day,
            model,
            amount=value,
            currency=_str(amount, "currency").upper(),
            source_amount=str(value),
        )

    return _bucketed(content, build, "start_time", "end_time", _day_of_unix)


def parse_anthropic_usage(content: bytes) -> Parsed:
    def build(locator, day, item) -> Row:
        model = _str(item, "model", required=False)
        if not model:
            raise _Bad("no_model", "the row has no model (fetch with group_by[]=model)")
        creation = item.get("cache_creation") or {}
        if not isinstance(creation, dict):
            raise _Bad("invalid_row", "cache_creation is an object")
        uncached = _int(item, "uncached_input_tokens")
        written = (_int(creation, "ephemeral_5m_input_tokens", required=False) or 0) + (
            _int(creation, "ephemeral_1h_input_tokens", required=False) or 0
        )
        read = _int(item, "cache_read_input_tokens", required=False) or 0
        output = _int(item, "output_tokens")
        return Row(
            locator,
            _text(item),
            "usage",
            _row_key(
                day,
                item,
                "model",
                "api_key_id",
                "workspace_id",
                "service_tier",
                "context_window",
                "inference_geo",
            ),
            day,
            model,
            input_tokens=uncached,
            output_tokens=output,
            cache_read_tokens=read,
            cache_write_tokens=written,
            total_tokens=uncached + written + read + output,
        )

    return _bucketed(content, build, "starting_at", "ending_at", _day_of_iso)


CENTS = Decimal(100)


def parse_anthropic_costs(content: bytes) -> Parsed:
    def build(locator, day, item) -> Row:
        model = _str(item, "model", required=False)
        if not model:
            kind = item.get("cost_type") or "unknown"
            raise _Bad("no_model", f"a cost of no model (cost_type {kind}) is not token usage")
        cents = item.get("amount")
        if not isinstance(cents, str):
            raise _Bad("invalid_amount", f"amount is cents as a decimal string, not {cents!r}")
        value = _decimal(cents, "amount") / CENTS
        return Row(
            locator,
            _text(item),
            "cost",
            _row_key(
                day,
                item,
                "model",
                "description",
                "cost_type",
                "token_type",
                "workspace_id",
                "service_tier",
                "context_window",
                "inference_geo",
            ),
            day,
            model,
            amount=value,
            currency=_str(item, "currency").upper(),
            source_amount=f"{cents} cents",
        )

    return _bucketed(content, build, "starting_at", "ending_at", _day_of_iso)


def parse_openrouter_generations(content: bytes) -> Parsed:
    document = load_json(content)
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        document = document["data"]
    if not isinstance(document, list):
        raise StatementMalformed('generation records are a JSON list or {"data": [...]}')
    parsed = Parsed()

    def items():
        for n, record in enumerate(document):
            # A whole GET /generation answer, or its `data`.
            if isinstance(record, dict) and isinstance(record.get("data"), dict):
                record = record["data"]
            yield f"[{n}]", None, record

    def build(locator, _day, item) -> Row:
        generation = _str(item, "id")
        day = _day_of_iso(item.get("created_at"), "created_at")
        prompt = _int(item, "native_tokens_prompt", required=False)
        if prompt is None:
            prompt = _int(item, "tokens_prompt")
        completion = _int(item, "native_tokens_completion", required=False)
        if completion is None:
            completion = _int(item, "tokens_completion")
        reasoning = _int(item, "native_tokens_reasoning", required=False) or 0
        cached = _int(item, "native_tokens_cached", required=False) or 0
        if cached > prompt:
            raise _Bad("invalid_row", "native_tokens_cached exceeds native_tokens_prompt")
        cost = _decimal(item.get("total_cost"), "total_cost")
        parsed.cover(day, day + timedelta(days=1))
        return Row(
            locator,
            _text(item),
            "cost",
            f"generation|{generation}",
            day,
            _str(item, "model"),
            request_id=generation,
            requests=1,
            input_tokens=prompt - cached,
            output_tokens=completion + reasoning,
            cache_read_tokens=cached,
            cache_write_tokens=0,
            total_tokens=prompt + completion + reasoning,
            amount=cost,
            currency="USD",  # OpenRouter bills in US dollars
            source_amount=str(cost),
        )

    _each(parsed, items(), build)
    return parsed


def parse_openrouter_activity(content: bytes) -> Parsed:
    document = load_json(content)
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise StatementMalformed('daily activity is {"data": [...]}')
    parsed = Parsed()

    def build(locator, _day, item) -> Row:
        day = _day_of_iso((item.get("date") or "")[:10] or None, "date")
        usage = _decimal(item.get("usage"), "usage")
        prompt = _int(item, "prompt_tokens")
        completion = _int(item, "completion_tokens")
        reasoning = _int(item, "reasoning_tokens", required=False) or 0
        parsed.cover(day, day + timedelta(days=1))
        return Row(
            locator,
            _text(item),
            "cost",
            "|".join(
                [
                    "activity",
                    day.isoformat(),
                    _str(item, "model"),
                    str(item.get("endpoint_id") or ""),
                    str(item.get("provider_name") or ""),
                ]
            ),
            day,
            _str(item, "model"),
            requests=_int(item, "requests", required=False),
            input_tokens=prompt,
            output_tokens=completion + reasoning,
            # OpenRouter's activity counts cached prompt tokens inside prompt_tokens.
            cache_read_tokens=0,
            cache_write_tokens=0,
            total_tokens=prompt + completion + reasoning,
            amount=usage,
            currency="USD",
            source_amount=str(usage),
        )

    _each(parsed, ((f"data[{n}]", None, i) for n, i in enumerate(document["data"])), build)
    return parsed


FOCUS_REQUIRED = ("ChargePeriodStart", "BilledCost", "model", "tokens")
_FOCUS_KINDS = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cache_read": "cache_read_tokens",
    "cache_write": "cache_write_tokens",
}


def parse_focus_csv(content: bytes, *, default_currency: str = "") -> Parsed:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StatementMalformed(f"the CSV is not UTF-8: {exc}") from exc
    if "\x00" in text:
        raise StatementMalformed("the CSV holds a NUL character")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [name for name in FOCUS_REQUIRED if name not in (reader.fieldnames or [])]
    if missing:
        raise StatementMalformed(
            f"the CSV lacks the column(s) {', '.join(missing)}",
            details={"missing": missing, "required": list(FOCUS_REQUIRED)},
        )
    parsed = Parsed()

    def items():
        for n, record in enumerate(reader):
            yield f"line {n + 2}", None, record

    def build(locator, _day, item) -> Row:
        if None in item:
            raise _Bad("invalid_row", "the line has more cells than the header")
        day = _day_of_iso(item.get("ChargePeriodStart"), "ChargePeriodStart")
        cost = _decimal((item.get("BilledCost") or "").strip(), "BilledCost")
        tokens_text = (item.get("tokens") or "").strip()
        if not tokens_text.isdigit():
            raise _Bad("invalid_row", f"tokens must be a whole number, not {tokens_text!r}")
        tokens = int(tokens_text)
        kind = (item.get("token_type") or "").strip()
        if kind and kind not in _FOCUS_KINDS:
            raise _Bad(
                "invalid_row", f"token_type is one of {', '.join(_FOCUS_KINDS)}, not {kind!r}"
            )
        requests_text = (item.get("requests") or "").strip()
        if requests_text and not requests_text.isdigit():
            raise _Bad("invalid_row", f"requests must be a whole number, not {requests_text!r}")
        currency = (item.get("BillingCurrency") or "").strip().upper() or default_currency
        model = (item.get("model") or "").strip()
        if not model:
            raise _Bad("invalid_row", "model is empty")
        parsed.cover(day, day + timedelta(days=1))
        kinds = {name: None for name in _FOCUS_KINDS.values()}
        if kind:
            kinds = {name: 0 for name in _FOCUS_KINDS.values()} | {_FOCUS_KINDS[kind]: tokens}
        return Row(
            locator,
            _text(item),
            "cost",
            "|".join(
                [
                    "focus",
                    (item.get("ChargePeriodStart") or "").strip(),
                    model,
                    kind,
                    (item.get("ResourceId") or "").strip(),
                    (item.get("SkuId") or "").strip(),
                ]
            ),
            day,
            model,
            requests=int(requests_text) if requests_text else None,
            tokens_split=False,
            total_tokens=tokens,
            amount=cost,
            currency=currency,
            source_amount=str(cost),
            **kinds,
        )

    _each(parsed, items(), build)
    return parsed


PARSERS = {
    "openai_usage": parse_openai_usage,
    "openai_costs": parse_openai_costs,
    "anthropic_usage": parse_anthropic_usage,
    "anthropic_costs": parse_anthropic_costs,
    "openrouter_generations": parse_openrouter_generations,
    "openrouter_activity": parse_openrouter_activity,
    "focus_csv": parse_focus_csv,
}


def detect_format(content: bytes) -> str:
    """The format of a file, from its documented markers (a CSV when it is not JSON)."""
    stripped = content.lstrip()
    if stripped[:1] not in (b"{", b"["):
        return "focus_csv"
    document = load_json(content)
    first = document[0] if isinstance(document, list) and document else document
    if isinstance(first, dict) and isinstance(first.get("data"), dict):
        return "openrouter_generations"
    if isinstance(first, dict) and "total_cost" in first:
        return "openrouter_generations"
    data = first.get("data") if isinstance(first, dict) else None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        sample = data[0]
        if "total_cost" in sample:
            return "openrouter_generations"
        if "date" in sample and "usage" in sample:
            return "openrouter_activity"
        results = [r for b in data if isinstance(b, dict) for r in b.get("results") or []]
        result = results[0] if results and isinstance(results[0], dict) else {}
        obj = str(result.get("object", ""))
        if obj.startswith("organization.usage.completions") or "num_model_requests" in result:
            return "openai_usage"
        if obj.startswith("organization.costs") or isinstance(result.get("amount"), dict):
            return "openai_costs"
        if "uncached_input_tokens" in result:
            return "anthropic_usage"
        if isinstance(result.get("amount"), str):
            return "anthropic_costs"
    raise StatementMalformed("the file is none of the statement formats (say which: format)")
