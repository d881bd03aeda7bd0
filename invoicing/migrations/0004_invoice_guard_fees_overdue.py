from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent / "sql"


class Migration(migrations.Migration):
    dependencies = [("invoicing", "0003_fees_overdue")]

    operations = [
        migrations.RunSQL(
            sql=(SQL_DIR / "0004_invoice_guard_fees_overdue.sql").read_text(),
            reverse_sql=(SQL_DIR / "0004_invoice_guard_fees_overdue_reverse.sql").read_text(),
        ),
    ]
