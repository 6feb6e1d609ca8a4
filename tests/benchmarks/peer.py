"""The peer: the same listing as a strawberry-django user would write it.

Stock ``strawberry_django.type`` declarations over the models, a
``DjangoListConnection`` (relay, with ``totalCount``) and ``DjangoOptimizerExtension``
turning the selection into ``only()`` / ``select_related()`` / ``prefetch_related()``;
no dataloaders. Type names match the product schema's, so the documents it returns
(ids included) compare field by field with ``/graphql/``'s; only cursors differ
(strawberry-django's are offsets).

The rating is a custom field with a ``prefetch_related=`` hint (the page's reviews in
one query, averaged in Python); the rates are the model's properties with ``only=``
hints.
Mounted at ``/bench/peer-graphql/`` by ``tests.benchmarks.urls``; not product code.
"""

from __future__ import annotations

from enum import Enum

import strawberry
import strawberry_django
from django.contrib.auth import get_user_model
from django.db.models import F, Prefetch, QuerySet, Value
from django.db.models.functions import Coalesce
from strawberry import relay
from strawberry_django.optimizer import DjangoOptimizerExtension
from strawberry_django.relay import DjangoListConnection

from marketplace.models import Category, Product, ProductImage, ProductReview
from tracking.models import ProductMetrics

User = get_user_model()


@strawberry_django.type(Category, name="Category")
class PeerCategory:
    name: strawberry.auto
    slug: strawberry.auto
    parent: PeerCategory | None


@strawberry_django.type(User, name="Seller")
class PeerSeller:
    @strawberry_django.field(only=["first_name", "last_name", "username"])
    def display_name(self, root: strawberry.Parent[User]) -> str:
        return root.get_full_name() or root.username


@strawberry_django.type(ProductImage, name="ProductImage")
class PeerImage:
    url: strawberry.auto
    alt_text: strawberry.auto


@strawberry_django.type(ProductMetrics, name="ProductMetrics")
class PeerMetrics:
    total_views: int
    total_clicks: int
    total_sales: int
    click_through_rate: float = strawberry_django.field(only=["total_clicks", "total_impressions"])
    conversion_rate: float = strawberry_django.field(only=["total_sales", "total_views"])


@strawberry.type(name="Rating")
class PeerRating:
    average: float | None
    count: int


@strawberry_django.type(Product, name="Product")
class PeerProduct(relay.Node):
    name: strawberry.auto
    slug: strawberry.auto
    price: strawberry.auto
    in_stock: bool = strawberry_django.field(only=["stock"])
    category: PeerCategory
    seller: PeerSeller
    images: list[PeerImage]
    metrics: PeerMetrics | None

    @strawberry_django.field(
        prefetch_related=[Prefetch("reviews", queryset=ProductReview.objects.only("id", "product_id", "rating"))]
    )
    def rating(self, root: strawberry.Parent[Product]) -> PeerRating:
        ratings = [review.rating for review in root.reviews.all()]
        return PeerRating(average=sum(ratings) / len(ratings) if ratings else None, count=len(ratings))


@strawberry.enum(name="ProductOrder")
class PeerProductOrder(Enum):
    MOST_VIEWED = "MOST_VIEWED"


@strawberry.type(name="Query")
class PeerQuery:
    @strawberry_django.connection(DjangoListConnection[PeerProduct], max_results=100)
    def products(self, order_by: PeerProductOrder = PeerProductOrder.MOST_VIEWED) -> QuerySet[Product]:
        return (
            Product.objects.filter(is_active=True)
            .annotate(sort_views=Coalesce(F("metrics__total_views"), Value(0)))
            .order_by("-sort_views", "-id")
        )


schema = strawberry.Schema(query=PeerQuery, extensions=[DjangoOptimizerExtension])
