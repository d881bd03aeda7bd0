"""Saving a customer's card for auto top-up, through Stripe. Keyword-only arguments, an
actor; the writes called by Stripe's webhook run in the webhook's transaction.

Two ways, both for the customer's own Stripe Customer (payments.stripe.checkout), so the
card is attached to it and can be charged off-session:
- a Checkout session in `setup` mode (`card_setup_create`, a CardSetup row): the customer
  enters a card, nothing is charged; `checkout.session.completed` (mode setup, its
  `setup_intent`) or `setup_intent.succeeded` stores the card;
- a Checkout top-up with `save_card` (payments.topups): Stripe keeps the card it paid with
  (setup_future_usage=off_session); the payment's webhook stores it, read from the
  payment's PaymentIntent.

Storing a card writes it on the customer's AutoTopUpSettings (created disabled when there
are none: the customer then chooses threshold and target), with where it came from and
when, and re-arms the settings like any change of card. A card is stored once per
source: a replay, or the second of the two events that report the same setup or payment,
changes nothing. Card brand and last4 are what Stripe reports ("" when it does not).

Stripe is read (never written) inside the webhook's transaction: the SetupIntent or
PaymentIntent for its payment method. A failed read rolls the event back and Stripe
delivers it again; only the card's description is best effort.

Lock order: StripeEvent insert → CardSetup → AutoTopUpSettings; for a top-up's card the
settings row is stored before the top-up is booked (settings → TopUp → ledger).
"""

import logging
from dataclasses import dataclass, replace

import stripe
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.stripe_client import stripe_client, stripe_configured_check
from payments import locks
from payments.models import AutoTopUpSettings, CardSetup, StripeCustomer, TopUp
from payments.stripe.checkout import checkout_session_open, metadata_uuid, stripe_id
from payments.topups import amounts as topup_amounts
from payments.topups import services as topups
from wallets.models import Customer

logger = logging.getLogger(__name__)

# Set on the setup session's SetupIntent, so setup_intent.succeeded finds its CardSetup
# even when it arrives before checkout.session.completed told us the SetupIntent's id.
METADATA_CARD_SETUP = "tokenledger_card_setup"
Source = AutoTopUpSettings.PaymentMethodSource


@dataclass(frozen=True, slots=True)
class StripeCard:
    """A payment method as Stripe reported it."""

    payment_method_id: str
    brand: str = ""
    last4: str = ""
    # The Stripe customer the method (or its intent) belongs to, when Stripe said.
    stripe_customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class CardSaved:
    saved: bool  # False: refused (mismatch) or stored before (a replay)
    detail: str
    mismatch: bool = False


def stripe_card(method, *, stripe_customer_id: str | None = None) -> StripeCard | None:
    """From a payment method as Stripe sends it: a bare id, or the expanded object."""
    method_id = stripe_id(method)
    if method_id is None:
        return None
    card = method.get("card") if isinstance(method, dict) else None
    card = card if isinstance(card, dict) else {}
    brand, last4 = card.get("brand"), card.get("last4")
    return StripeCard(
        method_id,
        brand[:32] if isinstance(brand, str) else "",
        last4 if isinstance(last4, str) and len(last4) == 4 and last4.isdigit() else "",
        stripe_customer_id
        or (stripe_id(method.get("customer")) if isinstance(method, dict) else None),
    )


def intent_card(*, intent_id: str) -> StripeCard | None:
    """The payment method of a SetupIntent (seti_…) or PaymentIntent (pi_…), read from
    Stripe with the method expanded (its card). Raises stripe.StripeError."""
    client = stripe_client().v1
    service = client.setup_intents if intent_id.startswith("seti_") else client.payment_intents
    intent = service.retrieve(intent_id, params={"expand": ["payment_method"]}).to_dict()
    return stripe_card(
        intent.get("payment_method"), stripe_customer_id=stripe_id(intent.get("customer"))
    )


