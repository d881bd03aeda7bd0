"""Metering's check in `ledger_verify` (registered in MeteringConfig.ready)."""

from django.db.models import Count, F, Sum
from django.db.models.functions import Coalesce

from ledger import selectors as ledger_selectors
from metering.models import UsageRecord
from metering.postings import USAGE_BATCH_EVENT


def usage_records_check(report) -> None:
    """Per usage batch: the event's debits equal what its records say was booked, and
    every record belongs to a usage batch.

    Per record the debit legs are price + cost, plus twice the wholesale price when a
    reseller sold it (see metering.postings), so the totals must match exactly.
    """
    records = {
        row["ledger_event"]: (row["n"], int(row["debits"]))
        for row in UsageRecord.objects.values("ledger_event")
        .annotate(
            n=Count("id"),
            debits=Sum(F("price_minor") + F("cost_minor") + 2 * Coalesce("wholesale_minor", 0)),
        )
        .order_by()
    }
    batches = ledger_selectors.event_debits_list(
        event_type=USAGE_BATCH_EVENT, payload_field="records"
    )
    for batch in batches:
        count, debits = records.pop(batch.sequence, (0, 0))
        expected = int(batch.payload_field or 0)
        if count != expected or debits != batch.debits:
            report.problem(
                f"event #{batch.sequence} (usage batch): {count} usage records for {expected} "
                f"expected; their debits {debits} vs postings {batch.debits}"
            )
    for sequence in sorted(records):
        first = UsageRecord.objects.filter(ledger_event=sequence).order_by("id").first()
        report.problem(
            f"usage record {first.id}: its ledger event #{sequence} is not a usage batch"
        )
