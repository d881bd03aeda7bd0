from django.apps import AppConfig


class CreditConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "credit"

    def ready(self) -> None:
        # Credit customers' funds policy and the wallet view's credit position.
        from credit import funding, postings  # noqa: F401
