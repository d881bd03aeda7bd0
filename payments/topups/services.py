"""Stripe top-ups: create a Checkout session, book a paid top-up, reverse refunds and
disputes. Keyword-only arguments, an actor, one transaction per write.

Accounts, in the customer's seller book (`customer.book`) and currency:
  paid:      cash:stripe Dr amount + fee / wallet:<customer> Cr amount / revenue:fees Cr fee
  reversal:  the mirror image of the part taken back (refunds, disputes), split between
             wallet and fee in proportion (topup_amounts.reversal_split); a dispute won
             gives it back. The wallet may go negative: that is visible exposure.
  dispute fee: expense:stripe_fees Dr / cash:stripe Cr, what Stripe charges for a
             dispute (its balance transactions' fees); the mirror when it returns it.
  processing fee: expense:stripe_fees Dr / cash:stripe Cr, Stripe's fee on the charge,
             read from its balance transaction after the top-up is booked
             (payments.stripe.fees, a Celery task that retries until Stripe has it).

Every booking is a ledger event whose idempotency key is derived from the Stripe object
(the Checkout session, or the PaymentIntent of an off-session charge), and the TopUp row
is locked first (payments' rows before ledger locks: payments.locks), so however
often and in whatever order Stripe's events arrive, a payment is booked once.

`topup_book` and `topup_reversal_apply` are the only two places that move top-up money.
Each keeps the credit lots (wallets.lots) in step in the same transaction: a paid top-up
opens a paid lot for the amount credited; a refund or dispute draws that lot back by what
it takes from the wallet, and a won dispute's return opens a paid lot again.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.stripe_client import stripe_configured_check
from ledger import services as ledger_services
from ledger.amounts import InvalidAmount, from_minor_units
from ledger.models import Account
from ledger.posting_rules import CREDIT, DEBIT, EntrySpec, PostingSpec, entry_payload
from ledger.services import NewEvent, ledger_errors
from payments import locks
from payments.errors import (
    CurrencyNotSupported,
    InvalidTopUp,
    PrepaidOnly,
    TopUpAmountOutOfRange,
)
from payments.models import TopUp
from payments.postings import (
    TOPUP_DISPUTE_FEE_EVENT,
    TOPUP_PAID_EVENT,
    TOPUP_PROCESSING_FEE_EVENT,
    TOPUP_REVERSAL_EVENT,
)
from payments.stripe.checkout import checkout_session_open
from payments.topups import amounts as topup_amounts
from payments.topups import paid_hooks
from wallets.lots import services as lots
from wallets.models import Customer
from wallets.services import authorization_accounts, customer_book_account

logger = logging.getLogger(__name__)

CASH_ACCOUNT_CODE = "cash:stripe"
FEES_ACCOUNT_CODE = "revenue:fees"
STRIPE_FEES_ACCOUNT_CODE = "expense:stripe_fees"  # what Stripe charges us for a dispute
# Set on the Checkout session and its PaymentIntent (and on off-session PaymentIntents),
# so a PaymentIntent's events find their top-up even before we know the intent's id.
METADATA_TOPUP = "tokenledger_topup"
# Dispute statuses after which Stripe will not move the disputed funds again.
DISPUTE_FINAL_STATUSES = ("won", "lost", "warning_closed")


# --- settings ----------------------------------------------------------------------------


def fee_percent() -> str:
    return str(getattr(settings, "WALLETS_PLATFORM_FEE_PERCENT", "5.5"))


def topup_limits_stripe(currency_code: str) -> tuple[int, int]:
    """(minimum, maximum) of a top-up's amount (fee excluded), in Stripe minor units."""
    return (
        topup_amounts.stripe_amount_parse(str(settings.WALLETS_TOPUP_MIN), currency_code),
        topup_amounts.stripe_amount_parse(str(settings.WALLETS_TOPUP_MAX), currency_code),
    )


# --- accounts ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopUpAccounts:
    cash: Account  # asset: money Stripe holds for us
    wallet: Account  # liability: the customer's funds
    fees: Account  # revenue: the platform fee


