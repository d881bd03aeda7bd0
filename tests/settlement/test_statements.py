"""Provider statements: each documented shape parsed exactly (no floats), every row
imported or refused with its reason, a re-import changing nothing."""

import hashlib
from datetime import date
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from settlement.errors import StatementMalformed, UnknownContract
from settlement.statements import parsers
from settlement.statements.models import Statement, StatementLine, StatementRefusal
from settlement.statements.services import statement_import

FIXTURES = Path(__file__).parent / "fixtures"
JUNE_1 = date(2026, 6, 1)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# --- parsers (pure) --------------------------------------------------------------------


def test_openai_usage_turns_into_our_disjoint_token_kinds():
    parsed = parsers.parse_openai_usage(fixture("openai_usage_completions.json"))
    assert (parsed.period_start, parsed.period_end) == (JUNE_1, date(2026, 6, 3))
    first = parsed.rows[0]
    assert (first.kind, first.usage_day, first.model, first.requests) == (
        "usage",
        JUNE_1,
        "gpt-4o",
        5,
    )
    # input_tokens counts the cached ones: ours are disjoint.
    assert (first.input_tokens, first.cache_read_tokens, first.output_tokens) == (1000, 4000, 1200)
    assert first.total_tokens == 6200
    # The model is judged by the import (catalogue), the negative count here.
    assert [r.model for r in parsed.rows] == ["gpt-4o", "gpt-9-imaginary"]
    [bad] = parsed.refusals
    assert bad.locator == "data[0].results[2]" and bad.reason_code == "invalid_row"
    assert "input_tokens" in bad.reason


def test_openai_costs_are_exact_decimals_never_floats():
    parsed = parsers.parse_openai_costs(fixture("openai_costs.json"))
    amounts = [row.amount for row in parsed.rows]
    assert amounts == [Decimal("0.06"), Decimal("0.0000000012345")]
    assert all(type(a) is Decimal for a in amounts)
    assert [r.model for r in parsed.rows] == ["gpt-4o", "gpt-4o"]
    assert parsed.rows[0].row_key != parsed.rows[1].row_key  # input and output lines
    [no_model] = parsed.refusals
    assert no_model.reason_code == "no_model" and "group_by=line_item" in no_model.reason


def test_anthropic_costs_are_cents_as_decimal_strings():
    parsed = parsers.parse_anthropic_costs(fixture("anthropic_cost_report.json"))
    [row] = parsed.rows
    assert row.amount == Decimal("1.2345") and row.currency == "USD"  # 123.45 cents
    assert row.source_amount == "123.45 cents"
    codes = sorted(r.reason_code for r in parsed.refusals)
    # web search has no model; a JSON number where cents are a string is not the shape.
    assert codes == ["invalid_amount", "no_model"]


def test_anthropic_usage_counts_cache_writes_and_reads_apart():
    [row] = parsers.parse_anthropic_usage(fixture("anthropic_usage_report.json")).rows
    assert (row.input_tokens, row.cache_write_tokens, row.cache_read_tokens, row.output_tokens) == (
        320,
        2048,
        4096,
        180,
    )


def test_openrouter_generations_are_per_request_on_native_tokens():
    parsed = parsers.parse_openrouter_generations(fixture("openrouter_generations.json"))
    first, second = parsed.rows
    assert (first.request_id, first.input_tokens, first.output_tokens) == (
        "gen-readme0001",
        1012,
        251,
    )
    assert first.amount == Decimal("0.00045") and first.requests == 1
    # Without native counts, OpenRouter's normalised ones.
    assert (second.input_tokens, second.output_tokens, second.amount) == (
        100,
        20,
        Decimal("0.0000451"),
    )


def test_openrouter_activity_is_per_day_and_model():
    [row] = parsers.parse_openrouter_activity(fixture("openrouter_activity.json")).rows
    assert (row.usage_day, row.requests, row.amount) == (JUNE_1, 3, Decimal("0.015"))
    assert row.total_tokens == 200  # reasoning counted with the output


def test_focus_csv_rows_and_a_bad_cost():
    parsed = parsers.parse_focus_csv(fixture("focus.csv"), default_currency="USD")
    assert [(r.total_tokens, r.amount, r.input_tokens) for r in parsed.rows] == [
        (100000, Decimal("1.250000000"), 100000),
        (5000, Decimal("0.5"), 0),
    ]
    [bad] = parsed.refusals
    assert bad.locator == "line 4" and bad.reason_code == "invalid_amount"


@pytest.mark.parametrize(
    ("content", "format"),
    [
        (b"not json at all {", "openai_usage"),
        (b'{"object": "page"}', "openai_usage"),
        (b'{"data": [1, 2]', "anthropic_costs"),
        (b'{"value": NaN}', "openai_costs"),
        (b"\xff\xfe garbage", "focus_csv"),
        (b"model,tokens\r\ngpt-4o,10\r\n", "focus_csv"),
        (b'{"generations": []}', "openrouter_generations"),
    ],
)
def test_a_malformed_file_is_refused_whole(content, format):
    with pytest.raises(StatementMalformed):
        parsers.PARSERS[format](content)


def test_formats_are_detected_from_their_documented_markers():
    expected = {
        "openai_usage_completions.json": "openai_usage",
        "openai_costs.json": "openai_costs",
        "anthropic_usage_report.json": "anthropic_usage",
        "anthropic_cost_report.json": "anthropic_costs",
        "openrouter_generations.json": "openrouter_generations",
        "openrouter_activity.json": "openrouter_activity",
        "focus.csv": "focus_csv",
    }
    assert {name: parsers.detect_format(fixture(name)) for name in expected} == expected


