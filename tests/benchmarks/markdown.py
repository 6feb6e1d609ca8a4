"""The Markdown report (``results/latest.md``, also the README's results block) and the chart."""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.diagnosis import missed_goals
from tests.benchmarks.report import LABELS

VARIANT_ORDER = ("graphql", "peer", "django", "raw", "before")


def _ms(value) -> str:
    return "" if value is None else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _machine_line(results: dict) -> str:
    m, db = results["machine"], results.get("database", {})
    p = m["packages"]
    load = results.get("load_average_start", [None])[0], results.get("load_average_end", [None])[0]
    return (
        f"{m['nproc']} CPUs ({m['cpu_model']}), {m['platform']}, Python {m['python']}, SQLite {m['sqlite']}, "
        f"Django {p['Django']}, strawberry {p['strawberry-graphql']}, strawberry-django "
        f"{p['strawberry-graphql-django']}, uvicorn {p['uvicorn']}. Database: {db.get('server_version')} "
        f"({db.get('where')}), {db.get('products', 0):,} products. Load average (1 min) at start / end: "
        f"{load[0]:.2f} / {load[1]:.2f}."
    )


def render(results: dict, listing: dict | None, tracking: dict | None, chart_note: str | None) -> str:
    out = [
        "# Benchmark results",
        "",
        f"Mode **{results['mode']}**, {results['when']}, {results['seconds']} s in all. "
        f"Medians of {results['repeats']} runs; ratios are medians of per-run ratios of variants "
        "measured back to back on the same server.",
        "",
        "Machine: " + _machine_line(results),
        "",
        "## Goals",
        "",
        "| goal | result |",
        "|---|---|",
    ]
    out += [f"| {g['goal']} | {g['summary']} |" for g in results["summary"]["goals"]]
    missed = missed_goals(results, listing, tracking)
    if missed:
        out += ["", "### Why the missed goals are missed (from this run's measurements)", "", *missed]
    if results.get("overhead"):
        out += _overhead_section(results["overhead"])
    if listing:
        out += _listing_section(results, listing, chart_note)
    if tracking:
        out += _tracking_section(results, tracking)
    if results.get("drain"):
        out += _drain_section(results["drain"])
    if results.get("backfill"):
        out += _backfill_section(results["backfill"])
    if results.get("profile"):
        out += _profile_section(results["profile"], listing)
    return "\n".join(out) + "\n"


def _overhead_section(overhead: dict) -> list[str]:
    p50 = overhead["p50_ms"]
    rps = overhead["requests_per_second"]
    return [
        "",
        "## Request overhead and workers",
        "",
        f"Client: {overhead['client']}. p50 at c=1, one uvicorn worker:",
        "",
        "| request | p50 ms |",
        "|---|---|",
        f"| bare async view, no middleware | {_ms(p50['bare_without_middleware'])} |",
        f"| bare async view behind the middleware stack | {_ms(p50['bare_with_middleware'])} |",
        f"| `{{ __typename }}` behind the middleware stack | {_ms(p50['typename_with_middleware'])} |",
        "",
        f"Production command `{overhead['command']}`, listing first=10 at c=16: "
        + ", ".join(f"{w} worker(s) {v:.0f} req/s" for w, v in rps.items())
        + f" (x{overhead['workers_ratio']:.2f}).",
    ]


