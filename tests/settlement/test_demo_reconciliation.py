"""The demo's statement and reconciliation: OpenAI's costs page of the demo's usage with
one day x model billed dearer, found as the one price difference; a second seed imports
and books nothing twice."""

import io

import pytest
from django.core.management import call_command

from ledger.integrity import verify_ledger
from metering.pipeline import Pipeline
from settlement.commitments.models import Commitment
from settlement.commitments.selectors import commitment_balance_get
from settlement.demo import DEMO_STATEMENT_DAYS
from settlement.reconciliation.models import Difference, ReconciliationRun
from settlement.statements.models import Statement, StatementLine
from settlement.terms import token_value
from tests.metering.conftest import raw, usage
from tests.metering.test_demo import embedded  # noqa: F401  (the demo's settings)

pytestmark = pytest.mark.django_db


def test_the_demo_reconciles_a_statement_with_one_price_difference():
    # The portal's demo (seeded before settlement's) books a year of acme's usage, openai's
    # models among it: the first seed draws it down and reconciles the last 30 days.
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "reconciled" in out.getvalue()
    [statement] = Statement.objects.all()
    assert statement.rows_refused == 0 and statement.rows_imported > 0
    [run] = ReconciliationRun.objects.all()
    assert (run.until - run.since).days == DEMO_STATEMENT_DAYS
    [difference] = Difference.objects.filter(run=run)
    assert difference.kind == "price" and difference.delta_minor > 0
    # The o4-mini token pack was drawn first, in tokens, at $1 a million.
    pack = Commitment.objects.get(idempotency_key="demo:commitment:tokens")
    figures = commitment_balance_get(commitment=pack)
    assert 0 < figures.tokens_drawn <= figures.tokens
    assert figures.drawn_minor == token_value(
        figures.amount_minor, pack.tokens, figures.tokens_drawn
    )
    assert figures.tokens_remaining == pack.tokens - figures.tokens_drawn
    lines = StatementLine.objects.count()
    # What the simulated gateway does once the server runs: acme's gpt-4o calls, drawn by
    # the next seed, which imports and reconciles nothing twice.
    Pipeline().process(
        [
            raw(
                usage(
                    "acme",
                    "gpt-4o",
                    "openai",
                    input=20_000,
                    output=2_000,
                    occurred_at=f"2026-06-0{day}T10:00:00Z",
                )
            )
            for day in (1, 1, 2, 3)
        ]
    )
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "imported before" in out.getvalue()
    assert (Statement.objects.count(), StatementLine.objects.count()) == (1, lines)
    assert ReconciliationRun.objects.count() == 1
    report = verify_ledger()
    assert report.ok, report.problems
