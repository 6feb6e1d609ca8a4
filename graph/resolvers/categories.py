"""Resolvers of categories: lookups, the roots, and each category's page of products."""

from __future__ import annotations

from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async
from strawberry.types import Info

from graph.ids import decode_id
from graph.loaders import (
    CategoryByIdLoader,
    CategoryTreeLoader,
    ProductCountByCategoryIdLoader,
    ProductPageByCategoryIdLoader,
)
from graph.loaders.products import ScopedCountKey, ScopedPageKey
from graph.orderings import PRODUCT_ORDERINGS, ProductOrder, product_order
from graph.pagination import Page, TotalCount, counted_once, page_window
from graph.resolvers.products import exactly_one, find_category, product_filters
from marketplace import selectors
from marketplace.models import Category
from marketplace.selectors import descendant_ids

if TYPE_CHECKING:
    from graph.types.catalogue import ProductFilter


async def category(info: Info, *, id: str | None, slug: str | None) -> Category | None:  # noqa: A002
    exactly_one(id, slug)
    category_id = decode_id(id, "Category") if id is not None else None
    return await find_category(category_id=category_id, slug=slug)


async def root_categories(info: Info) -> list[Category]:
    roots = await sync_to_async(selectors.root_categories)()
    loader = CategoryByIdLoader(info.context)
    for root in roots:
        loader.prime(root.pk, root)
    return roots


async def category_products(
    info: Info,
    category: Category,
    *,
    first: int | None,
    after: str | None,
    filter: ProductFilter | None,  # noqa: A002
    order_by: ProductOrder | None,
    last: int | None = None,
    before: str | None = None,
) -> Page:
    filters = await product_filters(info, filter)
    order_by = product_order(order_by, searching=filters.search is not None)
    ordering = PRODUCT_ORDERINGS[order_by].ordering
    window = page_window(ordering, first=first, after=after, last=last, before=before)
    scope = descendant_ids(category.pk, await CategoryTreeLoader(info.context).load("tree"))
    found = await ProductPageByCategoryIdLoader(info.context).load(
        ScopedPageKey(category.pk, scope, filters, order_by, window)
    )

    async def count() -> TotalCount:
        if selectors.counts_by_category(filters) and filters.category_ids is None:
            return TotalCount(category.product_count)  # maintained, already loaded
        return await ProductCountByCategoryIdLoader(info.context).load(ScopedCountKey(category.pk, scope, filters))

    return Page.of(found, ordering, count=counted_once(count))
