"""Serializer fields shared by the apps' APIs.

`DecimalString`: money in, as an exact decimal string ("12.50"). A JSON number is refused:
a float is read as binary floating point before any code sees it (1e-7, 0.1 + 0.2), and
DRF's CharField would silently turn it into a string. The string itself is checked where
the asset is known (`ledger.amounts.to_minor_units`: digits, scale, range), with the same
error code, `invalid_amount`.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.errors import DomainError


class AmountNotAString(DomainError):
    code = "invalid_amount"  # the code of every other bad amount (ledger.amounts)


_JSON_KINDS = {bool: "boolean", int: "number", float: "number", dict: "object", list: "array"}


@extend_schema_field({"type": "string", "example": "12.50"})
class DecimalString(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            kind = _JSON_KINDS.get(type(data), "value")
            raise AmountNotAString(
                f'{self.field_name}: amounts are exact decimal strings such as "12.50", '
                f"not a JSON {kind}",
                details={"field": self.field_name},
            )
        return super().to_internal_value(data)