def _listing_section(results: dict, listing: dict, chart_note: str | None) -> list[str]:
    concurrencies = sorted(results["concurrencies"])
    table, ratios, queries = listing["table"], listing["ratios"], results.get("queries", {})
    out = [
        "",
        "## Listing: `products(first: N, orderBy: MOST_VIEWED)` with every field",
        "",
        "Latency in ms (p50 / p95 / p99) and requests per second, per client concurrency c; "
        "SQL = statements per request counted inside the server; "
        "GraphQL ÷ = the GraphQL p50 divided by this variant's p50, run by run.",
    ]
    if results.get("consistency"):
        same = all(c["identical"] for c in results["consistency"].values())
        out.append(
            "Every variant returned the same products, order and field values as `/graphql/`: "
            + ("yes." if same else "NO, see `consistency` in latest.json.")
        )
    for first in sorted({row["first"] for row in table.values()}):
        head = "| variant | SQL |" + "".join(f" c={c} p50 / p95 / p99 | c={c} req/s |" for c in concurrencies)
        head += "".join(f" GraphQL ÷ (c={c}) |" for c in concurrencies)
        out += [
            "",
            f"**first: {first}** ({_requests(results, first)} requests per run)",
            "",
            head,
            "|---|---:|" + "---:|---:|" * len(concurrencies) + "---:|" * len(concurrencies),
        ]
        for variant in VARIANT_ORDER:
            cells = [table.get(f"{variant}|{first}|{c}") for c in concurrencies]
            if not any(cells):
                continue
            row = f"| {LABELS[variant]} | {queries.get(variant, {}).get(first, '')} |"
            for cell in cells:
                row += (
                    (
                        f" {_ms(cell['p50_ms'])} / {_ms(cell['p95_ms'])} / {_ms(cell['p99_ms'])} | "
                        f"{cell['requests_per_second']:.0f} |"
                    )
                    if cell
                    else " | |"
                )
            for c in concurrencies:
                r = ratios.get(f"graphql/{variant}|{first}|{c}")
                row += f" {r['median']:.2f} |" if r else (" 1 |" if variant == "graphql" else " |")
            out.append(row)
    if listing["lost_updates"]:
        out += [
            "",
            "Increments the seed's read-modify-write design lost (impression counters, all its runs):",
            "",
            "| concurrency | increments expected | counted | lost | events written |",
            "|---:|---:|---:|---:|---:|",
        ]
        for c, row in sorted(listing["lost_updates"].items()):
            share = row["lost"] / row["expected"] * 100 if row["expected"] else 0
            out.append(
                f"| {c} | {row['expected']:,} | {row['counted']:,} | {row['lost']:,} ({share:.1f}%) "
                f"| {row['events']:,} |"
            )
    out += ["", "![p50 by page size](latest.png)" if chart_note is None else f"(No chart: {chart_note}.)"]
    return out


def _requests(results: dict, first: int) -> int:
    counts = {r["measured"] for r in results["listing"]["runs"] if r["first"] == first}
    return max(counts) if counts else 0


