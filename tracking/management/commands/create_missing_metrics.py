"""``manage.py create_missing_metrics``: give every product its ProductMetrics row.

Products created through the app get their row at once (``tracking.receivers``);
this backfills the ones that arrived another way: imports, raw SQL, data older
than the receivers. ``--check`` turns it into a CI or deploy gate. How the
batches stay short, flat in memory and safe beside live traffic is explained
in ``tracking.backfill``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from tqdm import tqdm

from marketplace.management.arguments import non_negative_float, positive_int
from tracking.backfill import Batch, Coverage, backfill_missing_metrics, measure_coverage

DEFAULT_PROGRESS_SECONDS = 5.0


class Command(BaseCommand):
    help = (
        "Create the missing ProductMetrics rows in short batches, safe while the API writes. "
        "--dry-run reports what it would do; --check exits 1 when some product has no metrics."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=None,
            metavar="N",
            help=f"products per batch, each its own transaction (default: METRICS_BATCH_SIZE, "
            f"now {settings.METRICS_BATCH_SIZE:,})",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--dry-run", action="store_true", help="report how many rows would be created; write nothing")
        mode.add_argument(
            "--check", action="store_true", help="write nothing; exit 1 when some product has no metrics, 0 otherwise"
        )
        parser.add_argument(
            "--progress-every",
            type=non_negative_float,
            default=DEFAULT_PROGRESS_SECONDS,
            metavar="SECONDS",
            help=f"seconds between progress lines when output is not a terminal (default {DEFAULT_PROGRESS_SECONDS:g})",
        )

    def handle(
        self, *args, batch_size: int | None, dry_run: bool, check: bool, progress_every: float, **options
    ) -> None:
        before = measure_coverage()
        self.stdout.write(str(before))
        if check:
            self._check(before)
        elif dry_run:
            self.stdout.write(f"Dry run: would create {before.missing:,} ProductMetrics rows. Nothing was written.")
        else:
            self._backfill(before, batch_size or settings.METRICS_BATCH_SIZE, progress_every, options["verbosity"])

    def _check(self, coverage: Coverage) -> None:
        if not coverage.complete:
            raise CommandError(
                f"{coverage.missing:,} products have no metrics row; run create_missing_metrics to create them.",
                returncode=1,
            )
        self.stdout.write(self.style.SUCCESS("Every product has its metrics row."))

    def _backfill(self, before: Coverage, batch_size: int, progress_every: float, verbosity: int) -> None:
        # Counts come from one snapshot and every metrics row has a product (foreign key),
        # so a complete coverage needs no scan: a second run returns at once, even at 10M products.
        if before.complete:
            self.stdout.write(self.style.SUCCESS("Nothing to create: every product has its metrics row."))
        else:
            started = time.perf_counter()
            with self._progress(before.total, progress_every, verbosity) as on_batch:
                created = backfill_missing_metrics(batch_size=batch_size, on_batch=on_batch)
            elapsed = time.perf_counter() - started
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created {created:,} ProductMetrics rows in {elapsed:.1f} s ({_rate(created, elapsed)} rows/s)."
                )
            )
        self.stdout.write(str(measure_coverage()))

    def _progress(self, total: int, every: float, verbosity: int) -> _Progress:
        if verbosity < 1:
            return _Progress()
        if self.stdout.isatty():
            return _BarProgress(self.stdout, total)
        return _LineProgress(self.stdout, total, every)


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "-"


class _Progress:
    """Progress that says nothing (verbosity 0). A context manager yielding the per-batch callback.

    Progress counts products checked, out of all products: batches cost the same
    whether their products lack rows or not, so this is what tracks time.
    """

    def __enter__(self) -> Callable[[Batch], None]:
        return self.update

    def __exit__(self, *exc_info) -> None:
        self.close()

    def update(self, batch: Batch) -> None:
        pass

    def close(self) -> None:
        pass


class _BarProgress(_Progress):
    """A tqdm bar, for a person watching a terminal."""

    def __init__(self, stdout: OutputWrapper, total: int) -> None:
        self.created = 0
        self.bar = tqdm(total=total, unit=" products", unit_scale=True, dynamic_ncols=True, file=_RawWriter(stdout))

    def update(self, batch: Batch) -> None:
        self.created += batch.created
        self.bar.set_postfix_str(f"{self.created:,} created", refresh=False)
        self.bar.update(batch.checked)

    def close(self) -> None:
        self.bar.close()


class _LineProgress(_Progress):
    """Plain lines, for logs and pipes: one every ``every`` seconds at most, and one at the end."""

    def __init__(self, stdout: OutputWrapper, total: int, every: float) -> None:
        self.stdout, self.total, self.every = stdout, total, every
        self.checked = self.created = 0
        self.reported = -1
        self.started = self.last_line = time.perf_counter()

    def update(self, batch: Batch) -> None:
        self.checked += batch.checked
        self.created += batch.created
        now = time.perf_counter()
        if now - self.last_line >= self.every:
            self._line(now)

    def close(self) -> None:
        if self.reported != self.checked:
            self._line(time.perf_counter())

    def _line(self, now: float) -> None:
        self.last_line, self.reported = now, self.checked
        # Products created during the run are checked too: the count may pass the total.
        percent = min(self.checked * 100 / self.total, 100.0) if self.total else 100.0
        self.stdout.write(
            f"Progress: {self.checked:,}/{self.total:,} products checked ({percent:.1f}%), "
            f"{self.created:,} rows created, {_rate(self.created, now - self.started)} rows/s"
        )


class _RawWriter:
    """Hands tqdm's carriage-return updates to the command's stdout without the newline it appends."""

    def __init__(self, stdout: OutputWrapper) -> None:
        self.stdout = stdout

    def write(self, text: str) -> None:
        self.stdout.write(text, ending="")

    def flush(self) -> None:
        self.stdout.flush()
