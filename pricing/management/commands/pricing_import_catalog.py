import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from config.errors import DomainError
from pricing import services
from pricing.catalogue import skipped_by_code
from pricing.management.commands._options import aware_datetime, default_actor


class Command(BaseCommand):
    help = (
        "Import an upstream price catalogue in LiteLLM's model_prices_and_context_window "
        "format as new price versions in force from --effective-from. Every entry is "
        "imported or listed as skipped with its reason. Re-running the same file at the "
        "same moment is a no-op; another file at an existing moment is refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the catalogue JSON file")
        parser.add_argument(
            "--effective-from",
            required=True,
            type=aware_datetime,
            help="ISO 8601 with offset, e.g. 2025-06-01T00:00:00Z",
        )
        parser.add_argument("--source-name", default="litellm")
        parser.add_argument("--actor", default=default_actor())
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
        parser.add_argument(
            "--show-skipped", action="store_true", help="list every skipped entry and why"
        )

    def handle(self, *args, **options):
        started = time.perf_counter()
        with tqdm(
            unit="version", file=sys.stderr, disable=options["no_progress"], desc="import"
        ) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            try:
                result = services.catalog_import(
                    path=options["path"],
                    effective_from=options["effective_from"],
                    actor=options["actor"],
                    source_name=options["source_name"],
                    progress=progress,
                )
            except DomainError as exc:
                raise CommandError(f"{exc.code}: {exc.message}") from exc
        elapsed_s = time.perf_counter() - started
        record = result.catalog_import
        if result.replayed:
            self.stdout.write(
                f"already imported (catalog import {record.id} at "
                f"{record.effective_from.isoformat()}, same sha256): nothing to do"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"catalog import {record.id}: {record.entries_total} entries, "
                f"{record.imported_count} imported ({record.versions_created_count} new price "
                f"versions), {record.skipped_count} skipped, in {elapsed_s:.2f}s"
            )
        )
        for code, count in skipped_by_code(record.skipped).items():
            self.stdout.write(f"  skipped {code}: {count}")
        if options["show_skipped"]:
            for item in record.skipped:
                self.stdout.write(f"    {item['key']}: {item['reason']}")
