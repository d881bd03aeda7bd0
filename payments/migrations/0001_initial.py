"""Payments' tables, moved from wallets: state only, on the tables wallets made.

The tables and their rows stay where they are (wallets 0004..0009 made them; wallets
0010 forgets the models without touching the database); here payments takes them over
under their old names, and 0002 renames them. The content types move too, so the
permissions on these models, and whoever was granted them, keep working under their
new app label (payments.view_topup, ...): the codenames do not change.
"""

import uuid

import django.db.models.deletion
from django.db import migrations, models

MOVED_MODELS = (
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


def _content_types_move(apps, source: str, target: str) -> None:
    """Relabel the models' content types; their permissions (and the groups and users
    holding them) and admin log entries point at the content type and follow it. A fresh
    database has none yet (they are made after migrating). Where the target exists
    already, the source is left as it is (a stale type `remove_stale_contenttypes`
    lists)."""
    content_types = apps.get_model("contenttypes", "ContentType").objects
    taken = content_types.filter(app_label=target, model__in=MOVED_MODELS).values_list(
        "model", flat=True
    )
    content_types.filter(app_label=source, model__in=MOVED_MODELS).exclude(
        model__in=list(taken)
    ).update(app_label=target)
    content_types.clear_cache()


def content_types_to_payments(apps, schema_editor):
    _content_types_move(apps, "wallets", "payments")


def content_types_to_wallets(apps, schema_editor):
    _content_types_move(apps, "payments", "wallets")


# The models as wallets left them (wallets 0009), on wallets' tables.
STATE_OPERATIONS = [
    migrations.CreateModel(
        name="AlertDelivery",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
            ("kind", models.CharField(max_length=64)),
            ("url", models.URLField(max_length=2000)),
            ("payload", models.JSONField()),
            (
                "state",
                models.CharField(
                    choices=[
                        ("pending", "Pending"),
                        ("delivered", "Delivered"),
                        ("failed", "Failed"),
                    ],
                    default="pending",
                    max_length=16,
                ),
            ),
            ("attempts", models.IntegerField(default=0)),
            ("created_at", models.DateTimeField()),
            ("resolved_at", models.DateTimeField(blank=True, null=True)),
            (
                "customer",
                models.ForeignKey(
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="alert_deliveries",
                    to="wallets.customer",
                ),
            ),
        ],
        options={
            "verbose_name_plural": "alert deliveries",
            "db_table": "wallets_alertdelivery",
        },
    ),
    migrations.CreateModel(
        name="AlertDeliveryAttempt",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            ("number", models.IntegerField()),
            ("attempted_at", models.DateTimeField()),
            ("status_code", models.IntegerField(blank=True, null=True)),
            ("error", models.CharField(blank=True, max_length=500)),
            ("duration_ms", models.IntegerField()),
            (
                "delivery",
                models.ForeignKey(
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="attempt_log",
                    to="payments.alertdelivery",
                ),
            ),
        ],
        options={
            "db_table": "wallets_alertdeliveryattempt",
        },
    ),
    migrations.CreateModel(
        name="AutoTopUpSettings",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            ("enabled", models.BooleanField(default=False)),
            ("threshold_minor", models.BigIntegerField()),
            ("target_minor", models.BigIntegerField()),
            ("stripe_customer_id", models.CharField(max_length=255)),
            ("stripe_payment_method_id", models.CharField(max_length=255)),
            (
                "payment_method_source",
                models.CharField(
                    choices=[
                        ("manual", "Manual"),
                        ("card_setup", "Card Setup"),
                        ("topup", "Topup"),
                    ],
                    default="manual",
                    max_length=16,
                ),
            ),
            ("payment_method_reference", models.CharField(blank=True, max_length=64)),
            ("payment_method_saved_at", models.DateTimeField(blank=True, null=True)),
            ("card_brand", models.CharField(blank=True, max_length=32)),
            ("card_last4", models.CharField(blank=True, max_length=4)),
            ("armed", models.BooleanField(default=True)),
            ("updated_at", models.DateTimeField(auto_now=True)),
            ("updated_by", models.CharField(max_length=200)),
            (
                "customer",
                models.OneToOneField(
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="auto_topup",
                    to="wallets.customer",
                ),
            ),
        ],
        options={
            "verbose_name": "auto top-up settings",
            "verbose_name_plural": "auto top-up settings",
            "db_table": "wallets_autotopupsettings",
        },
    ),
    migrations.CreateModel(
        name="CardSetup",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
            (
                "state",
                models.CharField(
                    choices=[
                        ("creating", "Creating"),
                        ("open", "Open"),
                        ("completed", "Completed"),
                        ("failed", "Failed"),
                    ],
                    default="creating",
                    max_length=16,
                ),
            ),
            ("stripe_customer_id", models.CharField(blank=True, max_length=255)),
            ("stripe_checkout_session_id", models.CharField(blank=True, max_length=255)),
            ("checkout_url", models.TextField(blank=True)),
            ("stripe_setup_intent_id", models.CharField(blank=True, max_length=255)),
            ("stripe_payment_method_id", models.CharField(blank=True, max_length=255)),
            ("error", models.CharField(blank=True, max_length=500)),
            ("created_at", models.DateTimeField(auto_now_add=True)),
            ("created_by", models.CharField(max_length=200)),
            ("completed_at", models.DateTimeField(blank=True, null=True)),
            (
                "customer",
                models.ForeignKey(
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="card_setups",
                    to="wallets.customer",
                ),
            ),
        ],
        options={
            "db_table": "wallets_cardsetup",
        },
    ),
    migrations.CreateModel(
        name="LowBalanceAlert",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            ("enabled", models.BooleanField(default=True)),
            ("url", models.URLField(max_length=2000)),
            ("threshold_minor", models.BigIntegerField()),
            ("signing_secret", models.CharField(max_length=100)),
            ("armed", models.BooleanField(default=True)),
            ("updated_at", models.DateTimeField(auto_now=True)),
            ("updated_by", models.CharField(max_length=200)),
            (
                "customer",
                models.OneToOneField(
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="low_balance_alert",
                    to="wallets.customer",
                ),
            ),
        ],
        options={
            "verbose_name": "low-balance alert",
            "db_table": "wallets_lowbalancealert",
        },
    ),
    migrations.CreateModel(
        name="StripeCustomer",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            ("stripe_customer_id", models.CharField(max_length=255, unique=True)),
            ("created_at", models.DateTimeField(auto_now_add=True)),
            ("created_by", models.CharField(max_length=200)),
            (
                "customer",
                models.OneToOneField(
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="stripe_customer",
                    to="wallets.customer",
                ),
            ),
        ],
        options={
            "db_table": "wallets_stripecustomer",
        },
    ),
    migrations.CreateModel(
        name="TopUp",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
            (
                "source",
                models.CharField(
                    choices=[("checkout", "Checkout"), ("auto", "Auto")], max_length=16
                ),
            ),
            (
                "state",
                models.CharField(
                    choices=[
                        ("creating", "Creating"),
                        ("open", "Open"),
                        ("paid", "Paid"),
                        ("expired", "Expired"),
                        ("failed", "Failed"),
                    ],
                    default="creating",
                    max_length=16,
                ),
            ),
            ("amount_stripe", models.BigIntegerField()),
            ("fee_stripe", models.BigIntegerField()),
            ("amount_minor", models.BigIntegerField()),
            ("fee_minor", models.BigIntegerField()),
            ("fee_percent", models.CharField(max_length=16)),
            ("stripe_checkout_session_id", models.CharField(blank=True, max_length=255)),
            ("checkout_url", models.TextField(blank=True)),
            ("stripe_payment_intent_id", models.CharField(blank=True, max_length=255)),
            (
                "save_card",
                models.BooleanField(default=False, verbose_name="card kept for auto top-up"),
            ),
            ("error", models.CharField(blank=True, max_length=500)),
            ("paid_event_sequence", models.BigIntegerField(blank=True, null=True)),
            ("paid_at", models.DateTimeField(blank=True, null=True)),
            ("refunded_stripe", models.BigIntegerField(default=0)),
            ("disputed_stripe", models.BigIntegerField(default=0)),
            ("dispute_id", models.CharField(blank=True, max_length=255)),
            ("dispute_status", models.CharField(blank=True, max_length=64)),
            ("wallet_reversed_minor", models.BigIntegerField(default=0)),
            ("fee_reversed_minor", models.BigIntegerField(default=0)),
            ("reversal_count", models.IntegerField(default=0)),
            ("dispute_fees_stripe", models.BigIntegerField(default=0)),
            ("dispute_fee_bookings", models.IntegerField(default=0)),
            ("processing_fee_stripe", models.BigIntegerField(blank=True, null=True)),
            ("processing_fee_currency", models.CharField(blank=True, max_length=3)),
            ("created_at", models.DateTimeField(auto_now_add=True)),
            ("created_by", models.CharField(max_length=200)),
            (
                "currency",
                models.ForeignKey(
                    on_delete=django.db.models.deletion.PROTECT, related_name="+", to="ledger.asset"
                ),
            ),
            (
                "customer",
                models.ForeignKey(
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="topups",
                    to="wallets.customer",
                ),
            ),
        ],
        options={
            "db_table": "wallets_topup",
        },
    ),
    migrations.CreateModel(
        name="StripeEvent",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            ("event_id", models.CharField(max_length=255, unique=True)),
            ("type", models.CharField(max_length=100)),
            ("livemode", models.BooleanField(default=False)),
            ("stripe_created_at", models.DateTimeField(blank=True, null=True)),
            ("object_id", models.CharField(blank=True, max_length=255)),
            (
                "outcome",
                models.CharField(
                    choices=[
                        ("booked", "Booked"),
                        ("already_booked", "Already Booked"),
                        ("reversed", "Reversed"),
                        ("recorded", "Recorded"),
                        ("card_saved", "Card Saved"),
                        ("unmatched", "Unmatched"),
                        ("mismatch", "Mismatch"),
                        ("ignored", "Ignored"),
                        ("malformed", "Malformed"),
                    ],
                    max_length=20,
                ),
            ),
            ("detail", models.CharField(blank=True, max_length=500)),
            ("payload", models.JSONField()),
            ("received_at", models.DateTimeField(auto_now_add=True)),
            (
                "topup",
                models.ForeignKey(
                    blank=True,
                    null=True,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="stripe_events",
                    to="payments.topup",
                ),
            ),
        ],
        options={
            "db_table": "wallets_stripeevent",
        },
    ),
    migrations.CreateModel(
        name="AutoTopUpAttempt",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
            (
                "state",
                models.CharField(
                    choices=[
                        ("pending", "Pending"),
                        ("submitted", "Submitted"),
                        ("retrying", "Retrying"),
                        ("succeeded", "Succeeded"),
                        ("failed", "Failed"),
                    ],
                    default="pending",
                    max_length=16,
                ),
            ),
            ("available_minor", models.BigIntegerField()),
            ("threshold_minor", models.BigIntegerField()),
            ("target_minor", models.BigIntegerField()),
            ("tries", models.IntegerField(default=0)),
            ("charge_sequence", models.IntegerField(default=0)),
            ("idempotency_key", models.CharField(blank=True, max_length=255)),
            ("failures", models.JSONField(blank=True, default=list)),
            ("next_try_at", models.DateTimeField(blank=True, null=True)),
            ("created_at", models.DateTimeField()),
            ("resolved_at", models.DateTimeField(blank=True, null=True)),
            (
                "customer",
                models.ForeignKey(
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="auto_topup_attempts",
                    to="wallets.customer",
                ),
            ),
            (
                "topup",
                models.OneToOneField(
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="auto_attempt",
                    to="payments.topup",
                ),
            ),
        ],
        options={
            "db_table": "wallets_autotopupattempt",
        },
    ),
    migrations.AddIndex(
        model_name="alertdelivery",
        index=models.Index(fields=["customer", "-created_at"], name="alert_customer_time"),
    ),
    migrations.AddConstraint(
        model_name="alertdeliveryattempt",
        constraint=models.UniqueConstraint(
            fields=("delivery", "number"), name="alert_delivery_attempt_unique"
        ),
    ),
    migrations.AddConstraint(
        model_name="autotopupsettings",
        constraint=models.CheckConstraint(
            condition=models.Q(
                ("threshold_minor__gte", 0), ("target_minor__gt", models.F("threshold_minor"))
            ),
            name="auto_topup_target_above_threshold",
        ),
    ),
    migrations.AddIndex(
        model_name="cardsetup",
        index=models.Index(fields=["customer", "-created_at"], name="card_setup_customer_time"),
    ),
    migrations.AddConstraint(
        model_name="cardsetup",
        constraint=models.UniqueConstraint(
            condition=models.Q(("stripe_checkout_session_id", ""), _negated=True),
            fields=("stripe_checkout_session_id",),
            name="card_setup_checkout_session_unique",
        ),
    ),
    migrations.AddConstraint(
        model_name="cardsetup",
        constraint=models.UniqueConstraint(
            condition=models.Q(("stripe_setup_intent_id", ""), _negated=True),
            fields=("stripe_setup_intent_id",),
            name="card_setup_setup_intent_unique",
        ),
    ),
    migrations.AddConstraint(
        model_name="lowbalancealert",
        constraint=models.CheckConstraint(
            condition=models.Q(("threshold_minor__gte", 0)),
            name="low_balance_alert_threshold_positive",
        ),
    ),
    migrations.AddIndex(
        model_name="topup",
        index=models.Index(fields=["customer", "-created_at"], name="topup_customer_time"),
    ),
    migrations.AddConstraint(
        model_name="topup",
        constraint=models.CheckConstraint(
            condition=models.Q(
                ("amount_stripe__gt", 0),
                ("fee_stripe__gte", 0),
                ("amount_minor__gt", 0),
                ("fee_minor__gte", 0),
                ("refunded_stripe__gte", 0),
                ("disputed_stripe__gte", 0),
                ("wallet_reversed_minor__gte", 0),
                ("wallet_reversed_minor__lte", models.F("amount_minor")),
                ("fee_reversed_minor__gte", 0),
                ("fee_reversed_minor__lte", models.F("fee_minor")),
            ),
            name="topup_amounts_in_range",
        ),
    ),
    migrations.AddConstraint(
        model_name="topup",
        constraint=models.CheckConstraint(
            condition=models.Q(
                models.Q(("paid_event_sequence__isnull", False), ("state", "paid")),
                models.Q(
                    models.Q(("state", "paid"), _negated=True),
                    ("paid_event_sequence__isnull", True),
                ),
                _connector="OR",
            ),
            name="topup_paid_iff_booked",
        ),
    ),
    migrations.AddConstraint(
        model_name="topup",
        constraint=models.UniqueConstraint(
            condition=models.Q(("stripe_checkout_session_id", ""), _negated=True),
            fields=("stripe_checkout_session_id",),
            name="topup_checkout_session_unique",
        ),
    ),
    migrations.AddConstraint(
        model_name="topup",
        constraint=models.UniqueConstraint(
            condition=models.Q(("stripe_payment_intent_id", ""), _negated=True),
            fields=("stripe_payment_intent_id",),
            name="topup_payment_intent_unique",
        ),
    ),
    migrations.AddIndex(
        model_name="stripeevent",
        index=models.Index(fields=["type", "received_at"], name="stripe_event_type_time"),
    ),
    migrations.AddIndex(
        model_name="autotopupattempt",
        index=models.Index(fields=["state", "next_try_at"], name="auto_topup_due"),
    ),
    migrations.AddConstraint(
        model_name="autotopupattempt",
        constraint=models.UniqueConstraint(
            condition=models.Q(("state__in", ["pending", "submitted", "retrying"])),
            fields=("customer",),
            name="auto_topup_one_open_attempt",
        ),
    ),
]


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("ledger", "0007_append_one"),
        ("wallets", "0010_payments_moved_out"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=STATE_OPERATIONS),
        migrations.RunPython(content_types_to_payments, content_types_to_wallets),
    ]
