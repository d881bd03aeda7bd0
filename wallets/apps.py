from django.apps import AppConfig


class WalletsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "wallets"

    def ready(self) -> None:
        # Wallets' posting rules (lots, top-ups) and the lots check of ledger_verify; how
        # gateways authenticate, for the OpenAPI schema.
        from wallets import openapi, rules  # noqa: F401
