from django.apps import AppConfig


class InvoicingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "invoicing"

    def ready(self) -> None:
        # Invoicing's posting rules, and its check of ledger_verify.
        from invoicing import postings  # noqa: F401
        from invoicing.checks import invoice_bookings_check
        from ledger.services import verify_check_register

        verify_check_register("invoicing.invoice_bookings", invoice_bookings_check)
