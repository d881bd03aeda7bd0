"""Statements and reconciliation over HTTP for finance: a file uploaded (and again), a
run, its differences as JSON and CSV, a difference accepted once; errors with stable
codes; a statement imported by a real Celery worker."""

import csv
import io
import time
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from config.celery import app as celery_app
from settlement.commitments.drawdown import commitments_draw_down_all
from settlement.statements.models import Statement
from settlement.tasks import import_statement
from tests.celery_worker import celery_worker_start, celery_worker_stop
from tests.settlement import statement_files as files
from tests.settlement.test_reconciliation import JUNE, UNTIL, book_month

pytestmark = pytest.mark.django_db


def upload(client, content: bytes, name="costs.json", **fields):
    body = {"file": SimpleUploadedFile(name, content), "provider": "openai", **fields}
    return client.post("/api/settlement/statements/", body, format="multipart")


@pytest.fixture
def month(openai_contract):
    book_month()
    commitments_draw_down_all()
    return openai_contract


def test_finance_imports_reconciles_and_accepts(month, finance_client):
    truth = files.metered("openai")
    fifth = JUNE + timedelta(days=4)
    costs = files.openai_costs(
        truth,
        JUNE,
        UNTIL,
        month.discount_bps,
        price=lambda day, model, usd: usd * 2 if day == fifth else usd,
    )
    first = upload(finance_client, costs)
    assert first.status_code == 201, first.content
    body = first.json()
    assert (body["format"], body["rows_imported"], body["rows_refused"]) == ("openai_costs", 10, 0)
    assert (body["period_start"], body["period_end"]) == ("2026-06-01", "2026-06-11")
    again = upload(finance_client, costs)
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    lines = finance_client.get(f"/api/settlement/statements/{body['id']}/lines/").json()
    assert lines["count"] == 10 and lines["results"][0]["cost"].count(".") == 1

    run = finance_client.post(
        "/api/settlement/reconciliations/",
        {"contract": month.pk, "since": "2026-06-01", "until": "2026-06-11"},
        format="json",
    )
    assert run.status_code == 201, run.content
    run = run.json()
    assert run["differences_by_kind"] == {"price": 1} and run["keys_matched"] == 9
    listed = finance_client.get(f"/api/settlement/reconciliations/{run['id']}/differences/").json()
    [difference] = listed["results"]
    assert difference["usage_day"] == fifth.isoformat() and not difference["accepted"]
    report = finance_client.get(f"/api/settlement/reconciliations/{run['id']}/differences.csv")
    assert report.status_code == 200 and report["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(report.streaming_content).decode())))
    assert [(r["kind"], r["delta_minor"]) for r in rows] == [
        ("price", str(difference["delta_minor"]))
    ]

    accept = f"/api/settlement/differences/{difference['id']}/accept/"
    booked = finance_client.post(accept, {"note": "new rate card"}, format="json")
    assert booked.status_code == 201, booked.content
    assert booked.json()["amount_minor"] == difference["delta_minor"]
    replay = finance_client.post(accept, {}, format="json")
    assert replay.status_code == 200
    assert replay.json()["ledger_sequence"] == booked.json()["ledger_sequence"]
    listed = finance_client.get(f"/api/settlement/reconciliations/{run['id']}/differences/").json()
    assert listed["results"][0]["accepted"] is True


def test_errors_have_stable_codes(month, finance_client):
    bad = upload(finance_client, b"{not json", name="x.json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "statement_malformed"
    assert not Statement.objects.exists()
    nobody = upload(finance_client, b"{}", provider="mistral")
    assert nobody.json()["error"]["code"] == "unknown_contract"
    period = finance_client.post(
        "/api/settlement/reconciliations/",
        {"contract": month.pk, "since": "2026-06-11", "until": "2026-06-01"},
        format="json",
    )
    assert period.status_code == 400
    assert period.json()["error"]["code"] == "invalid_reconciliation"
    missing = finance_client.post("/api/settlement/differences/999999/accept/", {}, format="json")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "difference_not_found"
    assert finance_client.get("/api/settlement/statements/999999/").status_code == 404


def test_only_finance_reads_and_writes(month):
    client = APIClient()
    client.force_authenticate(User.objects.create_user("dev", password="pw"))
    assert client.get("/api/settlement/statements/").status_code == 403
    assert upload(client, b"{}").status_code == 403
    assert client.get("/api/settlement/reconciliations/").status_code == 403


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_imports_a_statement_once(month, redis_url, tmp_path):
    truth = files.metered("openai")
    path = tmp_path / "usage.json"
    path.write_bytes(files.openai_usage(truth, JUNE, UNTIL))
    queue = f"settlement-{uuid.uuid4().hex[:8]}"
    worker = celery_worker_start(queue=queue, redis_url=redis_url)
    try:
        celery_app.conf.broker_url = redis_url
        # Delivered twice (a redelivery after a lost ack): imported once.
        for _ in range(2):
            import_statement.apply_async(args=["openai", str(path)], queue=queue)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and Statement.objects.count() == 0:
            time.sleep(0.3)
        time.sleep(2)  # the second delivery, a replay
    finally:
        output = celery_worker_stop(worker)
    [statement] = Statement.objects.all()
    assert (statement.rows_imported, statement.created_by) == (
        10,
        "task:settlement.import_statement",
    ), output


def test_the_admin_shows_statements_runs_and_true_ups_read_only(month, client):
    from settlement.reconciliation.models import Difference, ReconciliationRun
    from settlement.reconciliation.services import difference_accept, reconciliation_run
    from settlement.statements.services import statement_import

    truth = files.metered("openai")
    fifth = JUNE + timedelta(days=4)
    statement = statement_import(
        contract=month,
        content=files.openai_costs(
            truth,
            JUNE,
            UNTIL,
            month.discount_bps,
            price=lambda d, m, usd: usd * 2 if d == fifth else usd,
        ),
        actor="t",
    ).statement
    run = reconciliation_run(contract=month, since=JUNE, until=UNTIL, actor="t").run
    difference = Difference.objects.get(run=run)
    true_up = difference_accept(difference=difference, actor="t").true_up
    client.force_login(User.objects.create_superuser("root", password="pw"))
    pages = [
        "/admin/settlement/statement/",
        f"/admin/settlement/statement/{statement.pk}/change/",
        "/admin/settlement/statementline/",
        "/admin/settlement/dailyusagerollup/",
        "/admin/settlement/reconciliationrun/",
        f"/admin/settlement/reconciliationrun/{run.pk}/change/",
        "/admin/settlement/difference/",
        f"/admin/settlement/trueup/{true_up.pk}/change/",
    ]
    for page in pages:
        assert client.get(page).status_code == 200, page
    assert client.get("/admin/settlement/statement/add/").status_code == 403
    assert ReconciliationRun.objects.count() == 1
