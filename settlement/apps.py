from django.apps import AppConfig


class SettlementConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "settlement"

    def ready(self) -> None:
        # Commitments' and reconciliation's posting rules, and their ledger_verify checks.
        from ledger.services import verify_check_register
        from settlement.commitments import postings  # noqa: F401
        from settlement.commitments.checks import commitments_check
        from settlement.reconciliation import postings as reconciliation_postings  # noqa: F401
        from settlement.reconciliation.checks import reconciliation_check

        verify_check_register("settlement.commitments", commitments_check)
        verify_check_register("settlement.reconciliation", reconciliation_check)
