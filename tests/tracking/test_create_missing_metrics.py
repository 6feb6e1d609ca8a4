"""``manage.py create_missing_metrics``: the backfill an operator runs after an import.

Stories of what it prints (coverage, progress), what it writes (exactly the missing
rows, never a counter), what ``--dry-run`` and ``--check`` promise, the exit codes
a shell or CI sees, and how it behaves beside live writers.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.db.models import F
from django.utils import timezone

import tracking.backfill
from marketplace.models import Product
from tests.factories import strip_metrics
from tests.tracking.helpers import make_products, run_in_threads, run_manage
from tracking.backfill import Coverage, backfill_missing_metrics
from tracking.metrics import ensure_metrics_exist
from tracking.models import ProductMetrics

COMMAND = "create_missing_metrics"


def run(*args: str, **options) -> str:
    out = io.StringIO()
    call_command(COMMAND, *args, stdout=out, **options)
    return out.getvalue()


def progress_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Progress: ")]


def catalogue(total: int, *, missing: int, counted: int = 0) -> list[Product]:
    """``total`` products, the first ``missing`` without metrics, the next ``counted`` with 7 views."""
    products = make_products(total)
    strip_metrics(*products[:missing])
    ProductMetrics.objects.filter(product_id__in=[p.pk for p in products[missing : missing + counted]]).update(
        total_views=7
    )
    return products


def metrics_ids() -> set[int]:
    return set(ProductMetrics.objects.values_list("product_id", flat=True))


# --- what it prints and what it writes ---------------------------------------------


@pytest.mark.django_db
def test_it_creates_exactly_the_missing_rows_and_reports_coverage_before_and_after():
    # Given 20 products: 8 without metrics, 5 with 7 views counted
    products = catalogue(20, missing=8, counted=5)

    # When the backfill runs
    output = run()

    # Then coverage is printed before and after, and the 8 rows were created, no more
    lines = output.splitlines()
    assert lines[0] == "Coverage: 12/20 (60.0%)"
    assert lines[-1] == "Coverage: 20/20 (100.0%)"
    assert "Created 8 ProductMetrics rows in " in output
    assert metrics_ids() == {p.pk for p in products}
    # And the counted products kept their views
    assert ProductMetrics.objects.filter(total_views=7).count() == 5


@pytest.mark.django_db
def test_a_second_run_creates_nothing():
    # Given a catalogue the backfill has already completed
    catalogue(10, missing=4)
    run()

    # When it runs again
    output = run()

    # Then it has nothing to do and says so
    assert output.splitlines() == [
        "Coverage: 10/10 (100.0%)",
        "Nothing to create: every product has its metrics row.",
        "Coverage: 10/10 (100.0%)",
    ]
    assert ProductMetrics.objects.count() == 10


@pytest.mark.django_db
def test_ids_with_gaps_are_walked_to_the_end_in_batches():
    # Given 25 products without metrics whose ids have holes (deleted products)
    products = catalogue(30, missing=30)
    Product.objects.filter(pk__in=[p.pk for p in products[::6]]).delete()
    remaining = set(Product.objects.values_list("pk", flat=True))

    # When the backfill runs 4 products at a time, reporting every batch
    output = run("--batch-size", "4", "--progress-every", "0")

    # Then every product got its row, in 7 batches (4 x 6 + 1)
    assert metrics_ids() == remaining
    lines = progress_lines(output)
    assert len(lines) == 7
    assert lines[-1].startswith("Progress: 25/25 products checked (100.0%), 25 rows created, ")


@pytest.mark.django_db
def test_the_default_batch_size_comes_from_settings(settings):
    # Given METRICS_BATCH_SIZE of 5 and 12 products without metrics
    settings.METRICS_BATCH_SIZE = 5
    catalogue(12, missing=12)

    # When the backfill runs without --batch-size
    output = run("--progress-every", "0")

    # Then it worked in 3 batches of at most 5
    assert [line.split(",")[0] for line in progress_lines(output)] == [
        "Progress: 5/12 products checked (41.7%)",
        "Progress: 10/12 products checked (83.3%)",
        "Progress: 12/12 products checked (100.0%)",
    ]


@pytest.mark.django_db
def test_zero_products_is_full_coverage():
    # Given an empty catalogue
    assert not Product.objects.exists()

    # When the backfill runs, and the check
    output = run()
    check = run("--check")

    # Then coverage is 100% of nothing, and nothing fails
    assert output.splitlines()[0] == "Coverage: 0/0 (100.0%)"
    assert check.splitlines()[0] == "Coverage: 0/0 (100.0%)"


def test_coverage_reads_like_the_issue_and_never_rounds_up_to_complete():
    assert str(Coverage(covered=9_500, total=10_000)) == "Coverage: 9,500/10,000 (95.0%)"
    assert str(Coverage(covered=9_999, total=10_000)) == "Coverage: 9,999/10,000 (99.9%)"
    assert str(Coverage(covered=0, total=0)) == "Coverage: 0/0 (100.0%)"


# --- progress ------------------------------------------------------------------------


@pytest.mark.django_db
def test_output_that_is_not_a_terminal_gets_plain_progress_lines():
    # Given 30 products without metrics
    catalogue(30, missing=30)

    # When the backfill writes to a pipe, a line per batch
    output = run("--batch-size", "10", "--progress-every", "0")

    # Then plain lines say products checked out of the total, rows created and the rate; no bar
    lines = progress_lines(output)
    assert len(lines) == 3
    assert re.fullmatch(r"Progress: 10/30 products checked \(33\.3%\), 10 rows created, [\d,]+ rows/s", lines[0])
    assert "\r" not in output


@pytest.mark.django_db
def test_progress_lines_are_periodic_not_one_per_batch():
    # Given 30 products without metrics
    catalogue(30, missing=30)

    # When the backfill runs in 10 small batches with the default interval of 5 seconds
    output = run("--batch-size", "3")

    # Then a quick run prints only the closing line, not one per batch
    assert len(progress_lines(output)) == 1


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.django_db
def test_a_terminal_gets_a_progress_bar():
    # Given 30 products without metrics
    catalogue(30, missing=30)

    # When the backfill writes to a terminal
    out = Terminal()
    call_command(COMMAND, "--batch-size", "10", stdout=out)

    # Then a tqdm bar is drawn (carriage returns, a rate, the rows created), and no plain lines
    output = out.getvalue()
    assert "\r" in output and "products/s" in output and "30 created" in output
    assert not progress_lines(output)


# --- --dry-run and --check ------------------------------------------------------------


@pytest.mark.django_db
def test_a_dry_run_reports_what_it_would_create_and_writes_nothing():
    # Given 10 products, 4 without metrics
    catalogue(10, missing=4)

    # When a dry run is asked for
    output = run("--dry-run")

    # Then it reports 4 and creates none
    assert output.splitlines() == [
        "Coverage: 6/10 (60.0%)",
        "Dry run: would create 4 ProductMetrics rows. Nothing was written.",
    ]
    assert ProductMetrics.objects.count() == 6


@pytest.mark.django_db
def test_check_fails_with_exit_code_1_while_rows_are_missing_and_writes_nothing():
    # Given 10 products, 3 without metrics
    catalogue(10, missing=3)

    # When the check runs
    with pytest.raises(CommandError) as failure:
        run("--check")

    # Then it fails with exit code 1, naming how many are missing, and created nothing
    assert failure.value.returncode == 1
    assert "3 products have no metrics row" in str(failure.value)
    assert ProductMetrics.objects.count() == 7


@pytest.mark.django_db
def test_check_passes_when_every_product_has_its_row():
    catalogue(10, missing=0)

    output = run("--check")

    assert output.splitlines() == ["Coverage: 10/10 (100.0%)", "Every product has its metrics row."]


@pytest.mark.django_db(transaction=True)
def test_from_the_shell_check_exits_1_then_the_backfill_then_check_exits_0():
    # Given 10 committed products, 3 without metrics
    catalogue(10, missing=3)

    # When an operator runs the check, the backfill and the check again from a shell
    before = run_manage(COMMAND, "--check")
    backfill = run_manage(COMMAND, "--batch-size", "4", "--progress-every", "0")
    after = run_manage(COMMAND, "--check")

    # Then the first check exits 1 with a clear message, the backfill 0, the second check 0
    assert before.returncode == 1, before.stderr
    assert "CommandError: 3 products have no metrics row" in before.stderr
    assert "Coverage: 7/10 (70.0%)" in before.stdout
    assert backfill.returncode == 0, backfill.stderr
    assert backfill.stdout.splitlines()[0] == "Coverage: 7/10 (70.0%)"
    assert backfill.stdout.splitlines()[-1] == "Coverage: 10/10 (100.0%)"
    assert len(progress_lines(backfill.stdout)) == 3  # a pipe, not a terminal: plain lines
    assert after.returncode == 0, after.stderr
    assert ProductMetrics.objects.count() == 10


# --- bad arguments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "argument --batch-size: 0 must be 1 or more"),
        (["--batch-size", "lots"], "argument --batch-size: 'lots' is not a whole number"),
    ],
)
def test_bad_arguments_from_the_shell_exit_2_with_a_clear_message(args, message):
    # When the command is given a bad argument from a shell
    result = run_manage(COMMAND, *args)

    # Then it exits 2 (a usage error) with a message naming the argument, and no traceback
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "-5"], "argument --batch-size: -5 must be 1 or more"),
        (["--progress-every", "soon"], "argument --progress-every: 'soon' is not a number"),
        (["--progress-every", "-1"], "argument --progress-every: -1 must be 0 or more"),
        (["--check", "--dry-run"], "argument --dry-run: not allowed with argument --check"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(args, message):
    # (call_command turns the parser's exit 2 into a CommandError; the shell path is tested above)
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command(COMMAND, *args)


# --- beside live writers ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_each_batch_is_committed_before_the_next_starts():
    # Given 12 products without metrics, outside any transaction
    catalogue(12, missing=12)
    seen_by_another_connection: list[int] = []

    def count_from_another_thread(_batch) -> None:
        counted = []
        thread = threading.Thread(target=lambda: (counted.append(ProductMetrics.objects.count()), connection.close()))
        thread.start()
        thread.join()
        seen_by_another_connection.append(counted[0])

    # When the backfill runs 4 products at a time
    backfill_missing_metrics(batch_size=4, on_batch=count_from_another_thread)

    # Then after each batch its rows were already visible to another connection: committed
    assert seen_by_another_connection == [4, 8, 12]


@pytest.mark.django_db(transaction=True)
def test_the_backfill_beside_live_writers_loses_no_row_and_no_count():
    # Given 120 products: 90 without metrics, 30 with 7 views counted
    products = catalogue(120, missing=90, counted=30)
    counted_ids = [p.pk for p in products[90:]]
    missing_ids = [p.pk for p in products[:90]]

    # When the backfill runs in small batches while the API counts views and creates rows on read
    def api_counting_views() -> None:
        for _ in range(5):
            ProductMetrics.objects.filter(product_id__in=counted_ids).update(total_views=F("total_views") + 1)

    def api_reading_metrics() -> None:
        for product_id in reversed(missing_ids):
            ensure_metrics_exist(product_id)

    def backfill() -> None:
        call_command(COMMAND, "--batch-size", "7", stdout=io.StringIO())

    errors = run_in_threads([backfill, api_counting_views, api_reading_metrics, backfill])

    # Then nothing failed, every product has one row, and every view counted is there
    assert errors == []
    assert metrics_ids() == {p.pk for p in products}
    assert set(ProductMetrics.objects.filter(product_id__in=counted_ids).values_list("total_views", flat=True)) == {12}
    assert ProductMetrics.objects.filter(product_id__in=missing_ids, total_views=0).count() == 90


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_times_out_on_a_lock_is_tried_again(monkeypatch, caplog):
    # Given 10 products without metrics, and a database whose first write gives up on a lock
    catalogue(10, missing=10)
    failures = iter([OperationalError("database is locked")])

    def now_or_lock_timeout():
        if (failure := next(failures, None)) is not None:
            raise failure
        return timezone.now()

    monkeypatch.setattr(tracking.backfill, "timezone", SimpleNamespace(now=now_or_lock_timeout))

    # When the backfill runs
    with caplog.at_level(logging.WARNING, logger="tracking.backfill"):
        created = backfill_missing_metrics(batch_size=4)

    # Then the failed batch was tried again, logged, and every row exists
    assert created == 10
    assert ProductMetrics.objects.count() == 10
    fourth_id = Product.objects.order_by("pk").values_list("pk", flat=True)[3]
    assert [r.getMessage() for r in caplog.records if r.name == "tracking.backfill"] == [
        f"Backfill batch (0, {fourth_id}] failed (database is locked); trying again"
    ]
