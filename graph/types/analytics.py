"""A seller's dashboard: their products' metrics over a window, and the products that led it."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph.resolvers.history import SellerWindow
from graph.types.catalogue import ProductType
from graph.types.history import MetricsBucketType, MetricsGranularityEnum, MetricsRankingEnum
from tracking.history import RankedProduct, Ranking


@strawberry.type(name="ProductAnalytics", description="One of the seller's products over the analytics window.")
class ProductAnalyticsType:
    product: ProductType
    totals: MetricsBucketType = strawberry.field(description="The product's counters summed over the window.")

    @strawberry.field(description="Units sold per view over the window; 0 without views.")
    def conversion_rate(self, root: strawberry.Parent[RankedProduct]) -> float:
        return root.totals.conversion_rate


@strawberry.type(
    name="SellerAnalytics",
    description="The logged-in seller's products (active or not) over a window. Buckets are whole periods: "
    "the window covers every period that ends after `from` and starts before `to`.",
)
class SellerAnalyticsType:
    @strawberry.field(description="The start of the first period of the window.")
    def start(self, root: strawberry.Parent[SellerWindow]) -> datetime:
        return root.first_period

    @strawberry.field(description="The end of the window as asked (`to`).")
    def end(self, root: strawberry.Parent[SellerWindow]) -> datetime:
        return root.end

    @strawberry.field
    def granularity(self, root: strawberry.Parent[SellerWindow]) -> MetricsGranularityEnum:
        return root.granularity

    @strawberry.field(description="Every period of the window, oldest first, summed over the products; zero-filled.")
    async def series(self, root: strawberry.Parent[SellerWindow]) -> list[MetricsBucketType]:
        return await root.series()

    @strawberry.field(description="The series summed over the window.")
    async def totals(self, root: strawberry.Parent[SellerWindow]) -> MetricsBucketType:
        return await root.totals()

    @strawberry.field(
        description="The products with the highest `by` over the window (1 to 100, 10 by default), ties broken "
        "by product id ascending. Products with nothing recorded in the window are left out."
    )
    async def top_products(
        self,
        root: strawberry.Parent[SellerWindow],
        by: MetricsRankingEnum | None = Ranking.VIEWS,
        first: int | None = 10,
    ) -> list[ProductAnalyticsType]:
        return await root.top_products(by=by or Ranking.VIEWS, first=10 if first is None else first)
