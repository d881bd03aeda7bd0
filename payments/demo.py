"""Demo data for payments: a paid top-up for the demo customer, booked by the real
booking path (`topup_book`: the ledger event, the paid lot, the row marked paid) as if
Stripe's webhook had reported the payment. No call goes to Stripe: the Checkout session
id is a made-up `cs_demo_…` and there is no payment intent, so no fee is fetched.

Idempotent (the session id finds the top-up again; `topup_book` books a payment once).
Registered with config.demo; runs after metering's demo has made the customers.
"""

from django.db import transaction

from config.demo import demo_seeder
from payments.models import TopUp
from payments.topups import services as topups
from wallets.models import Customer

DEMO_ACTOR = "system:demo"
DEMO_CUSTOMER = "acme"
DEMO_SESSION_ID = "cs_demo_acme_welcome"
DEMO_TOPUP_STRIPE = 20_00  # 20.00 USD in Stripe's minor units (cents)


@demo_seeder(30)
def seed_demo_payments() -> list[str]:
    customer = Customer.objects.filter(external_id=DEMO_CUSTOMER).first()
    if customer is None:
        return []
    topup = TopUp.objects.filter(stripe_checkout_session_id=DEMO_SESSION_ID).first()
    if topup is None:
        with transaction.atomic():
            topup = topups.topup_new(
                customer=customer,
                amount_stripe=DEMO_TOPUP_STRIPE,
                source=TopUp.Source.CHECKOUT,
                actor=DEMO_ACTOR,
            )
            topup.stripe_checkout_session_id = DEMO_SESSION_ID
            topup.state = TopUp.State.OPEN
            topup.save(update_fields=["stripe_checkout_session_id", "state"])
    booked = topups.topup_book(topup_id=topup.pk, actor=DEMO_ACTOR)
    return [
        f"payments: paid top-up {booked.topup.public_id} of {DEMO_TOPUP_STRIPE / 100:.2f} "
        f"{booked.topup.currency.code} for {DEMO_CUSTOMER} (booked as Stripe's webhook would)"
    ]
