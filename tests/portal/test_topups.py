"""Top-up through the portal: the fee shown before paying, Stripe Checkout on stripe-mock,
Stripe's signed webhook, then the new balance and the receipt; auto top-up and a saved card."""

import pytest
from django.test import Client
from django.urls import reverse

from invoicing.models import Receipt
from invoicing.services import receipts_issue_pending
from payments.models import AutoTopUpSettings, CardSetup, TopUp
from tests.payments.stripe_helpers import checkout_session, post_event, setup_session, stripe_event
from wallets.selectors import wallet_balance_get

from .conftest import member

pytestmark = pytest.mark.django_db

NANOS = 10**9


def test_the_quote_shows_the_platform_fee_and_writes_nothing(acme_client, stripe_mock):
    url = reverse("portal:topup", args=["acme"])
    form = acme_client.get(url)
    assert form.status_code == 200 and "5.5 %" in form.content.decode()
    quote = acme_client.post(url, {"amount": "20"})
    assert quote.status_code == 200
    q = quote.context["quote"]
    # 5.5 % of 20.00 USD is 1.10 USD, rounded half up to the cent (payments' amounts).
    assert (q.amount_minor, q.fee_minor, q.total_minor) == (
        20 * NANOS,
        1_100_000_000,
        21_100_000_000,
    )
    html = quote.content.decode()
    assert "20.00 USD" in html and "1.10 USD" in html and "21.10 USD" in html
    assert not TopUp.objects.exists()
    # Half a cent of fee rounds up: 10.01 * 5.5 % = 0.55055 -> 0.55.
    assert acme_client.post(url, {"amount": "10.01"}).context["quote"].fee_minor == 550_000_000


@pytest.mark.parametrize(
    "amount, message",
    [
        ("abc", "Enter an amount such as 25 or 25.50."),
        ("1", "A top-up is between 5.00 USD and 10,000.00 USD."),
        ("20.001", "Enter an amount such as 25 or 25.50."),
        ("-5", "Enter an amount such as 25 or 25.50."),
    ],
)
def test_a_bad_amount_is_refused_with_a_clear_sentence(acme_client, amount, message):
    answer = acme_client.post(reverse("portal:topup", args=["acme"]), {"amount": amount})
    assert answer.status_code == 400
    assert message in answer.content.decode()
    pay = acme_client.post(reverse("portal:topup_pay", args=["acme"]), {"amount": amount})
    assert pay.status_code == 400 and message in pay.content.decode()
    assert not TopUp.objects.exists()


