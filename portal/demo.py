"""Demo data for the customer portal (`make run`): logins for two customers, their
sellers' billing profiles, and twelve months of usage history for acme, so every page has
something to show.

- `acme` / `acme-portal`: a member of acme (prepaid, the distributor's customer);
- `soylent` / `soylent-portal`: a member of soylent, a customer of the reseller Apex, who
  sees Apex's name only.

The history is booked through metering's pipeline, as a gateway's usage is (real rating
on the real catalogue), one UTC day at a time with fixed event ids: a second run books
only the days since the last, and nothing twice. `usage_history_seed` is also what the
portal's timing test seeds. Registered with config.demo, after metering's and payments'
demos and before settlement's.
"""

import json
import random
from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from config.demo import demo_seeder
from invoicing.models import BillingProfile
from invoicing.services import billing_profile_set
from ledger.models import Book
from metering.pipeline import BATCH_MESSAGES_MAX, Pipeline, RawMessage
from wallets import services as wallets_services
from wallets.models import Customer

DEMO_ACTOR = "system:demo"
DEMO_LOGINS = {"acme": "acme-portal", "soylent": "soylent-portal"}  # username = customer
HISTORY_SOURCE = "portal-demo-history"
HISTORY_DAYS = 365
HISTORY_PER_DAY = 40
HISTORY_API_KEYS = ("key_acme_prod", "key_acme_staging")
# (provider, model, share, reasoning): real catalogue models, cheap ones carry most traffic.
HISTORY_MODELS = (
    ("deepseek", "deepseek-chat", 30, False),
    ("openai", "gpt-4o-mini", 30, False),
    ("gemini", "gemini-2.5-flash", 15, True),
    ("openai", "o4-mini", 10, True),
    ("openai", "gpt-4o", 8, False),
    ("anthropic", "claude-sonnet-4-5", 7, False),
)
PROFILES = {  # book code -> (legal name, receipt prefix, language)
    "distributor": ("Demo Distributor Ltd", "DD-R-", "en"),
    "reseller-apex": ("Apex AI Reseller GmbH", "APX-R-", "zh-hans"),
}


def _event(rng: random.Random, customer: str, day: datetime, index: int) -> dict:
    provider, model, _share, reasoning = rng.choices(
        HISTORY_MODELS, [m[2] for m in HISTORY_MODELS]
    )[0]
    anthropic = provider == "anthropic"
    return {
        "event_id": f"{customer}-{day:%Y-%m-%d}-{index:04d}",
        "source": HISTORY_SOURCE,
        "occurred_at": (day + timedelta(seconds=rng.randrange(86_400))).isoformat(),
        "customer": customer,
        "api_key": HISTORY_API_KEYS[0] if rng.random() < 0.8 else HISTORY_API_KEYS[1],
        "provider": provider,
        "model": model,
        "tokens": {
            "input": rng.randint(100, 6_000),
            "output": rng.randint(20, 1_200),
            "cache_read": rng.choice((0, 0, 0, 512, 2048)),
            "cache_write": rng.choice((0, 0, 1024)) if anthropic else 0,
            "reasoning": rng.randint(50, 1_500) if reasoning else 0,
        },
    }


def usage_history_seed(
    *, customer: str, days: int = HISTORY_DAYS, per_day: int = HISTORY_PER_DAY, now=None
) -> int:
    """Book `per_day` usage events a day for the `days` UTC days before today; returns
    how many were new. Deterministic per day (a seeded generator), so a rerun skips them."""
    today = (
        (now or timezone.now()).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    )
    pipeline, booked, batch = Pipeline(actor=DEMO_ACTOR), 0, []
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        rng = random.Random(f"{customer}:{day.date().isoformat()}")
        for index in range(per_day):
            body = json.dumps(_event(rng, customer, day, index)).encode()
            batch.append(RawMessage("portal.demo", None, None, customer.encode(), body))
        if len(batch) >= min(BATCH_MESSAGES_MAX, 5_000):
            booked += pipeline.process(batch).processed
            batch = []
    if batch:
        booked += pipeline.process(batch).processed
    return booked


def _login(username: str, password: str, customer: Customer) -> bool:
    user, created = User.objects.get_or_create(username=username)
    if created:
        user.email = f"{username}@example.com"
        user.set_password(password)
        user.save()
    wallets_services.customer_member_add(customer=customer, user=user, actor=DEMO_ACTOR)
    return created


# Before settlement (40): its draw-down of commitments covers the history this books.
@demo_seeder(35)
def seed_demo_portal() -> list[str]:
    customers = {c.external_id: c for c in Customer.objects.filter(external_id__in=DEMO_LOGINS)}
    if set(customers) != set(DEMO_LOGINS):
        return []
    for code, (legal_name, receipt_prefix, language) in PROFILES.items():
        book = Book.objects.filter(code=code).first()
        if book is not None and not BillingProfile.objects.filter(book=book).exists():
            billing_profile_set(
                book=book,
                legal_name=legal_name,
                currency=customers["acme"].currency,
                receipt_prefix=receipt_prefix,
                language=language,
                actor=DEMO_ACTOR,
            )
    for username, password in DEMO_LOGINS.items():
        _login(username, password, customers[username])
    booked = usage_history_seed(customer="acme")
    logins = ", ".join(f"{user} / {password}" for user, password in DEMO_LOGINS.items())
    return [
        f"portal: {booked} usage events of history booked for acme "
        f"({HISTORY_DAYS} days, {HISTORY_PER_DAY} a day)",
        f"customer portal: http://127.0.0.1:8000/portal/  (logins {logins})",
    ]
