"""Invoices, credit notes and receipts in the portal, and the seller's brand: a reseller's
customers see the reseller's name and logo only."""

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from invoicing import services as invoicing
from tests.invoicing.pdf_inspect import pdf_text
from tests.metering.conftest import PRICES_FROM, usage

from .conftest import book_usage, member

pytestmark = pytest.mark.django_db
JUNE = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
AFTER_JUNE = datetime(2026, 7, 2, tzinfo=UTC)


@pytest.fixture
def globex_invoice(world, profiles):
    """globex (on credit, the distributor's) with a finalized June invoice, a credit note,
    and a July draft (which its members must not see)."""
    invoicing.tax_rate_add(
        profile=profiles["distributor"],
        region="US",
        rate_bps=0,
        kind="exempt",
        effective_from=PRICES_FROM,
        actor="t",
    )
    invoicing.buyer_details_set(
        customer=world["globex"], legal_name="Globex Corp", region="US", actor="t"
    )
    book_usage(
        usage(
            "globex",
            "gpt-4o",
            "openai",
            input=400_000,
            output=90_000,
            occurred_at="2026-06-10T10:00:00+00:00",
        ),
        usage(
            "globex",
            "claude-sonnet-4-5",
            "anthropic",
            input=50_000,
            output=20_000,
            cache_read=100_000,
            occurred_at="2026-06-20T10:00:00+00:00",
        ),
        usage(
            "globex",
            "gpt-4o",
            "openai",
            input=1000,
            output=10,
            occurred_at="2026-07-03T10:00:00+00:00",
        ),
    )
    invoice = invoicing.invoice_draft(
        seller_book=world["distributor"],
        customer=world["globex"],
        period_start=JUNE[0],
        period_end=JUNE[1],
        actor="t",
        now=AFTER_JUNE,
    )
    invoice = invoicing.invoice_finalize(invoice=invoice, actor="t", now=AFTER_JUNE)
    note = invoicing.credit_note_issue(
        invoice=invoice,
        reason="other",
        amount=invoice.total // 10 // 10**7 * 10**7,  # whole cents
        actor="t",
        now=AFTER_JUNE,
    )
    draft = invoicing.invoice_draft(
        seller_book=world["distributor"],
        customer=world["globex"],
        period_start=datetime(2026, 7, 1, tzinfo=UTC),
        period_end=datetime(2026, 8, 1, tzinfo=UTC),
        actor="t",
        now=datetime(2026, 8, 2, tzinfo=UTC),
    )
    client = Client()
    client.force_login(member(world["globex"], "gina"))
    return {"invoice": invoice, "note": note, "draft": draft, "client": client}


def test_a_customer_lists_its_issued_invoices_and_downloads_their_pdfs(globex_invoice, tmp_path):
    client, invoice, note = (globex_invoice[k] for k in ("client", "invoice", "note"))
    page = client.get(reverse("portal:documents", args=["globex"]))
    assert page.status_code == 200
    rows = page.context["invoices"]
    assert [row["invoice"].pk for row in rows] == [invoice.pk]  # the draft is not shown
    assert rows[0]["due_minor"] == invoice.total - note.to_receivable
    assert [n.pk for n in page.context["credit_notes"]] == [note.pk]
    answer = client.get(reverse("portal:invoice_pdf", args=["globex", invoice.public_id]))
    assert answer.status_code == 200 and answer["Content-Type"] == "application/pdf"
    text = pdf_text(answer.content, tmp_path)
    assert invoice.number_text in text and "TokenDistributor Ltd" in text and "Globex Corp" in text
    credit = client.get(reverse("portal:credit_note_pdf", args=["globex", note.public_id]))
    assert credit.status_code == 200 and note.number_text in pdf_text(credit.content, tmp_path)
    draft = globex_invoice["draft"]
    assert (
        client.get(reverse("portal:invoice_pdf", args=["globex", draft.public_id])).status_code
        == 404
    )


def test_another_customer_cannot_reach_the_invoice_or_credit_note(globex_invoice, acme_client):
    invoice, note = globex_invoice["invoice"], globex_invoice["note"]
    for external_id in ("acme", "globex"):
        for name, public_id in (
            ("portal:invoice_pdf", invoice.public_id),
            ("portal:credit_note_pdf", note.public_id),
        ):
            answer = acme_client.get(reverse(name, args=[external_id, public_id]))
            assert answer.status_code == 404, (name, external_id)
    assert acme_client.get(reverse("portal:documents", args=["acme"])).context["invoices"] == []


def test_a_resellers_customer_sees_the_resellers_name_and_logo_only(world, profiles, acme_client):
    ivan = Client()
    ivan.force_login(member(world["initech"], "ivan"))
    page = ivan.get(reverse("portal:dashboard", args=["initech"])).content.decode()
    assert "Apex AI GmbH" in page
    logo_url = reverse("portal:logo", args=["initech"])
    assert f'src="{logo_url}"' in page
    for trace in ("TokenDistributor", "Distributor", "distributor"):
        assert trace not in page
    for name in ("portal:usage", "portal:topup", "portal:keys", "portal:documents"):
        other = ivan.get(reverse(name, args=["initech"])).content.decode()
        assert "Apex AI GmbH" in other and "TokenDistributor" not in other, name
    logo = ivan.get(logo_url)
    assert logo.status_code == 200 and b"".join(logo.streaming_content).startswith(b"\x89PNG")
    # The distributor's own customer sees the distributor, with no logo; and not Apex's logo.
    mine = acme_client.get(reverse("portal:dashboard", args=["acme"])).content.decode()
    assert "TokenDistributor Ltd" in mine and "Apex" not in mine and 'class="logo"' not in mine
    assert acme_client.get(logo_url).status_code == 404
    assert acme_client.get(reverse("portal:logo", args=["acme"])).status_code == 404
