"""Metering benchmark: usage events from a Kafka topic to the committed ledger.

    .venv/bin/python benchmarks/metering_bench.py [--events N] [--batch-size N] [--rounds N]

Needs PostgreSQL and Kafka running (`python -m devservices up postgres kafka`). In one
run it measures two variants of the same traffic, interleaved `--rounds` times (the
machine may be shared: alternating them exposes both to the same noise), each on a topic
of its own:
  - `usage_event`: our own UsageEvent JSON, no headers;
  - `litellm`: the same calls as LiteLLM's StandardLoggingPayload records as POST
    /v1/usage/litellm produces them: only the fields the adapter reads
    (`litellm.edge_record`: no prompt, completion or price entry), with its headers
    (`kind: litellm`, source, customer_from), adapted by the consumer before validation.
For each it prints the raw kafka-python consume rate of its topic (the ceiling) and the
end-to-end events/s of `manage.py metering_consume` from the topic to committed usage
records and ledger postings (a separate process, as in production), then the ratios
(end-to-end / raw, litellm / usage_event, whose floor is 0.8x the UsageEvent rate of
the same run) and the consumers' peak memory (VmHWM), with the issue's goals beside them;
last, the CPU per message of parsing alone in the bench's own process (best of 15, so a
loaded machine barely moves it): UsageEvent (the floor), LiteLLM through adapt_message
(the fast path, metering/adapters/litellm_fast.py) and through the full adapter alone;
and per round the ceiling those floors leave the LiteLLM / UsageEvent ratio: the
UsageEvent's own end-to-end time per event plus the LiteLLM messages' extra raw read
time and extra parsing CPU (spread over the consumer processes), i.e. the best ratio
reachable were everything after parsing as cheap as for a UsageEvent.
The data is real: prices from the LiteLLM catalogue in ../shared/data, a realistic model
mix, 1,000 customers of a distributor and a reseller.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402

from ledger import services as ledger_services  # noqa: E402
from ledger.models import Book  # noqa: E402
from ledger.selectors import trial_balance_list  # noqa: E402
from metering.adapters import _json_record, _message_kwargs, litellm  # noqa: E402
from metering.models import ConsumerOffset, UsageRecord  # noqa: E402
from metering.pipeline import RawMessage, parse_message  # noqa: E402
from pricing import services as pricing_services  # noqa: E402
from pricing.models import CatalogImport  # noqa: E402
from wallets.models import Customer  # noqa: E402

CATALOGUE = (REPO_ROOT / "../shared/data/model_prices_litellm.json").resolve()
CATALOGUE_FROM = datetime(2025, 1, 1, tzinfo=UTC)
PARTITIONS = 4
CUSTOMERS = 1_000
# (provider, model as gateways report it, share of traffic): cheap models dominate.
MODEL_MIX = [
    ("deepseek", "deepseek-chat", 0.25),
    ("openai", "gpt-4o-mini", 0.20),
    ("gemini", "gemini-2.5-flash", 0.12),
    ("dashscope", "qwen-plus", 0.10),
    ("minimax", "MiniMax-M2", 0.05),
    ("openai", "gpt-4o", 0.10),
    ("anthropic", "claude-sonnet-4-5", 0.10),
    ("anthropic", "claude-haiku-4-5", 0.05),
    ("openai", "gpt-5", 0.03),
]
GOAL_EVENTS_PER_S, GOAL_RATIO, GOAL_PEAK_MB = 20_000, 0.5, 500
GOAL_NATIVE_RATIO = 0.8  # native LiteLLM records at >= 0.8x the UsageEvent rate
VARIANTS = ("usage_event", "litellm")
# What a LiteLLM proxy's StandardLoggingPayload carries beside the counts (the shape of
# tests/metering/samples/litellm_standard_logging_payload.json): the adapter reads and
# skips all of it, so the bench pays for it as the consumer would.
LITELLM_TEMPLATE = json.loads(
    (REPO_ROOT / "tests/metering/samples/litellm_standard_logging_payload.json").read_text()
)


def progress(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", flush=True)


def ensure_prices() -> None:
    if not CatalogImport.objects.exists():
        progress("importing the LiteLLM catalogue")
        pricing_services.catalog_import(
            path=CATALOGUE, effective_from=CATALOGUE_FROM, actor="bench"
        )


def create_world(run_id: str) -> list[str]:
    """A distributor, one reseller buying from it, and their customers; returns ids."""
    usd = ledger_services.asset_create(code="USD", scale=9)
    distributor = ledger_services.book_create(code=f"bench-dist-{run_id}", name="bench")
    reseller = ledger_services.book_create(
        code=f"bench-res-{run_id}", name="bench reseller", kind=Book.Kind.RESELLER
    )
    reseller.wholesale_from = distributor
    reseller.save(update_fields=["wholesale_from"])
    common = {"effective_from": CATALOGUE_FROM, "actor": "bench"}
    pricing_services.retail_price_book_create(
        book=distributor, name="list", markup_bps=2000, **common
    )
    pricing_services.retail_price_book_create(
        book=distributor, name="wholesale", customer=reseller.code, markup_bps=550, **common
    )
    pricing_services.retail_price_book_create(book=reseller, name="list", markup_bps=3000, **common)
    customers = []
    for index in range(CUSTOMERS):
        customers.append(
            Customer(
                external_id=f"bench-{run_id}-{index}",
                book=reseller if index % 10 == 0 else distributor,
                billing=Customer.Billing.CREDIT if index % 5 == 0 else Customer.Billing.PREPAID,
                currency=usd,
            )
        )
    Customer.objects.bulk_create(customers)
    return [customer.external_id for customer in customers]


def make_events(count: int, customers: list[str], rng: random.Random, tag: str, source: str):
    models = [(provider, model) for provider, model, _share in MODEL_MIX]
    weights = [share for _provider, _model, share in MODEL_MIX]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for index in range(count):
        provider, model = rng.choices(models, weights)[0]
        customer = rng.choice(customers)
        event = {
            "event_id": f"{tag}-{index}",
            "source": source,
            "occurred_at": (start + timedelta(milliseconds=index)).isoformat(),
            "customer": customer,
            "model": model,
            "provider": provider,
            "tokens": {
                "input": int(rng.lognormvariate(6.5, 1.0)) % 100_000,
                "output": int(rng.lognormvariate(5.5, 1.0)) % 20_000,
                "cache_read": rng.choice((0, 0, 0, 512, 1024)),
                "cache_write": 0,
                "reasoning": rng.choice((0, 0, 128)) if provider == "openai" else 0,
            },
        }
        yield customer, event


def usage_event_messages(events):
    for customer, event in events:
        yield customer.encode(), json.dumps(event, separators=(",", ":")).encode(), None


def litellm_messages(events):
    """The same calls as LiteLLM logs them, as the HTTP endpoint produces them: the
    fields the adapter reads (litellm.edge_record) and the endpoint's headers."""
    headers = None
    for customer, event in events:
        if headers is None:
            headers = [
                ("kind", b"litellm"),
                ("source", event["source"].encode()),
                ("customer_from", b"user_api_key_team_id"),
            ]
        record = litellm.edge_record(litellm_payload(event))
        yield customer.encode(), json.dumps(record).encode(), headers


