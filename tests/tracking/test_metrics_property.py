"""Random tracking traffic, end to end, against one naive model of what must be counted.

Hypothesis draws calls (several visitors, signed in, by session, anonymous; client event ids
from a small pool so that ids collide; some calls re-sent later by the client), cuts them
into batches that go through ``apply_isolating`` or ``apply_events`` under batch ids, some
delivered twice at once and some redelivered at the end, and sends crawler calls through the
GraphQL tracking mutations in between. The model is plain Python: a batch id counts once, an
event id counts once per (visitor and id, product), the first copy applied wins, crawlers
count nowhere. From the events it keeps it derives, by itself, the hourly and daily buckets
(``tests.tracking.bucket_model``, unique viewers as sets), the totals (sums of its days) and
the trending scores as exact fractions; the database must hold exactly those, the TRENDING
listing must be in that order with ties by id, and ``botEvents`` must count every crawler
event.

Times: the half-life is set to one 15-minute step and the epoch to ``T0``, so an event on a
step adds ``weight * 2 ** step`` to the stored score: exact in a float (integers below
2 ** 53), so exact ties exist and the order can be compared exactly. Weighted kinds (views,
clicks, cart additions, sales) fall on steps, which include every hour's first instant;
the other kinds also fall a microsecond after a step or a microsecond before the next one
(the last instant of an hour). The window crosses a UTC midnight and, in Kolkata (UTC+05:30),
a local midnight on a half hour.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.ids import global_id
from tests.factories import make_user
from tests.helpers import GraphQLClient
from tests.tracking.bucket_model import model_buckets, stored_buckets
from tests.tracking.helpers import make_products
from tests.tracking.test_crawlers import BINGBOT, GOOGLEBOT, LISTING, VIEW
from tracking.apply import apply_events, apply_isolating
from tracking.dedup import event_key, recent_keys, tagged
from tracking.events import TrackingEvent
from tracking.models import COUNTER_FIELDS, EventKind, ProductMetrics, TrendingEpoch

pytestmark = pytest.mark.django_db(transaction=True)  # the executor's worker must see our rows

T0 = datetime(2026, 3, 7, 17, 0, tzinfo=UTC)  # 36 steps reach 02:00 UTC on the 8th
STEP = timedelta(minutes=15)  # one half-life
STEPS = 36  # 2 ** 36 * weights * events stays far below 2 ** 53: float sums are exact
PRODUCTS = 4
WEIGHTED = [EventKind.VIEW, EventKind.CLICK, EventKind.CART_ADD, EventKind.PURCHASE]
UNWEIGHTED = [EventKind.IMPRESSION, EventKind.FAVORITE, EventKind.UNFAVORITE, EventKind.CART_REMOVE]
# (user index or None, session key or None): two users, two sessions, an address, anonymous
VISITORS = [(0, None), (1, None), (None, "s-a"), (None, "s-b"), (None, "addr:x"), (None, None)]
# The documented weights (tracking.trending), written out so that a change there fails here:
# view 1, click 2, cart addition 5 per unit, sale 10 per unit.
WEIGHTS = {EventKind.VIEW: 1, EventKind.CLICK: 2, EventKind.CART_ADD: 5, EventKind.PURCHASE: 10}
PER_UNIT = {EventKind.CART_ADD, EventKind.PURCHASE}
OFFSETS = [timedelta(0), timedelta(microseconds=1), STEP - timedelta(microseconds=1)]
LISTED = """query($category: ID!) { products(filter: {category: $category}, orderBy: TRENDING, first: 20) {
  edges { node { id } } } }"""

CALLS = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from([EventKind.VIEW] * 4 + WEIGHTED + UNWEIGHTED),  # views most often
            "products": st.lists(st.integers(0, PRODUCTS - 1), min_size=1, max_size=3),  # impressions: a listing
            "visitor": st.sampled_from([0, 0, 1, 1, *range(len(VISITORS))]),  # the users most often
            "step": st.integers(0, STEPS - 2),
            "offset": st.sampled_from(OFFSETS),
            "quantity": st.integers(1, 3),
            "event_id": st.sampled_from([None, "e1", "e2", "e3"]),
            "resent": st.booleans(),  # the client sends the call again one step later
        }
    ),
    min_size=15,
    max_size=50,
)
DELIVERIES = st.lists(
    st.tuples(st.integers(1, 12), st.sampled_from(["isolating", "plain"]), st.booleans()),  # size, path, retried
    min_size=1,
    max_size=8,
)
BOTS = st.lists(
    st.tuples(st.sampled_from([GOOGLEBOT, BINGBOT]), st.lists(st.integers(0, PRODUCTS - 1), max_size=3, unique=True))
)


@pytest.fixture(autouse=True)
def quiet_tracking(settings):
    settings.TRACKING_RATE_LIMIT = 0
    settings.TRENDING_HALF_LIFE_HOURS = STEP / timedelta(hours=1)
    recent_keys.clear()
    yield
    recent_keys.clear()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    calls=CALLS,
    deliveries=DELIVERIES,
    bots=BOTS,
    bots_after=st.integers(0, 8),
    redelivered=st.lists(st.integers(0, 7), max_size=3),
    zone=st.sampled_from(["UTC", "Asia/Kolkata"]),
)
def test_random_traffic_counts_what_the_naive_model_counts(
    settings, tracking_executor, calls, deliveries, bots, bots_after, redelivered, zone
):
    # Given fresh products in a category of their own, two users, and the trending epoch at T0
    settings.METRICS_TIME_ZONE = zone
    TrendingEpoch.objects.update_or_create(id=1, defaults={"epoch": T0})
    products, users = make_products(PRODUCTS), [make_user(), make_user()]
    stream = _events(calls, products, users)
    bots_before = tracking_executor.stats().bot_events

    # When the events are applied in batches, some delivered twice, while crawlers call the API
    batches, sent = [], []
    for index, (size, path, retried) in enumerate(deliveries):
        if index == bots_after:
            _crawl(bots, products)
        batch, stream = stream[:size], stream[size:]
        if batch:
            batches.append((uuid.uuid4().hex, batch, path))
            sent += _deliver(batches[-1], times=2 if retried else 1)
    if stream:
        batches.append((uuid.uuid4().hex, stream, "isolating"))
        sent += _deliver(batches[-1])
    for index in redelivered:  # a broker redelivering earlier batches, after everything else
        if index < len(batches):
            sent += _deliver(batches[index])
    if bots_after >= len(deliveries):
        _crawl(bots, products)
    assert tracking_executor.flush()

    # Then the database holds what the model counts: buckets, totals, trending scores and order
    counted = _naive_counted(sent)
    buckets = model_buckets(counted, zone=zone)
    assert stored_buckets(products) == buckets
    assert _stored_totals(products) == _model_totals(buckets, products)
    scores = _model_scores(counted, products)
    stored = dict(ProductMetrics.objects.filter(product__in=products).values_list("product_id", "trending_score"))
    assert {p.pk: stored.get(p.pk, 0.0) for p in products} == {pid: float(s) for pid, s in scores.items()}
    assert _listed(products) == sorted(scores, key=lambda pid: (scores[pid], pid), reverse=True)
    # And every crawler event was seen, as a bot event only
    assert tracking_executor.stats().bot_events - bots_before == sum(max(len(ids), 1) for _, ids in bots)


def _events(calls, products, users) -> list[TrackingEvent]:
    """Each call's events (impressions: a listing, one per product, one id for the call), the
    client's re-sent copies appended: same id, one step later."""
    out, resent = [], []
    for call in calls:
        user, key = VISITORS[call["visitor"]]
        user_id = users[user].pk if user is not None else None
        at = T0 + call["step"] * STEP + (call["offset"] if call["kind"] in UNWEIGHTED else timedelta(0))
        kind = call["kind"]
        indexes = call["products"] if kind == EventKind.IMPRESSION else call["products"][:1]
        quantity = call["quantity"] if kind in (EventKind.CART_ADD, EventKind.CART_REMOVE, EventKind.PURCHASE) else 1
        amount = Decimal("2.50") * quantity if kind == EventKind.PURCHASE else None
        events = [
            TrackingEvent(
                kind, products[p].pk, user_id=user_id, visitor_key=key, quantity=quantity, amount=amount, created_at=at
            )
            for p in indexes
        ]
        if call["event_id"] is not None:
            events = tagged(events, event_key(f"{user_id}/{key}", call["event_id"]))
        out += events
        if call["resent"]:
            resent += [TrackingEvent(**{**_fields(e), "created_at": e.created_at + STEP}) for e in events]
    return out + resent


