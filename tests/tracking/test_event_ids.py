"""A client's ``eventId`` counts once: retries, batches, processes and Celery alike.

The batch that applies an event records (visitor and id, product) in its own transaction
(tracking.dedup), so the guarantee does not depend on which process or backend applies it;
the receipt's ``duplicate`` is answered at request time.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from graph.ids import global_id
from tests.helpers import GraphQLClient, error_codes
from tests.tracking.helpers import ROOT, child_env, make_products
from tracking import dedup
from tracking.apply import apply_events, apply_isolating
from tracking.dedup import EVENT_ID_RETENTION, event_key, prune_event_ids, recent_keys, tagged
from tracking.models import ProductMetrics, TrackedEventId
from tracking.serialization import dump_events, load_events
from tracking.tracker import listing_view, product_click, product_view

pytestmark = pytest.mark.django_db(transaction=True)

VIEW = """mutation($id: ID!, $eventId: ID) {
  trackProductView(productId: $id, eventId: $eventId) { accepted queued duplicate reason } }"""
LISTING = """mutation($ids: [ID!]!, $eventId: ID) {
  trackListingView(productIds: $ids, eventId: $eventId) { accepted queued duplicate } }"""
CLICK = """mutation($id: ID!, $eventId: ID) {
  trackProductClick(productId: $id, eventId: $eventId) { accepted queued duplicate } }"""


@pytest.fixture(autouse=True)
def forget_recent_keys(settings):
    settings.TRACKING_RATE_LIMIT = 0
    recent_keys.clear()
    yield
    recent_keys.clear()


def counters(product, field: str = "total_views") -> int:
    return ProductMetrics.objects.values_list(field, flat=True).get(product=product)


def shopper(address: str = "10.0.0.1") -> GraphQLClient:
    return GraphQLClient(Client(REMOTE_ADDR=address))


def test_a_retried_view_counts_once_and_the_retry_is_told_duplicate(tracking_executor):
    [product] = make_products(1)
    client, variables = shopper(), {"id": global_id("Product", product.pk), "eventId": "view-1"}

    # When the client sends the same view three times (a flaky network), then a new one
    receipts = [client.data(VIEW, variables)["trackProductView"] for _ in range(3)]
    assert tracking_executor.flush()
    recent_keys.clear()  # as if the retry reached another process: answered from the database
    late = client.data(VIEW, variables)["trackProductView"]
    fresh = client.data(VIEW, {**variables, "eventId": "view-2"})["trackProductView"]
    assert tracking_executor.flush()

    # Then the first counted, every retry was told duplicate, and the new id counted too
    assert receipts[0] == {"accepted": True, "queued": 1, "duplicate": False, "reason": None}
    assert receipts[1:] == [{"accepted": True, "queued": 0, "duplicate": True, "reason": None}] * 2
    assert late["duplicate"] is True and fresh["duplicate"] is False
    assert counters(product) == 2


def test_the_same_id_from_another_visitor_is_another_event(tracking_executor):
    [product] = make_products(1)
    variables = {"id": global_id("Product", product.pk), "eventId": "e-1"}

    first = shopper("10.0.0.1").data(VIEW, variables)["trackProductView"]
    second = shopper("10.0.0.2").data(VIEW, variables)["trackProductView"]
    click = shopper("10.0.0.1").data(CLICK, variables)["trackProductClick"]
    assert tracking_executor.flush()

    assert (first["duplicate"], second["duplicate"]) == (False, False)
    assert counters(product) == 2
    assert click["duplicate"] is True and counters(product, "total_clicks") == 0  # one id, one event


def test_a_retried_listing_call_counts_each_impression_once(tracking_executor):
    products = make_products(3)
    variables = {"ids": [global_id("Product", p.pk) for p in products], "eventId": "listing-1"}

    first = shopper().data(LISTING, variables)["trackListingView"]
    retry = shopper().data(LISTING, variables)["trackListingView"]
    assert tracking_executor.flush()

    assert (first["queued"], retry["queued"], retry["duplicate"]) == (3, 0, True)
    assert [counters(p, "total_impressions") for p in products] == [1, 1, 1]


@pytest.mark.parametrize("event_id", ["", "x" * 65, "bad\nid"])
def test_a_malformed_event_id_is_bad_user_input(event_id):
    [product] = make_products(1)
    result = shopper()(VIEW, {"id": global_id("Product", product.pk), "eventId": event_id})
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert result["errors"][0]["extensions"].get("field") in (None, "eventId")


def test_retries_that_reach_the_batches_count_once_within_a_batch_and_across_batches():
    # Given a view and a listing call with ids, each sent three times, none stopped at the door
    products = make_products(4)
    key, listing_key = event_key("user:1", "v"), event_key("user:1", "l")
    view = tagged(product_view(products[0].pk), key)
    listing = tagged(listing_view([p.pk for p in products[1:]]), listing_key)
    plain = product_view(products[0].pk)  # no id: every copy counts

    # When they are applied twice in one batch, then again in a batch of their own,
    # and the listing's impressions once more split over two batches (as the executor may)
    apply_events(view * 2 + listing * 2 + plain * 2)
    apply_events(view + listing + plain)
    apply_events(listing[:1])
    apply_events(listing[1:])

    # Then each keyed event counted once, the plain ones every time
    assert counters(products[0]) == 1 + 3
    assert [counters(p, "total_impressions") for p in products[1:]] == [1, 1, 1]


def test_a_rolled_back_batch_does_not_keep_its_ids():
    # Given a batch that fails after recording its ids (a refused event later in it)
    [product] = make_products(1)
    key = event_key("user:1", "v")
    events = tagged(product_view(product.pk), key)
    with pytest.raises(RuntimeError), transaction.atomic():
        dedup.first_sightings(events)
        raise RuntimeError("the batch failed")

    # When it is applied again
    apply_events(events)

    # Then it counts: the failed attempt's id went with its transaction
    assert counters(product) == 1


def test_the_key_travels_through_the_broker_payload():
    [product] = make_products(1)
    events = tagged(product_click(product.pk), event_key("session:abc", "c-1"))
    payload = json.loads(json.dumps(dump_events(events)))

    def fields(e):
        return (e.kind, e.product_id, e.created_at, e.event_key)

    assert [fields(e) for e in load_events(payload)] == [fields(e) for e in events]
    assert load_events([row[:8] for row in payload])[0].event_key is None  # a payload of an older release


def test_two_deliveries_under_different_batch_ids_count_once():
    # As two web processes would publish the same retried call to Celery, each in its own batch
    [product] = make_products(1)
    events = tagged(product_view(product.pk), event_key("user:9", "v"))
    rows = dump_events(events)

    apply_isolating(load_events(rows), "batch-from-process-1")
    apply_isolating(load_events(rows), "batch-from-process-2")

    assert counters(product) == 1


CHILD = """
import json, os, random, sys
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from tracking.apply import apply_events
from tracking.dedup import event_key, tagged
from tracking.tracker import product_view
plan = json.loads(sys.argv[1])
events = [e for pid, eid in plan["views"] for e in tagged(product_view(pid), event_key("user:7", eid))]
random.Random(plan["seed"]).shuffle(events)
for start in range(0, len(events), 7):
    apply_events(events[start:start + 7])
