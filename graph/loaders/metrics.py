"""The metrics loader: one ``bulk_ensure_metrics`` call per batch, so a product
without a metrics row gets one during the read instead of failing it."""

from __future__ import annotations

from graph.loaders.base import Loader
from tracking.metrics import MetricsHelper
from tracking.models import ProductMetrics


class MetricsByProductIdLoader(Loader):
    context_key = "metrics_by_product_id"

    def load_batch(self, keys: list[int]) -> list[ProductMetrics | None]:
        metrics = MetricsHelper.bulk_ensure_metrics(keys)
        return [metrics.get(key) for key in keys]
