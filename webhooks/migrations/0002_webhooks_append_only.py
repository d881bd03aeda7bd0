from pathlib import Path

from django.db import migrations

SQL_DIR = Path(__file__).resolve().parent / "sql"


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql=(SQL_DIR / "0002_webhooks_append_only.sql").read_text(),
            reverse_sql=(SQL_DIR / "0002_webhooks_append_only_reverse.sql").read_text(),
        ),
    ]
