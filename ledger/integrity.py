"""Verify and rebuild: the log is the truth, everything else must follow from it.

`verify_ledger` walks the hash chain, replays each event's posting rule and compares
the result with the stored entries and postings, re-checks every invariant, and compares
the balance projection with balances recomputed from postings. `rebuild_balances`
replays the log into a fresh projection and makes the live one equal to it.

Both read the log in chunks by sequence (keyset pagination), so memory stays bounded by
the chunk and the number of accounts, not by the length of the log.
"""

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction

from config.errors import DomainError
from ledger import canonical
from ledger.locks import chain_lock
from ledger.posting_rules import DEBIT, PENDING, POSTED, entries_for

CHUNK_EVENTS = 5_000
PROBLEMS_MAX = 50

# Other apps add their own consistency checks (usage records vs usage postings, ...)
# with ledger.services.verify_check_register: a check receives the report and calls
# report.problem(...) for what it finds.
EXTRA_CHECKS: dict[str, Callable[["VerifyReport"], None]] = {}


@dataclass
class VerifyReport:
    events_checked: int = 0
    postings_checked: int = 0
    accounts_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        if len(self.problems) < PROBLEMS_MAX:
            self.problems.append(text)

    def problems_add(self, texts) -> None:
        for text in texts:
            self.problem(text)


def event_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ledger_event")
        return cursor.fetchone()[0]