def litellm_payload(event: dict) -> dict:
    tokens = event["tokens"]
    prompt = tokens["input"] + tokens["cache_read"] + tokens["cache_write"]
    completion = tokens["output"] + tokens["reasoning"]
    started = datetime.fromisoformat(event["occurred_at"]).timestamp()
    template = LITELLM_TEMPLATE
    usage = {
        **template["metadata"]["usage_object"],
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "completion_tokens_details": {
            **template["metadata"]["usage_object"]["completion_tokens_details"],
            "reasoning_tokens": tokens["reasoning"],
            "text_tokens": tokens["output"],
        },
        "prompt_tokens_details": {
            **template["metadata"]["usage_object"]["prompt_tokens_details"],
            "cached_tokens": tokens["cache_read"],
            "cache_creation_tokens": tokens["cache_write"],
        },
        "cache_creation_input_tokens": tokens["cache_write"],
        "cache_read_input_tokens": tokens["cache_read"],
    }
    return {
        **template,
        "id": event["event_id"],
        "custom_llm_provider": event["provider"],
        "model": event["model"],
        "model_group": event["model"],
        "model_map_information": {"model_map_key": event["model"], "model_map_value": None},
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "startTime": started,
        "endTime": started + 1.25,
        "completionStartTime": started + 0.5,
        "metadata": {
            **template["metadata"],
            "user_api_key_team_id": event["customer"],
            "spend_logs_metadata": {},
            "usage_object": usage,
        },
        "response": {**template["response"], "id": event["event_id"]},
    }


