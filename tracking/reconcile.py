"""Recompute the counters that have a source of truth elsewhere, and compare.

``total_favorites`` must equal the Favorite rows (plus the favorites of erased accounts,
which the counter keeps: ``tracking.privacy``), ``total_sales`` and
``total_revenue`` the placed orders' items. Views, clicks and impressions have no
other source and are not checked. The catalogue's stored sort keys are checked too
(marketplace.sort_keys): each product's rating keys against its reviews, each
category's ``product_count`` against the active products below it, and every product
must have its metrics row (the popularity orders join it).

Buckets are checked against the activity rows they were written from, over the retained
window: every event that moved a total is an activity row and moved its hourly and daily
bucket in the same transaction, so within the days whose activity is complete (after the
prune mark, ``tracking.retention``) the buckets must equal the activity recomputed per hour
and per day, unique viewers included; hourly buckets within their retention. That is the
"buckets sum to the totals over the retained window" check in the form that can be decided:
sums of daily buckets against the all-time totals would also flag totals set by other means
(imports, seeding, ``--fix`` of sales from the orders), which no bucket repair can change.
Drift is repaired by rebuilding the drifting day ranges (``tracking.rebuild``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone

from marketplace import sort_keys
from marketplace.models import Favorite, Order, OrderItem, Product
from tracking import rebuild as rebuilding
from tracking.buckets import day_start
from tracking.metrics import MetricsHelper
from tracking.models import BUCKET_COUNTERS, ActivityEvent, DailyMetrics, ProductMetrics
from tracking.privacy import erased_favorites
from tracking.rebuild import days, earliest_rebuildable_day, product_chunks, rebuild_range, recompute


@dataclass(frozen=True)
class Drift:
    product_id: int  # the category's id when ``target`` is "category"
    field: str
    stored: int | Decimal | float | None
    actual: int | Decimal | float | None
    target: str = "product"
    day: datetime | None = None  # buckets: the day range to rebuild


def find_drift() -> list[Drift]:
    return find_metrics_drift() + find_sort_key_drift() + find_bucket_drift()


def find_bucket_drift(chunk_size: int = 1000) -> list[Drift]:
    """Buckets that differ from the activity they were written from, over the retained window.
    Only products with activity or daily buckets in the window are read."""
    first = earliest_rebuildable_day()
    if first is None:
        oldest = [
            ActivityEvent.objects.aggregate(t=Min("created_at"))["t"],
            DailyMetrics.objects.aggregate(t=Min("start"))["t"],
        ]
        oldest = [t for t in oldest if t is not None]
        if not oldest:
            return []
        first = day_start(min(oldest))
    ids = set(ActivityEvent.objects.filter(created_at__gte=first).values_list("product_id", flat=True).distinct())
    ids |= set(DailyMetrics.objects.filter(start__gte=first).values_list("product_id", flat=True).distinct())
    drift = []
    for day in days(first, timezone.now()):
        for chunk in product_chunks(chunk_size, list(ids)):
            expected, found = recompute(chunk, day), rebuilding.stored(chunk, day)
            for period, want, have in (
                ("hourly", expected.hourly, found.hourly),
                ("daily", expected.daily, found.daily),
            ):
                for key in sorted(want.keys() | have.keys()):
                    drift += _bucket_drift(period, key, have.get(key), want.get(key), day)
    return drift


def _bucket_drift(period: str, key: tuple[int, int], have, want, day: datetime) -> list[Drift]:
    zero = [0] * len(BUCKET_COUNTERS)
    have, want = have or zero, want or zero
    start = datetime.fromtimestamp(key[1], UTC)
    return [
        Drift(key[0], f"{name} of the {period} bucket at {start:%Y-%m-%d %H:%M} UTC", h, w, "bucket", day)
        for name, h, w in zip(BUCKET_COUNTERS, have, want, strict=True)
        if h != w
    ]


def find_sort_key_drift() -> list[Drift]:
    drift = [Drift(pk, field, stored, actual) for pk, field, stored, actual in sort_keys.rating_drift()]
    drift += [Drift(cid, "product_count", s, a, "category") for cid, s, a in sort_keys.category_count_drift()]
    missing = Product.objects.filter(metrics__isnull=True).values_list("pk", flat=True)
    drift += [Drift(pk, "metrics_row", None, "created", "product") for pk in missing.order_by("pk").iterator()]
    return drift


def find_metrics_drift() -> list[Drift]:
    favorites = Counter(erased_favorites())
    favorites.update(dict(Favorite.objects.values("product_id").annotate(n=Count("id")).values_list("product_id", "n")))
    sales: dict[int, tuple[int, Decimal]] = {}
    placed = OrderItem.objects.filter(order__status=Order.Status.PLACED)
    for item in placed.values("product_id", "quantity", "unit_price").iterator(chunk_size=5000):
        units, revenue = sales.get(item["product_id"], (0, Decimal("0")))
        sales[item["product_id"]] = (units + item["quantity"], revenue + item["unit_price"] * item["quantity"])
    drift = []
    for m in (
        ProductMetrics.objects.only("product_id", "total_favorites", "total_sales", "total_revenue")
        .order_by("product_id")
        .iterator(chunk_size=5000)
    ):
        units, revenue = sales.get(m.product_id, (0, Decimal("0")))
        for field, stored, actual in (
            ("total_favorites", m.total_favorites, favorites.get(m.product_id, 0)),
            ("total_sales", m.total_sales, units),
            ("total_revenue", m.total_revenue, revenue),
        ):
            if stored != actual:
                drift.append(Drift(m.product_id, field, stored, actual))
    return drift


def fix_drift(drift: list[Drift]) -> int:
    """Set each drifting counter and key to its true value (one UPDATE per product or
    category, missing metrics rows created); return how many products were fixed."""
    by_product: dict[int, dict] = {}
    keys = [d for d in drift if d.target == "product" and d.field.startswith("rating_")]
    categories = [(d.product_id, d.stored, d.actual) for d in drift if d.target == "category"]
    missing = [d.product_id for d in drift if d.field == "metrics_row"]
    for d in drift:
        if d.target == "product" and d.field.startswith("total_"):
            by_product.setdefault(d.product_id, {})[d.field] = d.actual
    MetricsHelper.bulk_ensure_metrics(missing)
    ranges: dict[datetime, set[int]] = defaultdict(set)
    for d in drift:
        if d.target == "bucket" and d.day is not None:
            ranges[d.day].add(d.product_id)
    for day, ids in sorted(ranges.items()):
        for chunk in product_chunks(1000, list(ids)):
            rebuild_range(chunk, day)
    sort_keys.fix_ratings([(d.product_id, d.field, d.stored, d.actual) for d in keys])
    sort_keys.fix_category_counts(categories)
    with transaction.atomic():
        for product_id, values in sorted(by_product.items()):
            ProductMetrics.objects.filter(product_id=product_id).update(**values)
    return len({d.product_id for d in drift if d.target in ("product", "bucket")})


__all__ = ["Drift", "find_bucket_drift", "find_drift", "fix_drift"]
