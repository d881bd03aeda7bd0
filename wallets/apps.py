from django.apps import AppConfig


class WalletsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "wallets"

    def ready(self) -> None:
        # Wallets' posting rules (lots, top-ups) and the lots check of ledger_verify.
        from wallets import rules  # noqa: F401
        from wallets.balance_watch import balances_watch_after_spending
        from wallets.spending import spending_observer_register

        spending_observer_register(balances_watch_after_spending)
