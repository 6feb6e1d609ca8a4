"""The celery tracking backend, measured: ``python -m tests.benchmarks.bench_celery``.

1. End-to-end throughput with one Celery worker: events offered to the web process's
   executor (``TRACKING_BACKEND=celery``) until the counters in the database show them
   all, as events per second.
2. ``trackProductView`` p50 against ``{ __typename }`` on the same uvicorn server in
   celery mode, alternated, median of the per-repeat ratios (goal: within 1.2x).

It uses a SQLite file under ``tests/benchmarks/work/`` (or ``--database-url``), a real
redis-server and a real Celery worker, and writes ``results/celery.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.benchmarks.loadgen import run_in_child

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "tests" / "benchmarks" / "work"
RESULTS = ROOT / "tests" / "benchmarks" / "results"


def setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("seed_demo", products=1000, if_empty=True, verbosity=0)


def counter_total() -> int:
    from tracking.models import ProductMetrics

    return sum(ProductMetrics.objects.values_list("total_views", flat=True))


def throughput(events: int) -> dict:
    from marketplace.models import Product
    from tracking.celery_backend import celery_applier
    from tracking.events import TrackingEvent
    from tracking.executor import EventExecutor
    from tracking.models import EventKind

    ids = list(Product.objects.values_list("id", flat=True)[:1000])
    executor = EventExecutor(applier=celery_applier())
    before = counter_total()
    started = time.perf_counter()
    offered = 0
    while offered < events:
        chunk = [TrackingEvent(EventKind.VIEW, ids[(offered + i) % len(ids)]) for i in range(500)]
        if executor.offer(chunk):
            offered += len(chunk)
        else:
            time.sleep(0.001)  # the queue is full: wait for the workers, as a real client would be refused
    executor.flush(120)
    handed_over = time.perf_counter() - started
    while counter_total() - before < events and time.perf_counter() - started < 300:
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    executor.shutdown(10)
    applied = counter_total() - before
    return {
        "events": events,
        "applied": applied,
        "exact": applied == events,
        "seconds": round(elapsed, 3),
        "events_per_second": round(events / elapsed),
        "handed_to_redis_seconds": round(handed_over, 3),
    }


def latency(server_url: str, port: int, product_gid: str, repeats: int, requests: int) -> dict:
    def run(body: str) -> list[float]:
        spec = {
            "host": "127.0.0.1",
            "port": port,
            "method": "POST",
            "path": "/graphql/",
            "body": body,
            "headers": {"Content-Type": "application/json"},
            "requests": requests,
            "concurrency": 1,
            "warmup": 20,
        }
        return run_in_child(spec)["latencies_ms"]

    typename = json.dumps({"query": "{ __typename }"})
    track = json.dumps(
        {"query": 'mutation { trackProductView(productId: "%s") { accepted } }' % product_gid}  # noqa: UP031
    )
    ratios, p50_typename, p50_track = [], [], []
    for _ in range(repeats):
        a = statistics.median(run(typename))
        b = statistics.median(run(track))
        p50_typename.append(a)
        p50_track.append(b)
        ratios.append(b / a)
    return {
        "typename_p50_ms": round(statistics.median(p50_typename), 3),
        "track_p50_ms": round(statistics.median(p50_track), 3),
        "ratio": round(statistics.median(ratios), 3),
        "goal_met": statistics.median(ratios) <= 1.2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=f"sqlite:///{WORK / 'celery.sqlite3'}")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    default_file = WORK / "celery.sqlite3"
    if args.database_url == f"sqlite:///{default_file}":
        # Start from a fresh file: rows piled up by a dozen earlier runs cost half the
        # throughput here (6.3k against 12.9k events/s for the same code).
        for path in WORK.glob("celery.sqlite3*"):
            path.unlink()
    setup(args.database_url)

    from config.celery import app
    from graph.ids import global_id
    from marketplace.models import Product
    from tests.scaleout.servers import free_port, start_redis, start_worker

    redis = start_redis()
    app.conf.broker_url = redis.url
    worker = start_worker(redis.url, ("DATABASE_URL", args.database_url))
    server = None
    try:
        result = {"throughput": throughput(args.events)}
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": args.database_url,
            "TRACKING_BACKEND": "celery",
            "REDIS_URL": redis.url,
            "DEBUG": "0",
            "SECRET_KEY": "bench-" + "x" * 50,
            "TRACKING_RATE_LIMIT": "0",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port), "--no-access-log"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(4)
        gid = global_id("Product", Product.objects.filter(is_active=True).values_list("id", flat=True).first())
        result["latency"] = latency(f"http://127.0.0.1:{port}", port, gid, args.repeats, args.requests)
        result["machine"] = {"nproc": os.cpu_count(), "database": args.database_url.split(":")[0]}
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        worker.stop()
        redis.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "celery.json").write_text(json.dumps(result, indent=2) + "\n")
    t, lat = result["throughput"], result["latency"]
    print("| measure | value |\n|---|---|")
    print(
        f"| end-to-end events/s, API executor -> Redis -> 1 worker -> counters | {t['events_per_second']:,} "
        f"({t['events']:,} events in {t['seconds']} s, exact: {t['exact']}) |"
    )
    print(
        f"| trackProductView p50 / {{ __typename }} p50 (celery mode) | {lat['track_p50_ms']} ms / "
        f"{lat['typename_p50_ms']} ms = {lat['ratio']}x (goal 1.2x: {'met' if lat['goal_met'] else 'missed'}) |"
    )


if __name__ == "__main__":
    main()
