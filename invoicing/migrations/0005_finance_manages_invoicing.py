"""The "finance" role (ledger 0003) reads and manages invoicing: billing profiles, tax
rates, invoices and their actions (draft, finalize, void, credit notes, payments) and
receipts, for every seller book (invoicing.api)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PERMISSIONS = [
    "view_billingprofile",
    "change_billingprofile",
    "view_taxrate",
    "add_taxrate",
    "view_buyerdetails",
    "view_invoice",
    "change_invoice",
    "view_creditnote",
    "add_creditnote",
    "view_invoicepayment",
    "add_invoicepayment",
    "view_receipt",
]


def _permissions(apps):
    return apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="invoicing", codename__in=PERMISSIONS
    )


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure these exist.
    app_config = apps.get_app_config("invoicing")
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
        ("invoicing", "0004_invoice_guard_fees_overdue"),
        ("ledger", "0003_finance_group"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
