"""Live metrics against the real server: uvicorn in a subprocess, real websocket clients.

Given a product and a client subscribed to its metrics, when shoppers view it, then the
client receives the new totals pushed after the batch, the last of which equals what a
query returns; and whatever a client sends, the server answers with the protocol's
errors and close codes, and keeps serving everyone else.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from graph.ids import global_id
from marketplace.services.accounts import issue_token
from tests.factories import make_product, make_user
from tests.live.client import (
    PRODUCT_UPDATES,
    SELLER_UPDATES,
    LiveSocket,
    post,
    total_views,
    track_view,
    until_live,
)
from tracking.models import ProductMetrics

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for_views(base_url: str, product_id: str, expected: int, timeout: float = 20.0) -> int:
    """The drained total, once it reaches ``expected`` (the server batches every 200 ms)."""
    deadline = time.monotonic() + timeout
    while (views := total_views(base_url, product_id)) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return views


async def updates_until(socket: LiveSocket, op_id: str, product_id: str, views: int) -> list[dict]:
    """Every update of ``product_id`` in ``op_id`` up to the one showing ``views`` views."""
    received = []
    while True:
        message = await socket.next_for(op_id)
        assert message["type"] == "next", message
        update = message["payload"]["data"]["productMetricsUpdated"]
        if update["product"]["id"] != product_id:
            continue
        received.append(update)
        if update["metrics"]["totalViews"] >= views:
            return received


def test_three_views_reach_a_subscriber_with_the_totals_a_query_returns(live_api):
    product = make_product(name="Live Lamp")
    pid, probe = global_id("Product", product.pk), global_id("Product", make_product().pk)

    async def scenario():
        socket = await LiveSocket.open(live_api.url)
        await socket.subscribe("1", PRODUCT_UPDATES, {"ids": [pid, probe]})
        await until_live(socket, "1", live_api.url, probe)
        for _ in range(3):
            await asyncio.to_thread(track_view, live_api.url, pid)
        queried = await asyncio.to_thread(wait_for_views, live_api.url, pid, 3)
        updates = await updates_until(socket, "1", pid, queried)
        await socket.close()
        return queried, updates

    queried, updates = asyncio.run(scenario())
    assert queried == 3
    assert updates[-1]["metrics"]["totalViews"] == queried
    assert updates[-1]["product"] == {"id": pid, "name": "Live Lamp"}
    assert updates[-1]["metrics"]["totalRevenue"] is None  # anonymous: never revenue
    assert len(updates) <= 3  # one per batch at most, never one per event and more


def test_revenue_is_pushed_to_the_seller_only(live_api):
    seller = make_user()
    product = make_product(seller=seller)
    ProductMetrics.objects.filter(product=product).update(total_revenue=Decimal("42.50"), total_sales=3)
    seller_token, _ = issue_token(user=seller)
    other_token, _ = issue_token(user=make_user())
    pid = global_id("Product", product.pk)

    async def scenario():
        mine = await LiveSocket.open(live_api.url, payload={"authorization": f"Bearer {seller_token}"})
        theirs = await LiveSocket.open(live_api.url, payload={"token": other_token})
        await mine.subscribe("seller", SELLER_UPDATES)
        await mine.subscribe("product", PRODUCT_UPDATES, {"ids": [pid]})
        await theirs.subscribe("product", PRODUCT_UPDATES, {"ids": [pid]})
        await theirs.subscribe("seller", SELLER_UPDATES)  # their own products: none of these
        seller_view = (await until_live(mine, "seller", live_api.url, pid))["payload"]["data"]["sellerMetricsUpdated"]
        mine_product = (await until_live(mine, "product", live_api.url, pid))["payload"]["data"]
        theirs_product = (await until_live(theirs, "product", live_api.url, pid))["payload"]["data"]
        await theirs.settle()
        for socket in (mine, theirs):
            await socket.close()
        return seller_view, mine_product, theirs_product

    seller_view, mine_product, theirs_product = asyncio.run(scenario())
    assert seller_view["product"]["id"] == pid
    assert seller_view["metrics"]["totalRevenue"] == "42.50"
    assert mine_product["productMetricsUpdated"]["metrics"]["totalRevenue"] == "42.50"
    assert theirs_product["productMetricsUpdated"]["metrics"]["totalRevenue"] is None


def test_bad_subscriptions_get_the_protocols_error_message(live_api):
    inactive = make_product(is_active=False)
    active = make_product()
    pid = global_id("Product", active.pk)
    cases = {
        "unknown": ([global_id("Product", 987654)], "no active product"),
        "inactive": ([global_id("Product", inactive.pk)], "no active product"),
        "wrong-type": ([global_id("Category", active.pk)], "expected a Product ID"),
        "garbage": (["not an id at all"], "not a valid Product ID"),
        "empty": ([], "at least one"),
        "too-many": ([pid] * 101, "at most 100"),
    }

    async def scenario():
        socket = await LiveSocket.open(live_api.url)
        answers = {}
        for op_id, (ids, _) in cases.items():
            await socket.subscribe(op_id, PRODUCT_UPDATES, {"ids": ids})
            answers[op_id] = await socket.next_for(op_id)
        await socket.subscribe("seller", SELLER_UPDATES)  # anonymous
        answers["seller"] = await socket.next_for("seller")
        await socket.subscribe("query", "{ __typename }")
        answers["query"] = await socket.next_for("query")
        await socket.close()
        return answers

    answers = asyncio.run(scenario())
    for op_id, (_, words) in cases.items():
        assert answers[op_id]["type"] == "error", answers[op_id]
        assert answers[op_id]["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert words in answers[op_id]["payload"][0]["message"]
    assert answers["seller"]["type"] == "error"
    assert answers["seller"]["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert answers["query"]["type"] == "error"
    assert "HTTP POST" in answers["query"]["payload"][0]["message"]


def test_an_eleventh_subscription_on_one_socket_is_refused(live_api):
    pid = global_id("Product", make_product().pk)

    async def scenario():
        socket = await LiveSocket.open(live_api.url)
        for n in range(10):
            await socket.subscribe(str(n), PRODUCT_UPDATES, {"ids": [pid]})
        await socket.subscribe("11th", PRODUCT_UPDATES, {"ids": [pid]})
        refusal = await socket.next_for("11th")
        await socket.send({"id": "0", "type": "complete"})  # one ends: room for another
        await socket.settle()
        await socket.subscribe("again", PRODUCT_UPDATES, {"ids": [pid]})
        again = await until_live(socket, "again", live_api.url, pid)
        await socket.close()
        return refusal, again

    refusal, again = asyncio.run(scenario())
    assert refusal["type"] == "error"
    assert "limit" in refusal["payload"][0]["message"].lower()
    assert again["type"] == "next"


SYNTAX_ERROR = '{"id": "1", "type": "subscribe", "payload": {"query": "{"}}'


@pytest.mark.parametrize(
    ("name", "messages", "code"),
    [
        ("malformed JSON", ["{not json"], 4400),
        ("a message without a type", ['{"id": "1"}'], 4400),
        ("an unknown message type", ['{"type": "hello"}'], 4400),
        ("subscribe before connection_init", ['{"id": "1", "type": "subscribe", "payload": {"query": "x"}}'], 4401),
        ("a second connection_init", ['{"type": "connection_init"}', '{"type": "connection_init"}'], 4429),
        ("a payload that is not an object", ['{"type": "connection_init", "payload": [1]}'], 4400),
        ("a syntax error", ['{"type": "connection_init"}', SYNTAX_ERROR], 4400),
    ],
)
def test_malformed_protocol_messages_close_with_the_protocols_codes(live_api, name, messages, code):
    async def scenario():
        socket = await LiveSocket.open(live_api.url, init=False)
        for message in messages:
            await socket.ws.send(message)
        closed = await socket.close_code()
        healthy = await LiveSocket.open(live_api.url)  # the server still serves
        await healthy.settle()
        await healthy.close()
        return closed

    assert asyncio.run(scenario()) == code, name


def test_a_bad_token_closes_the_socket_as_forbidden(live_api):
    async def scenario():
        codes = []
        for payload in ({"authorization": "Bearer mp_not-a-real-token"}, {"token": "wrong"}):
            socket = await LiveSocket.open(live_api.url, init=False)
            await socket.send({"type": "connection_init", "payload": payload})
            codes.append(await socket.close_code())
        return codes

    assert asyncio.run(scenario()) == [4403, 4403]
    assert post(live_api.url, "{ __typename }")["data"] == {"__typename": "Query"}


def test_a_visitor_beyond_the_connection_limit_is_closed(live_api_factory):
    server = live_api_factory(WEBSOCKET_CONNECTIONS_PER_VISITOR="2")

    async def scenario():
        first = await LiveSocket.open(server.url)
        second = await LiveSocket.open(server.url)
        third = await LiveSocket.open(server.url, init=False)
        refused = await third.close_code()
        await first.close()
        await asyncio.sleep(0.2)
        fourth = await LiveSocket.open(server.url)  # a closed socket frees its place
        await fourth.settle()
        for socket in (second, fourth):
            await socket.close()
        return refused

    assert asyncio.run(scenario()) == 4429


def test_a_socket_without_connection_init_is_closed_on_timeout(live_api_factory):
    server = live_api_factory(WEBSOCKET_INIT_TIMEOUT="0.5")

    async def scenario():
        socket = await LiveSocket.open(server.url, init=False)
        return await socket.close_code()

    assert asyncio.run(scenario()) == 4408


def test_a_checkout_and_a_favorite_reach_the_seller_with_the_sale(live_api):
    seller, shopper = make_user(), make_user()
    product = make_product(seller=seller, price="15.00", stock=10)
    pid = global_id("Product", product.pk)
    seller_token, _ = issue_token(user=seller)
    shopper_token, _ = issue_token(user=shopper)
    add = "mutation($id: ID!) { addToCart(productId: $id, quantity: 2) { errors { code } } }"
    favorite = "mutation($id: ID!) { addFavorite(productId: $id) { isFavorite } }"
    checkout = "mutation { checkout { errors { code } } }"
    totals = "totalSales totalFavorites totalRevenue"
    subscription = f"subscription {{ sellerMetricsUpdated {{ product {{ id }} metrics {{ {totals} }} }} }}"

    async def scenario():
        socket = await LiveSocket.open(live_api.url, payload={"authorization": f"Bearer {seller_token}"})
        await socket.subscribe("1", subscription)
        await until_live(socket, "1", live_api.url, pid)  # registered
        for document in (add, favorite, checkout):
            result = await asyncio.to_thread(post, live_api.url, document, {"id": pid}, shopper_token)
            assert "errors" not in result, result
        while True:  # the sale commits with the order, the favorite with the next batch
            update = (await socket.next_for("1"))["payload"]["data"]["sellerMetricsUpdated"]
            if update["metrics"]["totalSales"] == 2 and update["metrics"]["totalFavorites"] == 1:
                break
        query = f"query($id: ID!) {{ product(id: $id) {{ metrics {{ {totals} }} }} }}"
        queried = await asyncio.to_thread(post, live_api.url, query, {"id": pid}, seller_token)
        await socket.close()
        return update, queried["data"]["product"]["metrics"]

    update, queried = asyncio.run(scenario())
    assert update["product"]["id"] == pid
    assert update["metrics"] == queried == {"totalSales": 2, "totalFavorites": 1, "totalRevenue": "30.00"}
