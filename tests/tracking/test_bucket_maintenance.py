"""prune_activity, rebuild_metric_buckets and reconcile_metrics on the buckets.

Events are placed relative to now (retention is), over ten days, by several visitors.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.factories import make_user
from tests.tracking.bucket_model import model_buckets, stored_buckets
from tests.tracking.helpers import make_products, run_in_threads
from tracking.apply import apply_events
from tracking.buckets import day_start
from tracking.events import TrackingEvent
from tracking.models import ActivityEvent, ActivityRetention, BucketViewer, DailyMetrics, EventKind, HourlyMetrics
from tracking.rebuild import earliest_rebuildable_day
from tracking.reconcile import find_bucket_drift, find_drift, fix_drift

pytestmark = pytest.mark.django_db


def random_events(products, users, *, seed: int, count: int = 300, days: int = 10) -> list[TrackingEvent]:
    rng = random.Random(seed)
    now = timezone.now()
    kinds = [k.value for k in EventKind]
    out = []
    for _ in range(count):
        kind = rng.choice(kinds + ["view"] * 4)
        who = rng.randrange(4)
        identity = {"user_id": users[who].pk} if who < 2 else {"visitor_key": f"s{who}"} if who == 2 else {}
        quantity = rng.randint(1, 3)
        out.append(
            TrackingEvent(
                kind,
                rng.choice(products).pk,
                quantity=quantity,
                amount=Decimal("1.25") * quantity if kind == "purchase" else None,
                created_at=now - timedelta(minutes=rng.randrange(days * 24 * 60)),
                **identity,
            )
        )
    return out


def apply_in_batches(events, size=37):
    for i in range(0, len(events), size):
        apply_events(events[i : i + size])


@pytest.fixture
def tracked(settings):
    """Ten days of random events over three products, applied batch by batch; hourly retention 4 days."""
    settings.METRICS_HOURLY_RETENTION_DAYS = 4
    settings.METRICS_TIME_ZONE = "Europe/Berlin"
    products, users = make_products(3), [make_user(), make_user()]
    events = random_events(products, users, seed=7)
    apply_in_batches(events)
    return products, events


def within_retention(buckets: dict, *, hours_from, days_from) -> dict:
    return {
        "hourly": {k: v for k, v in buckets["hourly"].items() if k[1] >= hours_from},
        "daily": {k: v for k, v in buckets["daily"].items() if k[1] >= days_from},
    }


def test_prune_deletes_only_old_activity_and_hourly_buckets_past_retention(tracked, capsys):
    products, events = tracked
    daily_before = stored_buckets(products)["daily"]
    now = timezone.now()

    call_command("prune_activity", older_than=6, batch_size=25)

    out = capsys.readouterr().out
    assert "activity rows: deleted" in out and "hourly buckets: deleted" in out  # progress, batch by batch
    assert not ActivityEvent.objects.filter(created_at__lt=now - timedelta(days=6)).exists()
    assert ActivityEvent.objects.count() == sum(1 for e in events if e.created_at >= now - timedelta(days=6))
    assert not HourlyMetrics.objects.filter(start__lt=now - timedelta(days=4)).exists()
    assert HourlyMetrics.objects.filter(start__gte=now - timedelta(days=3)).exists()
    assert not BucketViewer.objects.filter(start__lt=int((now - timedelta(days=4)).timestamp())).exists()
    assert stored_buckets(products)["daily"] == daily_before  # kept forever
    assert (
        now - timedelta(days=6) <= ActivityRetention.objects.get().pruned_before <= timezone.now() - timedelta(days=6)
    )


def test_dry_run_counts_and_deletes_nothing(tracked, capsys):
    products, events = tracked
    old = sum(1 for e in events if e.created_at < timezone.now() - timedelta(days=6))
    call_command("prune_activity", older_than=6, dry_run=True)
    assert f"would delete {old:,} activity rows" in capsys.readouterr().out
    assert ActivityEvent.objects.count() == len(events) and not ActivityRetention.objects.exists()


def test_check_fails_while_old_rows_exist_and_passes_after_pruning(tracked):
    with pytest.raises(SystemExit) as exit_info:
        call_command("prune_activity", older_than=6, check=True)
    assert exit_info.value.code == 1
    call_command("prune_activity", older_than=6)
    call_command("prune_activity", older_than=6, check=True)  # exits 0


@pytest.mark.parametrize(
    "options, message",
    [
        ({"older_than": -1}, "--older-than must be 0 or more days"),
        ({"older_than": 3, "batch_size": 0}, "--batch-size must be at least 1"),
    ],
)
def test_prune_refuses_bad_input(options, message):
    with pytest.raises(CommandError, match=message):
        call_command("prune_activity", **options)


@pytest.mark.parametrize("since", ["yesterday", "2026-13-45", "2999-01-01"])
def test_rebuild_refuses_bad_input(since):
    with pytest.raises(CommandError, match="--since"):
        call_command("rebuild_metric_buckets", since=since)


def test_prune_then_rebuild_keeps_buckets_equal(tracked, capsys):
    # Given pruned activity (six days kept) and hourly buckets (four days kept)
    products, events = tracked
    call_command("prune_activity", older_than=6)
    pruned = stored_buckets(products)
    first = earliest_rebuildable_day()

    # When the buckets of the complete days are wiped and rebuilt from the remaining activity
    HourlyMetrics.objects.all().delete()
    DailyMetrics.objects.filter(start__gte=first).delete()
    BucketViewer.objects.all().delete()
    call_command("rebuild_metric_buckets", since=first.isoformat(), batch_size=2)

    # Then every bucket is back as it was, unique viewers included, and later batches count on
    assert "buckets so far" in capsys.readouterr().out
    assert stored_buckets(products) == pruned
    assert find_bucket_drift() == []
    late = random_events(products, [make_user(), make_user()], seed=8, count=40, days=1)
    apply_events(late)
    kept = [e for e in events if e.created_at >= timezone.now() - timedelta(days=6)]
    expected = model_buckets(kept + late)
    hours_from = timezone.now() - timedelta(days=4)
    assert within_retention(stored_buckets(products), hours_from=hours_from, days_from=first) == within_retention(
        expected, hours_from=hours_from, days_from=first
    )


def test_rebuild_refuses_to_start_before_the_complete_days(tracked):
    call_command("prune_activity", older_than=6)
    first = earliest_rebuildable_day()
    with pytest.raises(CommandError, match="was pruned"):
        call_command("rebuild_metric_buckets", since=(first - timedelta(days=1)).date().isoformat())


def test_rebuild_of_an_unpruned_log_equals_what_the_batches_wrote(tracked):
    products, events = tracked
    before = stored_buckets(products)
    BucketViewer.objects.all().delete()
    HourlyMetrics.objects.filter(start__gte=timezone.now() - timedelta(days=3)).update(views=0, unique_viewers=0)
    DailyMetrics.objects.update(unique_viewers=0)
    call_command("rebuild_metric_buckets", since=min(e.created_at for e in events).date().isoformat())
    assert stored_buckets(products) == before == model_buckets(events)


def before_first(buckets):
    return min(k[1] for k in buckets["daily"])


def test_reconcile_finds_and_rebuilds_drifting_buckets(tracked, capsys):
    # Given a daily bucket off by 3 views, an hourly bucket lost, and activity never bucketed
    products, events = tracked
    before = stored_buckets(products)
    day = DailyMetrics.objects.filter(product=products[0]).order_by("start").last()
    DailyMetrics.objects.filter(pk=day.pk).update(views=day.views + 3)
    HourlyMetrics.objects.filter(product=products[1]).order_by("-start").first().delete()

    # When reconciled
    drift = [d for d in find_drift() if d.target == "bucket"]
    assert any(d.product_id == products[0].pk and d.field.startswith("views of the daily") for d in drift)
    assert any(d.product_id == products[1].pk and "hourly" in d.field for d in drift)
    with pytest.raises(SystemExit):
        call_command("reconcile_metrics")
    assert "bucket " in capsys.readouterr().out
    call_command("reconcile_metrics", fix=True)

    # Then the buckets are back, and no drift remains
    assert stored_buckets(products) == before
    assert find_drift() == []


def test_reconcile_fills_the_buckets_of_activity_from_before_buckets_existed(settings):
    products = make_products(1)
    when = day_start(timezone.now()) - timedelta(days=2, hours=-5)
    ActivityEvent.objects.create(kind="view", product=products[0], visitor_key="old", created_at=when)
    assert {d.field.split(" of ")[0] for d in find_bucket_drift()} == {"views", "unique_viewers"}
    fix_drift(find_drift())
    assert DailyMetrics.objects.get(product=products[0]).unique_viewers == 1
    assert find_drift() == []


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_racing_live_batches_loses_and_doubles_nothing(settings):
    # Given events already applied, and more arriving while the rebuild runs
    settings.METRICS_HOURLY_RETENTION_DAYS = 4
    products, users = make_products(4), [make_user(), make_user()]
    old = random_events(products, users, seed=11, count=200, days=2)
    new = random_events(products, users, seed=12, count=200, days=2)
    apply_in_batches(old)

    # When batches and the rebuild run side by side
    def live():
        apply_in_batches(new, size=10)

    def rebuild():
        call_command("rebuild_metric_buckets", since=min(e.created_at for e in old).isoformat(), batch_size=1)

    assert run_in_threads([live, rebuild]) == []

    # Then every bucket is what the events say
    expected = model_buckets(old + new)
    assert stored_buckets(products) == within_retention(
        expected, hours_from=timezone.now() - timedelta(days=5), days_from=before_first(expected)
    )
