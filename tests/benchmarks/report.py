"""Turn raw runs into medians, side-by-side ratios and goals; write JSON, Markdown, a chart.

Every number here is computed from the runs in ``results``; the goals' targets are the
only constants (they are the issue's, not measurements).
"""

from __future__ import annotations

import base64
import json
import os
import platform
import statistics
from collections import defaultdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
README = HERE / "README.md"
README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"

LABELS = {
    "graphql": "GraphQL `/graphql/` (the product)",
    "peer": "strawberry-django + optimizer (peer)",
    "django": "Django view, select/prefetch_related",
    "raw": "raw SQL + json.dumps (floor)",
    "before": "seed's design: tracking in the request",
}
# The goals (targets, not measurements).
GOAL_VS_DJANGO, GOAL_VS_RAW, GOAL_VS_BEFORE, GOAL_BEFORE_SIZE = 1.2, 3.0, 5.0, 50
GOAL_TRACKING, GOAL_DRAIN_RATE, GOAL_DRAIN_SPEEDUP = 1.2, 50_000, 20.0
GOAL_MIDDLEWARE, GOAL_TYPENAME, GOAL_WORKERS, GOAL_PARSE_VALIDATE_MS = 1.3, 1.5, 1.7, 0.3


# --- per-run statistics --------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return float("nan")
    position = (len(sorted_values) - 1) * q
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def latency_stats(latencies_ms: list[float], wall_seconds: float, requests: int) -> dict:
    ordered = sorted(latencies_ms)
    return {
        "measured": len(ordered),
        "p50_ms": percentile(ordered, 0.50),
        "p95_ms": percentile(ordered, 0.95),
        "p99_ms": percentile(ordered, 0.99),
        "mean_ms": statistics.fmean(ordered) if ordered else float("nan"),
        "requests_per_second": len(ordered) / wall_seconds if wall_seconds else float("nan"),
    }


def global_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


# --- the machine -------------------------------------------------------------------


def machine() -> dict:
    import sqlite3

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for package in ("Django", "strawberry-graphql", "strawberry-graphql-django", "aiodataloader", "uvicorn"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "packages": versions,
    }


def database_version() -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SHOW server_version")
            return f"PostgreSQL {cur.fetchone()[0]}"
    import sqlite3

    return f"SQLite {sqlite3.sqlite_version}"


# --- consistency of the variants ----------------------------------------------------------


