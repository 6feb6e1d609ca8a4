"""Selectors for metrics over time: the periods of a series, and the buckets that fill them.

Hourly rows (``HourlyMetrics``) start on UTC hours; daily rows (``DailyMetrics``) start at
midnight in ``METRICS_TIME_ZONE``; a week is the sum of its days, Monday to Sunday in that
zone. A series is zero-filled (a period without a row reads as zeros) and oldest first.

Rows are placed into periods by where their ``start`` falls (a bisection), not by equality
with a computed start, so a row written under another ``METRICS_TIME_ZONE`` still lands in
the period that holds it rather than vanishing.

Distinct viewers (``unique_viewers``) cannot be added up: a visitor seen on two days, or on
two products, is one visitor. A series reports them only where a stored row holds them
exactly (one product, one hour or one day); elsewhere (a week, a sum over products, a
window's total) the value is ``None``, never a sum that looks exact and is not.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from django.db.models import Case, F, FloatField, Sum, Value, When
from django.db.models.functions import Cast
from django.utils import timezone

from marketplace.models import Product
from tracking.bucket_rows import bucket_rows
from tracking.buckets import local_day, midnight
from tracking.models import DailyMetrics, HourlyMetrics, _ratio


class Granularity(StrEnum):
    HOUR = "HOUR"
    DAY = "DAY"
    WEEK = "WEEK"


class Ranking(StrEnum):
    VIEWS = "VIEWS"
    CLICKS = "CLICKS"
    SALES = "SALES"
    REVENUE = "REVENUE"
    CONVERSION = "CONVERSION"


# How many periods a product's history may ask for: a month of hours (hourly rows are
# kept METRICS_HOURLY_RETENTION_DAYS), a year of days, two years of weeks.
MAX_PERIODS = {Granularity.HOUR: 24 * 31, Granularity.DAY: 366, Granularity.WEEK: 104}
# A seller's analytics window: at most a year (a leap year's days), and a month in hours.
MAX_WINDOW = {Granularity.HOUR: timedelta(days=31), Granularity.DAY: timedelta(days=366)}
MAX_WINDOW[Granularity.WEEK] = MAX_WINDOW[Granularity.DAY]
MAX_TOP_PRODUCTS = 100
ZERO = Decimal("0.00")
# Bucket's fields after ``start``, in its order: a row read in this order builds a Bucket.
COUNTERS = ("impressions", "views", "clicks", "favorites_added", "favorites_removed",
            "cart_additions", "cart_removals", "sales", "revenue")  # fmt: skip


class InvalidRange(ValueError):
    """A history or window the store cannot answer as asked; ``argument`` names the culprit."""

    def __init__(self, message: str, argument: str) -> None:
        super().__init__(message)
        self.argument = argument


def clock() -> datetime:
    """Now; the one place tests replace to pin the current period."""
    return timezone.now()


@dataclass(slots=True)
class Bucket:
    """The counters of one period (``start`` up to the next period's start). ``revenue`` is
    ``None`` when the reader was asked to leave it out (it is the seller's to see)."""

    start: datetime
    impressions: int = 0
    views: int = 0
    clicks: int = 0
    favorites_added: int = 0
    favorites_removed: int = 0
    cart_additions: int = 0
    cart_removals: int = 0
    sales: int = 0
    revenue: Decimal | None = ZERO
    unique_viewers: int | None = 0

    def add(self, values, columns: tuple[str, ...] = COUNTERS) -> None:
        """Add ``values``, given in ``columns`` order (``COUNTERS`` by default); distinct
        viewers add up only where the caller knows they may (a week's days of one product)."""
        for name, value in zip(columns, values, strict=True):
            if name == "revenue":
                if self.revenue is not None:
                    self.revenue += value
            elif name == "unique_viewers":
                self.unique_viewers = (self.unique_viewers or 0) + (value or 0)
            else:
                setattr(self, name, getattr(self, name) + value)

    @property
    def conversion_rate(self) -> float:
        return _ratio(self.sales, self.views)  # the formula of ProductMetrics.conversion_rate


# --- periods --------------------------------------------------------------------------


def _period_dates(granularity: Granularity, moment: datetime) -> date:
    day = local_day(moment)
    return day - timedelta(days=day.weekday()) if granularity is Granularity.WEEK else day


def periods_ending_now(granularity: Granularity, last: int, now: datetime) -> tuple[list[datetime], datetime]:
    """The starts of the ``last`` periods that end with the one holding ``now`` (oldest
    first), and the end of that current period."""
    if granularity is Granularity.HOUR:
        current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        return [current - timedelta(hours=i) for i in reversed(range(last))], current + timedelta(hours=1)
    step = 7 if granularity is Granularity.WEEK else 1
    current = _period_dates(granularity, now)
    starts = [midnight(current - timedelta(days=step * i)) for i in reversed(range(last))]
    return starts, midnight(current + timedelta(days=step))


def periods_between(granularity: Granularity, start: datetime, end: datetime) -> list[datetime]:
    """The starts of the periods that overlap ``[start, end)``: the window widened to whole
    periods, since a stored bucket cannot be split."""
    if granularity is Granularity.HOUR:
        current = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        starts = []
        while current < end:
            starts.append(current)
            current += timedelta(hours=1)
        return starts
    step = timedelta(days=7 if granularity is Granularity.WEEK else 1)
    day, starts = _period_dates(granularity, start), []
    while (moment := midnight(day)) < end:
        starts.append(moment)
        day += step
    return starts


def check_last(granularity: Granularity, last: int) -> None:
    bound = MAX_PERIODS[granularity]
    if not 1 <= last <= bound:
        raise InvalidRange(f"last must be between 1 and {bound} for {granularity.value}, got {last}.", "last")


def check_window(granularity: Granularity, start: datetime, end: datetime) -> None:
    for name, moment in (("from", start), ("to", end)):
        if moment.tzinfo is None:
            raise InvalidRange(f"{name} needs a UTC offset (e.g. 2026-11-01T00:00:00Z).", name)
    if end <= start:
        raise InvalidRange("to must be after from.", "to")
    longest = MAX_WINDOW[granularity]
    if end - start > longest:
        unit = "31 days with HOUR" if granularity is Granularity.HOUR else "a year (366 days)"
        raise InvalidRange(f"The window from from to to is longer than {unit}.", "to")


# --- reading --------------------------------------------------------------------------


def _model(granularity: Granularity):
    return HourlyMetrics if granularity is Granularity.HOUR else DailyMetrics


COLUMNS = (*COUNTERS, "unique_viewers")
"""What a stored bucket row holds after ``start``, in Bucket's order."""


def _fill(starts: list[datetime], rows, *, with_revenue: bool = True) -> list[Bucket]:
    """Zero-filled buckets for ``starts``, each row (``start``, then ``COLUMNS``) added to the
    period that holds it. Distinct viewers are left as they come: the caller knows whether
    they can be added up."""
    buckets: list[Bucket | None] = [None] * len(starts)
    index_of = {start: index for index, start in enumerate(starts)}
    for start, *values in rows:
        index = index_of.get(start)
        if index is None:  # not on a period's start (a week's days, another time zone)
            index = bisect.bisect_right(starts, start) - 1
            if index < 0:
                continue
        bucket = buckets[index]
        if bucket is None:  # the common case: one row, one bucket, built at once
            buckets[index] = Bucket(starts[index], *values)
        else:  # a second row in the period (a week's days): add it up
            bucket.add(values, COLUMNS)
    revenue = ZERO if with_revenue else None
    for index, bucket in enumerate(buckets):
        if bucket is None:
            buckets[index] = Bucket(starts[index], revenue=revenue)
        elif not with_revenue:
            bucket.revenue = None
    return buckets


def product_histories(
    *,
    product_ids: list[int],
    granularity: Granularity,
    last: int,
    now: datetime | None = None,
    revenue_of: Collection[int] | None = None,
    columns: Collection[str] | None = None,
) -> dict[int, list[Bucket]]:
    """Each product's last ``last`` periods ending with the current one, zero-filled,
    oldest first (``check_last`` bounds ``last``). One query for all the products, reading
    only ``columns`` (of ``COLUMNS``; all when not given: the others read as zero).
    Revenue only for the products in ``revenue_of`` (``None`` for the others), or for all
    when it is not given. Distinct viewers: ``None`` for weeks (see the module)."""
    starts, end = periods_ending_now(granularity, last, now or clock())
    read = COLUMNS if columns is None else tuple(name for name in COLUMNS if name in columns)
    rows_by_product: dict[int, list[tuple]] = {pid: [] for pid in product_ids}
    for product_id, *row in bucket_rows(
        _model(granularity), sorted(rows_by_product), starts[0], end, columns=COLUMNS, read=read
    ):
        rows_by_product[product_id].append(row)
    found = {
        pid: _fill(starts, rows, with_revenue=revenue_of is None or pid in revenue_of)
        for pid, rows in rows_by_product.items()
    }
    if granularity is Granularity.WEEK:
        for series in found.values():
            for bucket in series:
                bucket.unique_viewers = None
    return found


def _sums(prefix: str = "") -> dict:
    return {f"{prefix}{name}": Sum(name) for name in COUNTERS}


def seller_series(*, seller_id: int, granularity: Granularity, start: datetime, end: datetime) -> list[Bucket]:
    """The buckets of every product ``seller_id`` sells (active or not) added up per period
    over ``[start, end)`` widened to whole periods: zero-filled, oldest first, one query."""
    starts = periods_between(granularity, start, end)
    rows = (
        _model(granularity)
        .objects.filter(product__seller_id=seller_id, start__gte=starts[0], start__lt=end)
        .values("start")
        .annotate(**_sums("sum_"))
        .order_by("start")
    )
    series = _fill(starts, ((r["start"], *_summed(r), 0) for r in rows))
    for bucket in series:  # a visitor of two products is one visitor: not a sum
        bucket.unique_viewers = None
    return series


def _summed(row: dict) -> list:
    """The ``sum_`` columns of an aggregate row in ``COUNTERS`` order, as Bucket holds them
    (PostgreSQL's SUM of a bigint is a numeric, SQLite's of a decimal loses its places)."""
    return [Decimal(row[f"sum_{n}"]).quantize(ZERO) if n == "revenue" else int(row[f"sum_{n}"]) for n in COUNTERS]


def window_totals(series: list[Bucket]) -> Bucket:
    """The sum of a series (distinct viewers unknown: ``None``)."""
    total = Bucket(series[0].start, unique_viewers=None)
    for bucket in series:
        total.add([getattr(bucket, name) for name in COUNTERS])
    return total


@dataclass(frozen=True)
class RankedProduct:
    product: Product
    totals: Bucket


_RANK_EXPRESSIONS = {
    Ranking.VIEWS: F("sum_views"),
    Ranking.CLICKS: F("sum_clicks"),
    Ranking.SALES: F("sum_sales"),
    Ranking.REVENUE: F("sum_revenue"),
    # sales per view, 0 without views (ProductMetrics.conversion_rate's formula, in SQL)
    Ranking.CONVERSION: Case(
        When(sum_views=0, then=Value(0.0)),
        default=Cast("sum_sales", FloatField()) / Cast("sum_views", FloatField()),
        output_field=FloatField(),
    ),
}


def top_products(
    *, seller_id: int, granularity: Granularity, start: datetime, end: datetime, by: Ranking, first: int
) -> list[RankedProduct]:
    """The seller's ``first`` products with the highest ``by`` over the window (as widened
    by ``seller_series``), ties broken by product id ascending. Products without any bucket
    in the window are left out. Two queries: the ranking, then the products."""
    starts = periods_between(granularity, start, end)
    ranked = list(
        _model(granularity)
        .objects.filter(product__seller_id=seller_id, start__gte=starts[0], start__lt=end)
        .values("product_id")
        .annotate(**_sums("sum_"))
        .annotate(rank_value=_RANK_EXPRESSIONS[by])
        .order_by("-rank_value", "product_id")[:first]
    )
    if not ranked:
        return []
    products = Product.objects.in_bulk([row["product_id"] for row in ranked])
    result = []
    for row in ranked:
        totals = Bucket(starts[0], unique_viewers=None)
        totals.add(_summed(row))
        result.append(RankedProduct(products[row["product_id"]], totals))
    return result
