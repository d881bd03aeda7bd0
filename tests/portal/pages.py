"""Every page and download of the portal for one customer, with what each needs to exist:
the sweep tests (tenancy, CSRF, translations, timing) walk this one list, so a new page
added to portal/urls.py without an entry here fails test_every_url_is_swept."""

from dataclasses import dataclass

from django.urls import reverse

from invoicing.models import Receipt
from wallets.models import ApiKey


@dataclass(frozen=True)
class Page:
    name: str
    kind: str  # "page" (HTML), "download" (CSV/PDF/image)
    args: tuple = ()


def customer_pages(customer, *, key: ApiKey, receipt: Receipt | None = None) -> list[Page]:
    """The GET URLs under c/<customer>/ (ids of the customer's own objects)."""
    pages = [
        Page("portal:dashboard", "page"),
        Page("portal:usage", "page"),
        Page("portal:usage_csv", "download"),
        Page("portal:topup", "page"),
        Page("portal:auto_topup", "page"),
        Page("portal:keys", "page"),
        Page("portal:key_edit", "page", (key.pk,)),
        Page("portal:documents", "page"),
    ]
    if receipt is not None:
        pages.append(Page("portal:receipt_pdf", "download", (receipt.public_id,)))
    return pages


def url(page: Page, external_id: str) -> str:
    return reverse(page.name, args=[external_id, *page.args])


# POST forms under c/<customer>/: (url name, extra args, a valid body).
def customer_forms(*, key: ApiKey) -> list[tuple[str, tuple, dict]]:
    return [
        ("portal:topup", (), {"amount": "20"}),
        ("portal:topup_pay", (), {"amount": "20"}),
        ("portal:auto_topup", (), {"enabled": "", "threshold": "5", "target": "20"}),
        ("portal:card_setup", (), {}),
        ("portal:keys", (), {"name": "k"}),
        ("portal:key_edit", (key.pk,), {"name": "k2"}),
        ("portal:key_revoke", (key.pk,), {}),
    ]


# URL names that are not per customer, or not GET pages (covered by other tests).
NOT_SWEPT = {
    "portal:home",
    "portal:set_language",
    "portal:login",
    "portal:logout",
    "portal:password_reset",
    "portal:password_reset_done",
    "portal:password_reset_confirm",
    "portal:password_reset_complete",
    "portal:logo",  # test_branding
    "portal:topup_pay",  # POST only
    "portal:card_setup",  # POST only
    "portal:key_revoke",  # POST only
    "portal:topup_done",  # by session id: test_topups
    "portal:topup_cancelled",
    "portal:card_saved",
    "portal:card_setup_cancelled",
    "portal:invoice_pdf",  # test_documents
    "portal:credit_note_pdf",  # test_documents
}
