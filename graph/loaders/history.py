"""The history loader: every product's series of one request in one query per
(granularity, last, columns), so a listing with ``metrics { history(last: 14) }`` on each
item costs one query more than without, whatever its length. A key names the bucket
columns its selection reads: a sparkline of views reads 3 columns of a row, not 12 (the
others come back as constant zeros, so every row has the shape of a bucket)."""

from __future__ import annotations

from typing import NamedTuple

from graph.loaders.base import Loader
from graph.permissions import can_see_revenue
from tracking import history
from tracking.history import Bucket, Granularity


class HistoryKey(NamedTuple):
    """A product's series as asked, and who sells the product (already on the metrics row
    the caller holds): its revenue is read for that seller and staff only."""

    product_id: int
    seller_id: int
    granularity: Granularity
    last: int
    columns: tuple[str, ...] = history.COLUMNS  # what the selection reads (tracking.history.COLUMNS)


class HistoryByProductIdLoader(Loader):
    context_key = "history_by_product_id"

    def load_batch(self, keys: list[HistoryKey]) -> list[list[Bucket]]:
        now = history.clock()  # one "now" for the whole batch: every series ends in the same period
        user = self.context.user
        revenue_of = {key.product_id for key in keys if can_see_revenue(user, key.seller_id)}
        groups: dict[tuple[Granularity, int, tuple[str, ...]], set[int]] = {}
        for key in keys:
            groups.setdefault((key.granularity, key.last, key.columns), set()).add(key.product_id)
        series = {
            (granularity, last, columns, product_id): buckets
            for (granularity, last, columns), product_ids in groups.items()
            for product_id, buckets in history.product_histories(
                product_ids=sorted(product_ids),
                granularity=granularity,
                last=last,
                now=now,
                revenue_of=revenue_of,
                columns=columns,
            ).items()
        }
        return [series[(key.granularity, key.last, key.columns, key.product_id)] for key in keys]
