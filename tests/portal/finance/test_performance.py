"""The finance dashboard answers within 300 ms with twelve months of the demo's usage:
`manage.py seed_demo` (the real catalogue, a dozen customers of the distributor and its
reseller, commitments, a paid top-up), then a year of the simulated gateway's traffic
booked through metering's real pipeline, drawn down by settlement's job."""

import io
import random
import statistics
import time
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from metering.management.commands.simulate_gateway import Command as SimulatedGateway
from metering.models import UsageRecord
from metering.pipeline import Pipeline
from portal.finance import selectors
from settlement.commitments.drawdown import commitments_draw_down_all
from tests.metering.conftest import raw
from tests.metering.test_demo import embedded  # noqa: F401  (fixture: DEBUG, no Kafka, caches)

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

DAYS = 365
REQUESTS_PER_DAY = 120  # ten per demo customer: 43,800 records in the year
BATCH_EVENTS = 2_000
PAGE_MS_MAX = 300
RUNS = 7


@pytest.fixture
def demo_year(embedded):  # noqa: F811  (the imported fixture)
    call_command("seed_demo", stdout=io.StringIO())
    rng = random.Random(14)
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    events = []
    for day in range(DAYS, 0, -1):
        start = today - timedelta(days=day)
        for n in range(REQUESTS_PER_DAY):
            # The simulated gateway's traffic (its model mix, customers, token counts),
            # spread over the day.
            event = SimulatedGateway._event(rng)
            event["event_id"] = f"year-{uuid.UUID(int=rng.getrandbits(128)).hex}"
            event["occurred_at"] = (start + timedelta(seconds=n * 719)).isoformat()
            events.append(event)
    pipeline = Pipeline()
    for start in range(0, len(events), BATCH_EVENTS):
        result = pipeline.process([raw(e) for e in events[start : start + BATCH_EVENTS]])
        assert result.rejected == 0, result
    commitments_draw_down_all()
    # What autovacuum does to a table a year of traffic filled: without statistics the
    # planner takes the year's rows for a few and sorts them on disk.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE metering_usagerecord")
    return len(events)


def _timed_ms(client: Client, url: str) -> list[float]:
    client.get(url)  # warm: templates compiled, account ids cached
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        answer = client.get(url)
        if hasattr(answer, "streaming_content"):
            b"".join(answer.streaming_content)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, url
    return times


def test_the_dashboard_answers_within_300_ms_with_a_year_of_demo_usage(demo_year, capsys):
    assert UsageRecord.objects.count() >= demo_year
    user = User.objects.create_user("fin-perf", password="pw")
    user.groups.add(Group.objects.get(name="finance"))
    client = Client()
    client.force_login(user)
    # The floor, in the same run: the portal's sign-in page, which reads nothing.
    floor = statistics.median(_timed_ms(Client(), "/portal/login/"))
    results = {}
    pages = [f"/portal/finance/?days={days}" for days in selectors.PERIOD_DAYS_CHOICES]
    # The year's CSV is a download, not a page: timed and printed, not held to 300 ms.
    export = "/portal/finance/margin.csv?days=365"
    for url in [*pages, export]:
        results[url] = _timed_ms(client, url)
    with capsys.disabled():
        print(f"\nfinance dashboard, {demo_year} usage records over {DAYS} days:")
        for url, times in results.items():
            print(
                f"  {url}: best {min(times):.0f} ms, median {statistics.median(times):.0f} ms,"
                f" max {max(times):.0f} ms"
                f" (floor, the sign-in page: {floor:.0f} ms)"
            )
    # The best of seven: the page's own cost, with the other processes of a shared
    # machine's load left out as far as one run can (the median is printed beside).
    for url in pages:
        assert min(results[url]) < PAGE_MS_MAX, (url, results[url])
    # The demo's own finance login (seed_demo's admin) opens it too.
    admin = Client()
    admin.force_login(User.objects.get(username="admin"))
    assert b"data-minor" in admin.get("/portal/finance/").content
