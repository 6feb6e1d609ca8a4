"""The benchmark's own database: which one, how it is made, and how it is reset.

SQLite (default): ``tests/benchmarks/work/listing-<products>.sqlite3``, one file per
size, kept between runs (gitignored) and seeded once with ``seed_demo``.

PostgreSQL (``DATABASE_URL=postgres://.../<name>``): the benchmark never writes to
``<name>`` itself. It uses ``<name>_listing_bench_<products>`` on the same server,
creating it when the role may (``CREATE DATABASE``); when it may not, it stops and says
so, unless ``--flush-given-database`` was passed: then ``<name>`` is flushed (every row
deleted) and seeded. ``BENCH_DATABASE_URL`` names a database to use instead.

A database holding products is used (its counters reset) or flushed only when it
carries this benchmark's mark (the table ``benchmark_listing_owner``, created after
seeding, which Django's flush leaves alone) or ``--flush-given-database`` was passed:
a database another tool seeded (``<name>_bench`` is the backfill benchmark's) is never
changed by accident.

Every run starts from the same engagement state (``reset_engagement``): activity events
deleted, counters set from a fixed formula of the product id, so MOST_VIEWED is a
real order with ties (broken by id) and the same on every run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
WORK_DIR = ROOT / "tests" / "benchmarks" / "work"
SETTINGS_MODULE = "tests.benchmarks.settings"


class DatabaseChoice:
    def __init__(self, url: str, vendor: str, note: str, flush_allowed: bool) -> None:
        self.url, self.vendor, self.note, self.flush_allowed = url, vendor, note, flush_allowed


def choose_database(products: int, *, flush_given: bool) -> DatabaseChoice:
    explicit = os.environ.get("BENCH_DATABASE_URL")
    if explicit:
        vendor = "postgresql" if explicit.startswith("postgres") else "sqlite"
        return DatabaseChoice(explicit, vendor, "BENCH_DATABASE_URL", flush_allowed=flush_given)
    given = os.environ.get("DATABASE_URL", "")
    if given.startswith("postgres"):
        return _postgres_bench_database(given, products, flush_given=flush_given)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    path = WORK_DIR / f"listing-{products}.sqlite3"
    return DatabaseChoice(f"sqlite:///{path}", "sqlite", str(path.relative_to(ROOT)), flush_allowed=True)


def _postgres_bench_database(given: str, products: int, *, flush_given: bool) -> DatabaseChoice:
    import psycopg
    from psycopg import sql

    parts = urlsplit(given)
    name = parts.path.lstrip("/")
    bench_name = f"{name}_listing_bench_{products}"
    bench_url = urlunsplit(parts._replace(path=f"/{bench_name}"))
    try:
        conn = psycopg.connect(given, autocommit=True)
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [bench_name])
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(bench_name)))
        conn.close()
        return DatabaseChoice(bench_url, "postgresql", f"PostgreSQL database {bench_name}", flush_allowed=False)
    except psycopg.Error as exc:
        if flush_given:
            return DatabaseChoice(given, "postgresql", f"PostgreSQL database {name} (flushed)", flush_allowed=True)
        sys.exit(
            f"Cannot use or create the benchmark database {bench_name!r}: {exc}".strip()
            + f"\nCreate it (CREATE DATABASE {bench_name} OWNER <role>), set BENCH_DATABASE_URL, or pass "
            f"--flush-given-database to let the benchmark DELETE EVERY ROW of {name!r} and seed it."
        )


def setup_django(choice: DatabaseChoice) -> None:
    """Configure this process for the benchmark database (before anything imports models)."""
    os.environ["DATABASE_URL"] = choice.url
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def prepare(products: int, choice: DatabaseChoice, log) -> dict:
    """Migrate, seed ``products`` products when the database holds another number, reset counters."""
    import time

    from django.core.management import call_command

    from marketplace.models import Product

    call_command("migrate", verbosity=0)
    existing = Product.objects.count()
    seeded_seconds = None
    if existing and not (choice.flush_allowed or _has_mark()):
        sys.exit(
            f"{choice.note} holds {existing:,} products and was not seeded by this benchmark: refusing to change "
            "it. Point BENCH_DATABASE_URL at another database, or pass --flush-given-database to empty it."
        )
    if existing != products:
        if existing:
            log(f"  flushing {choice.note} ({existing:,} products, {products:,} wanted)")
            call_command("flush", interactive=False, verbosity=0)
        log(f"  seeding {products:,} products with seed_demo ...")
        started = time.perf_counter()
        with open(os.devnull, "w") as sink:
            call_command("seed_demo", products=products, stdout=sink)
        seeded_seconds = round(time.perf_counter() - started, 1)
        _mark()
    reset_engagement()
    return {"vendor": choice.vendor, "where": choice.note, "products": products, "seed_seconds": seeded_seconds}


MARK_TABLE = "benchmark_listing_owner"


def _has_mark() -> bool:
    from django.db import connection

    return MARK_TABLE in connection.introspection.table_names()


def _mark() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {MARK_TABLE} (note VARCHAR(200))")


def reset_engagement() -> None:
    """Same counters on every run, no activity rows, a metrics row for every product."""
    from django.db import connection, transaction

    from marketplace.models import Product
    from tracking.metrics import bulk_ensure_metrics

    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("DELETE FROM tracking_activityevent")
        bulk_ensure_metrics(Product.objects.values_list("id", flat=True).iterator())
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE tracking_productmetrics SET total_views = (product_id * 7919) % 5003, "
                "total_impressions = ((product_id * 7919) % 5003) * 4 + (product_id % 7), "
                "total_clicks = (product_id * 31) % 97, total_sales = (product_id * 13) % 23, "
                "total_favorites = 0, total_cart_additions = 0, total_cart_removals = 0, total_revenue = 0"
            )
    checkpoint()


def checkpoint() -> None:
    """SQLite: fold the WAL into the file so every phase starts from the same state."""
    from django.db import connection

    if connection.vendor == "sqlite":
        with connection.cursor() as cur:
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def counter_totals() -> dict:
    from django.db.models import Count, Sum

    from tracking.models import ActivityEvent, ProductMetrics

    sums = ProductMetrics.objects.aggregate(impressions=Sum("total_impressions"), views=Sum("total_views"))
    sums["events"] = ActivityEvent.objects.aggregate(n=Count("id"))["n"]
    return {k: int(v or 0) for k, v in sums.items()}


def close_connections() -> None:
    from django.db import connections

    connections.close_all()
