"""The portal in a real browser: Playwright for Python driving Debian's Chromium (never a
downloaded one) against the live test server. Sign in, see the balance, top up through
Checkout (the session on stripe-mock, Stripe's signed webhook to the server), see the new
balance and the receipt, create and revoke a key, switch to Chinese and see the pages
translated. Each page is saved as a screenshot under var/test-artifacts/portal/."""

import json
import re
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from payments.models import TopUp
from payments.stripe.webhooks import webhook_signature
from tests.metering.conftest import usage
from tests.payments.stripe_helpers import checkout_session, stripe_event
from wallets.models import ApiKey

from .conftest import PASSWORD, book_usage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(django_settings.VAR_DIR) / "test-artifacts" / "portal"
CHECKOUT_PAGE = (
    "<html><body><h1>Stripe Checkout (stripe-mock)</h1>"
    "<p>stripe-mock opens sessions but has no payment page; the test pays as Stripe's "
    "webhook would.</p></body></html>"
)


@pytest.fixture
def browser_page(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM reads
    # between browser steps are synchronous and safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-background-networking"],
        )
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        # Stripe's hosted page is on the internet; stripe-mock gives its URL but no page.
        page.route(
            re.compile(r"^https://checkout\.stripe\.com/.*"),
            lambda route: route.fulfill(status=200, content_type="text/html", body=CHECKOUT_PAGE),
        )
        yield page
        context.close()
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _post_webhook(base_url: str, event: dict) -> dict:
    payload = json.dumps(event).encode()
    request = urllib.request.Request(
        f"{base_url}/v1/stripe/webhook",
        data=payload,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": webhook_signature(payload, django_settings.STRIPE_WEBHOOK_SECRET),
        },
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def test_a_customer_tops_up_manages_keys_and_reads_the_portal_in_chinese(
    browser_page, live_server, world, profiles, acme_user, settings, stripe_mock, celery_eager
):
    page, base = browser_page, live_server.url
    settings.WALLETS_TOPUP_SUCCESS_URL = (
        f"{base}/portal/topups/done?session_id={{CHECKOUT_SESSION_ID}}"
    )
    settings.WALLETS_TOPUP_CANCEL_URL = f"{base}/portal/topups/cancelled"
    yesterday = (timezone.now() - timedelta(days=1)).replace(microsecond=0).isoformat()
    book_usage(
        usage(
            "acme",
            "gpt-4o",
            "openai",
            input=9_000,
            output=700,
            cache_read=2_048,
            occurred_at=yesterday,
            api_key="key_prod",
        ),
        usage(
            "acme",
            "deepseek-chat",
            "deepseek",
            input=3_000,
            output=400,
            reasoning=300,
            occurred_at=yesterday,
            api_key="key_dev",
        ),
    )

    # Sign in: the dashboard with the balance (usage booked, no money yet: negative).
    page.goto(f"{base}/portal/login/")
    shot(page, "01-sign-in")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    expect(page).to_have_url(f"{base}/portal/c/acme/")
    before = page.text_content("#available")
    assert before.startswith("-") and before.endswith("USD")
    expect(page.locator("#low-balance")).to_be_visible()
    shot(page, "02-dashboard")

    page.click("nav.main >> text=Usage")
    expect(page.locator("#chart-spend-day svg")).to_be_visible()
    assert page.locator("#per-model tbody tr").count() == 2
    shot(page, "03-usage")

    # Top up 20 USD: the fee is shown before paying.
    page.click("nav.main >> text=Top up")
    page.fill("#id_amount", "20")
    page.click("#quote-button")
    expect(page.locator("#quote-fee")).to_have_text("1.10 USD")
    expect(page.locator("#quote-total")).to_have_text("21.10 USD")
    shot(page, "04-top-up-quote")
    page.click("#pay")
    page.wait_for_url(re.compile(r"^https://checkout\.stripe\.com/"))
    shot(page, "05-checkout")
    topup = TopUp.objects.get()
    assert topup.state == TopUp.State.OPEN and topup.stripe_checkout_session_id
    # Stripe reports the payment to the server, signed, and sends the customer back.
    answer = _post_webhook(
        base, stripe_event("checkout.session.completed", checkout_session(topup))
    )
    assert answer["outcome"] == "booked", answer
    page.goto(
        settings.WALLETS_TOPUP_SUCCESS_URL.replace(
            "{CHECKOUT_SESSION_ID}", topup.stripe_checkout_session_id
        )
    )
    expect(page.locator("#topup-paid")).to_be_visible()
    expect(page.locator("#topup-state")).to_have_text("Paid")
    shot(page, "06-top-up-paid")
    with page.expect_download() as download:
        page.click("#receipt-link")
    receipt = Path(download.value.path()).read_bytes()
    assert receipt.startswith(b"%PDF")
    page.click("nav.main >> text=Dashboard")
    after = page.text_content("#available")
    assert after != before and not after.startswith("-")
    shot(page, "07-dashboard-after-top-up")
    page.click("nav.main >> text=Invoices and receipts")
    expect(page.locator("#receipts tbody tr")).to_have_count(1)
    shot(page, "08-invoices-and-receipts")

    # A key: the secret shown once, then revoked.
    page.click("nav.main >> text=API keys")
    page.fill("#id_name", "browser key")
    page.fill("#id_daily_limit", "5")
    page.fill("#id_allowed_models", "gpt-4o\ndeepseek-chat")
    page.click("#create-key")
    secret = page.text_content("#new-secret").strip()
    assert secret.startswith("sk_live_")
    shot(page, "09-key-created")
    key = ApiKey.objects.get(name="browser key")
    page.goto(f"{base}/portal/c/acme/keys/")
    assert secret not in page.content()
    page.click(f"#key-{key.pk} button.danger")
    expect(page.locator(f"#key-{key.pk}")).to_contain_text("Revoked")
    key.refresh_from_db()
    assert key.revoked_at is not None
    shot(page, "10-key-revoked")

    # Chinese: the switcher changes every page.
    page.select_option("#language-select", "zh-hans")
    page.wait_for_load_state("load")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("h1")).to_have_text("API 密钥")
    shot(page, "11-zh-keys")
    for number, (path, heading) in enumerate(
        [
            ("", None),
            ("usage/", "用量"),
            ("topup/", "充值"),
            ("auto-topup/", "自动充值"),
            ("documents/", "发票和收据"),
        ],
        start=12,
    ):
        page.goto(f"{base}/portal/c/acme/{path}")
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
        if heading:
            expect(page.locator("h1")).to_have_text(heading)
        else:
            expect(page.locator("#available")).to_be_visible()
            assert "可用余额" in page.content()
        shot(page, f"{number}-zh-{path.strip('/') or 'dashboard'}")
    page.click("text=退出登录")
    expect(page).to_have_url(re.compile(r"/portal/login/"))
    expect(page.locator("h1")).to_have_text("登录")
    shot(page, "17-zh-signed-out")