def _event_chunks() -> Iterator[list[tuple]]:
    """Events in sequence order, CHUNK_EVENTS at a time, payloads decoded from jsonb."""
    after = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sequence, type, payload::text, idempotency_key, input_hash, prev_hash,"
                "       hash, occurred_at, recorded_at, actor"
                "  FROM ledger_event WHERE sequence > %s ORDER BY sequence LIMIT %s",
                [after, CHUNK_EVENTS],
            )
            rows = [(row[0], row[1], json.loads(row[2]), *row[3:]) for row in cursor.fetchall()]
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _stored_entries(first: int, last: int) -> dict[int, list[tuple]]:
    """Entries with their postings for events first..last, keyed by event sequence."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.event_sequence, e.id, e.book_id, e.memo, e.reverses_id,"
            "       p.id, p.account_id, p.asset_id, p.side, p.phase, p.amount, p.sequence"
            "  FROM ledger_entry e LEFT JOIN ledger_posting p ON p.entry_id = e.id"
            " WHERE e.event_sequence BETWEEN %s AND %s"
            " ORDER BY e.event_sequence, e.id, p.id",
            [first, last],
        )
        rows = cursor.fetchall()
    by_event: dict[int, list[tuple]] = defaultdict(list)
    for row in rows:
        by_event[row[0]].append(row)
    return by_event


def _compare_entries(
    report: VerifyReport, sequence: int, event_type: str, payload: dict, stored_rows: list[tuple]
) -> None:
    try:
        derived = entries_for(event_type, payload)
    except DomainError as exc:
        report.problem(f"event #{sequence}: its posting rule fails on the stored payload: {exc}")
        return
    stored: dict[int, list[tuple]] = defaultdict(list)
    entry_meta: dict[int, tuple] = {}
    for _seq, entry_id, book_id, memo, reverses_id, posting_id, *posting in stored_rows:
        entry_meta[entry_id] = (book_id, memo, reverses_id)
        if posting_id is not None:
            stored[entry_id].append((posting_id, *posting))
    entry_ids = sorted(entry_meta)
    if len(entry_ids) != len(derived):
        report.problem(
            f"event #{sequence}: has {len(entry_ids)} entries, its rule makes {len(derived)}"
        )
        return
    for entry_id, spec in zip(entry_ids, derived, strict=True):
        if entry_meta[entry_id] != (spec.book_id, spec.memo, spec.reverses_entry_id):
            report.problem(
                f"entry {entry_id} (event #{sequence}): book or memo differs from "
                "what its event's rule makes"
            )
        postings = stored[entry_id]
        if len(postings) != len(spec.postings):
            report.problem(
                f"entry {entry_id} (event #{sequence}): has {len(postings)} "
                f"postings, its rule makes {len(spec.postings)}"
            )
            continue
        for row, want in zip(postings, spec.postings, strict=True):
            posting_id, account_id, asset_id, side, phase, amount, posting_sequence = row
            report.postings_checked += 1
            got = (account_id, asset_id, side, phase, amount, posting_sequence)
            expected = (
                want.account_id,
                want.asset_id,
                want.side,
                want.phase,
                want.amount,
                sequence,
            )
            if got != expected:
                report.problem(
                    f"posting {posting_id} (entry {entry_id}, event #{sequence}): "
                    f"stored {got}, the event's rule makes {expected}"
                )


def _event_hashes(hashed: list[tuple[int, str, str, str]]) -> list[tuple[int, str, str]]:
    """(sequence, hash recomputed, hash stored) of a chunk: the chain's part of the hash
    is computed by `ledger_event_hash` (migrations/sql/0008_append.sql), the function the
    append itself uses, so that it is defined once."""
    if not hashed:
        return []
    sequences, prev_hashes, tails, stored_hashes = (
        list(column) for column in zip(*hashed, strict=True)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ledger_event_hash(h.prev_hash, h.sequence, h.tail)"
            "  FROM unnest(%s::text[], %s::bigint[], %s::text[]) WITH ORDINALITY"
            "       AS h(prev_hash, sequence, tail, position)"
            " ORDER BY h.position",
            [prev_hashes, sequences, tails],
        )
        recomputed = [row[0] for row in cursor.fetchall()]
    return list(zip(sequences, recomputed, stored_hashes, strict=True))


def _check_chain(report: VerifyReport, progress: Callable[[int], None] | None) -> None:
    expected_sequence, prev_hash = 1, canonical.GENESIS_HASH
    for chunk in _event_chunks():
        stored = _stored_entries(chunk[0][0], chunk[-1][0])
        hashed: list[tuple[int, str, str, str]] = []  # sequence, prev hash, tail, stored hash
        for (
            sequence,
            event_type,
            payload,
            key,
            input_hash,
            stored_prev,
            stored_hash,
            occurred_at,
            recorded_at,
            actor,
        ) in chunk:
            report.events_checked += 1
            if sequence != expected_sequence:
                report.problem(f"event #{sequence}: sequence gap, expected #{expected_sequence}")
            if stored_prev != prev_hash:
                report.problem(
                    f"event #{sequence}: prev_hash does not match event #{sequence - 1}'s hash"
                )
            payload_json = canonical.canonical_json(payload)
            if canonical.input_hash(event_type, payload_json) != input_hash:
                report.problem(f"event #{sequence}: input_hash does not match its payload")
            tail = canonical.chain_hash_tail(
                event_type=event_type,
                idempotency_key=key,
                input_hash_hex=input_hash,
                payload_json=payload_json,
                occurred_at=occurred_at,
                recorded_at=recorded_at,
                actor=actor,
            )
            hashed.append((sequence, stored_prev, tail, stored_hash))
            _compare_entries(report, sequence, event_type, payload, stored.pop(sequence, []))
            expected_sequence, prev_hash = sequence + 1, stored_hash
        for sequence, recomputed, stored_hash in _event_hashes(hashed):
            if recomputed != stored_hash:
                report.problem(f"event #{sequence}: hash does not match its contents")
        if progress:
            progress(len(chunk))


def _query_problems(report: VerifyReport, sql: str, describe: Callable[[tuple], str]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql + f" LIMIT {PROBLEMS_MAX}")
        for row in cursor.fetchall():
            report.problem(describe(row))


def _check_invariants(report: VerifyReport) -> None:
    _query_problems(
        report,
        "SELECT entry_id, asset_id, phase FROM ledger_posting GROUP BY entry_id, asset_id, phase"
        " HAVING sum(CASE side WHEN 'D' THEN amount ELSE -amount END) <> 0 ORDER BY entry_id",
        lambda r: f"entry {r[0]}: does not balance in asset {r[1]} (phase {r[2]})",
    )
    _query_problems(
        report,
        "SELECT e.id FROM ledger_entry e WHERE NOT EXISTS"
        " (SELECT 1 FROM ledger_posting p WHERE p.entry_id = e.id) ORDER BY e.id",
        lambda r: f"entry {r[0]}: has no postings",
    )
    _query_problems(
        report,
        "SELECT p.id, p.account_id FROM ledger_posting p"
        "  JOIN ledger_entry e ON e.id = p.entry_id JOIN ledger_account a ON a.id = p.account_id"
        " WHERE a.book_id <> e.book_id OR a.asset_id <> p.asset_id OR p.amount <= 0"
        " ORDER BY p.id",
        lambda r: (
            f"posting {r[0]}: account {r[1]} is of another book or asset, "
            "or the amount is not positive"
        ),
    )
    # Projection vs postings, and the overdraft flags against the recomputed truth.
    _query_problems(
        report,
        "WITH truth AS ("
        "  SELECT account_id,"
        "    coalesce(sum(amount) FILTER (WHERE side='D' AND phase='P'), 0) AS dp,"
        "    coalesce(sum(amount) FILTER (WHERE side='C' AND phase='P'), 0) AS cp,"
        "    coalesce(sum(CASE phase WHEN 'H' THEN amount WHEN 'R' THEN -amount END)"
        "             FILTER (WHERE side='D' AND phase<>'P'), 0) AS dh,"
        "    coalesce(sum(CASE phase WHEN 'H' THEN amount WHEN 'R' THEN -amount END)"
        "             FILTER (WHERE side='C' AND phase<>'P'), 0) AS ch"
        "  FROM ledger_posting GROUP BY account_id)"
        " SELECT a.id, b.debits_posted, coalesce(t.dp, 0), b.credits_posted, coalesce(t.cp, 0),"
        "        b.debits_pending, coalesce(t.dh, 0), b.credits_pending, coalesce(t.ch, 0)"
        "   FROM ledger_account a JOIN ledger_balance b ON b.account_id = a.id"
        "   LEFT JOIN truth t ON t.account_id = a.id"
        "  WHERE (b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending)"
        "     <> (coalesce(t.dp, 0), coalesce(t.cp, 0), coalesce(t.dh, 0), coalesce(t.ch, 0))"
        "     OR (a.debits_must_not_exceed_credits AND coalesce(t.dp,0) + coalesce(t.dh,0)"
        "         > coalesce(t.cp, 0))"
        "     OR (a.credits_must_not_exceed_debits AND coalesce(t.cp,0) + coalesce(t.ch,0)"
        "         > coalesce(t.dp, 0))"
        "  ORDER BY a.id",
        lambda r: (
            f"account {r[0]}: balance projection (D {r[1]}, C {r[3]}, pending D {r[5]}, "
            f"C {r[7]}) differs from its postings (D {r[2]}, C {r[4]}, pending D {r[6]}, "
            f"C {r[8]}) or breaks its overdraft flag"
        ),
    )
    _query_problems(
        report,
        "SELECT a.book_id, a.asset_id, sum(b.debits_posted) - sum(b.credits_posted)"
        "  FROM ledger_account a JOIN ledger_balance b ON b.account_id = a.id"
        " GROUP BY a.book_id, a.asset_id"
        " HAVING sum(b.debits_posted) <> sum(b.credits_posted) ORDER BY 1, 2",
        lambda r: f"book {r[0]}: trial balance in asset {r[1]} is off by {r[2]}",
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ledger_account")
        report.accounts_checked = cursor.fetchone()[0]


def verify_ledger(progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Check everything; never changes anything. Runs in one read-only snapshot."""
    report = VerifyReport()
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:  # inside a caller's transaction, its snapshot rules
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        _check_chain(report, progress)
        _check_invariants(report)
        for check in EXTRA_CHECKS.values():
            check(report)
    return report


