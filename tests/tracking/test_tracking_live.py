"""Tracking as a client sees it: the GraphQL mutations, and the real server stopping with events queued.

The mutation stories go through the real view and middleware (``gql``) with an executor of
their own installed; the last story runs uvicorn in a subprocess on the test database.
"""

from __future__ import annotations

import signal
import threading
from collections import Counter

import httpx
import pytest

from graph.ids import global_id
from tests.factories import make_category, make_product, make_user
from tests.helpers import GraphQLClient, error_codes
from tests.live_server import start_server, stop_server
from tracking.executor import EventExecutor, set_executor
from tracking.models import ActivityEvent, ProductMetrics

RECEIPT = "{ accepted queued reason }"
VIEW = f"mutation($id: ID!, $source: String) {{ trackProductView(productId: $id, source: $source) {RECEIPT} }}"
CLICK = f"mutation($id: ID!) {{ trackProductClick(productId: $id) {RECEIPT} }}"
LISTING = f"mutation($ids: [ID!]!) {{ trackListingView(productIds: $ids) {RECEIPT} }}"
ACCEPTED_ONE = {"accepted": True, "queued": 1, "reason": None}


@pytest.fixture
def executor():
    """A fresh process executor for this test (workers start on the first event); the previous one after."""
    executor = EventExecutor(batch_interval=0.01)
    previous = set_executor(executor)
    yield executor
    set_executor(previous)
    executor.shutdown(timeout=10)


@pytest.fixture
def gql(client, settings) -> GraphQLClient:
    # Every test client is one visitor at one address: without this, the suite's tracking
    # calls would add up to the per-visitor rate limit, which these stories do not test.
    settings.TRACKING_RATE_LIMIT = 0
    return GraphQLClient(client)


def make_products(count: int, **extra):
    seller, category = make_user(), make_category()
    return [make_product(seller=seller, category=category, **extra) for _ in range(count)]


def counters(product) -> dict[str, int]:
    return (
        ProductMetrics.objects.filter(product=product)
        .values("total_views", "total_clicks", "total_impressions")
        .first()
    )


def gid(product) -> str:
    return global_id("Product", product.pk)


# --- the mutations --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_tracking_mutations_answer_with_a_receipt_and_the_counters_follow(gql, executor):
    # Given two products
    shoe, hat = make_products(2)

    # When a client reports views, a click and a listing
    receipts = [
        gql.data(VIEW, {"id": gid(shoe), "source": "search"})["trackProductView"],
        gql.data(VIEW, {"id": str(shoe.pk)})["trackProductView"],  # a plain database id is accepted too
        gql.data(CLICK, {"id": gid(hat)})["trackProductClick"],
        gql.data(LISTING, {"ids": [gid(shoe), gid(hat)]})["trackListingView"],
    ]

    # Then each call is accepted at once, saying how many events it queued
    assert receipts == [ACCEPTED_ONE, ACCEPTED_ONE, ACCEPTED_ONE, {"accepted": True, "queued": 2, "reason": None}]
    # and once the queue is drained, the counters show them
    assert executor.flush(timeout=10)
    assert counters(shoe) == {"total_views": 2, "total_clicks": 0, "total_impressions": 1}
    assert counters(hat) == {"total_views": 0, "total_clicks": 1, "total_impressions": 1}
    assert ActivityEvent.objects.filter(product=shoe, source="search").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_listing_with_duplicate_ids_counts_one_impression_per_product(gql, executor):
    shoe, hat = make_products(2)

    receipt = gql.data(LISTING, {"ids": [gid(shoe), gid(hat), gid(shoe), str(shoe.pk)]})["trackListingView"]

    assert receipt == {"accepted": True, "queued": 2, "reason": None}
    assert executor.flush(timeout=10)
    assert counters(shoe)["total_impressions"] == 1
    assert counters(hat)["total_impressions"] == 1


