"""Reconciliation runs and true-ups: the writes of reconciliation.

A run compares our metering (the daily rollup, per request where a statement lists
requests) with the contract's imported statements over [since, until) and stores every
difference beyond tolerance, classified (settlement.reconciliation.matching). Finance
accepts a difference: one ledger event books it (postings.py), once per difference
(unique TrueUp row, event key settlement:true_up:<id>), and only while the difference
still stands: under the contract's lock the key is compared again, and a difference the
books or statements have moved on from since the run is refused (difference_stale).
"""

from dataclasses import dataclass, replace
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from ledger import services as ledger_services
from ledger.models import Account
from settlement.commitments.models import Contract
from settlement.commitments.services import payable_account_code
from settlement.errors import DifferenceStale, InvalidReconciliation, NothingToTrueUp
from settlement.reconciliation import selectors
from settlement.reconciliation.matching import Finding, Terms, compare, expected_cost
from settlement.reconciliation.models import Difference, ReconciliationRun, TrueUp
from settlement.reconciliation.postings import TRUE_UP_EVENT
from settlement.statements.locks import contract_lock

PERIOD_DAYS_MAX = 92
NOTE_LENGTH_MAX = 2000
TRUE_UP_ACCOUNT_CODE = "expense:upstream_true_up"


def _terms(contract: Contract) -> Terms:
    return Terms(contract.discount_bps, contract.tolerance_bps, contract.tolerance_minor)


def findings_list(*, contract: Contract, since: date, until: date):
    """(watermark, keys compared, every difference by key, ours and theirs expected
    cost in total): the comparison itself, written nowhere."""
    sides = selectors.sides_get(contract=contract, since=since, until=until)
    terms = _terms(contract)
    found: dict[selectors.Key, Finding] = {}
    # Any order: the run writes its differences sorted (a month per request is 10^5 keys).
    keys = sides.ours.keys() | sides.theirs.keys() | sides.trued.keys()
    ours_total = theirs_total = 0
    for key in keys:
        finding = compare(
            ours=sides.ours.get(key),
            theirs=sides.theirs.get(key),
            covered=key[0] in sides.covered_days,
            trued_minor=sides.trued.get(key, 0),
            terms=terms,
        )
        ours = sides.ours.get(key)
        theirs = sides.theirs.get(key)
        if ours is not None:
            ours_total += expected_cost(ours.cost_minor, terms.discount_bps)
        if theirs is not None and theirs.cost_minor is not None:
            theirs_total += theirs.cost_minor
        if finding is not None:
            found[key] = finding
    for key, (requests_sum, day_level) in sides.statement_checks.items():
        finding = _statements_check(requests_sum, day_level, terms)
        if finding is not None:
            found[key] = finding
    compared = len(keys) + len(sides.statement_checks)
    return sides.through_sequence, compared, found, ours_total, theirs_total


def _statements_check(requests_sum, day_level, terms: Terms) -> Finding | None:
    """The provider's day-level statement (OpenRouter's daily activity) against its
    requests of the day summed, within the contract's tolerance: a difference between
    the provider's own statements, never booked (the requests are what is reconciled
    with our metering, request by request)."""
    # Both sides are the provider's bill: no discount to apply to either.
    check = compare(
        ours=replace(requests_sum, cost_minor=requests_sum.cost_minor or 0),
        theirs=day_level,
        covered=True,
        trued_minor=0,
        terms=Terms(0, terms.tolerance_bps, terms.tolerance_minor),
    )
    if check is None:
        return None
    summed = (
        f"the day's requests sum to {check.ours_requests} requests, {check.ours_tokens}"
        f" tokens, cost {check.ours_cost_minor}"
    )
    if day_level is None:
        said = "the day-level statement (daily activity) covers the day without this model"
    else:
        said = (
            f"the day-level statement (daily activity) says {check.theirs_requests} requests,"
            f" {check.theirs_tokens} tokens, cost {check.theirs_cost_minor}"
        )
    return replace(
        check,
        delta_minor=0,
        explanation=f"the provider's statements disagree: {said}; {summed}."
        " Only the requests are reconciled with our usage: nothing to book here.",
    )


def _check_period(since: date, until: date) -> None:
    if not isinstance(since, date) or not isinstance(until, date) or until <= since:
        raise InvalidReconciliation(
            "a reconciliation needs since < until (UTC days)",
            details={"since": str(since), "until": str(until)},
        )
    if (until - since).days > PERIOD_DAYS_MAX:
        raise InvalidReconciliation(
            f"a reconciliation covers at most {PERIOD_DAYS_MAX} days",
            details={"since": str(since), "until": str(until)},
        )


