"""Engagement models: one ProductMetrics row per product, and the activity log."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from marketplace.models import Product


class EventKind(models.TextChoices):
    """Every kind of engagement event; the executor, the mutations and the admin import this."""

    IMPRESSION = "impression", "Impression"
    VIEW = "view", "View"
    CLICK = "click", "Click"
    FAVORITE = "favorite", "Favorite"
    UNFAVORITE = "unfavorite", "Unfavorite"
    CART_ADD = "cart_add", "Cart addition"
    CART_REMOVE = "cart_remove", "Cart removal"
    PURCHASE = "purchase", "Purchase"


COUNTER_FIELDS = (
    "total_impressions",
    "total_views",
    "total_clicks",
    "total_favorites",
    "total_cart_additions",
    "total_cart_removals",
    "total_sales",
    "total_revenue",
)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


class ProductMetrics(models.Model):
    """Running totals for one product. The product is the primary key: one row, at most."""

    product = models.OneToOneField(Product, primary_key=True, related_name="metrics", on_delete=models.CASCADE)
    total_impressions = models.BigIntegerField(default=0)
    total_views = models.BigIntegerField(default=0)
    total_clicks = models.BigIntegerField(default=0)
    total_favorites = models.BigIntegerField(default=0)
    total_cart_additions = models.BigIntegerField(default=0)
    total_cart_removals = models.BigIntegerField(default=0)
    total_sales = models.BigIntegerField(default=0)
    total_revenue = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal("0"))
    # Recent engagement in forward-decay form (tracking.trending): ordering by it is ordering
    # by the time-decayed score at any instant; its value alone means nothing.
    trending_score = models.FloatField(default=0.0, db_default=0.0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "product metrics"
        constraints = [
            models.CheckConstraint(
                condition=Q(total_impressions__gte=0)
                & Q(total_views__gte=0)
                & Q(total_clicks__gte=0)
                & Q(total_cart_additions__gte=0)
                & Q(total_cart_removals__gte=0)
                & Q(total_sales__gte=0)
                & Q(total_revenue__gte=0),
                name="metrics_counters_gte_0",
            )
        ]
        indexes = [
            # In the listing's sort direction, id included: MOST_VIEWED / BEST_SELLING walk these.
            models.Index(fields=["-total_views", "-product"], name="metrics_views_desc"),
            models.Index(fields=["-total_sales", "-product"], name="metrics_sales_desc"),
            models.Index(fields=["-trending_score", "-product"], name="metrics_trending_desc"),
        ]

    def __str__(self) -> str:
        return f"metrics of product {self.product_id}"

    # The rate formulas live here and nowhere else. Cart counters are units, as sales are:
    # adding 3 mugs is 3 cart additions; updateCartItem counts the difference (3 -> 5 adds 2,
    # 5 -> 1 removes 4, to 0 removes the rest); removing a line removes its units; merging an
    # anonymous cart at login moves units without counting them again (units the merge must
    # drop count as removed). So cart_addition_rate is units put in carts per view.
    @property
    def click_through_rate(self) -> float:
        return _ratio(self.total_clicks, self.total_impressions)

    @property
    def cart_addition_rate(self) -> float:
        return _ratio(self.total_cart_additions, self.total_views)

    @property
    def conversion_rate(self) -> float:
        return _ratio(self.total_sales, self.total_views)

    @property
    def favorite_rate(self) -> float:
        return _ratio(self.total_favorites, self.total_views)


class ActivityEvent(models.Model):
    """One engagement event (the seed called it UserClick)."""

    kind = models.CharField(max_length=16, choices=EventKind.choices)
    # No index of their own: (product, created_at) and (user, id) below lead with them, and
    # every index is one more B-tree insert per event (the drain's largest write).
    product = models.ForeignKey(Product, related_name="activity_events", on_delete=models.CASCADE, db_index=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", on_delete=models.SET_NULL, db_index=False
    )
    visitor_key = models.CharField(max_length=64, null=True, blank=True)
    source = models.CharField(max_length=64, blank=True, default="")
    quantity = models.PositiveIntegerField(default=1)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="event_quantity_gt_0")]
        indexes = [
            models.Index(fields=["product", "created_at"], name="event_product_time"),
            # A user's rows in id order: the data export pages along it, the erasure finds them.
            # Partial: most events are anonymous, and an anonymous event writes no entry here.
            models.Index(fields=["user", "id"], name="event_user_id", condition=Q(user__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of product {self.product_id}"


class AppliedBatch(models.Model):
    """Ids of tracking batches already applied, written in the batch's own transaction:
    a batch delivered twice (Celery redelivery, a retry after an ambiguous commit)
    finds its id here and changes nothing."""

    batch_id = models.CharField(max_length=36, primary_key=True)
    events = models.PositiveIntegerField(default=0)
    applied_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return self.batch_id


class ProcessStats(models.Model):
    """One server process's tracking statistics, as it last published them.

    Each server process upserts its row every ``TRACKING_STATS_INTERVAL`` seconds, so that any
    process (and ``test_async_tracking --status``) can report the whole deployment: rows not
    updated for ``TRACKING_STATS_STALE_AFTER`` seconds belong to processes that died and are
    ignored. A process that stops cleanly deletes its row. The database, not the cache: the
    default cache is per process, and the database is the one store every process shares.
    """

    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField(db_index=True)
    enqueued = models.BigIntegerField(default=0)
    processed = models.BigIntegerField(default=0)
    dropped = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    retried = models.BigIntegerField(default=0)
    discarded = models.BigIntegerField(default=0)
    batches = models.BigIntegerField(default=0)
    rate_limited = models.BigIntegerField(default=0)
    bot_events = models.BigIntegerField(default=0)
    queue_depth = models.BigIntegerField(default=0)
    oldest_pending_age = models.FloatField(default=0.0)
    last_batch_duration = models.FloatField(default=0.0)
    last_batch_size = models.BigIntegerField(default=0)
    workers_alive = models.IntegerField(default=0)
    unconfirmed = models.BigIntegerField(default=0)
    resent = models.BigIntegerField(default=0)
    released = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "process stats"
        constraints = [models.UniqueConstraint(fields=["host", "pid"], name="process_stats_host_pid")]

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"


class MetricsBucket(models.Model):
    """The counters of one product over one period (``start`` up to the next period).

    Written by the same transaction as the totals (``tracking.apply``), so a bucket never
    counts an event the totals do not. Counters are what happened in the period, not running
    totals: favorites are split into added and removed, cart counters are units.
    ``unique_viewers`` counts distinct visitors in the period, so a day's value is not the
    sum of its hours."""

    product = models.ForeignKey(Product, related_name="+", on_delete=models.CASCADE, db_index=False)
    start = models.DateTimeField()
    impressions = models.BigIntegerField(default=0)
    views = models.BigIntegerField(default=0)
    clicks = models.BigIntegerField(default=0)
    favorites_added = models.BigIntegerField(default=0)
    favorites_removed = models.BigIntegerField(default=0)
    cart_additions = models.BigIntegerField(default=0)
    cart_removals = models.BigIntegerField(default=0)
    sales = models.BigIntegerField(default=0)
    unique_viewers = models.BigIntegerField(default=0)
    revenue = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal("0"))

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"metrics of product {self.product_id} from {self.start:%Y-%m-%d %H:%M}"


BUCKET_COUNTERS = (
    "impressions",
    "views",
    "clicks",
    "favorites_added",
    "favorites_removed",
    "cart_additions",
    "cart_removals",
    "sales",
    "unique_viewers",
    "revenue",
)


class HourlyMetrics(MetricsBucket):
    """One hour (UTC) of one product; kept ``METRICS_HOURLY_RETENTION_DAYS``."""

    class Meta:
        verbose_name_plural = "hourly metrics"
        constraints = [models.UniqueConstraint(fields=["product", "start"], name="hourly_metrics_product_start")]
        indexes = [models.Index(fields=["start"], name="hourly_metrics_start")]


class DailyMetrics(MetricsBucket):
    """One day of one product, the day starting at midnight in ``METRICS_TIME_ZONE``; kept forever."""

    class Meta:
        verbose_name_plural = "daily metrics"
        constraints = [models.UniqueConstraint(fields=["product", "start"], name="daily_metrics_product_start")]
        indexes = [models.Index(fields=["start"], name="daily_metrics_start")]


class ErasedFavorites(models.Model):
    """Favorites of erased accounts that ``total_favorites`` still counts.

    Erasing an account (``deleteAccount``) removes its favorites without unfavorite events:
    counters and buckets do not change when someone leaves. ``reconcile_metrics`` compares
    ``total_favorites`` with the Favorite rows plus this count, so it does not see drift."""

    product = models.OneToOneField(Product, primary_key=True, related_name="+", on_delete=models.CASCADE)
    count = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "erased favorites"

    def __str__(self) -> str:
        return f"{self.count} erased favorites of product {self.product_id}"


class TrendingEpoch(models.Model):
    """The one row that says from when trending scores grow (tracking.trending).

    Every batch reads it in its transaction (with a share lock on PostgreSQL), and a rebase
    moves it forward while dividing every score by the same factor under an exclusive lock,
    so no batch ever adds to scores on the old scale after the rebase."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    epoch = models.DateTimeField()

    def __str__(self) -> str:
        return f"trending epoch {self.epoch:%Y-%m-%d %H:%M}"