def _described(card: StripeCard) -> StripeCard:
    """The card with its brand and last4 when Stripe gives them: best effort, a tenant
    sees less but the card is stored anyway."""
    if card.last4:
        return card
    try:
        method = stripe_client().v1.payment_methods.retrieve(card.payment_method_id).to_dict()
    except stripe.StripeError as exc:
        logger.warning("payment method %s not described: %s", card.payment_method_id, exc)
        return card
    described = stripe_card(method)
    if described is None:
        return card
    return replace(card, brand=described.brand, last4=described.last4)


# --- a card setup: Checkout in setup mode ----------------------------------------------------


def card_setup_create(*, customer: Customer, actor: str) -> CardSetup:
    """Open a Checkout session in setup mode for the customer's Stripe customer; the
    customer enters a card on `checkout_url`, nothing is charged. Like a top-up: our row
    is committed first, Stripe is asked outside any transaction with a key from the row."""
    topups.customer_payable_check(customer)
    stripe_configured_check()
    with transaction.atomic():
        setup = CardSetup.objects.create(customer=customer, created_by=actor)
    reference = {METADATA_CARD_SETUP: str(setup.public_id), "customer": customer.external_id}
    setup.stripe_customer_id = checkout_session_open(
        row=setup,
        params={
            "mode": "setup",
            "currency": customer.currency.code.lower(),
            "success_url": settings.WALLETS_CARD_SETUP_SUCCESS_URL,
            "cancel_url": settings.WALLETS_CARD_SETUP_CANCEL_URL,
            "client_reference_id": str(setup.public_id),
            "metadata": reference,
            "setup_intent_data": {
                "metadata": reference,
                "description": f"Card for auto top-up of {customer.external_id}",
            },
        },
        idempotency_key=f"tokenledger-card-setup-{setup.public_id}",
        actor=actor,
    )
    with transaction.atomic():
        setup.save(update_fields=["stripe_customer_id"])
    return setup


def card_setup_for_session(session_id: str | None) -> CardSetup | None:
    if not session_id:
        return None
    return CardSetup.objects.filter(stripe_checkout_session_id=session_id).first()


def card_setup_for_intent(intent: dict) -> CardSetup | None:
    """By the card setup id we put in the SetupIntent's metadata, else by its id."""
    reference = metadata_uuid(intent, METADATA_CARD_SETUP)
    found = CardSetup.objects.filter(public_id=reference).first() if reference else None
    intent_id = stripe_id(intent.get("id"))
    if found is None and intent_id:
        found = CardSetup.objects.filter(stripe_setup_intent_id=intent_id).first()
    return found


def card_setup_complete(
    *, setup_id: int, setup_intent_id: str, card: StripeCard, actor: str
) -> CardSaved:
    """Stripe saved the card of a setup session: store it for auto top-up, once."""
    setup = locks.card_setup_lock(setup_id=setup_id)
    if setup.stripe_setup_intent_id not in ("", setup_intent_id):
        return CardSaved(
            False,
            f"setup intent {setup_intent_id} is not the setup's {setup.stripe_setup_intent_id}",
            mismatch=True,
        )
    if card.stripe_customer_id not in (None, setup.stripe_customer_id):
        return CardSaved(
            False,
            f"the card belongs to {card.stripe_customer_id}, not {setup.stripe_customer_id}",
            mismatch=True,
        )
    if setup.state == CardSetup.State.COMPLETED:
        return CardSaved(False, f"card setup {setup.public_id} was stored before")
    setup.state = CardSetup.State.COMPLETED
    setup.stripe_setup_intent_id = setup_intent_id
    setup.stripe_payment_method_id = card.payment_method_id
    setup.completed_at = timezone.now()
    setup.save(
        update_fields=[
            "state",
            "stripe_setup_intent_id",
            "stripe_payment_method_id",
            "completed_at",
        ]
    )
    return _settings_store(
        customer=setup.customer,
        stripe_customer_id=setup.stripe_customer_id,
        card=card,
        source=Source.CARD_SETUP,
        reference=str(setup.public_id),
        actor=actor,
    )


# --- the card a top-up paid with ---------------------------------------------------------------


