"""What the edge keeps of each native sample, and what stripping a dead letter costs.

    .venv/bin/python benchmarks/edge_bench.py [--repeat N]

No services needed. Per sample of tests/metering/samples (compact JSON, as is and with a
prompt and a completion added as a gateway would hand them over): its bytes whole and
as `<adapter>.edge_record` keeps them; then, in this process (best of 7), the CPU per
message the consumer spends keeping only the edge record of a dead letter
(`metering.adapters.edge_value`: parse, project, encode) beside the floor every message
costs anyway, its adapting (`adapt_message`, the same bytes and headers). Only dead
letters are stripped, so a batch with none pays nothing.
"""

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

from metering.adapters import EDGE_RECORDS, adapt_message, edge_value  # noqa: E402
from metering.schema import InvalidUsageEvent  # noqa: E402

SAMPLES = REPO_ROOT / "tests/metering/samples"
KINDS = {
    "openai_chat_completion.json": "openai",
    "openai_chat_completion_reasoning.json": "openai",
    "openai_response.json": "openai",
    "anthropic_message.json": "anthropic",
    "anthropic_message_no_cache.json": "anthropic",
    "openrouter_generation.json": "openrouter",
    "litellm_standard_logging_payload.json": "litellm",
}
ARGS = {
    "openai": {"source": "bench", "customer": "acme"},
    "anthropic": {"source": "bench", "customer": "acme", "occurred_at": "2026-06-01T12:00Z"},
    "openrouter": {"source": "bench", "customer": "acme"},
    "litellm": {"source": "bench", "customer": "acme"},
}
PROMPT = "Summarise the attached quarterly report for the board, in plain words. " * 8
COMPLETION = "The quarter closed with revenue up and costs flat; the details follow. " * 12


def with_content(kind: str, record: dict) -> dict:
    """The sample as a real call leaves it: a prompt of ~600 and a completion of ~850 chars."""
    record = copy.deepcopy(record)
    inner = record.get("data", record) if kind == "openrouter" else record
    inner["messages"] = [{"role": "user", "content": PROMPT}]
    inner["completion"] = COMPLETION
    return record


def compact(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def cpu_us(call, repeat: int) -> float:
    best = float("inf")
    for _ in range(7):
        started = time.process_time()
        for _ in range(repeat):
            call()
        best = min(best, time.process_time() - started)
    return best / repeat * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2_000, help="calls per timing")
    args = parser.parse_args()
    print(
        f"  {'sample':40} {'whole B':>8} {'kept B':>7} {'dropped':>8}"
        f"   {'strip us':>8} {'adapt us (floor)':>16}"
    )
    for name, kind in KINDS.items():
        sample = json.loads((SAMPLES / name).read_text())
        for label, record in (("", sample), (" +content", with_content(kind, sample))):
            whole = compact(record)
            kept = compact(EDGE_RECORDS[kind](record))
            strip = cpu_us(lambda v=whole, k=kind: edge_value(k, v), args.repeat)

            def adapt(v=whole, k=kind):
                try:
                    adapt_message(k, v, ARGS[k])
                except InvalidUsageEvent:  # the sample's own answer; timed all the same
                    pass

            floor = cpu_us(adapt, args.repeat)
            print(
                f"  {name.removesuffix('.json') + label:40} {len(whole):>8,} {len(kept):>7,}"
                f" {1 - len(kept) / len(whole):>8.0%}   {strip:>8.1f} {floor:>16.1f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
