"""Draw commitments down by every usage batch booked so far, printing progress."""

from django.core.management.base import BaseCommand

from settlement.commitments.drawdown import commitments_draw_down_all


class Command(BaseCommand):
    help = "Draw commitments down by the usage batches not drawn yet (what beat does every minute)."

    def add_arguments(self, parser):
        parser.add_argument("--batches-per-run", type=int, default=None)
        parser.add_argument("--runs-max", type=int, default=100_000)

    def handle(self, *args, batches_per_run, runs_max, **options):
        totals = {"batches": 0, "events": 0}

        def progress(run) -> None:
            totals["batches"] += run.batches
            totals["events"] += run.events
            self.stdout.write(
                f"through event #{run.through_sequence}: {totals['batches']} batches drawn, "
                f"{totals['events']} draw-down events (this run, in minor units: list cost "
                f"{run.cost_minor}, covered {run.covered_minor} for {run.drawn_minor} drawn, "
                f"{run.tokens} tokens, discount on the rest {run.discount_minor})"
            )

        if batches_per_run is not None and batches_per_run < 1:
            self.stderr.write("--batches-per-run must be at least 1")
            raise SystemExit(2)
        commitments_draw_down_all(batches_max=batches_per_run, runs_max=runs_max, progress=progress)
        self.stdout.write(
            self.style.SUCCESS(
                f"done: {totals['batches']} batches, {totals['events']} draw-down events"
            )
        )
