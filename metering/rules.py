"""Metering's contributions to the ledger: its posting rule and its verify check."""

from django.db import connection

from ledger import integrity
from ledger.posting_rules import posting_rule, transfer
from metering.booking import USAGE_BATCH_EVENT

# A usage batch carries its aggregated entries explicitly (built by metering.booking),
# so its rule is the same pure parse as a transfer's.
posting_rule(USAGE_BATCH_EVENT)(transfer)


def check_usage_records_agree_with_postings(report: integrity.VerifyReport) -> None:
    """Per usage batch: the event's debits equal what its records say was booked.

    Per record the debit legs are price + cost, plus twice the wholesale price when a
    reseller sold it (see metering.booking), so the totals must match exactly.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH records AS ("
            "   SELECT ledger_event_sequence AS sequence, count(*) AS n,"
            "          sum(price_minor + cost_minor + 2 * coalesce(wholesale_minor, 0)) AS debits"
            "     FROM metering_usagerecord GROUP BY ledger_event_sequence),"
            " postings AS ("
            "   SELECT p.sequence, sum(p.amount) AS debits"
            "     FROM ledger_posting p JOIN ledger_event e ON e.sequence = p.sequence"
            "    WHERE e.type = %s AND p.side = 'D' GROUP BY p.sequence),"
            " events AS ("
            "   SELECT sequence, (payload->>'records')::bigint AS n"
            "     FROM ledger_event WHERE type = %s)"
            " SELECT e.sequence, coalesce(r.n, 0), e.n, coalesce(r.debits, 0),"
            "        coalesce(p.debits, 0)"
            "   FROM events e LEFT JOIN records r USING (sequence)"
            "   LEFT JOIN postings p USING (sequence)"
            "  WHERE coalesce(r.n, 0) <> e.n OR coalesce(r.debits, 0) <> coalesce(p.debits, 0)"
            "  ORDER BY e.sequence LIMIT %s",
            [USAGE_BATCH_EVENT, USAGE_BATCH_EVENT, integrity.PROBLEMS_MAX],
        )
        for sequence, records, expected, record_debits, posted_debits in cursor.fetchall():
            report.problem(
                f"event #{sequence} (usage batch): {records} usage records for {expected} "
                f"expected; their debits {record_debits} vs postings {posted_debits}"
            )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.id, r.ledger_event_sequence FROM metering_usagerecord r"
            " LEFT JOIN ledger_event e ON e.sequence = r.ledger_event_sequence"
            " WHERE e.sequence IS NULL OR e.type <> %s ORDER BY r.id LIMIT %s",
            [USAGE_BATCH_EVENT, integrity.PROBLEMS_MAX],
        )
        for record_id, sequence in cursor.fetchall():
            report.problem(
                f"usage record {record_id}: its ledger event #{sequence} is not a usage batch"
            )


integrity.EXTRA_CHECKS.append(check_usage_records_agree_with_postings)
