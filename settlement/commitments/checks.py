"""The `ledger_verify` check of commitments: settlement's rows and the ledger tie out."""

from collections import defaultdict

from django.db.models import Sum

from ledger import selectors as ledger_selectors
from settlement.commitments.models import (
    Breakage,
    Commitment,
    DrawdownBatch,
    DrawdownDiscount,
    DrawdownLine,
)
from settlement.commitments.postings import BREAKAGE_EVENT, DRAWDOWN_EVENT, PURCHASE_EVENT
from settlement.commitments.selectors import commitment_ledger_balances_get
from settlement.commitments.services import (
    capacity_account_code,
    cogs_account_code,
    payable_account_code,
    token_account_code,
    tokens_used_account_code,
)
from settlement.terms import token_value


def commitments_check(report) -> None:
    """Each purchase, draw-down and breakage event books what its row says; every row
    that names an event has one; each commitment's ledger balances (money, and tokens
    for one in tokens) are what it bought less its draw-down and breakage, and a
    commitment in tokens drew exactly its tokens' share of its price."""
    _drawdowns_check(report)
    _events_check(
        report,
        PURCHASE_EVENT,
        {
            # one debit in money, one in TOKENS for a commitment in tokens (each side is
            # checked on its own by the balances below)
            c.pk: (c.purchase_sequence, c.amount_minor + (c.tokens or 0))
            for c in Commitment.objects.filter(purchase_sequence__isnull=False)
        },
        "purchase of commitment",
    )
    _events_check(
        report,
        BREAKAGE_EVENT,
        {
            b.commitment_id: (b.ledger_sequence, b.amount_minor + (b.tokens or 0))
            for b in Breakage.objects.filter(ledger_sequence__isnull=False)
        },
        "breakage of commitment",
    )
    _balances_check(report)


def _drawdowns_check(report) -> None:
    lines = defaultdict(lambda: [0, 0, 0])
    for batch_id, covered, money, tokens in DrawdownLine.objects.values_list("batch_id").annotate(
        Sum("list_minor"), Sum("amount_minor"), Sum("tokens")
    ):
        lines[batch_id] = [int(covered), int(money), int(tokens)]
    discounts = dict(
        DrawdownDiscount.objects.values_list("batch_id").annotate(total=Sum("amount_minor"))
    )
    for row in DrawdownBatch.objects.all():
        rows_say = [row.covered_minor, row.drawn_minor, row.tokens]
        if lines.pop(row.pk, [0, 0, 0]) != rows_say:
            report.problem(
                f"draw-down of batch #{row.metering_sequence}: its lines do not sum to "
                f"{rows_say} (list covered, money drawn, tokens)"
            )
        if int(discounts.get(row.pk, 0)) != row.discount_minor:
            report.problem(
                f"draw-down of batch #{row.metering_sequence}: its discounts do not sum to "
                f"{row.discount_minor}"
            )
        if any(rows_say) or row.discount_minor:
            if row.ledger_sequence is None:
                report.problem(f"draw-down of batch #{row.metering_sequence} has no ledger event")
    _drawdown_events_check(report)


