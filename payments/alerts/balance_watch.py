"""Compare prepaid wallets with their auto top-up and low-balance thresholds.

Run every minute by Celery beat (payments.tasks.watch_balances), and callable for a few
customers right after something spent their money (e.g. a usage batch): it reads the
available balance (balance less open holds) of each customer that has auto top-up or an
alert enabled and, under that customer's settings rows' locks, makes at most one auto
top-up attempt and one alert per crossing of the threshold. It makes rows only; the
caller enqueues the charges after commit, webhooks the alerts' deliveries.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config.celery import delay_after_commit
from payments import locks
from payments.alerts import low_balance as alerts
from payments.auto_topup import attempts as auto_topup
from wallets import selectors
from wallets.models import Customer

CUSTOMERS_PER_RUN_MAX = 10_000
CHUNK = 500


@dataclass
class WatchResult:
    customers_checked: int = 0
    attempt_ids: list[int] = field(default_factory=list)  # new auto top-up attempts
    alert_event_ids: list[int] = field(default_factory=list)  # new alerts (webhooks events)


def _watched(customer_ids: Iterable[int] | None):
    watched = Customer.objects.filter(billing=Customer.Billing.PREPAID).filter(
        Q(auto_topup__enabled=True) | Q(low_balance_alert__enabled=True)
    )
    if customer_ids is not None:
        watched = watched.filter(pk__in=list(customer_ids))
    return watched.select_related("currency").order_by("pk")


def _check_customer(customer: Customer, now: datetime, result: WatchResult) -> None:
    """One customer, one transaction. Rows locked in a fixed order (auto top-up settings,
    then the alert); one a concurrent run holds is skipped, not waited for."""
    with transaction.atomic():
        config, alert = locks.watched_rows_lock_or_skip(customer=customer)
        if config is None and alert is None:
            return
        found = selectors.wallet_balance_get(customer=customer)
        available = found.available if found else 0
        if config is not None:
            config.customer = customer
            attempt = auto_topup.auto_topup_trigger(
                config=config, available_minor=available, now=now
            )
            if attempt is not None:
                result.attempt_ids.append(attempt.pk)
        if alert is not None:
            alert.customer = customer
            event = alerts.low_balance_alert_trigger(
                alert=alert, available_minor=available, now=now
            )
            if event is not None:
                result.alert_event_ids.append(event.pk)


def balances_watch(
    *, customer_ids: Iterable[int] | None = None, now: datetime | None = None
) -> WatchResult:
    """Check every watched customer (or only `customer_ids`), at most
    CUSTOMERS_PER_RUN_MAX per run, in pk order, CHUNK at a time."""
    now = now or timezone.now()
    result = WatchResult()
    after = 0
    while result.customers_checked < CUSTOMERS_PER_RUN_MAX:
        chunk = list(_watched(customer_ids).filter(pk__gt=after)[:CHUNK])
        if not chunk:
            break
        for customer in chunk:
            _check_customer(customer, now, result)
        result.customers_checked += len(chunk)
        after = chunk[-1].pk
    return result


def balances_watch_after_spending(*, external_ids: Iterable[str]) -> list[int]:
    """Usage just spent these customers' money (a metering batch, in its transaction; this
    is a wallets.spending observer, registered in PaymentsConfig.ready): once it commits,
    check the watched ones among them now, instead of waiting up to a minute for beat's
    scan, so an auto top-up or an alert follows the spending at once. One query; returns
    the customers' ids it will check."""
    wanted = set(external_ids)
    if not wanted:
        return []
    ids = list(_watched(None).filter(external_id__in=wanted).values_list("pk", flat=True))
    if ids:
        # Beat's scan checks them within a minute should the enqueue fail.
        delay_after_commit("payments.tasks.watch_balances", customer_ids=ids)
    return ids
