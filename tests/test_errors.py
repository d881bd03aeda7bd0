"""Every API error is JSON in one envelope, with the right status, whatever raised it.

{"error": {"code", "message", ("details")}} for the apps' own errors and DRF's (404,
405, 406, 415, 429, validation), authentication (401 with WWW-Authenticate) apart from
permission (403), an unknown URL, a bug (500) and a database that does not answer (503),
also with DEBUG on; the README's code table is the error classes'.
"""

import base64
import importlib
import logging
import pkgutil
import re
import socket
import uuid
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.db import connections
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from config import errors

README = Path(__file__).resolve().parent.parent / "README.md"


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    assert body["error"]["code"] == code, body
    return body["error"]


# --- DRF's and Django's errors, in the envelope ----------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_unknown_urls_and_objects_are_json_404s_also_with_debug(finance_client, settings, debug):
    settings.DEBUG = debug
    for path in ("/api/nowhere/", "/v1/nowhere", "/api/ledger/entries/987654/"):
        _error(finance_client.get(path), 404, "not_found")


@pytest.mark.django_db
def test_method_media_type_accept_and_validation_errors(finance_client):
    error = _error(finance_client.delete("/api/ledger/books/"), 405, "method_not_allowed")
    assert "DELETE" in error["message"]
    _error(
        finance_client.get("/api/ledger/books/", HTTP_ACCEPT="application/xml"),
        406,
        "not_acceptable",
    )
    adjustment = {"Idempotency-Key": "k1"}
    as_text = finance_client.post(
        "/api/ledger/adjustments/", "book=x", content_type="text/plain", headers=adjustment
    )
    _error(as_text, 415, "unsupported_media_type")
    invalid = finance_client.post(
        "/api/ledger/adjustments/", {"book": "dist"}, format="json", headers=adjustment
    )
    details = _error(invalid, 400, "invalid_input")["details"]
    assert set(details) == {"memo", "postings"}
    malformed = finance_client.post(
        "/api/ledger/adjustments/", "{", content_type="application/json", headers=adjustment
    )
    _error(malformed, 400, "parse_error")


@pytest.mark.urls("tests.error_urls")
def test_throttling_is_429_with_retry_after():
    response = APIClient().get("/v1/test-throttled/")
    error = _error(response, 429, "throttled")
    assert response["Retry-After"] == "7"
    assert error["details"] == {"retry_after_seconds": 7.0}


@pytest.mark.urls("tests.error_urls")
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", ["/api/test-bug/", "/api/test-plain-bug/"])
def test_a_bug_is_a_json_500_logged_with_its_traceback(settings, caplog, debug, path):
    settings.DEBUG = debug
    response = APIClient().get(path)
    error = _error(response, 500, "internal_error")
    assert "planted" not in response.content.decode()  # no trace of the bug leaves
    assert error["message"] == "Internal error; it has been logged."
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]  # logged once
    assert record.getMessage() == f"Internal Server Error: {path}"
    assert record.exc_info and "planted" in str(record.exc_info[1])


# --- 401 and 403 ------------------------------------------------------------------------


def _operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    ]


# Public on purpose: Stripe's webhook is authenticated by its signature, not a login.
PUBLIC = {"/v1/stripe/webhook"}


@pytest.mark.django_db
def test_every_operation_answers_401_not_authenticated_without_credentials():
    operations = _operations()
    assert len(operations) > 30
    wrong_password = "Basic " + base64.b64encode(b"nobody:wrong").decode()
    for method, path in operations:
        if path in PUBLIC:
            continue
        for authorization in (None, wrong_password, "Bearer gw_unknown_key"):
            client = APIClient()
            if authorization:
                client.credentials(HTTP_AUTHORIZATION=authorization)
            # (CSV exports answer errors in CSV unless JSON is asked for: tests/ledger)
            response = client.generic(method, path, HTTP_ACCEPT="application/json")
            _error(response, 401, "not_authenticated")
            assert response["WWW-Authenticate"], (method, path)


@pytest.mark.django_db
def test_the_scheme_offered_is_the_endpoints_own():
    assert APIClient().get("/api/ledger/books/")["WWW-Authenticate"] == 'Basic realm="api"'
    assert APIClient().post("/v1/usage", {}, format="json")["WWW-Authenticate"] == "Bearer"


@pytest.mark.django_db
def test_authenticated_but_not_allowed_is_403_permission_denied():
    user = User.objects.create_user("nobody", password="pw")
    by_session = APIClient()
    by_session.force_login(user)
    error = _error(by_session.get("/api/ledger/books/"), 403, "permission_denied")
    assert error["message"] == "Reading the ledger needs the finance role."
    by_password = APIClient()
    by_password.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"nobody:pw").decode())
    response = by_password.post("/api/ledger/adjustments/", {}, format="json")
    _error(response, 403, "permission_denied")
    assert "WWW-Authenticate" not in response


