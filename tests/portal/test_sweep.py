"""Every page and download, swept: another customer's id is a 404 everywhere, every form
refuses a POST without its CSRF token, and every page in Chinese shows no English text
of the catalogue (nothing untranslated)."""

import html.parser
import re

import pytest
from django.test import Client
from django.urls import get_resolver

from invoicing.models import Receipt
from payments.models import TopUp
from tests.payments.stripe_helpers import checkout_session, post_event, stripe_event
from wallets import services

from .conftest import member
from .pages import NOT_SWEPT, customer_forms, customer_pages, url
from .test_i18n import catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(acme_client, profiles, stripe_mock):
    """acme with a key and a paid top-up's receipt; globex, another tenant, with its own."""
    world_customers = {c.external_id: c for c in profiles["distributor"].book.customers.all()}
    key, _ = services.api_key_create(customer=world_customers["acme"], name="k", actor="t")
    acme_client.post("/portal/c/acme/topup/pay", {"amount": "20"})
    topup = TopUp.objects.get()
    post_event(stripe_event("checkout.session.completed", checkout_session(topup)))
    acme_client.get(f"/portal/topups/done?session_id={topup.stripe_checkout_session_id}")
    other_key, _ = services.api_key_create(
        customer=world_customers["globex"], name="theirs", actor="t"
    )
    return {
        "key": key,
        "receipt": Receipt.objects.get(),
        "other_key": other_key,
    }


def test_every_url_is_swept(setup):
    names = {
        f"portal:{name}"
        for name in get_resolver().namespace_dict["portal"][1].reverse_dict
        if isinstance(name, str)
    }
    swept = {page.name for page in customer_pages(None, key=setup["key"], receipt=setup["receipt"])}
    unswept = names - swept - NOT_SWEPT
    assert not {n for n in unswept if not n.startswith("portal:finance")}, unswept


def test_every_page_answers_its_own_customer(acme_client, setup):
    for page in customer_pages(None, key=setup["key"], receipt=setup["receipt"]):
        answer = acme_client.get(url(page, "acme"))
        assert answer.status_code == 200, (page, answer.status_code)


def test_another_customers_id_is_404_on_every_page_download_and_form(acme_client, setup):
    theirs = customer_pages(None, key=setup["other_key"], receipt=setup["receipt"])
    for external_id in ("globex", "initech", "no-such-customer"):
        for page in theirs:
            answer = acme_client.get(url(page, external_id))
            assert answer.status_code == 404, (page, external_id, answer.status_code)
        for name, args, body in customer_forms(key=setup["other_key"]):
            answer = acme_client.post(url_of(name, external_id, args), body)
            assert answer.status_code == 404, (name, external_id, answer.status_code)
    # acme's own URLs naming globex's objects are 404 too.
    assert (
        acme_client.get(url_of("portal:key_edit", "acme", (setup["other_key"].pk,))).status_code
        == 404
    )
    setup["other_key"].refresh_from_db()
    assert setup["other_key"].name == "theirs" and setup["other_key"].revoked_at is None


def test_a_receipt_of_another_customer_is_404(world, setup):
    bob = Client()
    bob.force_login(member(world["globex"], "bob"))
    receipt = setup["receipt"]
    assert bob.get(url_of("portal:receipt_pdf", "acme", (receipt.public_id,))).status_code == 404
    assert bob.get(url_of("portal:receipt_pdf", "globex", (receipt.public_id,))).status_code == 404


def url_of(name, external_id, args=()):
    from django.urls import reverse

    return reverse(name, args=[external_id, *args])


def test_every_form_refuses_a_post_without_its_csrf_token(acme_user, setup):
    client = Client(enforce_csrf_checks=True)
    client.force_login(acme_user)
    for name, args, body in customer_forms(key=setup["key"]):
        answer = client.post(url_of(name, "acme", args), body)
        assert answer.status_code == 403, (name, answer.status_code)
    for path, body in (
        ("/portal/language/", {"language": "zh-hans"}),
        ("/portal/logout/", {}),
        ("/portal/password-reset/", {"email": "alice@acme.example"}),
    ):
        assert client.post(path, body).status_code == 403, path
    anonymous = Client(enforce_csrf_checks=True)
    assert (
        anonymous.post("/portal/login/", {"username": "alice", "password": "x"}).status_code == 403
    )
    # With the token from the page the same form goes through.
    page = client.get(url_of("portal:keys", "acme"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    created = client.post(
        url_of("portal:keys", "acme"), {"name": "ok", "csrfmiddlewaretoken": token}
    )
    assert created.status_code == 200 and created.context["secret"]
    key = setup["key"]
    key.refresh_from_db()
    assert key.revoked_at is None  # the refused revoke did nothing


class _Text(html.parser.HTMLParser):
    """The text a reader sees: text nodes, and the attributes read out or shown."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "code"):
            self._skip += 1
        for name, value in attrs:
            if name in ("title", "aria-label", "placeholder", "alt") and value:
                self.parts.append(value)
            if name == "value" and dict(attrs).get("type") in ("submit", "button"):
                self.parts.append(value or "")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "code") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def visible_text(content: str) -> str:
    parser = _Text()
    parser.feed(content)
    return "\n".join(parser.parts)


def english_on(text: str, msgids: list[str]) -> list[str]:
    return [msgid for msgid in msgids if re.search(rf"(?<![\w-]){re.escape(msgid)}(?![\w-])", text)]


def test_every_page_in_chinese_shows_no_english_of_the_catalogue(acme_client, setup):
    # Each msgid of the portal's catalogue (without placeholders, whose Chinese differs)
    # must not appear on a page rendered in Chinese; Django's own strings are checked by
    # the words of the English page that are not data (model names, numbers, codes).
    msgids = [
        msgid
        for msgid, strs in catalogue()
        if "%(" not in msgid and strs[0] != msgid and len(msgid) > 2
    ]
    acme_client.post("/portal/language/", {"language": "zh-hans", "next": "/portal/"})
    pages = customer_pages(None, key=setup["key"], receipt=setup["receipt"])
    for page in [p for p in pages if p.kind == "page"]:
        answer = acme_client.get(url(page, "acme"))
        content = answer.content.decode()
        assert '<html lang="zh-hans">' in content, page
        text = visible_text(content)
        assert re.search(r"[\u4e00-\u9fff]", text), page
        assert english_on(text, msgids) == [], (page, english_on(text, msgids))
    # The sign-in and password pages, signed out.
    anonymous = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    for path in ("/portal/login/", "/portal/password-reset/", "/portal/password-reset/sent/"):
        text = visible_text(anonymous.get(path).content.decode())
        assert english_on(text, msgids) == [], (path, english_on(text, msgids))
