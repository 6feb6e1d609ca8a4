"""Buckets recomputed from the activity rows that remain: the rebuild and the reconciliation.

The unit of work is a *range*: one day (in ``METRICS_TIME_ZONE``) of a chunk of products, with
the hourly buckets whose start lies in ``[hour of the day's start, hour of the next day's
start)``. Ranges tile time without overlap, also in half-hour zones where an hour straddles
midnight. ``recompute`` runs the same ``tracking.buckets.bucket_deltas`` as a live batch, so a
rebuilt bucket is what the batches would have written.

Concurrency (``rebuild_range``): one short transaction per range locks the chunk's metrics rows
(``SELECT ... FOR UPDATE``, ascending), deletes the range's buckets and viewer rows, reads the
activity and writes the result. A tracking batch locks the same metrics rows (its counter
upsert) before it writes buckets, so a batch that committed first is in the rows we read, and
one that comes later waits and then adds its events on top of the rebuilt rows: no event is
lost or counted twice, and batches of other products never wait. On SQLite the transaction's
write lock (``BEGIN IMMEDIATE``) serialises writers anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from marketplace.models import Product
from tracking.buckets import (
    DAILY,
    HOURLY,
    BucketDeltas,
    bucket_deltas,
    count_viewers,
    day_start,
    hour_start,
    next_day_start,
    write_deltas,
)
from tracking.events import TrackingEvent
from tracking.metrics import MetricsHelper
from tracking.models import BUCKET_COUNTERS, ActivityEvent, BucketViewer, DailyMetrics, HourlyMetrics, ProductMetrics
from tracking.retention import hourly_cutoff, pruned_before

ACTIVITY_COLUMNS = ("kind", "product_id", "user_id", "visitor_key", "quantity", "amount", "created_at")


class UnsafeRebuild(Exception):
    """Rebuilding from this point would replace buckets with counts of pruned activity."""


def earliest_rebuildable_day() -> datetime | None:
    """The first day whose activity is complete: the day after the prune mark (or the mark's
    own day when the mark is a midnight); None when nothing was ever pruned."""
    mark = pruned_before()
    if mark is None:
        return None
    first = day_start(mark)
    return first if first == mark else next_day_start(first)


def days(since: datetime, until: datetime) -> Iterator[datetime]:
    """Day starts from the day holding ``since`` to the day holding ``until``."""
    day = day_start(since)
    while day <= until:
        yield day
        day = next_day_start(day)


def product_chunks(size: int, product_ids: list[int] | None = None) -> list[list[int]]:
    ids = product_ids if product_ids is not None else list(Product.objects.order_by("pk").values_list("pk", flat=True))
    ids = sorted(ids)
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def hour_range(day: datetime) -> tuple[datetime, datetime]:
    """The hourly buckets that belong to the range of ``day``: ``[start, end)``, never below the
    hourly retention (a rebuild must not resurrect pruned hours)."""
    retained = hourly_cutoff()
    first_retained = retained if hour_start(retained) == retained else hour_start(retained) + timedelta(hours=1)
    return max(hour_start(day), first_retained), hour_start(next_day_start(day))


def recompute(product_ids: list[int], day: datetime) -> BucketDeltas:
    """The buckets of ``day``'s range for these products, from the activity rows, unique
    viewers counted (every visitor of the range is new to it)."""
    end = next_day_start(day)
    hours_from, hours_to = hour_range(day)
    low, high = int(hours_from.timestamp()), int(hours_to.timestamp())
    rows = (
        ActivityEvent.objects.filter(product_id__in=product_ids, created_at__gte=hour_start(day), created_at__lt=end)
        .values_list(*ACTIVITY_COLUMNS)
        .iterator(chunk_size=5000)
    )
    events = (
        TrackingEvent(kind, pid, user_id=user, visitor_key=key, quantity=qty, amount=amount, created_at=created)
        for kind, pid, user, key, qty, amount, created in rows
    )
    computed = bucket_deltas(events)
    today = int(day.timestamp())
    kept = BucketDeltas(
        hourly={k: v for k, v in computed.hourly.items() if low <= k[1] < high},
        daily={k: v for k, v in computed.daily.items() if k[1] == today},
        viewers={
            v for v in computed.viewers if (v[1] == HOURLY and low <= v[2] < high) or (v[1] == DAILY and v[2] == today)
        },
    )
    count_viewers(kept, kept.viewers)
    return kept


def rebuild_range(product_ids: list[int], day: datetime) -> int:
    """Replace the buckets of ``day``'s range for these products; return how many were written."""
    hours_from, hours_to = hour_range(day)
    with transaction.atomic():
        list(
            ProductMetrics.objects.select_for_update()
            .filter(product_id__in=product_ids)
            .order_by("product_id")
            .values_list("product_id", flat=True)
        )
        HourlyMetrics.objects.filter(product_id__in=product_ids, start__gte=hours_from, start__lt=hours_to).delete()
        DailyMetrics.objects.filter(product_id__in=product_ids, start=day).delete()
        _delete_viewers(product_ids, day, hours_from, hours_to)
        deltas = recompute(product_ids, day)
        write_deltas(deltas, counted=True, keep_viewers_from=int(hourly_cutoff().timestamp()))
    return len(deltas.hourly) + len(deltas.daily)


