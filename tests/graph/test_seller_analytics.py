"""me.sellerAnalytics: a seller's own products over a window, summed per period, with totals
and top products; bad windows are BAD_USER_INPUT; nobody else's figures ever show."""

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client

from graph.ids import global_id
from tests.factories import make_product, make_user
from tests.helpers import GraphQLClient, error_codes
from tracking.models import DailyMetrics, HourlyMetrics

pytestmark = pytest.mark.django_db

ANALYTICS = """query($from: DateTime!, $to: DateTime!, $g: MetricsGranularity, $by: MetricsRanking, $n: Int) {
  me { sellerAnalytics(from: $from, to: $to, granularity: $g) {
    start end granularity
    series { start views sales uniqueViewers revenue }
    totals { views clicks sales uniqueViewers revenue }
    topProducts(by: $by, first: $n) { product { id name } totals { views sales revenue } conversionRate }
  } } }"""
NOVEMBER = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}


def as_user(user) -> GraphQLClient:
    client = Client()
    if user is not None:
        client.force_login(user)
    return GraphQLClient(client)


def day(d: int, month: int = 11) -> datetime:
    return datetime(2026, month, d, tzinfo=UTC)


def analytics(user, **variables) -> dict:
    return as_user(user).data(ANALYTICS, {**NOVEMBER, **variables})["me"]["sellerAnalytics"]


@pytest.fixture
def shop():
    """A seller with three products and another seller whose figures must never show."""
    seller, other = make_user(), make_user()
    lamp, desk, chair = (make_product(seller=seller, name=n) for n in ("Lamp", "Desk", "Chair"))
    rival = make_product(seller=other, name="Rival")
    DailyMetrics.objects.bulk_create(
        [
            DailyMetrics(product=lamp, start=day(2), views=10, sales=1, revenue=Decimal("20.00"), unique_viewers=8),
            DailyMetrics(product=desk, start=day(2), views=5, sales=2, revenue=Decimal("300.00"), unique_viewers=5),
            DailyMetrics(product=chair, start=day(30), views=10, clicks=4),
            DailyMetrics(product=rival, start=day(2), views=1000, sales=99, revenue=Decimal("9999.00")),
            DailyMetrics(product=lamp, start=day(1, 12), views=500),  # December: outside
        ]
    )
    return seller, other, (lamp, desk, chair)


def test_a_seller_sees_their_products_summed_per_day_zero_filled_with_totals(shop):
    seller, _, _ = shop

    result = analytics(seller)

    assert result["start"] == "2026-11-01T00:00:00+00:00" and result["granularity"] == "DAY"
    assert len(result["series"]) == 30  # every day of November, oldest first
    assert result["series"][0] == {
        "start": "2026-11-01T00:00:00+00:00", "views": 0, "sales": 0, "uniqueViewers": None, "revenue": "0.00"
    }  # fmt: skip
    assert result["series"][1] == {
        "start": "2026-11-02T00:00:00+00:00", "views": 15, "sales": 3, "uniqueViewers": None, "revenue": "320.00"
    }  # fmt: skip
    assert result["series"][-1]["views"] == 10
    assert result["totals"] == {"views": 25, "clicks": 4, "sales": 3, "uniqueViewers": None, "revenue": "320.00"}


def test_top_products_rank_the_window_with_ties_broken_by_id(shop):
    seller, _, (lamp, desk, chair) = shop

    def top(by, n=10):
        return [row["product"]["name"] for row in analytics(seller, by=by, n=n)["topProducts"]]

    assert top("VIEWS") == ["Lamp", "Chair", "Desk"]  # lamp and chair tie at 10: lamp's id is lower
    assert top("VIEWS", 1) == ["Lamp"]
    assert top("REVENUE") == ["Desk", "Lamp", "Chair"]
    assert top("SALES") == ["Desk", "Lamp", "Chair"]
    assert top("CLICKS") == ["Chair", "Lamp", "Desk"]
    assert top("CONVERSION") == ["Desk", "Lamp", "Chair"]  # 2/5, 1/10, 0/10
    first = analytics(seller, by="CONVERSION")["topProducts"][0]
    assert first == {
        "product": {"id": global_id("Product", desk.pk), "name": "Desk"},
        "totals": {"views": 5, "sales": 2, "revenue": "300.00"},
        "conversionRate": 0.4,
    }


