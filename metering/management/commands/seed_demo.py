import os

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from config.demo import demo_seed_all
from metering.demo import gateway_flow_text


class Command(BaseCommand):
    """Every app's demo (its demo.py, registered with config.demo) in one transaction,
    and a local admin user. Lives in metering, the app at the top of the import graph."""

    help = "Load demo data for the embedded run (idempotent) and a local admin user."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="the server, for the curl lines"
        )

    def handle(self, *args, **options):
        from django.conf import settings

        if not settings.DEBUG:
            raise CommandError("seed_demo is for the embedded/local run only (DEBUG is off)")
        with transaction.atomic():
            lines = demo_seed_all()
        username = os.environ.get("DEMO_ADMIN_USER", "admin")
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "admin")
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(password)
            user.save()
        user.groups.add(Group.objects.get(name="finance"))
        for line in lines:
            self.stdout.write(f"  {line}")
        self.stdout.write(gateway_flow_text(options["url"].rstrip("/")))
        self.stdout.write(
            self.style.SUCCESS(
                f"demo ready; admin login {username!r}"
                + (f" / {password!r}" if created else " (existing)")
            )
        )
