"""The served OpenAPI schema documents the errors each operation can give, in the one
envelope, and is valid OpenAPI 3.0 (drf-spectacular's own validation, warnings fatal)."""

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

ENVELOPE = "#/components/schemas/Error"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def served_schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def _errors(operation) -> dict[str, str]:
    """{status: description} of the operation's 4xx and 5xx, each checked to be the envelope."""
    found = {}
    for code, response in operation["responses"].items():
        if code[0] in "45":
            (schema,) = [c["schema"] for c in response["content"].values()]
            assert schema == {"$ref": ENVELOPE}, (code, response)
            found[code] = response["description"]
    return found


def test_the_envelope_is_a_component(served_schema):
    components = served_schema["components"]["schemas"]
    assert components["Error"]["required"] == ["error"]
    body = components["ErrorBody"]
    assert set(body["properties"]) == {"code", "message", "details"}
    assert body["required"] == ["code", "message"]


def test_every_operation_documents_its_errors(served_schema):
    operations = list(_operations(served_schema))
    assert len(operations) > 30
    for method, path, operation in operations:
        errors = _errors(operation)
        where = (method, path, sorted(errors))
        assert "`database_unavailable`" in errors["503"], where
        if "requestBody" in operation or any(
            p["in"] == "query" for p in operation.get("parameters", ())
        ):
            assert "`invalid_input`" in errors["400"], where
        if "requestBody" in operation:
            assert "`parse_error`" in errors["400"] and "415" in errors, where
        if operation["security"] != [{}]:
            assert "`not_authenticated`" in errors["401"], where
        else:
            assert "401" not in errors, where
        if "{" in path:
            assert "`not_found`" in errors["404"], where
        if method != "GET" and {"cookieAuth": []} in operation["security"]:
            assert "`permission_denied`" in errors["403"], where  # CSRF, at least


def test_the_specific_errors_are_where_the_views_raise_them(served_schema):
    paths = served_schema["paths"]

    def errors(method, path):
        return _errors(paths[path][method])

    ledger_reader = errors("get", "/api/ledger/books/")
    assert "`permission_denied`" in ledger_reader["403"]
    assert "404" not in ledger_reader and "400" in ledger_reader  # limit, offset
    usage = errors("post", "/v1/usage")
    assert "`batch_too_large`" in usage["413"] and "`no_usage_events`" in usage["400"]
    assert "403" not in usage  # a gateway key with no further permission
    authorization = errors("post", "/v1/authorizations")
    assert "`model_not_priced`" in authorization["422"]
    assert "`idempotency_conflict`" in authorization["409"]
    assert "`authorizations_busy`" in authorization["503"]
    topup = errors("post", "/api/wallets/customers/{external_id}/topups/")
    assert "`stripe_unavailable`" in topup["502"] and "`customer_not_found`" in topup["404"]
    adjustment = errors("post", "/api/ledger/adjustments/")
    for code in ("idempotency_key_required", "unknown_book", "invalid_amount"):
        assert f"`{code}`" in adjustment["400"]
    webhook = errors("post", "/v1/stripe/webhook")
    assert "`invalid_signature`" in webhook["400"] and "401" not in webhook
    assert "`webhook_not_configured`" in webhook["503"]


def test_the_schema_is_valid_openapi_without_warnings(tmp_path):
    # A pydantic model's JSON Schema (2020-12: "type": "null", propertyNames) fails
    # OpenAPI 3.0's validation unless config.openapi's hook rewrites it.
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "type: 'null'" not in text and "propertyNames" not in text
    assert "nullable: true" in text
