from django.apps import AppConfig


class WalletsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "wallets"

    def ready(self) -> None:
        # Wallets' posting rules (lots), the lots check of ledger_verify, and how gateways
        # authenticate, for the OpenAPI schema.
        from ledger.services import verify_check_register
        from wallets import postings  # noqa: F401
        from wallets.gateways import openapi  # noqa: F401
        from wallets.lots.services import lot_allocations_verify

        verify_check_register(
            "wallets.lots", lambda report: report.problems_add(lot_allocations_verify())
        )
