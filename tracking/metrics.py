"""The guarantee that every product has exactly one ProductMetrics row.

Rows are created when a product is created through the app (see ``receivers``);
the helpers here create them lazily for products that arrived another way
(imports, raw SQL, old data), so reading or tracking never fails for lack of one.

Inserts use ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``: the SELECT side
only yields products that exist (a stale id cannot break the batch on a foreign
key), and the conflict clause makes concurrent callers safe without ever
touching an existing row's counters. Django's ``bulk_create(ignore_conflicts=True)``
cannot be used because it would insert ids that may not exist as products and
returns no rows; ``update_conflicts=True`` would reset counters.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from marketplace.models import Product
from tracking.models import ProductMetrics

logger = logging.getLogger(__name__)

METRICS_TABLE = ProductMetrics._meta.db_table
PRODUCT_TABLE = Product._meta.db_table

# Columns and zero values of a fresh row, in one place for every INSERT below.
_ZERO_COLUMNS = (
    "total_impressions, total_views, total_clicks, total_favorites, "
    "total_cart_additions, total_cart_removals, total_sales, total_revenue"
)
_ZERO_VALUES = "0, 0, 0, 0, 0, 0, 0, 0"
_ALL_COLUMNS = ", ".join(f.column for f in ProductMetrics._meta.concrete_fields)


def insert_missing_sql(where: str) -> str:
    """SQL that inserts zeroed metrics for the products matching ``where`` (alias ``p``)."""
    return (
        f"INSERT INTO {METRICS_TABLE} (product_id, {_ZERO_COLUMNS}, updated_at) "
        f"SELECT p.id, {_ZERO_VALUES}, %s FROM {PRODUCT_TABLE} p WHERE {where} "
        "ON CONFLICT (product_id) DO NOTHING"
    )


def _as_product_id(item: Product | int | str) -> int:
    if isinstance(item, Product):
        return item.pk
    return int(item)


class MetricsHelper:
    """Create-on-read access to ProductMetrics. All methods are safe under concurrency."""

    @staticmethod
    def ensure_metrics_exist(product: Product | int) -> ProductMetrics:
        """Return the product's metrics, creating the row when it is missing.

        Concurrent callers end with one row: ``get_or_create`` retries the read
        when its insert loses the race to another caller.
        """
        metrics, created = ProductMetrics.objects.get_or_create(product_id=_as_product_id(product))
        if created:
            logger.info("Created ProductMetrics for product %s", metrics.product_id)
        return metrics

    @staticmethod
    def bulk_ensure_metrics(
        products: Iterable[Product | int], batch_size: int | None = None
    ) -> dict[int, ProductMetrics]:
        """Return ``{product_id: ProductMetrics}`` for every given product that exists.

        Per batch: one SELECT for the rows that exist and, only when some are
        missing, one ``INSERT ... RETURNING`` for those: two queries, whatever the
        batch size (a third only when a concurrent caller inserted some first). Ids of products that do not exist
        are left out of the result. A failing bulk insert falls back to creating
        rows one by one; failures are logged, never raised.
        """
        batch_size = batch_size or settings.METRICS_BATCH_SIZE
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        ids = list(dict.fromkeys(_as_product_id(p) for p in products))
        result: dict[int, ProductMetrics] = {}
        created = 0
        for start in range(0, len(ids), batch_size):
            rows, batch_created = _ensure_batch(ids[start : start + batch_size])
            result.update(rows)
            created += batch_created
        if created:
            logger.info("Bulk created ProductMetrics for %d products", created)
        else:
            logger.debug("ProductMetrics present for all %d products", len(ids))
        return result


def _ensure_batch(ids: list[int]) -> tuple[dict[int, ProductMetrics], int]:
    found = {m.product_id: m for m in ProductMetrics.objects.filter(product_id__in=ids)}
    missing = [pid for pid in ids if pid not in found]
    if not missing:
        return found, 0
    try:
        inserted = _insert_missing(missing)
    except DatabaseError:
        logger.exception("Bulk insert of ProductMetrics failed; creating rows one by one")
        inserted = []
        created = _insert_one_by_one(missing)
    else:
        created = len(inserted)
    found.update((m.product_id, m) for m in inserted)
    unread = [pid for pid in missing if pid not in found]
    if unread:
        # Rows another caller inserted first (the conflict skipped ours), or products
        # that do not exist: read what is there. Rare, so it costs a query only then.
        found.update((m.product_id, m) for m in ProductMetrics.objects.filter(product_id__in=unread))
    return found, created


def _insert_missing(missing: list[int]) -> list[ProductMetrics]:
    """Insert zeroed rows for the products in ``missing`` that exist and have none;
    return the rows inserted (``RETURNING``, so no second read is needed)."""
    placeholders = ", ".join(["%s"] * len(missing))
    sql = insert_missing_sql(f"p.id IN ({placeholders})") + f" RETURNING {_ALL_COLUMNS}"
    params = [timezone.now(), *missing]
    # Inside a caller's transaction, a savepoint keeps a failed insert from
    # poisoning it (PostgreSQL aborts the whole transaction otherwise).
    if connection.in_atomic_block:
        with transaction.atomic():
            return list(ProductMetrics.objects.raw(sql, params))
    return list(ProductMetrics.objects.raw(sql, params))


def _insert_one_by_one(missing: list[int]) -> int:
    created = 0
    existing_products = set(Product.objects.filter(id__in=missing).values_list("id", flat=True))
    for product_id in missing:
        if product_id not in existing_products:
            continue
        try:
            with transaction.atomic():
                _, was_created = ProductMetrics.objects.get_or_create(product_id=product_id)
            created += int(was_created)
        except DatabaseError:
            logger.exception("Could not create ProductMetrics for product %s", product_id)
    return created


# Module-level aliases for callers that prefer functions.
ensure_metrics_exist = MetricsHelper.ensure_metrics_exist
bulk_ensure_metrics = MetricsHelper.bulk_ensure_metrics
