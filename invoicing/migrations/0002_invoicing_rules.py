from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent / "sql"


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0001_initial"), ("ledger", "0002_ledger_rules")]

    operations = [
        migrations.RunSQL(
            sql=(SQL_DIR / "0002_invoicing_rules.sql").read_text(),
            reverse_sql=(SQL_DIR / "0002_invoicing_rules_reverse.sql").read_text(),
        ),
    ]
