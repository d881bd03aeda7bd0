"""The "finance" role (ledger 0003) manages sellers' webhook endpoints and reads their
events and deliveries (webhooks.permissions)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PERMISSIONS = [
    "view_webhookendpoint",
    "add_webhookendpoint",
    "change_webhookendpoint",
    "view_webhookevent",
    "view_webhookdelivery",
    "change_webhookdelivery",
    "view_deliveryattempt",
]


def _permissions(apps):
    return apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="webhooks", codename__in=PERMISSIONS
    )


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure these exist.
    app_config = apps.get_app_config("webhooks")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None
    group = apps.get_model("auth", "Group").objects.filter(name="finance").first()
    if group is not None:
        group.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name="finance").first()
    if group is not None:
        group.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_webhooks_append_only"),
        ("ledger", "0003_finance_group"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
