"""TRACKING_BACKEND=celery: a client's ``eventId`` counts once through a real Redis and a
real Celery worker, however many web processes (each with its own batches) pass it on."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from graph.ids import global_id
from tests.factories import make_product
from tests.helpers import GraphQLClient
from tests.scaleout.test_celery_backend import celery_executor, redis, worker  # noqa: F401  (fixtures)
from tests.tracking.helpers import wait_for
from tracking.dedup import event_key, recent_keys, tagged
from tracking.models import ProductMetrics
from tracking.serialization import dump_events
from tracking.tasks import apply_tracking_batch
from tracking.tracker import product_view

pytestmark = pytest.mark.django_db(transaction=True)

VIEW = "mutation($id: ID!, $e: ID) { trackProductView(productId: $id, eventId: $e) { accepted queued duplicate } }"


def views(product) -> int:
    return ProductMetrics.objects.values_list("total_views", flat=True).get(product=product)


def test_retries_through_the_broker_count_once(worker, celery_executor):  # noqa: F811
    # Given a product, and a client that sends one view with an id four times, each time as
    # if to another web process (nothing remembered here), before any worker applied it
    product = make_product()
    client = GraphQLClient(Client(REMOTE_ADDR="10.9.0.1"))
    for _ in range(4):
        recent_keys.clear()
        client.data(VIEW, {"id": global_id("Product", product.pk), "e": "retry-me"})
    # and two more web processes publish the same event in batches of their own
    events = tagged(product_view(product.pk), event_key("addr:10.9.0.1", "retry-me"))
    for batch_id in ("other-process-1", "other-process-2"):
        apply_tracking_batch.apply_async(args=[batch_id, dump_events(events)], retry=False)

    # When every batch has reached the worker
    assert celery_executor.flush(30)
    assert wait_for(lambda: views(product) >= 1, timeout=30)
    assert wait_for(lambda: worker.log().count("succeeded") >= 3, timeout=30)
    time.sleep(1)  # nothing more may arrive

    # Then the view counted once
    assert views(product) == 1
