"""The tracking executor: concurrent producers, a clean stop, retries, failures and a full queue.

Every story installs its own executor (``set_executor``) with the timing it needs, and
runs on committed data (``transaction=True``): the executor's worker threads have their
own database connections and see only what is committed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import OperationalError

from graph.ids import global_id
from tests.factories import make_product
from tests.helpers import GraphQLClient
from tests.tracking.helpers import make_products, wait_for
from tests.tracking.helpers import run_in_threads as start_together
from tracking.appliers import Applier, Batch, DeliveryControl
from tracking.apply import BatchResult, apply_events, apply_isolating
from tracking.events import TrackingEvent
from tracking.executor import EventExecutor, set_executor
from tracking.handoff import HandoffConfirmer
from tracking.models import ActivityEvent, EventKind, ProductMetrics
from tracking.tracker import AsyncTracker, listing_view, product_click, product_view

pytestmark = pytest.mark.django_db(transaction=True)

COUNTER_OF = {"view": "total_views", "click": "total_clicks", "impression": "total_impressions"}
OFFER_OF = {
    "view": lambda pid: AsyncTracker.queue_product_view(pid, source="test"),
    "click": lambda pid: AsyncTracker.queue_product_click(pid, source="test"),
    "impression": lambda pid: AsyncTracker.queue_listing_view([pid], source="test"),
}


@pytest.fixture
def gql(client, settings) -> GraphQLClient:
    settings.TRACKING_RATE_LIMIT = 0  # one test visitor; the rate limit is not what is tested here
    return GraphQLClient(client)


def counters_of(product, *fields: str) -> dict[str, int]:
    row = ProductMetrics.objects.filter(product=product).values(*fields).first()
    return row or dict.fromkeys(fields, 0)


def run_in_threads(count: int, task: Callable[[int], object]) -> list:
    """Run ``task(n)`` in ``count`` threads started at the same moment; return their results in order."""
    results: list = [None] * count
    errors = start_together([lambda n=n: results.__setitem__(n, task(n)) for n in range(count)])
    assert not errors, errors
    return results


class BlockedApply:
    """An apply that waits until released: the workers take a batch and cannot finish it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, events: list[TrackingEvent], batch_id: str):
        self.entered.set()
        self.release.wait(timeout=20)
        return apply_isolating(events, batch_id)


class FlakyApply:
    """The real apply, but the first ``failures`` calls (or every call with a poisoned product)
    raise OperationalError, as a deadlock would: a transient fault of a database that is
    there (no driver error behind it says the database is away)."""

    def __init__(self, failures: int = 0, poisoned: int | None = None) -> None:
        self.failures, self.poisoned = failures, poisoned
        self.calls = 0

    def __call__(self, events: list[TrackingEvent], batch_id: str):
        self.calls += 1
        if self.calls <= self.failures or any(e.product_id == self.poisoned for e in events):
            raise OperationalError("deadlock detected (injected by the test)")
        return apply_isolating(events, batch_id)


def test_eight_threads_offering_at_once_lose_nothing_and_double_nothing(install_executor):
    # Given 20 products, and an executor whose 4 workers apply small batches side by side
    products = make_products(20)
    executor = install_executor(workers=4, batch_size=100, batch_interval=0.005)

    # When 8 threads each offer 500 events (views, clicks, impressions) over them, all at once
    def produce(n: int) -> Counter:
        accepted = Counter()
        for i in range(500):
            product, kind = products[(n * 7 + i) % 20], ("view", "click", "impression")[(n + i) % 3]
            if OFFER_OF[kind](product.pk):
                accepted[product.pk, COUNTER_OF[kind]] += 1
        return accepted

    accepted = sum(run_in_threads(8, produce), Counter())
    assert executor.flush(timeout=30)

    # Then every counter equals the events accepted for it: none lost, none counted twice
    assert sum(accepted.values()) == 4000  # the queue (10,000) had room for all
    for product in products:
        fields = list(COUNTER_OF.values())
        assert counters_of(product, *fields) == {f: accepted[product.pk, f] for f in fields}, product.pk
    # and each accepted event left exactly one activity row
    assert ActivityEvent.objects.count() == 4000
    stats = executor.stats()
    assert (stats.enqueued, stats.processed, stats.dropped, stats.failed, stats.queue_depth) == (4000, 4000, 0, 0, 0)
    assert stats.batches >= 40  # batches of at most 100


