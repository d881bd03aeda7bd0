"""Credit limits moved to the credit app (issue 17): its 0002 copies each customer's
limit (it runs before this one) and takes over CreditLimitChange and its table, which
stays (only wallets' state forgets the model)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0010_payments_moved_out"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="CreditLimitChange")],
        ),
        migrations.RemoveConstraint(
            model_name="customer", name="customer_credit_limit_non_negative"
        ),
        migrations.RemoveField(model_name="customer", name="credit_limit_minor"),
    ]
