from django.apps import AppConfig


class SettlementConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "settlement"

    def ready(self) -> None:
        # Commitments' posting rules, and their check of ledger_verify.
        from ledger.services import verify_check_register
        from settlement.commitments import postings  # noqa: F401
        from settlement.commitments.checks import commitments_check

        verify_check_register("settlement.commitments", commitments_check)
