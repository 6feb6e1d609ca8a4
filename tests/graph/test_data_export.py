"""me.exportData: a shopper downloads everything the marketplace holds about them, as one JSON document."""

import json
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from graph import export
from marketplace.models import Favorite, Order, OrderItem
from marketplace.services import privacy
from marketplace.services.accounts import issue_token
from tests.factories import make_product, make_review, make_user
from tests.helpers import GraphQLClient
from tracking.models import ActivityEvent, EventKind

PASSWORD = "correct-horse-battery-9"
LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { errors { code } } }"
EXPORT = "{ me { exportData { url expiresAt } } }"


def shopper_with_history(name: str, product, *, order_lines: int = 1, activity: int = 3):
    """A user who ordered ``product``, reviewed and favorited it, and has ``activity`` events."""
    user = make_user(name)
    order = Order.objects.create(user=user, total=Decimal("20.00") * order_lines, idempotency_key=f"{name}-key")
    for _ in range(order_lines):
        OrderItem.objects.create(order=order, product=product, quantity=2, unit_price=Decimal("10.00"))
    make_review(product, user, rating=4).__class__.objects.filter(user=user).update(body=f"{name} says hi")
    Favorite.objects.create(user=user, product=product)
    when = datetime(2026, 11, 30, 8, tzinfo=UTC)
    ActivityEvent.objects.bulk_create(
        ActivityEvent(kind=EventKind.VIEW, product=product, user=user, visitor_key=f"{name}-session", created_at=when)
        for _ in range(activity)
    )
    return user


def link_for(user) -> str:
    gql = GraphQLClient(Client())
    assert gql.data(LOGIN, {"u": user.username, "p": PASSWORD})["login"]["errors"] == []
    return gql.data(EXPORT)["me"]["exportData"]["url"]


def download(url: str) -> tuple[int, dict | None]:
    """GET the link as a download manager would: a fresh client, no session, no token."""
    response = Client().get(urlsplit(url).path)
    if response.status_code != 200:
        return response.status_code, None
    return 200, json.loads(async_to_sync(_read)(response))


async def _read(response) -> bytes:
    return b"".join([chunk async for chunk in response.streaming_content])


@pytest.mark.django_db(transaction=True)
def test_a_shopper_downloads_their_data_over_the_real_server_as_a_stream(live_api):
    # Given a shopper with an order, a review, a favorite and activity, and another shopper of the same mug
    mug = make_product(name="Mug")
    alice = shopper_with_history("alice", mug, order_lines=2, activity=3)
    shopper_with_history("bob", mug)
    token, _ = issue_token(user=alice)

    # When she asks for her export and downloads it
    body = json.dumps({"query": EXPORT}).encode()
    ask = urllib.request.Request(
        live_api.graphql_url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(ask, timeout=60) as response:
        url = json.loads(response.read())["data"]["me"]["exportData"]["url"]
    assert url.startswith(live_api.url + "/account/export/")
    with urllib.request.urlopen(url, timeout=60) as response:
        headers, document = response.headers, json.loads(response.read())

    # Then it is one JSON document, sent in chunks, never cached
    assert headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in headers
    assert headers["Content-Type"] == "application/json" and headers["Cache-Control"] == "no-store"
    assert "attachment" in headers["Content-Disposition"]
    # with her account, orders and lines, review, favorite and activity
    assert document["format"] == "marketplace-data-export/1"
    assert (document["account"]["username"], document["account"]["email"]) == ("alice", "alice@example.com")
    [order] = document["orders"]
    assert order["idempotencyKey"] == "alice-key" and order["total"] == "40.00"
    assert [(i["product"]["name"], i["quantity"], i["lineTotal"]) for i in order["items"]] == [("Mug", 2, "20.00")] * 2
    assert [(r["rating"], r["body"]) for r in document["reviews"]] == [(4, "alice says hi")]
    assert [f["product"]["name"] for f in document["favorites"]] == ["Mug"]
    assert [a["kind"] for a in document["activity"]] == ["view"] * 3
    assert [t["prefix"] for t in document["account"]["apiTokens"]] == [token[:12]]
    # and nothing of anyone else, nor her secrets
    text = json.dumps(document)
    for foreign in ("bob", "bob@example.com", "bob says hi", "bob-key", "alice-session", token):
        assert foreign not in text


@pytest.mark.django_db
def test_a_long_history_is_read_and_sent_one_page_at_a_time(monkeypatch):
    # Given a shopper with 1,234 activity rows and pages of 500
    mug = make_product()
    alice = shopper_with_history("alice", mug, activity=1234)

    # When the export is written
    with CaptureQueriesContext(connection) as queries:
        pages_read_when_sent = []
        chunks = []
        for chunk in export.document_chunks(alice, page_size=500):
            chunks.append(chunk)
            if '"kind": "view"' in chunk:
                pages_read_when_sent.append(sum("tracking_activityevent" in q["sql"] for q in queries.captured_queries))

    # Then each page of activity is one query, read just before it is sent: 500, 500, 234
    assert pages_read_when_sent == [1, 2, 3]
    assert [chunk.count('"kind": "view"') for chunk in chunks if '"kind": "view"' in chunk] == [500, 500, 234]
    # and the whole export is 8 queries: the tokens, orders and their lines, reviews, favorites, 3 pages of activity
    assert len(queries.captured_queries) == 8
    document = json.loads("".join(chunks))
    assert len(document["activity"]) == 1234 and len(document["orders"]) == 1


@pytest.mark.django_db
def test_empty_sections_are_empty_lists():
    nobody = make_user("newcomer")
    document = json.loads("".join(export.document_chunks(nobody, page_size=2)))
    assert {k: document[k] for k in ("orders", "reviews", "favorites", "activity")} == {
        "orders": [],
        "reviews": [],
        "favorites": [],
        "activity": [],
    }


@pytest.mark.django_db
def test_the_link_serves_its_owner_only_while_it_is_fresh(monkeypatch):
    mug = make_product()
    alice = shopper_with_history("alice", mug)
    url = link_for(alice)
    assert download(url)[0] == 200

    # A tampered link, an expired one, and one issued before a password change are refused
    assert download(url[:-3] + "abc")[0] == 404
    monkeypatch.setattr(export, "EXPORT_LINK_MAX_AGE", -1)
    assert download(url)[0] == 404
    monkeypatch.undo()
    alice.set_password("another-long-password-7")
    alice.save()
    assert download(url)[0] == 404


@pytest.mark.django_db
def test_an_erased_account_has_nothing_to_export():
    mug = make_product()
    alice = shopper_with_history("alice", mug)
    url = link_for(alice)

    privacy.delete_account(user=alice, password=PASSWORD, address="10.0.0.1")

    assert download(url)[0] == 404


@pytest.mark.django_db
def test_only_the_logged_in_user_gets_a_link():
    anonymous = GraphQLClient(Client())
    assert anonymous.data(EXPORT) == {"me": None}
    # register answers with the new user, but hands out no link to whoever called it
    register = """mutation($p: String!) { register(username: "carol", email: "carol@example.com", password: $p) {
      user { exportData { url } } errors { code } } }"""
    assert anonymous.data(register, {"p": PASSWORD})["register"] == {"user": {"exportData": None}, "errors": []}
