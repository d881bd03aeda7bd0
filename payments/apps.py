from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "payments"

    def ready(self) -> None:
        # Payments' posting rules (the top-up events), before anything appends or replays.
        from payments import postings  # noqa: F401
        from payments.alerts.balance_watch import balances_watch_after_spending
        from wallets.spending import spending_observer_register

        # Usage that spends a watched customer's money triggers the watch at once.
        spending_observer_register(balances_watch_after_spending)
