"""The product listing orders. Each is a keyset ``Ordering`` ending in the id, plus
the annotation it sorts on; the enum the schema exposes is built from these.

Every order sorts on a stored key that an index covers in the order's direction, id
included: NEWEST, PRICE_* and TOP_RATED on the product's own columns (TOP_RATED on
the maintained Bayesian ``rating_score``, see marketplace.sort_keys), MOST_VIEWED and
BEST_SELLING on the metrics row through an inner join, so the plan walks the metrics
index and stops after a page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum

from django.db.models import QuerySet

from graph.pagination import Ordering, SortKey
from tracking.selectors import with_metric


class ProductOrder(Enum):
    NEWEST = "NEWEST"
    PRICE_ASC = "PRICE_ASC"
    PRICE_DESC = "PRICE_DESC"
    MOST_VIEWED = "MOST_VIEWED"
    BEST_SELLING = "BEST_SELLING"
    TOP_RATED = "TOP_RATED"


@dataclass(frozen=True)
class ProductOrdering:
    ordering: Ordering
    annotate: Callable[[QuerySet], QuerySet] = lambda qs: qs

    def apply(self, qs: QuerySet) -> QuerySet:
        return self.annotate(qs)


def _by(name: str, attr: str, descending: bool, kind: type, annotate=None) -> ProductOrdering:
    ordering = Ordering(name, (SortKey(attr, descending, kind), SortKey("id", descending)))
    return ProductOrdering(ordering, annotate) if annotate else ProductOrdering(ordering)


PRODUCT_ORDERINGS: dict[ProductOrder, ProductOrdering] = {
    ProductOrder.NEWEST: _by("NEWEST", "created_at", True, datetime),
    ProductOrder.PRICE_ASC: _by("PRICE_ASC", "price", False, Decimal),
    ProductOrder.PRICE_DESC: _by("PRICE_DESC", "price", True, Decimal),
    ProductOrder.MOST_VIEWED: _by(
        "MOST_VIEWED", "sort_views", True, int, lambda qs: with_metric(qs, "total_views", "sort_views")
    ),
    ProductOrder.BEST_SELLING: _by(
        "BEST_SELLING", "sort_sales", True, int, lambda qs: with_metric(qs, "total_sales", "sort_sales")
    ),
    ProductOrder.TOP_RATED: _by("TOP_RATED", "rating_score", True, float),
}
