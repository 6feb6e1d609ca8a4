"""ProductMetrics.history through the API: zero-filled series ending now, revenue for the
seller and staff only, bounded arguments, one query for a whole listing, priced by cost."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from graphql import parse

from graph.validation.shape import analyse, operation_cost
from marketplace.models import Product
from tests.factories import make_product, make_user
from tests.graph.test_query_budget import LISTING_QUERIES_WITH_METRICS, build_catalogue
from tests.helpers import GraphQLClient, error_codes
from tracking import history
from tracking.metrics import MetricsHelper
from tracking.models import DailyMetrics, HourlyMetrics

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
HISTORY = """query($s: String, $g: MetricsGranularity, $n: Int) { product(slug: $s) { metrics {
  history(granularity: $g, last: $n) { start views clicks sales uniqueViewers revenue } } } }"""


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    """Every series ends in the period holding NOW (no test flakes at midnight)."""
    monkeypatch.setattr(history, "clock", lambda: NOW)


def as_user(user) -> GraphQLClient:
    client = Client()
    if user is not None:
        client.force_login(user)
    return GraphQLClient(client)


def series(gql, product, **variables):
    return gql.data(HISTORY, {"s": product.slug, **variables})["product"]["metrics"]["history"]


def test_the_default_is_30_days_newest_last_zero_filled(gql):
    product = make_product()
    DailyMetrics.objects.bulk_create(
        [
            DailyMetrics(product=product, start=datetime(2026, 11, 30, tzinfo=UTC), views=5, unique_viewers=4),
            DailyMetrics(product=product, start=datetime(2026, 11, 1, tzinfo=UTC), views=2, unique_viewers=1),
            DailyMetrics(product=product, start=datetime(2026, 10, 31, tzinfo=UTC), views=9),  # 31 days ago
        ]
    )

    buckets = series(gql, product)

    assert len(buckets) == 30
    assert buckets[0]["start"] == "2026-11-01T00:00:00+00:00" and buckets[-1]["start"] == "2026-11-30T00:00:00+00:00"
    assert [b["views"] for b in buckets] == [2] + [0] * 28 + [5]
    assert buckets[-1]["uniqueViewers"] == 4 and buckets[1] == {
        "start": "2026-11-02T00:00:00+00:00", "views": 0, "clicks": 0, "sales": 0, "uniqueViewers": 0, "revenue": None
    }  # fmt: skip


def test_hours_and_weeks_read_their_own_rows(gql):
    product = make_product()
    HourlyMetrics.objects.create(product=product, start=datetime(2026, 11, 30, 14, tzinfo=UTC), views=3)
    DailyMetrics.objects.bulk_create(
        [
            DailyMetrics(product=product, start=datetime(2026, 11, 23, tzinfo=UTC), views=1, unique_viewers=1),
            DailyMetrics(product=product, start=datetime(2026, 11, 29, tzinfo=UTC), views=2, unique_viewers=2),
        ]
    )
    hours = series(gql, product, g="HOUR", n=3)
    assert [(b["start"], b["views"]) for b in hours] == [
        ("2026-11-30T13:00:00+00:00", 0), ("2026-11-30T14:00:00+00:00", 3), ("2026-11-30T15:00:00+00:00", 0)
    ]  # fmt: skip
    weeks = series(gql, product, g="WEEK", n=2)  # NOW is a Monday
    assert [(b["start"], b["views"], b["uniqueViewers"]) for b in weeks] == [
        ("2026-11-23T00:00:00+00:00", 3, None), ("2026-11-30T00:00:00+00:00", 0, None)
    ]  # fmt: skip


def test_null_arguments_mean_the_defaults(gql):
    product = make_product()
    assert len(series(gql, product, g=None, n=None)) == 30


def test_revenue_in_history_is_for_the_seller_and_staff_only():
    seller = make_user()
    product = make_product(seller=seller)
    DailyMetrics.objects.create(
        product=product, start=datetime(2026, 11, 30, tzinfo=UTC), sales=3, revenue=Decimal("30.00")
    )

    def last_bucket(user):
        bucket = series(as_user(user), product, n=1)[0]
        return bucket["sales"], bucket["revenue"]

    assert last_bucket(None) == (3, None)
    assert last_bucket(make_user()) == (3, None)
    assert last_bucket(seller) == (3, "30.00")
    assert last_bucket(make_user(is_staff=True)) == (3, "30.00")


def test_in_one_listing_a_seller_sees_the_revenue_of_their_products_only():
    # Given two sellers' products in one listing, each with a sale today
    alice, bob = make_user(), make_user()
    products = [make_product(seller=alice), make_product(seller=bob), make_product(seller=alice)]
    DailyMetrics.objects.bulk_create(
        [
            DailyMetrics(product=p, start=NOW.replace(hour=0, minute=0), sales=1, revenue=Decimal("7.00"))
            for p in products
        ]
    )
    query = "{ products(first: 10) { edges { node { slug metrics { history(last: 1) { sales revenue } } } } } }"

    # When alice reads the listing (one batch of series for both sellers' products)
    edges = as_user(alice).data(query)["products"]["edges"]

    # Then she sees her revenue and not bob's; every sale shows
    revenue = {e["node"]["slug"]: e["node"]["metrics"]["history"][0]["revenue"] for e in edges}
    assert revenue == {products[0].slug: "7.00", products[1].slug: None, products[2].slug: "7.00"}
    assert all(e["node"]["metrics"]["history"][0]["sales"] == 1 for e in edges)


@pytest.mark.parametrize("granularity,bound", [("HOUR", 744), ("DAY", 366), ("WEEK", 104)])
def test_last_out_of_bounds_is_bad_user_input_with_the_bounds(gql, granularity, bound):
    product = make_product()
    assert len(series(gql, product, g=granularity, n=bound)) == bound
    for wrong in (0, bound + 1):
        result = gql(HISTORY, {"s": product.slug, "g": granularity, "n": wrong})
        assert error_codes(result) == ["BAD_USER_INPUT"]
        error = result["errors"][0]
        assert error["message"] == f"last must be between 1 and {bound} for {granularity}, got {wrong}."
        assert error["extensions"]["field"] == "last"


LISTING = """{ products(first: %d, orderBy: NEWEST) { totalCount edges { cursor node {
    id name slug price inStock category { name slug parent { name } } seller { displayName }
    images { url altText } rating { average count }
    metrics { totalViews totalClicks totalSales clickThroughRate conversionRate %s } } } } }"""
WITH_HISTORY = "history(last: 14) { start views clicks sales uniqueViewers revenue }"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", [10, 100])
def test_history_on_every_item_of_a_listing_costs_exactly_one_more_query(gql, django_assert_num_queries, size):
    # Given a listing whose products all have metrics, and buckets for some of them
    products = build_catalogue(size)
    MetricsHelper.bulk_ensure_metrics([p.pk for p in Product.objects.all()])
    DailyMetrics.objects.bulk_create(
        [DailyMetrics(product=p, start=datetime(2026, 11, 30 - i % 14, tzinfo=UTC), views=i) for i, p in
         enumerate(products)]
    )  # fmt: skip

    with django_assert_num_queries(LISTING_QUERIES_WITH_METRICS):
        plain = gql.data(LISTING % (size, ""))
    with django_assert_num_queries(LISTING_QUERIES_WITH_METRICS + 1):
        data = gql.data(LISTING % (size, WITH_HISTORY))

    edges = data["products"]["edges"]
    assert len(edges) == size == len(plain["products"]["edges"])
    assert all(len(edge["node"]["metrics"]["history"]) == 14 for edge in edges)
    assert sum(b["views"] for edge in edges for b in edge["node"]["metrics"]["history"]) == sum(range(size))


def test_the_cost_of_history_grows_with_last():
    def cost(last: int) -> int:
        return operation_cost(
            parse(f'{{ product(slug: "x") {{ metrics {{ history(last: {last}) {{ views }} }} }} }}'), None, {}
        )

    assert cost(28) - cost(14) == 14  # one bucket, one field: 1 each
    # products 1 + 100 x (edges 1 + node 1 + metrics 1 + history 1 + last x 2 leaves)
    listing = "{ products(first: 100) { edges { node { metrics { history(last: 14) { views clicks } } } } } }"
    assert operation_cost(parse(listing), None, {}) == 1 + 100 * (4 + 14 * 2)
    # the default (30) when `last` is not given, a variable's value when it is one
    assert cost(30) == operation_cost(parse('{ product(slug: "x") { metrics { history { views } } } }'), None, {})
    query = 'query($n: Int) { product(slug: "x") { metrics { history(last: $n) { views } } } }'
    assert operation_cost(parse(query), None, {"n": 300}) == cost(300)
    assert analyse(parse(query), None, {"n": 300}).expensive == 0


def test_a_listing_with_long_hourly_histories_is_refused_before_it_runs(gql, django_assert_num_queries):
    make_product()
    query = """{ products(first: 100) { edges { node { metrics {
      history(granularity: HOUR, last: 744) { start views clicks sales revenue } } } } } }"""
    with django_assert_num_queries(0):
        result = gql(query)
    assert error_codes(result) == ["QUERY_TOO_COSTLY"]
    assert result["extensions"]["cost"]["requestedQueryCost"] > 50_000
    # the same listing with a fortnight of days runs
    assert "errors" not in gql(query.replace("granularity: HOUR, last: 744", "last: 14"))


@pytest.mark.django_db(transaction=True)
def test_a_listings_series_are_in_hand_before_its_items_complete(gql, django_assert_num_queries, monkeypatch):
    # Given a listing whose products have buckets
    from graph.execution import LeanExecutionContext

    products = build_catalogue(6)
    MetricsHelper.bulk_ensure_metrics([p.pk for p in products])
    DailyMetrics.objects.bulk_create([DailyMetrics(product=p, start=NOW, views=i + 1) for i, p in enumerate(products)])
    awaited: list[str] = []
    real = LeanExecutionContext.complete_awaitable_value

    def spy(self, return_type, field_details_list, info, *args, **kwargs):
        awaited.append(info.field_name)
        return real(self, return_type, field_details_list, info, *args, **kwargs)

    monkeypatch.setattr(LeanExecutionContext, "complete_awaitable_value", spy)
    # a variable for `last`, a fragment and an alias for the fields, and two series per item
    query = """query($n: Int!) { products(first: 6, orderBy: NEWEST) { edges { node { slug metrics {
        week: history(last: $n) { ...Counts }
        days: history(granularity: DAY, last: 2) { start seen: views }
    } } } } }
    fragment Counts on MetricsBucket { start views clicks @include(if: true) }"""

    plain = "{ products(first: 6, orderBy: NEWEST) { edges { node { slug metrics { totalViews } } } } }"
    with CaptureQueriesContext(connection) as without_series:
        gql.data(plain)

    # When it runs
    with django_assert_num_queries(len(without_series) + 2):  # one per (granularity, last, fields)
        edges = gql.data(query, {"n": 7})["products"]["edges"]

    # Then no product's series was an awaitable (loaded with the page, as its other fields)
    assert "week" not in awaited and "days" not in awaited and "history" not in awaited
    views = {e["node"]["slug"]: e["node"]["metrics"]["week"][-1]["views"] for e in edges}
    assert views == {p.slug: i + 1 for i, p in enumerate(products)}
    for edge in edges:
        week, days = edge["node"]["metrics"]["week"], edge["node"]["metrics"]["days"]
        assert len(week) == 7 and set(week[-1]) == {"start", "views", "clicks"}
        assert days[-1] == {"start": week[-1]["start"], "seen": week[-1]["views"]}


@pytest.mark.parametrize(
    "selection",
    [
        "{ views }",
        "{ start impressions favoritesAdded cartRemovals sales uniqueViewers }",
        "{ ... on MetricsBucket { clicks } revenue views @skip(if: false) }",
        "{ __typename start }",
    ],
)
def test_a_series_reads_the_same_whatever_fields_it_selects(gql, selection):
    # Given a product with a full bucket today and one yesterday
    product = make_product()
    full = dict(impressions=9, views=8, clicks=7, favorites_added=6, favorites_removed=5, cart_additions=4,
                cart_removals=3, sales=2, unique_viewers=1, revenue=Decimal("4.50"))  # fmt: skip
    DailyMetrics.objects.bulk_create(
        [
            DailyMetrics(product=product, start=NOW.replace(hour=0, minute=0), **full),
            DailyMetrics(product=product, start=datetime(2026, 11, 29, tzinfo=UTC), views=3),
        ]
    )
    everything = "{ __typename start impressions views clicks favoritesAdded favoritesRemoved cartAdditions " \
        "cartRemovals sales uniqueViewers revenue }"  # fmt: skip

    def read(selection: str) -> list[dict]:
        query = f'{{ product(slug: "{product.slug}") {{ metrics {{ history(last: 3) {selection} }} }} }}'
        return gql.data(query)["product"]["metrics"]["history"]

    # When the series is read with only some of its fields (a loader key per selection)
    some, every = read(selection), read(everything)

    # Then each field holds what the whole bucket holds (revenue: null for an anonymous reader)
    assert [{name: bucket[name] for name in one} for one, bucket in zip(some, every, strict=True)] == some
    assert every[-1]["views"] == 8 and every[-2]["views"] == 3 and every[-1]["revenue"] is None
