"""Read-side business logic: what a listing contains and in which order, and what a
user owns (favorites, orders, products sold, API tokens, cart lines).

Selectors return querysets, model instances and plain values; they know nothing of GraphQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Avg, Count, FloatField, Q, QuerySet, Sum, Value

from marketplace.models import (
    ApiToken,
    CartItem,
    Category,
    Favorite,
    Order,
    OrderItem,
    Product,
    ProductImage,
    ProductReview,
)
from marketplace.search import matching_products


@dataclass(frozen=True)
class ProductFilters:
    """What a listing may be narrowed by. Hashable, so loaders can batch on it."""

    category_ids: frozenset[int] | None = None  # the category and its descendants, already expanded
    category_id: int | None = None  # the category ``category_ids`` was expanded from (its count is kept)
    search: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    seller_id: int | None = None
    in_stock: bool | None = None


def category_tree() -> dict[int | None, list[int]]:
    """``{parent_id: [child ids]}`` for the whole tree, in one query (categories are few)."""
    children: dict[int | None, list[int]] = {}
    for category_id, parent_id in Category.objects.order_by("name", "id").values_list("id", "parent_id"):
        children.setdefault(parent_id, []).append(category_id)
    return children


def descendant_ids(category_id: int, tree: dict[int | None, list[int]]) -> frozenset[int]:
    """The category and every category below it."""
    found, stack = {category_id}, [category_id]
    while stack:
        for child in tree.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return frozenset(found)


def root_categories() -> list[Category]:
    return list(Category.objects.filter(parent__isnull=True).order_by("name", "id"))


def category_by_id_or_slug(*, category_id: int | None = None, slug: str | None = None) -> Category | None:
    lookup = {"pk": category_id} if category_id is not None else {"slug": slug}
    return Category.objects.filter(**lookup).first()


def active_products() -> QuerySet[Product]:
    return Product.objects.filter(is_active=True)


def product_list(*, filters: ProductFilters) -> QuerySet[Product]:
    """Active products matching ``filters``; unordered (the caller orders and pages)."""
    qs = active_products()
    if filters.category_ids is not None:
        qs = qs.filter(category_id__in=filters.category_ids)
    if filters.search:
        qs = matching_products(qs, filters.search)
    if filters.min_price is not None:
        qs = qs.filter(price__gte=filters.min_price)
    if filters.max_price is not None:
        qs = qs.filter(price__lte=filters.max_price)
    if filters.seller_id is not None:
        qs = qs.filter(seller_id=filters.seller_id)
    if filters.in_stock is not None:
        qs = qs.filter(stock__gt=0) if filters.in_stock else qs.filter(stock=0)
    return qs


COUNT_CAP = 1000  # counts above this are reported as "at least 1000" (TotalCount.exact false)


def counts_by_category(filters: ProductFilters) -> bool:
    """Whether the listing is narrowed by category at most: then its count is maintained."""
    return (
        not filters.search
        and filters.min_price is None
        and filters.max_price is None
        and filters.seller_id is None
        and filters.in_stock is None
    )


def category_product_counts(category_ids: Iterable[int]) -> dict[int, int]:
    """The maintained ``Category.product_count`` (descendants included) of each id: one query."""
    return dict(Category.objects.filter(id__in=list(category_ids)).values_list("id", "product_count"))


def product_count(*, filters: ProductFilters) -> tuple[int, bool]:
    """``(count, exact)`` of ``product_list(filters)``, never more work than a page: the maintained
    category counts when only a category narrows the listing, else the matches counted up to
    ``COUNT_CAP`` (``exact`` false when there are more)."""
    if counts_by_category(filters):
        if filters.category_ids is None:
            roots = Category.objects.filter(parent__isnull=True).aggregate(n=Sum("product_count"))
            return roots["n"] or 0, True
        if filters.category_id is not None and filters.category_id in filters.category_ids:
            return category_product_counts([filters.category_id]).get(filters.category_id, 0), True
    return capped_count(product_list(filters=filters))


def capped_count(qs: QuerySet) -> tuple[int, bool]:
    """``COUNT(*)`` over at most ``COUNT_CAP + 1`` rows of ``qs`` (a LIMIT in a subquery)."""
    n = qs.order_by()[: COUNT_CAP + 1].count()
    return min(n, COUNT_CAP), n <= COUNT_CAP


def capped_counts[K](querysets: dict[K, QuerySet]) -> dict[K, tuple[int, bool]]:
    """``capped_count`` of several querysets in one query: their capped row lists in one
    UNION ALL, grouped (raw SQL: Django refuses sliced parts in ``union()`` on SQLite)."""
    if len(querysets) <= 1:
        return {key: capped_count(qs) for key, qs in querysets.items()}
    counts: dict[K, tuple[int, bool]] = {}
    sqls, params = [], []
    for i, (key, qs) in enumerate(querysets.items()):
        part = qs.order_by().annotate(count_parent=Value(i)).values_list("count_parent")[: COUNT_CAP + 1]
        try:
            sql, part_params = part.query.sql_with_params()
        except EmptyResultSet:
            counts[key] = (0, True)
            continue
        sqls.append(f"SELECT * FROM ({sql}) AS counted_{i}")
        params.extend(part_params)
    seen: dict[int, int] = {}
    if sqls:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count_parent, COUNT(*) FROM ({' UNION ALL '.join(sqls)}) AS parts GROUP BY 1", params
            )
            seen = dict(cursor.fetchall())
    for i, key in enumerate(querysets):
        if key not in counts:
            counts[key] = (min(seen.get(i, 0), COUNT_CAP), seen.get(i, 0) <= COUNT_CAP)
    return counts


def ratings_for(product_ids: Iterable[int]) -> dict[int, tuple[float, int]]:
    """``{product_id: (average, count)}`` in one grouped query; products without reviews are absent."""
    rows = (
        ProductReview.objects.filter(product_id__in=list(product_ids))
        .values("product_id")
        .annotate(average=Avg("rating", output_field=FloatField()), count=Count("id"))
        .values_list("product_id", "average", "count")
    )
    return {pid: (float(avg), count) for pid, avg, count in rows}


def order_items_for(order_ids: Iterable[int]) -> dict[int, list[OrderItem]]:
    """Each order's lines with their products, in one query."""
    by_order: dict[int, list[OrderItem]] = {}
    lines = OrderItem.objects.filter(order_id__in=list(order_ids)).select_related("product").order_by("order_id", "id")
    for line in lines:
        by_order.setdefault(line.order_id, []).append(line)
    return by_order


