"""How fast ``create_missing_metrics`` backfills, against the floor and the naive loop.

Not a pytest module: a script, run from the project root::

    python -m tests.benchmarks.bench_backfill                     # 1,000,000 products on SQLite
    python -m tests.benchmarks.bench_backfill --products 100000   # quick
    python -m tests.benchmarks.bench_backfill --database-url postgres://u:p@127.0.0.1:5432/marketplace_bench

By default it builds its own SQLite database under ``tests/benchmarks/work/`` (kept
between runs, reseeded only when the product count changes), then measures:

floor    one ``INSERT ... SELECT`` over every product: the least work the job can be
command  ``create_missing_metrics`` in a child process, so that its peak memory is its own
naive    ``get_or_create`` per product on a smaller count, extrapolated to rows/s

Results go to ``tests/benchmarks/results/backfill.json`` (``backfill_postgresql.json`` for
PostgreSQL) and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[2]
WORK_DIR = ROOT / "tests" / "benchmarks" / "work"
RESULTS_DIR = ROOT / "tests" / "benchmarks" / "results"
DEFAULT_DATABASE_URL = f"sqlite:///{WORK_DIR / 'backfill.sqlite3'}"

GOAL_ROWS_PER_SECOND = 300_000
GOAL_PEAK_MB = 100
GOAL_RATIO_TO_FLOOR = 1.5
SEED_CHUNK = 50_000


def setup_django(database_url: str) -> None:
    """Point Django at the benchmark's own database: never the developer's."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    os.environ["DATABASE_URL"] = database_url
    # As in production: with DEBUG on, Django also logs every statement it runs.
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "benchmark-only-" + "x" * 40)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def refuse_foreign_database(database_url: str) -> None:
    """The benchmark deletes every product: only a database named for benchmarks is acceptable."""
    url = urlparse(database_url)
    if url.scheme.startswith("postgres") and "bench" not in url.path:
        raise SystemExit(
            f"refusing {database_url!r}: the benchmark deletes every product in its database; "
            "use a PostgreSQL database whose name contains 'bench' (createdb marketplace_bench)."
        )


def is_postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


# --- the database ------------------------------------------------------------


