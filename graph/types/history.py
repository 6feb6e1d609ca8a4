"""Metrics over time: the granularity enum and one bucket of a series.

The objects behind ``MetricsBucket`` are ``tracking.history.Bucket``s, every field read
straight from them: a listing of 50 series of 14 buckets is 700 objects, and a resolver
call per field of each would show in the listing's time.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from tracking.history import Granularity, Ranking

MetricsGranularityEnum = strawberry.enum(
    Granularity,
    name="MetricsGranularity",
    description=(
        "The period of a metrics series. HOUR: UTC hours (kept for the server's hourly retention, "
        "90 days by default). DAY: days from midnight in the server's metrics time zone (METRICS_TIME_ZONE, "
        "UTC unless configured). WEEK: ISO weeks, Monday to Sunday in that time zone, the sum of their days."
    ),
)

MetricsRankingEnum = strawberry.enum(
    Ranking,
    name="MetricsRanking",
    description="What topProducts ranks by over the window. CONVERSION: sales per view (0 without views).",
)


@strawberry.type(
    name="MetricsBucket",
    description="What happened to a product (or to a seller's products, summed) in one period, from `start` "
    "up to the next period's start. Periods with nothing recorded read as zeros.",
)
class MetricsBucketType:
    start: datetime = strawberry.field(description="The first instant of the period.")
    impressions: int = strawberry.field(description="Appearances in listings.")
    views: int
    clicks: int
    favorites_added: int
    favorites_removed: int
    cart_additions: int = strawberry.field(description="Units added to carts.")
    cart_removals: int = strawberry.field(description="Units removed from carts.")
    sales: int = strawberry.field(description="Units sold.")
    unique_viewers: int | None = strawberry.field(
        description="Distinct visitors who viewed the product in the period, for one product's HOUR and DAY "
        "buckets. Null where it cannot be known from what is stored: a WEEK (a visitor seen on two days is one "
        "visitor, and only each day's count is kept), and in sellerAnalytics (a visitor of two products is one "
        "visitor) and its totals. Never a sum of distinct counts."
    )
    # Left out by the reader for anyone but the seller and staff (HistoryByProductIdLoader),
    # so that it is a plain attribute here: no resolver call per bucket.
    revenue: Decimal | None = strawberry.field(
        description="Revenue from sales. Visible to the product's seller and staff; null for others."
    )
