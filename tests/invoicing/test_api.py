"""The invoicing API on real PostgreSQL: finance sees and acts on every book; a
customer's members see their own issued invoices, credit notes and receipts only, a
reseller's staff (members of its book) what the book issued and what it was billed (any
other id, on every endpoint and download, is a 404 and never another's data); actions
are finance's; bad input is a clear error and books nothing."""

import csv
import io
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from invoicing import services
from invoicing.models import Invoice, Receipt
from ledger import services as ledger_services
from ledger.integrity import verify_ledger
from ledger.models import Book, Event
from payments.topups.services import topup_book, topup_new
from pricing import services as pricing_services
from tests.invoicing.conftest import AFTER_JULY, AFTER_JUNE, JULY, JUNE, book_usage
from tests.invoicing.pdf_inspect import pdf_text
from tests.metering.conftest import PRICES_FROM
from wallets import access
from wallets import services as wallets_services
from wallets.models import Customer, CustomerMembership

pytestmark = pytest.mark.django_db

API = "/api/invoicing"
JULY_END = JULY[1]


def usd(minor: int) -> str:
    """Ledger units (nano-dollars) as the API writes dollars: exact, to the cent."""
    return str((Decimal(minor) / 10**9).quantize(Decimal("0.01")))


def _client(username: str, *, finance: bool = False, customers=()) -> APIClient:
    user = User.objects.create_user(username, password="pw")
    if finance:
        user.groups.add(Group.objects.get(name="finance"))
    for customer in customers:
        CustomerMembership.objects.create(user=user, customer=customer, created_by="test")
    client = APIClient()
    client.force_authenticate(user)
    return client


def _issued(customer, *, now=AFTER_JUNE) -> Invoice:
    invoice = services.invoice_draft(
        seller_book=customer.book,
        customer=customer,
        period_start=JUNE[0],
        period_end=JUNE[1],
        actor="test",
        now=now,
    )
    return services.invoice_finalize(invoice=invoice, actor="test", now=now)


@pytest.fixture
def documents(world):
    """initech's (reseller apex) and globex's (distributor) finalized June invoices, a
    credit note on initech's, and a receipt of acme's paid top-up."""
    book_usage("initech", days=range(1, 8))
    book_usage("globex", days=range(1, 8))
    initech = _issued(world["initech"])
    globex = _issued(world["globex"])
    note = services.credit_note_issue(
        invoice=initech, reason="duplicate", amount=10**8, actor="test"
    )
    topup = topup_new(customer=world["acme"], amount_stripe=2000, source="checkout", actor="t")
    topup_book(topup_id=topup.pk, actor="test", stripe_payment_intent_id="pi_api_receipt")
    receipt = services.receipt_issue(topup=topup, actor="test")
    return {"initech": initech, "globex": globex, "note": note, "receipt": receipt}


def _ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_finance_lists_every_book_filters_and_pages(world, documents):
    finance = _client("fin", finance=True)
    every = _ids(finance.get(f"{API}/invoices/"))
    assert every == {str(documents["initech"].public_id), str(documents["globex"].public_id)}
    assert _ids(finance.get(f"{API}/invoices/?book=apex")) == {str(documents["initech"].public_id)}
    assert _ids(finance.get(f"{API}/invoices/?buyer=globex&period=2026-06")) == {
        str(documents["globex"].public_id)
    }
    assert _ids(finance.get(f"{API}/invoices/?period=2026-05")) == set()
    assert _ids(finance.get(f"{API}/invoices/?state=void")) == set()
    page = finance.get(f"{API}/invoices/?limit=1").json()
    assert page["count"] == 2 and len(page["results"]) == 1 and page["next"]
    bad = finance.get(f"{API}/invoices/?state=sent")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_input"
    unknown = finance.get(f"{API}/invoices/?book=nope")
    assert unknown.json()["error"]["code"] == "unknown_book"
    row = next(
        r
        for r in finance.get(f"{API}/invoices/?buyer=initech").json()["results"]
        if r["number"] == "APX-000001"
    )
    initech = documents["initech"]
    assert row["total"] == usd(initech.total) and row["total_minor"] == initech.total
    assert row["credited"] == "0.10"
    assert row["due"] == usd(initech.total - 10**8)