def topup_accounts(*, customer: Customer) -> TopUpAccounts:
    """The three accounts a top-up moves, in the customer's seller book and currency; the
    wallet is the account usage and authorizations debit (wallets.accounts)."""
    wallet, _clearing = authorization_accounts(customer=customer)
    return TopUpAccounts(
        cash=customer_book_account(
            customer=customer, code=CASH_ACCOUNT_CODE, type=Account.Type.ASSET
        ),
        wallet=wallet,
        fees=customer_book_account(
            customer=customer, code=FEES_ACCOUNT_CODE, type=Account.Type.REVENUE
        ),
    )


def _legs(accounts: TopUpAccounts, asset_id: int, wallet: int, fee: int) -> tuple:
    """cash Dr wallet+fee / wallet Cr wallet / fees Cr fee, for positive amounts; the
    mirror image for negative ones (a reversal). Zero legs are left out."""
    legs = []
    for account, amount, side in (
        (accounts.cash, wallet + fee, DEBIT),
        (accounts.wallet, wallet, CREDIT),
        (accounts.fees, fee, CREDIT),
    ):
        if amount:
            flipped = CREDIT if side == DEBIT else DEBIT
            side = side if amount > 0 else flipped
            legs.append(PostingSpec(account.id, asset_id, side, abs(amount)))
    return tuple(legs)


# --- creating top-ups ------------------------------------------------------------------------


def customer_payable_check(customer: Customer) -> int:
    """Ledger units per Stripe unit of the customer's currency; refuses what cannot pay."""
    if customer.billing != Customer.Billing.PREPAID:
        raise PrepaidOnly(f"customer {customer.external_id} is billed on credit, not prepaid")
    try:
        return topup_amounts.ledger_units_per_stripe_unit(
            customer.currency.code, customer.currency.scale
        )
    except topup_amounts.UnsupportedCurrency as exc:
        raise CurrencyNotSupported(str(exc)) from exc


def _amounts_in_range(customer: Customer, amount_stripe: int, percent: str):
    customer_payable_check(customer)
    code = customer.currency.code
    minimum, maximum = topup_limits_stripe(code)
    if not minimum <= amount_stripe <= maximum:
        exponent = topup_amounts.stripe_exponent(code)
        raise TopUpAmountOutOfRange(
            f"a top-up is between {settings.WALLETS_TOPUP_MIN} and "
            f"{settings.WALLETS_TOPUP_MAX} {code}",
            details={
                "minimum": from_minor_units(minimum, exponent),
                "maximum": from_minor_units(maximum, exponent),
            },
        )
    return topup_amounts.topup_amounts(
        amount_stripe=amount_stripe,
        fee_percent_millionths=topup_amounts.fee_percent_parse(percent),
        currency_code=code,
        ledger_scale=customer.currency.scale,
    )


def topup_quote(*, customer: Customer, amount: str) -> topup_amounts.TopUpAmounts:
    """What a top-up of `amount` (major units) would cost, fee included, before anything
    is written: the same parsing, range and fee as topup_checkout_create (the portal shows
    it before the customer pays). Raises what topup_checkout_create would."""
    amount_stripe = parse_topup_amount(customer=customer, amount=amount)
    return _amounts_in_range(customer, amount_stripe, fee_percent())


def topup_new(
    *, customer: Customer, amount_stripe: int, source: str, actor: str, save_card: bool = False
) -> TopUp:
    """A top-up row for `amount_stripe` (Stripe minor units) plus the platform fee, in
    range, before Stripe is asked: the caller commits it, then calls Stripe."""
    percent = fee_percent()
    amounts = _amounts_in_range(customer, amount_stripe, percent)
    return TopUp.objects.create(
        customer=customer,
        source=source,
        currency=customer.currency,
        amount_stripe=amounts.amount_stripe,
        fee_stripe=amounts.fee_stripe,
        amount_minor=amounts.amount_minor,
        fee_minor=amounts.fee_minor,
        fee_percent=percent,
        save_card=save_card,
        created_by=actor,
    )