def _tracking_section(results: dict, tracking: dict) -> list[str]:
    t = results["tracking"]
    out = [
        "",
        "## Tracking on the request path",
        "",
        "| request | SQL | concurrency | p50 / p95 / p99 ms | req/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for key in sorted(tracking["table"], key=lambda k: (k.split("|")[0] != "typename", int(k.split("|")[1]))):
        row = tracking["table"][key]
        name = "`{ __typename }`" if row["variant"] == "typename" else "`trackProductView`"
        sql = t["queries"]["typename" if row["variant"] == "typename" else "track_view"]
        out.append(
            f"| {name} | {sql} | {row['concurrency']} | {_ms(row['p50_ms'])} / {_ms(row['p95_ms'])} / "
            f"{_ms(row['p99_ms'])} | {row['requests_per_second']:.0f} |"
        )
    ratio = ", ".join(f"c={c}: {r['median']:.2f}x" for c, r in sorted(tracking["ratio"].items()))
    accepted = sum(r["accepted"] for r in tracking["table"].values() if r["variant"] == "track_view")
    responses = sum(r["responses"] for r in tracking["table"].values() if r["variant"] == "track_view")
    ex = t["executor"]
    out += [
        "",
        f"trackProductView p50 ÷ `{{ __typename }}` p50: {ratio}. Receipts accepted: {accepted:,} of "
        f"{responses:,}. The server's executor afterwards: {ex['enqueued']:,} enqueued, {ex['processed']:,} "
        f"applied, {ex['dropped']:,} dropped, {ex['rate_limited']:,} rate-limited, {ex['failed']:,} failed.",
    ]
    return out


def _drain_section(drain: dict) -> list[str]:
    out = [
        "",
        f"## Drain throughput ({drain['vendor']}, {drain['products']:,} products, in-process)",
        "",
        "| executor | events per run | events/s | s per run | lost rows | lost increments |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key in ("coalesced", "coalesced_one_worker", "naive"):
        d = drain.get(key)
        if not d:
            continue
        out.append(
            f"| {d['variant']} | {d['events']:,} | {d['events_per_second_median']:,.0f} | "
            f"{d['seconds_median']:.2f} | {d['lost_rows']} | {d['lost_increments']} |"
        )
    c = drain["coalesced"]
    out += [
        "",
        f"Coalesced ÷ naive events/s: {drain['speedup_median']:.1f}x (median of paired runs). Executor "
        f"settings: {c['workers']} workers, batches of {c['batch_size']}, {c['batch_interval']} s interval.",
    ]
    if drain.get("apply_profile"):
        out += _apply_profile(drain["apply_profile"])
    return out


def _apply_profile(profile: dict) -> list[str]:
    out = [
        "",
        f"One `apply_events` batch of {profile['batch']} events, {profile['ms_per_batch']:.1f} ms "
        f"({profile['cpu_share'] * 100:.0f}% of it CPU in this process, the rest waiting on the database):",
        "",
        "| part | ms per batch | share |",
        "|---|---:|---:|",
    ]
    for part in profile["parts"]:
        out.append(f"| {part['part']} | {part['ms']:.2f} | {part['share'] * 100:.0f}% |")
    return out


def _backfill_section(backfill: dict) -> list[str]:
    if "error" in backfill:
        return ["", "## Backfill", "", f"bench_backfill failed: {backfill['error']}"]
    try:  # the script and its JSON belong to their author: read what is there, defensively
        out = [
            "",
            f"## Backfill (`bench_backfill.py`, {backfill['products']:,} products)",
            "",
            "| variant | rows | median s | rows/s | peak RSS MB |",
            "|---|---:|---:|---:|---:|",
        ]
        for key in ("floor", "command", "naive"):
            r = backfill.get(key)
            if r:
                out.append(
                    f"| {r['variant']} | {r['rows']:,} | {r['seconds_median']} | {r['rows_per_second']:,} | "
                    f"{r.get('peak_rss_mb', '')} |"
                )
        out += [
            "",
            f"Command ÷ floor time: {backfill.get('ratio_to_floor')}x; command ÷ naive rows/s: "
            f"{backfill.get('speedup_vs_naive')}x.",
        ]
        return out
    except (KeyError, TypeError, ValueError) as exc:
        return ["", "## Backfill", "", f"See `results/backfill.json` (its format was not the expected one: {exc!r})."]


def _profile_section(profile: dict, listing: dict | None) -> list[str]:
    ph = profile["phases"]
    out = [
        "",
        f"## Where the time goes: one GraphQL listing of {profile['first']} (in-process, "
        f"{profile['requests']} requests, medians)",
        "",
        "| phase | ms per request |",
        "|---|---:|",
    ]
    rows = [
        ("whole request (Django `AsyncClient`, no HTTP server)", ph["request_ms"]),
        ("Django ASGI handler and middleware (request minus view)", ph["django_handler_and_middleware_ms"]),
        ("view: context, body parsing, response (the rest of the view)", ph["view_other_ms"]),
        ("GraphQL parse", ph["parse_ms"]),
        ("GraphQL validate", ph["validate_ms"]),
        ("GraphQL execute (resolvers, loaders, completion)", ph["execute_ms"]),
        ("JSON serialisation (`encode_json`)", ph["serialise_ms"]),
        (
            f"SQL: {ph['sql_statements']:.0f} statements, time inside them (database threads; overlaps execute)",
            ph["sql_ms"],
        ),
        (
            f"loader batches: {ph['loader_batches']:.0f}, their awaited times summed (thread hops included; "
            "they overlap one another and execute)",
            ph["loader_batches_ms"],
        ),
        ("for scale: the Django view, same process and client", profile["django_floor_in_process_ms"]),
    ]
    out += [f"| {name} | {_ms(value)} |" for name, value in rows]
    out += [
        "",
        "The event-loop thread's time by package (pyinstrument; shares applied to the unprofiled request time):",
        "",
        "| package | share | ≈ ms |",
        "|---|---:|---:|",
    ]
    out += [
        f"| {p['package']} | {p['share'] * 100:.0f}% | {_ms(p['ms'])} |"
        for p in profile["profile"]["packages"]
        if p["share"] >= 0.005
    ]
    out += ["", "Most self time:", "", "| function | share |", "|---|---:|"]
    out += [f"| `{f['function']}` | {f['share'] * 100:.1f}% |" for f in profile["profile"]["top_functions"][:8]]
    out += ["", f"Full tree: `{profile['profile_text']}`."]
    return out


def chart(results: dict, listing: dict | None, path: Path) -> str | None:
    """p50 by page size, one panel per concurrency. Returns None when written, else why not."""
    if not listing:
        return "no listing measured"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib)"
    concurrencies = sorted(results["concurrencies"])
    fig, axes = plt.subplots(1, len(concurrencies), figsize=(6 * len(concurrencies), 5), squeeze=False)
    for ax, c in zip(axes[0], concurrencies, strict=True):
        for variant in VARIANT_ORDER:
            points = sorted(
                (row["first"], row["p50_ms"])
                for row in listing["table"].values()
                if row["variant"] == variant and row["concurrency"] == c
            )
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=LABELS[variant].replace("`", ""))
        ax.set_title(f"p50 latency, {c} concurrent client{'s' if c > 1 else ''}")
        ax.set_xlabel("page size (first)")
        ax.set_ylabel("ms")
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(sorted({row["first"] for row in listing["table"].values()}))
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"{results['database'].get('products', 0):,} products, {results['database'].get('server_version')}")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
