"""Resolvers of product listings and lookups: arguments in, selectors and loaders, types out."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from strawberry.types import Info

from graph.errors import BadUserInput
from graph.ids import decode_id
from graph.loaders import CategoryTreeLoader, ProductCountByCategoryIdLoader, ProductPageByCategoryIdLoader
from graph.loaders.products import ScopedCountKey, ScopedPageKey
from graph.orderings import PRODUCT_ORDERINGS, ProductOrder, product_order
from graph.pagination import decode_cursor, encode_cursor, page_size, slice_page
from graph.types.catalogue import ProductConnection, ProductEdge, ProductFilter
from graph.types.common import PageInfo
from marketplace import selectors
from marketplace.models import Category, Product
from marketplace.selectors import ProductFilters, descendant_ids

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
    category_ids = None
    if value.category is not None:
        category_ids = await _category_scope(info, str(value.category))
    seller_id = decode_id(str(value.seller), "Seller", field="filter.seller") if value.seller is not None else None
    return ProductFilters(
        category_ids=category_ids,
        search=value.search.strip() or None if value.search else None,
        min_price=value.min_price,
        max_price=value.max_price,
        seller_id=seller_id,
        in_stock=value.in_stock,
    )


async def _category_scope(info: Info, id_or_slug: str) -> frozenset[int]:
    """The category (by global ID or slug) and its descendants; empty when unknown."""
    category_id = _category_id(id_or_slug)
    if category_id is None:
        category = await find_category(category_id=None, slug=id_or_slug)
        if category is None:
            return frozenset()
        category_id = category.pk
    tree = await CategoryTreeLoader(info.context).load("tree")
    known = {c for children in tree.values() for c in children}
    return descendant_ids(category_id, tree) if category_id in known else frozenset()


def _category_id(value: str) -> int | None:
    """The id in a Category global ID (or a plain number); None when the value is a slug."""
    from strawberry.relay import from_base64

    if value.isascii() and value.isdigit():
        return decode_id(value, "Category", field="filter.category")
    try:
        from_base64(value)
    except Exception:
        return None
    return decode_id(value, "Category", field="filter.category")


async def products(
    info: Info, *, first: int | None, after: str | None, filter: ProductFilter | None, order_by: ProductOrder | None
) -> ProductConnection:
    size = page_size(first)
    filters = await product_filters(info, filter)
    order_by = product_order(order_by, searching=filters.search is not None)
    product_ordering = PRODUCT_ORDERINGS[order_by]
    cursor = decode_cursor(product_ordering.ordering, after) if after else None
    qs = selectors.product_list(filters=filters)
    rows, has_next = await sync_to_async(slice_page)(
        product_ordering.apply(qs), product_ordering.ordering, size, cursor
    )

    async def count() -> int:
        return await qs.acount()

    return _connection(order_by, rows, has_next, count)


async def category_products(
    info: Info,
    category: Category,
    *,
    first: int | None,
    after: str | None,
    filter: ProductFilter | None,
    order_by: ProductOrder | None,
) -> ProductConnection:
    size = page_size(first)
    filters = await product_filters(info, filter)
    order_by = product_order(order_by, searching=filters.search is not None)
    ordering = PRODUCT_ORDERINGS[order_by].ordering
    cursor = decode_cursor(ordering, after) if after else None
    scope = descendant_ids(category.pk, await CategoryTreeLoader(info.context).load("tree"))
    key = ScopedPageKey(category.pk, scope, filters, order_by, size, cursor)
    rows, has_next = await ProductPageByCategoryIdLoader(info.context).load(key)

    async def count() -> int:
        return await ProductCountByCategoryIdLoader(info.context).load(ScopedCountKey(category.pk, scope, filters))

    return _connection(order_by, rows, has_next, count)


async def category_product_count(info: Info, category: Category) -> int:
    scope = descendant_ids(category.pk, await CategoryTreeLoader(info.context).load("tree"))
    return await ProductCountByCategoryIdLoader(info.context).load(ScopedCountKey(category.pk, scope, ProductFilters()))


def _connection(order_by: ProductOrder, rows: list[Product], has_next: bool, count) -> ProductConnection:
    ordering = PRODUCT_ORDERINGS[order_by].ordering
    edges = [ProductEdge(cursor=encode_cursor(ordering, row), node=row) for row in rows]
    return ProductConnection(
        edges=edges,
        page_info=PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None),
        count=count,
    )


def _exactly_one(id: str | None, slug: str | None) -> None:  # noqa: A002
    if (id is None) == (slug is None):
        raise BadUserInput("Give exactly one of id and slug.", field="id")


async def product(info: Info, *, id: str | None, slug: str | None) -> Product | None:  # noqa: A002
    _exactly_one(id, slug)
    lookup = {"pk": decode_id(id, "Product")} if id is not None else {"slug": slug}
    return await selectors.active_products().filter(**lookup).afirst()


async def find_category(*, category_id: int | None, slug: str | None) -> Category | None:
    return await sync_to_async(selectors.category_by_id_or_slug)(category_id=category_id, slug=slug)


async def category(info: Info, *, id: str | None, slug: str | None) -> Category | None:  # noqa: A002
    _exactly_one(id, slug)
    category_id = decode_id(id, "Category") if id is not None else None
    return await find_category(category_id=category_id, slug=slug)


async def root_categories(info: Info) -> list[Category]:
    from graph.loaders import CategoryByIdLoader

    roots = [c async for c in Category.objects.filter(parent__isnull=True).order_by("name", "id")]
    loader = CategoryByIdLoader(info.context)
    for root in roots:
        loader.prime(root.pk, root)
    return roots
