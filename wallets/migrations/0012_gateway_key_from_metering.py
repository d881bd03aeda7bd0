"""GatewayKey moves to wallets, out of metering (issue 17: wallets authenticates
gateways, and metering uses wallets, not the other way round). Its rows stay: wallets
takes the model over in state only, on metering's table, and points
Authorization.gateway_key at it (the foreign key already references that table);
metering 0005 drops the model from its state, and 0013 renames the table. The content
type moves too, so granted permissions follow."""

import django.db.models.deletion
from django.db import migrations, models

from config.model_moves import content_type_move


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0011_credit_limits_moved_out"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="GatewayKey",
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
                        ("name", models.CharField(max_length=200)),
                        (
                            "source",
                            models.CharField(
                                help_text="the source id its events carry", max_length=64
                            ),
                        ),
                        ("prefix", models.CharField(max_length=16, unique=True)),
                        ("secret_hash", models.CharField(max_length=64)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("revoked_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={"db_table": "metering_gatewaykey"},
                ),
                migrations.AlterField(
                    model_name="authorization",
                    name="gateway_key",
                    field=models.ForeignKey(
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="wallets.gatewaykey",
                    ),
                ),
            ],
        ),
        content_type_move(model="gatewaykey", from_app="metering", to_app="wallets"),
    ]
