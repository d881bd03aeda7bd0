import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from ledger.integrity import event_count, rebuild_balances


class Command(BaseCommand):
    help = (
        "Replay the event log through the posting rules into a fresh balance projection "
        "and make the live balances equal to it. Appends wait while it runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def handle(self, *args, **options):
        with tqdm(
            total=event_count(),
            unit="event",
            file=sys.stderr,
            disable=options["no_progress"],
            desc="rebuild",
        ) as bar:
            report = rebuild_balances(progress=bar.update)
        self.stdout.write(
            self.style.SUCCESS(
                f"rebuilt {report.accounts} balances from {report.events_replayed} events; "
                f"{report.accounts_changed} differed from the live projection and were corrected"
            )
        )
