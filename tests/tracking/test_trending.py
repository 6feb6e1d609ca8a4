"""TRENDING orders products by a time-decayed score of recent engagement.

The score is kept in forward-decay form (tracking.trending): each batch adds its events'
terms in the totals' upsert, and ordering by the stored column must equal ordering by the
decayed score ``sum(weight * 2 ** -(age / half-life))`` at any instant. These stories
check that against a naive model over random events at different times, ties broken by
id, paging both ways, the rebase that keeps floats finite, and the plan on PostgreSQL.
"""

from __future__ import annotations

import random
from datetime import timedelta
from fractions import Fraction
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from graph.orderings import PRODUCT_ORDERINGS, ProductOrder
from marketplace.selectors import ProductFilters, product_list
from tests.helpers import GraphQLClient
from tests.tracking.helpers import make_products
from tracking.apply import apply_events
from tracking.events import TrackingEvent
from tracking.models import EventKind, ProductMetrics, TrendingEpoch
from tracking.trending import REBASE_AT, TRENDING_WEIGHTS, current_epoch, decayed, rebase

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = """query($first: Int, $after: String, $last: Int, $before: String) {
  products(first: $first, after: $after, last: $last, before: $before, orderBy: TRENDING) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { node { slug } } } }"""
KINDS = [EventKind.VIEW, EventKind.CLICK, EventKind.CART_ADD, EventKind.PURCHASE, EventKind.IMPRESSION]
NOW = timezone.now().replace(minute=0, second=0, microsecond=0)


@pytest.fixture(autouse=True)
def one_hour_half_life(settings):
    """Half-lives of one hour, the epoch 100 of them before NOW: every event below lies a
    whole number of hours before NOW, so each term is a power of two and every sum exact."""
    settings.TRENDING_HALF_LIFE_HOURS = 1.0
    TrendingEpoch.objects.update_or_create(id=1, defaults={"epoch": NOW - timedelta(hours=100)})


@pytest.fixture
def gql(client) -> GraphQLClient:
    return GraphQLClient(client)


def naive_scores(events: list[TrackingEvent], products) -> dict[int, Fraction]:
    """Exact decayed scores at NOW (whole hours, so powers of two: Fractions are exact)."""
    scores = {p.pk: Fraction(0) for p in products}
    for e in events:
        weight = TRENDING_WEIGHTS.get(e.kind)
        if weight is not None:
            hours = int((NOW - e.created_at) / timedelta(hours=1))
            units = e.quantity if e.kind in (EventKind.CART_ADD, EventKind.PURCHASE) else 1
            scores[e.product_id] += Fraction(int(weight)) * units / Fraction(2) ** hours
    return scores


def naive_order(events: list[TrackingEvent], products) -> list[int]:
    """The order the listing promises: decayed score descending, ties by id descending."""
    scores = naive_scores(events, products)
    return sorted(scores, key=lambda pid: (scores[pid], pid), reverse=True)


def listed_order() -> list[int]:
    ordering = PRODUCT_ORDERINGS[ProductOrder.TRENDING]
    qs = ordering.apply(product_list(filters=ProductFilters()))
    return list(qs.order_by(*ordering.ordering.order_by()).values_list("id", flat=True))