class TrackedEventId(models.Model):
    """Client event ids already counted (tracking.dedup): one row per (visitor and event id,
    product), written in the batch's own transaction, kept ``EVENT_ID_RETENTION``."""

    key = models.CharField(max_length=32)  # hash of (visitor, client event id)
    product_id = models.BigIntegerField()
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "product_id"], name="tracked_event_id_key_product")]

    def __str__(self) -> str:
        return f"{self.key} / product {self.product_id}"


class BucketViewer(models.Model):
    """A visitor already counted in ``unique_viewers`` of one product's hour or day.

    Exact distinct counts: a batch inserts its (product, period, start, visitor) rows with
    ``ON CONFLICT DO NOTHING RETURNING``, and only the rows that are new add to the bucket, in
    the batch's own transaction. ``start`` is the bucket's start in epoch seconds and
    ``visitor`` a keyed 64-bit hash of the visitor (``tracking.buckets.visitor_hash``): small
    rows, no personal data in clear. Rows are needed only while events of their period can
    still arrive, and are pruned with the hourly buckets (``prune_activity``)."""

    class Period(models.IntegerChoices):
        HOUR = 1, "Hour"
        DAY = 2, "Day"

    pk = models.CompositePrimaryKey("product_id", "period", "start", "visitor")
    product = models.ForeignKey(Product, related_name="+", on_delete=models.CASCADE, db_index=False)
    period = models.PositiveSmallIntegerField(choices=Period.choices)
    start = models.BigIntegerField()
    visitor = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["start"], name="bucket_viewer_start")]

    def __str__(self) -> str:
        return f"viewer {self.visitor} of product {self.product_id} ({self.get_period_display()} {self.start})"


class ActivityRetention(models.Model):
    """Up to when the activity log was pruned (one row, written by ``prune_activity`` before it
    deletes): activity rows older than ``pruned_before`` may be gone, so buckets before it can
    be neither rebuilt nor checked from them. No row: nothing was ever pruned."""

    pruned_before = models.DateTimeField()

    def __str__(self) -> str:
        return f"activity pruned before {self.pruned_before:%Y-%m-%d %H:%M}"
