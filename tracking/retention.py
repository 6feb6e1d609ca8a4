"""Pruning: raw activity rows after ``--older-than`` days, hourly buckets and viewer rows after
``METRICS_HOURLY_RETENTION_DAYS``; daily buckets are kept forever.

Every delete is a batch in its own short transaction, so pruning never holds a long lock:
activity and hourly buckets by primary-key ranges (``id >= a AND id < b AND <older>``: an index
range scan each), viewer rows (no single-column key) by ``LIMIT``-ed batches of the physical row
id. Late events make ``created_at`` only roughly follow ``id``, so the range walk runs up to the
highest id of an old row, found once.

Viewer rows (``BucketViewer``) only serve to tell whether a visitor is new to a period that can
still receive events. Hour rows follow the hourly retention, and so do day rows: a day that
started before the cutoff is long over, its ``unique_viewers`` are final, and a late event for it
is older than any queue or redelivery window (days).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from tracking.models import ActivityEvent, ActivityRetention, BucketViewer, HourlyMetrics

Progress = Callable[[str, int, int], None]  # (what, deleted in this batch, deleted so far)


def activity_cutoff(days: int) -> datetime:
    return timezone.now() - timedelta(days=days)


def hourly_cutoff() -> datetime:
    """Hourly buckets (and viewer rows) of periods starting before this are pruned."""
    return timezone.now() - timedelta(days=settings.METRICS_HOURLY_RETENTION_DAYS)


def pruned_before() -> datetime | None:
    """Activity older than this may be gone (None: never pruned)."""
    return ActivityRetention.objects.filter(pk=1).values_list("pruned_before", flat=True).first()


def old_activity_exists(cutoff: datetime) -> bool:
    return ActivityEvent.objects.filter(created_at__lt=cutoff).exists()


def count_old(cutoff: datetime) -> dict[str, int]:
    """What a prune with these cutoffs would delete (for ``--dry-run``)."""
    bucket_cutoff = hourly_cutoff()
    return {
        "activity rows": ActivityEvent.objects.filter(created_at__lt=cutoff).count(),
        "hourly buckets": HourlyMetrics.objects.filter(start__lt=bucket_cutoff).count(),
        "viewer rows": BucketViewer.objects.filter(start__lt=int(bucket_cutoff.timestamp())).count(),
    }


def prune_activity(cutoff: datetime, *, batch_size: int, progress: Progress | None = None) -> int:
    """Delete activity rows created before ``cutoff``; return how many. The retention mark moves
    first, so that a prune stopped half-way still tells rebuilds and checks what may be gone."""
    _mark_pruned(cutoff)
    old = ActivityEvent.objects.filter(created_at__lt=cutoff)
    return _delete_by_id_ranges(ActivityEvent, old, "activity rows", batch_size, progress)


def prune_hourly(*, batch_size: int, progress: Progress | None = None) -> tuple[int, int]:
    """Delete hourly buckets and viewer rows older than the hourly retention; return both counts."""
    cutoff = hourly_cutoff()
    old = HourlyMetrics.objects.filter(start__lt=cutoff)
    hourly = _delete_by_id_ranges(HourlyMetrics, old, "hourly buckets", batch_size, progress)
    viewers = _delete_viewers_before(int(cutoff.timestamp()), batch_size, progress)
    return hourly, viewers


def _mark_pruned(cutoff: datetime) -> None:
    with transaction.atomic():
        mark = ActivityRetention.objects.select_for_update().filter(pk=1).first()
        if mark is None:
            ActivityRetention.objects.create(pk=1, pruned_before=cutoff)
        elif mark.pruned_before < cutoff:
            mark.pruned_before = cutoff
            mark.save(update_fields=["pruned_before"])


def _delete_by_id_ranges(model, old, what: str, batch_size: int, progress: Progress | None) -> int:
    bounds = old.aggregate(low=Min("id"), high=Max("id"))
    if bounds["high"] is None:
        return 0
    deleted = 0
    for low in range(bounds["low"], bounds["high"] + 1, batch_size):
        with transaction.atomic():
            count, _ = old.filter(id__gte=low, id__lt=low + batch_size).delete()  # one DELETE: nothing cascades
        deleted += count
        if progress is not None and count:
            progress(what, count, deleted)
    return deleted


def _delete_viewers_before(start: int, batch_size: int, progress: Progress | None) -> int:
    table = connection.ops.quote_name(BucketViewer._meta.db_table)
    column = connection.ops.quote_name("start")
    if connection.vendor == "postgresql":
        sql = f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {column} < %s LIMIT %s))"
    else:
        sql = f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {column} < %s LIMIT %s)"
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [start, batch_size])
            count = cursor.rowcount
        deleted += count
        if progress is not None and count:
            progress("viewer rows", count, deleted)
        if count < batch_size:
            return deleted