# --- the admin's 403 ------------------------------------------------------------------


@pytest.mark.django_db
def test_an_admin_403_logs_one_line_without_traceback(admin_client, caplog):
    caplog.set_level(logging.WARNING, logger="django.request")
    assert admin_client.get("/admin/pricing/upstreamprice/add/").status_code == 403
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Forbidden (Permission denied): /admin/pricing/upstreamprice/add/"
    assert record.exc_info is None
    assert "\n" not in logging.Formatter().format(record)


# --- the database down ----------------------------------------------------------------


@pytest.fixture
def database_down(django_db_blocker, settings):
    """The default connection pointed at a port that refuses connections (bound, never
    listening), for this test only; the shared PostgreSQL is not touched."""
    settings.KAFKA_BOOTSTRAP_SERVERS = ""  # usage is booked in the request: the database
    connection = connections["default"]
    saved = {name: connection.settings_dict[name] for name in ("HOST", "PORT")}
    with socket.socket() as placeholder, django_db_blocker.unblock():
        placeholder.bind(("127.0.0.1", 0))
        connection.close()
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(placeholder.getsockname()[1]))
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict.update(saved)


@pytest.mark.parametrize("debug", [False, True])
def test_with_the_database_down_the_api_answers_a_json_503(database_down, settings, caplog, debug):
    from wallets.gateways.keys import hash_secret, verified_keys
    from wallets.models import GatewayKey

    settings.DEBUG = debug
    gateway = APIClient()
    gateway.credentials(HTTP_AUTHORIZATION=f"Bearer gw_{uuid.uuid4().hex[:8]}_secret")
    event = {"event_id": "e1", "customer": "acme", "model": "gpt-4o", "tokens": {"input": 1}}
    # An unknown key: the key's lookup finds no database.
    _error(gateway.post("/v1/usage", event, format="json"), 503, "database_unavailable")
    # A key verified before (in the process's cache): booking the usage finds none.
    prefix = uuid.uuid4().hex[:8]
    verified_keys.put(prefix, GatewayKey(prefix=prefix, secret_hash=hash_secret("s"), source="gw"))
    known = APIClient()
    known.credentials(HTTP_AUTHORIZATION=f"Bearer gw_{prefix}_s")
    try:
        _error(known.post("/v1/usage", event, format="json"), 503, "database_unavailable")
    finally:
        verified_keys.clear()
    login = APIClient()
    login.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"fin:pw").decode())
    error = _error(login.get("/api/ledger/books/"), 503, "database_unavailable")
    assert "Retry" in error["message"]
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 3 and all(r.exc_info is None for r in logged)  # a line each
    assert logged[0].getMessage().startswith("Database unavailable: /v1/usage (")


# --- the README's table ---------------------------------------------------------------


def _every_error_class_imported() -> None:
    """Every module of the project's apps (config's errors are all in config.errors)."""
    for app in apps.get_app_configs():
        if Path(app.path).parent != README.parent:
            continue
        for module in pkgutil.walk_packages([app.path], f"{app.name}."):
            if ".migrations" not in module.name:
                importlib.import_module(module.name)


def documented_table() -> str:
    """What the README's "Errors" table must say (print it to update the README)."""
    from metering.schema import ERROR_CODES  # one class, InvalidUsageEvent, names them

    _every_error_class_imported()
    return errors.error_code_table(extra={code: 400 for code in ERROR_CODES})


def test_the_readme_lists_every_error_code_with_its_status():
    text = README.read_text()
    start, end = "<!-- error-codes:start -->\n", "\n<!-- error-codes:end -->"
    assert start in text and end in text
    in_readme = text[text.index(start) + len(start) : text.index(end)]
    expected = documented_table()
    assert in_readme == expected, f"the README's table should be:\n{expected}"
    for code in ("not_authenticated", "permission_denied", "database_unavailable"):
        assert f"`{code}`" in expected


def test_no_error_goes_out_with_the_generic_code():
    """DomainError's own code, "error", says nothing: every raise names a subclass."""
    _every_error_class_imported()
    assert "error" not in dict(errors.error_code_rows())
    sources = [
        path
        for path in README.parent.glob("*/**/*.py")
        if not path.relative_to(README.parent).parts[0].startswith((".", "tests", "var"))
    ]
    assert len(sources) > 50
    raising_the_base = [str(p) for p in sources if "raise DomainError(" in p.read_text()]
    assert raising_the_base == []
