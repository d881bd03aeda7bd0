"""The PDFs of real invoices, credit notes and receipts, built from the stored rows
(invoicing.selectors → Document → WeasyPrint) and read back with pdftotext: the number,
the totals and the legal names, in English and in Simplified Chinese, every glyph in
the fonts we named; a reseller's documents under its own name only."""

from dataclasses import replace
from decimal import Decimal

import pytest

from invoicing import selectors, services
from invoicing.documents import fonts, formatting, render
from payments.topups.services import topup_book, topup_new
from tests.invoicing.conftest import AFTER_JUNE, JUNE, book_usage

from .pdf_inspect import glyph_problems, pdf_fonts, pdf_text

pytestmark = pytest.mark.django_db

CHINESE_RESELLER = "上海示例科技有限公司"
CHINESE_BUYER = "北京星河智能有限公司"
PAID = 2 * 10**7  # 0.02 USD


@pytest.fixture(scope="module")
def faces():
    return fonts.resolve_all()


def _squash(text: str) -> str:
    return " ".join(text.split())


def _invoice(world, customer: str = "initech"):
    buyer = world[customer]
    draft = services.invoice_draft(
        seller_book=buyer.book,
        customer=buyer,
        period_start=JUNE[0],
        period_end=JUNE[1],
        actor="test",
        now=AFTER_JUNE,
    )
    return services.invoice_finalize(invoice=draft, actor="test", now=AFTER_JUNE)


def _chinese_reseller(world):
    apex = world["profiles"]["apex"]
    services.billing_profile_set(
        book=apex.book,
        legal_name=CHINESE_RESELLER,
        address="上海市浦东新区世纪大道100号",
        tax_id="91310000MA1K000000",
        currency=apex.currency,
        invoice_prefix="SH-",
        credit_note_prefix="SH-CN-",
        language="zh-hans",
        actor="test",
    )
    services.buyer_details_set(
        customer=world["initech"], legal_name=CHINESE_BUYER, region="DE", actor="t"
    )


def test_a_real_english_invoice_renders_its_stored_figures(world, tmp_path, faces):
    book_usage("initech")
    invoice = _invoice(world)
    document = selectors.invoice_document_get(invoice)
    assert document.total == Decimal(invoice.total).scaleb(-9)  # the stored total, exactly
    assert len(document.lines) == invoice.lines.count()
    pdf = render.render_pdf(document)
    text = _squash(pdf_text(pdf, tmp_path))
    assert "APX-000001" in text and "Apex AI GmbH" in text and "Initech GmbH" in text
    for figure in (document.subtotal, document.tax, document.total):
        assert formatting.amount(figure, "USD", 2, "en") in text
    assert "VAT" not in text and "Tax (19%)" in text
    assert "gpt-4o" in text and "1 Jun 2026" in text and "30 Jun 2026" in text
    assert "TokenDistributor" not in text
    assert glyph_problems(pdf, faces, tmp_path) == []


def test_a_real_chinese_invoice_names_the_chinese_seller_in_cjk_glyphs(world, tmp_path, faces):
    _chinese_reseller(world)
    book_usage("initech")
    invoice = _invoice(world)
    document = selectors.invoice_document_get(invoice)
    assert document.language == "zh-hans"
    pdf = render.render_pdf(document)
    text = _squash(pdf_text(pdf, tmp_path))
    assert CHINESE_RESELLER in text and CHINESE_BUYER in text and "SH-000001" in text
    assert f"合计 USD {formatting.number(document.total, 2)}" in text
    assert f"税 (19%) USD {formatting.number(document.tax, 2)}" in text
    assert "Invoice" not in text and "Subtotal" not in text and "Apex" not in text
    assert {font.base_name for font in pdf_fonts(pdf, tmp_path)} >= {"Document-Sans-CJK-SC"}
    assert glyph_problems(pdf, faces, tmp_path) == []


def test_credit_notes_paid_and_void_invoices_state_what_was_booked(world, tmp_path, faces):
    book_usage("initech")
    invoice = _invoice(world)
    assert invoice.total > 5 * 10**8
    services.invoice_payment_record(
        invoice=invoice, method="bank_transfer", amount=PAID, reference="B-1", actor="t"
    )
    lines = list(invoice.lines.order_by("position")[:2])
    by_lines = services.credit_note_issue(
        invoice=invoice,
        reason="product_unsatisfactory",
        lines=[(line, line.amount) for line in lines],
        actor="t",
    )
    by_amount = services.credit_note_issue(
        invoice=invoice, reason="duplicate", amount=3 * 10**7, memo="double charge", actor="t"
    )
    document = selectors.invoice_document_get(invoice)
    assert document.amount_paid == Decimal("0.02")
    credited = by_lines.to_receivable + by_amount.to_receivable
    assert credited == by_lines.total + by_amount.total  # all off the open receivable
    assert document.amount_credited == Decimal(credited).scaleb(-9)
    assert document.amount_due == Decimal(invoice.total - PAID - credited).scaleb(-9)
    text = _squash(pdf_text(render.render_pdf(document), tmp_path))
    assert "Amount credited" in text and by_lines.number_text in text

    for note in (by_lines, by_amount):
        credit = selectors.credit_note_document_get(note)
        assert credit.total == Decimal(note.total).scaleb(-9)
        pdf = render.render_pdf(credit)
        text = _squash(pdf_text(pdf, tmp_path))
        assert note.number_text in text and f"Credits invoice {invoice.number_text}" in text
        assert formatting.amount(credit.total, "USD", 2, "en") in text
        assert glyph_problems(pdf, faces, tmp_path) == []
    assert "Reason: duplicate" in text and "double charge" in text

    book_usage("globex", days=range(1, 3))
    globex = _invoice(world, "globex")
    globex = services.invoice_void(invoice=globex, actor="t")
    void = selectors.invoice_document_get(globex)
    assert void.voided and void.amount_due == 0 and void.total > 0
    text = _squash(pdf_text(render.render_pdf(void), tmp_path))
    assert "VOID" in text and "This invoice is void: nothing is due." in text
    assert "TD-000001" in text and "Exempt from tax." in text


def test_a_receipt_of_a_paid_topup_renders_amount_and_fee(world, tmp_path, faces):
    topup = topup_new(customer=world["acme"], amount_stripe=2000, source="checkout", actor="t")
    topup_book(topup_id=topup.pk, actor="test", stripe_payment_intent_id="pi_doc_receipt")
    receipt = services.receipt_issue(topup=topup, actor="test")
    document = selectors.receipt_document_get(receipt)
    assert document.total == Decimal(receipt.total).scaleb(-9) and document.amount_due == 0
    assert [line.amount for line in document.lines] == [
        Decimal(receipt.amount).scaleb(-9),
        Decimal(receipt.fee).scaleb(-9),
    ]
    for language in ("en", "zh-hans"):
        pdf = render.render_pdf(replace(document, language=language))
        text = _squash(pdf_text(pdf, tmp_path))
        assert "RC-000001" in text and "TokenDistributor Ltd" in text
        assert formatting.amount(document.total, "USD", 2, language) in text
        assert glyph_problems(pdf, faces, tmp_path) == []
