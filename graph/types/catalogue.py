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
    MetricsByProductIdLoader,
    RatingByProductIdLoader,
    ReviewPageByProductIdLoader,
    UserByIdLoader,
)
from graph.loaders.catalogue import REVIEW_ORDER, ReviewPageKey
from graph.orderings import ProductOrder
from graph.pagination import decode_cursor, encode_cursor, page_size
from graph.types.common import PageInfo, global_id_field
from graph.types.metrics import ProductMetricsType
from marketplace.models import Category, Product, ProductReview

ProductOrderEnum = strawberry.enum(
    ProductOrder,
    name="ProductOrder",
    description=(
        "Listing orders. Every order ends with the product id, so pages never skip or repeat. "
        "The default is NEWEST, or RELEVANCE when filter.search is given; RELEVANCE needs a search."
    ),
)


@strawberry.type(name="Seller", description="The public face of a user who sells.")
class SellerType:
    id: strawberry.ID = global_id_field("Seller")

    @strawberry.field(description="Full name when given, else the username.")
    def display_name(self, root: strawberry.Parent[object]) -> str:
        return root.get_full_name() or root.username


@strawberry.type(name="ProductImage")
class ProductImageType:
    url: str
    alt_text: str
    position: int


@strawberry.type(description="Average review rating (null without reviews) and number of reviews.")
class Rating:
    average: float | None
    count: int


@strawberry.type(name="Review")
class ReviewType:
    rating: int
    title: str
    body: str
    created_at: datetime

    id: strawberry.ID = global_id_field("Review")

    @strawberry.field
    def author(self, root: strawberry.Parent[ProductReview], info: Info) -> SellerType:
        return UserByIdLoader(info.context).load(root.user_id)


@strawberry.type
class ReviewEdge:
    cursor: str
    node: ReviewType


@strawberry.type
class ReviewConnection:
    edges: list[ReviewEdge]
    page_info: PageInfo


@strawberry.type(name="Product")
class ProductType:
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
        return CategoryByIdLoader(info.context).load(root.category_id)

    @strawberry.field
    def seller(self, root: strawberry.Parent[Product], info: Info) -> SellerType:
        return UserByIdLoader(info.context).load(root.seller_id)

    @strawberry.field(description="Images in display order.")
    def images(self, root: strawberry.Parent[Product], info: Info) -> list[ProductImageType]:
        return ImagesByProductIdLoader(info.context).load(root.pk)

    @strawberry.field
    def rating(self, root: strawberry.Parent[Product], info: Info) -> Rating:
        return RatingByProductIdLoader(info.context).load(root.pk)

    @strawberry.field(description="Engagement metrics; created on the fly when the product has none yet.")
    def metrics(self, root: strawberry.Parent[Product], info: Info) -> ProductMetricsType:
        info.context.product_sellers[root.pk] = root.seller_id  # for totalRevenue's permission check
        return MetricsByProductIdLoader(info.context).load(root.pk)

    @strawberry.field(description="Whether the current user favorited it (false when not logged in).")
    def is_favorite(self, root: strawberry.Parent[Product], info: Info) -> bool:
        return FavoriteByProductIdLoader(info.context).load(root.pk)

    @strawberry.field(description="False once the seller deactivated it (only its seller and staff can see it then).")
    def is_active(self, root: strawberry.Parent[Product]) -> bool:
        return root.is_active

    @strawberry.field(description="Reviews, newest first.")
    async def reviews(
        self, root: strawberry.Parent[Product], info: Info, first: int | None = 10, after: str | None = None
    ) -> ReviewConnection:
        size = page_size(first, default=10)
        cursor = decode_cursor(REVIEW_ORDER, after) if after else None
        rows, has_next = await ReviewPageByProductIdLoader(info.context).load(ReviewPageKey(root.pk, size, cursor))
        edges = [ReviewEdge(cursor=encode_cursor(REVIEW_ORDER, r), node=r) for r in rows]
        return ReviewConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None),
        )


@strawberry.type
class ProductEdge:
    cursor: str
    node: ProductType


@strawberry.type
class ProductConnection:
    edges: list[ProductEdge]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Number of products matching the filter, over all pages.")
    async def total_count(self) -> int:
        return await self.count()


@strawberry.type(name="Category")
class CategoryType:
    name: str
    slug: str
    description: str

    id: strawberry.ID = global_id_field("Category")

    @strawberry.field
    async def parent(self, root: strawberry.Parent[Category], info: Info) -> CategoryType | None:
        if root.parent_id is None:
            return None
        return await CategoryByIdLoader(info.context).load(root.parent_id)

    @strawberry.field
    def children(self, root: strawberry.Parent[Category], info: Info) -> list[CategoryType]:
        return ChildrenByCategoryIdLoader(info.context).load(root.pk)

    @strawberry.field(description="Active products in this category and its descendants.")
    async def product_count(self, root: strawberry.Parent[Category], info: Info) -> int:
        from graph.resolvers.products import category_product_count

        return await category_product_count(info, root)

    @strawberry.field(description="Active products in this category and its descendants.")
    async def products(
        self,
        root: strawberry.Parent[Category],
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        filter: ProductFilter | None = None,  # noqa: A002  (the API's argument name)
        order_by: ProductOrderEnum | None = None,  # NEWEST, or RELEVANCE with a search
    ) -> ProductConnection:
        from graph.resolvers.products import category_products

        return await category_products(info, root, first=first, after=after, filter=filter, order_by=order_by)


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
