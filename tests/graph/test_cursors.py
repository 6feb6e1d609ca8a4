"""Crafted cursors: anything this API did not issue is BAD_USER_INPUT, never a 500.

A cursor is base64 of a JSON list (order name, sort values, id). Attackers send deep
JSON, NaN and Infinity decimals, year-1 timestamps (which SQLite and timezone maths
overflow on), numbers beyond 64 bits, garbage and cursors of another order.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.factories import make_category, make_product, make_review, make_user
from tests.helpers import error_codes

pytestmark = pytest.mark.django_db(transaction=True)


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def cursor(*values) -> str:
    return b64(json.dumps(list(values)))


DEEP = b64("[" * 100_000 + "]" * 100_000)[:4000]
CRAFTED = {  # name: (the order the cursor is sent to, the cursor)
    "deeply nested JSON": ("NEWEST", b64("[" * 5000 + "]" * 5000)),
    "deeply nested JSON, long": ("NEWEST", DEEP),
    "NaN decimal": ("PRICE_ASC", cursor("PRICE_ASC", "NaN", 1)),
    "Infinity decimal": ("PRICE_ASC", cursor("PRICE_ASC", "Infinity", 1)),
    "signalling NaN decimal": ("PRICE_ASC", cursor("PRICE_ASC", "sNaN", 1)),
    "huge decimal": ("PRICE_ASC", cursor("PRICE_ASC", "1e400000", 1)),
    "decimal as a number": ("PRICE_ASC", cursor("PRICE_ASC", 10.5, 1)),
    "year 1 timestamp": ("NEWEST", cursor("NEWEST", "0001-01-01T00:00:00+00:00", 1)),
    "year 1 with an offset": ("NEWEST", cursor("NEWEST", "0001-01-01T00:00:00+14:00", 1)),
    "naive timestamp": ("NEWEST", cursor("NEWEST", "2026-01-01T00:00:00", 1)),
    "year 9999 timestamp": ("NEWEST", cursor("NEWEST", "9999-12-31T23:59:59-14:00", 1)),
    "timestamp as a number": ("NEWEST", cursor("NEWEST", 12345, 1)),
    "id beyond 64 bits": ("NEWEST", cursor("NEWEST", "2026-01-01T00:00:00+00:00", 2**70)),
    "id as a float": ("NEWEST", cursor("NEWEST", "2026-01-01T00:00:00+00:00", 1.5)),
    "id as a boolean": ("MOST_VIEWED", cursor("MOST_VIEWED", 3, True)),
    "views beyond 64 bits": ("MOST_VIEWED", cursor("MOST_VIEWED", -(2**80), 1)),
    "NaN score": ("TOP_RATED", b64('["TOP_RATED",NaN,1]')),
    "Infinity score": ("TOP_RATED", b64('["TOP_RATED",Infinity,1]')),
    "huge score": ("TOP_RATED", b64('["TOP_RATED",1e999,1]')),
    "not base64": ("NEWEST", "%%%not-a-cursor%%%"),
    "base64 of garbage": ("NEWEST", b64("\x00\xff garbage")),
    "lone surrogate": ("NEWEST", b64('["NEWEST","\\ud800",1]')),
    "an object": ("NEWEST", b64('{"a": 1}')),
    "too few values": ("NEWEST", cursor("NEWEST", 1)),
    "overlong": ("NEWEST", "A" * 5000),
}
LISTING = "query($after: String) { products(first: 2, after: $after, orderBy: %s) { edges { node { id } } } }"
CATEGORY_LISTING = (
    "query($s: String!, $after: String) { category(slug: $s) {"
    " products(first: 2, after: $after, orderBy: ORDER) { edges { node { id } } } } }"
)


@pytest.mark.parametrize("name", list(CRAFTED))
def test_a_crafted_cursor_is_bad_user_input_on_every_listing(gql, name):
    # Given a catalogue with a category, reviews and a user with favorites and orders
    category = make_category()
    product = make_product(category=category)
    make_review(product)
    order, value = CRAFTED[name]

    # When the crafted cursor is sent to the listings that take one
    results = [
        gql(LISTING % order, {"after": value}),
        gql(
            CATEGORY_LISTING.replace("ORDER", order),
            {"s": category.slug, "after": value},
        ),
        gql(
            "query($s: String!, $after: String) { product(slug: $s) { reviews(first: 2, after: $after)"
            " { edges { node { id } } } } }",
            {"s": product.slug, "after": value},
        ),
    ]

    # Then each is refused as the client's mistake
    for result in results:
        assert error_codes(result) == ["BAD_USER_INPUT"], (name, result)


def test_a_cursor_of_another_order_is_refused_with_its_name(gql):
    make_product()
    make_product()
    page = gql.data("{ products(first: 1, orderBy: PRICE_ASC) { pageInfo { endCursor } } }")["products"]

    result = gql(LISTING % "NEWEST", {"after": page["pageInfo"]["endCursor"]})

    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert "PRICE_ASC" in result["errors"][0]["message"]


def test_a_crafted_cursor_on_a_users_own_lists_is_bad_user_input(gql, client):
    user = make_user()
    client.force_login(user)
    for _, value in (CRAFTED["NaN decimal"], CRAFTED["deeply nested JSON"], CRAFTED["year 1 timestamp"]):
        result = gql(
            "query($after: String) { me { favorites(first: 1, after: $after) { edges { node { id } } }"
            " orders(first: 1, after: $after) { edges { node { id } } } } }",
            {"after": value},
        )
        assert set(error_codes(result)) == {"BAD_USER_INPUT"}, result


@pytest.mark.parametrize(
    "order", ["NEWEST", "PRICE_ASC", "PRICE_DESC", "MOST_VIEWED", "BEST_SELLING", "TOP_RATED", "TRENDING"]
)
def test_every_issued_cursor_is_accepted_back(gql, order):
    for price in ("1.00", "2.50", "2.50"):
        make_product(price=price)
    page = gql.data(f"{{ products(first: 1, orderBy: {order}) {{ pageInfo {{ endCursor }} }} }}")["products"]
    result = gql(LISTING % order, {"after": page["pageInfo"]["endCursor"]})
    assert "errors" not in result and len(result["data"]["products"]["edges"]) == 2
