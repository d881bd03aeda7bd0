"""Customers and what their wallets need. Money itself lives in the ledger: a wallet's
balance is the balance of the account `wallet:<customer>` in the seller's book."""

from django.db import models

from ledger.models import Asset, Book


class Customer(models.Model):
    class Billing(models.TextChoices):
        PREPAID = "prepaid"  # spends a wallet funded by top-ups
        CREDIT = "credit"  # usage accrues as unbilled receivable, invoiced later

    external_id = models.SlugField(max_length=200, unique=True)
    name = models.CharField(max_length=200, blank=True)
    # The book that sells to this customer: the distributor's, or a reseller's.
    book = models.ForeignKey(Book, on_delete=models.PROTECT, related_name="customers")
    plan = models.CharField(max_length=64, blank=True)
    billing = models.CharField(max_length=16, choices=Billing.choices, default=Billing.PREPAID)
    currency = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.external_id
