import os

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from ledger.demo import seed_demo_ledger
from metering.demo import seed_demo_metering


class Command(BaseCommand):
    """Lives in metering, the app at the top of the import graph: the demo seeds every
    app below it (the ledger's books, prices, customers, usage)."""

    help = "Load demo data for the embedded run (idempotent) and a local admin user."

    def handle(self, *args, **options):
        from django.conf import settings

        if not settings.DEBUG:
            raise CommandError("seed_demo is for the embedded/local run only (DEBUG is off)")
        with transaction.atomic():
            result = seed_demo_ledger()
            metering = seed_demo_metering()
        username = os.environ.get("DEMO_ADMIN_USER", "admin")
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "admin")
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(password)
            user.save()
        user.groups.add(Group.objects.get(name="finance"))
        self.stdout.write(
            self.style.SUCCESS(
                f"demo ready: book {result['book']}, {metering['customers']} customers, "
                f"{metering['accounts']} accounts; "
                f"admin login {username!r}" + (f" / {password!r}" if created else " (existing)")
            )
        )
