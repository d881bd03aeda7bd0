"""Payments (Stripe top-ups, auto top-up, low-balance alerts) left wallets for their own
app: wallets forgets their models here, state only. The tables and their rows stay;
payments 0001 takes them over and 0002 renames them."""

from django.db import migrations

STATE_OPERATIONS = [
    migrations.RemoveField(
        model_name="alertdeliveryattempt",
        name="delivery",
    ),
    migrations.RemoveField(
        model_name="autotopupattempt",
        name="customer",
    ),
    migrations.RemoveField(
        model_name="autotopupattempt",
        name="topup",
    ),
    migrations.RemoveField(
        model_name="autotopupsettings",
        name="customer",
    ),
    migrations.RemoveField(
        model_name="cardsetup",
        name="customer",
    ),
    migrations.RemoveField(
        model_name="lowbalancealert",
        name="customer",
    ),
    migrations.RemoveField(
        model_name="stripecustomer",
        name="customer",
    ),
    migrations.RemoveField(
        model_name="stripeevent",
        name="topup",
    ),
    migrations.RemoveField(
        model_name="topup",
        name="currency",
    ),
    migrations.RemoveField(
        model_name="topup",
        name="customer",
    ),
    migrations.DeleteModel(
        name="AlertDelivery",
    ),
    migrations.DeleteModel(
        name="AlertDeliveryAttempt",
    ),
    migrations.DeleteModel(
        name="AutoTopUpAttempt",
    ),
    migrations.DeleteModel(
        name="AutoTopUpSettings",
    ),
    migrations.DeleteModel(
        name="CardSetup",
    ),
    migrations.DeleteModel(
        name="LowBalanceAlert",
    ),
    migrations.DeleteModel(
        name="StripeCustomer",
    ),
    migrations.DeleteModel(
        name="StripeEvent",
    ),
    migrations.DeleteModel(
        name="TopUp",
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0009_topup_processing_fee"),
    ]

    operations = [migrations.SeparateDatabaseAndState(state_operations=STATE_OPERATIONS)]