@dataclass(frozen=True, slots=True)
class RunResult:
    run: ReconciliationRun
    differences: int


def reconciliation_run(*, contract: Contract, since: date, until: date, actor: str) -> RunResult:
    """Compare and store the run with its differences, in one transaction."""
    _check_period(since, until)
    through, compared, found, ours_total, theirs_total = findings_list(
        contract=contract, since=since, until=until
    )
    with transaction.atomic():
        run = ReconciliationRun.objects.create(
            contract=contract,
            since=since,
            until=until,
            through_sequence=through,
            keys_compared=compared,
            keys_matched=compared - len(found),
            ours_cost_minor=ours_total,
            theirs_cost_minor=theirs_total,
            created_at=timezone.now(),
            created_by=actor,
        )
        Difference.objects.bulk_create(
            [
                Difference(
                    run=run,
                    contract=contract,
                    usage_day=day,
                    model=model,
                    request_id=request_id,
                    **_fields(finding),
                )
                for (day, model, request_id), finding in sorted(found.items())
            ],
            batch_size=5000,
        )
    return RunResult(run, len(found))


def _fields(finding: Finding) -> dict:
    return {
        "kind": finding.kind,
        "ours_requests": finding.ours_requests,
        "theirs_requests": finding.theirs_requests,
        "ours_tokens": finding.ours_tokens,
        "theirs_tokens": finding.theirs_tokens,
        "ours_cost_minor": finding.ours_cost_minor,
        "theirs_cost_minor": finding.theirs_cost_minor,
        "delta_minor": finding.delta_minor,
        "explanation": finding.explanation,
    }


@dataclass(frozen=True, slots=True)
class Acceptance:
    true_up: TrueUp
    replayed: bool  # accepted before: nothing booked now


def difference_accept(*, difference: Difference, actor: str, note: str = "") -> Acceptance:
    """Book the difference as a true-up, once."""
    if len(note) > NOTE_LENGTH_MAX:
        raise InvalidReconciliation(f"a note is at most {NOTE_LENGTH_MAX} characters")
    with ledger_services.ledger_errors(), transaction.atomic():
        contract = contract_lock(contract_id=difference.contract_id)
        existing = TrueUp.objects.filter(difference=difference).first()
        if existing is not None:
            return Acceptance(existing, True)
        if difference.request_id == selectors.STATEMENTS_CHECK:
            raise NothingToTrueUp(
                "the provider's statements disagree with each other: nothing to book",
                details={"difference": difference.pk, "kind": difference.kind},
            )
        if difference.delta_minor == 0:
            raise NothingToTrueUp(
                "the statement names no cost for this difference: nothing to book",
                details={"difference": difference.pk, "kind": difference.kind},
            )
        day = difference.usage_day
        _through, _compared, found, _o, _t = findings_list(
            contract=contract, since=day, until=day + timedelta(days=1)
        )
        now = found.get((day, difference.model, difference.request_id))
        if now is None or (now.kind, now.delta_minor) != (difference.kind, difference.delta_minor):
            raise DifferenceStale(
                "the books or statements changed since this reconciliation: run it again",
                details={
                    "difference": difference.pk,
                    "now": None if now is None else {"kind": now.kind, "delta": now.delta_minor},
                },
            )
        book_id, asset_id = contract.book_id, contract.currency_id
        payable = ledger_services.account_ensure(
            book_id=book_id,
            asset_id=asset_id,
            code=payable_account_code(contract.provider),
            type=Account.Type.LIABILITY,
        )
        expense = ledger_services.account_ensure(
            book_id=book_id, asset_id=asset_id, code=TRUE_UP_ACCOUNT_CODE, type=Account.Type.EXPENSE
        )
        appended = ledger_services.event_record(
            event_type=TRUE_UP_EVENT,
            payload={
                "book": book_id,
                "asset": asset_id,
                "difference": difference.pk,
                "payable_account": payable.id,
                "true_up_account": expense.id,
                "amount": difference.delta_minor,
            },
            idempotency_key=f"settlement:true_up:{difference.pk}",
            actor=actor,
        )
        true_up = TrueUp.objects.create(
            difference=difference,
            contract=contract,
            usage_day=day,
            model=difference.model,
            request_id=difference.request_id,
            amount_minor=difference.delta_minor,
            ledger_sequence=appended.sequence,
            note=note,
            created_at=timezone.now(),
            created_by=actor,
        )
    return Acceptance(true_up, False)
