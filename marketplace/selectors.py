"""Read-side business logic of the catalogue: what a listing contains, in which order.

Selectors return querysets and plain values; they know nothing of GraphQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Avg, Count, FloatField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from marketplace.models import Category, OrderItem, Product, ProductImage, ProductReview
from marketplace.search import matching_products


@dataclass(frozen=True)
class ProductFilters:
    """What a listing may be narrowed by. Hashable, so loaders can batch on it."""

    category_ids: frozenset[int] | None = None  # the category and its descendants, already expanded
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


def with_average_rating(qs: QuerySet[Product], alias: str = "rating_average") -> QuerySet[Product]:
    """Annotate the mean review rating (0 without reviews) as a float on both databases."""
    average = (
        ProductReview.objects.filter(product_id=OuterRef("pk"))
        .values("product_id")
        .annotate(avg=Avg("rating", output_field=FloatField()))
        .values("avg")
    )
    return qs.annotate(**{alias: Coalesce(Subquery(average, output_field=FloatField()), Value(0.0))})


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


def images_for(product_ids: Iterable[int]) -> dict[int, list[ProductImage]]:
    """Each product's images in display order, in one query."""
    by_product: dict[int, list[ProductImage]] = {}
    for image in ProductImage.objects.filter(product_id__in=list(product_ids)).order_by("product_id", "position", "id"):
        by_product.setdefault(image.product_id, []).append(image)
    return by_product