def _fields(event: TrackingEvent) -> dict:
    return {name: getattr(event, name) for name in TrackingEvent.__slots__}


def _deliver(batch, times: int = 1) -> list:
    """Apply a batch ``times`` times under its id; what was sent, in order, for the model."""
    batch_id, events, path = batch
    apply = apply_isolating if path == "isolating" else apply_events
    for _ in range(times):
        apply(events, batch_id=batch_id)
    return [(batch_id, events)] * times


def _crawl(bots, products) -> None:
    for user_agent, indexes in bots:
        client = GraphQLClient(Client(HTTP_USER_AGENT=user_agent))
        ids = [global_id("Product", products[i].pk) for i in indexes]
        if ids:
            assert client.data(LISTING, {"ids": ids})["trackListingView"]["queued"] == 0
        else:
            assert client.data(VIEW, {"id": global_id("Product", products[0].pk)})["trackProductView"]["queued"] == 0


def _naive_counted(sent) -> list[TrackingEvent]:
    """A batch id counts once; a (key, product) pair counts once, its first copy applied."""
    batches, pairs, counted = set(), set(), []
    for batch_id, events in sent:
        if batch_id in batches:
            continue
        batches.add(batch_id)
        for event in events:
            if event.event_key is not None:
                if (event.event_key, event.product_id) in pairs:
                    continue
                pairs.add((event.event_key, event.product_id))
            counted.append(event)
    return counted


