"""What a live-metrics subscription pushes (graph.subscriptions)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph.types.catalogue import ProductType
from graph.types.product_metrics import ProductMetricsType


@strawberry.type(description="New totals of one product, pushed after a batch of events that touched it committed.")
class ProductMetricsUpdate:
    product: ProductType = strawberry.field(description="The product, as it was when the subscription started.")
    metrics: ProductMetricsType = strawberry.field(description="Its totals right after the batch.")
    applied_at: datetime = strawberry.field(description="When the newest batch that changed these totals committed.")
