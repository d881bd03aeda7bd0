"""Wallets benchmark: POST /v1/authorizations over HTTP on loopback.

    .venv/bin/python benchmarks/wallets_bench.py [--requests N] [--clients 64] [--servers 2]

Needs PostgreSQL (`python -m devservices up postgres`). The run is self-contained: it
creates a private database (`bench_wallets`, dropped at the end unless --keep-db),
migrates it, imports real catalogue prices for two models, makes a distributor with
1,001 prepaid customers (one hot wallet and 1,000 others), each with an API key and a
top-up, then starts real HTTP servers (`manage.py runserver --noreload`, one process per
--servers, on 127.0.0.1) and drives them with --clients concurrent keep-alive clients
(threads in two client processes). Two scenarios, each bounded by --requests and
--duration-max-s:
  hot:     every request spends the same wallet, funded for 90% of the requests, so the
           rest are declined (insufficient_funds) and the overdraft check has teeth;
  spread:  requests spread over 1,000 wallets, each funded generously.
Servers decide concurrent authorizations in batches (wallets.batching) unless
--no-batching.
It prints authorizations/s, p50/p99 latency, decisions, and checks that no wallet's
available balance is negative (zero overdrafts), beside the issue's goals.
Then the floor of the HTTP stack: the same clients send the same requests to two
bench-only endpoints of the same servers that do no wallet work (a plain Django view;
DRF with the gateway-key authentication), in benchmarks/stack_floor_urls.py: what any
endpoint on gunicorn + Django on this machine cannot beat.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks._bench_db import (  # noqa: E402
    bench_database_name,
    bench_database_url,
    bench_django_setup,
    bench_django_teardown,
)

SERVER_HOST = "127.0.0.1"
BENCH_DB = bench_database_name("bench_wallets")
BENCH_DATABASE_URL = bench_database_url(BENCH_DB)
PORT_BASE = 18_470
CLIENT_PROCESSES = 2
WALLETS = 1_000
CATALOGUE = (REPO_ROOT / "../shared/data/model_prices_litellm.json").resolve()
PRICES_FROM = datetime(2026, 1, 1, tzinfo=UTC)
MODELS = ["deepseek/deepseek-chat", "gpt-4o"]
REQUEST = {"provider": "deepseek", "model": "deepseek-chat"}
MAX_IN, MAX_OUT = 4_000, 1_000
GOAL_PER_S, GOAL_P99_MS = 1_000, 50.0
AUTHORIZE_PATH = "/v1/authorizations"
# What the same servers do without the wallet's decision (benchmarks/stack_floor_urls.py).
FLOOR_PATHS = {
    "stack floor, plain Django view": "/bench/floor/django",
    "stack floor, DRF + gateway-key auth": "/bench/floor/gateway",
}
SERVER_START_TIMEOUT_S = 60
CLIENT_TIMEOUT_S = 30


def progress(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", flush=True)


# --- the private database and its world --------------------------------------------------


def build_world(requests_hot: int) -> dict:
    """Customers, keys and top-ups; returns what the clients and checks need."""
    import uuid

    from django.core.management import call_command

    from ledger import services as ledger_services
    from ledger.models import Account
    from ledger.posting_rules import PostingSpec
    from pricing import services as pricing_services
    from wallets import selectors, services
    from wallets.gateways.keys import gateway_key_create
    from wallets.models import Customer

    call_command("migrate", verbosity=0)
    catalogue = json.loads(CATALOGUE.read_text())
    pricing_services.catalog_import(
        data={key: catalogue[key] for key in MODELS}, effective_from=PRICES_FROM, actor="bench"
    )
    usd = ledger_services.asset_create(code="USD", scale=9)
    book = ledger_services.book_create(code="bench", name="Bench distributor")
    pricing_services.retail_price_book_create(
        book=book, name="list", markup_bps=2000, effective_from=PRICES_FROM, actor="bench"
    )
    customers = Customer.objects.bulk_create(
        [
            Customer(external_id=f"bench-{index}", book=book, currency=usd)
            for index in range(WALLETS + 1)
        ]
    )
    hot, spread = customers[0], customers[1:]
    keys = {c.external_id: services.api_key_create(customer=c, actor="bench")[1] for c in customers}
    estimate = selectors.authorization_estimate_minor(
        customer=hot,
        at=datetime.now(UTC),
        max_input_tokens=MAX_IN,
        max_output_tokens=MAX_OUT,
        **REQUEST,
    )
    # The hot wallet covers 90% of its requests (warm-up included); the others plenty.
    hot_covered = requests_hot * 9 // 10
    funding = {hot.external_id: hot_covered * estimate}
    funding |= {c.external_id: 10_000 * estimate for c in spread}
    cash = ledger_services.account_create(book=book, asset=usd, code="cash:bench", type="asset")
    postings = [PostingSpec(cash.id, usd.id, "D", sum(funding.values()))]
    for customer in customers:
        wallet, _clearing = services.authorization_accounts(customer=customer)
        postings.append(PostingSpec(wallet.id, usd.id, "C", funding[customer.external_id]))
    ledger_services.adjustment_post(
        book=book,
        postings=postings,
        memo="bench top-ups",
        idempotency_key=f"bench:topups:{uuid.uuid4()}",
        actor="bench",
    )
    _gateway, token = gateway_key_create(name="bench", source="bench-gw", actor="bench")
    wallet_ids = {
        c.external_id: Account.objects.get(book=book, code=f"wallet:{c.external_id}").id
        for c in customers
    }
    return {
        "token": token,
        "hot_key": keys[hot.external_id],
        "spread_keys": [keys[c.external_id] for c in spread],
        "estimate": estimate,
        "hot_covered": hot_covered,
        "hot_id": hot.external_id,
        "wallet_ids": wallet_ids,
    }


# --- servers -----------------------------------------------------------------------------


def server_env(batching: bool) -> dict:
    return dict(
        os.environ,
        # The product's settings plus the floor endpoints (benchmarks/stack_floor_urls.py).
        DJANGO_SETTINGS_MODULE="benchmarks.stack_floor_settings",
        DATABASE_URL=BENCH_DATABASE_URL,
        DEBUG="false",
        ALLOWED_HOSTS=SERVER_HOST,
        CELERY_TASK_ALWAYS_EAGER="true",
        KAFKA_BOOTSTRAP_SERVERS="",
        LOG_LEVEL="WARNING",
        WALLETS_AUTHORIZATION_BATCHING="true" if batching else "false",
    )


def server_command(kind: str, port: int, workers: int, threads: int) -> list[str]:
    if kind == "runserver":
        return [
            sys.executable,
            "manage.py",
            "runserver",
            "--noreload",
            "--skip-checks",
            f"{SERVER_HOST}:{port}",
        ]
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config=config/gunicorn.conf.py",
        "config.wsgi",
        f"--bind={SERVER_HOST}:{port}",
        f"--workers={workers}",
        "--worker-class=gthread",
        f"--threads={threads}",
        "--backlog=512",
        "--keep-alive=60",
    ]


def start_servers(kind: str, count: int, batching: bool, threads: int) -> list[subprocess.Popen]:
    """runserver: `count` processes on consecutive ports; gunicorn: one master with
    `count` worker processes of `threads` threads on one port."""
    servers = []
    for index in range(count if kind == "runserver" else 1):
        port = PORT_BASE + index
        with socket.socket() as probe:
            if probe.connect_ex((SERVER_HOST, port)) == 0:
                raise SystemExit(f"port {port} is taken: another bench running?")
        servers.append(
            subprocess.Popen(
                server_command(kind, port, count, threads),
                cwd=REPO_ROOT,
                env=server_env(batching),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    for index in range(len(servers)):
        while True:
            try:
                conn = http.client.HTTPConnection(SERVER_HOST, PORT_BASE + index, timeout=2)
                conn.request("GET", "/v1/authorizations/none")
                conn.getresponse().read()
                conn.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    stop_servers(servers)
                    raise SystemExit("servers did not start in time") from None
                time.sleep(0.2)
    return servers


def stop_servers(servers: list[subprocess.Popen]) -> None:
    for server in servers:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
    for server in servers:
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


# --- clients -----------------------------------------------------------------------------


def _client_process(args) -> list[tuple]:
    """`threads` keep-alive clients; returns (latency_s, decision or error, status,
    wall-clock start, wall-clock end) per request."""
    token, keys, ports, threads, count, deadline_s, seed, target = args
    results: list[tuple] = []
    lock = threading.Lock()
    remaining = [count]
    deadline = time.monotonic() + deadline_s
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    ready = threading.Barrier(threads)

    def run(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        port = ports[index % len(ports)]
        conn = http.client.HTTPConnection(SERVER_HOST, port, timeout=CLIENT_TIMEOUT_S)
        # Connect before the clock starts, one at a time per process: runserver's listen
        # backlog is small, and a gateway keeps its connections open anyway.
        with lock:
            conn.connect()
        ready.wait(timeout=CLIENT_TIMEOUT_S)
        mine = []
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            body = json.dumps(
                {
                    "api_key": rng.choice(keys),
                    "max_input_tokens": MAX_IN,
                    "max_output_tokens": MAX_OUT,
                    **REQUEST,
                }
            )
            started, wall_started = time.perf_counter(), time.time()
            try:
                conn.request("POST", target, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - started
                outcome = (
                    json.loads(payload).get("reason") or "approved"
                    if response.status in (200, 201)
                    else f"http_{response.status}"
                )
                mine.append((elapsed, outcome, response.status, wall_started, time.time()))
            except (OSError, http.client.HTTPException) as exc:
                failed = (time.perf_counter() - started, type(exc).__name__, 0)
                mine.append((*failed, wall_started, time.time()))
                conn.close()
                conn = http.client.HTTPConnection(SERVER_HOST, port, timeout=CLIENT_TIMEOUT_S)
        conn.close()
        with lock:
            results.extend(mine)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def _stat_fields(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _cpu_s(pid: int, *, with_reaped_children: bool = False) -> float:
    """utime + stime of a live process (and, if asked, of its exited children, which
    the kernel adds to cutime + cstime once reaped), in seconds (Linux /proc)."""
    fields = _stat_fields(pid)
    if not fields:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def _tree_cpu_s(root: int) -> float:
    """CPU of a process, its live children and its exited ones."""
    return _cpu_s(root, with_reaped_children=True) + sum(_cpu_s(c) for c in _children(root))


def cpu_sample(servers: list[subprocess.Popen]) -> dict[str, float]:
    """CPU seconds used so far by the servers (with their workers) and by PostgreSQL
    (the postmaster and all its backends, live or exited; nothing else uses it during a
    bench): cost per authorization, independent of whatever else the machine does."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        [backend] = cursor.fetchone()
    postmaster = int(_stat_fields(backend)[1])  # the backend's parent
    connection.close()
    return {
        "server": sum(_tree_cpu_s(server.pid) for server in servers),
        "postgres": _tree_cpu_s(postmaster),
    }


