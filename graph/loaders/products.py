"""Product pages and counts per category scope, batched across sibling categories.

``categories { children { products(first: 20) { ... } } }`` asks for one page per
category. A batch answers all of them with one windowed query (``ROW_NUMBER()``
partitioned by the scope each product falls in), so the count of SQL queries does
not grow with the number of categories. Scopes that overlap (a category and its
ancestor in one batch) go in separate layers, one query each.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.db.models import Case, Count, F, IntegerField, Value, When, Window
from django.db.models.functions import RowNumber

from graph.loaders.base import Loader
from graph.orderings import PRODUCT_ORDERINGS, ProductOrder
from graph.pagination import slice_page
from marketplace import selectors
from marketplace.models import Product
from marketplace.selectors import ProductFilters


@dataclass(frozen=True)
class ScopedPageKey:
    category_id: int
    scope: frozenset[int]  # the category and its descendants
    filters: ProductFilters
    order: ProductOrder
    first: int
    after: tuple | None


@dataclass(frozen=True)
class ScopedCountKey:
    category_id: int
    scope: frozenset[int]
    filters: ProductFilters


def _layers[K: (ScopedPageKey, ScopedCountKey)](keys: list[K]) -> list[list[K]]:
    """Split keys into groups whose scopes are pairwise disjoint (usually one group)."""
    layers: list[tuple[set[int], list[K]]] = []
    for key in keys:
        for covered, members in layers:
            if covered.isdisjoint(key.scope):
                covered |= key.scope
                members.append(key)
                break
        else:
            layers.append((set(key.scope), [key]))
    return [members for _, members in layers]


def _scoped(keys, filters: ProductFilters):
    """Products in any of the keys' scopes, annotated with the scope they fall in."""
    union = frozenset().union(*(k.scope for k in keys))
    narrowed = union if filters.category_ids is None else union & filters.category_ids
    qs = selectors.product_list(filters=replace(filters, category_ids=narrowed))
    whens = [When(category_id__in=list(k.scope), then=Value(k.category_id)) for k in keys]
    return qs.annotate(scope=Case(*whens, output_field=IntegerField()))


class ProductPageByCategoryIdLoader(Loader):
    context_key = "product_page_by_category_id"

    def load_batch(self, keys: list[ScopedPageKey]) -> list[tuple[list[Product], bool]]:
        results: dict[ScopedPageKey, tuple[list[Product], bool]] = {}
        groups: dict[tuple, list[ScopedPageKey]] = {}
        for key in dict.fromkeys(keys):
            groups.setdefault((key.filters, key.order, key.first, key.after), []).append(key)
        for (filters, order, first, after), group in groups.items():
            product_ordering = PRODUCT_ORDERINGS[order]
            ordering = product_ordering.ordering
            for layer in _layers(group):
                if len(layer) == 1:
                    key = layer[0]
                    qs = product_ordering.apply(
                        selectors.product_list(filters=replace(filters, category_ids=_narrow(key, filters)))
                    )
                    results[key] = slice_page(qs, ordering, first, after)
                    continue
                qs = product_ordering.apply(_scoped(layer, filters))
                if after is not None:
                    qs = qs.filter(ordering.after(after))
                qs = (
                    qs.annotate(row=Window(RowNumber(), partition_by=F("scope"), order_by=ordering.order_by()))
                    .filter(row__lte=first + 1)
                    .order_by("scope", *ordering.order_by())
                )
                rows: dict[int, list[Product]] = {}
                for product in qs:
                    rows.setdefault(product.scope, []).append(product)
                for key in layer:
                    page = rows.get(key.category_id, [])
                    results[key] = (page[:first], len(page) > first)
        return [results[key] for key in keys]


class ProductCountByCategoryIdLoader(Loader):
    context_key = "product_count_by_category_id"

    def load_batch(self, keys: list[ScopedCountKey]) -> list[int]:
        counts: dict[ScopedCountKey, int] = {}
        groups: dict[ProductFilters, list[ScopedCountKey]] = {}
        for key in dict.fromkeys(keys):
            groups.setdefault(key.filters, []).append(key)
        for filters, group in groups.items():
            for layer in _layers(group):
                totals = dict(
                    _scoped(layer, filters).order_by().values("scope").annotate(n=Count("id")).values_list("scope", "n")
                )
                for key in layer:
                    counts[key] = totals.get(key.category_id, 0)
        return [counts[key] for key in keys]


def _narrow(key: ScopedPageKey, filters: ProductFilters) -> frozenset[int]:
    return key.scope if filters.category_ids is None else key.scope & filters.category_ids
