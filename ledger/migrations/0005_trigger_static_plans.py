import re
from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent / "sql"
REPLACED = ("ledger_posting_after_insert", "ledger_entry_after_insert")


def _functions_of_0002() -> str:
    """Going back restores 0002's definitions of the two functions, read from its file
    rather than copied here."""
    text = (SQL_DIR / "0002_ledger_rules.sql").read_text()
    bodies = []
    for name in REPLACED:
        found = re.search(rf"CREATE FUNCTION {name}\(\).*?\n\$\$;\n", text, re.S)
        assert found, f"{name} not found in 0002_ledger_rules.sql"
        bodies.append(found.group(0).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    # The SET clauses of 0005 do not go away with CREATE OR REPLACE: reset them.
    resets = [f"ALTER FUNCTION {name}() RESET ALL;" for name in REPLACED]
    return "\n".join(bodies + resets)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_book_wholesale_from")]

    operations = [
        migrations.RunSQL(
            sql=(SQL_DIR / "0005_trigger_static_plans.sql").read_text(),
            reverse_sql=_functions_of_0002(),
        ),
    ]