def parse_topup_amount(*, customer: Customer, amount: str) -> int:
    """A decimal string in major units -> Stripe minor units (no rounding)."""
    customer_payable_check(customer)
    try:
        parsed = topup_amounts.stripe_amount_parse(str(amount), customer.currency.code)
    except InvalidAmount as exc:
        raise InvalidTopUp(f"amount {amount!r}: {exc.message}") from exc
    if parsed <= 0:
        raise InvalidTopUp("a top-up amount must be positive")
    return parsed


def _checkout_params(topup: TopUp) -> dict:
    currency = topup.currency.code.lower()
    reference = {METADATA_TOPUP: str(topup.public_id), "customer": topup.customer.external_id}
    items = [
        {
            "price_data": {
                "currency": currency,
                "unit_amount": topup.amount_stripe,
                "product_data": {"name": f"Wallet top-up for {topup.customer.external_id}"},
            },
            "quantity": 1,
        }
    ]
    if topup.fee_stripe:
        items.append(
            {
                "price_data": {
                    "currency": currency,
                    "unit_amount": topup.fee_stripe,
                    "product_data": {"name": f"Platform fee ({topup.fee_percent} %)"},
                },
                "quantity": 1,
            }
        )
    return {
        "mode": "payment",
        "line_items": items,
        "success_url": settings.WALLETS_TOPUP_SUCCESS_URL,
        "cancel_url": settings.WALLETS_TOPUP_CANCEL_URL,
        "client_reference_id": str(topup.public_id),
        "metadata": reference,
        "payment_intent_data": {"metadata": reference}
        | ({"setup_future_usage": "off_session"} if topup.save_card else {}),
    }


def topup_checkout_create(
    *, customer: Customer, amount: str, actor: str, save_card: bool = False
) -> TopUp:
    """Open a Stripe Checkout session for `amount` (major units) + the platform fee, for
    the customer's Stripe customer (payments.stripe.checkout).

    Three steps, so the Stripe calls run outside any transaction of ours: the row is
    committed (state creating), Stripe is asked (idempotency key from the row, so a retry
    by the Stripe client cannot open two sessions), and the session id and URL are stored
    (state open). Without Stripe configured nothing is written (503
    stripe_not_configured); when Stripe refuses or cannot be reached the row is marked
    failed (502 stripe_unavailable), never left creating. Nothing is booked until
    Stripe's webhook says it was paid. With `save_card`, Stripe keeps the card for
    off-session use and the webhook that reports the payment stores it for auto top-up
    (payments.auto_topup.saved_cards).
    """
    amount_stripe = parse_topup_amount(customer=customer, amount=amount)
    stripe_configured_check()
    with transaction.atomic():
        topup = topup_new(
            customer=customer,
            amount_stripe=amount_stripe,
            source=TopUp.Source.CHECKOUT,
            actor=actor,
            save_card=save_card,
        )
    checkout_session_open(
        row=topup,
        params=_checkout_params(topup),
        idempotency_key=f"tokenledger-topup-{topup.public_id}",
        actor=actor,
    )
    return topup


def topup_close(*, topup_id: int, state: str) -> bool:
    """An open Checkout top-up ends unpaid (expired, or its payment failed); nothing was
    booked. Returns False when it was no longer open (paid, or closed before)."""
    assert state in (TopUp.State.EXPIRED, TopUp.State.FAILED), state
    with transaction.atomic():
        return bool(TopUp.objects.filter(pk=topup_id, state=TopUp.State.OPEN).update(state=state))


# --- booking --------------------------------------------------------------------------------


def _stripe_reference(topup: TopUp) -> str:
    reference = topup.stripe_checkout_session_id or topup.stripe_payment_intent_id
    assert reference, f"top-up {topup.public_id} has no Stripe object to book"
    return reference


def _append(topup: TopUp, event_type: str, key: str, legs: tuple, memo: str, actor: str):
    entry = EntrySpec(topup.customer.book_id, legs, memo)
    payload = {
        "entries": [entry_payload(entry)],
        "topup": str(topup.public_id),
        "customer": topup.customer.external_id,
        "stripe": {
            "checkout_session": topup.stripe_checkout_session_id or None,
            "payment_intent": topup.stripe_payment_intent_id or None,
        },
    }
    [result] = ledger_services.events_record_batch(
        events=[NewEvent(event_type, payload, key)], actor=actor
    )
    return result


