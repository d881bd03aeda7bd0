from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent / "sql"


class Migration(migrations.Migration):
    dependencies = [("ledger", "0006_hot_path_indexes")]

    operations = [
        migrations.RunSQL(
            sql=(SQL_DIR / "0007_append_one.sql").read_text(),
            reverse_sql="DROP FUNCTION ledger_append_one",
        ),
    ]
