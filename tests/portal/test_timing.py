"""Every page answers 200 within 300 ms with twelve months of the demo's usage: the whole
demo seeded (the real catalogue, every app's demo data, the portal's year of acme's
history), then each page timed, signed in as the demo's acme login.

Each page is asked a few times and the best time kept, as a user's second visit is what
the budget is about (the first request of a process also compiles templates); the CPU
floor of the same run (a trivial request through the same middleware) is printed beside.
"""

import time

import pytest
from django.test import Client
from django.urls import reverse

from config.demo import demo_seed_all
from metering.models import UsageRecord
from portal.demo import HISTORY_DAYS, HISTORY_PER_DAY, HISTORY_SOURCE

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
BUDGET_S = 0.300
TRIES = 3


def _best(client, url, **params) -> tuple[float, int]:
    times, status = [], None
    for _ in range(TRIES):
        started = time.perf_counter()
        answer = client.get(url, params)
        if hasattr(answer, "streaming_content"):
            b"".join(answer.streaming_content)
        times.append(time.perf_counter() - started)
        status = answer.status_code
    return min(times), status


def test_every_page_answers_within_300_ms_with_a_year_of_demo_usage(settings):
    settings.DEBUG = False
    demo_seed_all()
    history = UsageRecord.objects.filter(customer="acme", source=HISTORY_SOURCE).count()
    assert history == HISTORY_DAYS * HISTORY_PER_DAY
    client = Client()
    assert client.login(username="acme", password="acme-portal")
    since = (UsageRecord.objects.filter(customer="acme").earliest("occurred_at").occurred_at).date()
    pages = [
        ("dashboard", reverse("portal:dashboard", args=["acme"]), {}),
        ("usage (30 days)", reverse("portal:usage", args=["acme"]), {}),
        ("usage (12 months)", reverse("portal:usage", args=["acme"]), {"since": since.isoformat()}),
        (
            "usage, one model",
            reverse("portal:usage", args=["acme"]),
            {"since": since.isoformat(), "model": "gpt-4o"},
        ),
        ("usage, last page", reverse("portal:usage", args=["acme"]), {"page": "last"}),
        ("top-up", reverse("portal:topup", args=["acme"]), {}),
        ("auto top-up", reverse("portal:auto_topup", args=["acme"]), {}),
        ("API keys", reverse("portal:keys", args=["acme"]), {}),
        ("invoices and receipts", reverse("portal:documents", args=["acme"]), {}),
    ]
    floor, _ = _best(client, "/portal/login/")
    slow = []
    for label, url, params in pages:
        best, status = _best(client, url, **params)
        print(f"portal timing: {label:<24} {best * 1000:6.1f} ms (floor {floor * 1000:.1f} ms)")
        assert status == 200, (label, status)
        if best > BUDGET_S:
            slow.append((label, round(best * 1000)))
    assert slow == [], f"pages over {BUDGET_S * 1000:.0f} ms: {slow}"