def _delete_viewers(product_ids: list[int], day: datetime, hours_from: datetime, hours_to: datetime) -> None:
    viewers = BucketViewer.objects.filter(product_id__in=product_ids)
    viewers.filter(period=DAILY, start=int(day.timestamp())).delete()
    viewers.filter(period=HOURLY, start__gte=int(hours_from.timestamp()), start__lt=int(hours_to.timestamp())).delete()


def rebuild(
    since: datetime,
    *,
    batch_size: int = 1000,
    force: bool = False,
    product_ids: list[int] | None = None,
    progress: Callable[[datetime, int, int], None] | None = None,
) -> int:
    """Rebuild hourly and daily buckets (unique viewers included) from the day holding ``since``
    to today, one range per transaction; return how many buckets were written. Refuses
    (``UnsafeRebuild``) to start before the first day whose activity is complete, unless forced."""
    first = earliest_rebuildable_day()
    if first is not None and day_start(since) < first and not force:
        raise UnsafeRebuild(
            f"activity before {first.astimezone(UTC):%Y-%m-%d %H:%M} UTC was pruned: rebuilding from "
            f"{day_start(since).astimezone(UTC):%Y-%m-%d %H:%M} UTC would undercount those days. "
            f"Pass a later --since, or --force to rebuild anyway."
        )
    chunks = product_chunks(batch_size, product_ids)
    for chunk in chunks:  # a product without a metrics row has nothing a batch would lock
        MetricsHelper.bulk_ensure_metrics(chunk)
    written = 0
    for day in days(since, timezone.now()):
        for chunk in chunks:
            written += rebuild_range(chunk, day)
        if progress is not None:
            progress(day, len(chunks), written)
    return written


def stored(product_ids: list[int], day: datetime) -> BucketDeltas:
    """The stored buckets of ``day``'s range, in ``recompute``'s shape (viewers left empty)."""
    hours_from, hours_to = hour_range(day)
    out = BucketDeltas()
    for model, target, rows in (
        (HourlyMetrics, out.hourly, {"start__gte": hours_from, "start__lt": hours_to}),
        (DailyMetrics, out.daily, {"start": day}),
    ):
        for row in model.objects.filter(product_id__in=product_ids, **rows).values_list(
            "product_id", "start", *BUCKET_COUNTERS
        ):
            target[(row[0], int(row[1].timestamp()))] = list(row[2:])
    return out


__all__ = ["UnsafeRebuild", "days", "earliest_rebuildable_day", "rebuild", "rebuild_range", "recompute", "stored"]