def test_a_clean_stop_applies_the_events_still_queued(install_executor):
    # Given an executor that would wait a minute before applying, with 300 events queued
    products = make_products(3)
    executor = install_executor(batch_interval=60, batch_size=10_000)
    for i in range(300):
        assert AsyncTracker.queue_product_view(products[i % 3].pk)
    assert executor.stats().queue_depth == 300
    assert sum(counters_of(p, "total_views")["total_views"] for p in products) == 0  # really still queued

    # When the process stops cleanly
    started = time.monotonic()
    assert executor.shutdown(timeout=10)

    # Then every queued event was applied, at once rather than after the interval
    assert time.monotonic() - started < 5
    assert [counters_of(p, "total_views")["total_views"] for p in products] == [100, 100, 100]
    assert executor.stats().processed == 300
    # and the stopped executor refuses new events instead of losing them silently
    assert AsyncTracker.queue_product_view(products[0].pk) is False
    assert executor.stats().dropped == 1


def test_a_batch_that_fails_twice_is_retried_and_applied_exactly_once(install_executor):
    # Given a database that refuses the first two attempts
    product = make_product()
    flaky = FlakyApply(failures=2)
    executor = install_executor(workers=1, max_retries=3, write=flaky)

    # When one batch of 10 views is offered
    assert executor.offer([event for _ in range(10) for event in product_view(product.pk)])
    assert executor.flush(timeout=10)

    # Then the third attempt applied it, once
    assert counters_of(product, "total_views") == {"total_views": 10}
    assert ActivityEvent.objects.filter(product=product).count() == 10
    stats = executor.stats()
    assert (flaky.calls, stats.retried, stats.batches, stats.processed, stats.failed) == (3, 2, 1, 10, 0)


def test_a_batch_that_keeps_failing_is_counted_failed_and_the_worker_goes_on(install_executor, caplog):
    # Given one product whose batches always fail, and a healthy one
    poisoned, healthy = make_products(2)
    flaky = FlakyApply(poisoned=poisoned.pk)
    executor = install_executor(workers=1, batch_size=5, max_retries=2, write=flaky)

    # When a batch of 5 views of the poisoned product is followed by 3 views of the healthy one
    with caplog.at_level(logging.ERROR, logger="tracking.appliers"):
        assert executor.offer([e for _ in range(5) for e in product_view(poisoned.pk)])
        assert executor.offer([e for _ in range(3) for e in product_view(healthy.pk)])
        assert executor.flush(timeout=10)

    # Then the first batch is given up after 1 + 2 retries, counted failed and logged with its size
    stats = executor.stats()
    assert (stats.failed, stats.retried, stats.processed, stats.batches) == (5, 2, 3, 2)
    assert any("batch of 5 events failed after 3 attempts" in r.getMessage() for r in caplog.records)
    assert counters_of(poisoned, "total_views") == {"total_views": 0}
    # and the same worker went on to apply the next batch
    assert counters_of(healthy, "total_views") == {"total_views": 3}
    assert stats.workers_alive == 1


def test_events_of_a_product_deleted_while_queued_are_discarded_not_failing_the_batch(install_executor):
    # Given views of two products queued behind a long interval
    kept, deleted = make_products(2)
    executor = install_executor(workers=1, batch_interval=60)
    assert executor.offer(product_view(kept.pk) + product_click(kept.pk) + listing_view([deleted.pk, kept.pk]))

    # When one product is deleted before its batch runs
    deleted.delete()
    assert executor.shutdown(timeout=10)

    # Then the other product's events are applied and the orphan is counted as discarded
    assert counters_of(kept, "total_views", "total_clicks", "total_impressions") == {
        "total_views": 1,
        "total_clicks": 1,
        "total_impressions": 1,
    }
    stats = executor.stats()
    assert (stats.processed, stats.discarded, stats.failed) == (3, 1, 0)


def test_a_full_queue_refuses_the_overflow_and_counts_it(install_executor, gql):
    # Given a queue of 5 events whose only worker is stuck on the batch it took
    product = make_product()
    other = make_product()
    blocked = BlockedApply()
    executor = install_executor(max_queue=5, workers=1, write=blocked)
    try:
        assert AsyncTracker.queue_product_view(product.pk)
        assert blocked.entered.wait(timeout=10)
        for _ in range(5):
            assert AsyncTracker.queue_product_view(product.pk)

        # When more events arrive, through the tracker, the executor and the API
        refused_by_tracker = AsyncTracker.queue_product_click(product.pk)
        refused_by_offer = executor.offer(listing_view([product.pk, other.pk]))
        receipt = gql.data(
            "mutation($id: ID!) { trackProductView(productId: $id) { accepted queued reason } }",
            {"id": global_id("Product", product.pk)},
        )["trackProductView"]

        # Then each is refused at once, and counted as dropped
        assert refused_by_tracker is False
        assert refused_by_offer is False
        assert receipt == {"accepted": False, "queued": 0, "reason": "QUEUE_FULL"}
        assert executor.stats().dropped == 1 + 2 + 1
    finally:
        blocked.release.set()

    # And once the worker is free, exactly the accepted events are counted
    assert executor.flush(timeout=10)
    assert counters_of(product, "total_views", "total_clicks") == {"total_views": 6, "total_clicks": 0}
    assert counters_of(other, "total_impressions") == {"total_impressions": 0}
    stats = executor.stats()
    assert (stats.enqueued, stats.processed) == (6, 6)


