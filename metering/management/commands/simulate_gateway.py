"""A small simulated gateway for the embedded run: it reports usage of real models for
the demo customers to POST /v1/usage, as LiteLLM or an OpenRouter-style proxy would."""

import json
import random
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from urllib.parse import urlparse

from django.core.management.base import BaseCommand, CommandError

from metering.demo import DEMO_GATEWAY_KEY, DEMO_SOURCE, DIRECT, VIA_RESELLER

MODELS = [  # (provider, model, share): cheap models carry most of the traffic
    ("deepseek", "deepseek-chat", 30),
    ("openai", "gpt-4o-mini", 25),
    ("gemini", "gemini-2.5-flash", 15),
    ("dashscope", "qwen-plus", 10),
    ("openai", "gpt-4o", 10),
    ("anthropic", "claude-sonnet-4-5", 10),
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
REQUEST_TIMEOUT_S = 10


class Command(BaseCommand):
    help = "Send simulated usage to the local API (loopback only), bounded in count and time."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("--requests-per-s", type=float, default=2.0)
        parser.add_argument("--duration-s", type=float, default=3600.0)
        parser.add_argument("--requests-max", type=int, default=10_000)
        parser.add_argument("--wait-for-server-s", type=float, default=60.0)

    def handle(self, *args, **options):
        if urlparse(options["url"]).hostname not in LOOPBACK_HOSTS:
            raise CommandError("the simulated gateway only sends to this machine (loopback)")
        endpoint = options["url"].rstrip("/") + "/v1/usage"
        self._wait_for_server(options["url"], options["wait_for_server_s"])
        rng = random.Random()
        interval_s = 1 / max(options["requests_per_s"], 0.01)
        deadline = time.monotonic() + options["duration_s"]
        sent = booked = 0
        while sent < options["requests_max"] and time.monotonic() < deadline:
            events = [self._event(rng) for _ in range(rng.randint(1, 5))]
            try:
                answer = self._post(endpoint, {"events": events})
            except (urllib.error.URLError, OSError) as exc:
                self.stderr.write(f"simulated gateway: {exc}; retrying")
                time.sleep(min(5, interval_s * 5))
                continue
            sent += 1
            booked += answer.get("accepted", 0)
            if sent % 20 == 0:
                self.stdout.write(f"simulated gateway: {sent} requests, {booked} events booked")
            time.sleep(interval_s)

    @staticmethod
    def _event(rng: random.Random) -> dict:
        provider, model = rng.choices([m[:2] for m in MODELS], [m[2] for m in MODELS])[0]
        return {
            "event_id": f"sim-{uuid.uuid4().hex}",
            "occurred_at": datetime.now(UTC).isoformat(),
            "customer": rng.choice(DIRECT + VIA_RESELLER),
            "model": model,
            "provider": provider,
            "tokens": {
                "input": rng.randint(200, 20_000),
                "output": rng.randint(50, 3_000),
                "cache_read": rng.choice((0, 0, 1024, 4096)),
                "cache_write": 0,
                "reasoning": 0,
            },
            "source": DEMO_SOURCE,
        }

    @staticmethod
    def _post(endpoint: str, body: dict) -> dict:
        request = urllib.request.Request(
            endpoint,
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {DEMO_GATEWAY_KEY}",
            },
        )
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            return json.loads(response.read())

    def _wait_for_server(self, base_url: str, limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(base_url.rstrip("/") + "/healthz", timeout=2)
                return
            except (urllib.error.URLError, OSError):
                time.sleep(1)
        raise CommandError(f"no server answered at {base_url} within {limit_s:.0f} s")
