"""The metrics loader: one ``bulk_ensure_metrics`` call per batch, so a product
without a metrics row gets one during the read instead of failing it."""

from __future__ import annotations

from typing import NamedTuple

from graph.loaders.base import Loader
from tracking.metrics import MetricsHelper
from tracking.models import ProductMetrics


class SoldProduct(NamedTuple):
    """What the metrics of a product are looked up by: the product, and who sells it
    (already on the product row the caller holds, so knowing it costs no query)."""

    product_id: int
    seller_id: int


class MetricsByProductLoader(Loader):
    """Each product's ``ProductMetrics`` row, carrying ``seller_id`` the way an annotation
    would, so that ``totalRevenue`` can tell whether the viewer sells the product."""

    context_key = "metrics_by_product"

    def load_batch(self, keys: list[SoldProduct]) -> list[ProductMetrics | None]:
        metrics = MetricsHelper.bulk_ensure_metrics([key.product_id for key in keys])
        rows = []
        for key in keys:
            row = metrics.get(key.product_id)
            if row is not None:
                row.seller_id = key.seller_id
            rows.append(row)
        return rows