def random_events(rng: random.Random, products, count: int) -> list[TrackingEvent]:
    return [
        TrackingEvent(
            rng.choice(KINDS),
            rng.choice(products).pk,
            quantity=rng.randint(1, 3),
            created_at=NOW - timedelta(hours=rng.randint(0, 30)),
        )
        for _ in range(count)
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_order_is_the_naive_decayed_order_over_random_events_in_random_batches(seed):
    # Given products and random events over the last 30 hours, applied in random batches
    rng = random.Random(seed)
    products = make_products(12)
    events = random_events(rng, products, 150)
    shuffled = events[:]
    rng.shuffle(shuffled)
    while shuffled:
        size = rng.randint(1, 40)
        batch, shuffled = shuffled[:size], shuffled[size:]
        apply_events(batch)

    # Then the listing's order is the order of the exact decayed scores, ties by id
    assert listed_order() == naive_order(events, products)


def test_recent_engagement_overtakes_old_engagement_of_the_same_size():
    # Given a product sold 5 times two days ago and one viewed 40 times an hour ago
    old, fresh, idle = make_products(3)
    long_ago = NOW - timedelta(hours=48)
    apply_events([TrackingEvent(EventKind.PURCHASE, old.pk, quantity=5, created_at=long_ago)])
    apply_events([TrackingEvent(EventKind.VIEW, fresh.pk, created_at=NOW - timedelta(hours=1)) for _ in range(40)])

    # Then the fresh views lead (50 * 2**-48 is nothing), and the idle product comes last
    assert listed_order() == [fresh.pk, old.pk, idle.pk]
    scores = dict(ProductMetrics.objects.values_list("product_id", "trending_score"))
    assert decayed(scores[fresh.pk], epoch=current_epoch(), at=NOW) == pytest.approx(20.0)


def test_equal_scores_are_ordered_by_id_descending_and_impressions_do_not_count():
    products = make_products(4)
    at = NOW - timedelta(hours=2)
    apply_events([TrackingEvent(EventKind.VIEW, p.pk, created_at=at) for p in products[:3]])
    apply_events([TrackingEvent(EventKind.IMPRESSION, products[3].pk, created_at=at) for _ in range(50)])

    assert listed_order() == [products[2].pk, products[1].pk, products[0].pk, products[3].pk]


def test_paging_forward_and_backward_walks_every_product_once_in_order(gql):
    # Given 11 products with ties among their scores
    products = make_products(11)
    rng = random.Random(7)
    apply_events(
        [
            TrackingEvent(EventKind.VIEW, p.pk, created_at=NOW - timedelta(hours=rng.choice([1, 2])))
            for p in products
            for _ in range(rng.randint(0, 2))
        ]
    )
    slugs = {p.pk: p.slug for p in products}
    expected = [slugs[pid] for pid in listed_order()]

    # When a client walks forward by 4, then backward from the end by 4
    forward, after = [], None
    while True:
        page = gql.data(PAGE, {"first": 4, "after": after})["products"]
        forward += [e["node"]["slug"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    backward, before = [], None
    while True:
        page = gql.data(PAGE, {"last": 4, "before": before})["products"]
        backward = [e["node"]["slug"] for e in page["edges"]] + backward
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]

    # Then both walks are the full order, each product once
    assert forward == expected == backward
    assert len(set(forward)) == 11


def test_a_rebase_moves_the_epoch_and_keeps_the_order_and_the_decayed_scores():
    # Given scores written on the initial epoch
    products = make_products(6)
    rng = random.Random(3)
    apply_events(random_events(rng, products, 60))
    before_order = listed_order()
    before = {pid: decayed(s, epoch=current_epoch(), at=NOW) for pid, s in scores().items()}

    # When the epoch moves 90 half-lives on (scores divided by 2 ** 90)
    moved = rebase(NOW - timedelta(hours=10))

    # Then the order is the same and each product's decayed score too; the epoch moved
    assert moved == pytest.approx(90)
    assert TrendingEpoch.objects.get().epoch == NOW - timedelta(hours=10)
    assert listed_order() == before_order
    after = {pid: decayed(s, epoch=current_epoch(), at=NOW) for pid, s in scores().items()}
    assert after == pytest.approx(before)


def test_a_batch_far_past_the_epoch_rebases_by_itself_and_stays_finite():
    # Given the epoch 600 half-lives before a batch (2 ** 600 is near the float limit once summed)
    products = make_products(3)
    epoch = TrendingEpoch.objects.get()
    start = NOW - timedelta(hours=600)
    epoch.epoch = start
    epoch.save()
    apply_events([TrackingEvent(EventKind.VIEW, products[0].pk, created_at=start + timedelta(hours=1))])

    # When a batch arrives REBASE_AT half-lives on
    apply_events([TrackingEvent(EventKind.CLICK, products[1].pk, created_at=NOW)])

    # Then the epoch moved to about now and every score is small and finite again
    assert (NOW - current_epoch()).total_seconds() / 3600 < 600 - REBASE_AT
    stored = scores()
    assert all(0 <= s < 1e6 for s in stored.values())
    assert listed_order() == [products[1].pk, products[0].pk, products[2].pk]


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the plan of PostgreSQL")
def test_the_listing_plan_walks_the_trending_index_on_postgresql():
    make_products(30)
    ordering = PRODUCT_ORDERINGS[ProductOrder.TRENDING]
    qs = ordering.apply(product_list(filters=ProductFilters())).order_by(*ordering.ordering.order_by())[:21]
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        # 30 rows: make the planner show what it would do at scale. With fresh statistics and
        # sorting and sequential scans priced out, a plan without a Sort exists only if an index
        # yields the order itself; the row estimates of a tiny table no longer decide it.
        cursor.execute("ANALYZE marketplace_product, tracking_productmetrics")
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_sort = off")
        try:
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_sort")
    assert "metrics_trending_desc" in plan, plan
    assert "Sort" not in plan.split("metrics_trending_desc")[0], plan


def scores() -> dict[int, float]:
    return dict(ProductMetrics.objects.values_list("product_id", "trending_score"))


def test_rebuild_recomputes_the_scores_from_the_activity_rows():
    # Given random events applied, then every score lost (an upgrade, a changed half-life)
    products = make_products(8)
    events = random_events(random.Random(5), products, 80)
    apply_events(events)
    expected = listed_order()
    ProductMetrics.objects.update(trending_score=0.0)

    # When an operator rebuilds them
    out = StringIO()
    call_command("rebase_trending", "--rebuild", stdout=out)

    # Then the order is back, and the decayed scores are what they were
    assert listed_order() == expected == naive_order(events, products)
    assert "Rebuilt the trending scores of" in out.getvalue()
    epoch = current_epoch()
    rebuilt = {pid: decayed(s, epoch=epoch, at=NOW) for pid, s in scores().items()}
    exact = naive_scores(events, products)
    assert rebuilt == pytest.approx({pid: float(v) for pid, v in exact.items()})
