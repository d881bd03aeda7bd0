"""The "finance" role (ledger 0003) also reads usage records: usage exports with cost and
margin (metering.api.CustomerUsageCsvApi)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PERMISSION = "view_usagerecord"


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure this one exists.
    app_config = apps.get_app_config("metering")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None
    group = apps.get_model("auth", "Group").objects.filter(name="finance").first()
    if group is not None:
        group.permissions.add(
            *apps.get_model("auth", "Permission").objects.filter(
                content_type__app_label="metering", codename=PERMISSION
            )
        )


def revoke(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name="finance").first()
    if group is not None:
        group.permissions.remove(
            *apps.get_model("auth", "Permission").objects.filter(
                content_type__app_label="metering", codename=PERMISSION
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("metering", "0003_usage_record_event_brin"),
        ("ledger", "0003_finance_group"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
