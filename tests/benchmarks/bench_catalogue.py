"""Catalogue at scale: every listing query of the catalogue issue at one catalogue size.

    python -m tests.benchmarks.bench_catalogue --suite [--full]     # what make bench runs

    python -m tests.benchmarks.bench_catalogue --database-url URL [--products N] [--seed]
    python -m tests.benchmarks.bench_catalogue --growth small.json large.json

One run measures one already-seeded database (``--seed`` seeds it with ``seed_demo``
first when it holds fewer products than ``--products``): each query of ``QUERIES``
through the real GraphQL view in-process, ``--repeats`` times, the median request time
and the median SQL time (every statement timed by a connection wrapper), and the plan of
each page query (``EXPLAIN ANALYZE`` on PostgreSQL, ``EXPLAIN QUERY PLAN`` on SQLite),
kept in the JSON next to the figures. ``--growth`` prints the table of two runs (10k
and 1M, say) with the growth factor of each query; the goal is 1.5x on PostgreSQL
(2x on SQLite) with at most 5 ms of SQL.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CARD = "edges { cursor node { id name slug price inStock category { name } seller { displayName } images { url } rating { average count } metrics { totalViews totalSales } } } pageInfo { hasNextPage endCursor }"  # noqa: E501
MENU = "{ categories { name children { name products(first: 20) { CARD } } } }"
ORDERS = ("NEWEST", "PRICE_ASC", "PRICE_DESC", "MOST_VIEWED", "BEST_SELLING", "TOP_RATED", "TRENDING")


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "benchmark-only-" + "x" * 40)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def listing(order: str, *, count: bool = True, after: str | None = None, filter: str = "") -> str:  # noqa: A002
    args = f"first: 20, orderBy: {order}" + (f', after: "{after}"' if after else "") + (f", {filter}" if filter else "")
    counts = "totalCount totalCountIsExact" if count else ""
    return "{ products(ARGS) { COUNTS CARD } }".replace("ARGS", args).replace("COUNTS", counts).replace("CARD", CARD)


def deep_cursor(order: str, fraction: float) -> str:
    """The cursor of the row ``fraction`` deep into ``order`` (found once with OFFSET)."""
    from graph.orderings import PRODUCT_ORDERINGS, ProductOrder
    from marketplace.selectors import ProductFilters, product_list

    product_ordering = PRODUCT_ORDERINGS[ProductOrder(order)]
    qs = product_ordering.apply(product_list(filters=ProductFilters()))
    return _cursor_at(order, int(qs.count() * fraction))


def queries() -> dict[str, str]:
    from marketplace.models import Category, Product

    leaf = Category.objects.filter(parent__isnull=False).order_by("id").first()
    seller = Product.objects.order_by("id").values_list("seller_id", flat=True).first()
    from graph.ids import global_id

    seller_id = global_id("Seller", seller)
    last_slug = Product.objects.order_by("-id").values_list("slug", flat=True).first()
    found = {
        "NEWEST with totalCount": listing("NEWEST"),
        "NEWEST without totalCount": listing("NEWEST", count=False),
        "PRICE_ASC with totalCount": listing("PRICE_ASC"),
        "PRICE_DESC with totalCount": listing("PRICE_DESC"),
        "TOP_RATED page 50": listing("TOP_RATED", after=_cursor_at("TOP_RATED", 49 * 20 - 1)),
        "NEWEST 90% deep": listing("NEWEST", after=deep_cursor("NEWEST", 0.9)),
        "PRICE_ASC 90% deep": listing("PRICE_ASC", after=deep_cursor("PRICE_ASC", 0.9)),
        "MOST_VIEWED 90% deep": listing("MOST_VIEWED", after=deep_cursor("MOST_VIEWED", 0.9)),
        "TRENDING 90% deep": listing("TRENDING", after=deep_cursor("TRENDING", 0.9)),
        "categories productCount": "{ categories { name productCount children { name productCount } } }",
        "category menu, a page per child": MENU.replace("CARD", CARD),
        "product page": '{ product(slug: "SLUG") { name price rating { average count } '
        "reviews(first: 10) { edges { node { rating } } } } }".replace("SLUG", last_slug),
        "filter matching nothing": listing("NEWEST", filter='filter: { minPrice: "99999999" }'),
    }
    filters = {
        "": "",
        "category": f'filter: {{ category: "{leaf.slug}" }}',
        "seller": f'filter: {{ seller: "{seller_id}" }}',
        "price": 'filter: { minPrice: "10", maxPrice: "50" }',
        "inStock": "filter: { inStock: true }",
    }
    for order in ORDERS:
        for name, value in filters.items():
            found[f"{order} {name or 'all'} with totalCount"] = listing(order, filter=value)
    found["search with totalCount"] = listing("NEWEST", filter='filter: { search: "lamp" }')
    return found


def _cursor_at(order: str, offset: int) -> str:
    from graph.orderings import PRODUCT_ORDERINGS, ProductOrder
    from graph.pagination import encode_cursor
    from marketplace.selectors import ProductFilters, product_list

    product_ordering = PRODUCT_ORDERINGS[ProductOrder(order)]
    qs = product_ordering.apply(product_list(filters=ProductFilters()))
    return encode_cursor(product_ordering.ordering, qs.order_by(*product_ordering.ordering.order_by())[offset])


class SqlTimer:
    """Times every statement run on the default connection; keeps the page query's SQL."""

    def __init__(self) -> None:
        self.seconds, self.statements = 0.0, []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.statements.append((sql, params))


