"""Every write of the credit app: keyword-only arguments, an actor, one transaction each."""

import logging

from django.db import transaction
from django.utils import timezone

from credit.errors import InvalidCreditLimit
from credit.models import CreditLimit, CreditLimitChange
from wallets.locks import customer_lock
from wallets.models import Customer

logger = logging.getLogger(__name__)

CREDIT_LIMIT_MAX = 2**63 - 1  # BIGINT


def credit_limit_set(
    *, customer: Customer, credit_limit_minor: int | None, actor: str
) -> CreditLimit:
    """Set a customer's credit limit (minor units of its currency; None = the default,
    CREDIT_LIMIT_DEFAULT). Audited in CreditLimitChange. Authorizations decided after the
    commit use it; holds already approved stay."""
    if credit_limit_minor is not None and (
        type(credit_limit_minor) is not int or not 0 <= credit_limit_minor <= CREDIT_LIMIT_MAX
    ):
        raise InvalidCreditLimit("credit_limit_minor must be null or a non-negative integer")
    with transaction.atomic():
        # The customer's row lock orders concurrent changes, the first one too (when
        # there is no CreditLimit row to lock yet): each audit row's `previous` is right.
        locked = customer_lock(customer.pk)
        limit = CreditLimit.objects.filter(customer=locked).first()
        CreditLimitChange.objects.create(
            customer=locked,
            previous_minor=limit.credit_limit_minor if limit else None,
            credit_limit_minor=credit_limit_minor,
            changed_at=timezone.now(),
            changed_by=actor,
        )
        if limit is None:
            limit = CreditLimit.objects.create(
                customer=locked, credit_limit_minor=credit_limit_minor
            )
        else:
            limit.credit_limit_minor = credit_limit_minor
            limit.save(update_fields=["credit_limit_minor"])
    logger.info(
        "customer %s credit limit %s by %s", customer.external_id, credit_limit_minor, actor
    )
    return limit
