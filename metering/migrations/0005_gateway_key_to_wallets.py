"""GatewayKey moved to wallets (wallets 0012 took it over on this table, which stays):
metering's state forgets it. Before wallets 0013 renames the table (run_before)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("metering", "0004_finance_views_usage"),
        ("wallets", "0012_gateway_key_from_metering"),
    ]
    run_before = [("wallets", "0013_gateway_key_table")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="GatewayKey")],
        ),
    ]
