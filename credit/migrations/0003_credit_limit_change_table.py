"""CreditLimitChange's table takes credit's name (its data stays)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("credit", "0002_credit_limits_copied"),
        ("wallets", "0011_credit_limits_moved_out"),
    ]

    operations = [
        migrations.AlterModelTable(name="creditlimitchange", table=None),
    ]
