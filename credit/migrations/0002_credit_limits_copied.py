"""Copy each customer's own credit limit (wallets.Customer.credit_limit_minor) into
CreditLimit, before wallets 0011 drops the column (run_before: wallets does not know
this app); and move CreditLimitChange's content type from wallets to credit."""

from django.db import migrations

from config.model_moves import content_type_move


def copy_limits(apps, schema_editor):
    Customer = apps.get_model("wallets", "Customer")
    CreditLimit = apps.get_model("credit", "CreditLimit")
    CreditLimit.objects.bulk_create(
        CreditLimit(customer_id=customer_id, credit_limit_minor=limit)
        for customer_id, limit in Customer.objects.filter(
            credit_limit_minor__isnull=False
        ).values_list("id", "credit_limit_minor")
    )


def copy_limits_back(apps, schema_editor):
    Customer = apps.get_model("wallets", "Customer")
    for customer_id, limit in apps.get_model("credit", "CreditLimit").objects.values_list(
        "customer_id", "credit_limit_minor"
    ):
        Customer.objects.filter(pk=customer_id).update(credit_limit_minor=limit)


class Migration(migrations.Migration):
    dependencies = [
        ("credit", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    run_before = [("wallets", "0011_credit_limits_moved_out")]

    operations = [
        migrations.RunPython(copy_limits, copy_limits_back),
        content_type_move(model="creditlimitchange", from_app="wallets", to_app="credit"),
    ]
