"""Product pages and counts per category scope, batched across sibling categories.

``categories { children { products(first: 20) { ... } } }`` asks for one page per
category. A batch answers all of them with one query (``pagination.pages_per_parent``:
one indexed ``LIMIT`` per category), so the count of SQL queries does not grow with
the number of categories and the cost does not grow with the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from graph.loaders.base import Loader
from graph.orderings import PRODUCT_ORDERINGS, ProductOrder
from graph.pagination import Slice, TotalCount, Window, pages_per_parent
from marketplace import selectors
from marketplace.selectors import ProductFilters


@dataclass(frozen=True)
class ScopedPageKey:
    category_id: int
    scope: frozenset[int]  # the category and its descendants
    filters: ProductFilters
    order: ProductOrder
    window: Window


@dataclass(frozen=True)
class ScopedCountKey:
    category_id: int
    scope: frozenset[int]
    filters: ProductFilters


def _scoped(key: ScopedPageKey | ScopedCountKey):
    scope = key.scope if key.filters.category_ids is None else key.scope & key.filters.category_ids
    return selectors.product_list(filters=replace(key.filters, category_ids=scope, category_id=key.category_id))


class ProductPageByCategoryIdLoader(Loader):
    context_key = "product_page_by_category_id"

    def load_batch(self, keys: list[ScopedPageKey]) -> list[Slice]:
        results: dict[ScopedPageKey, Slice] = {}
        groups: dict[tuple, list[ScopedPageKey]] = {}
        for key in dict.fromkeys(keys):
            groups.setdefault((key.order, key.window), []).append(key)
        for (order, window), group in groups.items():
            product_ordering = PRODUCT_ORDERINGS[order]
            querysets = {key: product_ordering.apply(_scoped(key)) for key in group}
            results.update(pages_per_parent(querysets, product_ordering.ordering, window))
        return [results[key] for key in keys]


class ProductCountByCategoryIdLoader(Loader):
    """Counts per category scope: the maintained count when only the category narrows
    the listing (no query), else the matches counted up to ``COUNT_CAP`` in one batched query."""

    context_key = "product_count_by_category_id"

    def load_batch(self, keys: list[ScopedCountKey]) -> list[TotalCount]:
        unique = list(dict.fromkeys(keys))
        kept = [k for k in unique if selectors.counts_by_category(k.filters) and k.filters.category_ids is None]
        stored = selectors.category_product_counts([k.category_id for k in kept]) if kept else {}
        counts = {key: TotalCount(stored.get(key.category_id, 0)) for key in kept}
        capped = selectors.capped_counts({key: _scoped(key) for key in unique if key not in counts})
        counts.update({key: TotalCount(n, exact) for key, (n, exact) in capped.items()})
        return [counts[key] for key in keys]