def explain(sql: str, params) -> str:
    from django.db import connection

    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql, params)
        return "\n".join(" ".join(str(c) for c in row) for row in cursor.fetchall())


def measure(document: str, repeats: int) -> dict:
    from django.db import connection
    from django.test import Client

    client = Client()
    totals, sqls, timer = [], [], None
    for _ in range(repeats + 1):  # the first run warms caches and is not counted
        timer = SqlTimer()
        with connection.execute_wrapper(timer):
            started = time.perf_counter()
            response = client.post("/graphql/", {"query": document}, content_type="application/json")
            elapsed = time.perf_counter() - started
        body = response.json()
        if "errors" in body:
            raise SystemExit(f"{document[:80]}...: {body['errors']}")
        totals.append(elapsed * 1000)
        sqls.append(timer.seconds * 1000)
    page = max(timer.statements, key=lambda s: ("LIMIT" in s[0], len(s[0])))
    return {
        "request_ms": statistics.median(totals[1:]),
        "sql_ms": statistics.median(sqls[1:]),
        "statements": len(timer.statements),
        "plan": explain(*page),
        "page_sql": page[0],
    }


def run(args) -> None:
    setup_django(args.database_url)
    from django.core.management import call_command
    from django.db import connection

    from marketplace.models import Product

    call_command("migrate", verbosity=0)
    have = Product.objects.count()
    if args.seed and have < args.products:
        call_command("seed_demo", products=args.products - have)
    _spread_trending_scores()
    results = {"vendor": connection.vendor, "products": Product.objects.count(), "queries": {}}
    for name, document in queries().items():
        results["queries"][name] = measure(document, args.repeats)
        q = results["queries"][name]
        print(f"{name:45s} {q['request_ms']:8.1f} ms  SQL {q['sql_ms']:7.2f} ms  {q['statements']} statements")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))


def _spread_trending_scores() -> None:
    """seed_demo applies no tracking events, so every trending score is zero: give them a
    fixed spread of the product id (with ties), so TRENDING walks a real order."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tracking_productmetrics SET trending_score = ((product_id * 7919) % 1009) * 0.5 "
            "WHERE trending_score = 0"
        )


def growth(small_path: str, large_path: str) -> None:
    small, large = (json.loads(Path(p).read_text()) for p in (small_path, large_path))
    sizes = f"{small['products']:,} | {large['products']:,}"
    print(f"| query ({small['vendor']}) | {sizes} | growth | SQL at {large['products']:,} |")
    print("|---|---:|---:|---:|---:|")
    for name, a in small["queries"].items():
        b = large["queries"].get(name)
        if b:
            ratio = b["request_ms"] / a["request_ms"]
            times = f"{a['request_ms']:.1f} ms | {b['request_ms']:.1f} ms"
            print(f"| {name} | {times} | {ratio:.2f}x | {b['sql_ms']:.2f} ms |")


def suite(full: bool, repeats: int) -> None:
    """``make bench``: SQLite, and PostgreSQL when DATABASE_URL names one, at 10k and 200k
    products (1M with FULL=1), each size in its own database seeded once and kept; each
    run in a child process (one Django setup per database), then the growth tables."""
    import subprocess
    from urllib.parse import urlsplit, urlunsplit

    work = ROOT / "tests/benchmarks/work"
    work.mkdir(parents=True, exist_ok=True)
    sizes = (10_000, 1_000_000) if full else (10_000, 200_000)
    targets = {"sqlite": lambda n: f"sqlite:///{work / f'catalogue-{n}.sqlite3'}"}
    given = os.environ.get("DATABASE_URL", "")
    if given.startswith("postgres"):
        url = urlsplit(given)
        targets["postgresql"] = lambda n: urlunsplit(url._replace(path=f"{url.path}_catalogue_bench_{n}"))
    for vendor, url_for in targets.items():
        outs = []
        for n in sizes:
            out = ROOT / f"tests/benchmarks/results/catalogue_{vendor}_{n}.json"
            if vendor == "postgresql":
                _create_database(url_for(n))
            command = [sys.executable, "-m", "tests.benchmarks.bench_catalogue", "--database-url", url_for(n)]
            command += ["--products", str(n), "--seed", "--repeats", str(repeats), "--out", str(out)]
            subprocess.run(command, check=True, cwd=ROOT)
            outs.append(str(out))
        growth(*outs)


def _create_database(url: str) -> None:
    import subprocess
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--seed", action="store_true", help="seed up to --products first")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default=str(ROOT / "tests/benchmarks/results/catalogue.json"))
    parser.add_argument("--growth", nargs=2, metavar=("SMALL", "LARGE"))
    parser.add_argument("--suite", action="store_true", help="every database and size (make bench)")
    parser.add_argument("--full", action="store_true", help="with --suite: 10k and 1M")
    args = parser.parse_args()
    if args.suite:
        suite(args.full, args.repeats)
    elif args.growth:
        growth(*args.growth)
    else:
        run(args)


if __name__ == "__main__":
    main()
