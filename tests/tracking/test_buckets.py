"""Hourly and daily buckets: written by every batch with the totals, exact unique viewers.

The reference is a naive Python model (``tests.tracking.bucket_model``): per event, the hour
(UTC) and the day (midnight in METRICS_TIME_ZONE, computed with zoneinfo by itself), sets of
visitors for unique viewers.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.models import Order
from marketplace.services import cart as carts
from marketplace.services import orders
from marketplace.signals import order_placed
from tests.factories import make_product, make_user
from tests.tracking.bucket_model import model_buckets, stored_buckets
from tests.tracking.helpers import make_products
from tracking.apply import apply_events
from tracking.events import TrackingEvent
from tracking.models import BucketViewer, DailyMetrics, EventKind, HourlyMetrics

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 7, 22, 30, tzinfo=UTC)  # half an hour before a UTC midnight


def event(kind, product, minutes=0, **extra) -> TrackingEvent:
    return TrackingEvent(kind, product.pk, created_at=T0 + timedelta(minutes=minutes), **extra)


def test_events_fall_into_their_hour_and_their_day():
    # Given views of one product at 22:30, 23:10 and 00:20 UTC, across midnight
    [product] = make_products(1)
    apply_events([event("view", product, 0), event("view", product, 40), event("view", product, 110)])

    # Then three hours hold one view each, and the two days hold two and one
    hours = dict(HourlyMetrics.objects.filter(product=product).values_list("start", "views"))
    days = dict(DailyMetrics.objects.filter(product=product).values_list("start", "views"))
    assert hours == {
        datetime(2026, 3, 7, 22, tzinfo=UTC): 1,
        datetime(2026, 3, 7, 23, tzinfo=UTC): 1,
        datetime(2026, 3, 8, 0, tzinfo=UTC): 1,
    }
    assert days == {datetime(2026, 3, 7, tzinfo=UTC): 2, datetime(2026, 3, 8, tzinfo=UTC): 1}


def test_every_counter_has_its_bucket_favorites_split_units_as_the_events_say():
    [product] = make_products(1)
    events = [
        event("impression", product),
        event("click", product),
        event("favorite", product),
        event("favorite", product),
        event("unfavorite", product),
        event("cart_add", product, quantity=3),
        event("cart_remove", product, quantity=2),
        event("purchase", product, quantity=4, amount=Decimal("19.96")),
    ]
    apply_events(events)

    row = DailyMetrics.objects.get(product=product)
    assert (row.impressions, row.clicks, row.favorites_added, row.favorites_removed) == (1, 1, 2, 1)
    assert (row.sales, row.revenue) == (4, Decimal("19.96"))  # units, and the line total
    assert stored_buckets([product]) == model_buckets(events)  # cart units exactly as tracking.events says


def test_unique_viewers_count_visitors_once_per_hour_and_per_day_not_the_sum_of_hours():
    # Given a user who views in two hours of one day, a session that views twice in one hour,
    # and a view with no identity at all
    [product] = make_products(1)
    user = make_user()
    apply_events([event("view", product, 100, user_id=user.pk), event("view", product, 105, visitor_key="s1")])
    apply_events([event("view", product, 110, visitor_key="s1"), event("view", product, 160, user_id=user.pk)])
    apply_events([event("view", product, 170)])

    hours = dict(HourlyMetrics.objects.filter(product=product).values_list("start", "unique_viewers"))
    day = DailyMetrics.objects.get(product=product, start=datetime(2026, 3, 8, tzinfo=UTC))
    # 00:00 saw the user and s1; 01:00 saw the user again and an anonymous view
    assert hours == {datetime(2026, 3, 8, 0, tzinfo=UTC): 2, datetime(2026, 3, 8, 1, tzinfo=UTC): 2}
    # the day saw three visitors, not the four of its hours
    assert (day.views, day.unique_viewers) == (5, 3)


def test_a_retried_batch_changes_no_bucket():
    [product] = make_products(1)
    batch = [event("view", product, visitor_key="a"), event("view", product, 70, visitor_key="b")]
    apply_events(batch, batch_id="batch-1")
    first = stored_buckets([product])
    assert apply_events(batch, batch_id="batch-1").duplicate
    assert stored_buckets([product]) == first == model_buckets(batch)


def test_metrics_time_zone_moves_the_day_boundary(settings):
    # Given days that start at midnight in New York (05:00 UTC in March before DST)
    settings.METRICS_TIME_ZONE = "America/New_York"
    [product] = make_products(1)
    apply_events([event("view", product, 0), event("view", product, 60 * 7)])  # 22:30 and 05:30 UTC

    # Then 22:30 UTC (17:30 in New York) and 05:30 UTC (00:30) fall on two New York days
    days = dict(DailyMetrics.objects.filter(product=product).values_list("start", "views"))
    assert days == {datetime(2026, 3, 7, 5, tzinfo=UTC): 1, datetime(2026, 3, 8, 5, tzinfo=UTC): 1}


def test_a_half_hour_time_zone_splits_an_hour_between_two_days(settings):
    settings.METRICS_TIME_ZONE = "Asia/Kolkata"  # UTC+05:30: midnight is 18:30 UTC
    [product] = make_products(1)
    apply_events([event("view", product, -250), event("view", product, -230)])  # 18:20 and 18:40 UTC
    assert HourlyMetrics.objects.get(product=product).views == 2
    days = dict(DailyMetrics.objects.filter(product=product).values_list("start", "views"))
    assert days == {datetime(2026, 3, 6, 18, 30, tzinfo=UTC): 1, datetime(2026, 3, 7, 18, 30, tzinfo=UTC): 1}


def test_a_batch_adds_one_statement_for_its_buckets_on_postgresql_three_on_sqlite():
    # Given a batch of views by visitors, clicks and impressions of 20 products over two hours
    products = make_products(20)
    events = [
        event(kind, p, minutes, visitor_key=f"v{i % 3}")
        for i, p in enumerate(products)
        for kind, minutes in (("view", 0), ("view", 40), ("click", 0), ("impression", 45))
    ]

    # When it is applied
    with CaptureQueriesContext(connection) as queries:
        apply_events(events)

    # Then the buckets cost one statement on PostgreSQL (viewers, hourly and daily upserts in
    # data-modifying CTEs), and on SQLite a viewer insert plus an hourly and a daily upsert;
    # the rest of the batch is the 6 statements of before (savepoint, product check, the
    # TRENDING epoch read (views and clicks weigh), activity insert, counter upsert, release)
    sql = [q["sql"] for q in queries]
    mine = [s for s in sql if any(t in s for t in ("tracking_bucketviewer", "hourlymetrics", "dailymetrics"))]
    assert len(mine) == (1 if connection.vendor == "postgresql" else 3)
    assert len(sql) - len(mine) == BATCH_STATEMENTS_WITHOUT_BUCKETS


# pytest-django's test transaction makes apply_events' atomic a savepoint (SAVEPOINT + RELEASE).
BATCH_STATEMENTS_WITHOUT_BUCKETS = 6


def test_checkout_writes_sales_and_revenue_buckets_in_the_orders_transaction():
    user = make_user()
    product = make_product(price="7.50", stock=5)
    carts.add_to_cart(cart=carts.get_cart(user=user, create=True), product=product, quantity=2)
    orders.checkout(user=user, cart=carts.get_cart(user=user))

    hour = HourlyMetrics.objects.get(product=product)
    day = DailyMetrics.objects.get(product=product)
    assert (hour.sales, hour.revenue, day.sales, day.revenue) == (2, Decimal("15.00"), 2, Decimal("15.00"))


def test_a_rolled_back_checkout_writes_no_bucket():
    # Given a receiver of order_placed that fails after the purchase was recorded
    user = make_user()
    product = make_product(price="7.50", stock=5)
    carts.add_to_cart(cart=carts.get_cart(user=user, create=True), product=product, quantity=2)

    def fail(sender, **kwargs):
        raise RuntimeError("payment provider down")

    order_placed.connect(fail, dispatch_uid="test.fail_after_purchase")
    try:
        with pytest.raises(RuntimeError):
            orders.checkout(user=user, cart=carts.get_cart(user=user))
    finally:
        order_placed.disconnect(dispatch_uid="test.fail_after_purchase")

    # Then neither the order nor any bucket exists
    assert not Order.objects.exists()
    assert not HourlyMetrics.objects.exists() and not DailyMetrics.objects.exists()


# --- the property test ---------------------------------------------------------------------------

KINDS = [k.value for k in EventKind]
VISITORS = [("user", 0), ("user", 1), ("key", "s-a"), ("key", "s-b"), ("key", "addr:x"), (None, None)]
EVENTS = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.integers(0, 2),  # product
        st.integers(0, len(VISITORS) - 1),
        st.integers(0, 60 * 52),  # minutes after T0: three UTC and local days, many hours
        st.integers(1, 3),  # quantity
    ),
    min_size=1,
    max_size=40,
)
BATCHES = st.lists(st.tuples(EVENTS, st.booleans()), min_size=1, max_size=5)  # (events, retried)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=BATCHES, zone=st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata", "America/New_York"]))
def test_random_batches_with_retries_match_the_naive_model(settings, batches, zone):
    # Given three products, two users and sessions, in one of four time zones
    settings.METRICS_TIME_ZONE = zone
    products, users = make_products(3), [make_user(), make_user()]
    applied: list[TrackingEvent] = []
    for raw, retried in batches:
        # When random batches are applied, some of them twice under the same id
        events = [_event(raw_event, products, users) for raw_event in raw]
        batch_id = uuid.uuid4().hex
        apply_events(events, batch_id=batch_id)
        if retried:
            assert apply_events(events, batch_id=batch_id).duplicate
        applied += events
    # Then every hourly and daily bucket, unique viewers included, is what the model says
    assert stored_buckets(products) == model_buckets(applied, zone=zone)


def _event(raw, products, users) -> TrackingEvent:
    kind, p, v, minutes, quantity = raw
    who, value = VISITORS[v]
    identity = {"user_id": users[value].pk} if who == "user" else {"visitor_key": value} if who == "key" else {}
    amount = Decimal("2.50") * quantity if kind == "purchase" else None
    return TrackingEvent(
        kind, products[p].pk, quantity=quantity, amount=amount, created_at=T0 + timedelta(minutes=minutes), **identity
    )


def test_viewer_rows_are_hashed_and_one_per_visitor_period():
    [product] = make_products(1)
    apply_events([event("view", product, visitor_key="s1"), event("view", product, 5, visitor_key="s1")])
    rows = list(BucketViewer.objects.values_list("period", "visitor"))
    assert sorted(p for p, _ in rows) == [BucketViewer.Period.HOUR, BucketViewer.Period.DAY]
    assert len({v for _, v in rows}) == 1 and "s1" not in str(rows)


@pytest.mark.django_db(transaction=True)
def test_buckets_roll_back_with_the_batch():
    [product] = make_products(1)
    with pytest.raises(RuntimeError), transaction.atomic():
        apply_events([event("view", product, visitor_key="s1")])
        raise RuntimeError
    assert not HourlyMetrics.objects.exists() and not BucketViewer.objects.exists()


def test_a_visitor_without_a_session_is_keyed_by_a_hash_of_the_address():
    from django.test import RequestFactory

    from graph.mutations.tracking import _visitor_key

    one, other = (
        RequestFactory().post("/", REMOTE_ADDR="203.0.113.7"),
        RequestFactory().post("/", REMOTE_ADDR="203.0.113.8"),
    )
    assert _visitor_key(one).startswith("addr:") and "203.0.113.7" not in _visitor_key(one)
    assert (
        _visitor_key(one) == _visitor_key(RequestFactory().post("/", REMOTE_ADDR="203.0.113.7")) != _visitor_key(other)
    )
    assert len(_visitor_key(one)) <= 64  # the activity row's column
