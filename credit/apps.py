from django.apps import AppConfig


class CreditConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "credit"

    def ready(self) -> None:
        # Credit customers' funds policy and the wallet view's credit position.
        from credit import funding, postings  # noqa: F401
        from credit.checks import credit_check
        from ledger.services import verify_check_register

        # ledger_verify ties credit's allowance, write-off and recovery rows to the ledger.
        verify_check_register("credit", credit_check)