def _lot_key(topup: TopUp, suffix: str = "") -> str:
    return f"topup:{topup.public_id}{suffix}"


def _lots_follow_reversal(topup: TopUp, appended, wallet_delta: int, actor: str) -> None:
    """What the reversal took from the wallet comes out of the top-up's own lot; what a won
    dispute gives back is paid credit again (a new paid lot: the original may have expired
    or been drawn back meanwhile)."""
    suffix = f":reversal:{topup.reversal_count}"
    if wallet_delta > 0:
        lots.lot_reduce_for_booked_debit(
            lot=lots.booked_lot_get(customer=topup.customer, idempotency_key=_lot_key(topup)),
            event=appended,
            amount_minor=wallet_delta,
            idempotency_key=_lot_key(topup, suffix),
            actor=actor,
        )
    elif wallet_delta < 0:
        lots.lot_open_for_booked_credit(
            customer=topup.customer,
            event=appended,
            amount_minor=-wallet_delta,
            idempotency_key=_lot_key(topup, suffix),
            actor=actor,
            kind="paid",
            source=f"topup:{topup.public_id}:returned",
        )


@dataclass(frozen=True, slots=True)
class TopUpBooking:
    topup: TopUp
    booked: bool  # False: an earlier event booked this payment already


def topup_book(
    *, topup_id: int, actor: str, stripe_payment_intent_id: str | None = None
) -> TopUpBooking:
    """Book a paid top-up, once: cash:stripe Dr amount + fee / wallet Cr amount /
    revenue:fees Cr fee, from the amounts on our own row (never from the webhook's).

    One transaction: the row is locked, the event appended with a key derived from the
    Stripe object, the row marked paid. A second call for the same payment (another
    event, a redelivery, the synchronous answer of an off-session charge) returns
    booked=False and books nothing.
    """
    with ledger_errors(), transaction.atomic():
        topup = locks.topup_lock(topup_id=topup_id)
        if topup.state == TopUp.State.PAID:
            return TopUpBooking(topup, booked=False)
        if stripe_payment_intent_id and not topup.stripe_payment_intent_id:
            topup.stripe_payment_intent_id = stripe_payment_intent_id
        accounts = topup_accounts(customer=topup.customer)
        legs = _legs(accounts, topup.currency_id, topup.amount_minor, topup.fee_minor)
        result = _append(
            topup,
            TOPUP_PAID_EVENT,
            f"stripe:{_stripe_reference(topup)}:paid",
            legs,
            f"top-up {topup.public_id} ({topup.source})",
            actor,
        )
        lots.lot_open_for_booked_credit(
            customer=topup.customer,
            event=result,
            amount_minor=topup.amount_minor,
            idempotency_key=_lot_key(topup),
            actor=actor,
            kind="paid",
            source=f"topup:{topup.public_id}",
        )
        topup.state = TopUp.State.PAID
        topup.paid_event_sequence = result.sequence
        topup.paid_at = timezone.now()
        topup.error = ""
        topup.save(
            update_fields=[
                "state",
                "paid_event_sequence",
                "paid_at",
                "stripe_payment_intent_id",
                "error",
            ]
        )
        # Invoicing's receipt, in this transaction (payments.topups.paid_hooks).
        paid_hooks.topup_paid_hooks_run(topup=topup, actor=actor)
    logger.info("top-up %s booked: %s minor units", topup.public_id, topup.amount_minor)
    from payments.stripe import fees  # it imports this module

    fees.processing_fee_book_later(topup_id=topup.pk)
    return TopUpBooking(topup, booked=True)


