"""apply_events: how one batch of events changes the counters and the activity log.

Applied synchronously in the test's own transaction, as a worker would apply a batch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import make_user, strip_metrics
from tests.tracking.helpers import make_products
from tracking.apply import _claim_for_split, _datetime_adapter, _derived_id, apply_events, apply_isolating, coalesce
from tracking.events import TrackingEvent
from tracking.models import COUNTER_FIELDS, ActivityEvent, EventKind, ProductMetrics
from tracking.tracker import favorite_action, listing_view, product_click, product_view, purchase

pytestmark = pytest.mark.django_db

ALL_COUNTERS = COUNTER_FIELDS


def metrics(product) -> dict:
    return ProductMetrics.objects.filter(product=product).values(*ALL_COUNTERS).get()


def zero(**changed) -> dict:
    return {**dict.fromkeys(ALL_COUNTERS, 0), "total_revenue": Decimal("0.00"), **changed}


def statements(queries, table: str, verb: str = "INSERT") -> int:
    return sum(1 for q in queries if q["sql"].lstrip().upper().startswith(verb) and table in q["sql"])


def test_many_events_on_one_product_become_one_upsert_row():
    # Given 50 views, 20 clicks and 5 impressions of one product in one batch
    [product] = make_products(1)
    events = product_view(product.pk) * 50 + product_click(product.pk) * 20 + listing_view([product.pk]) * 5

    # When the batch is applied
    assert coalesce(events) == {product.pk: {"total_views": 50, "total_clicks": 20, "total_impressions": 5}}
    with CaptureQueriesContext(connection) as queries:
        result = apply_events(events)

    # Then the counters moved by one upsert of one row, and the 75 activity rows by one insert
    assert (result.applied, result.discarded) == (75, 0)
    assert statements(queries, ProductMetrics._meta.db_table) == 1
    activity = ActivityEvent._meta.db_table
    assert statements(queries, activity) + statements(queries, activity, "COPY") == 1  # COPY on PostgreSQL
    assert metrics(product) == zero(total_views=50, total_clicks=20, total_impressions=5)
    assert ActivityEvent.objects.filter(product=product).count() == 75


def test_a_batch_over_many_products_writes_each_products_own_deltas():
    # Given 30 products, product i viewed i times
    products = make_products(30)
    events = [e for i, p in enumerate(products) for e in product_view(p.pk) * i]

    # When the batch is applied
    apply_events(events)

    # Then each product counts its own views, and nobody else's
    assert [metrics(p)["total_views"] for p in products] == list(range(30))


def test_a_missing_metrics_row_is_created_on_the_fly():
    # Given a product whose metrics row is gone (an import, old data)
    [product] = make_products(1)
    strip_metrics(product)
    assert not ProductMetrics.objects.filter(product=product).exists()

    # When events of it are applied
    apply_events(product_view(product.pk) * 3 + product_click(product.pk))

    # Then the row exists, holding exactly those events
    assert metrics(product) == zero(total_views=3, total_clicks=1)


def test_existing_counters_are_never_reset():
    # Given a product with a history
    [product] = make_products(1)
    ProductMetrics.objects.filter(product=product).update(
        total_views=100, total_clicks=7, total_favorites=4, total_sales=3, total_revenue=Decimal("59.97")
    )

    # When one impression is applied
    apply_events(listing_view([product.pk]))

    # Then the impression is added and everything else is as it was
    assert metrics(product) == zero(
        total_impressions=1,
        total_views=100,
        total_clicks=7,
        total_favorites=4,
        total_sales=3,
        total_revenue=Decimal("59.97"),
    )


def test_favorites_add_one_and_unfavorites_take_one_away():
    [product] = make_products(1)
    apply_events(favorite_action(product.pk, added=True) * 3)
    assert metrics(product)["total_favorites"] == 3

    # A favorite and an unfavorite in one batch cancel out; an unfavorite alone takes one away
    apply_events(favorite_action(product.pk, added=True) + favorite_action(product.pk, added=False))
    assert metrics(product)["total_favorites"] == 3
    apply_events(favorite_action(product.pk, added=False))
    assert metrics(product)["total_favorites"] == 2
    kinds = list(ActivityEvent.objects.filter(product=product).values_list("kind", flat=True))
    assert sorted(kinds) == sorted([EventKind.FAVORITE] * 4 + [EventKind.UNFAVORITE] * 2)


def test_purchases_add_their_quantity_to_sales_and_their_amount_to_revenue_exactly():
    # Given a product that sold before
    [product] = make_products(1)
    ProductMetrics.objects.filter(product=product).update(total_sales=1, total_revenue=Decimal("0.10"))

    # When purchases whose amounts have no exact binary value are applied, in two batches
    apply_events(
        purchase(product.pk, quantity=3, amount=Decimal("0.30"))
        + purchase(product.pk, quantity=1, amount=Decimal("0.10"))
        + purchase(product.pk, quantity=2, amount=Decimal("19.98"))
    )
    apply_events([e for _ in range(10) for e in purchase(product.pk, quantity=1, amount=Decimal("0.01"))])

    # Then sales count units (not events) and revenue is the exact sum of the amounts
    row = metrics(product)
    assert row["total_sales"] == 1 + 3 + 1 + 2 + 10
    assert row["total_revenue"] == Decimal("20.58")
    assert str(row["total_revenue"]) == "20.58"
    amounts = ActivityEvent.objects.filter(product=product, kind=EventKind.PURCHASE).values_list("amount", flat=True)
    assert sum(amounts) == Decimal("20.48")


def test_events_of_a_deleted_product_are_discarded_and_counted_not_failing_the_batch():
    # Given a batch with events of a product deleted since they were queued
    kept, deleted = make_products(2)
    deleted_id = deleted.pk
    deleted.delete()
    events = product_view(kept.pk) * 2 + product_view(deleted_id) * 3 + listing_view([deleted_id, kept.pk])

    # When it is applied
    result = apply_events(events)

    # Then the others are counted, the orphans only reported
    assert (result.applied, result.discarded) == (3, 4)
    assert metrics(kept) == zero(total_views=2, total_impressions=1)
    assert not ProductMetrics.objects.filter(product_id=deleted_id).exists()
    assert ActivityEvent.objects.count() == 3


def test_events_of_a_deleted_user_still_count_anonymously():
    # Given a signed-in user's views queued, and the account deleted before the batch runs
    product, user = make_products(1)[0], make_user()
    events = product_view(product.pk, user_id=user.pk) * 2 + product_click(product.pk, user_id=make_user().pk)
    user.delete()

    # When the batch is applied
    result = apply_events(events, batch_id="b-deleted-user")

    # Then nothing fails and nothing is lost: the views count, their activity rows are anonymous
    assert (result.applied, result.discarded) == (3, 0)
    assert metrics(product) == zero(total_views=2, total_clicks=1)
    assert ActivityEvent.objects.filter(user__isnull=True).count() == 2
    assert ActivityEvent.objects.filter(user__isnull=False).count() == 1


def test_a_refused_event_is_isolated_and_the_rest_of_its_batch_counts_once():
    # Given a batch of 9 good views and one event the database refuses (quantity 0 breaks a check)
    product = make_products(1)[0]
    good = product_view(product.pk) * 9
    refused = TrackingEvent(EventKind.VIEW, product.pk, quantity=0)
    events = good[:4] + [refused] + good[4:]

    # When it is applied, then delivered again
    first = apply_isolating(events, "b-poisoned")
    second = apply_isolating(events, "b-poisoned")

    # Then the 9 count once, the refused one is reported failed, the redelivery changes nothing
    assert (first.applied, first.failed, first.duplicate) == (9, 1, False)
    assert second.duplicate and second.applied == 0
    assert metrics(product) == zero(total_views=9)
    assert ActivityEvent.objects.count() == 9


def test_a_redelivery_finishes_a_split_that_stopped_half_way():
    # Given a refused batch whose first delivery claimed it for splitting, applied its first
    # half and then died (the worker was killed)
    product = make_products(1)[0]
    events = product_view(product.pk) * 5 + [TrackingEvent(EventKind.VIEW, product.pk, quantity=0)]
    assert _claim_for_split("b-half-way", len(events))
    first_half = apply_isolating(events[:3], _derived_id("b-half-way", "a"))
    assert first_half.applied == 3

    # When Celery delivers the batch again
    result = apply_isolating(events, "b-half-way")

    # Then only the second half is applied now: every good event counted once
    assert (result.applied, result.failed) == (2, 1)
    assert metrics(product) == zero(total_views=5)


def test_an_empty_batch_writes_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        result = apply_events([])
    assert (result.applied, result.discarded) == (0, 0)


def test_activity_rows_keep_who_where_and_when():
    [product] = make_products(1)
    user = make_user()
    [event] = product_view(product.pk, user_id=user.pk, visitor_key="v" * 32, source="s" * 100)

    apply_events([event, TrackingEvent(EventKind.CART_ADD, product.pk, quantity=4)])

    row = ActivityEvent.objects.get(product=product, kind=EventKind.VIEW)
    assert (row.user_id, row.visitor_key, row.source, row.created_at) == (user.pk, "v" * 32, "s" * 64, event.created_at)
    assert metrics(product)["total_cart_additions"] == 4  # cart counters are units, as sales are
    assert ActivityEvent.objects.get(product=product, kind=EventKind.CART_ADD).quantity == 4


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 29, 3, 0, tzinfo=ZoneInfo("Europe/Berlin")),  # an offset, across a DST change
        datetime(2026, 1, 1, 5, 0, 0, 123),  # naive: taken as UTC, as Django takes it
    ],
)
def test_activity_times_are_stored_as_django_would_store_them(moment):
    # The batch writes created_at as text of its own on SQLite; it must be Django's text
    assert _datetime_adapter()(moment) == connection.ops.adapt_datetimefield_value(moment)
    [product] = make_products(1)

    apply_events([TrackingEvent(EventKind.VIEW, product.pk, created_at=moment)])

    stored = ActivityEvent.objects.get(product=product).created_at
    assert stored == (moment if moment.tzinfo else moment.replace(tzinfo=UTC))
