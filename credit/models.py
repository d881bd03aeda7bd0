"""Credit limits of customers billed on credit, and their audit trail.

A credit customer's exposure (unbilled usage + open holds, on `unbilled:<customer>` in
the ledger) may reach its limit; authorizations ask through wallets.funding
(credit/funding.py). Rows change only through credit.services.credit_limit_set.
"""

from django.db import models
from django.db.models import Q


class CreditLimit(models.Model):
    """A customer's own credit limit, in minor units of its currency. No row, or a null
    limit, means the default (setting CREDIT_LIMIT_DEFAULT)."""

    customer = models.OneToOneField(
        "wallets.Customer", on_delete=models.PROTECT, related_name="credit_limit"
    )
    credit_limit_minor = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(credit_limit_minor__isnull=True) | Q(credit_limit_minor__gte=0),
                name="credit_limit_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer}: {self.credit_limit_minor}"


class CreditLimitChange(models.Model):
    """The audit trail of a customer's credit limit: who set what, when."""

    customer = models.ForeignKey(
        "wallets.Customer", on_delete=models.PROTECT, related_name="credit_limit_changes"
    )
    previous_minor = models.BigIntegerField(null=True, blank=True)
    credit_limit_minor = models.BigIntegerField(null=True, blank=True)
    changed_at = models.DateTimeField()
    changed_by = models.CharField(max_length=200)

    def __str__(self) -> str:
        return f"{self.customer}: {self.previous_minor} -> {self.credit_limit_minor}"