def test_the_detail_has_lines_with_exact_and_rounded_amounts(world, documents):
    finance = _client("fin", finance=True)
    invoice = documents["globex"]
    body = finance.get(f"{API}/invoices/{invoice.public_id}/").json()
    assert body["number"] == invoice.number_text and body["state"] == "finalized"
    assert len(body["lines"]) == invoice.lines.count()
    cents = sum(int(line["amount"].replace(".", "")) for line in body["lines"])
    assert cents * 10**7 == invoice.subtotal
    line = body["lines"][0]
    assert line["tokens"]["input"] > 0 and line["unit_prices_per_million"]["input"]
    assert len(line["exact_amount"].split(".")[1]) == 9  # the asset's full scale
    assert body["tax_kind"] == "exempt" and body["legal_note"] == "Exempt from tax."


def test_a_member_sees_its_own_issued_documents_and_nothing_else(world, documents):
    member = _client("initech-user", customers=[world["initech"]])
    initech, globex = documents["initech"], documents["globex"]
    # A draft of initech's next period is finance's until it is finalized.
    book_usage("initech", days=range(1, 3), month=7)
    draft = services.invoice_draft(
        seller_book=world["reseller"],
        customer=world["initech"],
        period_start=JUNE[1],
        period_end=JULY_END,
        actor="test",
        now=AFTER_JULY,
    )
    assert member.get(f"{API}/invoices/{draft.public_id}/").status_code == 404
    assert _ids(member.get(f"{API}/invoices/")) == {str(initech.public_id)}
    assert _ids(member.get(f"{API}/invoices/?buyer=globex")) == set()
    assert member.get(f"{API}/invoices/{initech.public_id}/").status_code == 200
    pdf = member.get(f"{API}/invoices/{initech.public_id}/pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert _ids(member.get(f"{API}/credit-notes/")) == {str(documents["note"].public_id)}
    assert _ids(member.get(f"{API}/receipts/")) == set()  # acme's, not initech's
    csv_rows = list(csv.reader(io.StringIO(_csv(member.get(f"{API}/invoices.csv")))))
    assert [row[1] for row in csv_rows[1:]] == [initech.number_text]

    others = [
        f"{API}/invoices/{globex.public_id}/",
        f"{API}/invoices/{globex.public_id}/pdf/",
        f"{API}/invoices/{uuid.uuid4()}/",
        f"{API}/invoices/not-a-uuid/pdf/",
        f"{API}/credit-notes/{uuid.uuid4()}/",
        f"{API}/credit-notes/{uuid.uuid4()}/pdf/",
        f"{API}/receipts/{documents['receipt'].public_id}/",
        f"{API}/receipts/{documents['receipt'].public_id}/pdf/",
    ]
    for path in others:
        response = member.get(path)
        assert response.status_code == 404, path
        assert globex.number_text not in response.content.decode()
        assert response.json()["error"]["code"].endswith("_not_found"), path
    # Finance's screens and actions are 403 whatever the id (nothing learnt from them).
    for method, path in [
        ("get", f"{API}/profiles/"),
        ("get", f"{API}/profiles/apex/tax-rates/"),
        ("post", f"{API}/invoices/draft/"),
        ("post", f"{API}/invoices/{initech.public_id}/finalize/"),
        ("post", f"{API}/invoices/{globex.public_id}/void/"),
        ("post", f"{API}/invoices/{initech.public_id}/credit-notes/"),
        ("post", f"{API}/invoices/{uuid.uuid4()}/payments/"),
    ]:
        response = getattr(member, method)(path, {}, format="json")
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "permission_denied"


def test_a_member_of_acme_gets_its_receipt_and_a_stranger_nothing(world, documents):
    acme = _client("acme-user", customers=[world["acme"]])
    receipt = documents["receipt"]
    assert _ids(acme.get(f"{API}/receipts/")) == {str(receipt.public_id)}
    assert _ids(acme.get(f"{API}/invoices/")) == set()  # prepaid: no usage invoice
    body = acme.get(f"{API}/receipts/{receipt.public_id}/").json()
    assert body["number"] == "RC-000001" and body["amount"] == "20.00"
    assert acme.get(f"{API}/receipts/{receipt.public_id}/pdf/").status_code == 200
    stranger = _client("nobody")
    for path in (f"{API}/invoices/", f"{API}/credit-notes/", f"{API}/receipts/"):
        assert _ids(stranger.get(path)) == set()
    assert stranger.get(f"{API}/receipts/{receipt.public_id}/").status_code == 404
    assert stranger.get(f"{API}/invoices/{documents['initech'].public_id}/pdf/").status_code == 404


def _csv(response) -> str:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    return b"".join(response.streaming_content).decode()


def test_the_csv_export_has_every_invoice_with_exact_amounts(world, documents):
    finance = _client("fin", finance=True)
    rows = list(csv.DictReader(io.StringIO(_csv(finance.get(f"{API}/invoices.csv")))))
    by_number = {row["number"]: row for row in rows}
    globex = documents["globex"]
    row = by_number[globex.number_text]
    assert int(row["total_minor"]) == globex.total
    assert row["total"] == usd(globex.total) and row["due"] == row["total"]
    assert set(by_number) == {"TD-000001", "APX-000001"}


def test_a_white_label_pdf_names_the_reseller_only(world, documents, tmp_path):
    finance = _client("fin", finance=True)
    initech = documents["initech"]
    response = finance.get(f"{API}/invoices/{initech.public_id}/pdf/")
    assert response["Content-Disposition"] == 'attachment; filename="APX-000001.pdf"'
    text = " ".join(pdf_text(response.content, tmp_path).split())
    assert "APX-000001" in text and "Apex AI GmbH" in text and "Initech GmbH" in text
    assert "TokenDistributor" not in text and "distributor" not in text.lower()
    assert f"{Decimal(usd(initech.total)):,}" in text
    note = finance.get(f"{API}/credit-notes/{documents['note'].public_id}/pdf/")
    text = " ".join(pdf_text(note.content, tmp_path).split())
    assert "APX-CN-000001" in text and "APX-000001" in text and "TokenDistributor" not in text


def test_finance_drafts_finalizes_pays_credits_and_voids_with_clear_errors(world):
    finance = _client("fin", finance=True)
    book_usage("globex", days=range(1, 5))
    events = Event.objects.count

    drafted = finance.post(
        f"{API}/invoices/draft/",
        {"book": "distributor", "customer": "globex", "period": "2026-06"},
        format="json",
    )
    assert drafted.status_code == 201, drafted.content
    body = drafted.json()
    assert body["state"] == "draft" and body["number"] == "" and body["pdf_url"] is None
    invoice_id = body["id"]
    assert finance.get(f"{API}/invoices/{invoice_id}/pdf/").json()["error"]["code"] == (
        "invoice_not_issued"
    )
    for payload, code in [
        ({"book": "distributor", "customer": "nobody", "period": "2026-06"}, "customer_not_found"),
        ({"book": "distributor", "customer": "acme", "period": "2026-06"}, "not_invoiceable"),
        (
            {"book": "distributor", "customer": "globex", "period": "2999-01"},
            "invoice_period_not_closed",
        ),
        ({"book": "distributor", "period": "2026-06"}, "invalid_input"),
        ({"book": "nope", "customer": "globex", "period": "2026-06"}, "unknown_book"),
    ]:
        before = events()
        response = finance.post(f"{API}/invoices/draft/", payload, format="json")
        assert response.json()["error"]["code"] == code, (payload, response.content)
        assert events() == before

    before = events()
    finalized = finance.post(f"{API}/invoices/{invoice_id}/finalize/")
    assert finalized.status_code == 200, finalized.content
    assert finalized.json()["number"] == "TD-000001" and events() == before + 1
    again = finance.post(f"{API}/invoices/{invoice_id}/finalize/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invoice_not_draft"
    assert events() == before + 1

    invoice = Invoice.objects.get(public_id=invoice_id)
    total = invoice.total
    half = usd(total // 2 // 10**7 * 10**7)
    paid = finance.post(
        f"{API}/invoices/{invoice_id}/payments/",
        {"method": "bank_transfer", "amount": half, "reference": "BANK-1"},
        format="json",
    )
    assert paid.status_code == 201, paid.content
    assert paid.json()["paid"] == half and paid.json()["state"] == "finalized"
    for payload, code, status in [
        (
            {"method": "bank_transfer", "amount": half, "reference": "BANK-1"},
            "invoice_payment_duplicate",
            409,
        ),
        ({"method": "bank_transfer", "amount": 5}, "invalid_amount", 400),
        ({"method": "bank_transfer", "amount": "0.001"}, "invalid_invoicing_input", 400),
        ({"method": "cheque", "amount": "1.00"}, "invalid_input", 400),
    ]:
        before = events()
        response = finance.post(f"{API}/invoices/{invoice_id}/payments/", payload, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (status, code)
        assert events() == before
    voided = finance.post(f"{API}/invoices/{invoice_id}/void/", {}, format="json")
    assert voided.json()["error"]["code"] == "invoice_not_voidable"

    too_much = usd(total + 10**9)
    over = finance.post(
        f"{API}/invoices/{invoice_id}/credit-notes/",
        {"reason": "other", "amount": too_much},
        format="json",
    )
    assert over.status_code == 400 and over.json()["error"]["code"] == "credit_note_exceeds_invoice"
    line_one = finance.post(
        f"{API}/invoices/{invoice_id}/credit-notes/",
        {"reason": "order_change", "lines": [{"position": 99, "amount": "1.00"}]},
        format="json",
    )
    assert line_one.json()["error"]["code"] == "invalid_invoicing_input"
    note = finance.post(
        f"{API}/invoices/{invoice_id}/credit-notes/",
        {"reason": "product_unsatisfactory", "memo": "rest"},
        format="json",
    )
    assert note.status_code == 201, note.content
    assert (
        note.json()["number"] == "CN-000001" and note.json()["reason"] == "product_unsatisfactory"
    )
    detail = finance.get(f"{API}/invoices/{invoice_id}/").json()
    assert detail["state"] == "paid" and detail["due"] == "0.00"
    assert [n["number"] for n in detail["credit_notes"]] == ["CN-000001"]
    report = verify_ledger()
    assert report.ok, report.problems


def test_profiles_and_tax_rates_are_set_by_finance(world):
    finance = _client("fin", finance=True)
    listed = finance.get(f"{API}/profiles/").json()
    assert {row["book"] for row in listed["results"]} == {"distributor", "apex"}
    put = finance.put(
        f"{API}/profiles/apex/",
        {
            "legal_name": "Apex AI GmbH",
            "currency": "USD",
            "invoice_prefix": "APX-",
            "language": "zh-hans",
            "fee_bps": 250,
            "fee_fixed": "5.00",
            "fee_description": "Service fee",
        },
        format="json",
    )
    assert put.status_code == 200, put.content
    assert put.json()["fee_fixed_minor"] == 5 * 10**9 and put.json()["language"] == "zh-hans"
    for payload, code in [
        ({"legal_name": "X", "currency": "USD", "fee_fixed": "0.001"}, "invalid_invoicing_input"),
        ({"legal_name": "X", "currency": "USD", "fee_fixed": 5}, "invalid_amount"),
        ({"legal_name": "X", "currency": "XXX"}, "currency_unknown"),
        (
            {"legal_name": "X", "currency": "USD", "invoice_prefix": "A B"},
            "invalid_invoicing_input",
        ),
    ]:
        response = finance.put(f"{API}/profiles/apex/", payload, format="json")
        assert response.json()["error"]["code"] == code, payload
    assert finance.get(f"{API}/profiles/apex/").json()["fee_bps"] == 250  # unchanged
    assert finance.get(f"{API}/profiles/nope/").json()["error"]["code"] == (
        "billing_profile_not_found"
    )
    added = finance.post(
        f"{API}/profiles/apex/tax-rates/",
        {"region": "FR", "rate_bps": 2000, "effective_from": "2026-01-01T00:00:00Z"},
        format="json",
    )
    assert added.status_code == 201 and added.json()["region"] == "FR"
    bad = finance.post(
        f"{API}/profiles/apex/tax-rates/",
        {"region": "France", "rate_bps": 2000, "effective_from": "2026-01-01T00:00:00Z"},
        format="json",
    )
    assert bad.json()["error"]["code"] == "invalid_invoicing_input"
    rates = finance.get(f"{API}/profiles/apex/tax-rates/").json()["results"]
    assert {rate["region"] for rate in rates} == {"DE", "FR"}


def test_an_unknown_tax_region_is_refused_at_finalization_and_books_nothing(world):
    finance = _client("fin", finance=True)
    book_usage("initech", days=range(1, 3))
    invoice = services.invoice_draft(
        seller_book=world["reseller"],
        customer=world["initech"],
        period_start=JUNE[0],
        period_end=JUNE[1],
        actor="test",
        now=AFTER_JUNE,
    )
    services.buyer_details_set(
        customer=world["initech"], legal_name="Initech SARL", region="FR", actor="t"
    )
    before = Event.objects.count()
    response = finance.post(f"{API}/invoices/{invoice.public_id}/finalize/")
    assert response.status_code == 422 and response.json()["error"]["code"] == "tax_region_unknown"
    assert Event.objects.count() == before
    invoice.refresh_from_db()
    assert invoice.state == "draft" and invoice.number is None
    assert not Receipt.objects.exists()


# --- a reseller's staff (members of its seller book) -----------------------------------------


def _book_member(username: str, book) -> APIClient:
    user = User.objects.create_user(username, password="pw")
    wallets_services.book_member_add(book=book, user=user, actor="test")
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def resold(world, documents):
    """Beside `documents`: a second reseller, bolt (BLT-), whose credit customer hooli has
    a finalized June invoice; the distributor's June bills to apex and to bolt; and a
    receipt of a top-up of umbrella (apex's prepaid customer)."""
    usd, distributor = world["usd"], world["distributor"]
    bolt = ledger_services.book_create(code="bolt", name="Bolt", kind=Book.Kind.RESELLER)
    bolt.wholesale_from = distributor
    bolt.save(update_fields=["wholesale_from"])
    book_kwargs = {"effective_from": PRICES_FROM, "actor": "test"}
    pricing_services.retail_price_book_create(
        book=distributor, name="bolt wholesale", customer="bolt", markup_bps=600, **book_kwargs
    )
    pricing_services.retail_price_book_create(
        book=bolt, name="bolt list", markup_bps=2500, **book_kwargs
    )
    profile = services.billing_profile_set(
        book=bolt, legal_name="Bolt Compute Inc", currency=usd, invoice_prefix="BLT-", actor="t"
    )
    services.tax_rate_add(
        profile=profile,
        region="US",
        rate_bps=0,
        kind="exempt",
        effective_from=PRICES_FROM,
        actor="t",
    )
    hooli = Customer.objects.create(
        external_id="hooli", book=bolt, currency=usd, billing=Customer.Billing.CREDIT
    )
    services.buyer_details_set(customer=hooli, legal_name="Hooli Inc", region="US", actor="t")
    services.buyer_details_set(book=bolt, legal_name="Bolt Compute Inc", region="US", actor="t")
    book_usage("hooli", days=range(1, 8))
    bills = {}
    for reseller in (world["reseller"], bolt):
        bill = services.invoice_draft(
            seller_book=distributor,
            reseller_book=reseller,
            period_start=JUNE[0],
            period_end=JUNE[1],
            actor="test",
            now=AFTER_JUNE,
        )
        bills[reseller.code] = services.invoice_finalize(invoice=bill, actor="test", now=AFTER_JUNE)
    topup = topup_new(customer=world["umbrella"], amount_stripe=1500, source="checkout", actor="t")
    topup_book(topup_id=topup.pk, actor="test", stripe_payment_intent_id="pi_api_umbrella")
    return {
        "bolt": bolt,
        "hooli": _issued(hooli),
        "apex_bill": bills["apex"],
        "bolt_bill": bills["bolt"],
        "umbrella_receipt": services.receipt_issue(topup=topup, actor="test"),
    }


def test_a_reseller_member_sees_its_customers_and_its_bill_only(world, documents, resold):
    apex = _book_member("apex-staff", world["reseller"])
    initech, bill = documents["initech"], resold["apex_bill"]
    assert initech.seller_book == world["reseller"] and bill.buyer_key == "reseller:apex"
    # A draft of its customer's next period is still finance's.
    book_usage("initech", days=range(1, 3), month=7)
    draft = services.invoice_draft(
        seller_book=world["reseller"],
        customer=world["initech"],
        period_start=JUNE[1],
        period_end=JULY_END,
        actor="test",
        now=AFTER_JULY,
    )
    mine = {str(initech.public_id), str(bill.public_id)}
    assert _ids(apex.get(f"{API}/invoices/")) == mine
    assert _ids(apex.get(f"{API}/invoices/?buyer=reseller:apex")) == {str(bill.public_id)}
    assert _ids(apex.get(f"{API}/invoices/?book=apex")) == {str(initech.public_id)}
    assert _ids(apex.get(f"{API}/invoices/?buyer=globex")) == set()
    rows = list(csv.DictReader(io.StringIO(_csv(apex.get(f"{API}/invoices.csv")))))
    assert {row["number"] for row in rows} == {initech.number_text, bill.number_text}
    assert {row["buyer"] for row in rows} == {"initech", "reseller:apex"}
    for invoice in (initech, bill):
        body = apex.get(f"{API}/invoices/{invoice.public_id}/").json()
        assert body["number"] == invoice.number_text and body["total_minor"] == invoice.total
        pdf = apex.get(f"{API}/invoices/{invoice.public_id}/pdf/")
        assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert _ids(apex.get(f"{API}/credit-notes/")) == {str(documents["note"].public_id)}
    umbrella = resold["umbrella_receipt"]
    assert _ids(apex.get(f"{API}/receipts/")) == {str(umbrella.public_id)}
    assert apex.get(f"{API}/receipts/{umbrella.public_id}/pdf/").status_code == 200

    # Another reseller's documents and bill, the distributor's direct customers' and
    # receipts, and the draft: 404, exactly as an id that does not exist.
    strangers = [draft, resold["hooli"], resold["bolt_bill"], documents["globex"]]
    for invoice in strangers:
        for path in (
            f"{API}/invoices/{invoice.public_id}/",
            f"{API}/invoices/{invoice.public_id}/pdf/",
        ):
            response = apex.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "invoice_not_found"
            # (a draft has no number yet; the others' numbers never leak)
            assert not invoice.number_text or invoice.number_text not in response.content.decode()
    receipt = documents["receipt"]  # acme's, of the distributor
    for path in (
        f"{API}/receipts/{receipt.public_id}/",
        f"{API}/receipts/{receipt.public_id}/pdf/",
    ):
        assert apex.get(path).json()["error"]["code"] == "receipt_not_found"
    # Finance's screens and actions stay finance's, on its own documents too.
    for method, path in [
        ("get", f"{API}/profiles/"),
        ("get", f"{API}/profiles/apex/"),
        ("post", f"{API}/invoices/draft/"),
        ("post", f"{API}/invoices/{initech.public_id}/finalize/"),
        ("post", f"{API}/invoices/{initech.public_id}/void/"),
        ("post", f"{API}/invoices/{initech.public_id}/credit-notes/"),
        ("post", f"{API}/invoices/{bill.public_id}/payments/"),
    ]:
        response = getattr(apex, method)(path, {}, format="json")
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "permission_denied"

    # bolt's staff see bolt's, never apex's.
    bolt = _book_member("bolt-staff", resold["bolt"])
    assert _ids(bolt.get(f"{API}/invoices/")) == {
        str(resold["hooli"].public_id),
        str(resold["bolt_bill"].public_id),
    }
    assert _ids(bolt.get(f"{API}/credit-notes/")) == set()
    assert _ids(bolt.get(f"{API}/receipts/")) == set()
    assert bolt.get(f"{API}/invoices/{initech.public_id}/pdf/").status_code == 404
    assert bolt.get(f"{API}/credit-notes/{documents['note'].public_id}/").status_code == 404
    assert bolt.get(f"{API}/receipts/{umbrella.public_id}/").status_code == 404


def test_a_reseller_members_pdf_of_its_customers_invoice_names_the_reseller_only(
    world, documents, resold, tmp_path
):
    apex = _book_member("apex-staff", world["reseller"])
    initech = documents["initech"]
    text = " ".join(
        pdf_text(apex.get(f"{API}/invoices/{initech.public_id}/pdf/").content, tmp_path).split()
    )
    assert initech.number_text in text and "Apex AI GmbH" in text and "Initech GmbH" in text
    assert "TokenDistributor" not in text and "distributor" not in text.lower()
    note = apex.get(f"{API}/credit-notes/{documents['note'].public_id}/pdf/")
    text = " ".join(pdf_text(note.content, tmp_path).split())
    assert "APX-CN-000001" in text and "TokenDistributor" not in text
    # Its own bill is the distributor's document, addressed to the reseller.
    bill = apex.get(f"{API}/invoices/{resold['apex_bill'].public_id}/pdf/")
    text = " ".join(pdf_text(bill.content, tmp_path).split())
    assert "TokenDistributor Ltd" in text and "Apex AI GmbH" in text
    assert "Bolt" not in text and "Hooli" not in text


def test_a_book_membership_opens_no_wallet(world):
    user = User.objects.create_user("apex-staff", password="pw")
    wallets_services.book_member_add(book=world["reseller"], user=user, actor="t")
    assert list(access.books_visible(user=user)) == [world["reseller"]]
    # Invoicing's documents only: no customer of the book becomes the login's.
    assert not access.customers_visible(user=user, perm="wallets.view_customer").exists()
