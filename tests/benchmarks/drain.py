"""Drain throughput of the tracking executor, in-process, against a naive executor.

``python -m tests.benchmarks.drain --events 100000 --naive-events 10000 --runs 3``
(run by ``tests.benchmarks.run`` with the benchmark database in ``DATABASE_URL``)
prints one JSON line.

coalesced  the product's ``EventExecutor`` with its settings (workers, batch size,
           interval) and ``apply_events``: per batch one multi-row activity insert and
           one counter upsert per product, in one transaction.
one worker the same with a single worker thread (the settings' count may be more): how
           much the workers gain, or lose, by running side by side.
naive      the same executor (same workers, batches and transactions) with an apply
           function that writes each event alone: one ``ActivityEvent`` insert and one
           ``F()`` counter update per event. The difference is the coalescing.

The events cycle over ``--products`` products (impression, impression, view, click), each by
one of ``--visitors`` visitors (a session key; spread so that most views are a new viewer of
their product's hour and day, the costly case for unique viewers).
Each run queues every event with one ``offer`` and times until ``flush`` returns;
afterwards it checks that no event was lost (activity rows and counter sums grew by
exactly the number of events) and deletes the activity rows it wrote. Last, when
pyinstrument is installed, one batch of the executor's size is profiled: how its time
splits between apply_events' steps, and how much of it is CPU in this process. On
PostgreSQL it also times a batch's activity rows by multi-row INSERT against COPY, and
each SQL statement of ``apply_events`` (``compare_activity_writers``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

KINDS = ("impression", "impression", "view", "click")
VISITORS = 5_000


def bench_events(product_ids: list[int], count: int, visitors: int | None = None) -> list:
    from tracking.events import TrackingEvent

    visitors = VISITORS if visitors is None else visitors
    return [
        TrackingEvent(
            KINDS[i % len(KINDS)],
            product_ids[i % len(product_ids)],
            source="bench",
            visitor_key=f"bench-{i * 7919 % visitors}" if visitors else None,
        )
        for i in range(count)
    ]


def naive_apply(events, batch_id=None):
    from django.db import transaction
    from django.db.models import F

    from tracking.apply import BatchResult
    from tracking.events import COUNTER_OF_KIND
    from tracking.models import ActivityEvent, ProductMetrics

    with transaction.atomic():
        for e in events:
            ActivityEvent.objects.create(
                kind=e.kind,
                product_id=e.product_id,
                user_id=e.user_id,
                visitor_key=e.visitor_key,
                source=e.source,
                quantity=e.quantity,
                amount=e.amount,
                created_at=e.created_at,
            )
            counter, sign = COUNTER_OF_KIND[e.kind]
            ProductMetrics.objects.filter(product_id=e.product_id).update(**{counter: F(counter) + sign})
    return BatchResult(applied=len(events), discarded=0)


def _totals(product_ids: list[int]) -> tuple[int, int]:
    from django.db.models import Sum

    from tracking.models import ActivityEvent, ProductMetrics

    sums = ProductMetrics.objects.filter(product_id__in=product_ids).aggregate(
        i=Sum("total_impressions"), v=Sum("total_views"), c=Sum("total_clicks")
    )
    return ActivityEvent.objects.count(), sum(int(v or 0) for v in sums.values())


def _cleanup() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DELETE FROM tracking_activityevent")
        for table in ("tracking_hourlymetrics", "tracking_dailymetrics", "tracking_bucketviewer"):
            if table in connection.introspection.table_names():  # every run starts from empty buckets
                cur.execute(f"DELETE FROM {table}")
        if connection.vendor == "sqlite":
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def measure(label: str, count: int, product_ids: list[int], apply, workers: int | None = None) -> dict:
    from tracking.appliers import InProcessApplier
    from tracking.executor import EventExecutor

    events = bench_events(product_ids, count)
    executor = EventExecutor(max_queue=count, applier=InProcessApplier(write=apply), workers=workers)
    rows_before, counters_before = _totals(product_ids)
    started = time.perf_counter()
    accepted = executor.offer(events)
    drained = executor.flush(timeout=600)
    seconds = time.perf_counter() - started
    executor.shutdown(timeout=10)
    stats = executor.stats()
    rows_after, counters_after = _totals(product_ids)
    _cleanup()
    if stats.failed or not drained:
        sys.exit(f"{label}: {stats.failed} of {count} events failed to apply (drained: {drained}); see the log above")
    return {
        "variant": label,
        "events": count,
        "seconds": seconds,
        "events_per_second": count / seconds,
        "accepted": accepted,
        "drained": drained,
        "batches": stats.batches,
        "failed": stats.failed,
        "lost_rows": count - (rows_after - rows_before),
        "lost_increments": count - (counters_after - counters_before),
        "workers": executor.worker_count,
        "batch_size": executor.batch_size,
        "batch_interval": executor.batch_interval,
    }


APPLY_PARTS = {  # apply_events' steps, by the function that does each
    "write_buckets": "buckets: viewers, hourly and daily upserts",
    "coalesce": "coalesce: one delta per product",
    "_insert_activity": "activity rows: multi-row INSERT",
    "copy_activity": "activity rows: COPY (PostgreSQL)",
    "_upsert_counters": "counters: INSERT ... ON CONFLICT DO UPDATE",
    "__exit__": "commit",
    "__iter__": "which products exist (SELECT)",
}


def profile_apply(product_ids: list[int], batch: int, batches: int) -> dict | None:
    """Where one executor batch goes: apply_events' steps under pyinstrument, and the CPU share."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return None
    from tracking.apply import apply_events

    # Fresh events for every batch, as the drain has: the same batch applied again would find
    # its visitors already counted, and skip the unique-viewer rows a real batch writes.
    events = bench_events(product_ids, batch * batches * 2)
    slices = [events[i * batch : (i + 1) * batch] for i in range(batches * 2)]
    wall, cpu = time.perf_counter(), time.process_time()
    for chunk in slices[:batches]:
        apply_events(chunk)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for chunk in slices[batches:]:
        apply_events(chunk)
    session = profiler.stop()
    _cleanup()
    parts: dict[str, float] = {}

    def find(frame):
        if frame.function == "apply_events":
            for child in frame.children:
                label = APPLY_PARTS.get(child.function, "other")
                parts[label] = parts.get(label, 0.0) + child.time
            parts["other"] = parts.get("other", 0.0) + frame.time - sum(c.time for c in frame.children)
            return
        for child in frame.children:
            find(child)

    find(session.root_frame())
    total = sum(parts.values()) or 1.0
    ms_per_batch = wall * 1000 / batches
    return {
        "batch": batch,
        "ms_per_batch": ms_per_batch,
        "cpu_share": cpu / wall,
        "parts": [
            {"part": k, "share": v / total, "ms": v / total * ms_per_batch}
            for k, v in sorted(parts.items(), key=lambda kv: -kv[1])
        ],
    }


