"""TRACKING_BACKEND=celery: batches travel through a real Redis to a real Celery worker,
and every accepted event is counted exactly once, through redelivery and a Redis outage."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import pytest
import redis as redis_client
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client

from config.celery import app
from graph.ids import global_id
from tests.factories import make_product
from tests.helpers import GraphQLClient
from tests.scaleout.servers import start_redis, start_worker
from tests.tracking.helpers import child_env, wait_for
from tracking.apply import apply_events
from tracking.celery_backend import celery_applier
from tracking.events import TrackingEvent
from tracking.executor import EventExecutor, set_executor
from tracking.models import AppliedBatch, EventKind, ProductMetrics
from tracking.serialization import dump_events
from tracking.tasks import apply_tracking_batch

pytestmark = pytest.mark.django_db(transaction=True)


def point_celery_at(url: str) -> None:
    """Send this process's tasks to ``url`` (each test has its own Redis)."""
    app.conf.broker_url = url
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def redis():
    server = start_redis()
    point_celery_at(server.url)
    yield server
    server.stop()


@pytest.fixture
def worker(redis):
    celery_worker = start_worker(redis.url)
    yield celery_worker
    celery_worker.stop()
    print(celery_worker.log()[-2000:])


@pytest.fixture
def celery_executor(settings):
    settings.TRACKING_BACKEND = "celery"
    settings.TRACKING_RATE_LIMIT = 0
    executor = EventExecutor(
        applier=celery_applier(retry_base_delay=0.05, confirm_after=2.0, confirm_interval=0.2), batch_interval=0.05
    )
    previous = set_executor(executor)
    yield executor
    executor.shutdown(timeout=20)
    set_executor(previous)


def total_views(products) -> int:
    return sum(ProductMetrics.objects.filter(product__in=products).values_list("total_views", flat=True))


def test_eight_threads_through_the_api_are_counted_exactly(worker, celery_executor):
    # Given 20 products and 8 clients each sending 100 listing views of 5 products (4,000 events)
    products = [make_product() for _ in range(20)]
    ids = [global_id("Product", p.pk) for p in products]
    mutation = "mutation($ids: [ID!]!) { trackListingView(productIds: $ids) { accepted queued } }"
    accepted = [0] * 8

    def client(n: int) -> None:
        gql = GraphQLClient(Client(REMOTE_ADDR=f"10.1.0.{n}"))
        try:
            for i in range(100):
                receipt = gql.data(mutation, {"ids": [ids[(n + i + k) % 20] for k in range(5)]})["trackListingView"]
                accepted[n] += receipt["queued"] if receipt["accepted"] else 0
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    # When the web process has handed every batch to Redis and the worker applied them
    assert celery_executor.flush(30)
    expected = sum(accepted)
    assert expected == 4000

    # Then the impressions equal the accepted events, none lost, none doubled
    def impressions():
        return sum(ProductMetrics.objects.filter(product__in=products).values_list("total_impressions", flat=True))

    assert wait_for(lambda: impressions() >= expected), f"{impressions()} of {expected} arrived"
    time.sleep(1)  # nothing more may arrive
    assert impressions() == expected
    assert celery_executor.stats().failed == 0


def test_a_batch_delivered_twice_is_applied_once(worker):
    product = make_product()
    events = [TrackingEvent(EventKind.VIEW, product.pk) for _ in range(7)]

    for _ in range(2):  # the same batch id twice, as a redelivery would
        apply_tracking_batch.apply_async(args=["batch-redelivered-1", dump_events(events)], retry=False)

    assert wait_for(lambda: AppliedBatch.objects.filter(batch_id="batch-redelivered-1").exists())
    assert wait_for(lambda: "succeeded" in worker.log() and worker.log().count("tracking.apply_batch") >= 4)
    time.sleep(1)
    assert total_views([product]) == 7


def test_applying_a_batch_id_again_changes_nothing():
    product = make_product()
    events = [TrackingEvent(EventKind.CLICK, product.pk) for _ in range(3)]
    first = apply_events(events, batch_id="b-1")
    second = apply_events(events, batch_id="b-1")
    assert (first.applied, first.duplicate) == (3, False)
    assert (second.applied, second.duplicate) == (0, True)
    assert ProductMetrics.objects.get(product=product).total_clicks == 3


def test_redis_down_for_ten_seconds_loses_no_accepted_event(redis, worker, celery_executor, settings):
    # Given a steady stream of views
    products = [make_product() for _ in range(5)]
    accepted = 0
    stop = threading.Event()

    def burst():
        nonlocal accepted
        i = 0
        while not stop.is_set():
            if celery_executor.offer([TrackingEvent(EventKind.VIEW, products[i % 5].pk)]):
                accepted += 1
            i += 1
            time.sleep(0.002)

    producer = threading.Thread(target=burst)
    producer.start()
    time.sleep(1.0)

    settings.REDIS_URL = redis.url
    health = Client()
    assert health.get("/healthz").status_code == 200

    # When Redis stops for ten seconds in the middle of it, then comes back
    redis.stop()
    down_since = time.monotonic()
    time.sleep(2)
    assert celery_executor.stats().retried > 0  # batches are being kept, not dropped
    during = health.get("/healthz")
    assert during.status_code == 503 and "redis" in during.json(), during.content
    while time.monotonic() - down_since < 10:
        time.sleep(0.2)
    redis.start()
    time.sleep(1.0)
    assert health.get("/healthz").status_code == 200
    stop.set()
    producer.join(10)

    # Then the backlog drains and every accepted event is counted once
    assert celery_executor.flush(60)
    assert wait_for(lambda: total_views(products) >= accepted, timeout=90), f"{total_views(products)} of {accepted}"
    time.sleep(1)
    stats = celery_executor.stats()
    assert total_views(products) == accepted == stats.enqueued
    assert stats.failed == 0 and stats.dropped == 0
    assert wait_for(lambda: celery_executor.stats().unconfirmed == 0, timeout=10)


