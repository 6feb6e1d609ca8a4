"""Resolvers of product listings and lookups: arguments in, selectors and loaders, a page out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async
from strawberry.relay import from_base64
from strawberry.types import Info

from graph.errors import BadUserInput
from graph.ids import decode_id
from graph.loaders import CategoryTreeLoader
from graph.orderings import PRODUCT_ORDERINGS, ProductOrder, product_order
from graph.pagination import Page, TotalCount, counted_once, fetch_page
from marketplace import selectors
from marketplace.models import Category, Product
from marketplace.selectors import ProductFilters, descendant_ids

if TYPE_CHECKING:
    from graph.types.catalogue import ProductFilter

MAX_SEARCH_LENGTH = 200


async def product_filters(info: Info, value: ProductFilter | None) -> ProductFilters:
    """Validate a ProductFilter and turn it into the selectors' ProductFilters."""
    if value is None:
        return ProductFilters()
    for name, price in (("minPrice", value.min_price), ("maxPrice", value.max_price)):
        if price is not None and (not price.is_finite() or price < 0):
            raise BadUserInput(f"filter.{name} must be a number of 0 or more.", field=f"filter.{name}")
    if value.min_price is not None and value.max_price is not None and value.min_price > value.max_price:
        raise BadUserInput("filter.minPrice is greater than filter.maxPrice.", field="filter.minPrice")
    if value.search is not None and len(value.search) > MAX_SEARCH_LENGTH:
        raise BadUserInput(f"filter.search is longer than {MAX_SEARCH_LENGTH} characters.", field="filter.search")
    category_id, category_ids = None, None
    if value.category is not None:
        category_id, category_ids = await _category_scope(info, str(value.category))
    seller_id = decode_id(str(value.seller), "Seller", field="filter.seller") if value.seller is not None else None
    return ProductFilters(
        category_ids=category_ids,
        category_id=category_id,
        search=value.search.strip() or None if value.search else None,
        min_price=value.min_price,
        max_price=value.max_price,
        seller_id=seller_id,
        in_stock=value.in_stock,
    )


async def _category_scope(info: Info, id_or_slug: str) -> tuple[int | None, frozenset[int]]:
    """The category (by global ID or slug) and its descendants; empty when unknown."""
    category_id = _category_id(id_or_slug)
    if category_id is None:
        category = await find_category(category_id=None, slug=id_or_slug)
        if category is None:
            return None, frozenset()
        category_id = category.pk
    tree = await CategoryTreeLoader(info.context).load("tree")
    known = {c for children in tree.values() for c in children}
    return (category_id, descendant_ids(category_id, tree)) if category_id in known else (None, frozenset())


def _category_id(value: str) -> int | None:
    """The id in a Category global ID (or a plain number); None when the value is a slug."""
    if value.isascii() and value.isdigit():
        return decode_id(value, "Category", field="filter.category")
    try:
        from_base64(value)
    except Exception:
        return None
    return decode_id(value, "Category", field="filter.category")


async def find_category(*, category_id: int | None, slug: str | None) -> Category | None:
    return await sync_to_async(selectors.category_by_id_or_slug)(category_id=category_id, slug=slug)


async def products(
    info: Info,
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
    product_ordering = PRODUCT_ORDERINGS[order_by]

    async def count() -> TotalCount:
        return TotalCount(*await sync_to_async(selectors.product_count)(filters=filters))

    qs = product_ordering.apply(selectors.product_list(filters=filters))
    return await fetch_page(
        qs, product_ordering.ordering, first=first, after=after, last=last, before=before, count=counted_once(count)
    )


def exactly_one(id: str | None, slug: str | None) -> None:  # noqa: A002
    if (id is None) == (slug is None):
        raise BadUserInput("Give exactly one of id and slug.", field="id")


async def product(info: Info, *, id: str | None, slug: str | None) -> Product | None:  # noqa: A002
    exactly_one(id, slug)
    lookup = {"pk": decode_id(id, "Product")} if id is not None else {"slug": slug}
    return await selectors.active_products().filter(**lookup).afirst()
