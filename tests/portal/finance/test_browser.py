"""The finance dashboard in a real browser: Playwright for Python driving Debian's
Chromium (never a downloaded one) against the live test server. A finance login signs
in, reads the figures, follows a tile to the ledger export behind it, switches to
Chinese; the pages are saved under var/test-artifacts/portal/ (finance.png, ...)."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from playwright.sync_api import expect

from ledger.models import Account
from ledger.selectors import account_balance_get
from portal.finance.views import FINANCE_PERMISSION
from tests.portal.finance.conftest import seed

# The portal's browser (Debian's Chromium, headless) and where its screenshots go.
from tests.portal.test_browser import ARTIFACTS, browser_page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PASSWORD = "finance-test-pw-1"
FINANCE_CODENAME = FINANCE_PERMISSION.split(".")[1]


def test_finance_reads_the_dashboard_follows_a_figure_and_reads_it_in_chinese(
    browser_page,  # noqa: F811  (the imported fixture)
    live_server,
    world,
):
    seeded = seed(world)
    # The finance role's permission itself: a transactional test's database is flushed
    # after each such test, which drops the rows migrations made (the finance group) but
    # makes the permissions again.
    user = User.objects.create_user("finance-ann", password=PASSWORD)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="ledger", codename=FINANCE_CODENAME)
    )
    page, base = browser_page, live_server.url

    page.goto(f"{base}/portal/finance/")  # a visitor is sent to sign in first
    expect(page).to_have_url(re.compile(r"/portal/login/\?next=/portal/finance/"))
    page.fill("#id_username", "finance-ann")
    page.fill("#id_password", PASSWORD)
    page.click("form.stacked button[type=submit]")
    expect(page).to_have_url(f"{base}/portal/finance/")
    expect(page.locator("h1")).to_have_text("Finance dashboard")
    stripe = page.locator('[data-figure="stripe"] a.figure')
    paid = seeded.topup.amount_minor + seeded.topup.fee_minor
    expect(stripe).to_have_text("52.75 USD")
    assert paid == 52_750_000_000
    expect(page.locator("#negative-models tbody tr")).to_have_count(1)
    # The last 30 days are today and 29 whole days before it; usage stops yesterday.
    expect(page.locator("figure.chart svg rect")).to_have_count(29)
    page.screenshot(path=str(ARTIFACTS / "finance.png"), full_page=True)

    # The figure is a link to the ledger's statement of cash:stripe: a CSV whose last
    # running balance is the figure.
    with page.expect_download() as download:
        stripe.click()
    statement = Path(download.value.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(statement)))
    cash = Account.objects.get(book__code="distributor", code="cash:stripe")
    assert int(rows[-1]["running_balance_minor"]) == paid
    assert account_balance_get(account_id=cash.id).balance == paid

    # In Chinese: the switcher posts the language (with its CSRF token) and comes back.
    page.select_option("#language-select", "zh-hans")
    expect(page.locator("h1")).to_have_text("财务看板")
    expect(stripe).to_have_text("USD 52.75")
    page.screenshot(path=str(ARTIFACTS / "finance-zh-hans.png"), full_page=True)
