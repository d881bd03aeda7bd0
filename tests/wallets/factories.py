"""factory-boy factories for wallets: customers and API keys.

Keys are made through the service (the secret is returned once): the factory hands it
back on `key.raw`. Money is never made by a factory: `wallet_topup` books it in the
ledger, as a top-up would.
"""

import uuid

import factory

from ledger import services as ledger_services
from ledger.models import Account
from ledger.posting_rules import PostingSpec
from ledger.selectors import account_balance_get
from tests.ledger.factories import AssetFactory, BookFactory
from wallets import services
from wallets.gateways.keys import gateway_key_create
from wallets.models import ApiKey, Customer


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"customer-{n}")
    book = factory.SubFactory(BookFactory)
    currency = factory.SubFactory(AssetFactory)
    billing = Customer.Billing.PREPAID


class ApiKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiKey

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"key {n}")
    created_by = "test"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        actor = kwargs.pop("created_by")
        key, raw = services.api_key_create(actor=actor, **kwargs)
        key.raw = raw
        return key


def gateway_key(source: str = "test-gw"):
    """(GatewayKey, the Bearer token)."""
    return gateway_key_create(name=f"gateway {source}", source=source, actor="test")


def wallet_topup(customer: Customer, amount_minor: int) -> Account:
    """Fund a prepaid wallet: Dr cash:test / Cr wallet:<customer> (what a top-up books)."""
    debit, _clearing = services.authorization_accounts(customer=customer)
    cash = ledger_services.account_create(
        book=customer.book, asset=customer.currency, code="cash:test", type=Account.Type.ASSET
    )
    ledger_services.adjustment_post(
        book=customer.book,
        postings=[
            PostingSpec(cash.id, customer.currency_id, "D", amount_minor),
            PostingSpec(debit.id, customer.currency_id, "C", amount_minor),
        ],
        memo="test top-up",
        idempotency_key=f"test:topup:{uuid.uuid4()}",
        actor="test",
    )
    return debit


def wallet(customer: Customer):
    """The customer account's AccountBalance (balance, available)."""
    debit, _clearing = services.authorization_accounts(customer=customer)
    return account_balance_get(account_id=debit.id)


def clearing(customer: Customer):
    _debit, credit = services.authorization_accounts(customer=customer)
    return account_balance_get(account_id=credit.id)


def wallet_spend(customer: Customer, amount_minor: int) -> None:
    """Spend from a prepaid wallet as a gateway does: authorizations, captured."""
    key = ApiKeyFactory(customer=customer)
    while amount_minor > 0:
        authorization = services.authorization_create(
            secret=key.raw,
            provider="deepseek",
            model="deepseek-chat",
            max_input_tokens=2_000_000,
            max_output_tokens=200_000,
            actor="test",
        ).authorization
        assert authorization.decision == "approved", authorization.reason
        captured = min(amount_minor, authorization.amount_minor)
        services.authorization_capture(
            public_id=authorization.public_id, amount_minor=captured, actor="test"
        )
        amount_minor -= captured


def member_client(customer: Customer, username: str):
    """An API client logged in as a new member of `customer` (a tenant)."""
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    user = User.objects.create_user(username, password="pw")
    services.customer_member_add(customer=customer, user=user, actor="test")
    client = APIClient()
    client.force_authenticate(user)
    return client


def _cash(customer: Customer) -> Account:
    return ledger_services.account_create(
        book=customer.book, asset=customer.currency, code="cash:test", type=Account.Type.ASSET
    )


def _wallet_transfer(customer: Customer, other: Account, amount_minor: int, *, credit: bool):
    """Book other Dr / wallet Cr (credit=True) or wallet Dr / other Cr; the AppendedEvent."""
    from wallets.lots.services import wallet_account

    wallet_id = wallet_account(customer=customer).id
    debit, credit_id = (other.id, wallet_id) if credit else (wallet_id, other.id)
    return ledger_services.adjustment_post(
        book=customer.book,
        postings=[
            PostingSpec(debit, customer.currency_id, "D", amount_minor),
            PostingSpec(credit_id, customer.currency_id, "C", amount_minor),
        ],
        memo="test",
        idempotency_key=f"test:{uuid.uuid4()}",
        actor="test",
    )


def paid_topup(customer: Customer, amount_minor: int, **lot_fields):
    """What a top-up does: book Dr cash / Cr wallet and open its paid lot, in one
    transaction (payments.topups.services.topup_book calls lot_open_for_booked_credit
    the same way)."""
    from django.db import transaction

    from wallets.lots.services import lot_open_for_booked_credit

    with transaction.atomic():
        event = _wallet_transfer(customer, _cash(customer), amount_minor, credit=True)
        return lot_open_for_booked_credit(
            customer=customer,
            event=event,
            amount_minor=amount_minor,
            idempotency_key=f"topup:{uuid.uuid4()}",
            actor="test",
            **lot_fields,
        ).lot


def promotion(customer: Customer, amount_minor: int, **lot_fields):
    from wallets.lots.services import lot_grant

    return lot_grant(
        customer=customer,
        amount_minor=amount_minor,
        idempotency_key=f"promo:{uuid.uuid4()}",
        actor="test",
        **lot_fields,
    ).lot


def spend(customer: Customer, amount_minor: int):
    """A wallet debit that is no usage batch: wallet Dr / revenue:usage Cr."""
    revenue = ledger_services.account_create(
        book=customer.book, asset=customer.currency, code="revenue:usage", type="revenue"
    )
    return _wallet_transfer(customer, revenue, amount_minor, credit=False)


def refund(lot, amount_minor: int):
    """What a refund of the lot's payment does: wallet Dr / cash Cr, then the reversal."""
    from django.db import transaction

    from wallets.lots.services import lot_reduce_for_booked_debit

    with transaction.atomic():
        event = _wallet_transfer(lot.customer, _cash(lot.customer), amount_minor, credit=False)
        return lot_reduce_for_booked_debit(
            lot=lot,
            event=event,
            amount_minor=amount_minor,
            idempotency_key=f"refund:{uuid.uuid4()}",
            actor="test",
        )