def test_pay_opens_checkout_then_the_signed_webhook_credits_the_wallet_and_a_receipt_is_issued(
    acme_client, profiles, stripe_mock
):
    acme = profiles["distributor"].book.customers.get(external_id="acme")
    before = wallet_balance_get(customer=acme)
    answer = acme_client.post(reverse("portal:topup_pay", args=["acme"]), {"amount": "20"})
    # The browser goes to Stripe's Checkout page (stripe-mock's session).
    assert answer.status_code == 302
    assert answer["Location"].startswith("https://checkout.stripe.com/")
    topup = TopUp.objects.get()
    assert (topup.state, topup.amount_minor, topup.fee_minor) == ("open", 20 * NANOS, 1_100_000_000)
    assert topup.created_by == "user:alice"

    # Back from Stripe before its webhook: the page waits (and reloads itself).
    done = reverse("portal:topup_done") + f"?session_id={topup.stripe_checkout_session_id}"
    waiting = acme_client.get(done)
    assert waiting.status_code == 200 and waiting.context["waiting"]
    assert 'http-equiv="refresh"' in waiting.content.decode()

    # Stripe's signed webhook books the payment, and in the same transaction the receipt.
    booked = post_event(stripe_event("checkout.session.completed", checkout_session(topup)))
    assert booked.status_code == 200, booked.content
    receipt = Receipt.objects.get(topup=topup)
    assert receipt.number_text.startswith("TD-R-") and receipt.total == 21_100_000_000
    assert receipt.issued_at == TopUp.objects.get().paid_at
    paid = acme_client.get(done)
    assert paid.context["paid"]
    after = wallet_balance_get(customer=acme)
    assert after.available - (before.available if before else 0) == 20 * NANOS
    assert paid.context["available_minor"] == after.available
    assert paid.context["receipt"].pk == receipt.pk
    assert 'id="receipt-link"' in paid.content.decode()
    # Reloading the page finds the same receipt and writes nothing.
    assert acme_client.get(done).context["receipt"].pk == receipt.pk
    assert Receipt.objects.count() == 1
    pdf = acme_client.get(reverse("portal:receipt_pdf", args=["acme", receipt.public_id]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # The dashboard shows the new balance; the top-up list shows it paid.
    listed = acme_client.get(reverse("portal:topup", args=["acme"]))
    assert [row["topup"].state for row in listed.context["topups"]] == ["paid"]


def test_without_the_sellers_billing_profile_the_payment_books_and_the_page_writes_nothing(
    acme_client, world, stripe_mock
):
    """No billing profile yet: the receipt cannot be numbered. The payment still books (the
    receipt's savepoint rolls back), the result page says the receipt is on its way and
    issues none, and the scheduled run issues it once the profile exists."""
    from invoicing import services as invoicing_services

    acme_client.post(reverse("portal:topup_pay", args=["acme"]), {"amount": "20"})
    topup = TopUp.objects.get()
    booked = post_event(stripe_event("checkout.session.completed", checkout_session(topup)))
    assert booked.status_code == 200, booked.content
    assert TopUp.objects.get().state == TopUp.State.PAID
    done = reverse("portal:topup_done") + f"?session_id={topup.stripe_checkout_session_id}"
    for _ in range(2):
        paid = acme_client.get(done)
        assert paid.context["paid"] and paid.context["receipt"] is None
        assert "Your receipt will be on the invoices page shortly." in paid.content.decode()
    assert not Receipt.objects.exists()

    invoicing_services.billing_profile_set(
        book=world["distributor"],
        legal_name="TokenDistributor Ltd",
        currency=world["usd"],
        receipt_prefix="TD-R-",
        actor="test",
    )
    assert receipts_issue_pending(actor="test").done == 1
    receipt = acme_client.get(done).context["receipt"]
    assert receipt.topup_id == topup.pk and receipt.number_text == "TD-R-000001"


def test_another_customers_session_is_404_on_the_result_page(acme_client, world, stripe_mock):
    bob = Client()
    bob.force_login(member(world["initech"], "bob"))
    bob.post(reverse("portal:topup_pay", args=["initech"]), {"amount": "10"})
    theirs = TopUp.objects.get(customer=world["initech"])
    done = reverse("portal:topup_done") + f"?session_id={theirs.stripe_checkout_session_id}"
    assert acme_client.get(done).status_code == 404
    assert bob.get(done).status_code == 200
    assert acme_client.get(reverse("portal:topup_done") + "?session_id=").status_code == 404
    assert (
        acme_client.post(
            reverse("portal:topup_pay", args=["initech"]), {"amount": "10"}
        ).status_code
        == 404
    )
    assert TopUp.objects.count() == 1


def test_a_credit_customer_has_no_top_up(world, stripe_mock):
    client = Client()
    client.force_login(member(world["globex"], "carol"))
    page = client.get(reverse("portal:topup", args=["globex"]))
    assert page.status_code == 200 and not page.context["payable"]
    refused = client.post(reverse("portal:topup_pay", args=["globex"]), {"amount": "10"})
    assert refused.status_code == 400
    assert "billed on credit" in refused.content.decode()


def test_auto_top_up_needs_a_saved_card_which_stripe_checkout_saves(
    acme_client, world, stripe_mock
):
    url = reverse("portal:auto_topup", args=["acme"])
    settings_form = {"enabled": "on", "threshold": "10", "target": "50"}
    refused = acme_client.post(url, settings_form)
    assert refused.status_code == 400
    assert "Save a card first" in refused.content.decode()
    assert not AutoTopUpSettings.objects.exists()

    opened = acme_client.post(reverse("portal:card_setup", args=["acme"]))
    assert opened.status_code == 302 and opened["Location"].startswith(
        "https://checkout.stripe.com/"
    )
    setup = CardSetup.objects.get()
    saved_url = reverse("portal:card_saved") + f"?session_id={setup.stripe_checkout_session_id}"
    assert acme_client.get(saved_url).context["waiting"]
    event = stripe_event("checkout.session.completed", setup_session(setup))
    assert post_event(event).json()["outcome"] == "card_saved"
    assert acme_client.get(saved_url).context["completed"]

    page = acme_client.get(url)
    assert page.context["has_card"]
    assert acme_client.post(url, settings_form).status_code == 302
    config = AutoTopUpSettings.objects.get()
    assert (config.enabled, config.threshold_minor, config.target_minor) == (
        True,
        10 * NANOS,
        50 * NANOS,
    )
    assert config.updated_by == "user:alice"
    state = acme_client.get(url).content.decode().split('id="auto-topup-state">')[1]
    assert state.startswith("On: below") and "10.00 USD" in state and "50.00 USD" in state
    # The target must be above the threshold: refused with the sentence, nothing changed.
    bad = acme_client.post(url, {"enabled": "on", "threshold": "50", "target": "10"})
    assert bad.status_code == 400 and "target must be above" in bad.content.decode()
    assert AutoTopUpSettings.objects.get().target_minor == 50 * NANOS
