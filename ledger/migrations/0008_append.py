import re
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent / "sql"


def _append_one_of_0007() -> str:
    """Going back restores 0007's one-event function, read from its file."""
    text = (SQL_DIR / "0007_append_one.sql").read_text()
    found = re.search(r"CREATE FUNCTION ledger_append_one\(.*?\n\$\$;\n", text, re.S)
    assert found, "ledger_append_one not found in 0007_append_one.sql"
    return found.group(0)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0007_append_one")]

    operations = [
        migrations.RunSQL(
            sql=(SQL_DIR / "0008_append.sql").read_text(),
            reverse_sql=_append_one_of_0007()
            + "DROP FUNCTION ledger_append; DROP FUNCTION ledger_event_hash;",
        ),
    ]
