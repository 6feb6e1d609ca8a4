"""The ProductMetrics type: counters from the row, rates from the model's properties."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry.types import Info

from graph.permissions import can_see_revenue
from graph.resolvers.history import DEFAULT_GRANULARITY, DEFAULT_LAST, product_history
from graph.types.history import MetricsBucketType, MetricsGranularityEnum
from tracking.models import ProductMetrics


@strawberry.type(name="ProductMetrics", description="Engagement totals of one product, and rates derived from them.")
class ProductMetricsType:
    total_impressions: int = strawberry.field(description="Appearances in listings.")
    total_views: int
    total_clicks: int
    total_favorites: int = strawberry.field(description="Current number of users who favorited the product.")
    total_cart_additions: int = strawberry.field(
        description="Units put in carts: an addition of 3 counts 3; raising a line's quantity counts the "
        "difference. Merging an anonymous cart at login counts nothing again."
    )
    total_cart_removals: int = strawberry.field(
        description="Units taken out of carts: lowering a line's quantity counts the difference, removing a "
        "line (or setting it to 0) counts its units. Units bought at checkout are sales, not removals."
    )
    total_sales: int = strawberry.field(description="Units sold.")
    updated_at: datetime

    @strawberry.field(description="Revenue from sales. Visible to the product's seller and staff; null for others.")
    def total_revenue(self, root: strawberry.Parent[ProductMetrics], info: Info) -> Decimal | None:
        # seller_id: see MetricsByProductLoader
        return root.total_revenue if can_see_revenue(info.context.user, root.seller_id) else None

    @strawberry.field(
        description="The last `last` periods ending with the current one, oldest first, zero-filled. `last` is "
        "1 to 744 for HOUR (31 days), 1 to 366 for DAY, 1 to 104 for WEEK."
    )
    def history(
        self,
        root: strawberry.Parent[ProductMetrics],
        info: Info,
        granularity: MetricsGranularityEnum | None = DEFAULT_GRANULARITY,
        last: int | None = DEFAULT_LAST,
    ) -> list[MetricsBucketType]:
        return product_history(info, root, granularity or DEFAULT_GRANULARITY, DEFAULT_LAST if last is None else last)

    @strawberry.field(description="Clicks per impression; 0 without impressions.")
    def click_through_rate(self, root: strawberry.Parent[ProductMetrics]) -> float:
        return root.click_through_rate

    @strawberry.field(description="Units put in carts per view (totalCartAdditions / totalViews); 0 without views.")
    def cart_addition_rate(self, root: strawberry.Parent[ProductMetrics]) -> float:
        return root.cart_addition_rate

    @strawberry.field(description="Units sold per view; 0 without views.")
    def conversion_rate(self, root: strawberry.Parent[ProductMetrics]) -> float:
        return root.conversion_rate

    @strawberry.field(description="Favorites per view; 0 without views.")
    def favorite_rate(self, root: strawberry.Parent[ProductMetrics]) -> float:
        return root.favorite_rate
