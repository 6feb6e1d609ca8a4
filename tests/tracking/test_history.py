"""Reading metrics over time (tracking.history): periods in METRICS_TIME_ZONE, zero-filling,
weeks from days, a seller's sums and rankings. Bucket rows are written directly here; the
batches that write them in production are tested with the tracking executor."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import override_settings

from tests.factories import make_product, make_user
from tracking import history
from tracking.history import Granularity, InvalidRange, Ranking
from tracking.models import DailyMetrics, HourlyMetrics

pytestmark = pytest.mark.django_db


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def day_row(product, start, **counters):
    return DailyMetrics(product=product, start=start, **counters)


def test_a_days_series_is_zero_filled_oldest_first_and_ends_with_today():
    product = make_product()
    now = utc(2026, 11, 30, 15, 30)
    DailyMetrics.objects.bulk_create(
        [
            day_row(product, utc(2026, 11, 30), views=5, unique_viewers=3, revenue=Decimal("12.50")),
            day_row(product, utc(2026, 11, 28), views=2, clicks=1, unique_viewers=2),
            day_row(product, utc(2026, 11, 27), views=99),  # one day too old for last=3
            day_row(product, utc(2026, 12, 1), views=99),  # tomorrow: not in the series
        ]
    )

    series = history.product_histories(product_ids=[product.pk], granularity=Granularity.DAY, last=3, now=now)[
        product.pk
    ]

    assert [b.start for b in series] == [utc(2026, 11, 28), utc(2026, 11, 29), utc(2026, 11, 30)]
    assert [b.views for b in series] == [2, 0, 5]
    assert [b.unique_viewers for b in series] == [2, 0, 3]
    assert series[0].clicks == 1 and series[2].revenue == Decimal("12.50") and series[1].revenue == 0


def test_a_product_without_rows_gets_zeros_and_one_query_serves_many_products(django_assert_num_queries):
    a, b = make_product(), make_product()
    DailyMetrics.objects.create(product=a, start=utc(2026, 11, 30), views=4)
    with django_assert_num_queries(1):
        found = history.product_histories(
            product_ids=[a.pk, b.pk], granularity=Granularity.DAY, last=14, now=utc(2026, 11, 30, 8)
        )
    assert [x.views for x in found[a.pk]] == [0] * 13 + [4]
    assert [x.views for x in found[b.pk]] == [0] * 14


def test_a_statement_built_once_serves_later_calls_with_their_own_products_bounds_and_columns():
    # Given two pairs of products with rows on different days
    a, b, c, d = (make_product() for _ in range(4))
    DailyMetrics.objects.bulk_create(
        [
            day_row(a, utc(2026, 11, 30), views=1, clicks=7),
            day_row(b, utc(2026, 11, 29), views=2, revenue=Decimal("3.25")),
            day_row(c, utc(2026, 10, 31), views=3),
            day_row(d, utc(2026, 10, 30), views=4, unique_viewers=2),
        ]
    )

    # When the same shape of read (two products, the same columns) runs for each pair at
    # another "now", and once more with other columns
    def read(products, now, columns=("views", "revenue")):
        found = history.product_histories(
            product_ids=[p.pk for p in products], granularity=Granularity.DAY, last=2, now=now, columns=columns
        )
        return {
            p.pk: [(x.start.date().isoformat(), x.views, x.clicks, x.revenue) for x in found[p.pk]] for p in products
        }

    november = read([a, b], utc(2026, 11, 30, 12))
    october = read([c, d], utc(2026, 10, 31, 12))
    clicks = read([a, b], utc(2026, 11, 30, 12), columns=("clicks",))

    # Then each answer is its own: its products, its days, and only the columns it read
    assert november == {
        a.pk: [("2026-11-29", 0, 0, 0), ("2026-11-30", 1, 0, 0)],
        b.pk: [("2026-11-29", 2, 0, Decimal("3.25")), ("2026-11-30", 0, 0, 0)],
    }
    assert october == {
        c.pk: [("2026-10-30", 0, 0, 0), ("2026-10-31", 3, 0, 0)],
        d.pk: [("2026-10-30", 4, 0, 0), ("2026-10-31", 0, 0, 0)],
    }
    assert clicks[a.pk] == [("2026-11-29", 0, 0, 0), ("2026-11-30", 0, 7, 0)]
    revenues = [bucket[3] for answer in (november, october, clicks) for series in answer.values() for bucket in series]
    assert all(isinstance(revenue, Decimal) for revenue in revenues)  # an unread revenue is still a Decimal


def test_hours_are_utc_hours_ending_with_the_current_one():
    product = make_product()
    HourlyMetrics.objects.bulk_create(
        [
            HourlyMetrics(product=product, start=utc(2026, 11, 30, 13), views=1),
            HourlyMetrics(product=product, start=utc(2026, 11, 30, 15), views=3),
            HourlyMetrics(product=product, start=utc(2026, 11, 30, 12), views=50),  # too old for last=3
        ]
    )
    series = history.product_histories(
        product_ids=[product.pk], granularity=Granularity.HOUR, last=3, now=utc(2026, 11, 30, 15, 59)
    )[product.pk]
    assert [(b.start.hour, b.views) for b in series] == [(13, 1), (14, 0), (15, 3)]


def test_revenue_is_read_only_for_the_products_asked_and_none_for_the_others():
    shown, hidden = make_product(), make_product()
    DailyMetrics.objects.bulk_create(
        [day_row(p, utc(2026, 11, 30), sales=1, revenue=Decimal("4.00")) for p in (shown, hidden)]
    )
    found = history.product_histories(
        product_ids=[shown.pk, hidden.pk], granularity=Granularity.DAY, last=2, now=utc(2026, 11, 30, 1),
        revenue_of={shown.pk},
    )  # fmt: skip
    assert [b.revenue for b in found[shown.pk]] == [Decimal("0.00"), Decimal("4.00")]
    assert [(b.sales, b.revenue) for b in found[hidden.pk]] == [(0, None), (1, None)]


@override_settings(METRICS_TIME_ZONE="Europe/Berlin")
def test_days_start_at_midnight_in_the_metrics_time_zone_across_the_spring_dst_change():
    # Berlin moves from UTC+1 to UTC+2 on Sunday 2026-03-29: that day has 23 hours.
    product = make_product()
    march_29, march_30 = utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)  # local midnights
    DailyMetrics.objects.bulk_create(
        [day_row(product, march_29, views=7), day_row(product, march_30, views=11, unique_viewers=4)]
    )

    # 00:30 on March 30 in Berlin is still March 29 in UTC: the series ends with March 30 anyway
    now = utc(2026, 3, 29, 22, 30)
    series = history.product_histories(product_ids=[product.pk], granularity=Granularity.DAY, last=3, now=now)[
        product.pk
    ]

    assert [b.start for b in series] == [utc(2026, 3, 27, 23), march_29, march_30]
    assert [b.views for b in series] == [0, 7, 11]
    assert series[1].start + timedelta(hours=23) == series[2].start


@override_settings(METRICS_TIME_ZONE="Europe/Berlin")
def test_the_autumn_dst_day_has_25_hours_and_the_next_day_starts_at_local_midnight():
    product = make_product()
    october_25, october_26 = utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)
    DailyMetrics.objects.bulk_create([day_row(product, october_25, views=1), day_row(product, october_26, views=2)])
    series = history.product_histories(
        product_ids=[product.pk], granularity=Granularity.DAY, last=2, now=utc(2026, 10, 26, 10)
    )[product.pk]
    assert [(b.start, b.views) for b in series] == [(october_25, 1), (october_26, 2)]


@override_settings(METRICS_TIME_ZONE="America/New_York")
def test_a_week_is_monday_to_sunday_in_the_metrics_time_zone_and_sums_its_days():
    product = make_product()
    # Local midnights (UTC-5 in November): Sunday 22nd, Monday 23rd, Sunday 29th, Monday 30th.
    sunday_22, monday_23, sunday_29, monday_30 = (utc(2026, 11, d, 5) for d in (22, 23, 29, 30))
    DailyMetrics.objects.bulk_create(
        [
            day_row(product, sunday_22, views=100, unique_viewers=90),  # the week before the previous one
            day_row(product, monday_23, views=1, sales=1, revenue=Decimal("3.00"), unique_viewers=1),
            day_row(product, sunday_29, views=2, sales=2, revenue=Decimal("6.00"), unique_viewers=2),
            day_row(product, monday_30, views=4, unique_viewers=4),
        ]
    )
    # Monday 30th, 02:00 in New York
    series = history.product_histories(
        product_ids=[product.pk], granularity=Granularity.WEEK, last=2, now=utc(2026, 11, 30, 7)
    )[product.pk]

    assert [b.start for b in series] == [monday_23, monday_30]
    assert [(b.views, b.sales, b.revenue) for b in series] == [(3, 3, Decimal("9.00")), (4, 0, Decimal("0"))]
    # distinct viewers over a week cannot come from daily counts: unknown, not summed
    assert [b.unique_viewers for b in series] == [None, None]


@pytest.mark.parametrize(
    "granularity,bound", [(Granularity.HOUR, 744), (Granularity.DAY, 366), (Granularity.WEEK, 104)]
)
def test_last_is_bounded_per_granularity(granularity, bound):
    history.check_last(granularity, 1)
    history.check_last(granularity, bound)
    for wrong in (0, -1, bound + 1):
        with pytest.raises(InvalidRange, match=f"last must be between 1 and {bound} for {granularity.value}"):
            history.check_last(granularity, wrong)


def test_a_window_is_at_most_a_year_at_most_31_days_in_hours_and_never_inverted():
    start = utc(2026, 1, 1)
    history.check_window(Granularity.DAY, start, start + timedelta(days=366))
    history.check_window(Granularity.HOUR, start, start + timedelta(days=31))
    cases = [
        (Granularity.DAY, start, start + timedelta(days=366, seconds=1), "longer than a year"),
        (Granularity.WEEK, start, start + timedelta(days=400), "longer than a year"),
        (Granularity.HOUR, start, start + timedelta(days=31, seconds=1), "longer than 31 days"),
        (Granularity.DAY, start, start, "to must be after from"),
        (Granularity.DAY, start, start - timedelta(days=1), "to must be after from"),
        (Granularity.DAY, datetime(2026, 1, 1), start + timedelta(days=1), "from needs a UTC offset"),
    ]
    for granularity, a, b, message in cases:
        with pytest.raises(InvalidRange, match=message):
            history.check_window(granularity, a, b)


def test_a_sellers_series_sums_only_their_products_over_whole_periods():
    seller, other = make_user(), make_user()
    mine, also_mine, theirs = make_product(seller=seller), make_product(seller=seller), make_product(seller=other)
    DailyMetrics.objects.bulk_create(
        [
            day_row(mine, utc(2026, 11, 10), views=2, revenue=Decimal("5.00"), unique_viewers=2),
            day_row(also_mine, utc(2026, 11, 10), views=3, revenue=Decimal("1.50"), unique_viewers=3),
            day_row(also_mine, utc(2026, 11, 12), views=1),
            day_row(theirs, utc(2026, 11, 10), views=1000),
            day_row(mine, utc(2026, 11, 13), views=1000),  # starts at `to`: outside
        ]
    )
    # from mid-day: the window widens to the whole of November 10th
    series = history.seller_series(
        seller_id=seller.pk, granularity=Granularity.DAY, start=utc(2026, 11, 10, 12), end=utc(2026, 11, 13)
    )
    assert [(b.start.day, b.views) for b in series] == [(10, 5), (11, 0), (12, 1)]
    assert [b.revenue for b in series] == [Decimal("6.50"), 0, 0]
    assert all(b.unique_viewers is None for b in series)  # a visitor of two products is one visitor
    totals = history.window_totals(series)
    assert (totals.views, totals.revenue, totals.unique_viewers) == (6, Decimal("6.50"), None)


def test_top_products_rank_by_the_window_and_break_ties_by_id():
    seller = make_user()
    a, b, c, d = (make_product(seller=seller) for _ in range(4))
    day = utc(2026, 11, 20)
    DailyMetrics.objects.bulk_create(
        [
            day_row(a, day, views=10, sales=1, clicks=5, revenue=Decimal("10.00")),
            day_row(b, day, views=10, sales=5, clicks=5, revenue=Decimal("2.00")),
            day_row(c, day, views=4, sales=2, clicks=9, revenue=Decimal("10.00")),
            day_row(d, day, views=0, sales=1, clicks=0, revenue=Decimal("0.00")),
            day_row(d, utc(2026, 10, 1), views=500),  # outside the window
        ]
    )

    def top(by, first=10):
        found = history.top_products(
            seller_id=seller.pk,
            granularity=Granularity.DAY,
            start=utc(2026, 11, 1),
            end=utc(2026, 12, 1),
            by=by,
            first=first,
        )
        return [r.product.pk for r in found]

    assert top(Ranking.VIEWS) == [a.pk, b.pk, c.pk, d.pk]  # a and b tie at 10: lower id first
    assert top(Ranking.CLICKS) == [c.pk, a.pk, b.pk, d.pk]
    assert top(Ranking.SALES) == [b.pk, c.pk, a.pk, d.pk]
    assert top(Ranking.REVENUE) == [a.pk, c.pk, b.pk, d.pk]
    assert top(Ranking.CONVERSION) == [b.pk, c.pk, a.pk, d.pk]  # 0.5, 0.5 (tie: id), 0.1, 0 without views
    assert top(Ranking.VIEWS, first=2) == [a.pk, b.pk]
