"""Backfill of ProductMetrics rows for products that have none, for any number of products.

The work is cut into batches along the product id, walked in keyset order
(``p.id > last_seen``), so memory stays flat whatever the catalogue size: no list
of ids is ever held, only the boundary of the current batch. Each statement runs
in autocommit, so each batch is its own short transaction: the API keeps writing
while the backfill runs, and an interrupted run loses at most one batch of work.

Running it twice, or beside the API's own create-on-read, is safe: ``ON CONFLICT
DO NOTHING`` skips every product that has a row, including one another writer
commits while the batch runs. Existing counters are never touched.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, OperationalError, connection
from django.utils import timezone

from tracking.metrics import METRICS_TABLE, PRODUCT_TABLE, insert_missing_sql

logger = logging.getLogger(__name__)

# A batch fails when a product is deleted while its row is being inserted (foreign
# key) or when a lock wait gives up; a fresh attempt sees the new state.
BATCH_ATTEMPTS = 3


@dataclass(frozen=True)
class Coverage:
    """How many products have their metrics row, out of all products."""

    covered: int
    total: int

    @property
    def missing(self) -> int:
        return max(self.total - self.covered, 0)

    @property
    def complete(self) -> bool:
        return self.missing == 0

    @property
    def percent(self) -> float:
        """Rounded down to one decimal, so that an incomplete coverage never reads 100.0%."""
        if not self.total:
            return 100.0
        return math.floor(self.covered * 1000 / self.total) / 10

    def __str__(self) -> str:
        return f"Coverage: {self.covered:,}/{self.total:,} ({self.percent:.1f}%)"


@dataclass(frozen=True)
class Batch:
    """What one batch did: products it looked at, rows it created."""

    checked: int
    created: int


def measure_coverage() -> Coverage:
    """Count products and metrics rows in one statement, so both numbers come from one snapshot.

    Every metrics row belongs to an existing product (the foreign key and
    ``ON DELETE CASCADE`` guarantee it), so counting the rows counts covered products.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT (SELECT COUNT(*) FROM {METRICS_TABLE}), (SELECT COUNT(*) FROM {PRODUCT_TABLE})")
        covered, total = cursor.fetchone()
    return Coverage(covered=min(covered, total), total=total)


def backfill_missing_metrics(*, batch_size: int, on_batch: Callable[[Batch], None] | None = None) -> int:
    """Create the missing metrics rows, ``batch_size`` products at a time; return how many were created.

    ``on_batch`` is called after each batch (progress reporting). Must run outside
    a transaction for the batches to be short: inside one, every row it inserts
    stays locked until the caller commits.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    created = 0
    last_id = 0
    while (bounds := _next_batch(after=last_id, size=batch_size)) is not None:
        upper, checked = bounds
        batch = Batch(checked=checked, created=_insert_batch(after=last_id, upto=upper))
        created += batch.created
        last_id = upper
        if on_batch is not None:
            on_batch(batch)
    return created


def _next_batch(*, after: int, size: int) -> tuple[int, int] | None:
    """The last id and the count of the next ``size`` products after ``after``; None past the end.

    A walk over the product primary key alone, so each step costs ``size`` index
    entries, wherever it is in the table.
    """
    sql = (
        f"SELECT MAX(batch.id), COUNT(*) FROM "
        f"(SELECT p.id FROM {PRODUCT_TABLE} p WHERE p.id > %s ORDER BY p.id LIMIT %s) batch"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [after, size])
        upper, checked = cursor.fetchone()
    return None if upper is None else (upper, checked)


def _insert_batch(*, after: int, upto: int) -> int:
    """Insert the missing rows for products in ``(after, upto]``; return how many were inserted.

    Products that have a row are skipped by ``ON CONFLICT DO NOTHING`` alone, not
    by a ``NOT EXISTS`` test: measured on 1M products, a ``NOT EXISTS`` made SQLite
    copy the SELECT into a temporary table first (it reads the table being
    inserted into), 1.5x slower, and a batch bound chosen by an anti-join made
    PostgreSQL merge-join from the start of the metrics index on every batch,
    quadratic. A conflicting product costs one index probe either way.
    """
    sql = insert_missing_sql("p.id > %s AND p.id <= %s")
    for attempt in range(1, BATCH_ATTEMPTS + 1):
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, [timezone.now(), after, upto])
                return max(cursor.rowcount, 0)
        except (IntegrityError, OperationalError) as exc:
            if attempt == BATCH_ATTEMPTS or connection.in_atomic_block:
                raise
            logger.warning("Backfill batch (%s, %s] failed (%s); trying again", after, upto, exc)
    raise AssertionError("unreachable")
