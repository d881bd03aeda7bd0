from django.apps import AppConfig


class WalletsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "wallets"

    def ready(self) -> None:
        # Wallets' posting rules (lots) and the lots check of ledger_verify.
        from wallets import rules  # noqa: F401