def _model_totals(buckets, products) -> dict:
    """All-time totals as sums of the model's days (favorites: added minus removed)."""
    totals = {p.pk: {**dict.fromkeys(COUNTER_FIELDS, 0), "total_revenue": Decimal("0")} for p in products}
    for (pid, _), day in buckets["daily"].items():
        total = totals[pid]
        for counter in ("impressions", "views", "clicks", "cart_additions", "cart_removals", "sales", "revenue"):
            total[f"total_{counter}"] += day[counter]
        total["total_favorites"] += day["favorites_added"] - day["favorites_removed"]
    return totals


def _stored_totals(products) -> dict:
    fields = [*COUNTER_FIELDS, "total_revenue"]
    stored = {
        row["product_id"]: {f: row[f] for f in fields}
        for row in ProductMetrics.objects.filter(product__in=products).values("product_id", *fields)
    }
    zero = {**dict.fromkeys(COUNTER_FIELDS, 0), "total_revenue": Decimal("0")}
    return {p.pk: stored.get(p.pk, zero) for p in products}


def _model_scores(counted, products) -> dict[int, Fraction]:
    """Stored trending scores at epoch T0, exactly: weight (per unit where it says) * 2 ** steps."""
    scores = {p.pk: Fraction(0) for p in products}
    for e in counted:
        if e.kind in WEIGHTS:
            units = e.quantity if e.kind in PER_UNIT else 1
            scores[e.product_id] += Fraction(WEIGHTS[e.kind]) * units * 2 ** ((e.created_at - T0) // STEP)
    return scores


def _listed(products) -> list[int]:
    category = global_id("Category", products[0].category_id)
    edges = GraphQLClient(Client()).data(LISTED, {"category": category})["products"]["edges"]
    by_global_id = {global_id("Product", p.pk): p.pk for p in products}
    return [by_global_id[edge["node"]["id"]] for edge in edges]
