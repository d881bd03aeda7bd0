"""Stripe's webhook: verify the signature, record each event once, act on it.

A payload whose Stripe-Signature does not verify against STRIPE_WEBHOOK_SECRET (or is
older than STRIPE_WEBHOOK_TOLERANCE_S) is refused before anything is stored or booked.
A verified event is recorded by its id in the same transaction as what it does, so a
redelivery (or a concurrent second delivery) finds it and changes nothing; an error
while acting rolls the record back too, Stripe gets a 500 and delivers again later.

What each event does (amounts and currency always come from our TopUp row; Stripe's are
only compared with it, and a difference books nothing and is recorded as a mismatch):
- checkout.session.completed (paid) / .async_payment_succeeded: book the top-up (and,
  when it asked to, save the card it paid with: payments.auto_topup.saved_cards);
- checkout.session.completed in setup mode / setup_intent.succeeded: save the card of a
  card setup for auto top-up (payments.auto_topup.saved_cards);
- checkout.session.expired / .async_payment_failed: close it unpaid;
- payment_intent.succeeded: book the top-up it belongs to (an auto top-up's charge; for
  a Checkout payment whichever of the two events comes first books, the other finds it
  booked; a top-up that asked to save its card saves it); a second payment for a booked
  top-up is flagged, never booked;
- payment_intent.payment_failed: an auto top-up's try failed (retried or given up);
- payment_method.detached: a saved card removed on Stripe is forgotten and the auto
  top-ups that used it are switched off (saved_cards.card_detached);
- charge.refunded, charge.refund.updated, refund.created / .updated / .failed: ask
  Stripe for the charge's refunded amount now and reverse that part (an event's own
  figure may be stale; a refund that fails gives the wallet its share back);
- charge.dispute.created / .updated / .closed: take the disputed amount back while the
  dispute is open or lost; give it back when won. Stripe's dispute fee (the net `fee` of
  the dispute's balance transactions) is booked as expense:stripe_fees against
  cash:stripe, and returned if Stripe returns it; a fee in another currency than the
  top-up's is not booked and the event's detail says so.
Any other type is recorded and acknowledged.
"""

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction

from payments.auto_topup import attempts as auto_topup
from payments.auto_topup import saved_cards
from payments.errors import (
    InvalidStripePayload,
    InvalidStripeSignature,
    StripeWebhookNotConfigured,
)
from payments.models import StripeEvent, TopUp
from payments.stripe import checkout as stripe_checkout
from payments.stripe.checkout import metadata_uuid
from payments.stripe.checkout import stripe_id as _id
from payments.topups import services as topups

logger = logging.getLogger(__name__)

ACTOR = "stripe:webhook"
Outcome = StripeEvent.Outcome


@dataclass(frozen=True, slots=True)
class Handled:
    outcome: str
    detail: str = ""
    topup: TopUp | None = None


# --- verification --------------------------------------------------------------------------


