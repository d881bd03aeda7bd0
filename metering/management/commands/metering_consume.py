import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.gc_tuning import freeze_long_lived
from metering.consumer import (
    ConsumerSettings,
    ConsumerStalled,
    Counters,
    DeadLetterRateExceeded,
    UsageConsumer,
)

logger = logging.getLogger(__name__)


def _partitions(text: str | None, servers: str, topic: str) -> list[int] | None:
    if text is None:
        return None
    if text == "all":
        from kafka import KafkaConsumer

        probe = KafkaConsumer(bootstrap_servers=servers)
        try:
            found = probe.partitions_for_topic(topic)
        finally:
            probe.close()
        if not found:
            raise CommandError(f"topic {topic!r} has no partitions (does it exist?)")
        return sorted(found)
    try:
        return sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise CommandError(f"--partitions must be 'all' or numbers like 0,1: {text!r}") from exc


class Command(BaseCommand):
    help = (
        "Consume usage events from Kafka and book them: bounded batches, each committed "
        "to PostgreSQL with its consumer offsets in one transaction. Run one process per "
        "set of partitions (same --group); SIGTERM finishes the batch in hand and exits."
    )

    # A worker restarted by its supervisor (and 10+ times by the crash test) should
    # not spend half a second on system checks; deploys run `manage.py check`.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--topic", default=settings.METERING_USAGE_TOPIC)
        parser.add_argument("--dead-letter-topic", default="usage.events.dlq")
        parser.add_argument("--group", default="metering")
        parser.add_argument("--batch-size", type=int, default=5_000)
        parser.add_argument("--batch-timeout-ms", type=int, default=500)
        parser.add_argument("--max-dead-letter-ratio", type=float, default=0.5)
        parser.add_argument(
            "--partitions",
            default=None,
            help="comma-separated partitions to read without a consumer "
            "group, or 'all'; default: join the group",
        )
        parser.add_argument(
            "--stop-when-idle-s",
            type=float,
            default=None,
            help="exit after this many seconds without messages",
        )
        parser.add_argument(
            "--report-every",
            type=int,
            default=20,
            metavar="BATCHES",
            help="print the counters every N batches",
        )

    def handle(self, *args, **options):
        servers = settings.KAFKA_BOOTSTRAP_SERVERS
        if not servers:
            raise CommandError("KAFKA_BOOTSTRAP_SERVERS is not set: nothing to consume from")
        partitions = _partitions(options["partitions"], servers, options["topic"])
        config = ConsumerSettings(
            partitions=partitions,
            bootstrap_servers=servers,
            topic=options["topic"],
            dead_letter_topic=options["dead_letter_topic"],
            group=options["group"],
            batch_size_max=options["batch_size"],
            batch_timeout_ms=options["batch_timeout_ms"],
            dead_letter_ratio_max=options["max_dead_letter_ratio"],
        )
        every = max(1, options["report_every"])

        def report(counters: Counters) -> None:
            if counters.batches % every == 0:
                self.stdout.write(counters.line())
                self.stdout.flush()

        consumer = UsageConsumer(config, on_batch=report)
        consumer.pipeline.warm_up()
        freeze_long_lived()
        consumer.install_signal_handlers()
        try:
            counters = consumer.run(max_idle_s=options["stop_when_idle_s"])
        except (DeadLetterRateExceeded, ConsumerStalled) as exc:
            # Non-zero exit: a supervisor restarts a stalled consumer (safe: the offsets
            # are in PostgreSQL with what they booked); a dead-letter stop waits for a human.
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"stopped: {counters.line()}")
