"""Recompute the counters that have a source of truth elsewhere, and compare.

``total_favorites`` must equal the Favorite rows, ``total_sales`` and
``total_revenue`` the placed orders' items. Views, clicks and impressions have no
other source and are not checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Count

from marketplace.models import Favorite, Order, OrderItem
from tracking.models import ProductMetrics


@dataclass(frozen=True)
class Drift:
    product_id: int
    field: str
    stored: int | Decimal
    actual: int | Decimal


def find_drift() -> list[Drift]:
    favorites = dict(Favorite.objects.values("product_id").annotate(n=Count("id")).values_list("product_id", "n"))
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
    """Set each drifting counter to its true value (one UPDATE per product)."""
    by_product: dict[int, dict] = {}
    for d in drift:
        by_product.setdefault(d.product_id, {})[d.field] = d.actual
    with transaction.atomic():
        for product_id, values in sorted(by_product.items()):
            ProductMetrics.objects.filter(product_id=product_id).update(**values)
    return len(by_product)


__all__ = ["Drift", "find_drift", "fix_drift"]
