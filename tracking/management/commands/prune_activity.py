"""``python manage.py prune_activity --older-than DAYS [--dry-run] [--batch-size N] [--check]``.

Deletes raw activity rows older than DAYS days, and hourly buckets and unique-viewer rows older
than ``METRICS_HOURLY_RETENTION_DAYS`` (``--keep-hourly`` leaves those alone); daily buckets are
never pruned. Batches of ``--batch-size`` rows, each in its own short transaction (see
``tracking.retention``), with a progress line per batch. ``--check`` deletes nothing and exits 1
when activity rows older than the cutoff exist: a deploy script's guard that pruning runs.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tracking import retention


class Command(BaseCommand):
    help = "Delete activity rows older than --older-than days and hourly buckets past their retention, in batches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS", help="age of the rows to delete")
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
        parser.add_argument("--batch-size", type=int, default=10_000, metavar="N", help="rows per transaction (10000)")
        parser.add_argument(
            "--check", action="store_true", help="exit 1 when older activity rows exist; delete nothing"
        )
        parser.add_argument("--keep-hourly", action="store_true", help="leave hourly buckets and viewer rows alone")

    def handle(self, *args, older_than: int, dry_run: bool, batch_size: int, check: bool, keep_hourly: bool, **opts):
        if older_than < 0:
            raise CommandError("--older-than must be 0 or more days.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        cutoff = retention.activity_cutoff(older_than)
        when = f"{cutoff:%Y-%m-%d %H:%M} UTC"
        if check:
            if retention.old_activity_exists(cutoff):
                self.stderr.write(
                    f"Activity rows older than {older_than} days (before {when}) exist: run prune_activity."
                )
                sys.exit(1)
            self.stdout.write(self.style.SUCCESS(f"No activity rows older than {older_than} days (before {when})."))
            return
        if dry_run:
            counts = retention.count_old(cutoff)
            if keep_hourly:
                counts = {"activity rows": counts["activity rows"]}
            listed = ", ".join(f"{n:,} {what}" for what, n in counts.items())
            self.stdout.write(f"Dry run: would delete {listed} (activity before {when}).")
            return
        activity = retention.prune_activity(cutoff, batch_size=batch_size, progress=self._progress)
        message = f"Deleted {activity:,} activity rows older than {older_than} days"
        if not keep_hourly:
            hourly, viewers = retention.prune_hourly(batch_size=batch_size, progress=self._progress)
            message += f", {hourly:,} hourly buckets and {viewers:,} viewer rows past the hourly retention"
        self.stdout.write(self.style.SUCCESS(message + "."))

    def _progress(self, what: str, batch: int, total: int) -> None:
        self.stdout.write(f"  {what}: deleted {batch:,} ({total:,} so far)")
        self.stdout.flush()
