"""factory-boy factories for the ledger's reference data (books, assets, accounts).

Money itself is never made by a factory: it moves through the services, as in production.
"""

import factory

from ledger.models import Account, Asset, Book


class BookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Book
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"book-{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())
    kind = Book.Kind.DISTRIBUTOR


class AssetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Asset
        django_get_or_create = ("code",)

    code = "USD"
    scale = 9  # nano-dollars: per-token prices such as $0.000000028 are whole units


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    book = factory.SubFactory(BookFactory)
    asset = factory.SubFactory(AssetFactory)
    code = factory.Sequence(lambda n: f"account:{n}")
    type = Account.Type.ASSET


class WalletAccountFactory(AccountFactory):
    """A customer's funds: a liability that may never go below zero."""

    code = factory.Sequence(lambda n: f"wallet:customer-{n}")
    type = Account.Type.LIABILITY
    debits_must_not_exceed_credits = True
