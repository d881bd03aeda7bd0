"""Every bad input is refused with its stable code, and nothing is booked or numbered."""

from datetime import UTC, datetime, timedelta

import pytest

from invoicing import services
from invoicing.errors import InvalidInvoicingInput
from invoicing.models import DocumentCounter, Invoice, InvoiceLine
from ledger import services as ledger_services
from ledger.models import Event
from tests.invoicing.conftest import AFTER_JUNE, JULY, JUNE, book_usage
from wallets.models import Customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def unchanged(world):
    """Asserts at the end of the test that no event, invoice, line or number was made
    since the fixture ran (the test's own setup comes first)."""

    def snapshot():
        return (
            Event.objects.count(),
            Invoice.objects.count(),
            InvoiceLine.objects.count(),
            list(DocumentCounter.objects.values_list("series", "next_number")),
        )

    state = {}
    yield lambda: state.setdefault("before", snapshot())
    assert snapshot() == state["before"]


def _draft(world, customer, period=JUNE, now=AFTER_JUNE):
    return services.invoice_draft(
        seller_book=customer.book,
        customer=customer,
        period_start=period[0],
        period_end=period[1],
        actor="test",
        now=now,
    )


def _refused(code, call):
    with pytest.raises(Exception) as caught:
        call()
    assert getattr(caught.value, "code", None) == code, caught.value


def test_finalizing_twice_is_invoice_not_draft(world, unchanged):
    book_usage("initech", days=range(1, 3))
    invoice = services.invoice_finalize(invoice=_draft(world, world["initech"]), actor="t")
    unchanged()
    _refused("invoice_not_draft", lambda: services.invoice_finalize(invoice=invoice, actor="t"))


def test_an_unknown_tax_region_is_refused_at_draft_and_at_finalization(world, unchanged):
    book_usage("initech", days=range(1, 3))
    draft = _draft(world, world["initech"])
    services.buyer_details_set(
        customer=world["initech"], legal_name="Initech SARL", region="FR", actor="t"
    )
    unchanged()
    _refused("tax_region_unknown", lambda: _draft(world, world["initech"]))
    _refused("tax_region_unknown", lambda: services.invoice_finalize(invoice=draft, actor="t"))


def test_a_region_falls_back_to_its_country_rate(world):
    profile = world["profiles"]["apex"]
    services.tax_rate_add(
        profile=profile,
        region="US",
        rate_bps=0,
        kind="exempt",
        effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        actor="t",
    )
    services.buyer_details_set(
        customer=world["initech"], legal_name="Initech Inc", region="US-CA", actor="t"
    )
    book_usage("initech", days=range(1, 3))
    assert _draft(world, world["initech"]).tax_region == "US"


def test_a_currency_mismatch_is_refused(world, unchanged):
    cny = ledger_services.asset_create(code="CNY", scale=9)
    buyer = Customer.objects.create(
        external_id="wanda", book=world["distributor"], currency=cny, billing="credit"
    )
    services.buyer_details_set(customer=buyer, legal_name="万达", region="CN", actor="t")
    unchanged()
    _refused("currency_mismatch", lambda: _draft(world, buyer))


def test_an_unknown_document_currency_is_refused(world):
    odd = ledger_services.asset_create(code="XTS", scale=9)
    _refused(
        "currency_unknown",
        lambda: services.billing_profile_set(
            book=world["distributor"], legal_name="X", currency=odd, actor="t"
        ),
    )


def test_nothing_to_bill_is_invoice_empty_and_no_draft(world, unchanged):
    unchanged()
    _refused("invoice_empty", lambda: _draft(world, world["initech"]))


def test_a_period_in_the_future_is_not_closed(world, unchanged):
    book_usage("initech", days=range(1, 3))
    unchanged()
    _refused(
        "invoice_period_not_closed",
        lambda: _draft(world, world["initech"], now=JUNE[1] - timedelta(seconds=1)),
    )
    with pytest.raises(InvalidInvoicingInput):
        _draft(world, world["initech"], period=(JUNE[1], JUNE[0]))


def test_a_period_before_the_last_invoice_is_refused(world):
    book_usage("initech", days=range(1, 3))
    book_usage("initech", days=range(1, 3), month=7)
    services.invoice_finalize(
        invoice=_draft(world, world["initech"], period=JULY, now=JULY[1]), actor="t"
    )
    _refused("invoice_period_before_last_invoice", lambda: _draft(world, world["initech"]))


def test_a_prepaid_customer_or_a_stranger_is_not_invoiceable(world, unchanged):
    unchanged()
    _refused("not_invoiceable", lambda: _draft(world, world["acme"]))
    _refused(
        "not_invoiceable",
        lambda: services.invoice_draft(
            seller_book=world["reseller"],
            customer=world["globex"],
            period_start=JUNE[0],
            period_end=JUNE[1],
            actor="t",
            now=AFTER_JUNE,
        ),
    )


def test_missing_buyer_details_or_billing_profile(world, unchanged):
    lonely = Customer.objects.create(
        external_id="lonely", book=world["distributor"], currency=world["usd"], billing="credit"
    )
    other = ledger_services.book_create(code="other", name="Other")
    stranger = Customer.objects.create(
        external_id="stranger", book=other, currency=world["usd"], billing="credit"
    )
    unchanged()
    _refused("buyer_details_missing", lambda: _draft(world, lonely))
    _refused("billing_profile_missing", lambda: _draft(world, stranger))


def test_bad_reference_data_is_refused(world):
    profile = world["profiles"]["apex"]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for kwargs in (
        {"region": "germany", "rate_bps": 1900},
        {"region": "DE", "rate_bps": 10_001},
        {"region": "DE", "rate_bps": 1900, "kind": "reverse_charge"},
    ):
        with pytest.raises(InvalidInvoicingInput):
            services.tax_rate_add(profile=profile, effective_from=at, actor="t", **kwargs)
    with pytest.raises(InvalidInvoicingInput):
        services.billing_profile_set(
            book=world["reseller"],
            legal_name="A",
            currency=world["usd"],
            logo="https://x/l.png",
            actor="t",
        )
    with pytest.raises(InvalidInvoicingInput):
        services.buyer_details_set(legal_name="Nobody", region="DE", actor="t")
