from django.apps import AppConfig


class WalletsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "wallets"

    def ready(self) -> None:
        # The ledger must know wallets' event types before anything appends or replays.
        from wallets import payment_rules  # noqa: F401
