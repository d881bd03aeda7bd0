"""Every row lock payments takes, in one place (as Saleor's checkout/lock_objects.py).

Payments' rows are locked before any ledger lock (see ledger.locks). Among themselves,
in this order: the StripeEvent insert (its unique id: a second delivery waits there),
then an auto top-up attempt or a card setup, then auto top-up settings, then the
low-balance alert, then a top-up, then the ledger. A transaction takes some of these in
that order and never goes back: the webhook stores a top-up's card (settings) before it
books the top-up (TopUp, ledger); the watch locks settings, then the alert, and only
inserts rows after them.

Each function runs inside the caller's transaction and returns the rows it locked.
"""

from payments.models import (
    AutoTopUpAttempt,
    AutoTopUpSettings,
    CardSetup,
    LowBalanceAlert,
    TopUp,
)
from wallets.models import Customer


def topup_lock(*, topup_id: int) -> TopUp:
    """The top-up row (with its customer and currency, unlocked), to book or reverse it."""
    return (
        TopUp.objects.select_for_update(of=("self",))
        .select_related("customer", "currency")
        .get(pk=topup_id)
    )


def auto_topup_attempt_lock(*, attempt_id: int) -> AutoTopUpAttempt:
    """The attempt row (with its customer and top-up, unlocked), for a try or its answer."""
    return (
        AutoTopUpAttempt.objects.select_for_update(of=("self",))
        .select_related("customer__currency", "topup")
        .get(pk=attempt_id)
    )


def card_setup_lock(*, setup_id: int) -> CardSetup:
    """The card setup row (with its customer, unlocked), to store the card it saved."""
    return (
        CardSetup.objects.select_for_update(of=("self",))
        .select_related("customer__currency")
        .get(pk=setup_id)
    )


def auto_topup_settings_lock(*, customer: Customer) -> AutoTopUpSettings | None:
    """The customer's auto top-up settings row, if it has one."""
    return AutoTopUpSettings.objects.select_for_update().filter(customer=customer).first()


def auto_topup_settings_lock_by_card(*, payment_method_id: str) -> list[AutoTopUpSettings]:
    """Every auto top-up settings row charging this card, in pk order, and their
    customers' rows with them (no `of`: the join is locked too)."""
    return list(
        AutoTopUpSettings.objects.select_for_update()
        .select_related("customer")
        .filter(stripe_payment_method_id=payment_method_id)
        .order_by("pk")
    )


def watched_rows_lock_or_skip(
    *, customer: Customer
) -> tuple[AutoTopUpSettings | None, LowBalanceAlert | None]:
    """The customer's enabled auto top-up settings, then its enabled alert; a row a
    concurrent watch holds is skipped (None), not waited for."""
    config = (
        AutoTopUpSettings.objects.select_for_update(skip_locked=True)
        .filter(customer=customer, enabled=True)
        .first()
    )
    alert = (
        LowBalanceAlert.objects.select_for_update(skip_locked=True)
        .filter(customer=customer, enabled=True)
        .first()
    )
    return config, alert


def low_balance_alert_lock(*, customer: Customer) -> LowBalanceAlert | None:
    """The customer's low-balance alert row, if it has one."""
    return LowBalanceAlert.objects.select_for_update().filter(customer=customer).first()
