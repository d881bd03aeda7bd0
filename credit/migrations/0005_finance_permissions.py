"""The "finance" role (ledger 0003) reads credit's reports and records, and may set
provision matrices, dunning ladders and cards, write off and recover (the API's writes)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

FINANCE_PERMISSIONS = [
    "view_provisionmatrix",
    "add_provisionmatrix",
    "view_allowancebooking",
    "view_writeoff",
    "add_writeoff",
    "view_recovery",
    "add_recovery",
    "view_dunningstep",
    "add_dunningstep",
    "change_dunningstep",
    "view_dunningstanding",
    "view_dunningaction",
    "view_dunningcard",
    "add_dunningcard",
]


def _finance_permissions(apps):
    app_config = apps.get_app_config("credit")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None
    return apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="credit", codename__in=FINANCE_PERMISSIONS
    )


def grant(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name="finance").first()
    if group is not None:
        group.permissions.add(*_finance_permissions(apps))


def revoke(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name="finance").first()
    if group is not None:
        group.permissions.remove(*_finance_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("credit", "0004_losses_and_dunning"),
        ("ledger", "0003_finance_group"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
