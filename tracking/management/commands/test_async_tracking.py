"""``manage.py test_async_tracking``: check the tracking executor on this database.

- no flag: a smoke test. Queues one view of an existing product, flushes, and
  checks that the product's ``total_views`` grew by exactly one.
- ``--load-test --count N [--threads T]``: N events (views, clicks, impressions)
  spread over the active products, offered from T threads; prints the enqueue
  latency per offer, the throughput from the first offer until the queue is
  drained, and checks that the counters grew by exactly the accepted events.
- ``--status``: the running servers' statistics, as they publish them to the
  database every ``TRACKING_STATS_INTERVAL`` seconds (the figures ``trackingStatus``
  sums): the deployment's totals, one aligned line each, then one line per server
  process. Exits 1, saying so, when no server reported within
  ``TRACKING_STATS_STALE_AFTER`` seconds (none running on this database, or too old).

Both tests write real events to the configured database, and both compare
counters before and after: run them where no other traffic is tracked at the
same time, or the difference they report includes that traffic. Exit codes: 0
when the check passed, 1 when it failed, 2 for bad arguments.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.db.models import Sum
from django.utils import timezone

from marketplace.management.arguments import positive_float, positive_int
from marketplace.models import Product
from tracking.executor import get_executor
from tracking.models import ActivityEvent, EventKind, ProductMetrics
from tracking.process_stats import deployment_stats
from tracking.tracker import AsyncTracker

DEFAULT_THREADS = 4
DEFAULT_TIMEOUT = 60.0


def _queue_impression(product_id: int, **identity) -> bool:
    return AsyncTracker.queue_listing_view([product_id], **identity)


# Counters the load test moves, and the offer that moves each.
LOAD_KINDS = {
    EventKind.VIEW: ("total_views", AsyncTracker.queue_product_view),
    EventKind.CLICK: ("total_clicks", AsyncTracker.queue_product_click),
    EventKind.IMPRESSION: ("total_impressions", _queue_impression),
}
# The mix of one round: impressions are the most frequent events on a storefront, clicks the rarest.
MIX = [EventKind.IMPRESSION] * 5 + [EventKind.VIEW] * 3 + [EventKind.CLICK] * 2


@dataclass
class ThreadResult:
    latencies_ns: list[int] = field(default_factory=list)
    accepted: Counter = field(default_factory=Counter)  # kind -> events accepted
    refused: int = 0
    first_offer: float = 0.0


class Command(BaseCommand):
    help = (
        "Check the tracking executor: a smoke test by default, --load-test --count N [--threads T] for "
        "throughput and exactness, --status for the running servers' tracking statistics."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--load-test", action="store_true", help="offer --count events from --threads threads")
        mode.add_argument("--status", action="store_true", help="print the servers' tracking statistics")
        parser.add_argument("--count", type=positive_int, metavar="N", help="events to offer (with --load-test)")
        parser.add_argument(
            "--threads",
            type=positive_int,
            metavar="T",
            help=f"producer threads (with --load-test; default {DEFAULT_THREADS})",
        )
        parser.add_argument(
            "--timeout",
            type=positive_float,
            default=DEFAULT_TIMEOUT,
            metavar="SECONDS",
            help=f"how long to wait for the queue to drain (default {DEFAULT_TIMEOUT:g})",
        )

    def handle(self, *args, load_test: bool, status: bool, count, threads, timeout: float, **options) -> None:
        if not load_test and (count is not None or threads is not None):
            raise CommandError("--count and --threads belong to --load-test.", returncode=2)
        if load_test and count is None:
            raise CommandError("--load-test needs --count N.", returncode=2)
        if status:
            self._print_status()
        elif load_test:
            self._load_test(count, threads or DEFAULT_THREADS, timeout)
        else:
            self._smoke_test(timeout)

    # --- --status -------------------------------------------------------------
    def _print_status(self) -> None:
        """The servers' figures from the shared store: this command's own executor never saw an event."""
        deployment = deployment_stats()
        if not deployment.processes:
            raise CommandError(
                f"No server has reported tracking statistics in the last {settings.TRACKING_STATS_STALE_AFTER:g} s "
                "on this database. Servers publish them every TRACKING_STATS_INTERVAL seconds "
                f"(now {settings.TRACKING_STATS_INTERVAL:g}; 0 turns it off) once started with uvicorn "
                "(make run): is one running, on the same DATABASE_URL?",
                returncode=1,
            )
        count = len(deployment.processes)
        self.stdout.write(f"Tracking statistics of {count} server process{'es' if count > 1 else ''}:")
        lines = deployment.totals.as_dict()
        width = max(len(name) for name in lines)
        for name, value in lines.items():
            self.stdout.write(f"{name:<{width}}  {value:>12}")
        now = timezone.now()
        self.stdout.write("processes:")
        for p in deployment.processes:
            age = (now - p.updated_at).total_seconds()
            s = p.stats
            self.stdout.write(
                f"  {p.host}:{p.pid} (reported {age:.1f} s ago) enqueued {s.enqueued} processed {s.processed} "
                f"dropped {s.dropped} failed {s.failed} queue_depth {s.queue_depth} workers_alive {s.workers_alive}"
            )

    # --- smoke test -----------------------------------------------------------
    def _smoke_test(self, timeout: float) -> None:
        product_id = Product.objects.filter(is_active=True).order_by("id").values_list("id", flat=True).first()
        if product_id is None:
            raise CommandError("No active product to track; create some first (manage.py seed_demo).", returncode=1)
        before = _views_of(product_id)
        if not AsyncTracker.queue_product_view(product_id, source="test_async_tracking"):
            raise CommandError("The executor refused the event (queue full or stopping).", returncode=1)
        if not get_executor().flush(timeout):
            raise CommandError(f"The queue did not drain within {timeout:g} s.", returncode=1)
        after = _views_of(product_id)
        if after - before != 1:
            raise CommandError(
                f"Product {product_id}: total_views went from {before} to {after}, expected {before + 1}.", returncode=1
            )
        self.stdout.write(f"ok: product {product_id} total_views {before} -> {after}")

    # --- load test ------------------------------------------------------------
    def _load_test(self, count: int, thread_count: int, timeout: float) -> None:
        product_ids = list(Product.objects.filter(is_active=True).order_by("id").values_list("id", flat=True))
        if not product_ids:
            raise CommandError("No active product to track; create some first (manage.py seed_demo).", returncode=1)
        executor = get_executor()
        executor.start()  # from the main thread, so that SIGTERM drains the queue
        counters_before = _counter_sums()
        stats_before = executor.stats()
        source = f"load-test-{uuid.uuid4().hex[:8]}"
        self.stdout.write(
            f"Offering {count:,} events over {len(product_ids):,} products from {thread_count} threads "
            f"(queue {executor.max_queue:,}, {executor.worker_count} workers, batches of {executor.batch_size} "
            f"or {executor.batch_interval:g} s)"
        )

        results = _offer_from_threads(thread_count, count, product_ids, source)
        enqueued_at = time.perf_counter()
        drained = executor.flush(timeout)
        drained_at = time.perf_counter()

        first = min(r.first_offer for r in results)
        accepted = sum((r.accepted for r in results), Counter())
        total_accepted = sum(accepted.values())
        refused = sum(r.refused for r in results)
        latencies = sorted(ns for r in results for ns in r.latencies_ns)
        stats = executor.stats()
        enqueue_seconds = max(enqueued_at - first, 1e-9)
        seconds = max(drained_at - first, 1e-9)
        self.stdout.write(
            f"enqueue: {count:,} offers in {enqueue_seconds:.3f} s ({count / enqueue_seconds:,.0f} offers/s); "
            f"latency per offer p50 {_percentile(latencies, 50):.1f} us, p99 {_percentile(latencies, 99):.1f} us, "
            f"max {latencies[-1] / 1000:.1f} us"
        )
        self.stdout.write(f"accepted {total_accepted:,}, refused {refused:,} (queue full)")
        if not drained:
            raise CommandError(
                f"The queue did not drain within {timeout:g} s: {stats.queue_depth:,} events still pending.",
                returncode=1,
            )
        self.stdout.write(
            f"throughput: {total_accepted / seconds:,.0f} events/s ({total_accepted:,} events applied "
            f"{seconds:.3f} s after the first offer; drain took {drained_at - enqueued_at:.3f} s after the last)"
        )
        self.stdout.write(
            f"executor: {stats.batches - stats_before.batches} batches, "
            f"{stats.retried - stats_before.retried} retries, {stats.failed - stats_before.failed} failed, "
            f"{stats.discarded - stats_before.discarded} discarded"
        )
        self._verify(accepted, counters_before, _counter_sums(), ActivityEvent.objects.filter(source=source).count())

    def _verify(self, accepted: Counter, before: dict[str, int], after: dict[str, int], logged: int) -> None:
        """Counters grew by exactly the accepted events, and each accepted event left one activity row."""
        wrong = []
        for kind, (counter, _offer) in LOAD_KINDS.items():
            grew, expected = after[counter] - before[counter], accepted[kind]
            if grew != expected:
                wrong.append(f"{counter} grew by {grew:,}, expected {expected:,} (difference {grew - expected:+,})")
        total = sum(accepted.values())
        if logged != total:
            wrong.append(f"{logged:,} activity rows of this run, expected {total:,} (difference {logged - total:+,})")
        elif wrong:
            wrong.append("the activity rows of this run are exact: did other traffic track events meanwhile?")
        if wrong:
            raise CommandError("NOT exact: " + "; ".join(wrong), returncode=1)
        grown = ", ".join(f"{LOAD_KINDS[kind][0]} +{accepted[kind]:,}" for kind in LOAD_KINDS)
        self.stdout.write(f"counters: exact ({grown} = {total:,} accepted events, {logged:,} activity rows)")


def _offer_from_threads(thread_count: int, count: int, product_ids: list[int], source: str) -> list[ThreadResult]:
    results = [ThreadResult() for _ in range(thread_count)]
    producers = [
        threading.Thread(target=_produce, args=(n, thread_count, count, product_ids, source, results[n]))
        for n in range(thread_count)
    ]
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join()
    return results


def _produce(n: int, thread_count: int, count: int, product_ids: list[int], source: str, result: ThreadResult) -> None:
    """Offer this thread's share of the events (every thread_count-th one), timing each offer."""
    try:
        result.first_offer = time.perf_counter()
        clock = time.perf_counter_ns
        for i in range(n, count, thread_count):
            kind = MIX[i % len(MIX)]
            product_id = product_ids[(i * 7919) % len(product_ids)]  # a stride that visits every product
            offer = LOAD_KINDS[kind][1]
            started = clock()
            ok = offer(product_id, source=source)
            result.latencies_ns.append(clock() - started)
            if ok:
                result.accepted[kind] += 1
            else:
                result.refused += 1
    finally:
        connections.close_all()  # this thread's own connections, if anything opened one


def _percentile(sorted_ns: list[int], pct: int) -> float:
    """The pct-th percentile of nanosecond samples, in microseconds."""
    if len(sorted_ns) == 1:
        return sorted_ns[0] / 1000
    return statistics.quantiles(sorted_ns, n=100, method="inclusive")[pct - 1] / 1000


def _views_of(product_id: int) -> int:
    return ProductMetrics.objects.filter(product_id=product_id).values_list("total_views", flat=True).first() or 0


def _counter_sums() -> dict[str, int]:
    counters = [counter for counter, _offer in LOAD_KINDS.values()]
    sums = ProductMetrics.objects.aggregate(**{c: Sum(c) for c in counters})
    return {c: sums[c] or 0 for c in counters}
