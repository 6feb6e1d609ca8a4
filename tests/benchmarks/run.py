"""The benchmark suite: ``make bench`` (quick) and ``make bench FULL=1`` (large sizes).

    python -m tests.benchmarks.run            # quick: 10,000 products, a few minutes
    python -m tests.benchmarks.run --full     # 100,000 products, 1,000,000 for the backfill

It seeds its own database (see ``tests.benchmarks.database``), starts the real server
(uvicorn, one worker, DEBUG=0) with ``tests.benchmarks.settings`` (the product plus
benchmark-only comparison endpoints), drives it from a separate load-generating process
over loopback (``tests.benchmarks.loadgen``), then runs the in-process drain, profile and
backfill measurements, and writes ``results/latest.json``, ``results/latest.md``,
``results/latest.png`` (when matplotlib is installed; ``latest-postgresql.*`` when the
database is PostgreSQL: ``DATABASE_URL=postgres://... make bench``) and the results block of
``tests/benchmarks/README.md``. README.md says what every figure means.

Every figure is a median over ``--repeats`` runs; every comparison is a ratio of two
variants measured back to back in the same repeat on the same server, then the median
of those ratios. Nothing printed is typed in: it all comes from this run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, replace

from tests.benchmarks import database, loadgen, native, report
from tests.benchmarks.database import ROOT
from tests.benchmarks.profile_listing import LISTING

ORIGINAL_ENV = dict(os.environ)  # before setup_django points this process at the benchmark database
VARIANTS = ("graphql", "peer", "django", "raw", "before")
TYPENAME = "{ __typename }"
TRACK_VIEW = 'mutation { trackProductView(productId: "%s") { accepted queued } }'


@dataclass(frozen=True)
class Mode:
    name: str
    products: int
    sizes: tuple[int, ...]
    requests: dict[int, int]  # measured requests per run, by page size
    before_sizes: tuple[int, ...]
    tracking_requests: int
    drain_events: int
    naive_events: int
    backfill_products: int
    backfill_naive: int
    profile_requests: int


# Request counts are per run; a variant at one page size gets repeats x concurrencies runs
# (quick: 3 x 2, so 240-360 measured requests in all, as the issue suggests).
QUICK = Mode(
    name="quick",
    products=10_000,
    sizes=(10, 50, 100),
    requests={10: 60, 50: 50, 100: 40},
    before_sizes=(50,),
    tracking_requests=300,
    drain_events=100_000,
    naive_events=10_000,
    backfill_products=100_000,
    backfill_naive=5_000,
    profile_requests=60,
)
FULL = Mode(
    name="full",
    products=100_000,
    sizes=(10, 50, 100),
    requests={10: 200, 50: 150, 100: 100},
    before_sizes=(10, 50, 100),
    tracking_requests=1000,
    drain_events=100_000,
    naive_events=20_000,
    backfill_products=1_000_000,
    backfill_naive=20_000,
    profile_requests=200,
)
PHASES = ("overhead", "listing", "tracking", "drain", "profile", "backfill")


def log(message: str) -> None:
    print(message, flush=True)


# --- requests ---------------------------------------------------------------------


def listing_request(variant: str, first: int) -> dict:
    if variant in ("graphql", "peer"):
        path = "/graphql/" if variant == "graphql" else "/bench/peer-graphql/"
        return {"method": "POST", "path": path, "body": json.dumps({"query": LISTING % first})}
    return {"method": "GET", "path": f"/bench/{variant}-listing/?first={first}", "body": ""}


def graphql_request(query: str) -> dict:
    return {"method": "POST", "path": "/graphql/", "body": json.dumps({"query": query})}


def load(server, request: dict, *, requests: int, concurrency: int, count_substring: str = "") -> dict:
    """Run the load generator in its own process; return its result with the percentiles."""
    spec = {
        "host": "127.0.0.1",
        "port": server.port,
        "headers": {"Content-Type": "application/json", "Accept": "application/json"},
        "requests": requests,
        "concurrency": concurrency,
        "warmup": 2 * concurrency,
        "count_substring": count_substring,
        **request,
    }
    try:
        result = native.run(spec) if native.available() and not count_substring else loadgen.run_in_child(spec)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\nserver log:\n{server.log_tail()}") from None
    ok = result["statuses"].get("200", 0)
    result["errors"] = sum(result["statuses"].values()) - ok + (1 if '"errors"' in result["first_body"] else 0)
    result["responses_ok"] = ok
    result.update(report.latency_stats(result.pop("latencies_ms"), result["wall_seconds"], requests))
    result.pop("first_body")
    return result


def fetch(server, request: dict) -> str:
    url = server.url + request["path"]
    data = request["body"].encode() if request["method"] == "POST" else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as response:
        return response.read().decode()


def queries_of(server, request: dict) -> int:
    server.get_json("/bench/queries")
    fetch(server, request)
    return server.get_json("/bench/queries")["queries"]


# --- phases -----------------------------------------------------------------------


def check_and_count(server, mode: Mode) -> dict:
    """Each variant once per size: same products, order and fields; SQL per request."""
    consistency, queries = {}, {v: {} for v in VARIANTS}
    for first in mode.sizes:
        bodies = {}
        for variant in VARIANTS:
            request = listing_request(variant, first)
            queries[variant][first] = queries_of(server, request)
            bodies[variant] = json.loads(fetch(server, request))
        consistency[first] = report.compare_listings(bodies, first)
        problems = consistency[first]["problems"]
        log(
            f"  first={first}: SQL per request "
            + ", ".join(f"{v} {queries[v][first]}" for v in VARIANTS)
            + ("" if not problems else f"\n  WARNING: {'; '.join(problems)}")
        )
    return {"consistency": consistency, "queries": queries}


def run_listing(server, mode: Mode, repeats: int, concurrencies: list[int]) -> dict:
    runs, lost = [], []
    for repeat in range(repeats):
        for first in mode.sizes:
            for concurrency in concurrencies:
                variants = [v for v in VARIANTS if v != "before" or first in mode.before_sizes]
                shift = repeat % len(variants)
                for variant in variants[shift:] + variants[:shift]:  # rotate: no variant always goes first
                    before_totals = database.counter_totals() if variant == "before" else None
                    result = load(
                        server, listing_request(variant, first), requests=mode.requests[first], concurrency=concurrency
                    )
                    if before_totals is not None:
                        lost.append(_lost_updates(before_totals, result, first, concurrency, repeat))
                    runs.append(
                        {"variant": variant, "first": first, "concurrency": concurrency, "repeat": repeat, **result}
                    )
                    log(
                        f"  [{repeat + 1}/{repeats}] first={first:<3} c={concurrency} {variant:<7} "
                        f"p50 {result['p50_ms']:7.2f} ms  p99 {result['p99_ms']:7.2f} ms  "
                        f"{result['requests_per_second']:7.1f} req/s"
                        + (f"  ERRORS {result['errors']}" if result["errors"] else "")
                    )
    return {"runs": runs, "lost_updates": lost}


def _lost_updates(before: dict, result: dict, first: int, concurrency: int, repeat: int) -> dict:
    after = database.counter_totals()
    expected = result["responses_ok"] * first  # warm-up requests count too: they tracked as well
    return {
        "first": first,
        "concurrency": concurrency,
        "repeat": repeat,
        "expected_increments": expected,
        "counted_increments": after["impressions"] - before["impressions"],
        "lost_increments": expected - (after["impressions"] - before["impressions"]),
        "events_written": after["events"] - before["events"],
    }


def run_tracking(server, mode: Mode, repeats: int, concurrencies: list[int]) -> dict:
    from marketplace.models import Product

    product_id = Product.objects.filter(is_active=True).order_by("id").values_list("id", flat=True).first()
    requests = {
        "typename": graphql_request(TYPENAME),
        "track_view": graphql_request(TRACK_VIEW % report.global_id("Product", product_id)),
    }
    body = fetch(server, requests["track_view"])
    if json.loads(body).get("data", {}).get("trackProductView", {}).get("accepted") is not True:
        raise RuntimeError(f"trackProductView did not answer accepted=true: {body}")
    marker = '"accepted": true' if '"accepted": true' in body else '"accepted":true'
    queries = {name: queries_of(server, request) for name, request in requests.items()}
    runs = []
    for repeat in range(repeats):
        for concurrency in concurrencies:
            order = list(requests) if repeat % 2 == 0 else list(reversed(requests))
            for name in order:
                result = load(
                    server,
                    requests[name],
                    requests=mode.tracking_requests,
                    concurrency=concurrency,
                    count_substring=marker if name == "track_view" else "",
                )
                runs.append({"variant": name, "concurrency": concurrency, "repeat": repeat, **result})
                log(
                    f"  [{repeat + 1}/{repeats}] c={concurrency} {name:<10} p50 {result['p50_ms']:6.2f} ms  "
                    f"p99 {result['p99_ms']:6.2f} ms  {result['requests_per_second']:7.1f} req/s"
                )
    time.sleep(1.0)  # let the workers apply the last batch before reading their statistics
    return {"runs": runs, "queries": queries, "executor": server.get_json("/bench/tracking-stats")}


def child(module: str, args: list[str], choice, *, settings: str, extra_env: dict | None = None) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": choice.url,
        "DJANGO_SETTINGS_MODULE": settings,
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-child-process-key-" + "x" * 40,
        "LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    done = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed ({done.returncode}):\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_backfill(mode: Mode, repeats: int) -> dict:
    """Integration point with ``tests/benchmarks/bench_backfill.py`` (owned by its own author):
    its CLI is called as its docstring documents and its JSON report read back. It gets a
    SQLite file of its own per size (``work/backfill-<products>.sqlite3``), so that it never
    reseeds the file the script uses when run by hand. Its ``results/backfill.json`` records
    the script's default size: a quick run puts the previous file back after reading."""
    database_url = f"sqlite:///{database.WORK_DIR / f'backfill-{mode.backfill_products}.sqlite3'}"
    args = ["--products", str(mode.backfill_products), "--naive", str(mode.backfill_naive), "--runs", str(repeats),
            "--database-url", database_url]  # fmt: skip
    results = ROOT / "tests" / "benchmarks" / "results" / "backfill.json"
    previous = results.read_text() if results.exists() else None
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.bench_backfill", *args],
        cwd=ROOT,
        env=ORIGINAL_ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return {"error": f"bench_backfill exited {done.returncode}: {(done.stderr or done.stdout)[-1500:]}"}
    measured = json.loads(results.read_text())
    if mode.name == "quick" and previous is not None:
        results.write_text(previous)
    return measured


