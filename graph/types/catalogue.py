"""Catalogue types: Product, Category, Seller, images, ratings and reviews.

The objects behind these types are Django model instances; every field that
crosses a relation resolves through a per-request loader (one line each).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry.types import Info

from graph.loaders import (
    CategoryByIdLoader,
    ChildrenByCategoryIdLoader,
    FavoriteByProductIdLoader,
    ImagesByProductIdLoader,
    MetricsByProductLoader,
    RatingByProductIdLoader,
    ReviewPageByProductIdLoader,
    SoldProduct,
    UserByIdLoader,
)
from graph.loaders.catalogue import REVIEW_ORDER, ReviewPageKey
from graph.orderings import ProductOrder
from graph.pagination import Page, TotalCount, connection, page_window
from graph.prefetch import Load, prefetch, selected_names, settle
from graph.resolvers import categories as category_resolvers
from graph.resolvers.history import start_histories
from graph.types.common import PageInfo, global_id_field
from graph.types.node import Node
from graph.types.product_metrics import ProductMetricsType
from marketplace.models import Category, Product, ProductReview

ProductOrderEnum = strawberry.enum(
    ProductOrder,
    name="ProductOrder",
    description=(
        "Listing orders. Every order ends with the product id, so pages never skip or repeat. "
        "The default is NEWEST, or RELEVANCE when filter.search is given; RELEVANCE needs a search. "
        "TRENDING: recent views, clicks, cart additions and sales (weighted 1, 2, 5 and 10 per unit), "
        "each counting half as much after every TRENDING_HALF_LIFE_HOURS (24 by default)."
    ),
)


@strawberry.type(name="Seller", description="The public face of a user who sells.")
class SellerType(Node):
    id: strawberry.ID = global_id_field("Seller")

    @strawberry.field(description="Full name when given, else the username.")
    def display_name(self, root: strawberry.Parent[object]) -> str:
        return root.get_full_name() or root.username


@strawberry.type(name="ProductImage")
class ProductImageType:
    url: str
    alt_text: str
    position: int


@strawberry.type(name="Rating", description="Average review rating (null without reviews) and number of reviews.")
class RatingType:
    average: float | None
    count: int


@strawberry.type(name="Review")
class ReviewType(Node):
    rating: int
    title: str
    body: str
    created_at: datetime
    verified_purchase: bool = strawberry.field(
        description="The author had bought the product (a placed order) when they wrote the review."
    )

    id: strawberry.ID = global_id_field("Review")

    @strawberry.field
    def author(self, root: strawberry.Parent[ProductReview], info: Info) -> SellerType:
        return UserByIdLoader(info.context).load_now(root.user_id)


@strawberry.type
class ReviewEdge:
    cursor: str
    node: ReviewType


@strawberry.type
class ReviewConnection:
    edges: list[ReviewEdge]
    page_info: PageInfo


@strawberry.type(name="Product")
class ProductType(Node):
    name: str
    slug: str
    description: str
    price: Decimal
    stock: int
    created_at: datetime

    id: strawberry.ID = global_id_field("Product")

    @strawberry.field
    def in_stock(self, root: strawberry.Parent[Product]) -> bool:
        return root.stock > 0

    @strawberry.field
    def category(self, root: strawberry.Parent[Product], info: Info) -> CategoryType:
        return CategoryByIdLoader(info.context).load_now(root.category_id)

    @strawberry.field
    def seller(self, root: strawberry.Parent[Product], info: Info) -> SellerType:
        return UserByIdLoader(info.context).load_now(root.seller_id)

    @strawberry.field(description="Images in display order.")
    def images(self, root: strawberry.Parent[Product], info: Info) -> list[ProductImageType]:
        return ImagesByProductIdLoader(info.context).load_now(root.pk)

    @strawberry.field
    def rating(self, root: strawberry.Parent[Product], info: Info) -> RatingType:
        return RatingByProductIdLoader(info.context).load_now(root.pk)

    @strawberry.field(description="Engagement metrics; created on the fly when the product has none yet.")
    def metrics(self, root: strawberry.Parent[Product], info: Info) -> ProductMetricsType:
        return MetricsByProductLoader(info.context).load_now(SoldProduct(root.pk, root.seller_id))

    @strawberry.field(description="Whether the current user favorited it (false when not logged in).")
    def is_favorite(self, root: strawberry.Parent[Product], info: Info) -> bool:
        return FavoriteByProductIdLoader(info.context).load_now(root.pk)

    @strawberry.field(description="False once the seller deactivated it (only its seller and staff can see it then).")
    def is_active(self, root: strawberry.Parent[Product]) -> bool:
        return root.is_active

    @strawberry.field(description="Reviews, newest first (10 a page unless `first` or `last` says otherwise).")
    async def reviews(
        self,
        root: strawberry.Parent[Product],
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> ReviewConnection:
        window = page_window(REVIEW_ORDER, first=first, after=after, last=last, before=before, default=10)
        found = await ReviewPageByProductIdLoader(info.context).load(ReviewPageKey(root.pk, window))
        return connection(Page.of(found, REVIEW_ORDER), ReviewConnection, ReviewEdge)


@strawberry.type
class ProductEdge:
    cursor: str
    node: ProductType


@strawberry.type
class ProductConnection:
    edges: list[ProductEdge]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[TotalCount]]]

    @strawberry.field(
        description="Number of products matching the filter, over all pages. Exact when "
        "`totalCountIsExact`; otherwise a lower bound (matches are counted up to 1000)."
    )
    async def total_count(self) -> int:
        return (await self.count()).value

    @strawberry.field(description="False when `totalCount` is a lower bound (more than 1000 matches with a filter).")
    async def total_count_is_exact(self) -> bool:
        return (await self.count()).exact


def product_connection(page: Page, node: Callable[[object], Product] = lambda product: product) -> ProductConnection:
    """The connection of a page of products (``node`` turns a row into its product)."""
    return connection(page, ProductConnection, ProductEdge, node, count=page.count)


PRODUCT_LOADS: dict[str, Load] = {
    # what ProductType's loader fields ask for, keyed by GraphQL field name (the same keys)
    "category": lambda context, product: CategoryByIdLoader(context).load(product.category_id),
    "seller": lambda context, product: UserByIdLoader(context).load(product.seller_id),
    "images": lambda context, product: ImagesByProductIdLoader(context).load(product.pk),
    "rating": lambda context, product: RatingByProductIdLoader(context).load(product.pk),
    "metrics": lambda context, p: MetricsByProductLoader(context).load(SoldProduct(p.pk, p.seller_id)),
    "isFavorite": lambda context, product: FavoriteByProductIdLoader(context).load(product.pk),
}


async def listed_products(
    info: Info, page: Page, node: Callable[[object], Product] = lambda product: product
) -> ProductConnection:
    """``product_connection``, with the loader fields its products' selection asks for
    loaded once for the page (``graph.prefetch``), so that every product's
    fields complete without a coroutine each."""
    listed = product_connection(page, node)
    products = [edge.node for edge in listed.edges]
    histories = []
    if products and "metrics" in selected_names(info, ("edges", "node")):  # beside the metrics' batch
        histories = start_histories(info, [(p.pk, p.seller_id) for p in products], ("edges", "node", "metrics"))
    await prefetch(info, products, PRODUCT_LOADS, ("edges", "node"))
    await settle(histories)
    return listed


@strawberry.type(name="Category")
class CategoryType(Node):
    name: str
    slug: str
    description: str

    id: strawberry.ID = global_id_field("Category")

    @strawberry.field
    def parent(self, root: strawberry.Parent[Category], info: Info) -> CategoryType | None:
        if root.parent_id is None:
            return None
        return CategoryByIdLoader(info.context).load_now(root.parent_id)  # primed with its child

    @strawberry.field
    def children(self, root: strawberry.Parent[Category], info: Info) -> list[CategoryType]:
        return ChildrenByCategoryIdLoader(info.context).load_now(root.pk)

    @strawberry.field(description="Active products in this category and its descendants.")
    def product_count(self, root: strawberry.Parent[Category]) -> int:
        return root.product_count  # maintained with every product write (marketplace.sort_keys)

    @strawberry.field(description="Active products in this category and its descendants (20 a page by default).")
    async def products(
        self,
        root: strawberry.Parent[Category],
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: ProductFilter | None = None,  # noqa: A002  (the API's argument name)
        order_by: ProductOrderEnum | None = None,  # NEWEST, or RELEVANCE with a search
        last: int | None = None,
        before: str | None = None,
    ) -> ProductConnection:
        page = await category_resolvers.category_products(
            info, root, first=first, after=after, filter=filter, order_by=order_by, last=last, before=before
        )
        return await listed_products(info, page)


@strawberry.input(description="Narrow a product listing. Every field is optional; all given ones must match.")
class ProductFilter:
    category: strawberry.ID | None = strawberry.field(
        default=None, description="A Category ID or slug; descendant categories are included."
    )
    search: str | None = strawberry.field(
        default=None,
        description="Words that the name or description must all contain, the last one as a prefix "
        '("blue sho" finds "Blue shoes"). Punctuation is ignored; text without a word matches nothing.',
    )
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    seller: strawberry.ID | None = strawberry.field(default=None, description="A Seller ID.")
    in_stock: bool | None = None
