"""Read-side helpers for tracking: engagement orderings and tracking targets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.db.models import F, QuerySet

from marketplace.models import Product
from tracking.outage import close_connection, is_outage


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
# updates, notice within TRACKING_ACTIVE_CACHE_SECONDS. Expired entries stay (until
# the cache is cleared when full): during a database outage they are the last word.
_active_until: dict[int, float] = {}
_MAX_CACHED = 200_000
# During a database outage a product confirmed active this recently is still taken as
# active: long enough to ride out a restart or a failover, short enough that a product
# deactivated elsewhere (another process, raw SQL) meanwhile collects little.
OUTAGE_GRACE_SECONDS = 15 * 60
# How long the check may wait for the database before it is taken as away. With a
# connection pool an unreachable server does not fail fast: a request waits up to
# DB_POOL_TIMEOUT for a connection that never comes, and tracking must keep answering.
ACTIVE_CHECK_TIMEOUT = 2.0
# Once the database was found away, checks answer from memory for this long before one
# tries it again, so that an outage costs one slow check per second, not one per request.
OUTAGE_RECHECK_SECONDS = 1.0
_database_away_until = 0.0


class ActivityUnknown(Exception):
    """The database is away, and some of the products were not seen active recently."""


async def trackable_product_ids(product_ids: Iterable[int]) -> set[int]:
    """The given ids that belong to active products: only those may be tracked.
    At most one query, for the ids not confirmed active in the last few seconds.

    When the database is away, tracking keeps answering (its events wait in the queue
    until the database is back), so the check does not fail: a product this process
    confirmed active within ``OUTAGE_GRACE_SECONDS`` is taken as still active ("fail
    static", as a DNS resolver serves a stale answer while its upstream is down), and
    for any other id ``ActivityUnknown`` is raised, so that the caller refuses the event
    with a reason instead of either counting a product nobody can vouch for (an unknown
    or deactivated id would be counted once the database is back) or failing the request."""
    ids = list(product_ids)
    now = time.monotonic()
    known = {pid for pid in ids if _active_until.get(pid, 0.0) > now}
    missing = [pid for pid in ids if pid not in known]
    if missing:
        global _database_away_until
        if now < _database_away_until:
            return _seen_active_recently(ids, now)
        try:
            found = await asyncio.wait_for(_active_ids(missing), ACTIVE_CHECK_TIMEOUT)
        except (TimeoutError, DatabaseError) as exc:
            if isinstance(exc, DatabaseError) and not is_outage(exc):
                raise
            _database_away_until = time.monotonic() + OUTAGE_RECHECK_SECONDS
            return _seen_active_recently(ids, now)
        ttl = settings.TRACKING_ACTIVE_CACHE_SECONDS
        if ttl > 0:
            if len(_active_until) > _MAX_CACHED:
                _active_until.clear()
            for pid in found:
                _active_until[pid] = now + ttl
        known |= found
    return known


async def _active_ids(ids: list[int]) -> set[int]:
    # In a thread of its own, not the request's: a check that outlives its timeout (a pool
    # waiting for a server that is gone) must not hold the request, whose end waits for
    # its own thread.
    return await sync_to_async(_active_ids_now, thread_sensitive=False)(ids)


def _active_ids_now(ids: list[int]) -> set[int]:
    try:
        return set(Product.objects.filter(id__in=ids, is_active=True).values_list("id", flat=True))
    finally:
        close_connection()  # back to the pool (this thread serves no request that would close it)


def _seen_active_recently(ids: list[int], now: float) -> set[int]:
    ttl = settings.TRACKING_ACTIVE_CACHE_SECONDS
    recent = {pid for pid in ids if _active_until.get(pid, float("-inf")) - ttl + OUTAGE_GRACE_SECONDS > now}
    if len(recent) < len(set(ids)):
        raise ActivityUnknown(f"{len(set(ids)) - len(recent)} of the products were not seen active recently")
    return recent


def forget_active(product_id: int) -> None:
    """Drop a product from the cache of active ids (it changed or was deleted)."""
    _active_until.pop(product_id, None)
