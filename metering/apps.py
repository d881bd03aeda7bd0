from django.apps import AppConfig


class MeteringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "metering"

    def ready(self) -> None:
        # Registers the usage-batch posting rule and the usage check of ledger_verify.
        from metering import rules  # noqa: F401
