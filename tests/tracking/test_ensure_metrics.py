"""Every product has exactly one ProductMetrics row: the create-on-read helpers.

Stories of ``ensure_metrics_exist`` and ``bulk_ensure_metrics``: what they create,
what they leave alone, how many SQL queries they cost, what they log, and how they
behave when the bulk insert fails or when many callers race for the same rows.
"""

from __future__ import annotations

import logging
import random
import subprocess
import time

import pytest
from django.db import DatabaseError

import tracking.metrics
from tests.factories import strip_metrics
from tests.helpers import is_postgres
from tests.tracking.helpers import ROOT, child_env, make_products, manage, run_in_threads
from tracking.metrics import MetricsHelper, bulk_ensure_metrics, ensure_metrics_exist
from tracking.models import ProductMetrics

LOGGER = "tracking.metrics"


def metrics_ids() -> set[int]:
    return set(ProductMetrics.objects.values_list("product_id", flat=True))


def set_views(products, views: int) -> None:
    ProductMetrics.objects.filter(product_id__in=[p.pk for p in products]).update(total_views=views)


# --- ensure_metrics_exist ---------------------------------------------------------


@pytest.mark.django_db
def test_a_product_without_metrics_gets_a_zeroed_row():
    # Given a product whose metrics row was lost (an import, raw SQL)
    [product] = make_products(1)
    strip_metrics(product)

    # When its metrics are asked for
    metrics = ensure_metrics_exist(product)

    # Then a zeroed row exists for it, and only one
    assert metrics.product_id == product.pk
    assert metrics.total_views == 0 and metrics.total_revenue == 0
    assert ProductMetrics.objects.filter(product=product).count() == 1


@pytest.mark.django_db
def test_an_existing_row_is_returned_with_its_counters_intact():
    # Given a product whose metrics have counted 7 views and 2 sales
    [product] = make_products(1)
    ProductMetrics.objects.filter(product=product).update(total_views=7, total_sales=2)

    # When its metrics are ensured, by object and by id
    by_object = ensure_metrics_exist(product)
    by_id = MetricsHelper.ensure_metrics_exist(product.pk)

    # Then the existing row comes back, counters untouched, no second row
    assert (by_object.total_views, by_object.total_sales) == (7, 2)
    assert (by_id.total_views, by_id.total_sales) == (7, 2)
    assert ProductMetrics.objects.filter(product=product).count() == 1


# --- bulk_ensure_metrics ------------------------------------------------------------


@pytest.mark.django_db
def test_bulk_accepts_products_or_ids_and_returns_a_row_for_each():
    # Given four products, two of them without metrics
    products = make_products(4)
    strip_metrics(*products[:2])

    # When the rows are ensured once from objects and once from ids
    from_objects = bulk_ensure_metrics(products)
    from_ids = bulk_ensure_metrics([p.pk for p in products])

    # Then both give {product id: metrics} for all four, and each product has its row
    expected = {p.pk for p in products}
    assert set(from_objects) == set(from_ids) == expected
    assert all(m.product_id == pid for pid, m in from_objects.items())
    assert metrics_ids() >= expected


@pytest.mark.django_db(transaction=True)
def test_a_page_of_100_with_30_missing_costs_exactly_2_queries(django_assert_num_queries):
    # Given a page of 100 products of which 30 lack metrics, outside any transaction (as in a request)
    page = make_products(100)
    strip_metrics(*page[::10], *page[1::10], *page[2::10])

    # When the page's metrics are ensured
    with django_assert_num_queries(2):  # read the present rows, INSERT ... RETURNING the missing ones
        rows = bulk_ensure_metrics(page)

    # Then all 100 rows come back, the 30 new ones included
    assert len(rows) == 100
    assert sum(1 for m in rows.values() if m.total_views == 0) >= 30


@pytest.mark.django_db(transaction=True)
def test_a_page_with_ids_the_insert_could_not_return_costs_a_third_query(django_assert_num_queries):
    # Given a page of 100 products of which 30 lack metrics, and two ids that match no product
    page = make_products(100)
    strip_metrics(*page[:30])
    ids = [*(p.pk for p in page), 999_999_001, 999_999_002]

    # When the page's metrics are ensured: the ids the insert did not return are read once more
    with django_assert_num_queries(3):
        rows = bulk_ensure_metrics(ids)

    # Then the 100 real products come back, and nothing for the ghosts
    assert set(rows) == {p.pk for p in page}


