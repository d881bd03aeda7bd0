"""The OpenAPI schema's error responses: every operation documents the errors it can give.

One mechanism for the whole API, `ErrorsAutoSchema` (DRF's DEFAULT_SCHEMA_CLASS): each
operation gets, beside its own responses, the error envelope of `config.errors`
(`{"error": {"code", "message", "details"?}}`, the `Error` component) for

- 400 when it takes a body or query parameters (`invalid_input`, `parse_error` ...),
- 401 `not_authenticated` when it needs credentials,
- 403 `permission_denied` where a permission class applies (or, for a login's session,
  the CSRF check of an unsafe method),
- 404 when its path names an object or it takes `?format=` (an unknown format),
- 415 when it takes a body, 429 when it is throttled,
- 503 `database_unavailable` always,

plus the view's own errors: a view names the DomainError classes it can raise beyond
those in `api_errors`, a tuple (every method) or a dict by method. Each status lists its
possible codes in its description.

`nullable_instead_of_null_type` (a postprocessing hook) turns what pydantic's JSON Schema
(2020-12) writes into OpenAPI 3.0: a `{"type": "null"}` branch into `nullable`, `const`
into a one-value `enum`, numeric exclusive bounds into 3.0's boolean ones; it drops
`propertyNames`, which 3.0 cannot say.
"""

from collections import defaultdict
from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated

from config import errors

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

_TITLES = {
    400: "The request is not valid",
    401: "No credentials, or wrong ones",
    403: "Authenticated, but not allowed",
    404: "Not found (or not visible to this login or key)",
    409: "Conflicts with the current state",
    413: "Too large",
    415: "The body is not JSON",
    422: "Understood but cannot be processed",
    429: "Too many requests",
    502: "An upstream service failed",
    503: "Unavailable; nothing was written, retry",
}


class ErrorBody(serializers.Serializer):
    code = serializers.CharField(help_text="stable; the README's Errors table lists them all")
    message = serializers.CharField(help_text="for people; do not parse it")
    details = serializers.JSONField(
        required=False, help_text="more to say, e.g. invalid_input names each bad field"
    )


class Error(serializers.Serializer):
    """The one error envelope of the API (config/errors.py)."""

    error = ErrorBody()


def _view_errors(view, method: str) -> tuple[type[errors.DomainError], ...]:
    declared = getattr(view, "api_errors", ())
    if isinstance(declared, dict):
        return tuple(declared.get(method, ()))
    return tuple(declared)


class ErrorsAutoSchema(AutoSchema):
    def _error_codes(self, operation: dict[str, Any]) -> dict[int, list[str]]:
        codes: dict[int, list[str]] = defaultdict(list)
        has_body = "requestBody" in operation
        query_names = {p["name"] for p in operation.get("parameters", ()) if p.get("in") == "query"}
        has_query = bool(query_names)
        if has_body or has_query:
            codes[400].append(errors.InvalidInput.code)
        if has_body:
            codes[400].append(errors.MalformedRequest.code)
            codes[415].append(errors.UnsupportedMediaType.code)
        permissions = self.view.get_permissions()
        public = all(isinstance(p, AllowAny) for p in permissions)
        if not public:
            codes[401].append(errors.NotAuthenticated.code)
            session = any(
                isinstance(a, SessionAuthentication) for a in self.view.get_authenticators()
            )
            guarded = any(not isinstance(p, (AllowAny, IsAuthenticated)) for p in permissions)
            if guarded or (session and self.method in UNSAFE_METHODS):
                codes[403].append(errors.PermissionDenied.code)
        if "{" in self.path or "format" in query_names:  # an unknown ?format= is a 404
            codes[404].append(errors.NotFound.code)
        if self.view.get_throttles():
            codes[429].append(errors.Throttled.code)
        codes[503].append(errors.DatabaseUnavailable.code)
        for error in _view_errors(self.view, self.method):
            if error.code not in codes[error.http_status]:
                codes[error.http_status].append(error.code)
        return codes

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        envelope = self.resolve_serializer(Error, "response").ref
        responses = operation.setdefault("responses", {})
        for http_status, codes in sorted(self._error_codes(operation).items()):
            listed = ", ".join(f"`{code}`" for code in codes)
            responses.setdefault(
                str(http_status),
                {
                    "description": f"{_TITLES.get(http_status, 'Error')}: code {listed}",
                    "content": {"application/json": {"schema": envelope}},
                },
            )
        return operation


def _nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable(value) for key, value in node.items()}
    node.pop("propertyNames", None)  # JSON Schema 2020-12's; OpenAPI 3.0 has none
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if not isinstance(node.get(bound), bool) and bound in node:
            node[plain] = node.pop(bound)
            node[bound] = True
    for combinator in ("anyOf", "oneOf"):
        branches = node.get(combinator)
        if not isinstance(branches, list) or {"type": "null"} not in branches:
            continue
        rest = [b for b in branches if b != {"type": "null"}]
        node.pop(combinator)
        if len(rest) == 1 and "$ref" in rest[0]:
            node["allOf"] = rest  # a $ref takes no siblings in OpenAPI 3.0
        elif len(rest) == 1:
            node = {**rest[0], **node}
        else:
            node[combinator] = rest
        node["nullable"] = True
    return node


def nullable_instead_of_null_type(result, generator, request, public):
    """SPECTACULAR_SETTINGS' postprocessing hook: OpenAPI 3.0 has no "null" type."""
    return _nullable(result)
