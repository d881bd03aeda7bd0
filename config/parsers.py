"""The API's JSON parser: DRF's, refusing text that is not valid Unicode and JSON nested
too deeply for Python's decoder (a RecursionError, which DRF's parser answers with a 500).

JSON may spell a lone UTF-16 surrogate ("\\ud800"); Python decodes it into a str that
cannot be encoded as UTF-8, so it would fail later, in the database driver, as a 500.
It is refused here as a parse error (400), like any other malformed body. The scan for
surrogate escapes is one regex over the body; the walk runs only when it finds one
(emoji spelled as surrogate pairs are valid and pass).
"""

import re

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DrfJSONParser
from rest_framework.utils import json

from config.text import is_valid_unicode

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _has_invalid_text(value) -> bool:
    if isinstance(value, str):
        return not is_valid_unicode(value)
    if isinstance(value, dict):
        return any(_has_invalid_text(k) or _has_invalid_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_invalid_text(item) for item in value)
    return False


class JSONParser(DrfJSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - the body is not {encoding} text") from exc
        try:
            data = json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        except RecursionError:  # DRF's parser lets this one through: a 500
            raise ParseError("JSON parse error - nested too deeply") from None
        if _SURROGATE_ESCAPE.search(text) and _has_invalid_text(data):
            raise ParseError("JSON parse error - text holds a lone surrogate (not valid Unicode)")
        return data
