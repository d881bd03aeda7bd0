from django.apps import AppConfig


class MeteringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "metering"

    def ready(self) -> None:
        # The usage-batch posting rule, and the usage check of ledger_verify.
        from ledger.services import verify_check_register
        from metering import postings  # noqa: F401
        from metering.checks import usage_records_check

        verify_check_register("metering.usage_records", usage_records_check)
