import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ledger.integrity import event_count, verify_ledger


class Command(BaseCommand):
    help = (
        "Walk the event log's hash chain, replay every posting rule against the stored "
        "entries, re-check the ledger's invariants and compare balances with postings. "
        "Exits non-zero and names the first broken row when anything is off."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def handle(self, *args, **options):
        with tqdm(
            total=event_count(),
            unit="event",
            file=sys.stderr,
            disable=options["no_progress"],
            desc="verify",
        ) as bar:
            report = verify_ledger(progress=bar.update)
        summary = (
            f"{report.events_checked} events, {report.postings_checked} postings, "
            f"{report.accounts_checked} accounts checked"
        )
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"ledger OK: {summary}"))
            return
        for problem in report.problems:
            self.stderr.write(f"  {problem}")
        raise CommandError(
            f"ledger verification FAILED ({len(report.problems)} problem(s) shown; "
            f"first: {report.problems[0]}); {summary}"
        )
