"""TRENDING: a time-decayed engagement score, kept in forward-decay form.

The score a product has at instant ``now`` is ``sum(weight(e) * 2 ** -((now - e.time) / H))``
over its events, ``H`` being ``TRENDING_HALF_LIFE_HOURS``: an event counts half as much
after one half-life. Written that way it changes every instant for every product. Forward
decay (Cormode et al., "Forward Decay", ICDE 2009) stores instead, per product,

    stored = sum(weight(e) * 2 ** ((e.time - epoch) / H))

which is the decayed score times ``2 ** ((now - epoch) / H)``, the same factor for every
product. So ordering by the stored column is ordering by the decayed score at any instant:
a batch only *adds* its events' terms (in the same upsert as the totals, no rescan of
history), and a plain index on the column serves the listing like any other counter.

Weights (per event; cart additions and sales per unit): what a shopper's action says about
intent, each step a stronger signal than the one before.

    view 1, click 2, cart addition 5 per unit, sale 10 per unit

Impressions (a product merely shown) and favorites are not part of the score.

Overflow: the stored terms grow by 2 per half-life, and a float ends at 2 ** 1024. When a
batch's exponent passes ``REBASE_AT`` half-lives (about 500 days at H = 24 h) the epoch is
moved to now and every score divided by the same power of two, which preserves the order
(``rebase``, run by that batch before it adds its terms, or by ``manage.py rebase_trending``).
The epoch starts as the moment the table was created. Scores 500 half-lives old underflow to zero on the way,
which is what they are worth. The epoch lives in one row that every batch reads under a
share lock, so a rebase (exclusive lock, then one UPDATE of all rows) never interleaves
with a batch that computed its terms on the old scale.

Changing ``TRENDING_HALF_LIFE_HOURS`` changes the scale of new terms only: run
``manage.py rebase_trending --rebuild`` to recompute every score from the activity rows.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from tracking.models import EventKind, ProductMetrics, TrendingEpoch

logger = logging.getLogger(__name__)

TRENDING_WEIGHTS: dict[str, float] = {
    EventKind.VIEW: 1.0,
    EventKind.CLICK: 2.0,
    EventKind.CART_ADD: 5.0,
    EventKind.PURCHASE: 10.0,
}
PER_UNIT = {EventKind.CART_ADD, EventKind.PURCHASE}
# Half-lives after the epoch at which scores are rebased: 2 ** 512 times the largest
# plausible sum of weights (1e30) is still far below a float's limit (2 ** 1024 = 1.8e308).
REBASE_AT = 512.0


def half_life_seconds() -> float:
    return settings.TRENDING_HALF_LIFE_HOURS * 3600.0


def exponent(at: datetime, epoch: datetime) -> float:
    """Half-lives from ``epoch`` to ``at``: the term of an event at ``at`` is ``weight * 2 ** this``."""
    return (at - epoch).total_seconds() / half_life_seconds()


def current_epoch(*, lock: bool = False) -> datetime:
    """The epoch (its row is created on first use). ``lock``: under a share lock until the
    transaction ends on PostgreSQL (SQLite serialises writing transactions anyway)."""
    table = connection.ops.quote_name(TrendingEpoch._meta.db_table)
    share = " FOR SHARE" if lock and connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT epoch FROM {table} WHERE id = 1{share}")
        row = cursor.fetchone()
    if row is None:  # a database migrated without its data step, or a test's flushed tables
        TrendingEpoch.objects.get_or_create(id=1, defaults={"epoch": timezone.now()})
        return current_epoch(lock=lock)
    value = row[0]
    if isinstance(value, str):  # SQLite through a raw cursor
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def trending_terms(events: Iterable, epoch: datetime) -> tuple[dict[int, float], float]:
    """Per product, what the events add to the stored score; and the largest exponent seen
    (the caller rebases when it passes ``REBASE_AT``)."""
    terms: dict[int, float] = defaultdict(float)
    top = -math.inf
    origin, per_second = epoch.timestamp(), 1.0 / half_life_seconds()
    for event in events:
        weight = TRENDING_WEIGHTS.get(event.kind)
        if weight is None:
            continue
        power = (event.created_at.timestamp() - origin) * per_second
        if power > top:
            top = power
        if event.kind in PER_UNIT:
            weight *= event.quantity
        terms[event.product_id] += weight * 2.0 ** min(power, 1000.0)
    return terms, top


_last_epoch: datetime | None = None  # the epoch this process read last


class BatchTrending:
    """One batch's terms per product. Computed before the batch's transaction on the epoch
    this process read last, so that the transaction (which on SQLite holds the one write
    lock) does no per-event work; ``confirmed`` then reads the epoch under a share lock
    inside the transaction and recomputes only if a rebase moved it meanwhile.

    A batch with no weighted event (impressions, favorites) reads nothing. A batch past
    ``REBASE_AT`` half-lives rebases first (the share lock becomes exclusive; two batches
    doing so at once deadlock, and the one PostgreSQL aborts is retried like any failed
    batch): its terms are then computed on the new scale."""

    def __init__(self, events: list) -> None:
        self.events = events
        self.weighted = any(e.kind in TRENDING_WEIGHTS for e in events)
        self.epoch = _last_epoch
        self.terms, self.top = {}, -math.inf
        if self.weighted and self.epoch is not None:
            self.terms, self.top = trending_terms(events, self.epoch)

    def confirmed(self) -> dict[int, float]:
        """The terms on the epoch as it stands in the caller's transaction."""
        global _last_epoch
        if not self.weighted:
            return {}
        epoch = _last_epoch = current_epoch(lock=True)
        if epoch != self.epoch:
            self.terms, self.top = trending_terms(self.events, epoch)
        if self.top >= REBASE_AT:
            rebase()
            _last_epoch = current_epoch(lock=True)
            self.terms, self.top = trending_terms(self.events, _last_epoch)
        return self.terms