def compare_activity_writers(product_ids: list[int], batch: int, batches: int, rounds: int = 5) -> dict | None:
    """PostgreSQL: a batch's activity rows by multi-row INSERT (``tracking.apply``) against
    one COPY (``tracking.activity_copy``), each in its own transaction, alternated round by
    round; milliseconds per batch (wall and this process's CPU), medians over the rounds.
    And the time per SQL statement of a whole ``apply_events`` batch, by statement kind:
    which part of a batch holds the drain back."""
    from django.db import connection, transaction

    from tracking.activity_copy import copy_activity, copy_supported
    from tracking.apply import _ACTIVITY_COLUMNS, _insert_activity, apply_events
    from tracking.events import TrackingEvent

    if not copy_supported():
        return None
    events = [
        TrackingEvent(KINDS[i % len(KINDS)], product_ids[i % len(product_ids)], source="bench") for i in range(batch)
    ]
    writers = {"insert": _insert_activity, "copy": lambda events: copy_activity(events, _ACTIVITY_COLUMNS)}
    samples: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in writers}
    for round_ in range(rounds):
        for name in writers if round_ % 2 == 0 else reversed(list(writers)):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(batches):
                with transaction.atomic():
                    writers[name](events)
            samples[name]["wall"].append((time.perf_counter() - wall) * 1000 / batches)
            samples[name]["cpu"].append((time.process_time() - cpu) * 1000 / batches)
            _cleanup()
    writes = {name: {k: statistics.median(v) for k, v in sample.items()} for name, sample in samples.items()}

    statements: dict[str, list[float]] = {}

    def timer(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            kind = " ".join(sql.split()[:3])[:40]
            statements.setdefault(kind, []).append((time.perf_counter() - started) * 1000)

    with connection.execute_wrapper(timer):
        for _ in range(batches):
            apply_events(events)
    _cleanup()
    return {
        "batch": batch,
        "ms_per_batch": writes,
        "insert_over_copy_wall": writes["insert"]["wall"] / writes["copy"]["wall"],
        "apply_statements_ms_per_batch": {
            kind: {"count": len(times) / batches, "ms": sum(times) / batches}
            for kind, times in sorted(statements.items(), key=lambda kv: -sum(kv[1]))
        },
    }


def preflight(product_ids: list[int]) -> None:
    """Apply one event of each executor path synchronously, so that a broken database
    (say, a migration the benchmark database lacks) fails now, loudly, not as retried
    batches that turn the timing into sleeps."""
    from tracking.apply import apply_events
    from tracking.events import TrackingEvent

    for apply in (apply_events, naive_apply):
        apply([TrackingEvent(KINDS[0], product_ids[0], source="bench-preflight")])
    _cleanup()


def main() -> None:
    global VISITORS
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--naive-events", type=int, default=10_000)
    parser.add_argument("--products", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--visitors", type=int, default=VISITORS, help="distinct visitors (0: none, as before)")
    args = parser.parse_args()
    VISITORS = args.visitors
    import django

    django.setup()
    from django.db import connection

    from marketplace.models import Product
    from tracking.apply import apply_events

    product_ids = list(Product.objects.order_by("id").values_list("id", flat=True)[: args.products])
    _cleanup()
    preflight(product_ids)
    coalesced, single, naive = [], [], []
    for _ in range(args.runs):  # interleaved, so both see the same machine state
        coalesced.append(measure("coalesced (EventExecutor + apply_events)", args.events, product_ids, apply_events))
        single.append(measure("coalesced, one worker", args.events, product_ids, apply_events, workers=1))
        naive.append(
            measure("naive (one insert + one F() update per event)", args.naive_events, product_ids, naive_apply)
        )
    ratios = [c["events_per_second"] / n["events_per_second"] for c, n in zip(coalesced, naive, strict=True)]
    apply_profile = profile_apply(product_ids, coalesced[0]["batch_size"], batches=20)
    activity_writers = compare_activity_writers(product_ids, coalesced[0]["batch_size"], batches=10)
    print(
        json.dumps(
            {
                "vendor": connection.vendor,
                "products": len(product_ids),
                "coalesced": _summary(coalesced),
                "coalesced_one_worker": _summary(single),
                "naive": _summary(naive),
                "speedup_median": statistics.median(ratios),
                "speedup_all": ratios,
                "apply_profile": apply_profile,
                "activity_writers": activity_writers,
            }
        )
    )


def _summary(runs: list[dict]) -> dict:
    return {
        **{k: runs[0][k] for k in ("variant", "events", "workers", "batch_size", "batch_interval")},
        "events_per_second_median": statistics.median(r["events_per_second"] for r in runs),
        "seconds_median": statistics.median(r["seconds"] for r in runs),
        "events_per_second_all": [r["events_per_second"] for r in runs],
        "lost_rows": sum(r["lost_rows"] for r in runs),
        "lost_increments": sum(r["lost_increments"] for r in runs),
        "failed": sum(r["failed"] for r in runs),
        "all_drained": all(r["drained"] and r["accepted"] for r in runs),
    }


if __name__ == "__main__":
    main()
