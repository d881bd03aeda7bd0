"""Close a month for one seller book by hand: draft every buyer's invoice, optionally
finalize them (what Celery beat does on the 1st and after the grace period)."""

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from invoicing.services import invoice_finalize, invoices_draft_period, month_bounds
from ledger.models import Book


class Command(BaseCommand):
    help = "Draft (and with --finalize, finalize) the invoices of a seller book for a month."

    def add_arguments(self, parser):
        parser.add_argument("--book", required=True, help="the seller book's code")
        parser.add_argument("--period", required=True, help="YYYY-MM")
        parser.add_argument("--finalize", action="store_true", help="finalize the drafts too")
        parser.add_argument("--actor", default="system:invoicing_close_period")

    def handle(self, *args, **options):
        book = Book.objects.filter(code=options["book"]).first()
        if book is None:
            raise CommandError(f"no book {options['book']!r}")
        try:
            start, end = month_bounds(options["period"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc

        def progress(report, total):
            seen = report.done + report.skipped + len(report.failed)
            if seen % 100 == 0 or seen == total:
                self.stdout.write(
                    f"  {seen}/{total} buyers: {report.done} drafted, {report.skipped} "
                    f"with nothing to bill, {len(report.failed)} failed"
                )

        self.stdout.write(f"closing {options['period']} for {book.code}")
        try:
            report = invoices_draft_period(
                seller_book=book,
                period_start=start,
                period_end=end,
                actor=options["actor"],
                progress=progress,
            )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        for buyer, code in sorted(report.failed.items()):
            self.stdout.write(f"  {buyer}: {code}")
        if options["finalize"]:
            finalized = 0
            for invoice in report.invoices:
                try:
                    invoice_finalize(invoice=invoice, actor=options["actor"])
                    finalized += 1
                except DomainError as exc:
                    self.stdout.write(f"  {invoice.buyer_key}: {exc.code}")
            self.stdout.write(f"finalized {finalized} of {len(report.invoices)}")
        self.stdout.write(self.style.SUCCESS(f"drafted {report.done} invoices"))
