"""The dunning ladder's card retry: charge the customer's saved card (DunningCard, set by
finance with Stripe ids: dunning_card_set) off-session for what is overdue, and apply the
money to the overdue invoices through invoicing's payment recording.

Bounded: at most the step's `card_tries_max` tries, each with its own Stripe idempotency
key (a repeated delivery of one try charges once). A hard decline (the card is lost,
stolen, closed, expired ...) is final: retrying cannot succeed and card networks
penalise it. A soft one (insufficient funds, a network error) is tried again by a later
run of the dunning job once its `next_try_at` (in the action's details) has come, spaced
by CREDIT_DUNNING_CARD_RETRY_S · 2^(n-1). The Stripe call runs outside any transaction;
the payments it brings are recorded in one.
"""

import logging
from datetime import datetime, timedelta

import stripe
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.stripe_client import stripe_client
from credit.errors import InvalidCreditInput
from credit.models import DunningAction, DunningCard, DunningStep
from invoicing.currencies import document_unit
from invoicing.models import Invoice
from invoicing.selectors import invoice_amounts_get
from invoicing.services import invoice_payment_record

logger = logging.getLogger(__name__)

ACTOR = "system:dunning"
RETRY_S_DEFAULT = 3600
# Stripe's decline codes that no retry can turn into a charge (Stripe's "hard declines").
HARD_DECLINE_CODES = frozenset(
    {
        "expired_card",
        "fraudulent",
        "incorrect_number",
        "invalid_account",
        "invalid_number",
        "lost_card",
        "pickup_card",
        "restricted_card",
        "revocation_of_all_authorizations",
        "revocation_of_authorization",
        "security_violation",
        "stolen_card",
        "stop_payment_order",
        "transaction_not_allowed",
    }
)


def dunning_card_set(
    *, customer, stripe_customer_id: str, stripe_payment_method_id: str, actor: str
) -> DunningCard:
    """Save (or replace) the card dunning may charge: Stripe ids (cus_..., pm_...)."""
    for name, value, prefix in (
        ("stripe_customer_id", stripe_customer_id, "cus_"),
        ("stripe_payment_method_id", stripe_payment_method_id, "pm_"),
    ):
        if not isinstance(value, str) or not value.startswith(prefix) or len(value) > 255:
            raise InvalidCreditInput(f"{name} must be a Stripe id starting {prefix}")
    card, _made = DunningCard.objects.update_or_create(
        customer=customer,
        defaults={
            "stripe_customer_id": stripe_customer_id,
            "stripe_payment_method_id": stripe_payment_method_id,
            "updated_at": timezone.now(),
            "updated_by": actor,
        },
    )
    logger.info("dunning card of %s set by %s", customer.external_id, actor)
    return card


def retry_delay_s(tries: int) -> int:
    base = int(getattr(settings, "CREDIT_DUNNING_CARD_RETRY_S", RETRY_S_DEFAULT))
    return base * 2 ** max(tries - 1, 0)


def _overdue_invoices(action: DunningAction, now: datetime) -> list[tuple[Invoice, int]]:
    """(invoice, due) of the customer's invoices past due today, oldest due first. An
    invoice with a write-off not recovered is left out: finance gave up on it, and money
    for it comes back through a recovery first (losses.services.recovery_create)."""
    invoices = (
        Invoice.objects.select_related("currency")
        .prefetch_related("write_offs__recoveries")
        .filter(
            buyer_customer_id=action.customer_id,
            seller_book_id=action.customer.book_id,
            state=Invoice.State.FINALIZED,
            due_at__date__lt=now.date(),
        )
    )
    found = []
    for invoice in invoices.order_by("due_at", "pk"):
        written_off = sum(
            w.amount_minor - sum(r.amount_minor for r in w.recoveries.all())
            for w in invoice.write_offs.all()
        )
        due = invoice_amounts_get(invoice).due(invoice)
        if due > 0 and written_off == 0:
            found.append((invoice, due))
    return found


def _finish(action: DunningAction, outcome: str, **details) -> DunningAction:
    action.outcome = outcome
    action.details = {**action.details, **details}
    action.save(update_fields=["outcome", "details"])
    return action


