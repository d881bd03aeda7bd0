"""GatewayKey's table takes wallets' name (its rows, and the foreign key of
wallets_authorization to it, stay); after metering 0005 (its run_before)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0012_gateway_key_from_metering"),
    ]

    operations = [
        migrations.AlterModelTable(name="gatewaykey", table=None),
    ]