def topup_card_save(*, topup: TopUp, card: StripeCard, actor: str) -> CardSaved:
    """A paid top-up asked to keep its card (`save_card`): store it for auto top-up, once."""
    assert topup.save_card, f"top-up {topup.public_id} did not ask to save its card"
    stripe_customer_id = (
        StripeCustomer.objects.filter(customer_id=topup.customer_id)
        .values_list("stripe_customer_id", flat=True)
        .first()
    )
    if stripe_customer_id is None or card.stripe_customer_id not in (None, stripe_customer_id):
        return CardSaved(
            False,
            f"the card belongs to {card.stripe_customer_id}, not {stripe_customer_id}",
            mismatch=True,
        )
    return _settings_store(
        customer=topup.customer,
        stripe_customer_id=stripe_customer_id,
        card=card,
        source=Source.TOPUP,
        reference=str(topup.public_id),
        actor=actor,
    )


# --- storing -----------------------------------------------------------------------------------


def _disabled_settings(customer: Customer, actor: str) -> dict:
    """Settings for a customer who saved a card before choosing threshold and target:
    off, threshold 0, target the smallest top-up (the constraint wants it above)."""
    unit = topup_amounts.ledger_units_per_stripe_unit(
        customer.currency.code, customer.currency.scale
    )
    minimum_stripe, _maximum = topups.topup_limits_stripe(customer.currency.code)
    return {
        "enabled": False,
        "threshold_minor": 0,
        "target_minor": max(minimum_stripe, 1) * unit,
        "updated_by": actor,
    }


def _settings_store(
    *,
    customer: Customer,
    stripe_customer_id: str,
    card: StripeCard,
    source: str,
    reference: str,
    actor: str,
) -> CardSaved:
    """Write the card on the customer's settings (locked), unless this source stored it."""
    AutoTopUpSettings.objects.get_or_create(
        customer=customer,
        defaults=_disabled_settings(customer, actor)
        | {"stripe_customer_id": stripe_customer_id, "stripe_payment_method_id": ""},
    )
    config = locks.auto_topup_settings_lock(customer=customer)
    assert config is not None, f"auto top-up settings of {customer.external_id} just made"
    if (config.payment_method_reference, config.stripe_payment_method_id) == (
        reference,
        card.payment_method_id,
    ):
        return CardSaved(False, f"card {card.payment_method_id} was stored before")
    card = _described(card)
    config.stripe_customer_id = stripe_customer_id
    config.stripe_payment_method_id = card.payment_method_id
    config.payment_method_source = source
    config.payment_method_reference = reference
    config.payment_method_saved_at = timezone.now()
    config.card_brand, config.card_last4 = card.brand, card.last4
    config.armed = True  # a new card deserves a new attempt, as when settings are saved
    config.updated_by = actor
    config.save()
    logger.info(
        "card %s saved for auto top-up of %s (%s %s)",
        card.payment_method_id,
        customer.external_id,
        source,
        reference,
    )
    return CardSaved(True, f"card {card.payment_method_id} saved ({source} {reference})")


# --- a card removed on Stripe ------------------------------------------------------------------


def card_detached(*, payment_method_id: str, actor: str) -> str | None:
    """Stripe detached this card from its customer (removed in a portal, or by Stripe):
    it can no longer be charged off-session. Forget it on every auto top-up that uses
    it and switch those off, rather than let each threshold crossing fail three tries.
    Returns what was done, or None when no auto top-up uses the card."""
    with transaction.atomic():
        users = locks.auto_topup_settings_lock_by_card(payment_method_id=payment_method_id)
        for config in users:
            config.stripe_payment_method_id = ""
            config.card_brand = config.card_last4 = ""
            config.payment_method_reference = ""
            config.payment_method_saved_at = None
            config.enabled = False
            config.updated_by = actor
            config.save()
    if not users:
        return None
    names = ", ".join(config.customer.external_id for config in users)
    logger.warning("card %s detached on Stripe: auto top-up of %s off", payment_method_id, names)
    return f"card {payment_method_id} detached: auto top-up of {names} switched off"