def _try_record(action: DunningAction, now: datetime, error: str, hard: bool) -> list:
    return [*action.details.get("tries", []), {"at": now.isoformat(), "error": error, "hard": hard}]


def dunning_card_charges_due(*, now: datetime | None = None) -> list[DunningAction]:
    """Try every card retry whose next try is due (bounded: each action's tries are)."""
    now = now or timezone.now()
    pending = DunningAction.objects.filter(
        action=DunningStep.Action.CARD_RETRY, outcome=DunningAction.Outcome.PENDING
    ).order_by("pk")
    due = [a.pk for a in pending if datetime.fromisoformat(a.details["next_try_at"]) <= now]
    return [dunning_card_charge(action_id=pk, now=now)[0] for pk in due]


def dunning_card_charge(
    *, action_id: int, now: datetime | None = None
) -> tuple[DunningAction, int | None]:
    """One try of a card-retry step; (the action, seconds until the next try or None)."""
    now = now or timezone.now()
    action = DunningAction.objects.select_related("customer__currency", "step").get(pk=action_id)
    if action.outcome != DunningAction.Outcome.PENDING:
        return action, None
    config = DunningCard.objects.filter(customer_id=action.customer_id).first()
    if config is None:
        return _finish(action, DunningAction.Outcome.NO_CARD, note="no saved card"), None
    overdue = _overdue_invoices(action, now)
    if not overdue:
        return _finish(action, DunningAction.Outcome.DONE, note="nothing overdue any more"), None
    currency = action.customer.currency
    unit = document_unit(code=currency.code, scale=currency.scale)
    total = sum(due for _invoice, due in overdue)
    tries = len(action.details.get("tries", [])) + 1
    try:
        intent = stripe_client().v1.payment_intents.create(
            params={
                "amount": total // unit,
                "currency": currency.code.lower(),
                "customer": config.stripe_customer_id,
                "payment_method": config.stripe_payment_method_id,
                "confirm": True,
                "off_session": True,
                "description": f"Overdue invoices of {action.customer.external_id}",
                "metadata": {"dunning_action": str(action.pk)},
            },
            options={"idempotency_key": f"tokenledger-dunning-{action.pk}-{tries}"},
        )
    except stripe.StripeError as exc:
        code = getattr(exc, "code", None) or ""
        decline = (getattr(exc, "error", None) and getattr(exc.error, "decline_code", None)) or ""
        hard = isinstance(exc, stripe.CardError) and (
            decline in HARD_DECLINE_CODES or code in HARD_DECLINE_CODES
        )
        error = f"{type(exc).__name__} {code} {decline}".strip()
        logger.warning("dunning card try %s of action %s: %s", tries, action.pk, error)
        return _failed(action, now, error, hard, tries)
    if intent.status != "succeeded":
        return _failed(action, now, f"payment intent {intent.status}", False, tries)
    with transaction.atomic():
        paid = []
        for invoice, due in overdue:
            invoice_payment_record(
                invoice=invoice,
                method="stripe",
                amount=due,
                actor=ACTOR,
                reference=intent.id,
                now=now,
            )
            paid.append({"invoice": str(invoice.public_id), "amount_minor": str(due)})
        _finish(
            action,
            DunningAction.Outcome.CARD_CHARGED,
            payment_intent=intent.id,
            paid=paid,
            tries=[*action.details.get("tries", []), {"at": now.isoformat(), "ok": True}],
        )
    return action, None


def _failed(action, now, error: str, hard: bool, tries: int) -> tuple[DunningAction, int | None]:
    record = _try_record(action, now, error, hard)
    if hard:
        return _finish(action, DunningAction.Outcome.CARD_DECLINED, tries=record), None
    if tries >= action.step.card_tries_max:
        return _finish(action, DunningAction.Outcome.CARD_FAILED, tries=record), None
    delay_s = retry_delay_s(tries)
    next_try = now + timedelta(seconds=delay_s)
    action.details = {**action.details, "tries": record, "next_try_at": next_try.isoformat()}
    action.save(update_fields=["details"])
    return action, delay_s