@dataclass(frozen=True, slots=True)
class DisputeUpdate:
    dispute_id: str
    status: str
    amount_stripe: int
    # The net of Stripe's fees on the dispute so far (the sum of its balance transactions'
    # `fee`, Stripe minor units); None when the event did not say (nothing to book).
    fees_stripe: int | None = None

    @property
    def final(self) -> bool:
        return self.status in DISPUTE_FINAL_STATUSES

    @property
    def withdrawn_stripe(self) -> int:
        """What the dispute takes from us now: nothing for an inquiry (warning_*, no funds
        move) or a won dispute, the disputed amount otherwise (open or lost)."""
        if self.status == "won" or self.status.startswith("warning_"):
            return 0
        return self.amount_stripe


@dataclass(frozen=True, slots=True)
class TopUpReversal:
    topup: TopUp
    wallet_minor: int  # taken from the wallet by this call (negative: given back)
    fee_minor: int  # taken from fee revenue by this call (negative: given back)
    capped: bool  # refunds + disputes exceeded the payment; capped at its total
    dispute_fee_minor: int = 0  # Stripe's dispute fee booked by this call (negative: returned)

    @property
    def moved(self) -> bool:
        return bool(self.wallet_minor or self.fee_minor or self.dispute_fee_minor)


def _dispute_apply(topup: TopUp, dispute: DisputeUpdate) -> bool:
    """A final dispute status is kept: a late `created` after `closed` changes nothing
    (returns False)."""
    if topup.dispute_id == dispute.dispute_id and topup.dispute_status in DISPUTE_FINAL_STATUSES:
        return False
    topup.dispute_id = dispute.dispute_id
    topup.dispute_status = dispute.status
    topup.disputed_stripe = dispute.withdrawn_stripe
    return True


def _stripe_fee_legs(topup: TopUp, amount_minor: int) -> tuple:
    """expense:stripe_fees Dr / cash:stripe Cr for a fee Stripe took; the mirror for one
    it gave back (a negative amount)."""
    customer = topup.customer
    expense = customer_book_account(
        customer=customer, code=STRIPE_FEES_ACCOUNT_CODE, type=Account.Type.EXPENSE
    )
    cash = customer_book_account(customer=customer, code=CASH_ACCOUNT_CODE, type=Account.Type.ASSET)
    taken = amount_minor > 0
    return (
        PostingSpec(expense.id, topup.currency_id, DEBIT if taken else CREDIT, abs(amount_minor)),
        PostingSpec(cash.id, topup.currency_id, CREDIT if taken else DEBIT, abs(amount_minor)),
    )


def topup_processing_fee_book(
    *, topup_id: int, fee_stripe: int, currency: str, actor: str
) -> int | None:
    """Book Stripe's processing fee on a paid top-up's charge (its balance transaction's
    `fee`, Stripe minor units of `currency`) once: expense:stripe_fees Dr / cash:stripe
    Cr. Returns the ledger units booked; None when it was booked (or recorded) before.
    A fee in another currency than the top-up's (Stripe settles in the account's
    currency) is recorded on the row, not booked: the ledger has no rate to convert it."""
    with ledger_errors(), transaction.atomic():
        topup = locks.topup_lock(topup_id=topup_id)
        assert topup.state == TopUp.State.PAID, f"top-up {topup.public_id} is not booked"
        if topup.processing_fee_stripe is not None:
            return None
        topup.processing_fee_stripe, topup.processing_fee_currency = fee_stripe, currency
        booked = 0
        if currency == topup.currency.code and fee_stripe:
            booked = fee_stripe * topup.ledger_units_per_stripe_unit
            _append(
                topup,
                TOPUP_PROCESSING_FEE_EVENT,
                f"stripe:{_stripe_reference(topup)}:processing-fee",
                _stripe_fee_legs(topup, booked),
                f"top-up {topup.public_id}: Stripe processing fee {fee_stripe}",
                actor,
            )
        topup.save(update_fields=["processing_fee_stripe", "processing_fee_currency"])
    return booked