def prepare_database(products: int) -> float | None:
    """Migrate and seed ``products`` products with raw SQL; return the seconds spent, None if reused."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if product_count() == products:
        return None
    started = time.perf_counter()
    with _cursor() as cursor:
        cursor.execute("DELETE FROM tracking_productmetrics")
        cursor.execute("DELETE FROM marketplace_product")
    seller_id, category_id = _seller_and_category()
    if is_postgres():
        _generate_products(products, seller_id, category_id)
    else:
        _insert_products(products, seller_id, category_id)
    return time.perf_counter() - started


def product_count() -> int:
    from marketplace.models import Product

    return Product.objects.count()


def _seller_and_category() -> tuple[int, int]:
    from django.contrib.auth import get_user_model

    from marketplace.models import Category

    seller, _ = get_user_model().objects.get_or_create(username="bench-seller")
    category, _ = Category.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    return seller.pk, category.pk


PRODUCT_COLUMNS = "seller_id, category_id, name, slug, description, price, stock, is_active, created_at, updated_at"


def _insert_products(count: int, seller_id: int, category_id: int) -> None:
    """SQLite: executemany of plain tuples, about 100,000 products a second."""
    from django.db import transaction

    sql = f"INSERT INTO marketplace_product ({PRODUCT_COLUMNS}) VALUES ({', '.join(['%s'] * 10)})"
    now = datetime.now(UTC).isoformat()
    with transaction.atomic(), _cursor() as cursor:
        for start in range(0, count, SEED_CHUNK):
            cursor.executemany(sql, _product_rows(start, min(count, start + SEED_CHUNK), seller_id, category_id, now))


def _product_rows(start: int, stop: int, seller_id: int, category_id: int, now: str) -> Iterator[tuple]:
    for n in range(start, stop):
        yield seller_id, category_id, f"Product {n}", f"product-{n}", "", "10.00", 1, True, now, now


def _generate_products(count: int, seller_id: int, category_id: int) -> None:
    """PostgreSQL: generated on the server (psycopg2's executemany is a round trip per row)."""
    with _cursor() as cursor:
        cursor.execute(
            f"INSERT INTO marketplace_product ({PRODUCT_COLUMNS}) "
            "SELECT %s, %s, 'Product ' || g, 'product-' || g, '', 10.00, 1, true, now(), now() "
            "FROM generate_series(1, %s) g",
            [seller_id, category_id, count],
        )
        cursor.execute("VACUUM ANALYZE marketplace_product")


def delete_metrics() -> None:
    """Empty the metrics table and leave the database as each run should find it."""
    with _cursor() as cursor:
        if is_postgres():
            cursor.execute("TRUNCATE tracking_productmetrics")
        else:
            cursor.execute("DELETE FROM tracking_productmetrics")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # fold the WAL back into the file


def metrics_count() -> int:
    from tracking.models import ProductMetrics

    return ProductMetrics.objects.count()


def _cursor():
    from django.db import connection

    return connection.cursor()


# --- the three measurements ---------------------------------------------------


def measure_floor_and_command(runs: int, batch_size: int | None, database_url: str) -> tuple[dict, dict]:
    """Alternate the floor and the command, on an empty metrics table each time.

    Alternating, not one series after the other, so that a noisy neighbour on a
    shared machine slows both alike and the ratio stays honest.
    """
    floor_seconds, command_seconds, floor_cpu, command_cpu = [], [], [], []
    peaks, growths, created = [], [], []
    for _ in range(runs):
        wall, cpu = _floor_once()
        floor_seconds.append(wall)
        floor_cpu.append(cpu)
        floor_rows = metrics_count()
        delete_metrics()
        child = _run_command_child(batch_size, database_url)
        if child["metrics_before"] != 0 or child["created"] != child["products"]:
            raise SystemExit(f"the command did not create every row: {child}")
        command_seconds.append(child["seconds"])
        command_cpu.append(child["cpu_seconds"])
        peaks.append(child["peak_mb"])
        growths.append(child["peak_mb"] - child["baseline_mb"])
        created.append(child["created"])
    floor = _rate("floor: one INSERT ... SELECT", floor_rows, floor_seconds)
    command = _rate("create_missing_metrics", statistics.median(created), command_seconds)
    if not is_postgres():  # SQLite works inside the process: its CPU time is the job's, and noise-proof
        floor["cpu_seconds_median"] = round(statistics.median(floor_cpu), 3)
        command["cpu_seconds_median"] = round(statistics.median(command_cpu), 3)
    command["peak_rss_mb"] = round(max(peaks), 1)
    command["rss_growth_mb"] = round(max(growths), 1)
    command["batch_size"] = batch_size or _default_batch_size()
    return floor, command


def _floor_once() -> tuple[float, float]:
    """One statement over all products, on an empty metrics table: the least work the job can be."""
    from django.utils import timezone

    from tracking.metrics import insert_missing_sql

    delete_metrics()
    started, cpu_started = time.perf_counter(), time.process_time()
    with _cursor() as cursor:
        cursor.execute(insert_missing_sql("1 = 1"), [timezone.now()])
    return time.perf_counter() - started, time.process_time() - cpu_started


def _default_batch_size() -> int:
    from django.conf import settings

    return settings.METRICS_BATCH_SIZE


def _run_command_child(batch_size: int | None, database_url: str) -> dict:
    args = [sys.executable, "-m", "tests.benchmarks.bench_backfill", "--child", "--database-url", database_url]
    if batch_size:
        args += ["--batch-size", str(batch_size)]
    with tempfile.TemporaryFile("w+") as out:
        completed = subprocess.run(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        out.seek(0)
        text = out.read()
    if completed.returncode != 0:
        raise SystemExit(f"create_missing_metrics failed (exit {completed.returncode}):\n{text}")
    return json.loads(text.strip().splitlines()[-1])


def child_main(batch_size: int | None) -> None:
    """Runs in the child: time the command alone, after Django's own start-up, and report its peak memory."""
    from django.core.management import call_command

    baseline = peak_rss_mb()
    before = metrics_count()
    options = {"batch_size": batch_size} if batch_size else {}
    output = io.StringIO()
    started, cpu_started = time.perf_counter(), time.process_time()
    call_command("create_missing_metrics", stdout=output, **options)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    report = {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "created": metrics_count() - before,
        "metrics_before": before,
        "products": product_count(),
        "baseline_mb": baseline,
        "peak_mb": peak_rss_mb(),
        "output": output.getvalue().splitlines()[-2:],
    }
    print(json.dumps(report))


def peak_rss_mb() -> float:
    """This process's peak resident memory, in MiB.

    Read from VmHWM, not from ``ru_maxrss``: on Linux, ``ru_maxrss`` (self, children,
    or ``wait4``) carries the parent's high-water mark across fork and exec, so a
    child of this 100 MB benchmark would report at least 100 MB whatever it did
    (checked here: a child of a 500 MB parent that ran ``pass`` reported 500 MB).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def measure_naive(count: int) -> dict:
    """What the backfill would cost written the obvious way: get_or_create, product by product."""
    from tracking.models import ProductMetrics

    delete_metrics()
    with _cursor() as cursor:
        cursor.execute("SELECT id FROM marketplace_product ORDER BY id LIMIT %s", [count])
        ids = [row[0] for row in cursor.fetchall()]
    started = time.perf_counter()
    for product_id in ids:
        ProductMetrics.objects.get_or_create(product_id=product_id)
    return _rate(f"naive get_or_create ({len(ids):,} products)", len(ids), [time.perf_counter() - started])


def _rate(label: str, rows: int, seconds: list[float]) -> dict:
    median = statistics.median(seconds)
    return {
        "variant": label,
        "rows": int(rows),
        "runs": len(seconds),
        "seconds_median": round(median, 3),
        "seconds_all": [round(s, 3) for s in seconds],
        "rows_per_second": round(rows / median) if median else None,
    }


# --- the report -----------------------------------------------------------------


def summarize(products: int, seeded: float | None, floor: dict, command: dict, naive: dict) -> dict:
    ratio_to_floor = command["seconds_median"] / floor["seconds_median"]
    cpu_ratio = (
        round(command["cpu_seconds_median"] / floor["cpu_seconds_median"], 2) if "cpu_seconds_median" in floor else None
    )
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "products": products,
        "seed_seconds": round(seeded, 1) if seeded is not None else None,
        "floor": floor,
        "command": command,
        "naive": naive,
        "ratio_to_floor": round(ratio_to_floor, 2),
        "cpu_ratio_to_floor": cpu_ratio,
        "speedup_vs_naive": round(command["rows_per_second"] / naive["rows_per_second"], 1),
        "goals": {
            f"rows_per_second >= {GOAL_ROWS_PER_SECOND:,}": command["rows_per_second"] >= GOAL_ROWS_PER_SECOND,
            f"peak_rss_mb < {GOAL_PEAK_MB}": command["peak_rss_mb"] < GOAL_PEAK_MB,
            f"ratio_to_floor <= {GOAL_RATIO_TO_FLOOR}": ratio_to_floor <= GOAL_RATIO_TO_FLOOR,
        },
    }


def _machine() -> dict:
    import sqlite3

    from django.db import connection

    with _cursor() as cursor:
        cursor.execute("SELECT version()" if is_postgres() else "SELECT 'SQLite ' || sqlite_version()")
        (database,) = cursor.fetchone()
    return {
        "database": database.split(" on ")[0] if connection.vendor == "postgresql" else database,
        "python": platform.python_version(),
        "sqlite_library": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def markdown(summary: dict) -> str:
    floor, command, naive = summary["floor"], summary["command"], summary["naive"]
    rows = [
        "| variant | rows | median s | rows/s | peak RSS MiB | time per row, x floor |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for result in (floor, command, naive):
        ratio = floor["rows_per_second"] / result["rows_per_second"]
        rows.append(
            f"| {result['variant']} | {result['rows']:,} | {result['seconds_median']} "
            f"| {result['rows_per_second']:,} | {result.get('peak_rss_mb', '')} | {ratio:.2f} |"
        )
    goals = "\n".join(f"- {goal}: {'met' if met else 'NOT met'}" for goal, met in summary["goals"].items())
    return (
        f"Backfill of {summary['products']:,} products on {summary['machine']['database']} "
        f"({summary['machine']['cpus']} CPUs), batches of {command['batch_size']:,}, "
        f"medians of {command['runs']} alternating runs\n\n"
        + "\n".join(rows)
        + f"\n\ncommand: {summary['ratio_to_floor']}x the floor's time ({_cpu_ratio(summary)}), "
        f"{summary['speedup_vs_naive']}x the naive "
        f"loop's rows/s; peak RSS {command['peak_rss_mb']} MiB, of which {command['rss_growth_mb']} MiB "
        f"grew during the command (the rest is Django and the apps, loaded)\n\n{goals}\n"
    )


def _cpu_ratio(summary: dict) -> str:
    if summary["cpu_ratio_to_floor"] is None:
        return "CPU time not comparable: the server does the work"
    return f"{summary['cpu_ratio_to_floor']}x its CPU time, which a busy machine disturbs less"


# --- the script -------------------------------------------------------------------


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return number


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=positive_int, default=1_000_000, help="products to seed (1,000,000)")
    parser.add_argument("--naive", type=positive_int, default=20_000, help="products for the naive loop (20,000)")
    parser.add_argument("--runs", type=positive_int, default=5, help="repeats of floor and command (5)")
    parser.add_argument("--batch-size", type=positive_int, default=None, help="the command's --batch-size")
    parser.add_argument(
        "--database-url", default=DEFAULT_DATABASE_URL, help="default: a SQLite file under tests/benchmarks/work/"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    refuse_foreign_database(args.database_url)
    setup_django(args.database_url)
    if args.child:
        child_main(args.batch_size)
        return
    print(f"Preparing {args.products:,} products in {args.database_url} ...", flush=True)
    seeded = prepare_database(args.products)
    print("  reused the existing products" if seeded is None else f"  seeded in {seeded:.1f} s", flush=True)
    floor, command = measure_floor_and_command(args.runs, args.batch_size, args.database_url)
    print(f"  floor: {floor['rows_per_second']:,} rows/s", flush=True)
    print(f"  command: {command['rows_per_second']:,} rows/s, peak {command['peak_rss_mb']} MiB", flush=True)
    naive = measure_naive(min(args.naive, args.products))
    print(f"  naive: {naive['rows_per_second']:,} rows/s", flush=True)
    delete_metrics()
    summary = summarize(args.products, seeded, floor, command, naive)
    results = RESULTS_DIR / ("backfill_postgresql.json" if is_postgres() else "backfill.json")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(summary, indent=2) + "\n")
    print()
    print(markdown(summary))
    print(f"Written to {results.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