# --- main -------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="100,000 products (1,000,000 for the backfill)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of every measurement (3); figures are medians")
    parser.add_argument("--concurrency", default="4,1", help="client concurrencies, comma-separated (4,1)")
    parser.add_argument("--only", default=",".join(PHASES), help=f"phases to run, comma-separated ({','.join(PHASES)})")
    parser.add_argument(
        "--flush-given-database",
        action="store_true",
        help="PostgreSQL: when <name>_bench cannot be created, DELETE EVERY ROW of DATABASE_URL's "
        "database and seed it instead",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every request count (1.0)")
    parser.add_argument("--report-only", action="store_true", help="re-render the report from results/latest.json")
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite the results block of README.md")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.report_only:
        for stem in ("latest", "latest-postgresql"):
            if (report.RESULTS_DIR / f"{stem}.json").exists():
                log(report.write(report.load_latest(stem), update_readme=not args.no_readme)["markdown"])
        return
    mode = FULL if args.full else QUICK
    if args.scale != 1.0:
        mode = replace(
            mode,
            requests={first: max(10, round(n * args.scale)) for first, n in mode.requests.items()},
            tracking_requests=max(10, round(mode.tracking_requests * args.scale)),
            profile_requests=max(10, round(mode.profile_requests * args.scale)),
        )
    phases = [p.strip() for p in args.only.split(",") if p.strip()]
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    started = time.monotonic()
    results: dict = {
        "mode": mode.name,
        "repeats": args.repeats,
        "concurrencies": concurrencies,
        "machine": report.machine(),
        "load_average_start": os.getloadavg(),
    }
    if results["load_average_start"][0] > 0.5 * (os.cpu_count() or 1):
        log(
            f"WARNING: the machine is busy (load average {results['load_average_start'][0]:.1f}): figures will be noisy"
        )

    choice = database.choose_database(mode.products, flush_given=args.flush_given_database)
    database.setup_django(choice)
    log(f"Database: {choice.note}")
    results["database"] = database.prepare(mode.products, choice, log)
    results["database"]["server_version"] = report.database_version()
    database.close_connections()

    if "overhead" in phases:
        from tests.benchmarks import overhead

        log("Overhead: bare async view without/with the middleware, { __typename }, 1 vs 2 workers")
        results["overhead"] = overhead.measure(choice.url, load, log, repeats=args.repeats)
    if "listing" in phases or "tracking" in phases:
        from tests.benchmarks import server as server_control

        server = server_control.start(choice.url)
        try:
            log(f"Server: uvicorn on {server.url} (pid {server.process.pid}), settings {database.SETTINGS_MODULE}")
            if "listing" in phases:
                results.update(check_and_count(server, mode))
                results["listing"] = run_listing(server, mode, args.repeats, concurrencies)
            if "tracking" in phases:
                log("Tracking: trackProductView vs { __typename }")
                results["tracking"] = run_tracking(server, mode, args.repeats, concurrencies)
        finally:
            database.close_connections()
            server_control.stop(server)
    if "drain" in phases:
        log(f"Drain: {mode.drain_events:,} events over 1,000 products, naive {mode.naive_events:,} ...")
        results["drain"] = child(
            "tests.benchmarks.drain",
            ["--events", str(mode.drain_events), "--naive-events", str(mode.naive_events), "--runs", str(args.repeats)],
            choice,
            settings="config.settings",
        )
    if "profile" in phases and importlib.util.find_spec("pyinstrument") is None:
        log("Profile: skipped, pyinstrument is not installed (pip install pyinstrument)")
    elif "profile" in phases:
        log("Profile: the GraphQL listing in-process (pyinstrument) ...")
        results["profile"] = child(
            "tests.benchmarks.profile_listing",
            ["--first", "50", "--requests", str(mode.profile_requests)],
            choice,
            settings=database.SETTINGS_MODULE,
            extra_env={"ALLOWED_HOSTS": "testserver"},
        )
    if "backfill" in phases:
        log(f"Backfill: tests/benchmarks/bench_backfill.py at {mode.backfill_products:,} products ...")
        results["backfill"] = run_backfill(mode, args.repeats)
    database.reset_engagement()
    database.close_connections()

    results["load_average_end"] = os.getloadavg()
    results["seconds"] = round(time.monotonic() - started, 1)
    written = report.write(results, update_readme=not args.no_readme)
    log("")
    log(written["markdown"])
    log("Written: " + ", ".join(written["files"]))


if __name__ == "__main__":
    main()
