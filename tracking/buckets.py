"""Hourly and daily buckets of every counter, written in the transaction of the totals.

``write_buckets`` is called by ``tracking.apply.apply_events`` with the events it keeps, so a
bucket never counts an event the totals do not (and checkout's purchases, applied in the
order's transaction, bring their sales and revenue buckets with them). Per batch it adds at
most three statements, whatever the batch's size:

1. the batch's new viewers: ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` into
   ``BucketViewer``; only the rows that are new count in ``unique_viewers`` (exact);
2. hourly buckets (hour start, UTC): one multi-row ``INSERT ... ON CONFLICT (product_id,
   start) DO UPDATE SET x = x + excluded.x``;
3. daily buckets (midnight in ``METRICS_TIME_ZONE``, stored as an aware datetime): the same.

Rows go in ascending key order, as the totals do, so concurrent batches lock in one order.
Raw SQL for the reasons given in ``tracking.apply`` (increments in the upsert, multi-row).

How each kind changes a bucket is derived from ``tracking.events`` (``COUNTER_OF_KIND``,
``UNIT_KINDS``), the one place that says how it changes the totals; a bucket counts what
happened, so the favorites total's +1/-1 become ``favorites_added`` / ``favorites_removed``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection

from tracking.events import COUNTER_OF_KIND, UNIT_KINDS, TrackingEvent
from tracking.models import BUCKET_COUNTERS, BucketViewer, DailyMetrics, EventKind, HourlyMetrics
from tracking.native_sql import execute_native, values_list

ROWS_PER_STATEMENT = 500
HOUR = 3600
QUARTER = 900  # every time zone's offset is a multiple of 15 minutes: a day starts on one
HOURLY, DAILY = BucketViewer.Period.HOUR.value, BucketViewer.Period.DAY.value

_INDEX = {name: i for i, name in enumerate(BUCKET_COUNTERS)}
_REVENUE, _UNIQUE = _INDEX["revenue"], _INDEX["unique_viewers"]
_SPLIT = {"total_favorites": ("favorites_added", "favorites_removed")}  # a signed total, two buckets


def _bucket_field(counter: str, sign: int) -> str:
    name = _SPLIT[counter][0 if sign > 0 else 1] if counter in _SPLIT else counter.removeprefix("total_")
    if name not in _INDEX or (sign < 0 and counter not in _SPLIT):
        raise LookupError(f"No bucket counter for {counter} ({sign:+d}): add one to BUCKET_COUNTERS")
    return name


# kind -> (index of its bucket counter, counted in units); checked at import, so a new kind
# without a bucket counter fails every test rather than go uncounted.
_DELTA_OF_KIND = {
    kind: (_INDEX[_bucket_field(counter, sign)], kind in UNIT_KINDS)
    for kind, (counter, sign) in COUNTER_OF_KIND.items()
}


def visitor_identity(user_id: int | None, visitor_key: str | None) -> str | None:
    """Who viewed: the user, else the visitor key (the session, else the address); None when
    the event carries neither (each such view then counts as a viewer of its own)."""
    if user_id is not None:
        return f"u:{user_id}"
    if visitor_key:
        return f"k:{visitor_key}"
    return None


@functools.cache
def _hash_key() -> bytes:
    return hashlib.blake2b(settings.SECRET_KEY.encode(), digest_size=32, person=b"bucketviewer").digest()


def visitor_hash(identity: str) -> int:
    """A keyed 64-bit hash (signed, for a BIGINT column). Two visitors of one product and one
    period collide with probability n^2 / 2^65: below 3e-8 at a million viewers."""
    digest = hashlib.blake2b(identity.encode(), digest_size=8, key=_hash_key()).digest()
    return int.from_bytes(digest, "big", signed=True)


@functools.cache
def metrics_zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_day(moment: datetime) -> date:
    """The date of ``moment`` in ``METRICS_TIME_ZONE``."""
    return moment.astimezone(metrics_zone(settings.METRICS_TIME_ZONE)).date()


def midnight(day: date) -> datetime:
    """The first instant of ``day`` in ``METRICS_TIME_ZONE``, in UTC: the one day boundary that
    the writers (buckets, rebuild) and the readers (``tracking.history``) share."""
    return datetime.combine(day, time(0), tzinfo=metrics_zone(settings.METRICS_TIME_ZONE)).astimezone(UTC)


def day_start(moment: datetime) -> datetime:
    """Midnight (the day's first instant) in ``METRICS_TIME_ZONE`` of the day holding ``moment``."""
    return midnight(local_day(moment))


def next_day_start(start: datetime) -> datetime:
    """The day after the one starting at ``start`` (23 or 25 hours across a DST change)."""
    return day_start(start + timedelta(hours=36))


def hour_start(moment: datetime) -> datetime:
    return datetime.fromtimestamp(int(moment.timestamp()) // HOUR * HOUR, UTC)


@dataclass
class BucketDeltas:
    """One batch's changes: ``{(product_id, start epoch): [counter values]}`` per period, and
    the visitors seen, ``{(product_id, period, start epoch, visitor hash)}``."""

    hourly: dict[tuple[int, int], list] = field(default_factory=dict)
    daily: dict[tuple[int, int], list] = field(default_factory=dict)
    viewers: set[tuple[int, int, int, int]] = field(default_factory=set)


def bucket_deltas(events: Iterable[TrackingEvent]) -> BucketDeltas:
    """Coalesce events per (product, hour) and (product, day), in Python: the same function
    serves the batch, the rebuild and the reconciliation."""
    out = BucketDeltas()
    hourly, daily, viewers = out.hourly, out.daily, out.viewers
    days: dict[int, int] = {}  # quarter-hour -> day start, both epoch seconds
    hashes: dict[str, int] = {}
    width = len(BUCKET_COUNTERS)
    for e in events:
        created = e.created_at if e.created_at.tzinfo is not None else e.created_at.replace(tzinfo=UTC)
        ts = int(created.timestamp())
        hour = ts - ts % HOUR
        quarter = ts - ts % QUARTER
        day = days.get(quarter)
        if day is None:
            day = days[quarter] = int(day_start(created).timestamp())
        index, per_unit = _DELTA_OF_KIND[e.kind]
        n = e.quantity if per_unit else 1
        h = hourly.get((e.product_id, hour))
        if h is None:
            h = hourly[(e.product_id, hour)] = [0] * width
        d = daily.get((e.product_id, day))
        if d is None:
            d = daily[(e.product_id, day)] = [0] * width
        h[index] += n
        d[index] += n
        if e.amount is not None:
            h[_REVENUE] += e.amount
            d[_REVENUE] += e.amount
        if e.kind == EventKind.VIEW:
            identity = visitor_identity(e.user_id, e.visitor_key)
            if identity is None:
                h[_UNIQUE] += 1
                d[_UNIQUE] += 1
                continue
            visitor = hashes.get(identity)
            if visitor is None:
                visitor = hashes[identity] = visitor_hash(identity)
            viewers.add((e.product_id, HOURLY, hour, visitor))
            viewers.add((e.product_id, DAILY, day, visitor))
    return out


def write_buckets(events: list[TrackingEvent]) -> None:
    """Add ``events`` to their buckets; call inside the transaction that writes the totals."""
    if events:
        write_deltas(bucket_deltas(events))


def write_deltas(deltas: BucketDeltas, *, counted: bool = False, keep_viewers_from: int | None = None) -> None:
    """Write one batch's deltas. ``counted`` (the rebuild, which deleted the range's rows and
    counted every visitor of it as new, ``count_viewers``): the viewer rows are only stored,
    those of periods starting before ``keep_viewers_from`` (epoch seconds) not even that."""
    if counted:
        floor = keep_viewers_from or 0
        _insert_new_viewers({v for v in deltas.viewers if v[2] >= floor})
    elif connection.vendor == "postgresql":
        return _write_in_one_statement(deltas)
    else:
        count_viewers(deltas, _insert_new_viewers(deltas.viewers))
    _upsert(HourlyMetrics, deltas.hourly)
    _upsert(DailyMetrics, deltas.daily)


def _write_in_one_statement(deltas: BucketDeltas) -> None:
    """PostgreSQL: viewers, hourly and daily buckets in one statement (data-modifying CTEs), so
    a batch pays one round trip for its buckets, not three; the new viewers counted in SQL.
    Measured: round trips, not rows, dominated the buckets' cost on a busy machine."""
    qn = connection.ops.quote_name
    viewers = sorted(deltas.viewers)
    params: list = [list(column) for column in zip(*viewers, strict=True)] if viewers else [[], [], [], []]
    names = ", ".join(qn(c) for c in _COLUMNS)
    values = ", ".join(f"d.c{i}" if i != _UNIQUE else f"d.c{i} + COALESCE(n.c, 0)" for i in range(len(BUCKET_COUNTERS)))
    aliases = ", ".join(f"c{i}" for i in range(len(BUCKET_COUNTERS)))
    updates = ", ".join(f"{qn(c)} = t.{qn(c)} + excluded.{qn(c)}" for c in BUCKET_COUNTERS)
    inserts = []
    for model, period, rows in ((HourlyMetrics, HOURLY, deltas.hourly), (DailyMetrics, DAILY, deltas.daily)):
        ordered = sorted(rows.items())
        params += [[k[0] for k, _ in ordered], [k[1] for k, _ in ordered]]
        params += [list(column) for column in zip(*(v for _, v in ordered), strict=True)] if ordered else _EMPTY
        params[-len(BUCKET_COUNTERS) + _REVENUE] = [Decimal(v) for v in params[-len(BUCKET_COUNTERS) + _REVENUE]]
        inserts.append(
            f"INSERT INTO {qn(model._meta.db_table)} AS t ({names}) "
            f"SELECT d.product_id, to_timestamp(d.s), {values} "
            f"FROM unnest({_PG_ROW_TYPES}) AS d(product_id, s, {aliases}) "
            f"LEFT JOIN n ON n.product_id = d.product_id AND n.period = {period} AND n.start = d.s "
            f"ORDER BY d.product_id, d.s "  # one lock order for every batch
            f"ON CONFLICT ({qn('product_id')}, {qn('start')}) DO UPDATE SET {updates}"
        )
    viewer_columns = ", ".join(qn(c) for c in ("product_id", "period", "start", "visitor"))
    sql = (
        f"WITH v AS (INSERT INTO {qn(BucketViewer._meta.db_table)} ({viewer_columns}) "
        f"SELECT * FROM unnest(%s::bigint[], %s::smallint[], %s::bigint[], %s::bigint[]) "
        f"ON CONFLICT DO NOTHING RETURNING {qn('product_id')}, {qn('period')}, {qn('start')}), "
        f"n AS (SELECT {qn('product_id')} AS product_id, {qn('period')} AS period, {qn('start')} AS start, "
        f"count(*) AS c FROM v GROUP BY 1, 2, 3), "
        f"h AS ({inserts[0]}) {inserts[1]}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def count_viewers(deltas: BucketDeltas, new: Iterable[tuple]) -> None:
    """Add one unique viewer to the bucket of each (product, period, start, ...) in ``new``."""
    for product_id, period, start, *_ in new:
        target = deltas.hourly if period == HOURLY else deltas.daily
        target[(product_id, start)][_UNIQUE] += 1


def _insert_new_viewers(viewers: set[tuple[int, int, int, int]]) -> list[tuple[int, int, int]]:
    """Insert the visitors; return (product, period, start) of each row that was new."""
    if not viewers:
        return []
    qn = connection.ops.quote_name
    table = qn(BucketViewer._meta.db_table)
    names = ("product_id", "period", "start", "visitor")
    columns = ", ".join(qn(c) for c in names)
    returning = f"ON CONFLICT DO NOTHING RETURNING {qn('product_id')}, {qn('period')}, {qn('start')}"
    ordered = sorted(viewers)
    new: list[tuple[int, int, int]] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT * FROM "
                f"unnest(%s::bigint[], %s::smallint[], %s::bigint[], %s::bigint[]) {returning}",
                [list(column) for column in zip(*ordered, strict=True)],
            )
            return cursor.fetchall()
        for first in range(0, len(ordered), ROWS_PER_STATEMENT):
            chunk = ordered[first : first + ROWS_PER_STATEMENT]
            execute_native(
                cursor,
                f"INSERT INTO {table} ({columns}) VALUES {values_list(4, len(chunk))} {returning}",
                [value for row in chunk for value in row],
            )
            new += cursor.fetchall()
    return new


_COLUMNS = ("product_id", "start", *BUCKET_COUNTERS)


def _upsert(model, deltas: dict[tuple[int, int], list]) -> None:
    if not deltas:
        return
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    names = ", ".join(qn(c) for c in _COLUMNS)
    updates = ", ".join(f"{qn(c)} = {table}.{qn(c)} + excluded.{qn(c)}" for c in BUCKET_COUNTERS)
    conflict = f"ON CONFLICT ({qn('product_id')}, {qn('start')}) DO UPDATE SET {updates}"
    ordered = sorted(deltas.items())  # one lock order for every batch
    starts = {start: datetime.fromtimestamp(start, UTC) for start in {key[1] for key, _ in ordered}}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One array per column: a constant number of parameters, whatever the batch's size,
            # is parsed, planned and bound far faster than a VALUES list of thousands.
            arrays = [[key[0] for key, _ in ordered], [starts[key[1]] for key, _ in ordered]]
            arrays += [list(column) for column in zip(*(values for _, values in ordered), strict=True)]
            arrays[2 + _REVENUE] = [Decimal(v) for v in arrays[2 + _REVENUE]]  # one element type per array
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({_PG_ARRAY_TYPES}) {conflict}", arrays)
            return
        adapt = connection.ops.adapt_datetimefield_value
        adapted = {start: adapt(when) for start, when in starts.items()}
        for first in range(0, len(ordered), ROWS_PER_STATEMENT):
            chunk = ordered[first : first + ROWS_PER_STATEMENT]
            params: list = []
            for (product_id, start), values in chunk:
                params.append(product_id)
                params.append(adapted[start])
                params += values
            values = values_list(len(_COLUMNS), len(chunk))
            execute_native(cursor, f"INSERT INTO {table} ({names}) VALUES {values} {conflict}", params)


_EMPTY = [[] for _ in BUCKET_COUNTERS]
_PG_ROW_TYPES = ", ".join(
    ["%s::bigint[]", "%s::bigint[]"] + ["%s::numeric[]" if c == "revenue" else "%s::bigint[]" for c in BUCKET_COUNTERS]
)
_PG_ARRAY_TYPES = ", ".join(
    ["%s::bigint[]", "%s::timestamptz[]"]
    + ["%s::numeric[]" if c == "revenue" else "%s::bigint[]" for c in BUCKET_COUNTERS]
)


__all__ = [
    "BucketDeltas",
    "bucket_deltas",
    "count_viewers",
    "day_start",
    "hour_start",
    "next_day_start",
    "visitor_hash",
    "visitor_identity",
    "write_buckets",
    "write_deltas",
]
