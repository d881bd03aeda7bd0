"""A customer's auto top-up settings (the AutoTopUpSettings row): threshold, target and
the card to charge. Keyword-only arguments, an actor, one transaction per write.

The card is the one saved through Stripe (payments.auto_topup.saved_cards) unless
finance gives Stripe ids (a `manual` card). Saving re-arms the settings; the watch
(payments.alerts.balance_watch) and payments.auto_topup.attempts do the charging.
"""

import logging
import re

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from payments import locks
from payments.errors import InvalidAutoTopUpSettings, PaymentMethodRequired, PrepaidOnly
from payments.models import AutoTopUpSettings
from payments.topups import amounts as topup_amounts
from payments.topups import services as topups
from wallets.models import Customer

logger = logging.getLogger(__name__)

STRIPE_ID = re.compile(r"^[A-Za-z0-9_]{1,255}$")


def _check_stripe_id(name: str, value, prefix: str) -> str:
    if not isinstance(value, str) or not value.startswith(prefix) or not STRIPE_ID.match(value):
        raise InvalidAutoTopUpSettings(f"{name} must be a Stripe id starting with {prefix!r}")
    return value


def _payment_method_values(
    current: AutoTopUpSettings | None,
    stripe_customer_id: str | None,
    stripe_payment_method_id: str | None,
) -> dict:
    """Without Stripe ids the card saved before stays (saved_cards); the same ids
    keep it too (a client that PUTs back what it read); other ids are a manual card."""
    given = (stripe_customer_id, stripe_payment_method_id)
    if given == (None, None):
        if current is None:
            raise PaymentMethodRequired(
                "auto top-up needs a card: save one first "
                "(POST auto-topup/payment-method/), or give both Stripe ids"
            )
        return {}
    if None in given:
        raise InvalidAutoTopUpSettings(
            "give both stripe_customer_id and stripe_payment_method_id, or neither"
        )
    _check_stripe_id("stripe_customer_id", stripe_customer_id, "cus_")
    _check_stripe_id("stripe_payment_method_id", stripe_payment_method_id, "pm_")
    if (
        current is not None
        and (
            current.stripe_customer_id,
            current.stripe_payment_method_id,
        )
        == given
    ):
        return {}
    return {
        "stripe_customer_id": stripe_customer_id,
        "stripe_payment_method_id": stripe_payment_method_id,
        "payment_method_source": AutoTopUpSettings.PaymentMethodSource.MANUAL,
        "payment_method_reference": "",
        "payment_method_saved_at": timezone.now(),
        "card_brand": "",
        "card_last4": "",
    }


def auto_topup_settings_set(
    *,
    customer: Customer,
    enabled: bool,
    threshold_minor: int,
    target_minor: int,
    stripe_customer_id: str | None = None,
    stripe_payment_method_id: str | None = None,
    actor: str,
) -> AutoTopUpSettings:
    """Create or replace a customer's auto top-up. Saving re-arms it: a customer who fixed
    the card after a failed attempt gets a new attempt if still below the threshold.

    The card is the one saved through Stripe (saved_cards) unless Stripe ids are
    given; the first settings need one or the other (payment_method_required).
    """
    if customer.billing != Customer.Billing.PREPAID:
        raise PrepaidOnly(f"customer {customer.external_id} is billed on credit, not prepaid")
    for name, value in (("threshold", threshold_minor), ("target", target_minor)):
        if type(value) is not int or value < 0:
            raise InvalidAutoTopUpSettings(f"{name} must be a non-negative amount")
    if target_minor <= threshold_minor:
        raise InvalidAutoTopUpSettings("the target must be above the threshold")
    try:
        unit = topup_amounts.ledger_units_per_stripe_unit(
            customer.currency.code, customer.currency.scale
        )
    except topup_amounts.UnsupportedCurrency as exc:
        raise InvalidAutoTopUpSettings(str(exc)) from exc
    _minimum, maximum = topups.topup_limits_stripe(customer.currency.code)
    if topup_amounts.ceil_to_stripe_units(target_minor, unit) > maximum:
        raise InvalidAutoTopUpSettings(
            f"the target is above the largest top-up ({settings.WALLETS_TOPUP_MAX})"
        )
    values = {
        "enabled": bool(enabled),
        "threshold_minor": threshold_minor,
        "target_minor": target_minor,
        "armed": True,
        "updated_by": actor,
    }
    with transaction.atomic():
        current = locks.auto_topup_settings_lock(customer=customer)
        values |= _payment_method_values(current, stripe_customer_id, stripe_payment_method_id)
        if enabled and not values.get(
            "stripe_payment_method_id", current.stripe_payment_method_id if current else ""
        ):
            # Settings kept after their card was detached on Stripe (card_detached).
            raise PaymentMethodRequired(
                "auto top-up needs a card: the saved one was removed on Stripe; save another "
                "(POST auto-topup/payment-method/)"
            )
        found, _created = AutoTopUpSettings.objects.update_or_create(
            customer=customer, defaults=values
        )
    logger.info("auto top-up of %s set by %s: enabled=%s", customer.external_id, actor, enabled)
    return found
