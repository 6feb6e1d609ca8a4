"""The product listing orders. Each is a keyset ``Ordering`` ending in the id, plus
the annotation it sorts on; the enum the schema exposes is built from these.

Every order sorts on a stored key that an index covers in the order's direction, id
included: NEWEST, PRICE_* and TOP_RATED on the product's own columns (TOP_RATED on
the maintained Bayesian ``rating_score``, see marketplace.sort_keys), MOST_VIEWED,
BEST_SELLING and TRENDING on the metrics row through an inner join, so the plan walks the metrics
index and stops after a page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum

from django.db.models import QuerySet

from graph.errors import BadUserInput
from graph.pagination import Ordering, SortKey
from marketplace.search import with_relevance
from tracking.selectors import with_metric


class ProductOrder(Enum):
    NEWEST = "NEWEST"
    PRICE_ASC = "PRICE_ASC"
    PRICE_DESC = "PRICE_DESC"
    MOST_VIEWED = "MOST_VIEWED"
    BEST_SELLING = "BEST_SELLING"
    TOP_RATED = "TOP_RATED"
    RELEVANCE = "RELEVANCE"
    TRENDING = "TRENDING"


@dataclass(frozen=True)
class ProductOrdering:
    ordering: Ordering
    annotate: Callable[[QuerySet], QuerySet] = lambda qs: qs

    def apply(self, qs: QuerySet) -> QuerySet:
        return self.annotate(qs)


def _by(name: str, attr: str, descending: bool, kind: type, annotate=None, id_attr: str = "id") -> ProductOrdering:
    ordering = Ordering(name, (SortKey(attr, descending, kind), SortKey(id_attr, descending)))
    return ProductOrdering(ordering, annotate) if annotate else ProductOrdering(ordering)


def _by_metric(name: str, field: str, kind: type = int) -> ProductOrdering:
    """Sorted by a metrics counter, ties by the metrics row's product id (the same value as
    the product's id): both keys from one table, so the cursor's row comparison is a bound
    of the metrics index (a pair mixing the two tables is only a filter)."""
    alias = f"sort_{field}"
    return _by(name, alias, True, kind, lambda qs: with_metric(qs, field, alias), id_attr="sort_product_id")


PRODUCT_ORDERINGS: dict[ProductOrder, ProductOrdering] = {
    ProductOrder.NEWEST: _by("NEWEST", "created_at", True, datetime),
    ProductOrder.PRICE_ASC: _by("PRICE_ASC", "price", False, Decimal),
    ProductOrder.PRICE_DESC: _by("PRICE_DESC", "price", True, Decimal),
    ProductOrder.MOST_VIEWED: _by_metric("MOST_VIEWED", "total_views"),
    ProductOrder.BEST_SELLING: _by_metric("BEST_SELLING", "total_sales"),
    ProductOrder.TOP_RATED: _by("TOP_RATED", "rating_score", True, float),
    # Recent engagement with time decay, in forward-decay form (tracking.trending): the
    # stored score orders as the decayed one does at any instant, so it is a plain counter.
    ProductOrder.TRENDING: _by_metric("TRENDING", "trending_score", float),
    # The search rank is an integer rounded in SQL (marketplace/search.py), so the cursor
    # compares exactly what the sort used.
    ProductOrder.RELEVANCE: _by("RELEVANCE", "relevance", True, int, with_relevance),
}


def product_order(requested: ProductOrder | None, *, searching: bool) -> ProductOrder:
    """The order a listing uses: the one asked for, else RELEVANCE when searching and NEWEST
    otherwise. RELEVANCE without a search (no words to rank by) is the client's mistake."""
    if requested is None:
        return ProductOrder.RELEVANCE if searching else ProductOrder.NEWEST
    if requested is ProductOrder.RELEVANCE and not searching:
        raise BadUserInput("orderBy: RELEVANCE needs filter.search with at least one word.", field="orderBy")
    return requested
