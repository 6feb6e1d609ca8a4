"""The tracking drain now ÷ the drain before issue 17 (buckets, unique viewers, TRENDING,
eventId): issue 17's goal is at least 0.8x, on the same run.

    python -m tests.benchmarks.bench_drain_before [--pairs 3] [--events 100000]   # make bench runs it

"Before" is the code itself, not a switch in today's code: commit ``BEFORE`` (the last one
before issue 17's first) is checked out as a git worktree under ``tests/benchmarks/work/`` and
its own ``tests.benchmarks.drain`` runs with this interpreter, against a database that its own
migrations built and its own ``seed_demo`` filled. Today's tree gets a database made the same
way (both 1,000 products: what the drain spreads its events over). The two drains then run in
alternating order, ``--pairs`` times, 100,000 events each (the executor, 2 workers, batches of
500, with distinct visitors); the figure is the median of the per-pair ratios of events per
second. SQLite by default; with ``DATABASE_URL=postgres://.../<name>`` the two databases are
``<name>_drain_now`` and ``<name>_drain_before`` on that server (created when missing).
Writes ``results/drain-before.json`` (``drain-before-postgresql.json``) and prints one line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "tests" / "benchmarks" / "work"
RESULTS = ROOT / "tests" / "benchmarks" / "results"
BEFORE = "c1b285e"  # the last commit before issue 17's buckets
PRODUCTS = 1_000
GOAL = 0.8
SECRET = "benchmark-child-process-key-" + "x" * 40


def before_tree() -> Path:
    tree = WORK / f"before-17-{BEFORE}"
    if not (tree / "manage.py").exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=True)
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--force", "--detach", str(tree), BEFORE], check=True
        )
    return tree


def database_urls(vendor_url: str) -> dict[str, str]:
    if not vendor_url.startswith("postgres"):
        WORK.mkdir(parents=True, exist_ok=True)
        return {name: f"sqlite:///{WORK / f'drain-{name}.sqlite3'}" for name in ("now", "before")}
    import psycopg
    from psycopg import sql

    parts = urlsplit(vendor_url)
    base = parts.path.lstrip("/")
    urls = {}
    with psycopg.connect(vendor_url, autocommit=True) as conn:
        for name in ("now", "before"):
            database = f"{base}_drain_{name}"
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            urls[name] = urlunsplit(parts._replace(path=f"/{database}"))
    return urls


def child_env(tree: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BENCH_DATABASE_URL", "PYTHONPATH")}
    return {
        **env,
        "PYTHONPATH": str(tree),
        "BENCH_DATABASE_URL": url,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": SECRET,
        "LOG_LEVEL": "WARNING",
    }


PREPARE = (
    "from tests.benchmarks import database as d\n"
    "c = d.choose_database({products}, flush_given=False)\n"
    "d.setup_django(c)\n"
    "d.prepare({products}, c, lambda *a: None)\n"
)


def prepare(tree: Path, url: str) -> None:
    """Migrate and seed with the tree's own code (its migrations, its seed_demo)."""
    code = PREPARE.format(products=PRODUCTS)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=child_env(tree, url), capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"preparing {url} with {tree} failed:\n{done.stderr[-3000:]}")


def drain(tree: Path, url: str, events: int) -> float:
    command = [sys.executable, "-m", "tests.benchmarks.drain", "--events", str(events), "--naive-events", "2000"]
    command += ["--runs", "1", "--products", str(PRODUCTS)]
    done = subprocess.run(command, cwd=tree, env=child_env(tree, url), capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the drain of {tree} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    coalesced = result["coalesced"]
    if coalesced["lost_rows"] or coalesced["lost_increments"] or coalesced["failed"]:
        sys.exit(f"the drain of {tree} lost events: {coalesced}")
    return coalesced["events_per_second_median"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    started = time.perf_counter()
    trees = {"now": ROOT, "before": before_tree()}
    urls = database_urls(os.environ.get("DATABASE_URL", ""))
    vendor = "postgresql" if urls["now"].startswith("postgres") else "sqlite"
    for name, tree in trees.items():
        prepare(tree, urls[name])
    pairs = []
    for index in range(args.pairs):
        order = ("before", "now") if index % 2 == 0 else ("now", "before")
        rates = {name: drain(trees[name], urls[name], args.events) for name in order}
        pairs.append({**rates, "ratio": rates["now"] / rates["before"], "first": order[0]})
        print(
            f"  [{index + 1}/{args.pairs}] before {rates['before']:,.0f} ev/s  now {rates['now']:,.0f} ev/s  "
            f"({pairs[-1]['ratio']:.2f}x)",
            flush=True,
        )
    ratio = statistics.median(pair["ratio"] for pair in pairs)
    summary = {
        "vendor": vendor,
        "before": BEFORE,
        "products": PRODUCTS,
        "events": args.events,
        "pairs": pairs,
        "median_ratio": ratio,
        "goal": GOAL,
        "met": ratio >= GOAL,
        "load_average_end": list(os.getloadavg()),
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "drain-before.json" if vendor == "sqlite" else f"drain-before-{vendor}.json"
    (RESULTS / name).write_text(json.dumps(summary, indent=1) + "\n")
    verdict = "met" if summary["met"] else "MISSED"
    print(
        f"Drain with issue 17's buckets, viewers, TRENDING and eventId vs {BEFORE} (before them), {vendor}, "
        f"{args.pairs} alternated pairs of {args.events:,} events: median {ratio:.2f}x (goal >= {GOAL}x: {verdict})"
    )


if __name__ == "__main__":
    main()
