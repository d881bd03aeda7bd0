"""The "finance" role: reads every ledger table and may post manual adjustments."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

FINANCE_PERMISSIONS = [
    "view_book",
    "view_asset",
    "view_account",
    "view_balance",
    "view_event",
    "view_entry",
    "view_posting",
    "view_hold",
    "view_holdresolution",
    "post_adjustment",
]


def create_finance_group(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="finance")
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="ledger", codename__in=FINANCE_PERMISSIONS
        )
    )


def remove_finance_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="finance").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0002_ledger_rules"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_finance_group, remove_finance_group)]
