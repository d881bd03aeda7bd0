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

        # A paid top-up's receipt is issued in the transaction that books the payment.
        from invoicing.services import receipt_issue_on_payment
        from payments.topups.paid_hooks import topup_paid_hook_register

        topup_paid_hook_register(receipt_issue_on_payment)
