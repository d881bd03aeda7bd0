"""Finance accepting the same difference at once, from two runs that both found it,
each thread on its own connection: one true-up is booked, the others are told."""

import threading
from datetime import timedelta

import pytest

from ledger.integrity import verify_ledger
from ledger.selectors import event_debits_list, trial_balance_list
from settlement.commitments.drawdown import commitments_draw_down_all
from settlement.errors import DifferenceStale
from settlement.reconciliation.models import Difference, TrueUp
from settlement.reconciliation.postings import TRUE_UP_EVENT
from settlement.reconciliation.services import difference_accept, reconciliation_run
from settlement.statements.services import statement_import
from tests.settlement import statement_files as files
from tests.settlement.test_reconciliation import JUNE, UNTIL, book_month
from tests.threads import in_thread

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_racing_acceptances_book_one_true_up(openai_contract):
    book_month(days=6)
    commitments_draw_down_all()
    truth = files.metered("openai")
    fifth = JUNE + timedelta(days=4)
    statement_import(
        contract=openai_contract,
        content=files.openai_costs(
            truth,
            JUNE,
            UNTIL,
            openai_contract.discount_bps,
            price=lambda day, model, usd: usd * 3 if day == fifth else usd,
        ),
        actor="t",
    )
    runs = [
        reconciliation_run(contract=openai_contract, since=JUNE, until=UNTIL, actor="t").run
        for _ in range(2)
    ]
    differences = [Difference.objects.get(run=run, kind="price") for run in runs]
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(4)
    threads = [
        in_thread(
            lambda d=differences[n % 2]: difference_accept(difference=d, actor="finance"),
            failures,
            lock,
            start,
        )
        for n in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # The winner's copy replays for its twin thread; the other run's copy is stale.
    assert all(isinstance(f, DifferenceStale) for f in failures), failures
    assert len(failures) == 2
    [true_up] = TrueUp.objects.all()
    assert true_up.amount_minor == differences[0].delta_minor
    assert len(list(event_debits_list(event_type=TRUE_UP_EVENT, payload_field="difference"))) == 1
    report = verify_ledger()
    assert report.ok, report.problems
    assert all(row.difference == 0 for row in trial_balance_list())
