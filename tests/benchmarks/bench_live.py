"""Live metrics, measured: ``python -m tests.benchmarks.bench_live``.

1. Latency from a batch's write to its receipt by websocket clients, at 1, 100 and 500
   subscribers of one product on one uvicorn process: the clients (one asyncio process)
   send ``trackProductView`` once per round and note when each socket receives the update;
   latency = receipt time - ``metrics.updatedAt`` (the upsert's timestamp, taken inside the
   transaction just before commit: the figure includes the commit, the read of the totals,
   the channel layer, the fan-out, GraphQL execution per subscriber and the client's own
   parsing). p50 and p99 over every socket and round. All clients connect from 127.0.0.1,
   i.e. as one visitor, so the benchmark's server raises WEBSOCKET_CONNECTIONS_PER_VISITOR
   (20 by default) to 10,000 for itself.
2. Drain throughput of the tracking executor (events per second applied, in-process
   applier, SQLite) with nobody listening, and with 100 subscriptions of 100 products each
   reading their mailboxes in the same process (goal: at least 0.9x). Runs alternate
   (0, 100, 100, 0, ...) from the same database; the medians are compared.

Uses a SQLite file under ``tests/benchmarks/work/`` and writes ``results/live.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "tests" / "benchmarks" / "work"
RESULTS = ROOT / "tests" / "benchmarks" / "results"
DATABASE = WORK / "live.sqlite3"
QUERY = "subscription($ids: [ID!]!) { productMetricsUpdated(productIds: $ids) { metrics { totalViews updatedAt } } }"


def setup() -> None:
    for path in WORK.glob("live.sqlite3*"):
        path.unlink()
    os.environ["DATABASE_URL"] = f"sqlite:///{DATABASE}"
    # As in production: DEBUG's cursor wrapper would format every statement for the log.
    os.environ.update(DEBUG="0", SECRET_KEY="bench-live-" + "x" * 50, ALLOWED_HOSTS="127.0.0.1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("seed_demo", products=1000, if_empty=True, verbosity=0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def start_server(port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "bench-live-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "WEBSOCKET_CONNECTIONS_PER_VISITOR": "10000",  # every client is 127.0.0.1: one visitor
        "TRACKING_RATE_LIMIT": "1000000",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    from tests.live.client import post

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            post(f"http://127.0.0.1:{port}", "{ __typename }")
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the benchmark server did not start")


HTTP_TIMEOUT = 120.0  # seconds: at 500 subscribers the server's loop is busy fanning out for a while


async def latency_at(base_url: str, product_gid: str, subscribers: int, rounds: int) -> dict:
    from tests.live.client import LiveSocket, total_views, track_view

    sockets = []
    for start in range(0, subscribers, 50):  # open in waves: the accept backlog is finite
        sockets += await asyncio.gather(
            *(LiveSocket.open(base_url, max_size=None) for _ in range(min(50, subscribers - start)))
        )
    for client in sockets:
        await client.subscribe("1", QUERY, {"ids": [product_gid]})
    # Warm-up: one view at a time until every socket got an update, so that a subscription
    # still registering is not counted as latency (and the server is not flooded meanwhile).
    warm = [asyncio.create_task(client.next_for("1", timeout=600)) for client in sockets]
    while waiting := [task for task in warm if not task.done()]:
        await asyncio.to_thread(track_view, base_url, product_gid, HTTP_TIMEOUT)
        await asyncio.wait(waiting, timeout=10)
    await asyncio.gather(*warm)
    samples: list[float] = []

    async def receipt(client: LiveSocket, expected: int) -> tuple[float, dict]:
        while True:  # updates of the warm-up rounds may still be queued: skip to this round's
            message = await client.next_for("1", timeout=300)
            metrics = message["payload"]["data"]["productMetricsUpdated"]["metrics"]
            if metrics["totalViews"] >= expected:
                return time.time(), metrics

    for _ in range(rounds):
        await asyncio.sleep(0.5)  # rounds apart: one batch each
        expected = await asyncio.to_thread(total_views, base_url, product_gid, HTTP_TIMEOUT) + 1
        waiting = [asyncio.create_task(receipt(client, expected)) for client in sockets]
        await asyncio.to_thread(track_view, base_url, product_gid, HTTP_TIMEOUT)
        for received_at, metrics in await asyncio.gather(*waiting):
            written = datetime.fromisoformat(metrics["updatedAt"]).timestamp()
            samples.append((received_at - written) * 1000)
    await asyncio.gather(*(client.close() for client in sockets))
    return {
        "subscribers": subscribers,
        "rounds": rounds,
        "p50_ms": round(statistics.median(samples), 1),
        "p99_ms": round(percentile(samples, 0.99), 1),
    }


def latencies(rounds: int, counts: list[int]) -> list[dict]:
    from graph.ids import global_id
    from marketplace.models import Product
    from tests.scaleout.servers import free_port

    product_gid = global_id("Product", Product.objects.filter(is_active=True).values_list("id", flat=True).first())
    port = free_port()
    server = start_server(port)
    try:
        rows = []
        for n in counts:
            try:
                rows.append(asyncio.run(latency_at(f"http://127.0.0.1:{port}", product_gid, n, rounds)))
            except Exception as exc:  # a loaded machine: report it, and still measure the rest
                rows.append({"subscribers": n, "error": f"{type(exc).__name__}: {exc}"})
        return rows
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def reset_activity() -> None:
    """Every run starts from the same database: without the activity rows earlier runs added
    and with an empty write-ahead log (each run inserts 50,000 rows, and later runs were
    measurably slower for it whatever they measured)."""
    from django.db import connection

    from tracking.models import ActivityEvent, AppliedBatch

    with connection.cursor() as cursor:
        for model in (ActivityEvent, AppliedBatch):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def drain(events: int, subscribers: int) -> dict:
    """Events per second the executor applies, with ``subscribers`` mailboxes read in-process."""
    from graph.subscriptions.hub import hub
    from marketplace.models import Product
    from tracking import live
    from tracking.events import TrackingEvent
    from tracking.executor import EventExecutor
    from tracking.models import EventKind

    ids = list(Product.objects.values_list("id", flat=True)[:1000])
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    received = [0]
    tasks = []

    async def subscriber(n: int) -> None:
        watched = [ids[(n * 10 + i) % len(ids)] for i in range(100)]
        async with hub.subscription(product_ids=watched) as mailbox:
            while True:
                received[0] += len(await mailbox.take())

    async def start() -> None:
        await hub.start()
        for n in range(subscribers):
            tasks.append(asyncio.create_task(subscriber(n)))
        await asyncio.sleep(0.1)

    reset_activity()
    if subscribers:
        asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    handed_off, reads = live.handed_off, hub.reads
    executor = EventExecutor()
    started = time.perf_counter()
    offered = 0
    while offered < events:
        chunk = [TrackingEvent(EventKind.VIEW, ids[(offered + i) % len(ids)]) for i in range(500)]
        if executor.offer(chunk):
            offered += len(chunk)
        else:
            time.sleep(0.001)
    executor.flush(300)
    elapsed = time.perf_counter() - started
    executor.shutdown(10)
    time.sleep(0.5)

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await hub.stop()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    return {
        "subscribers": subscribers,
        "events": events,
        "seconds": round(elapsed, 3),
        "events_per_second": round(events / elapsed),
        "batches_handed_off": live.handed_off - handed_off,
        "totals_queries": hub.reads - reads,
        "updates_taken_by_subscribers": received[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--subscribers", default="1,100,500")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    load_at_start = os.getloadavg()
    setup()
    counts = [int(n) for n in args.subscribers.split(",")]
    latency = latencies(args.rounds, counts)
    # Alternated (0, 100, 100, 0, ...), median of each: the machine's load drifts over a minute.
    runs = {0: [], 100: []}
    for repeat in range(args.repeats):
        for subscribers in (0, 100) if repeat % 2 == 0 else (100, 0):
            runs[subscribers].append(drain(args.events, subscribers))
    drains = {n: sorted(r, key=lambda d: d["events_per_second"])[len(r) // 2] for n, r in runs.items()}
    ratio = drains[100]["events_per_second"] / drains[0]["events_per_second"]
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg(),
        },
        "arguments": vars(args),
        "latency_write_to_receipt": latency,
        "drain_without_subscribers": drains[0],
        "drain_with_100_subscribers": drains[100],
        "drain_runs_events_per_second": {n: [r["events_per_second"] for r in runs[n]] for n in runs},
        "drain_ratio": round(ratio, 3),
        "drain_goal_met": ratio >= 0.9,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "live.json").write_text(json.dumps(result, indent=2) + "\n")
    print("Live metrics: batch write -> websocket receipt (one uvicorn process)")
    for row in latency:
        if "error" in row:
            print(f"  {row['subscribers']:>4} subscribers: failed ({row['error']})")
        else:
            print(f"  {row['subscribers']:>4} subscribers: p50 {row['p50_ms']:>7.1f} ms   p99 {row['p99_ms']:>7.1f} ms")
    print(
        f"Drain: {drains[0]['events_per_second']:,} events/s without subscribers, "
        f"{drains[100]['events_per_second']:,} with 100 ({ratio:.2f}x, goal >= 0.9x)"
    )


if __name__ == "__main__":
    main()