def _first_difference(a, b, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = _first_difference(a.get(key), b.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def compare_listings(bodies: dict[str, dict], first: int) -> dict:
    """Every variant against the GraphQL listing: products, order, totalCount, fields, cursors.

    Allowed differences: the peer's cursors (strawberry-django's are offsets), and the
    "before" variant's clickThroughRate (it counts the impression it is tracking).
    """
    problems = []
    ref = bodies["graphql"].get("data", {}).get("products") or {}
    ref_edges = ref.get("edges", [])
    if len(ref_edges) != first:
        problems.append(f"graphql returned {len(ref_edges)} products, not {first}")
    for variant, body in bodies.items():
        if body.get("errors"):
            problems.append(f"{variant}: errors {json.dumps(body['errors'])[:200]}")
            continue
        page = body["data"]["products"]
        if page["totalCount"] != ref.get("totalCount"):
            problems.append(f"{variant}: totalCount {page['totalCount']} vs {ref.get('totalCount')}")
        edges = page["edges"]
        if [e["node"]["id"] for e in edges] != [e["node"]["id"] for e in ref_edges]:
            problems.append(f"{variant}: other products or another order")
            continue
        for mine, theirs in zip(edges, ref_edges, strict=True):
            node, ref_node = json.loads(json.dumps(mine["node"])), theirs["node"]
            if variant == "before":
                node["metrics"]["clickThroughRate"] = ref_node["metrics"]["clickThroughRate"]
            difference = _first_difference(node, ref_node, "node")
            if difference is None and variant != "peer" and mine["cursor"] != theirs["cursor"]:
                difference = f"cursor {mine['cursor']} vs {theirs['cursor']}"
            if difference:
                problems.append(f"{variant}: {difference}")
                break
    return {"products": len(ref_edges), "problems": problems, "identical": not problems}


# --- medians and ratios ---------------------------------------------------------------


def _median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def summarize_listing(listing: dict) -> dict:
    cells: dict[tuple, list[dict]] = defaultdict(list)
    by_repeat: dict[tuple, dict[str, float]] = defaultdict(dict)
    for run in listing["runs"]:
        cells[(run["variant"], run["first"], run["concurrency"])].append(run)
        by_repeat[(run["first"], run["concurrency"], run["repeat"])][run["variant"]] = run["p50_ms"]
    table = {}
    for (variant, first, concurrency), runs in cells.items():
        table[f"{variant}|{first}|{concurrency}"] = {
            "variant": variant,
            "first": first,
            "concurrency": concurrency,
            **{k: _median(r[k] for r in runs) for k in ("p50_ms", "p95_ms", "p99_ms", "requests_per_second")},
            "p50_all": [r["p50_ms"] for r in runs],
            "errors": sum(r["errors"] for r in runs),
        }
    ratios: dict[str, dict] = {}
    for other in ("django", "raw", "peer", "before"):
        grouped: dict[tuple, list[float]] = defaultdict(list)
        for (first, concurrency, _repeat), p50s in by_repeat.items():
            if "graphql" in p50s and other in p50s:
                grouped[(first, concurrency)].append(p50s["graphql"] / p50s[other])
        for (first, concurrency), values in grouped.items():
            ratios[f"graphql/{other}|{first}|{concurrency}"] = {
                "vs": other,
                "first": first,
                "concurrency": concurrency,
                "median": _median(values),
                "all": values,
            }
    lost: dict[int, dict] = {}
    for row in listing["lost_updates"]:
        entry = lost.setdefault(row["concurrency"], {"expected": 0, "counted": 0, "lost": 0, "events": 0})
        entry["expected"] += row["expected_increments"]
        entry["counted"] += row["counted_increments"]
        entry["lost"] += row["lost_increments"]
        entry["events"] += row["events_written"]
    return {"table": table, "ratios": ratios, "lost_updates": lost}


def summarize_tracking(tracking: dict) -> dict:
    cells: dict[tuple, list[dict]] = defaultdict(list)
    pairs: dict[tuple, dict] = defaultdict(dict)
    for run in tracking["runs"]:
        cells[(run["variant"], run["concurrency"])].append(run)
        pairs[(run["concurrency"], run["repeat"])][run["variant"]] = run["p50_ms"]
    table = {
        f"{variant}|{concurrency}": {
            "variant": variant,
            "concurrency": concurrency,
            **{k: _median(r[k] for r in runs) for k in ("p50_ms", "p95_ms", "p99_ms", "requests_per_second")},
            "accepted": sum(r["matched"] for r in runs),
            "responses": sum(r["responses_ok"] for r in runs),
        }
        for (variant, concurrency), runs in cells.items()
    }
    ratio: dict[int, list[float]] = defaultdict(list)
    for (concurrency, _repeat), p50s in pairs.items():
        ratio[concurrency].append(p50s["track_view"] / p50s["typename"])
    return {"table": table, "ratio": {c: {"median": _median(v), "all": v} for c, v in ratio.items()}}


# --- goals ---------------------------------------------------------------------------------


def _goal(text: str, target: float, values: list[tuple[str, float]], *, at_most: bool, unit: str = "x") -> dict:
    if not values:
        return {"goal": text, "target": target, "met": None, "summary": "not measured"}
    where, worst = (max if at_most else min)(values, key=lambda kv: kv[1])
    met = worst <= target if at_most else worst >= target
    fmt = (lambda v: f"{v:,.0f}{unit}") if abs(target) >= 100 else (lambda v: f"{v:.2f}{unit}")
    if met:
        summary = f"met: worst {fmt(worst)} ({where})"
    elif at_most:
        summary = f"MISSED by {(worst / target - 1) * 100:.0f}%: worst {fmt(worst)} ({where}), target {fmt(target)}"
    else:
        summary = f"MISSED by {(1 - worst / target) * 100:.0f}%: {fmt(worst)} ({where}), target {fmt(target)}"
    return {
        "goal": text,
        "target": target,
        "worst": worst,
        "where": where,
        "met": met,
        "summary": summary,
        "values": dict(values),
    }


def overhead_goals(overhead: dict) -> list[dict]:
    return [
        _goal(
            f"Middleware stack at most {GOAL_MIDDLEWARE}x a bare async view without middleware (p50, c=1)",
            GOAL_MIDDLEWARE,
            [("bare view with/without the stack", overhead["middleware_ratio"])],
            at_most=True,
        ),
        _goal(
            f"{{ __typename }} at most {GOAL_TYPENAME}x the bare view behind the same middleware (p50, c=1)",
            GOAL_TYPENAME,
            [("{ __typename } / bare view", overhead["typename_ratio"])],
            at_most=True,
        ),
        _goal(
            f"Throughput at c=16 grows at least {GOAL_WORKERS}x from 1 to 2 workers "
            f"({overhead.get('server', 'uvicorn')})",
            GOAL_WORKERS,
            [("listing first=10, req/s 2 workers / 1", overhead["workers_ratio"])],
            at_most=False,
        ),
    ]


def goals(results: dict, listing: dict | None, tracking: dict | None) -> list[dict]:
    out = overhead_goals(results["overhead"]) if results.get("overhead") else []
    if listing:

        def ratio_values(vs, first=None, invert=False):
            return [
                (f"first={r['first']}, c={r['concurrency']}", 1 / r["median"] if invert else r["median"])
                for r in listing["ratios"].values()
                if r["vs"] == vs and first in (None, r["first"])
            ]

        out.append(
            _goal(
                f"GraphQL p50 within {GOAL_VS_DJANGO}x of the Django view",
                GOAL_VS_DJANGO,
                ratio_values("django"),
                at_most=True,
            )
        )
        out.append(
            _goal(f"GraphQL p50 within {GOAL_VS_RAW}x of raw SQL", GOAL_VS_RAW, ratio_values("raw"), at_most=True)
        )
        out.append(
            _goal(
                f"GraphQL at least {GOAL_VS_BEFORE:.0f}x faster than the seed's design at first: {GOAL_BEFORE_SIZE}",
                GOAL_VS_BEFORE,
                ratio_values("before", GOAL_BEFORE_SIZE, invert=True),
                at_most=False,
            )
        )
        out.append(
            _goal(
                "GraphQL ahead of the strawberry-django peer (p50 ratio below 1)",
                1.0,
                ratio_values("peer"),
                at_most=True,
            )
        )
    queries = results.get("queries", {}).get("graphql", {})
    if queries:
        sizes = sorted(queries, key=int)
        low, high = queries[sizes[0]], queries[sizes[-1]]
        out.append(
            {
                "goal": f"Same SQL count at first: {sizes[0]} and first: {sizes[-1]}",
                "met": low == high,
                "summary": f"{'met' if low == high else 'MISSED'}: {low} and {high} statements",
            }
        )
    if tracking:
        out.append(
            _goal(
                f"trackProductView p50 within {GOAL_TRACKING}x of {{ __typename }}",
                GOAL_TRACKING,
                [(f"c={c}", r["median"]) for c, r in tracking["ratio"].items()],
                at_most=True,
            )
        )
    drain = results.get("drain")
    if drain:
        rate = drain["coalesced"]["events_per_second_median"]
        out.append(
            _goal(
                f"Drain at least {GOAL_DRAIN_RATE:,} events/s ({drain['vendor']})",
                GOAL_DRAIN_RATE,
                [("coalesced", rate)],
                at_most=False,
                unit=" ev/s",
            )
        )
        out.append(
            _goal(
                f"Drain at least {GOAL_DRAIN_SPEEDUP:.0f}x the naive executor",
                GOAL_DRAIN_SPEEDUP,
                [("median of paired runs", drain["speedup_median"])],
                at_most=False,
            )
        )
    profile = results.get("profile") or {}
    if profile.get("phases"):
        phases = profile["phases"]
        out.append(
            _goal(
                f"Parse + validation at most {GOAL_PARSE_VALIDATE_MS} ms for a document seen before (in-process)",
                GOAL_PARSE_VALIDATE_MS,
                [("listing first=50, median", phases["parse_ms"] + phases["validate_ms"])],
                at_most=True,
                unit=" ms",
            )
        )
    backfill = results.get("backfill") or {}
    for text, met in (backfill.get("goals") or {}).items():
        out.append({"goal": f"Backfill: {text}", "met": met, "summary": "met" if met else "MISSED (see backfill)"})
    return out


# --- writing -----------------------------------------------------------------------------------


def results_stem(vendor: str) -> str:
    """``latest`` for SQLite (the default database, the README's), ``latest-<vendor>`` for
    another, so that a run on PostgreSQL keeps the SQLite run's files and the reverse."""
    return "latest" if vendor == "sqlite" else f"latest-{vendor}"


def write(results: dict, *, update_readme: bool) -> dict:
    from tests.benchmarks import markdown

    listing = summarize_listing(results["listing"]) if results.get("listing") else None
    tracking = summarize_tracking(results["tracking"]) if results.get("tracking") else None
    results["summary"] = {"listing": listing, "tracking": tracking, "goals": goals(results, listing, tracking)}
    results.setdefault("when", datetime.now(UTC).isoformat(timespec="seconds"))  # kept by --report-only
    stem = results_stem(results.get("database", {}).get("vendor", "sqlite"))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    files = []
    json_path = RESULTS_DIR / f"{stem}.json"
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    files.append(str(json_path.relative_to(HERE.parents[1])))
    chart_path = RESULTS_DIR / f"{stem}.png"
    chart_note = markdown.chart(results, listing, chart_path)
    if chart_note is None:
        files.append(str(chart_path.relative_to(HERE.parents[1])))
    text = markdown.render(results, listing, tracking, chart_note).replace("](latest.png)", f"]({stem}.png)")
    md_path = RESULTS_DIR / f"{stem}.md"
    md_path.write_text(text)
    files.append(str(md_path.relative_to(HERE.parents[1])))
    if update_readme and stem == "latest" and _update_readme(text):
        files.append(str(README.relative_to(HERE.parents[1])))
    return {"markdown": text, "files": files}


def load_latest(stem: str = "latest") -> dict:
    """``results/<stem>.json`` with the integer keys JSON turned into strings restored."""
    results = json.loads((RESULTS_DIR / f"{stem}.json").read_text())
    for variant, by_size in results.get("queries", {}).items():
        results["queries"][variant] = {int(k): v for k, v in by_size.items()}
    return results


def _update_readme(text: str) -> bool:
    if not README.exists():
        return False
    current = README.read_text()
    if README_START not in current or README_END not in current:
        return False
    head, rest = current.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    body = text.split("\n", 2)[2] if text.startswith("# ") else text  # the README has its own title
    body = "\n".join("#" + line if line.startswith("#") else line for line in body.splitlines())  # one level down
    body = body.replace("](latest.png)", "](results/latest.png)")
    README.write_text(f"{head}{README_START}\n{body.strip()}\n{README_END}{tail}")
    return True