@pytest.mark.django_db(transaction=True)
def test_a_page_with_nothing_missing_costs_exactly_1_query(django_assert_num_queries):
    # Given a page of 100 products that all have metrics
    page = make_products(100)

    # When the page's metrics are ensured
    with django_assert_num_queries(1):
        rows = bulk_ensure_metrics(page)

    # Then a single SELECT served all 100
    assert len(rows) == 100


@pytest.mark.django_db
def test_inside_a_transaction_the_insert_gets_a_savepoint_pair(django_assert_num_queries):
    # Given a caller's open transaction (the test's) and a page with products missing metrics
    page = make_products(10)
    strip_metrics(*page[:3])

    # When the page's metrics are ensured: the same 2 queries plus SAVEPOINT and RELEASE,
    # so that a failed insert cannot poison the caller's transaction on PostgreSQL
    with django_assert_num_queries(4):
        rows = bulk_ensure_metrics(page)

    assert len(rows) == 10


@pytest.mark.django_db
def test_ids_of_products_that_do_not_exist_are_left_out_without_breaking_the_batch():
    # Given two real products without metrics and two ids that match no product
    products = make_products(2)
    strip_metrics(*products)
    ghost_ids = [999_999_001, 999_999_002]

    # When a batch mixes them
    rows = bulk_ensure_metrics([ghost_ids[0], *products, ghost_ids[1]])

    # Then the real products got their rows, the ghosts nothing, and no error was raised
    assert set(rows) == {p.pk for p in products}
    assert not ProductMetrics.objects.filter(product_id__in=ghost_ids).exists()


@pytest.mark.django_db
def test_counters_of_existing_rows_are_never_reset():
    # Given 10 products with 7 views each, and 5 more without metrics
    counted, missing = make_products(10), make_products(5)
    set_views(counted, 7)
    strip_metrics(*missing)

    # When all 15 are ensured, twice, in small batches
    bulk_ensure_metrics([*missing, *counted], batch_size=4)
    rows = bulk_ensure_metrics([*counted, *missing], batch_size=4)

    # Then the counted products still show 7 views, and the new rows 0
    assert {rows[p.pk].total_views for p in counted} == {7}
    assert {rows[p.pk].total_views for p in missing} == {0}
    assert ProductMetrics.objects.filter(total_views=7).count() == 10


@pytest.mark.django_db
def test_creating_rows_is_logged_at_info(caplog):
    # Given a page of 100 products of which 30 lack metrics
    page = make_products(100)
    strip_metrics(*page[:30])

    # When the page's metrics are ensured
    with caplog.at_level(logging.INFO, logger=LOGGER):
        bulk_ensure_metrics(page)

    # Then one INFO line says how many rows were created
    assert [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER] == [
        (logging.INFO, "Bulk created ProductMetrics for 30 products")
    ]


@pytest.mark.django_db
def test_nothing_missing_is_logged_at_debug_only(caplog):
    # Given a page whose products all have metrics
    page = make_products(20)

    # When the page's metrics are ensured
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        bulk_ensure_metrics(page)

    # Then a single DEBUG line, nothing at INFO
    levels = [r.levelno for r in caplog.records if r.name == LOGGER]
    assert levels == [logging.DEBUG]


@pytest.mark.django_db
def test_a_failing_bulk_insert_falls_back_to_one_by_one(monkeypatch, caplog):
    # Given 5 products without metrics, and a bulk insert that fails for a reason other than a conflict
    products = make_products(5)
    strip_metrics(*products)

    def broken_insert(missing: list[int]) -> int:
        raise DatabaseError("disk I/O error (simulated)")

    monkeypatch.setattr(tracking.metrics, "_insert_missing", broken_insert)

    # When their metrics are ensured
    with caplog.at_level(logging.INFO, logger=LOGGER):
        rows = bulk_ensure_metrics(products)

    # Then every row was still created, one by one, with a logged explanation and no exception
    assert set(rows) == {p.pk for p in products}
    assert metrics_ids() >= {p.pk for p in products}
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert "Bulk insert of ProductMetrics failed; creating rows one by one" in messages


