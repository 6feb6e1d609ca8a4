"""What ``history(last: 14)`` on every item adds to a listing of 50 (issue 17's goal: at
most 1.3x the same listing without it).

    python -m tests.benchmarks.bench_history [--repeats 7] [--requests 40]    # make bench runs it

The benchmark's own database (``tests.benchmarks.database``: 10,000 products, seeded once
and kept), a fortnight of daily buckets for every product (written afresh on each run),
the real server (uvicorn, one worker, ``tests.benchmarks.server``) and ``hey`` as the client
(``tests.benchmarks.native``; the Python generator without it), at c=1. Each repeat times
the plain listing and the listing with history back to back, in alternating order, and
takes the ratio of their p50s; the figure is the median of those ratios. Many short runs
rather than a few long ones: this machine's neighbours take the core for seconds at a time,
and a pair of runs close together is more likely to see the same machine. The server's CPU
time per request (``/proc``, every thread) is reported beside it as the same ratio: it does
not grow when a neighbour takes the core, so it shows what the work itself costs. A third variant,
``history(last: 14) { start views }`` (a sparkline), shows how the cost follows the fields
selected: each bucket is an object whose fields graphql-core completes one by one. Both answers are
checked first (50 items, 14 buckets each) and their SQL counted inside the server.
Writes ``results/history.json`` (``history-postgresql.json`` on PostgreSQL) and prints one summary
line per figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from tests.benchmarks import database
from tests.benchmarks.profile_listing import LISTING

PRODUCTS = 10_000
FIRST = 50
DAYS = 14
GOAL = 1.3
HISTORY = "history(last: 14) { start views clicks sales uniqueViewers revenue }"
SPARKLINE = "history(last: 14) { start views }"  # what a storefront's sparkline needs
RESULTS = Path(__file__).resolve().parent / "results" / "history.json"


def listing(history: str | None) -> str:
    document = LISTING % FIRST
    return document.replace("conversionRate }", f"conversionRate {history} }}") if history else document


def seed_buckets() -> int:
    """A fortnight of daily rows for every product, replacing any from before."""
    from django.db import transaction

    from marketplace.models import Product
    from tracking.history import Granularity, clock, periods_ending_now
    from tracking.models import DailyMetrics

    starts, _ = periods_ending_now(Granularity.DAY, DAYS, clock())
    ids = list(Product.objects.values_list("id", flat=True))
    with transaction.atomic():
        DailyMetrics.objects.all().delete()
        rows = (
            DailyMetrics(product_id=pid, start=start, views=(pid * 7 + i) % 50, clicks=(pid + i) % 9, unique_viewers=1)
            for pid in ids
            for i, start in enumerate(starts)
        )
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) == 5000:
                DailyMetrics.objects.bulk_create(batch)
                batch = []
        DailyMetrics.objects.bulk_create(batch)
    database.checkpoint()
    return len(ids) * DAYS


def check(server, fetch) -> None:
    for history in (None, HISTORY, SPARKLINE):
        body = json.loads(fetch(server, graphql(listing(history))))
        if "errors" in body:
            raise RuntimeError(f"the listing failed: {body['errors']}")
        edges = body["data"]["products"]["edges"]
        assert len(edges) == FIRST, len(edges)
        if history:
            assert all(len(e["node"]["metrics"]["history"]) == DAYS for e in edges)
            if not any(b["views"] for e in edges for b in e["node"]["metrics"]["history"]):
                raise RuntimeError("the history came back empty: the buckets were not read")


def graphql(query: str) -> dict:
    return {"method": "POST", "path": "/graphql/", "body": json.dumps({"query": query})}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="back-to-back runs (15); the figure is their median")
    parser.add_argument("--requests", type=int, default=25, help="measured requests per run (25)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    load_start = os.getloadavg()
    choice = database.choose_database(PRODUCTS, flush_given=False)
    database.setup_django(choice)
    from tests.benchmarks import server as server_control
    from tests.benchmarks.run import fetch, load, queries_of

    prepared = database.prepare(PRODUCTS, choice, print)
    rows = seed_buckets()
    database.close_connections()
    server = server_control.start(choice.url)
    pairs = []
    try:
        check(server, fetch)
        variants = {"plain": None, "history": HISTORY, "sparkline": SPARKLINE}
        requests = {name: graphql(listing(history)) for name, history in variants.items()}
        queries = {name: queries_of(server, request) for name, request in requests.items()}
        for repeat in range(args.repeats):
            order = list(requests) if repeat % 2 == 0 else list(reversed(requests))
            p50, cpu = {}, {}
            for name in order:
                before = server.cpu_ms()
                result = load(server, requests[name], requests=args.requests, concurrency=1)
                served = sum(result["statuses"].values())  # warm-up and the answer check included
                p50[name], cpu[name] = result["p50_ms"], (server.cpu_ms() - before) / served
            ratios = {
                "ratio": p50["history"] / p50["plain"],
                "sparkline_ratio": p50["sparkline"] / p50["plain"],
                "cpu_ratio": cpu["history"] / cpu["plain"],
                "sparkline_cpu_ratio": cpu["sparkline"] / cpu["plain"],
            }
            pairs.append({**p50, **{f"{name}_cpu_ms": value for name, value in cpu.items()}, **ratios})
            print(
                f"  [{repeat + 1}/{args.repeats}] plain {p50['plain']:.1f} ms  "
                f"history {p50['history']:.1f} ms ({ratios['ratio']:.2f}x, CPU {ratios['cpu_ratio']:.2f}x)  "
                f"sparkline {p50['sparkline']:.1f} ms ({ratios['sparkline_ratio']:.2f}x, "
                f"CPU {ratios['sparkline_cpu_ratio']:.2f}x)",
                flush=True,
            )
    finally:
        database.close_connections()
        server_control.stop(server)
    ratio = statistics.median(p["ratio"] for p in pairs)
    results = {
        "database": {**prepared, "daily_buckets": rows},
        "first": FIRST,
        "last": DAYS,
        "queries": queries,
        "pairs": pairs,
        "plain_p50_ms": statistics.median(p["plain"] for p in pairs),
        "history_p50_ms": statistics.median(p["history"] for p in pairs),
        "median_ratio": ratio,
        "sparkline_p50_ms": statistics.median(p["sparkline"] for p in pairs),
        "sparkline_median_ratio": statistics.median(p["sparkline_ratio"] for p in pairs),
        "server_cpu_ms": {n: statistics.median(p[f"{n}_cpu_ms"] for p in pairs) for n in requests},
        "cpu_median_ratio": statistics.median(p["cpu_ratio"] for p in pairs),
        "sparkline_cpu_median_ratio": statistics.median(p["sparkline_cpu_ratio"] for p in pairs),
        "goal": GOAL,
        "met": ratio <= GOAL,
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "seconds": round(time.monotonic() - started, 1),
    }
    results_path = RESULTS if choice.vendor == "sqlite" else RESULTS.with_name(f"history-{choice.vendor}.json")
    results_path.write_text(json.dumps(results, indent=1))
    busy = load_start[0] > 0.5 * (os.cpu_count() or 1)
    print(
        f"History: listing of {FIRST} with history(last: {DAYS}) vs without, c=1, {choice.vendor}: "
        f"p50 {results['history_p50_ms']:.1f} ms vs {results['plain_p50_ms']:.1f} ms, median ratio {ratio:.2f}x "
        f"(goal <= {GOAL}x: {'met' if results['met'] else 'MISSED'}); SQL {queries['history']} vs {queries['plain']}; "
        f"with {SPARKLINE}: {results['sparkline_median_ratio']:.2f}x; server CPU per request "
        f"{results['cpu_median_ratio']:.2f}x (sparkline {results['sparkline_cpu_median_ratio']:.2f}x)"
        + (f"; machine busy (load {load_start[0]:.1f}): noisy" if busy else "")
    )


if __name__ == "__main__":
    main()