def test_weeks_and_hours_sum_their_own_rows(shop):
    seller, _, (lamp, _, _) = shop
    weeks = analytics(seller, g="WEEK")["series"]  # November 2026 starts on a Sunday
    assert [w["start"][:10] for w in weeks] == ["2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16",
                                                "2026-11-23", "2026-11-30"]  # fmt: skip
    assert [w["views"] for w in weeks] == [0, 15, 0, 0, 0, 10]

    HourlyMetrics.objects.create(product=lamp, start=datetime(2026, 11, 2, 9, tzinfo=UTC), views=7)
    hours = analytics(seller, g="HOUR", **{"from": "2026-11-02T08:30:00Z", "to": "2026-11-02T11:00:00Z"})
    assert [(h["start"][11:16], h["views"]) for h in hours["series"]] == [("08:00", 0), ("09:00", 7), ("10:00", 0)]


def test_nobody_else_sees_a_sellers_figures_and_a_non_seller_gets_zeros(shop):
    _, other, _ = shop
    # the other seller sees only their own product, whose revenue is theirs to see
    result = analytics(other)
    assert result["totals"]["revenue"] == "9999.00"
    assert [row["product"]["name"] for row in result["topProducts"]] == ["Rival"]
    # a user who sells nothing: zeros and no top products
    shopper = analytics(make_user())
    assert shopper["totals"] == {"views": 0, "clicks": 0, "sales": 0, "uniqueViewers": None, "revenue": "0.00"}
    assert shopper["topProducts"] == [] and len(shopper["series"]) == 30
    # anonymous: `me` is null, as for every field of the logged-in user
    assert as_user(None).data(ANALYTICS, NOVEMBER) == {"me": None}


@pytest.mark.parametrize(
    "variables,field,message",
    [
        ({"from": "2026-12-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "to", "to must be after from."),
        ({"from": "2026-11-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "to", "to must be after from."),
        ({"from": "2025-01-01T00:00:00Z", "to": "2026-01-03T00:00:00Z"}, "to", "longer than a year (366 days)"),
        ({"to": "2026-12-02T00:00:01Z", "g": "HOUR"}, "to", "longer than 31 days with HOUR"),
        ({"from": "2026-11-01T00:00:00"}, "from", "from needs a UTC offset"),
        ({"n": 0}, "first", "first must be between 1 and 100, got 0."),
        ({"n": 101}, "first", "first must be between 1 and 100, got 101."),
    ],
)
def test_bad_windows_and_sizes_are_bad_user_input(shop, variables, field, message):
    seller, _, _ = shop
    result = as_user(seller)(ANALYTICS, {**NOVEMBER, **variables})
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert message in result["errors"][0]["message"]
    assert result["errors"][0]["extensions"]["field"] == field


def test_a_year_of_days_runs(shop):
    seller, _, _ = shop
    result = analytics(seller, **{"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"})
    assert len(result["series"]) == 365 and result["totals"]["views"] == 525


def test_a_dashboard_reads_series_and_totals_with_one_query_and_ranks_with_two(shop, django_assert_num_queries):
    seller, _, _ = shop
    gql = as_user(seller)
    gql.data("{ me { username } }")  # the session's user is loaded: count what analytics adds
    # the session and its user, then one series query (totals reuse it), the ranking and its products
    with django_assert_num_queries(2 + 1 + 2):
        gql.data(ANALYTICS, NOVEMBER)


def test_the_readme_dashboard_query_runs_as_written(shop):
    # Given the seller-dashboard example of the README
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    query = re.search(r"```graphql\n(query Dashboard.*?)```", readme, re.S).group(1)
    seller, _, _ = shop

    # When the seller runs it over November
    result = as_user(seller).data(query, NOVEMBER)["me"]["sellerAnalytics"]

    # Then it answers their figures, with each top product's fortnight
    assert result["totals"] == {"views": 25, "clicks": 4, "sales": 3, "revenue": "320.00"}
    assert [row["product"]["name"] for row in result["topProducts"]] == ["Desk", "Lamp", "Chair"]
    assert all(len(row["product"]["metrics"]["history"]) == 14 for row in result["topProducts"])


def test_the_dashboard_is_priced_as_one_aggregate_and_its_lists_by_their_size():
    from graphql import parse

    from graph.validation.shape import analyse

    document = """{ me { sellerAnalytics(from: "2026-11-01T00:00:00Z", to: "2026-12-01T00:00:00Z") {
      totals { views } topProducts(first: 5) { conversionRate } series { views } } } }"""
    shape = analyse(parse(document), None, {})
    # me 1 + sellerAnalytics (1 + 1,000: an aggregate over the seller's buckets) + totals 2
    # + topProducts (1 + 5 x 1) + series (1 + 744 x 1: the most periods a window holds)
    assert shape.cost == 1 + 1001 + 2 + 6 + 745
    assert shape.expensive == 1 and shape.summary.expensive_fields == ["sellerAnalytics"]