# --- the import, on PostgreSQL ---------------------------------------------------------


@pytest.mark.django_db
def test_every_row_is_imported_or_refused_with_its_reason(openai_contract):
    result = statement_import(
        contract=openai_contract, content=fixture("openai_usage_completions.json"), actor="t"
    )
    statement = result.statement
    assert not result.replayed and statement.format == "openai_usage"
    assert (statement.rows_imported, statement.rows_refused) == (1, 2)
    refusals = {
        r.locator: r.reason_code for r in StatementRefusal.objects.filter(statement=statement)
    }
    # An unknown model is refused by name, not guessed at.
    assert refusals == {"data[0].results[1]": "unknown_model", "data[0].results[2]": "invalid_row"}
    assert "gpt-9-imaginary" in StatementRefusal.objects.get(reason_code="unknown_model").reason
    assert (
        statement.content_sha256
        == hashlib.sha256(fixture("openai_usage_completions.json")).hexdigest()
    )


@pytest.mark.django_db
def test_a_reimport_of_the_same_file_changes_nothing(openai_contract):
    content = fixture("openai_costs.json")
    first = statement_import(contract=openai_contract, content=content, actor="t")
    counts = (
        Statement.objects.count(),
        StatementLine.objects.count(),
        StatementRefusal.objects.count(),
    )
    again = statement_import(contract=openai_contract, content=content, actor="t")
    assert again.replayed and again.statement.pk == first.statement.pk
    assert (
        counts
        == (
            Statement.objects.count(),
            StatementLine.objects.count(),
            StatementRefusal.objects.count(),
        )
        == (1, 2, 1)
    )
    # 0.0000000012345 USD is 1.2345 nano-dollars: rounded once, half-even.
    assert sorted(StatementLine.objects.values_list("cost_minor", flat=True)) == [1, 60_000_000]


@pytest.mark.django_db
def test_rows_another_file_imported_are_refused_not_counted_twice(openai_contract):
    statement_import(contract=openai_contract, content=fixture("openai_costs.json"), actor="t")
    # Another download of the same bucket: different bytes, the same rows.
    overlapping = fixture("openai_costs.json").replace(b'"has_more": false', b'"has_more":false')
    second = statement_import(contract=openai_contract, content=overlapping, actor="t").statement
    assert (second.rows_imported, second.rows_refused) == (0, 3)
    codes = sorted(
        StatementRefusal.objects.filter(statement=second).values_list("reason_code", flat=True)
    )
    assert codes == ["already_imported", "already_imported", "no_model"]
    assert StatementLine.objects.count() == 2


@pytest.mark.django_db
def test_a_malformed_file_writes_nothing(openai_contract):
    with pytest.raises(StatementMalformed):
        statement_import(contract=openai_contract, content=b"<html>502</html>", actor="t")
    assert not Statement.objects.exists()


@pytest.mark.django_db
def test_another_currency_needs_the_statements_fx_rate(openai_contract):
    eur = fixture("focus.csv").replace(b"USD,", b"EUR,")
    refused = statement_import(contract=openai_contract, content=eur, actor="t").statement
    assert refused.rows_imported == 0
    assert set(
        StatementRefusal.objects.filter(statement=refused).values_list("reason_code", flat=True)
    ) == {
        "currency_not_converted",
        "invalid_amount",
    }
    converted = statement_import(
        contract=openai_contract, content=eur + b"\r\n", actor="t", fx_rate=Decimal("1.08")
    ).statement
    lines = StatementLine.objects.filter(statement=converted).order_by("pk")
    assert [(line.cost_minor, line.fx, line.source_currency) for line in lines] == [
        (1_350_000_000, True, "EUR"),  # 1.25 EUR x 1.08
        (540_000_000, True, "EUR"),
    ]


@pytest.mark.django_db
def test_the_command_imports_prints_refusals_and_replays(openai_contract, tmp_path):
    path = tmp_path / "usage.json"
    path.write_bytes(fixture("openai_usage_completions.json"))
    out = StringIO()
    call_command("settlement_import", "openai", str(path), stdout=out)
    text = out.getvalue()
    assert "1 rows imported, 2 refused" in text and "unknown_model" in text
    out = StringIO()
    call_command("settlement_import", "openai", str(path), stdout=out)
    assert "imported before; nothing changed" in out.getvalue()
    assert Statement.objects.count() == 1
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{")
    with pytest.raises(CommandError, match="statement_malformed"):
        call_command("settlement_import", "openai", str(bad))
    with pytest.raises(CommandError, match="unknown_contract"):
        call_command("settlement_import", "deepseek", str(path))


@pytest.mark.django_db
def test_no_contract_for_the_provider_is_a_clear_error(world):
    from settlement.statements.selectors import statement_contract_get

    with pytest.raises(UnknownContract):
        statement_contract_get(provider="openai")


def test_an_imported_line_writes_every_column_of_the_model():
    """Lines are COPYed as tuples (settlement.statements.services._LINE_COLUMNS): a field
    added to StatementLine must be added there too, or the import would leave it out."""
    from settlement.statements.models import StatementLine
    from settlement.statements.services import _LINE_COLUMNS

    fields = [f.column for f in StatementLine._meta.concrete_fields if not f.primary_key]
    assert sorted(_LINE_COLUMNS) == sorted(fields)