"""


def test_two_processes_applying_the_same_ids_at_once_count_each_once():
    # Given 5 products and 10 ids per product, the same 50 views applied by two processes at
    # once, each in its own order, in batches of 7
    products = make_products(5)
    views = [(p.pk, f"{p.pk}-{i}") for p in products for i in range(10)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps({"views": views, "seed": seed})],
            cwd=ROOT,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-2000:]

    # Then every product counted each of its ids once
    assert [counters(p) for p in products] == [10] * 5
    assert TrackedEventId.objects.count() == 50


def test_ids_older_than_the_window_are_pruned_and_recent_ones_kept(monkeypatch):
    [product] = make_products(1)
    monkeypatch.setattr(dedup, "PRUNE_CHUNK", 3)  # several chunks
    old = timezone.now() - EVENT_ID_RETENTION - timedelta(minutes=1)
    TrackedEventId.objects.bulk_create(
        [TrackedEventId(key=f"old-{i}", product_id=product.pk, created_at=old) for i in range(7)]
        + [TrackedEventId(key="recent", product_id=product.pk, created_at=timezone.now() - timedelta(hours=25))]
    )

    assert prune_event_ids(force=True) == 7
    assert list(TrackedEventId.objects.values_list("key", flat=True)) == ["recent"]


def test_random_retries_and_ids_match_a_naive_model():
    # Given random views of random products, a third of them retried up to 3 times, some without ids
    rng = random.Random(11)
    products = make_products(6)
    sent, expected = [], {p.pk: 0 for p in products}
    for n in range(120):
        product = rng.choice(products)
        keyed = rng.random() < 0.8
        events = product_view(product.pk)
        if keyed:
            events = tagged(events, event_key(f"user:{rng.randint(1, 3)}", f"id-{n % 40}"))
        copies = rng.choice([1, 1, 2, 4])
        sent += events * copies
        if not keyed:
            expected[product.pk] += copies
    seen = set()
    for e in sent:
        if e.event_key is not None and (e.event_key, e.product_id) not in seen:
            seen.add((e.event_key, e.product_id))
            expected[e.product_id] += 1
    rng.shuffle(sent)

    # When they are applied in random batches
    while sent:
        size = rng.randint(1, 25)
        apply_events(sent[:size])
        sent = sent[size:]

    # Then each product counts its unkeyed views and each (id, product) once
    assert {p.pk: counters(p) for p in products} == expected