def webhook_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for `payload`, exactly as Stripe signs: `t=<unix>,v1=<hex
    HMAC-SHA256(secret, "<t>.<payload>")>` (the demo's stripe_demo_pay and the tests)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def stripe_event_verify(*, payload: bytes, signature: str | None) -> dict:
    """The event, if the signature verifies; else invalid_signature (nothing stored)."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise StripeWebhookNotConfigured("STRIPE_WEBHOOK_SECRET is not set")
    if not signature:
        raise InvalidStripeSignature("the Stripe-Signature header is missing")
    try:
        stripe.Webhook.construct_event(
            payload, signature, secret, tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_S
        )
    except stripe.SignatureVerificationError as exc:
        raise InvalidStripeSignature(f"the Stripe signature does not verify: {exc}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidStripePayload("the payload is not a JSON Stripe event") from exc
    event = json.loads(payload)
    data = event.get("data") if isinstance(event, dict) else None
    if not (
        isinstance(event.get("id"), str)
        and 0 < len(event["id"]) <= 255
        and isinstance(event.get("type"), str)
        and isinstance(data, dict)
        and isinstance(data.get("object"), dict)
    ):
        raise InvalidStripePayload("a Stripe event needs an id, a type and data.object")
    return event


# --- reading Stripe objects ------------------------------------------------------------------


def _int(obj: dict, name: str) -> int:
    value = obj.get(name)
    if type(value) is not int or value < 0:
        raise InvalidStripePayload(f"{obj.get('object', 'object')}.{name} must be an integer")
    return value


def _mismatch(topup: TopUp, amount, currency) -> str:
    """Why Stripe's amount or currency contradicts our row ("" when they agree)."""
    if currency is not None and str(currency).upper() != topup.currency.code:
        return f"currency {currency} is not the top-up's {topup.currency.code}"
    if amount is not None and amount != topup.total_stripe:
        return f"amount {amount} is not the top-up's total {topup.total_stripe}"
    return ""


def _topup_for_intent(intent: dict) -> TopUp | None:
    """By the top-up id we put in the metadata, else by the intent id we stored."""
    found = TopUp.objects.select_related("currency", "customer")
    reference = metadata_uuid(intent, topups.METADATA_TOPUP)
    topup = found.filter(public_id=reference).first() if reference else None
    return topup or found.filter(stripe_payment_intent_id=_id(intent.get("id"))).first()


def _topup_for_charge(charge_or_dispute: dict) -> TopUp | None:
    intent = _id(charge_or_dispute.get("payment_intent"))
    if intent is None:
        return None
    return (
        TopUp.objects.select_related("currency", "customer")
        .filter(stripe_payment_intent_id=intent)
        .first()
    )


# --- handlers ---------------------------------------------------------------------------------


def _booked(booking: topups.TopUpBooking, detail: str = "") -> Handled:
    outcome = Outcome.BOOKED if booking.booked else Outcome.ALREADY_BOOKED
    return Handled(outcome, detail, booking.topup)


def _card_kept(topup: TopUp, card: saved_cards.StripeCard | None) -> str:
    """A paid top-up that asked to save its card: store it (once). Called before booking,
    so the settings row is locked before the top-up and the ledger (payments.locks)."""
    if card is None:
        return "no payment method to save"
    return saved_cards.topup_card_save(topup=topup, card=card, actor=ACTOR).detail


def _checkout_paid(session: dict) -> Handled:
    topup = (
        TopUp.objects.select_related("currency", "customer")
        .filter(stripe_checkout_session_id=_id(session.get("id")))
        .first()
    )
    if topup is None:
        return Handled(Outcome.UNMATCHED, "no top-up has this checkout session")
    if session.get("payment_status") != "paid":
        return Handled(Outcome.RECORDED, "not paid yet (an asynchronous payment)", topup)
    mismatch = _mismatch(topup, session.get("amount_total"), session.get("currency"))
    if mismatch:
        return Handled(Outcome.MISMATCH, mismatch, topup)
    intent_id = _id(session.get("payment_intent"))
    detail = ""
    if topup.save_card and intent_id:
        # The session names the payment's PaymentIntent; its payment method is the card.
        detail = _card_kept(topup, saved_cards.intent_card(intent_id=intent_id))
    booking = topups.topup_book(topup_id=topup.pk, actor=ACTOR, stripe_payment_intent_id=intent_id)
    return _booked(booking, detail)


def _checkout_completed(session: dict) -> Handled:
    if session.get("mode") == "setup":
        return _card_setup_completed(session)
    return _checkout_paid(session)


def _card_saved(saved: saved_cards.CardSaved) -> Handled:
    if saved.mismatch:
        logger.error("card not saved: %s", saved.detail)
        return Handled(Outcome.MISMATCH, saved.detail)
    return Handled(Outcome.CARD_SAVED if saved.saved else Outcome.RECORDED, saved.detail)


def _card_setup_completed(session: dict) -> Handled:
    """A setup session completed: its SetupIntent holds the card, read from Stripe."""
    setup = saved_cards.card_setup_for_session(_id(session.get("id")))
    if setup is None:
        return Handled(Outcome.UNMATCHED, "no card setup has this checkout session")
    intent_id = _id(session.get("setup_intent"))
    if intent_id is None:
        raise InvalidStripePayload("a completed setup session needs its setup_intent")
    card = saved_cards.intent_card(intent_id=intent_id)
    if card is None:
        raise InvalidStripePayload(f"setup intent {intent_id} has no payment method")
    return _card_saved(
        saved_cards.card_setup_complete(
            setup_id=setup.pk, setup_intent_id=intent_id, card=card, actor=ACTOR
        )
    )


def _setup_intent_succeeded(intent: dict) -> Handled:
    setup = saved_cards.card_setup_for_intent(intent)
    if setup is None:
        return Handled(Outcome.UNMATCHED, "no card setup has this setup intent")
    card = saved_cards.stripe_card(
        intent.get("payment_method"), stripe_customer_id=_id(intent.get("customer"))
    )
    if card is None:
        raise InvalidStripePayload("a succeeded setup intent needs its payment_method")
    return _card_saved(
        saved_cards.card_setup_complete(
            setup_id=setup.pk, setup_intent_id=_id(intent.get("id")), card=card, actor=ACTOR
        )
    )


def _payment_method_detached(method: dict) -> Handled:
    method_id = _id(method.get("id"))
    if method_id is None:
        raise InvalidStripePayload("a detached payment method needs its id")
    done = saved_cards.card_detached(payment_method_id=method_id, actor=ACTOR)
    if done is None:
        return Handled(Outcome.UNMATCHED, "no auto top-up uses this card")
    return Handled(Outcome.RECORDED, done)


def _checkout_closer(state: str) -> Callable[[dict], Handled]:
    """The session expired, or its asynchronous payment failed: the top-up closes unpaid."""

    def close(session: dict) -> Handled:
        topup = TopUp.objects.filter(stripe_checkout_session_id=_id(session.get("id"))).first()
        if topup is None:
            return Handled(Outcome.UNMATCHED, "no top-up has this checkout session")
        closed = topups.topup_close(topup_id=topup.pk, state=state)
        return Handled(Outcome.RECORDED, f"{state}" if closed else "no longer open", topup)

    return close


def _intent_succeeded(intent: dict) -> Handled:
    topup = _topup_for_intent(intent)
    if topup is None:
        return Handled(Outcome.UNMATCHED, "no top-up has this payment intent")
    intent_id = _id(intent.get("id"))
    amount = intent.get("amount_received", intent.get("amount"))
    mismatch = _mismatch(topup, amount, intent.get("currency"))
    if not mismatch and topup.state == TopUp.State.PAID:
        if topup.stripe_payment_intent_id not in ("", intent_id):
            mismatch = (
                f"a second payment ({intent_id}) for a top-up paid by "
                f"{topup.stripe_payment_intent_id}: refund it"
            )
    if mismatch:
        logger.error("payment intent %s: %s", intent_id, mismatch)
        return Handled(Outcome.MISMATCH, mismatch, topup)
    if topup.source == TopUp.Source.AUTO:
        booking = auto_topup.auto_topup_payment_succeeded(topup=topup, payment_intent_id=intent_id)
        return _booked(booking)
    detail = ""
    if topup.save_card:
        card = saved_cards.stripe_card(
            intent.get("payment_method"), stripe_customer_id=_id(intent.get("customer"))
        )
        detail = _card_kept(topup, card)
    booking = topups.topup_book(topup_id=topup.pk, actor=ACTOR, stripe_payment_intent_id=intent_id)
    return _booked(booking, detail)


def _intent_failed(intent: dict) -> Handled:
    topup = _topup_for_intent(intent)
    if topup is None:
        return Handled(Outcome.UNMATCHED, "no top-up has this payment intent")
    if topup.source != TopUp.Source.AUTO:
        return Handled(Outcome.RECORDED, "a checkout payment failed; the page may retry", topup)
    error = intent.get("last_payment_error") or {}
    text = f"payment_failed {error.get('code', '')}: {error.get('message', '')}".strip()
    recorded = auto_topup.auto_topup_payment_failed(
        topup=topup, payment_intent_id=_id(intent.get("id")), error=text[:500]
    )
    detail = "try failed" if recorded else "not the attempt's current charge"
    return Handled(Outcome.RECORDED, detail, topup)


def _reversal(topup: TopUp | None, obj: dict, **changes) -> Handled:
    if topup is None:
        return Handled(Outcome.UNMATCHED, "no top-up has this payment intent")
    if topup.state != TopUp.State.PAID:
        return Handled(Outcome.UNMATCHED, f"the top-up is {topup.state}, not booked", topup)
    mismatch = _mismatch(topup, None, obj.get("currency"))
    if mismatch:
        return Handled(Outcome.MISMATCH, mismatch, topup)
    reversal = topups.topup_reversal_apply(topup_id=topup.pk, actor=ACTOR, **changes)
    detail = f"wallet {-reversal.wallet_minor:+d}, fee {-reversal.fee_minor:+d} minor units" + (
        " (capped at the payment's total)" if reversal.capped else ""
    )
    if reversal.dispute_fee_minor:
        detail += f", Stripe dispute fee {reversal.dispute_fee_minor:+d} minor units"
    return Handled(Outcome.REVERSED if reversal.moved else Outcome.RECORDED, detail, topup)


def _refunds_sync(topup: TopUp | None, obj: dict, charge_id: str | None) -> Handled:
    """Any refund event: ask Stripe what the charge's refunds amount to now, under the
    top-up's lock (topups.topup_reversal_apply), and book the difference."""
    if charge_id is None:
        raise InvalidStripePayload(f"a {obj.get('object', 'refund')} event needs its charge id")

    def refunded_now() -> int:
        found = stripe_checkout.charge_refunds_get(charge_id)
        if topup is not None and found.payment_intent != topup.stripe_payment_intent_id:
            raise InvalidStripePayload(
                f"charge {charge_id} belongs to payment {found.payment_intent}, not the top-up's"
            )
        return found.amount_refunded

    return _reversal(topup, obj, refunded_now=refunded_now)


def _charge_refunded(charge: dict) -> Handled:
    return _refunds_sync(_topup_for_charge(charge), charge, _id(charge.get("id")))


def _refund_changed(refund: dict) -> Handled:
    return _refunds_sync(_topup_for_charge(refund), refund, _id(refund.get("charge")))


def _dispute_fees(dispute: dict, topup: TopUp | None) -> tuple[int | None, str]:
    """(net fees of the dispute's balance transactions, a note when they are not booked).
    None when the event lists no balance transactions or they are in another currency."""
    transactions = dispute.get("balance_transactions")
    if transactions is None or topup is None:
        return None, ""
    if not isinstance(transactions, list):
        raise InvalidStripePayload("dispute.balance_transactions must be a list")
    total = 0
    for transaction_ in transactions:
        fee = transaction_.get("fee") if isinstance(transaction_, dict) else None
        if type(fee) is not int:
            raise InvalidStripePayload("dispute.balance_transactions[].fee must be an integer")
        currency = str(transaction_.get("currency", "")).upper()
        if currency != topup.currency.code:
            return None, (
                f"dispute fee in {currency or 'no currency'} not booked "
                f"(the top-up is in {topup.currency.code})"
            )
        total += fee
    if total < 0:
        raise InvalidStripePayload("a dispute's fees cannot add up to less than zero")
    return total, ""


def _dispute(dispute: dict) -> Handled:
    status = dispute.get("status")
    dispute_id = _id(dispute.get("id"))
    if not isinstance(status, str) or dispute_id is None:
        raise InvalidStripePayload("a dispute needs an id and a status")
    topup = _topup_for_charge(dispute)
    fees, note = _dispute_fees(dispute, topup)
    update = topups.DisputeUpdate(dispute_id, status, _int(dispute, "amount"), fees)
    handled = _reversal(topup, dispute, dispute=update)
    return replace(handled, detail=f"{handled.detail}; {note}") if note else handled


HANDLERS: dict[str, Callable[[dict], Handled]] = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _checkout_paid,
    "checkout.session.expired": _checkout_closer(TopUp.State.EXPIRED),
    "checkout.session.async_payment_failed": _checkout_closer(TopUp.State.FAILED),
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_failed,
    "setup_intent.succeeded": _setup_intent_succeeded,
    "payment_method.detached": _payment_method_detached,
    "charge.refunded": _charge_refunded,
    "charge.refund.updated": _refund_changed,
    "refund.created": _refund_changed,
    "refund.updated": _refund_changed,
    "refund.failed": _refund_changed,
    "charge.dispute.created": _dispute,
    "charge.dispute.updated": _dispute,
    "charge.dispute.closed": _dispute,
}


