"""Client event ids: a tracking call sent twice (a retry) counts once.

A client may give ``trackProductView`` / ``trackProductClick`` / ``trackListingView`` an
``eventId``. The id, hashed with the visitor (user, else session, else address) into a
``key``, travels with every event of the call (through the Celery broker too), and the
batch that applies them records ``(key, product)`` in ``TrackedEventId`` in its own
transaction with ``INSERT ... ON CONFLICT DO NOTHING RETURNING``: an event whose pair was
already there is skipped. So the guarantee holds from client to counter whatever the
backend and however many processes apply batches: two transactions inserting the same
pair serialise on the unique index, and the second finds it taken (or takes it, if the
first rolled back). The pair, not the key alone, is the unit so that a listing call's
impressions still count once each when the executor or a split cuts the call across two
batches.

The receipt's ``duplicate`` is answered at request time, cheaply: a process-local set of
recently accepted keys, then one indexed SELECT, only when an id is given. It is advice
(a retry racing its original may be told "not a duplicate"); the batch is what enforces.

Ids are kept ``EVENT_ID_RETENTION`` (48 hours: "at least 24 hours" with a day of margin
for clients that retry after a night offline). Older rows are deleted after a batch, at
most once an hour per process, in chunks of ``PRUNE_CHUNK`` rows so no transaction holds
many locks (``prune_event_ids``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from tracking.models import TrackedEventId
from tracking.native_sql import execute_native, values_list

MAX_EVENT_ID_LENGTH = 64
EVENT_ID_RETENTION = timedelta(hours=48)
PRUNE_CHUNK = 5_000
PRUNE_INTERVAL = 3600.0  # seconds between prunes in one process
ROWS_PER_STATEMENT = 500


def event_key(visitor: str, event_id: str) -> str:
    """The stored key of a client's event id: 128 bits of a hash of both (fixed width, and
    no session key or address stored in clear)."""
    return hashlib.sha256(f"{visitor}\x00{event_id}".encode()).hexdigest()[:32]


def tagged(events: list, key: str) -> list:
    """The events of one call, each carrying the call's key."""
    return [replace(e, event_key=key) for e in events]


def first_sightings(events: list) -> list:
    """``events`` without those whose (key, product) pair was counted before, by an earlier
    batch or earlier in this one. Events without a key pass. Call inside the batch's
    transaction: the pairs are recorded there, and vanish with it if it rolls back."""
    pairs = {(e.event_key, e.product_id) for e in events if e.event_key is not None}
    if not pairs:
        return events
    fresh = _record(sorted(pairs))  # sorted: concurrent batches wait on the index in one order
    kept = []
    for event in events:
        if event.event_key is None:
            kept.append(event)
            continue
        pair = (event.event_key, event.product_id)
        if pair in fresh:
            fresh.discard(pair)  # the first copy counts, later ones in this batch do not
            kept.append(event)
    return kept


def _record(pairs: list[tuple[str, int]]) -> set[tuple[str, int]]:
    """Insert the pairs; the ones that were not there yet."""
    qn = connection.ops.quote_name
    table = qn(TrackedEventId._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    fresh: set[tuple[str, int]] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(pairs), ROWS_PER_STATEMENT):
            chunk = pairs[start : start + ROWS_PER_STATEMENT]
            params = [value for key, pid in chunk for value in (key, pid, now)]
            execute_native(  # a batch's statements alike (tracking.native_sql)
                cursor,
                f"INSERT INTO {table} ({qn('key')}, {qn('product_id')}, {qn('created_at')}) "
                f"VALUES {values_list(3, len(chunk))} "
                f"ON CONFLICT ({qn('key')}, {qn('product_id')}) DO NOTHING RETURNING {qn('key')}, {qn('product_id')}",
                params,
            )
            fresh.update((key, int(pid)) for key, pid in cursor.fetchall())
    return fresh


class RecentKeys:
    """The keys this process accepted lately (a bounded LRU): a retry that reaches the same
    process is answered ``duplicate`` without a query."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: str) -> bool:
        with self._lock:
            if key in self._keys:
                self._keys.move_to_end(key)
                return True
            return False

    def add(self, key: str) -> None:
        with self._lock:
            self._keys[key] = None
            self._keys.move_to_end(key)
            if len(self._keys) > self.capacity:
                self._keys.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


recent_keys = RecentKeys()


def counted_before(key: str) -> bool:
    """Whether an event with ``key`` was accepted here lately or counted by any process
    within the retention window (one indexed SELECT when not known here)."""
    if key in recent_keys:
        return True
    cutoff = timezone.now() - EVENT_ID_RETENTION
    return TrackedEventId.objects.filter(key=key, created_at__gte=cutoff).exists()


_next_prune = 0.0


def prune_event_ids(*, force: bool = False) -> int:
    """Delete ids older than the retention window, ``PRUNE_CHUNK`` rows per transaction; at
    most once every ``PRUNE_INTERVAL`` seconds per process unless ``force``. Returns how
    many rows went."""
    global _next_prune
    if not force and time.monotonic() < _next_prune:
        return 0
    _next_prune = time.monotonic() + PRUNE_INTERVAL
    cutoff = timezone.now() - EVENT_ID_RETENTION
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                TrackedEventId.objects.filter(created_at__lt=cutoff)
                .order_by("created_at")[:PRUNE_CHUNK]
                .values_list("id", flat=True)
            )
            if ids:
                TrackedEventId.objects.filter(id__in=ids).delete()
        deleted += len(ids)
        if len(ids) < PRUNE_CHUNK:
            return deleted
