"""Credit limits move here from wallets (issue 17). CreditLimitChange keeps its table and
data: wallets 0011 drops it from wallets' state, this creates it in credit's state only,
on the old table (renamed in 0003). CreditLimit replaces Customer.credit_limit_minor
(copied by 0002, before wallets 0011 drops the column)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("wallets", "0009_topup_processing_fee"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="CreditLimitChange",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("previous_minor", models.BigIntegerField(blank=True, null=True)),
                        ("credit_limit_minor", models.BigIntegerField(blank=True, null=True)),
                        ("changed_at", models.DateTimeField()),
                        ("changed_by", models.CharField(max_length=200)),
                        (
                            "customer",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="credit_limit_changes",
                                to="wallets.customer",
                            ),
                        ),
                    ],
                    options={"db_table": "wallets_creditlimitchange"},
                ),
            ],
        ),
        migrations.CreateModel(
            name="CreditLimit",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("credit_limit_minor", models.BigIntegerField(blank=True, null=True)),
                (
                    "customer",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="credit_limit",
                        to="wallets.customer",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("credit_limit_minor__isnull", True),
                            ("credit_limit_minor__gte", 0),
                            _connector="OR",
                        ),
                        name="credit_limit_non_negative",
                    )
                ],
            },
        ),
    ]