# --- processing --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessedEvent:
    record: StripeEvent
    duplicate: bool  # this event id was processed before: nothing was done now


def _created_at(event: dict) -> datetime | None:
    created = event.get("created")
    return datetime.fromtimestamp(created, tz=UTC) if type(created) is int else None


def stripe_event_process(*, event: dict) -> ProcessedEvent:
    """Record a verified event once and do what it says, in one transaction."""
    event_id = event["id"]
    earlier = StripeEvent.objects.filter(event_id=event_id).first()
    if earlier is not None:
        return ProcessedEvent(earlier, duplicate=True)
    obj = event["data"]["object"]
    try:
        with transaction.atomic():
            # Inserted first: a concurrent delivery of the same event waits on the unique
            # id here, then fails and answers as a duplicate.
            record = StripeEvent.objects.create(
                event_id=event_id,
                type=event["type"][:100],
                livemode=event.get("livemode") is True,
                stripe_created_at=_created_at(event),
                object_id=(_id(obj.get("id")) or "")[:255],
                outcome=Outcome.IGNORED,
                payload=event,
            )
            handler = HANDLERS.get(event["type"])
            try:
                handled = handler(obj) if handler else Handled(Outcome.IGNORED, "not handled")
            except InvalidStripePayload as exc:
                handled = Handled(Outcome.MALFORMED, exc.message)
            record.outcome, record.detail = handled.outcome, handled.detail[:500]
            record.topup = handled.topup
            record.save(update_fields=["outcome", "detail", "topup"])
    except IntegrityError:
        earlier = StripeEvent.objects.filter(event_id=event_id).first()
        if earlier is None:
            raise
        return ProcessedEvent(earlier, duplicate=True)
    logger.info("stripe event %s %s: %s", event_id, event["type"], record.outcome)
    return ProcessedEvent(record, duplicate=False)