def cpu_report(before: dict, after: dict, count: int) -> None:
    if not count:
        return
    server_ms = (after["server"] - before["server"]) * 1000 / count
    postgres_ms = (after["postgres"] - before["postgres"]) * 1000 / count
    print(
        f"  CPU per request: servers {server_ms:.2f} ms, PostgreSQL {postgres_ms:.2f} ms "
        f"(2 cores allow at most {2000 / (server_ms + postgres_ms):,.0f}/s before clients)"
    )


def drive(
    token, keys, ports, clients, requests, duration_max_s, target=AUTHORIZE_PATH
) -> tuple[list, float]:
    per_process = [clients // CLIENT_PROCESSES] * CLIENT_PROCESSES
    per_process[0] += clients - sum(per_process)
    counts = [requests // CLIENT_PROCESSES] * CLIENT_PROCESSES
    counts[0] += requests - sum(counts)
    jobs = [
        (token, keys, ports, per_process[i], counts[i], duration_max_s, i, target)
        for i in range(CLIENT_PROCESSES)
    ]
    with multiprocessing.get_context("fork").Pool(CLIENT_PROCESSES) as pool:
        parts = pool.map(_client_process, jobs)
    rows = [row for part in parts for row in part]
    # From the first request sent to the last answer received (connecting excluded).
    elapsed = max(row[4] for row in rows) - min(row[3] for row in rows) if rows else 0.0
    return rows, elapsed


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, int(round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def report(name: str, results: list, elapsed_s: float, *, noun: str = "authorizations") -> dict:
    latencies = sorted(row[0] for row in results)
    outcomes: dict[str, int] = {}
    for _latency, outcome, *_rest in results:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    rate = len(results) / elapsed_s if elapsed_s else 0.0
    p50, p99 = percentile(latencies, 0.50) * 1000, percentile(latencies, 0.99) * 1000
    print(f"\n{name}: {len(results):,} {noun} in {elapsed_s:.1f} s")
    print(
        f"  {noun}/s {rate:10,.0f}   goal >= {GOAL_PER_S:,}   "
        f"{'MET' if rate >= GOAL_PER_S else 'NOT MET'}"
    )
    print(
        f"  p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   goal p99 < {GOAL_P99_MS:.0f} ms   "
        f"{'MET' if p99 < GOAL_P99_MS else 'NOT MET'}"
    )
    print(f"  outcomes: {dict(sorted(outcomes.items()))}")
    return {"rate": rate, "p50_ms": p50, "p99_ms": p99, "outcomes": outcomes}


def overdrafts(wallet_ids: dict[str, int]) -> list[tuple[str, int]]:
    from ledger.selectors import account_balance_get

    found = []
    for external_id, account_id in wallet_ids.items():
        available = account_balance_get(account_id=account_id).available
        if available < 0:
            found.append((external_id, available))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="per scenario (max 200k)")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--servers", type=int, default=2, help="server processes")
    parser.add_argument("--server", choices=["gunicorn", "runserver"], default="gunicorn")
    parser.add_argument("--threads", type=int, default=32, help="gunicorn threads per process")
    parser.add_argument("--duration-max-s", type=float, default=120.0)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument(
        "--no-batching",
        action="store_true",
        help="one transaction per authorization (WALLETS_AUTHORIZATION_BATCHING=false)",
    )
    args = parser.parse_args()
    requests = max(100, min(args.requests, 200_000))
    clients = max(1, min(args.clients, 256))
    servers_count = max(1, min(args.servers, 16))

    progress(f"creating database {BENCH_DB}")
    bench_django_setup(BENCH_DB)
    from django.db import connection

    servers: list[subprocess.Popen] = []
    try:
        progress("migrating, importing prices, 1,001 customers with keys and top-ups")
        world = build_world(requests + 2 * servers_count)
        connection.close()  # no connection of ours held across the fork of the clients
        progress(f"starting {servers_count} {args.server} process(es)")
        servers = start_servers(
            args.server, servers_count, batching=not args.no_batching, threads=args.threads
        )
        ports = [PORT_BASE + i for i in range(len(servers))]
        # Warm-up: each server loads prices and caches accounts; on the hot wallet.
        drive(world["token"], [world["hot_key"]], ports, servers_count, 2 * servers_count, 30)
        progress(f"hot wallet: {requests:,} requests from {clients} clients")
        before = cpu_sample(servers)
        rows, elapsed = drive(
            world["token"], [world["hot_key"]], ports, clients, requests, args.duration_max_s
        )
        hot = report("one hot wallet", rows, elapsed)
        cpu_report(before, cpu_sample(servers), len(rows))
        progress(f"1,000 wallets: {requests:,} requests from {clients} clients")
        before = cpu_sample(servers)
        rows, elapsed = drive(
            world["token"], world["spread_keys"], ports, clients, requests, args.duration_max_s
        )
        spread = report("1,000 wallets", rows, elapsed)
        cpu_report(before, cpu_sample(servers), len(rows))
        from wallets.models import Authorization

        approved_hot = Authorization.objects.filter(
            customer__external_id=world["hot_id"], decision="approved"
        ).count()
        bad = overdrafts(world["wallet_ids"])
        print(
            f"\nhot wallet funded for {world['hot_covered']:,} holds of {world['estimate']:,} "
            f"nano-USD: {approved_hot:,} approved "
            f"({'exact' if approved_hot == world['hot_covered'] else 'NOT exact'})"
        )
        print(
            f"overdrafts (wallets with available < 0): {len(bad)}   goal 0   "
            f"{'MET' if not bad else 'NOT MET'}"
        )
        for name, target in FLOOR_PATHS.items():
            progress(f"{name}: {requests:,} requests from {clients} clients")
            before = cpu_sample(servers)
            rows, elapsed = drive(
                world["token"],
                [world["hot_key"]],
                ports,
                clients,
                requests,
                args.duration_max_s,
                target,
            )
            report(name, rows, elapsed, noun="requests")
            cpu_report(before, cpu_sample(servers), len(rows))
        print(
            f"\nmachine: {os.cpu_count()} CPUs; servers {servers_count}; clients {clients}; "
            f"batching {'off' if args.no_batching else 'on'}"
        )
        _ = (hot, spread)
    finally:
        stop_servers(servers)
        bench_django_teardown(BENCH_DB, keep=args.keep_db)
        if not args.keep_db:
            progress(f"dropped {BENCH_DB}")


if __name__ == "__main__":
    main()