BAD_INPUT = {
    "unknown product": (VIEW, lambda p, c: {"id": global_id("Product", 987654321)}),
    "inactive product": (VIEW, lambda p, c: {"id": gid(p["inactive"])}),
    "malformed id": (CLICK, lambda p, c: {"id": "not an id!"}),
    "zero id": (CLICK, lambda p, c: {"id": "0"}),
    "a Category id": (VIEW, lambda p, c: {"id": global_id("Category", c.pk)}),
    "a source of 65 characters": (VIEW, lambda p, c: {"id": gid(p["active"]), "source": "x" * 65}),
    "empty listing": (LISTING, lambda p, c: {"ids": []}),
    "101 ids": (LISTING, lambda p, c: {"ids": [gid(p["active"])] * 101}),
    "one unknown id in a listing": (LISTING, lambda p, c: {"ids": [gid(p["active"]), global_id("Product", 987654321)]}),
    "one inactive id in a listing": (LISTING, lambda p, c: {"ids": [gid(p["active"]), gid(p["inactive"])]}),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_is_a_client_error_and_queues_nothing(gql, executor, case):
    # Given an active and an inactive product
    category = make_category()
    products = {
        "active": make_product(category=category),
        "inactive": make_product(category=category, is_active=False),
    }
    document, variables = BAD_INPUT[case]

    # When a client sends the bad request
    result = gql(document, variables(products, category))

    # Then it gets a BAD_USER_INPUT error and nothing is queued or dropped
    assert result.get("data") is None
    assert error_codes(result) == ["BAD_USER_INPUT"], result
    stats = executor.stats()
    assert (stats.enqueued, stats.dropped) == (0, 0)


@pytest.mark.django_db(transaction=True)
def test_reading_a_product_never_counts_as_a_view(gql, executor):
    # Given a product
    [shoe] = make_products(1)

    # When a client reads it, alone and in a listing
    assert gql.data("query($id: ID!) { product(id: $id) { name } }", {"id": gid(shoe)})["product"]
    assert gql.data("{ products(first: 5) { edges { node { name } } } }")["products"]["edges"]

    # Then no event was queued, and the counters did not move
    assert executor.flush(timeout=5)
    assert executor.stats().enqueued == 0
    assert counters(shoe) == {"total_views": 0, "total_clicks": 0, "total_impressions": 0}


# --- the real server, stopped with events queued ---------------------------------

REQUESTS = 300
CLIENT_THREADS = 8


@pytest.fixture
def slow_batching_server(transactional_db):
    """The API served by uvicorn, with batches that wait a minute: what it tracks stays queued
    until it stops, so that the drain on shutdown is what applies it. (All the test's clients
    are one visitor, so the per-visitor rate limit is off.)"""
    server = start_server(
        {"TRACKING_BATCH_INTERVAL": "60", "TRACKING_BATCH_SIZE": "100000", "TRACKING_RATE_LIMIT": "0"}
    )
    try:
        yield server
    finally:
        stop_server(server)


def post_views(url: str, product_ids: list[str]) -> Counter:
    """Send trackProductView for each id over one keep-alive connection; count the accepted ones by id."""
    accepted = Counter()
    with httpx.Client(timeout=30) as http:
        for product_id in product_ids:
            response = http.post(url, json={"query": VIEW, "variables": {"id": product_id}})
            response.raise_for_status()
            receipt = response.json()["data"]["trackProductView"]
            if receipt["accepted"]:
                accepted[product_id] += receipt["queued"]
    return accepted


def test_a_server_stopped_with_events_queued_applies_them_all_before_it_exits(slow_batching_server):
    # Given a running server and five products
    server = slow_batching_server
    products = make_products(5)
    ids = [gid(products[i % 5]) for i in range(REQUESTS)]

    # When clients send a few hundred views at once
    results: list[Counter] = [Counter() for _ in range(CLIENT_THREADS)]

    def client(n: int) -> None:
        results[n] = post_views(server.graphql_url, ids[n::CLIENT_THREADS])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    accepted = sum(results, Counter())
    assert sum(accepted.values()) == REQUESTS

    # Then they are still queued: nothing reached the database yet
    assert sum(counters(p)["total_views"] for p in products) == 0
    assert not ActivityEvent.objects.exists()

    # When the server is stopped the way a deployment stops it
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=30)

    # Then it drained the queue on its way out: every accepted view is counted, once
    assert {gid(p): counters(p)["total_views"] for p in products} == dict(accepted)
    assert ActivityEvent.objects.count() == REQUESTS
    log = server.log()
    assert f"Tracking shutdown: queue drained ({REQUESTS} events processed)" in log, log[-3000:]
    assert "Application shutdown complete" in log