def test_flush_waits_for_the_events_a_worker_is_still_applying(install_executor):
    # Given a worker in the middle of a batch
    product = make_product()
    blocked = BlockedApply()
    executor = install_executor(workers=1, write=blocked)
    assert executor.offer(product_view(product.pk))
    assert blocked.entered.wait(timeout=10)

    # When flush is asked while the batch is still running, it reports it did not get there
    assert executor.flush(timeout=0.2) is False
    assert executor.stats().queue_depth == 1

    # Then once the batch finishes, flush returns with the event applied
    blocked.release.set()
    assert executor.flush(timeout=10)
    assert counters_of(product, "total_views") == {"total_views": 1}


def test_flush_applies_what_is_queued_now_without_waiting_out_the_batch_interval(install_executor):
    # Given an executor that batches for up to 30 seconds, with events queued
    product = make_product()
    executor = install_executor(batch_interval=30)
    assert executor.offer(product_view(product.pk) * 10)

    # When someone flushes (a script before it exits, a test, the smoke test)
    started = time.monotonic()
    drained = executor.flush(timeout=5)

    # Then the queued events are applied at once
    assert drained, executor.stats()
    assert time.monotonic() - started < 2
    assert counters_of(product, "total_views") == {"total_views": 10}
    # and batching goes on as configured afterwards
    assert executor.offer(product_view(product.pk))
    time.sleep(0.2)
    assert executor.stats().queue_depth == 1


@pytest.mark.django_db(transaction=True)
def test_one_event_the_database_refuses_does_not_take_the_good_ones_with_it():
    # Given a batch of 40 good views and one purchase of 0 units (refused by a check constraint)
    product = make_product()
    executor = EventExecutor(batch_size=100, batch_interval=0.5)
    previous = set_executor(executor)
    try:
        good = [TrackingEvent(EventKind.VIEW, product.pk) for _ in range(40)]
        bad = TrackingEvent(EventKind.PURCHASE, product.pk, quantity=0)
        # When they arrive in one batch
        assert executor.offer(good[:20] + [bad] + good[20:])
        assert executor.flush(10)
        # Then the 40 views count once each, and only the bad event failed
        stats = executor.stats()
        assert (stats.processed, stats.failed, stats.retried) == (40, 1, 0)
        assert ProductMetrics.objects.get(product=product).total_views == 40
    finally:
        executor.shutdown(5)
        set_executor(previous)


class LossyBroker(Applier):
    """A broker hand-off whose first copy of a batch is lost, whose second publication
    fails, and whose third is applied as a worker would."""

    def __init__(self) -> None:
        self.publications: list[str] = []

    def deliver(self, batch: Batch, control: DeliveryControl) -> BatchResult:
        self.publications.append(batch.id)
        if len(self.publications) == 2:
            return BatchResult(0, 0, failed=len(batch))  # the copy could not be published
        if len(self.publications) == 3:
            apply_events(batch.events, batch_id=batch.id)
        return BatchResult(applied=len(batch), discarded=0)


def test_a_lost_hand_off_is_published_again_until_a_worker_applied_it(install_executor):
    # Given a broker that loses the first copy of a batch and fails to take the second
    product = make_products(1)[0]
    broker = LossyBroker()
    confirmer = HandoffConfirmer(broker, confirm_after=0.2, confirm_interval=0.02, max_unconfirmed=1000)
    executor = install_executor(workers=1, batch_interval=0.01, applier=confirmer)

    # When four views are handed over
    assert executor.offer(product_view(product.pk) * 4)

    # Then the executor publishes the batch again, same id, until it is applied, and counts it once
    assert wait_for(lambda: executor.stats().unconfirmed == 0 and len(broker.publications) == 3)
    assert len(set(broker.publications)) == 1
    assert counters_of(product, "total_views") == {"total_views": 4}
    stats = executor.stats()
    assert (stats.processed, stats.resent, stats.released) == (4, 4, 0)
