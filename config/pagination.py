"""The API's one pagination: DRF's limit/offset, bounded so that no query string can ask
PostgreSQL for a LIMIT or OFFSET beyond bigint (a 500 and an aborted transaction)."""

from rest_framework.pagination import LimitOffsetPagination

LIMIT_MAX = 1_000
OFFSET_MAX = 10**12  # far past any table here; an offset past the end is an empty page


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = LIMIT_MAX  # a larger limit is cut to this (DRF's own rule)

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), OFFSET_MAX)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: (1, LIMIT_MAX), self.offset_query_param: (0, None)}
        for parameter in parameters:
            low, high = bounds.get(parameter["name"], (None, None))
            if low is not None:
                parameter["schema"]["minimum"] = low
            if high is not None:
                parameter["description"] += f" At most {high}; a larger limit is cut to it."
        return parameters