def visible_favorites(*, user) -> QuerySet[Favorite]:
    """``user``'s favorites that they may still see: a deactivated product is hidden from
    shoppers everywhere but their order history, so it leaves their favorites too (the
    row stays: the favorite returns if the product is sold again). Its seller and staff
    still see it, as they see the product itself."""
    qs = Favorite.objects.filter(user=user)
    if user.is_staff:
        return qs
    return qs.filter(Q(product__is_active=True) | Q(product__seller=user))


def images_for(product_ids: Iterable[int]) -> dict[int, list[ProductImage]]:
    """Each product's images in display order, in one query."""
    by_product: dict[int, list[ProductImage]] = {}
    for image in ProductImage.objects.filter(product_id__in=list(product_ids)).order_by("product_id", "position", "id"):
        by_product.setdefault(image.product_id, []).append(image)
    return by_product


def product_by_id(*, product_id: int, active_only: bool = True) -> Product | None:
    """The product, or None when it does not exist (or, with ``active_only``, is no longer sold)."""
    qs = active_products() if active_only else Product.objects.all()
    return qs.filter(pk=product_id).first()


def manageable_product(*, user, product_id: int) -> Product | None:
    """A product ``user`` may change: their own, or any for staff. None otherwise, so that
    someone else's product looks exactly like a missing one."""
    qs = Product.objects.filter(pk=product_id)
    if not user.is_staff:
        qs = qs.filter(seller=user)
    return qs.first()


def products_sold_by(*, user) -> QuerySet[Product]:
    """Everything ``user`` sells, active or not; unordered (the caller orders and pages)."""
    return Product.objects.filter(seller=user)


def favorites_of(*, user) -> QuerySet[Favorite]:
    """``user``'s visible favorites (see ``visible_favorites``) with their products;
    unordered (the caller orders and pages)."""
    return visible_favorites(user=user).select_related("product")


def orders_of(*, user) -> QuerySet[Order]:
    """``user``'s orders; unordered (the caller orders and pages)."""
    return Order.objects.filter(user=user)


def api_tokens_of(*, user) -> QuerySet[ApiToken]:
    """``user``'s API tokens, active and revoked, newest first."""
    return ApiToken.objects.filter(user=user)


def cart_items_for(cart_ids: Iterable[int]) -> dict[int, list[CartItem]]:
    """Each cart's lines with their products, oldest line first, in one query."""
    by_cart: dict[int, list[CartItem]] = {}
    lines = CartItem.objects.filter(cart_id__in=list(cart_ids)).select_related("product").order_by("added_at", "id")
    for line in lines:
        by_cart.setdefault(line.cart_id, []).append(line)
    return by_cart
