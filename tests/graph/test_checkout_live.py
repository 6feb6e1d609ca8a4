"""Double submits through the real server: one cart, one order, over HTTP.

The service tests race threads inside the test process; this one sends the
requests a double-clicking shopper's client sends, to uvicorn in its own process,
so that every layer between the click and the database is in the race.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections import Counter
from decimal import Decimal

from graph.ids import global_id
from marketplace.models import Order
from marketplace.services.accounts import issue_token
from tests.factories import make_product, make_user
from tracking.models import ProductMetrics

ADD = "mutation($id: ID!, $q: Int!) { addToCart(productId: $id, quantity: $q) { errors { code } } }"
CHECKOUT = "mutation($key: String) { checkout(idempotencyKey: $key) { order { id } errors { code } } }"
CLICKS = 10


def post(url: str, query: str, variables: dict, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        result = json.loads(response.read())
    assert "errors" not in result, result
    return result["data"]


def post_ok(url: str, query: str, variables: dict, token: str) -> dict:
    data = post(url, query, variables, token)
    payload = next(iter(data.values()))
    assert payload["errors"] == [], payload
    return data


def at_once(n: int, fn) -> list:
    start = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = fn()
        except Exception as exc:  # an HTTP 500 or a timeout shows up in the assertion
            results[i] = repr(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return results


def outcome(data) -> str:
    if not isinstance(data, dict):
        return data
    payload = data["checkout"]
    return payload["order"]["id"] if payload["order"] else payload["errors"][0]["code"]


def test_ten_clicks_on_checkout_make_one_order_and_one_key_answers_with_it(live_api):
    # Given a logged-in shopper (an API client) with three units in the cart
    user = make_user()
    product = make_product(price="15.00", stock=50)
    url = live_api.graphql_url
    token, _ = issue_token(user=user)  # as login would (the server's hasher cannot read the tests' fast hashes)
    post_ok(url, ADD, {"id": global_id("Product", product.pk), "q": 3}, token)

    # When the client sends checkout ten times at once, without a key
    outcomes = Counter(outcome(r) for r in at_once(CLICKS, lambda: post(url, CHECKOUT, {}, token)))

    # Then one order was placed and the nine others found the cart empty
    assert Order.objects.filter(user=user).count() == 1
    order_id = global_id("Order", Order.objects.get(user=user).pk)
    assert outcomes == {order_id: 1, "EMPTY_CART": CLICKS - 1}, outcomes
    product.refresh_from_db()
    assert product.stock == 47
    metrics = ProductMetrics.objects.get(product=product)
    assert (metrics.total_sales, metrics.total_revenue) == (3, Decimal("45.00"))

    # When the shopper fills the cart again and the client sends one keyed checkout ten times at once
    post_ok(url, ADD, {"id": global_id("Product", product.pk), "q": 2}, token)
    keyed = at_once(CLICKS, lambda: post(url, CHECKOUT, {"key": "c0ffee-42"}, token))

    # Then all ten answers carry the same, second order
    second = Order.objects.get(user=user, idempotency_key="c0ffee-42")
    assert [outcome(r) for r in keyed] == [global_id("Order", second.pk)] * CLICKS
    assert Order.objects.filter(user=user).count() == 2
    product.refresh_from_db()
    assert product.stock == 45
