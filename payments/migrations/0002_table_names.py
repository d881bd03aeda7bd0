"""Payments' tables take payments' names (wallets_topup -> payments_topup, ...): a rename
each, rows, indexes and constraints kept (their names are the ones wallets gave them).
No SQL of ours names these tables; the ORM and config.fast_insert follow the model."""

from django.db import migrations

MODELS = (
    "alertdelivery",
    "alertdeliveryattempt",
    "autotopupattempt",
    "autotopupsettings",
    "cardsetup",
    "lowbalancealert",
    "stripecustomer",
    "stripeevent",
    "topup",
)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0001_initial"),
    ]

    operations = [migrations.AlterModelTable(name=name, table=None) for name in MODELS]