def _drawdown_events_check(report) -> None:
    """Each draw-down event moves each account by what the batch's rows say."""
    expected: dict[int, dict[tuple, int]] = defaultdict(lambda: defaultdict(int))
    for (
        sequence,
        commitment_id,
        book,
        asset,
        provider,
        token_asset,
        covered,
        money,
        tokens,
    ) in DrawdownLine.objects.values_list(
        "batch__ledger_sequence",
        "commitment_id",
        "commitment__contract__book_id",
        "commitment__contract__currency_id",
        "commitment__contract__provider",
        "commitment__token_account__asset_id",
        "list_minor",
        "amount_minor",
        "tokens",
    ):
        nets = expected[sequence]
        nets[(book, asset, payable_account_code(provider))] += covered
        nets[(book, asset, capacity_account_code(provider, commitment_id))] -= money
        nets[(book, asset, cogs_account_code(provider))] -= covered - money
        if token_asset is not None:
            nets[(book, token_asset, token_account_code(provider, commitment_id))] -= tokens
            nets[(book, token_asset, tokens_used_account_code(provider))] += tokens
    for sequence, book, asset, provider, amount in DrawdownDiscount.objects.values_list(
        "batch__ledger_sequence",
        "contract__book_id",
        "contract__currency_id",
        "contract__provider",
        "amount_minor",
    ):
        nets = expected[sequence]
        nets[(book, asset, payable_account_code(provider))] += amount
        nets[(book, asset, cogs_account_code(provider))] -= amount
    actual: dict[int, dict[tuple, int]] = defaultdict(dict)
    for net in ledger_selectors.event_account_nets_list(event_type=DRAWDOWN_EVENT):
        if net.net:
            actual[net.sequence][(net.book_id, net.asset_id, net.code)] = net.net
    booked = set(
        DrawdownBatch.objects.filter(ledger_sequence__isnull=False).values_list(
            "ledger_sequence", flat=True
        )
    )
    for sequence in sorted(actual.keys() | booked):
        if sequence not in booked:
            report.problem(f"event #{sequence} (draw-down) has no draw-down row")
            continue
        if sequence not in actual:
            report.problem(f"draw-down row names event #{sequence}, which is not a draw-down")
            continue
        wanted = {key: net for key, net in expected.get(sequence, {}).items() if net}
        if wanted != actual[sequence]:
            differing = sorted(
                code
                for (_book, _asset, code) in wanted.keys() ^ actual[sequence].keys()
                | {
                    k
                    for k in wanted.keys() & actual[sequence].keys()
                    if wanted[k] != actual[sequence][k]
                }
            )
            report.problem(
                f"event #{sequence} (draw-down): the ledger and the batch's rows differ on "
                f"{', '.join(differing)}"
            )


def _events_check(report, event_type: str, rows: dict, what: str) -> None:
    by_sequence = {sequence: (pk, amount) for pk, (sequence, amount) in rows.items()}
    for event in ledger_selectors.event_debits_list(
        event_type=event_type, payload_field="commitment"
    ):
        pk, amount = by_sequence.pop(event.sequence, (None, None))
        if pk is None or str(pk) != event.payload_field or amount != event.debits:
            report.problem(
                f"event #{event.sequence} ({what} {event.payload_field}): debits {event.debits}"
                f" vs the row's {amount} (commitment {pk})"
            )
    for sequence, (pk, _amount) in sorted(by_sequence.items()):
        report.problem(f"{what} {pk} names event #{sequence}, which is not a {event_type}")


def _balances_check(report) -> None:
    drawn = {
        pk: (int(money), int(tokens))
        for pk, money, tokens in DrawdownLine.objects.values_list("commitment_id").annotate(
            Sum("amount_minor"), Sum("tokens")
        )
    }
    broken = {
        pk: (amount, tokens or 0)
        for pk, amount, tokens in Breakage.objects.values_list(
            "commitment_id", "amount_minor", "tokens"
        )
    }
    for commitment in Commitment.objects.filter(account__isnull=False):
        money, tokens = drawn.get(commitment.pk, (0, 0))
        broken_money, broken_tokens = broken.get(commitment.pk, (0, 0))
        expected = commitment.amount_minor - money - broken_money
        actual, actual_tokens = commitment_ledger_balances_get(commitment=commitment)
        if actual != expected:
            report.problem(
                f"commitment {commitment.pk}: the ledger holds {actual}, its rows say {expected}"
            )
        if commitment.tokens is None:
            continue
        expected_tokens = commitment.tokens - tokens - broken_tokens
        if actual_tokens != expected_tokens:
            report.problem(
                f"commitment {commitment.pk}: the ledger holds {actual_tokens} tokens, its rows "
                f"say {expected_tokens}"
            )
        value = token_value(commitment.amount_minor, commitment.tokens, tokens)
        if money != value:
            report.problem(
                f"commitment {commitment.pk}: {tokens} of its {commitment.tokens} tokens drew "
                f"{money}, not their share of the price, {value}"
            )