# --- racing callers -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_eight_threads_racing_on_overlapping_products_end_with_one_row_each():
    # Given 60 products: 20 with 7 views counted, 40 without metrics
    products = make_products(60)
    counted, missing = products[:20], products[20:]
    set_views(counted, 7)
    strip_metrics(*missing)
    ids = [p.pk for p in products]

    # When 8 threads ensure overlapping slices at the same moment, half in bulk, half one by one
    def bulk(offset: int) -> None:
        mine = ids[offset : offset + 40]
        random.Random(offset).shuffle(mine)
        bulk_ensure_metrics(mine, batch_size=7)

    def one_by_one(offset: int) -> None:
        for product_id in reversed(ids[offset : offset + 40]):
            ensure_metrics_exist(product_id)

    tasks = [lambda o=o: bulk(o) for o in (0, 10, 20, 5)] + [lambda o=o: one_by_one(o) for o in (0, 10, 20, 15)]
    errors = run_in_threads(tasks)

    # Then nothing failed, each product has exactly one row, and the counted views survived
    assert errors == []
    assert ProductMetrics.objects.filter(product_id__in=ids).count() == 60
    assert metrics_ids() == set(ids)
    assert ProductMetrics.objects.filter(product_id__in=[p.pk for p in counted], total_views=7).count() == 20


RACE_IN_A_PROCESS = """
import os, pathlib, time
from tracking.metrics import bulk_ensure_metrics, ensure_metrics_exist
sync = pathlib.Path(os.environ["SYNC_DIR"])
ids = [int(i) for i in os.environ["PRODUCT_IDS"].split(",")]
(sync / f"ready-{os.getpid()}").touch()
while not (sync / "go").exists():
    time.sleep(0.002)
if os.environ["MODE"] == "bulk":
    bulk_ensure_metrics(ids, batch_size=25)
else:
    for product_id in ids:
        ensure_metrics_exist(product_id)
"""


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not is_postgres(), reason="PostgreSQL only by design: SQLite serializes writers to one file")
def test_separate_processes_racing_on_overlapping_products_end_with_one_row_each(tmp_path):
    # Given 200 products: 50 with 7 views counted, 150 without metrics
    products = make_products(200)
    counted, missing = products[:50], products[50:]
    set_views(counted, 7)
    strip_metrics(*missing)
    ids = [p.pk for p in products]

    # When 4 processes, each with its own connection, ensure overlapping slices released at one signal
    slices = {"bulk": [ids[:150], ids[50:][::-1]], "single": [ids[25:175], ids[::-1]]}
    children = []
    for mode, chunks in slices.items():
        for chunk in chunks:
            env = child_env(SYNC_DIR=str(tmp_path), PRODUCT_IDS=",".join(map(str, chunk)), MODE=mode)
            children.append(
                subprocess.Popen(
                    manage("shell", "-c", RACE_IN_A_PROCESS),
                    cwd=ROOT,
                    env=env,
                    text=True,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            )
    _release_when_ready(tmp_path, children)
    outcomes = [(child.communicate(timeout=120)[1], child.returncode) for child in children]

    # Then every process succeeded, each product has one row, and the counted views survived
    assert [code for _, code in outcomes] == [0, 0, 0, 0], [err for err, _ in outcomes]
    assert all("Traceback" not in err for err, _ in outcomes)
    assert metrics_ids() == set(ids)
    assert ProductMetrics.objects.filter(product_id__in=[p.pk for p in counted], total_views=7).count() == 50


def _release_when_ready(sync_dir, children: list[subprocess.Popen], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(list(sync_dir.glob("ready-*"))) < len(children):
        if time.monotonic() > deadline or any(child.poll() is not None for child in children):
            for child in children:
                child.kill()
            raise AssertionError(
                "a child process did not start: "
                + " | ".join(child.stderr.read() for child in children if child.poll() is not None)
            )
        time.sleep(0.01)
    (sync_dir / "go").touch()
