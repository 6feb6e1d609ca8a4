"""Recompute the counters that have a source of truth elsewhere, and compare.

``total_favorites`` must equal the Favorite rows (plus the favorites of erased accounts,
which the counter keeps: ``tracking.privacy``), ``total_sales`` and
``total_revenue`` the placed orders' items. Views, clicks and impressions have no
other source and are not checked. The catalogue's stored sort keys are checked too
(marketplace.sort_keys): each product's rating keys against its reviews, each
category's ``product_count`` against the active products below it, and every product
must have its metrics row (the popularity orders join it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Count

from marketplace import sort_keys
from marketplace.models import Favorite, Order, OrderItem, Product
from tracking.metrics import MetricsHelper
from tracking.models import ProductMetrics
from tracking.privacy import erased_favorites


@dataclass(frozen=True)
class Drift:
    product_id: int  # the category's id when ``target`` is "category"
    field: str
    stored: int | Decimal | float | None
    actual: int | Decimal | float | None
    target: str = "product"


def find_drift() -> list[Drift]:
    return find_metrics_drift() + find_sort_key_drift()


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
    sort_keys.fix_ratings([(d.product_id, d.field, d.stored, d.actual) for d in keys])
    sort_keys.fix_category_counts(categories)
    with transaction.atomic():
        for product_id, values in sorted(by_product.items()):
            ProductMetrics.objects.filter(product_id=product_id).update(**values)
    return len({d.product_id for d in drift if d.target == "product"})


__all__ = ["Drift", "find_drift", "fix_drift"]