def produce(topic: str, messages) -> tuple[int, float]:
    producer = KafkaProducer(
        bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
        acks="all",
        linger_ms=20,
        batch_size=512 * 1024,
        compression_type=None,
    )
    started, sent = time.monotonic(), 0
    for key, value, headers in messages:
        producer.send(topic, key=key, value=value, headers=headers)
        sent += 1
        if sent % 200_000 == 0:
            progress(f"produced {sent:,}")
    producer.flush(timeout=600)
    producer.close()
    return sent, time.monotonic() - started


def raw_consume_rate(topic: str, expected: int) -> tuple[float, float]:
    """The ceiling: kafka-python reading the topic and touching every value, nothing else."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
        enable_auto_commit=False,
        max_poll_records=5_000,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    started, seen, size = time.monotonic(), 0, 0
    while seen < expected:
        for messages in consumer.poll(timeout_ms=500).values():
            seen += len(messages)
            size += sum(len(m.value) for m in messages)
    elapsed_s = time.monotonic() - started
    consumer.close()
    return seen / elapsed_s, size / max(seen, 1)


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def run_consumers(topic: str, group: str, expected: int, batch_size: int, processes: int) -> dict:
    """`processes` consumer processes, each reading its own share of the partitions."""
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DEBUG="false",
        CELERY_TASK_ALWAYS_EAGER="true",
    )
    shares = [[p for p in range(PARTITIONS) if p % processes == i] for i in range(processes)]
    started = time.monotonic()
    running = [
        subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "metering_consume",
                "--topic",
                topic,
                "--dead-letter-topic",
                f"{topic}.dlq",
                "--group",
                group,
                "--partitions",
                ",".join(map(str, share)),
                "--batch-size",
                str(batch_size),
                "--batch-timeout-ms",
                "200",
                "--stop-when-idle-s",
                "5",
                "--report-every",
                "20",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for share in shares
    ]
    first_commit_at, done_at, peak_mb, last_report = None, None, 0.0, started
    # Progress from the offsets the consumers commit with each batch (every event of the
    # bench is valid and unique, so offsets = records): counting millions of usage records
    # twice a second would take the CPU the consumers are measured on.
    offsets = ConsumerOffset.objects.filter(group=group, topic=topic)
    while done_at is None:
        time.sleep(0.5)
        peak_mb = max([peak_mb] + [peak_rss_mb(process.pid) for process in running])
        booked = sum(offsets.values_list("next_offset", flat=True))
        now = time.monotonic()
        if booked and first_commit_at is None:
            first_commit_at = now
        if booked >= expected:
            done_at = now
        elif any(process.poll() is not None for process in running):
            output = "".join(process.communicate()[0] for process in running)
            raise SystemExit(f"a consumer exited early:\n{output[-3000:]}")
        if now - last_report > 15:
            last_report = now
            progress(f"booked {booked:,} of {expected:,}")
    peak_mb = max([peak_mb] + [peak_rss_mb(process.pid) for process in running])
    for process in running:
        process.terminate()
    output = "".join(process.communicate(timeout=60)[0] for process in running)
    return {
        "total_s": done_at - started,
        "steady_s": done_at - (first_commit_at or started),
        "peak_mb": peak_mb,
        "output": output,
    }


def measure(variant: str, round_no: int, args, run_id: str, customers: list[str]) -> dict:
    """One variant once: its own topic, source and consumer group, start to booked."""
    tag = f"{run_id}-{variant}-{round_no}"
    source = f"bench-{run_id}-{variant.replace('_', '-')}-{round_no}"
    topic = f"bench-usage-{tag}-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS)
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    admin.close()
    # The same seed per round: both variants carry the same calls.
    events = make_events(args.events, customers, random.Random(42 + round_no), tag, source)
    messages = (usage_event_messages if variant == "usage_event" else litellm_messages)(events)
    sent, produce_s = produce(topic, messages)
    progress(f"{variant} #{round_no}: produced {sent:,} in {produce_s:.1f} s")
    raw_rate, message_bytes = raw_consume_rate(topic, sent)
    result = run_consumers(topic, f"bench-{tag}", sent, args.batch_size, args.consumers)
    booked = UsageRecord.objects.filter(source=source).count()
    if booked != sent:
        sys.exit(f"{variant}: {booked:,} usage records booked for {sent:,} events sent")
    figures = {
        "variant": variant,
        "round": round_no,
        "raw": raw_rate,
        "bytes": message_bytes,
        "e2e": sent / result["total_s"],
        "steady": sent / max(result["steady_s"], 1e-3),  # one batch: no steady state
        "peak_mb": result["peak_mb"],
        "output": result["output"],
    }
    progress(
        f"{variant} #{round_no}: {figures['e2e']:,.0f} events/s end to end "
        f"({figures['steady']:,.0f} from the first commit), raw {raw_rate:,.0f}/s "
        f"of {message_bytes:,.0f} B messages"
    )
    return figures


def parsing_cpu(customers: list[str], count: int = 5_000) -> dict[str, float]:
    """CPU microseconds per message to turn each variant's bytes into a UsageEvent, in
    this process (best of 15, so the other processes' load barely touches it): the
    UsageEvent parse (the floor), LiteLLM through adapt_message (the fast path) and
    LiteLLM through the full adapter alone, as before the fast path."""
    events = list(make_events(count, customers, random.Random(7), "parse", "bench-parse"))
    plain = [
        RawMessage("t", 0, i, k, v, ()) for i, (k, v, _h) in enumerate(usage_event_messages(events))
    ]
    native = [
        RawMessage("t", 0, i, k, v, tuple(h))
        for i, (k, v, h) in enumerate(litellm_messages(events))
    ]
    args = {name: value.decode() for name, value in native[0].headers if name != "kind"}
    kwargs = _message_kwargs("litellm", tuple(args.items()))
    variants = {
        "usage_event": lambda: [parse_message(m) for m in plain],
        "litellm": lambda: [parse_message(m) for m in native],
        "litellm_full_adapter": lambda: [
            litellm.to_usage_event(_json_record(m.value), **kwargs) for m in native
        ],
    }
    best = dict.fromkeys(variants, float("inf"))
    for _round in range(15):
        for name, run in variants.items():
            started = time.process_time()
            run()
            best[name] = min(best[name], (time.process_time() - started) / count * 1e6)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300_000, help="per variant and round")
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument(
        "--consumers",
        type=int,
        default=2,  # one per core: the consumer is CPU-bound Python
        choices=(1, 2, 4),
        help="consumer processes, each with its share of the 4 partitions",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="times each variant runs, interleaved"
    )
    args = parser.parse_args()
    run_id = datetime.now().strftime("%Y%m%d%H%M%S")

    print(
        f"Metering benchmark: {args.events:,} events per variant and round, {args.rounds} "
        f"rounds of {' / '.join(VARIANTS)}, {PARTITIONS} partitions, batches of "
        f"{args.batch_size:,}, {CUSTOMERS:,} customers, {len(MODEL_MIX)} models"
    )
    ensure_prices()
    customers = create_world(run_id)
    runs = [
        measure(variant, round_no, args, run_id, customers)
        for round_no in range(1, args.rounds + 1)
        for variant in VARIANTS
    ]
    balanced = all(row.difference == 0 for row in trial_balance_list())
    parsing = parsing_cpu(customers)

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    def mean(variant: str, figure: str) -> float:
        values = [run[figure] for run in runs if run["variant"] == variant]
        return sum(values) / len(values)

    print("\nEvery run")
    print(
        f"  {'variant':12} {'round':>5} {'end-to-end/s':>13} "
        f"{'first commit on/s':>18} {'raw/s':>10} {'bytes/msg':>10}"
    )
    for run in runs:
        print(
            f"  {run['variant']:12} {run['round']:>5} {run['e2e']:>13,.0f} "
            f"{run['steady']:>18,.0f} {run['raw']:>10,.0f} {run['bytes']:>10,.0f}"
        )
    usage_rate, native_rate = mean("usage_event", "e2e"), mean("litellm", "e2e")
    usage_raw = mean("usage_event", "raw")
    floor = GOAL_NATIVE_RATIO * usage_rate
    peak_mb = max(run["peak_mb"] for run in runs)
    print("\nFigures against goals (means over the rounds)")
    print(f"  {'figure':42} {'measured':>14}  {'goal':>14}  result")
    rows = [
        (
            "UsageEvent end-to-end events/s",
            f"{usage_rate:,.0f}",
            f">= {GOAL_EVENTS_PER_S:,}",
            verdict(usage_rate >= GOAL_EVENTS_PER_S),
        ),
        ("UsageEvent raw kafka-python consume/s", f"{usage_raw:,.0f}", "(ceiling)", ""),
        (
            "ratio UsageEvent end-to-end / raw",
            f"{usage_rate / usage_raw:.2f}",
            f">= {GOAL_RATIO}",
            verdict(usage_rate / usage_raw >= GOAL_RATIO),
        ),
        (
            "LiteLLM native end-to-end events/s",
            f"{native_rate:,.0f}",
            f">= {floor:,.0f}",
            verdict(native_rate >= floor),
        ),
        ("LiteLLM native raw kafka-python consume/s", f"{mean('litellm', 'raw'):,.0f}", "", ""),
        (
            "ratio LiteLLM native / UsageEvent",
            f"{native_rate / usage_rate:.2f}",
            f">= {GOAL_NATIVE_RATIO}",
            verdict(native_rate / usage_rate >= GOAL_NATIVE_RATIO),
        ),
        # Without the consumers' start-up, which both variants pay alike.
        (
            "ratio LiteLLM / UsageEvent, first commit on",
            f"{mean('litellm', 'steady') / mean('usage_event', 'steady'):.2f}",
            "",
            "",
        ),
    ]
    rows += [
        (
            f"ratio LiteLLM / UsageEvent, round {round_no}",
            f"{pair[1]['e2e'] / pair[0]['e2e']:.2f}",
            "",
            "",
        )
        for round_no in range(1, args.rounds + 1)
        for pair in [[run for run in runs if run["round"] == round_no]]
    ]
    rows.append(
        (
            "consumer peak memory MB (VmHWM)",
            f"{peak_mb:,.0f}",
            f"< {GOAL_PEAK_MB}",
            verdict(peak_mb < GOAL_PEAK_MB),
        )
    )
    for name, measured, goal, outcome in rows:
        print(f"  {name:42} {measured:>14}  {goal:>14}  {outcome}")
    print(
        "\nPer round: the ratio beside the ceiling the read + parse floors allow it "
        f"(extra read + parse spread over {args.consumers} consumer process(es))"
    )
    print(
        f"  {'round':>5} {'ratio':>6} {'ceiling':>8} {'ratio 1st-commit-on':>20} "
        f"{'ceiling':>8} {'read us UE':>11} {'read us LL':>11} "
        f"{'parse us UE':>12} {'parse us LL':>12}"
    )
    for round_no in range(1, args.rounds + 1):
        usage, native = (run for run in runs if run["round"] == round_no)
        read_u, read_n = 1e6 / usage["raw"], 1e6 / native["raw"]
        extra_us = (read_n - read_u) + (parsing["litellm"] - parsing["usage_event"])
        spread_us = max(extra_us, 0.0) / args.consumers
        ceiling, steady_ceiling = (
            (1e6 / usage[figure]) / (1e6 / usage[figure] + spread_us)
            for figure in ("e2e", "steady")
        )
        print(
            f"  {round_no:>5} {native['e2e'] / usage['e2e']:>6.2f} {ceiling:>8.2f} "
            f"{native['steady'] / usage['steady']:>20.2f} {steady_ceiling:>8.2f} "
            f"{read_u:>11.1f} {read_n:>11.1f} {parsing['usage_event']:>12.1f} "
            f"{parsing['litellm']:>12.1f}"
        )
    print("\nParsing, CPU us per message in this process (best of 15; the first is the floor)")
    print(f"  UsageEvent                               {parsing['usage_event']:>8.1f}")
    print(f"  LiteLLM, adapt_message (fast path)       {parsing['litellm']:>8.1f}")
    print(f"  LiteLLM, the full adapter alone          {parsing['litellm_full_adapter']:>8.1f}")
    print(f"\nTrial balance zero in every book: {'yes' if balanced else 'NO'}")
    last = runs[-1]["output"].strip().splitlines()[-3:]
    print("Last consumer's last lines:\n  " + "\n  ".join(last))
    return 0 if balanced else 1


if __name__ == "__main__":
    sys.exit(main())
