"""``python manage.py rebuild_metric_buckets --since DATETIME_OR_DATE [--batch-size N] [--force]``.

Recomputes the hourly and daily buckets (unique viewers included) from the activity rows that
remain, from the day holding ``--since`` (in ``METRICS_TIME_ZONE``) to today, while tracking goes
on: one short transaction per day and chunk of products (``tracking.rebuild`` says why nothing
is lost). Refuses to start before the first day whose activity is complete (``--force`` does).
"""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from tracking.buckets import day_start, metrics_zone
from tracking.rebuild import UnsafeRebuild, rebuild


def parse_since(value: str) -> datetime:
    """A date (its midnight in METRICS_TIME_ZONE) or a datetime (naive: in METRICS_TIME_ZONE)."""
    from django.conf import settings

    zone = metrics_zone(settings.METRICS_TIME_ZONE)
    try:
        moment = parse_datetime(value)
        if moment is None:
            day = parse_date(value)
            if day is None:
                raise ValueError
            moment = datetime(day.year, day.month, day.day)
    except ValueError:
        raise CommandError(f"--since {value!r} is neither a date (2026-11-01) nor a datetime.") from None
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=zone)


class Command(BaseCommand):
    help = "Rebuild hourly and daily metrics buckets (and unique viewers) from the remaining activity rows."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, metavar="DATETIME_OR_DATE", help="first day to rebuild")
        parser.add_argument("--batch-size", type=int, default=1000, metavar="N", help="products per transaction")
        parser.add_argument("--force", action="store_true", help="rebuild even days whose activity was pruned")

    def handle(self, *args, since: str, batch_size: int, force: bool, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        start = parse_since(since)
        if start > timezone.now():
            raise CommandError(f"--since {since!r} is in the future.")
        self.stdout.write(f"Rebuilding buckets from {day_start(start):%Y-%m-%d %H:%M %Z} ...")
        try:
            written = rebuild(start, batch_size=batch_size, force=force, progress=self._progress)
        except UnsafeRebuild as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Rebuilt {written:,} buckets."))

    def _progress(self, day: datetime, chunks: int, written: int) -> None:
        self.stdout.write(f"  day {day:%Y-%m-%d %H:%M %Z}: {chunks} product chunks, {written:,} buckets so far")
        self.stdout.flush()