def _dispute_fees_book(topup: TopUp, fees_stripe: int, actor: str) -> int:
    """Book the difference between Stripe's dispute fees now and what was booked: the
    fee when the dispute opens, its return if Stripe gives it back. Returns ledger units."""
    delta = (fees_stripe - topup.dispute_fees_stripe) * topup.ledger_units_per_stripe_unit
    if not delta:
        return 0
    topup.dispute_fee_bookings += 1
    _append(
        topup,
        TOPUP_DISPUTE_FEE_EVENT,
        f"stripe:{_stripe_reference(topup)}:dispute-fee:{topup.dispute_fee_bookings}",
        _stripe_fee_legs(topup, delta),
        f"top-up {topup.public_id}: Stripe dispute fees {fees_stripe} "
        f"({topup.dispute_id}, {topup.dispute_status})",
        actor,
    )
    topup.dispute_fees_stripe = fees_stripe
    return delta


def topup_reversal_apply(
    *,
    topup_id: int,
    actor: str,
    refunded_stripe: int | None = None,
    refunded_now: Callable[[], int] | None = None,
    dispute: DisputeUpdate | None = None,
) -> TopUpReversal:
    """Bring the ledger's reversal of a paid top-up to what Stripe reports now.

    `refunded_now` asks Stripe for the charge's cumulative `amount_refunded` under the
    top-up's lock, so concurrent events cannot apply their answers out of order; the
    amount may go down (a refund that failed or was canceled: the wallet gets it back).
    `refunded_stripe` is such an amount from an event's snapshot (an older event that
    arrives late reports less and is ignored); `dispute` is the dispute's state. The part
    taken back is refunded + withdrawn by a dispute, at most the payment's total; it is
    split between wallet and fee in proportion (topup_amounts.reversal_split), and only
    the difference from what was reversed before is booked. So a redelivered or repeated
    event books nothing, and a won dispute gives back exactly what its opening took.
    """
    assert topup_id and (refunded_stripe, refunded_now, dispute) != (None, None, None)
    with ledger_errors(), transaction.atomic():
        topup = locks.topup_lock(topup_id=topup_id)
        assert topup.state == TopUp.State.PAID, f"top-up {topup.public_id} is not booked"
        if refunded_stripe is not None:
            topup.refunded_stripe = max(topup.refunded_stripe, refunded_stripe)
        if refunded_now is not None:
            topup.refunded_stripe = refunded_now()
        dispute_fee = 0
        if dispute is not None and _dispute_apply(topup, dispute):
            if dispute.fees_stripe is not None:
                dispute_fee = _dispute_fees_book(topup, dispute.fees_stripe, actor)
        taken = topup.refunded_stripe + topup.disputed_stripe
        capped = taken > topup.total_stripe
        wallet, fee = topup_amounts.reversal_split(
            taken_back_stripe=min(taken, topup.total_stripe),
            amount_minor=topup.amount_minor,
            fee_minor=topup.fee_minor,
            unit=topup.ledger_units_per_stripe_unit,
        )
        wallet_delta = wallet - topup.wallet_reversed_minor
        fee_delta = fee - topup.fee_reversed_minor
        if wallet_delta or fee_delta:
            topup.reversal_count += 1
            legs = _legs(
                topup_accounts(customer=topup.customer),
                topup.currency_id,
                -wallet_delta,
                -fee_delta,
            )
            appended = _append(
                topup,
                TOPUP_REVERSAL_EVENT,
                f"stripe:{_stripe_reference(topup)}:reversal:{topup.reversal_count}",
                legs,
                f"top-up {topup.public_id}: refunded {topup.refunded_stripe}, "
                f"disputed {topup.disputed_stripe} ({topup.dispute_status or 'no dispute'})",
                actor,
            )
            _lots_follow_reversal(topup, appended, wallet_delta, actor)
            topup.wallet_reversed_minor, topup.fee_reversed_minor = wallet, fee
        topup.save(
            update_fields=[
                "refunded_stripe",
                "disputed_stripe",
                "dispute_id",
                "dispute_status",
                "wallet_reversed_minor",
                "fee_reversed_minor",
                "reversal_count",
                "dispute_fees_stripe",
                "dispute_fee_bookings",
            ]
        )
    return TopUpReversal(topup, wallet_delta, fee_delta, capped, dispute_fee)