def test_a_batch_lost_inside_redis_is_published_again(redis, celery_executor):
    # Given two batches Redis accepted while no worker runs
    product = make_product()
    queue = redis_client.Redis.from_url(redis.url)
    assert celery_executor.offer([TrackingEvent(EventKind.VIEW, product.pk) for _ in range(3)])
    assert celery_executor.flush(10)
    assert queue.llen("celery") == 1

    # When the first one vanishes from Redis, as a message does that a worker took with
    # BRPOP just before Redis stopped (kombu records it as unacknowledged only afterwards)
    queue.delete("celery")
    assert celery_executor.offer([TrackingEvent(EventKind.VIEW, product.pk) for _ in range(4)])
    assert celery_executor.flush(10)
    assert celery_executor.stats().unconfirmed == 7

    # Then once a worker runs, the web process sees the second batch applied and not the
    # first, publishes the first again, and every event is counted once
    worker = start_worker(redis.url)
    try:
        assert wait_for(lambda: celery_executor.stats().unconfirmed == 0, timeout=30)
        assert total_views([product]) == 7
        # The lost batch was published again (the count above proves it arrived once). How many
        # copies in all depends on how long the worker takes to start: the newest batch, and the
        # lost one again, are republished with backoff while it starts, harmlessly (one batch id).
        assert celery_executor.stats().resent >= 3
        time.sleep(1)  # nothing more arrives
        assert total_views([product]) == 7
    finally:
        worker.stop()


def test_a_batch_published_twice_is_still_counted_once(redis):
    # Given a batch no worker has taken yet, so the web process publishes it again
    product = make_product()
    queue = redis_client.Redis.from_url(redis.url)
    impatient = EventExecutor(
        applier=celery_applier(retry_base_delay=0.05, confirm_after=0.1, confirm_interval=0.05), batch_interval=0.01
    )
    try:
        assert impatient.offer([TrackingEvent(EventKind.VIEW, product.pk) for _ in range(5)])
        assert impatient.flush(10)
        assert wait_for(lambda: queue.llen("celery") >= 2, timeout=10)  # two copies, one batch id

        # When a worker starts and takes both copies
        worker = start_worker(redis.url)
        try:
            assert wait_for(lambda: impatient.stats().unconfirmed == 0, timeout=30)
            assert wait_for(lambda: queue.llen("celery") == 0, timeout=30)
            time.sleep(1)
        finally:
            worker.stop()
    finally:
        impatient.shutdown(timeout=10)

    # Then the counters moved once
    assert impatient.stats().resent >= 5
    assert total_views([product]) == 5


def test_a_clean_stop_waits_until_the_workers_applied_what_it_published(redis, worker):
    # Given a web process that has handed 50 views to Redis
    product = make_product()
    executor = EventExecutor(applier=celery_applier(confirm_after=2.0, confirm_interval=0.1), batch_interval=0.05)
    assert executor.offer([TrackingEvent(EventKind.VIEW, product.pk) for _ in range(50)])

    # When it stops cleanly
    assert executor.shutdown(timeout=20)

    # Then by the time it returns a worker has applied them all, and it knows
    assert executor.stats().unconfirmed == 0
    assert total_views([product]) == 50


EXITING_SCRIPT = """
import django
django.setup()
from tracking.celery_backend import celery_applier
from tracking.events import TrackingEvent
from tracking.executor import EventExecutor
from tracking.models import EventKind
executor = EventExecutor(applier=celery_applier(confirm_after=2.0, confirm_interval=0.1), batch_interval=0.05)
assert executor.offer([TrackingEvent(EventKind.VIEW, {product_id}) for _ in range(20)])
"""  # and exits: atexit drains the queue, publishes, and waits for the worker


def test_a_script_that_exits_publishes_through_the_configured_redis_and_waits_for_the_worker(redis, worker):
    # Given a process that knows only the settings (nothing imports the Celery app by hand)
    product = make_product()
    env = child_env(REDIS_URL=redis.url, TRACKING_BACKEND="celery", DJANGO_SETTINGS_MODULE="config.settings")

    # When it queues 20 views and exits normally
    result = subprocess.run(
        [sys.executable, "-c", EXITING_SCRIPT.format(product_id=product.pk)],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Then the views went through that Redis to the worker, and the exit waited for them
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "not confirmed" not in result.stderr, result.stderr
    assert "queue drained (20 events processed)" in result.stderr
    assert total_views([product]) == 20


def test_a_live_server_in_celery_mode_counts_views_through_redis(redis, worker, live_api_factory):
    # Given the API served by uvicorn with TRACKING_BACKEND=celery, and a worker on the same Redis
    products = [make_product() for _ in range(3)]
    server = live_api_factory(TRACKING_BACKEND="celery", REDIS_URL=redis.url, TRACKING_RATE_LIMIT="0")
    mutation = "mutation($id: ID!) { trackProductView(productId: $id) { accepted queued } }"

    # When a client sends 30 views
    accepted = 0
    with httpx.Client(timeout=30) as http:
        for i in range(30):
            variables = {"id": global_id("Product", products[i % 3].pk)}
            receipt = http.post(server.graphql_url, json={"query": mutation, "variables": variables}).json()
            accepted += receipt["data"]["trackProductView"]["queued"]

    # Then the worker counts every one of them, once
    assert accepted == 30
    assert wait_for(lambda: total_views(products) >= 30, timeout=30), f"{total_views(products)} of 30"
    time.sleep(1)
    assert total_views(products) == 30
