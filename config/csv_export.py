"""CSV downloads for finance: streamed, exact, and safe to open in a spreadsheet.

Amounts are written as the API writes them (decimal strings in the asset's unit, and the
integer in its smallest unit), never as floats. Text that a spreadsheet would run as a
formula (a cell starting with = + - @, tab or carriage return: "CSV injection") gets a
leading apostrophe; numbers and amounts are left alone. Rows are produced lazily, so an
export of millions of lines holds one chunk in memory, not the file.
"""

import csv
import io
from collections.abc import Iterable, Sequence

from django.http import StreamingHttpResponse
from rest_framework.renderers import BaseRenderer, JSONRenderer

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """A free-text cell (memo, code, name) that no spreadsheet will evaluate."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


class _Echo:
    """csv.writer wants a file; this one hands each written line back."""

    def write(self, line: str) -> str:
        return line


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence]
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo(), lineterminator="\r\n")  # RFC 4180 line ends

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class CsvRenderer(BaseRenderer):
    """Lets a client ask for `Accept: text/csv`. The export views answer with
    csv_response themselves; this renders only what DRF renders for them, i.e. errors
    (`{"error": {"code": …, "message": …}}`) as a two-line CSV."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        error = data.get("error", {}) if isinstance(data, dict) else {}
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["error", "message"])
        writer.writerow([error.get("code", ""), text_cell(str(error.get("message", data)))])
        return out.getvalue().encode()


# Export views list CSV first, so `Accept: */*` (a browser, curl) gets the CSV answer's
# errors as CSV too; a client asking for JSON gets JSON errors.
EXPORT_RENDERERS = [CsvRenderer, JSONRenderer]