# --- rebuild ----------------------------------------------------------------------------


@dataclass
class RebuildReport:
    events_replayed: int
    accounts: int
    accounts_changed: int


def _replay(progress: Callable[[int], None] | None) -> tuple[int, dict[int, list[int]]]:
    """Fold every event's rule output into [dp, cp, dh, ch, last_sequence] per account."""
    sums: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    replayed = 0
    for chunk in _event_chunks():
        for sequence, event_type, payload, *_rest in chunk:
            for entry in entries_for(event_type, payload):
                for p in entry.postings:
                    row = sums[p.account_id]
                    if p.phase == POSTED:
                        row[0 if p.side == DEBIT else 1] += p.amount
                    else:
                        delta = p.amount if p.phase == PENDING else -p.amount
                        row[2 if p.side == DEBIT else 3] += delta
                    row[4] = max(row[4], sequence)
            replayed += 1
        if progress:
            progress(len(chunk))
    return replayed, sums


def rebuild_balances(progress: Callable[[int], None] | None = None) -> RebuildReport:
    """Replay the log into a fresh projection and make the live balances equal to it.

    Holds the chain lock throughout, so no event is appended while the projection is
    swapped; writers wait, nothing is refused.
    """
    with transaction.atomic():
        chain_lock()
        replayed, sums = _replay(progress)
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS ledger_balance_fresh")
            cursor.execute(
                "CREATE TEMP TABLE ledger_balance_fresh (account_id bigint PRIMARY KEY,"
                " dp numeric, cp numeric, dh numeric, ch numeric, last_sequence bigint)"
                " ON COMMIT DROP"
            )
            with cursor.copy("COPY ledger_balance_fresh FROM STDIN") as copy:
                for account_id, (dp, cp, dh, ch, last) in sums.items():
                    copy.write_row((account_id, dp, cp, dh, ch, last))
            cursor.execute(
                "UPDATE ledger_balance b"
                "   SET debits_posted = coalesce(f.dp, 0), credits_posted = coalesce(f.cp, 0),"
                "       debits_pending = coalesce(f.dh, 0), credits_pending = coalesce(f.ch, 0),"
                "       last_sequence = coalesce(f.last_sequence, 0)"
                "  FROM ledger_balance b2 LEFT JOIN ledger_balance_fresh f"
                "    ON f.account_id = b2.account_id"
                " WHERE b.account_id = b2.account_id"
                "   AND (b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending,"
                "        b.last_sequence)"
                "   IS DISTINCT FROM (coalesce(f.dp, 0), coalesce(f.cp, 0), coalesce(f.dh, 0),"
                "        coalesce(f.ch, 0), coalesce(f.last_sequence, 0))"
            )
            changed = cursor.rowcount
            cursor.execute("SELECT count(*) FROM ledger_balance")
            accounts = cursor.fetchone()[0]
    return RebuildReport(replayed, accounts, changed)
