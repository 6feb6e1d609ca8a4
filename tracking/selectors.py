"""Read-side helpers for tracking: engagement orderings and tracking targets."""

from __future__ import annotations

import time
from collections.abc import Iterable

from django.conf import settings
from django.db.models import F, QuerySet

from marketplace.models import Product


def with_metric(qs: QuerySet[Product], field: str, alias: str) -> QuerySet[Product]:
    """Annotate a metrics counter through an INNER join, so that a listing ordered by it
    walks the metrics index in order and stops after a page (a LEFT JOIN with
    ``COALESCE(x, 0)`` sorted every active product). Every product has its row: created
    with the product, backfilled by migration and ``create_missing_metrics`` for imports;
    ``reconcile_metrics`` reports products without one."""
    return qs.filter(metrics__isnull=False).annotate(
        **{alias: F(f"metrics__{field}"), "sort_product_id": F("metrics__product_id")}
    )


# product id -> monotonic time until which it is known to be active. A tracking
# request then needs no query at all for a product seen in the last few seconds:
# measured, the check's hop to a database thread was most of what trackProductView
# cost beyond `{ __typename }`. A product deactivated through the app leaves this
# process's cache at once (tracking.receivers); other processes, and raw SQL
# updates, notice within TRACKING_ACTIVE_CACHE_SECONDS.
_active_until: dict[int, float] = {}
_MAX_CACHED = 200_000


async def trackable_product_ids(product_ids: Iterable[int]) -> set[int]:
    """The given ids that belong to active products: only those may be tracked.
    At most one query, for the ids not confirmed active in the last few seconds."""
    ids = list(product_ids)
    now = time.monotonic()
    known = {pid for pid in ids if _active_until.get(pid, 0.0) > now}
    missing = [pid for pid in ids if pid not in known]
    if missing:
        active = Product.objects.filter(id__in=missing, is_active=True).values_list("id", flat=True)
        found = {pid async for pid in active}
        ttl = settings.TRACKING_ACTIVE_CACHE_SECONDS
        if ttl > 0:
            if len(_active_until) > _MAX_CACHED:
                _active_until.clear()
            for pid in found:
                _active_until[pid] = now + ttl
        known |= found
    return known


def forget_active(product_id: int) -> None:
    """Drop a product from the cache of active ids (it changed or was deleted)."""
    _active_until.pop(product_id, None)
