"""Read-side business logic: what a listing contains and in which order, and what a
user owns (favorites, orders, products sold, API tokens, cart lines).

Selectors return querysets, model instances and plain values; they know nothing of GraphQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Avg, Count, FloatField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

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
        qs = qs.filter(Q(name__icontains=filters.search) | Q(description__icontains=filters.search))
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