def decayed(stored: float, *, epoch: datetime, at: datetime | None = None) -> float:
    """The decayed score ``stored`` stands for at instant ``at`` (now by default)."""
    return stored * 2.0 ** -exponent(at or timezone.now(), epoch)


def rebase(to: datetime | None = None) -> float:
    """Move the epoch to ``to`` (now) and divide every score by ``2 ** half-lives moved``, in
    one transaction under an exclusive lock on the epoch row: order preserved. Returns the
    half-lives moved. One UPDATE of every metrics row: seconds at a million products, once
    a year at the default half-life."""
    to = to or timezone.now()
    with transaction.atomic():
        row = TrendingEpoch.objects.select_for_update().filter(id=1).first()
        if row is None:
            row = TrendingEpoch.objects.create(id=1, epoch=to)
        moved = exponent(to, row.epoch)
        if moved <= 0:
            return 0.0
        ProductMetrics.objects.filter(trending_score__gt=0).update(trending_score=F("trending_score") * 2.0**-moved)
        row.epoch = to
        row.save(update_fields=["epoch"])
    logger.info("Trending scores rebased by %.1f half-lives", moved)
    return moved


REBUILD_HORIZON = 64  # half-lives: an older event weighs under 2 ** -64 of a new one


def rebuild(*, chunk: int = 5_000, on_chunk=None) -> int:
    """Recompute every score from the activity rows of the last ``REBUILD_HORIZON``
    half-lives, on a fresh epoch (after the half-life changed, or to fill the scores of
    data older than this column). Under the epoch's exclusive lock, so batches wait and
    then add on the new scale. Returns the number of products with a score."""
    from tracking.models import ActivityEvent

    now = timezone.now()
    with transaction.atomic():
        row = TrendingEpoch.objects.select_for_update().filter(id=1).first()
        if row is None:
            row = TrendingEpoch(id=1)
        row.epoch = now
        row.save()
        since = now - timedelta(seconds=REBUILD_HORIZON * half_life_seconds())
        events = (
            ActivityEvent.objects.filter(created_at__gte=since, kind__in=list(TRENDING_WEIGHTS))
            .order_by()
            .values_list("kind", "product_id", "quantity", "created_at")
        )
        rows = (_Event(kind, pid, quantity, created_at) for kind, pid, quantity, created_at in events.iterator(chunk))
        terms, _ = trending_terms(rows, now)
        ProductMetrics.objects.filter(trending_score__gt=0).update(trending_score=0.0)
        ordered = sorted(terms.items())
        for start in range(0, len(ordered), chunk):
            part = ordered[start : start + chunk]
            ProductMetrics.objects.bulk_update(
                [ProductMetrics(product_id=pid, trending_score=score) for pid, score in part], ["trending_score"]
            )
            if on_chunk:
                on_chunk(start + len(part), len(ordered))
    return len(terms)


@dataclass(frozen=True, slots=True)
class _Event:
    kind: str
    product_id: int
    quantity: int
    created_at: datetime
