"""Where the time of one GraphQL listing request goes, measured in-process.

``python -m tests.benchmarks.profile_listing --first 50`` (run by ``tests.benchmarks.run``
with the benchmark database) drives ``/graphql/`` through Django's ``AsyncClient`` (the
ASGI handler and the middleware included, no HTTP server) and prints one JSON line:

phases    median ms per request, from light instrumentation of this process only: the
          whole request, Django's handler and middleware (request minus view), parse,
          validate and execute (a schema extension appended here), JSON encoding
          (``encode_json``), the rest of the view; SQL statements and their time
          (``execute_wrapper`` on every connection; they run in database threads, so
          that time overlaps execute); loader batches and their time.
packages  a pyinstrument pass (instrumentation idle): the event-loop thread's time by
          package (graphql-core, strawberry, asyncio, django, ...) as shares, and those
          shares applied to the unprofiled request time (the profiler slows call-heavy
          code more than the rest, so shares are indicative, not exact). "Idle" is the
          loop waiting in ``select`` while database threads work.
top       the functions with the most self time, the same way.

The pyinstrument text tree is written to ``results/profile-listing-<first>.txt``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import threading
import time
from collections import defaultdict
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LISTING = """{ products(first: %d, orderBy: MOST_VIEWED) { totalCount edges { cursor node {
    id name slug price inStock category { name slug parent { name } } seller { displayName }
    images { url altText } rating { average count }
    metrics { totalViews totalClicks totalSales clickThroughRate conversionRate } } } } }"""

_current: dict[str, float] = defaultdict(float)
_lock = threading.Lock()
_enabled = False  # instrumentation is installed before the first request, recording only in pass 2


def _add(key: str, seconds: float, count_key: str | None = None) -> None:
    if not _enabled:
        return
    with _lock:
        _current[key] += seconds
        if count_key:
            _current[count_key] += 1


def instrument() -> None:
    """Time the phases of this process's requests (never the server's)."""
    from django.db.backends.signals import connection_created
    from strawberry.extensions import SchemaExtension

    from graph.loaders.base import Loader
    from graph.schema import schema
    from graph.views import GraphQLView

    class PhaseTimer(SchemaExtension):
        def _timed(self, key):
            started = time.perf_counter()
            yield
            _add(key, time.perf_counter() - started)

        def on_parse(self):
            yield from self._timed("parse")

        def on_validate(self):
            yield from self._timed("validate")

        def on_execute(self):
            yield from self._timed("execute")

    schema.extensions = (*schema.extensions, PhaseTimer)

    dispatch, encode_json, batch_load_fn = GraphQLView.dispatch, GraphQLView.encode_json, Loader.batch_load_fn

    async def timed_dispatch(self, request, *args, **kwargs):
        started = time.perf_counter()
        try:
            return await dispatch(self, request, *args, **kwargs)
        finally:
            _add("view", time.perf_counter() - started)

    def timed_encode_json(self, data):
        started = time.perf_counter()
        try:
            return encode_json(self, data)
        finally:
            _add("encode_json", time.perf_counter() - started)

    async def timed_batch_load_fn(self, keys):
        started = time.perf_counter()
        try:
            return await batch_load_fn(self, keys)
        finally:
            _add("loader_batches_ms", time.perf_counter() - started, "loader_batches")

    GraphQLView.dispatch, GraphQLView.encode_json = timed_dispatch, timed_encode_json
    Loader.batch_load_fn = timed_batch_load_fn

    def sql_timer(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            _add("sql_ms", time.perf_counter() - started, "sql_statements")

    def on_connection(sender, connection, **kwargs):
        connection.execute_wrappers.append(sql_timer)

    connection_created.connect(on_connection, weak=False)


PACKAGES = [
    ("/graphql/", "graphql-core"),
    ("/strawberry_django/", "strawberry-django"),
    ("/strawberry/", "strawberry"),
    ("/aiodataloader", "aiodataloader"),
    ("/asgiref/", "asgiref"),
    ("/asyncio/", "asyncio"),
    ("/django/", "django"),
    ("/json/", "json"),
    ("/pyinstrument/", "profiler"),
]


IDLE = "event loop idle (waiting for database threads)"


def _package(frame, project_root: str) -> str:
    if frame.identifier == "[await]" or frame.function.rsplit(".", 1)[-1] in {"poll", "select"}:
        return IDLE
    path = frame.file_path or ""
    for marker, name in PACKAGES:
        if marker in path:
            return name
    if path.startswith(project_root) and "/.venv/" not in path:
        return "project code (graph/, marketplace/, tracking/)"
    return "other (stdlib, builtins)"


def summarize_profile(session, requests: int) -> dict:
    from pyinstrument.frame import SELF_TIME_FRAME_IDENTIFIER

    root = session.root_frame()
    project_root = str(Path(__file__).resolve().parents[2])
    by_package: dict[str, float] = defaultdict(float)
    by_function: dict[str, float] = defaultdict(float)

    def walk(frame, owner) -> None:
        if frame.identifier == SELF_TIME_FRAME_IDENTIFIER:
            frame = owner  # a [self] leaf is its parent's own time
            own = sum(c.time for c in frame.children if c.identifier == SELF_TIME_FRAME_IDENTIFIER)
            by_package[_package(frame, project_root)] += own
            by_function[f"{frame.function} ({frame.file_path_short}:{frame.line_no})"] += own
            return
        children = list(frame.children)
        own = frame.time - sum(c.time for c in children)
        if own > 0:
            by_package[_package(frame, project_root)] += own
            label = frame.identifier if frame.is_synthetic else frame.function
            by_function[f"{label} ({frame.file_path_short}:{frame.line_no})"] += own
        for child in children:
            if child.identifier != SELF_TIME_FRAME_IDENTIFIER:
                walk(child, frame)
        if any(c.identifier == SELF_TIME_FRAME_IDENTIFIER for c in children):
            walk(next(c for c in children if c.identifier == SELF_TIME_FRAME_IDENTIFIER), frame)

    walk(root, root)
    total = sum(by_package.values()) or 1.0
    packages = sorted(by_package.items(), key=lambda kv: -kv[1])
    top = sorted(by_function.items(), key=lambda kv: -kv[1])[:12]
    return {
        "profiled_ms_per_request": root.time * 1000 / requests,  # inflated by the profiler's own cost
        "packages": [{"package": k, "share": v / total} for k, v in packages],
        "top_functions": [{"function": k, "share": v / total} for k, v in top],
    }


async def _request(client, path: str, body: str | None) -> float:
    started = time.perf_counter()
    if body is None:
        response = await client.get(path)
    else:
        response = await client.post(path, body, content_type="application/json")
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or b'"errors"' in response.content:
        raise SystemExit(f"{path} answered {response.status_code}: {response.content[:300]!r}")
    return elapsed


async def measure(first: int, requests: int, warmup: int) -> dict:
    from django.test import AsyncClient
    from pyinstrument import Profiler

    instrument()
    client = AsyncClient()
    body = json.dumps({"query": LISTING % first})
    floor_path = f"/bench/django-listing/?first={first}"
    for _ in range(warmup):
        await _request(client, "/graphql/", body)
        await _request(client, floor_path, None)

    # Pass 1: the profiler, instrumentation idle. async_mode="disabled": graphql-core runs
    # list items as separate tasks, whose time "enabled" would file under [await].
    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()
    for _ in range(requests):
        await _request(client, "/graphql/", body)
    session = profiler.stop()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    text_path = RESULTS_DIR / f"profile-listing-{first}.txt"
    tree = profiler.output_text(unicode=True, show_all=True, processor_options={"filter_threshold": 0.01})
    flat = profiler.output_text(unicode=True, flat=True, time="percent_of_total")
    text_path.write_text(f"{tree}\n\nSelf time by function (share of the profile):\n\n{flat}")
    profile = summarize_profile(session, requests)

    # Pass 2: phases, from light instrumentation; the Django floor in the same process for scale.
    floor = [await _request(client, floor_path, None) for _ in range(requests)]
    global _enabled
    _enabled = True
    samples: list[dict] = []
    for _ in range(requests):
        _current.clear()
        total = await _request(client, "/graphql/", body)
        samples.append({**_current, "total": total})
    phases = _phases(samples)
    for row in profile["packages"] + profile["top_functions"]:
        row["ms"] = row["share"] * phases["request_ms"]  # the share applied to the unprofiled request
    return {
        "first": first,
        "requests": requests,
        "phases": phases,
        "django_floor_in_process_ms": statistics.median(floor) * 1000,
        "profile": profile,
        "profile_text": str(text_path.relative_to(RESULTS_DIR.parents[2])),
    }


def _phases(samples: list[dict]) -> dict:
    def med(fn) -> float:
        return statistics.median(fn(s) for s in samples)

    ms = 1000.0
    inner = ("parse", "validate", "execute", "encode_json")
    return {
        "request_ms": med(lambda s: s["total"]) * ms,
        "django_handler_and_middleware_ms": med(lambda s: s["total"] - s.get("view", 0)) * ms,
        "view_other_ms": med(lambda s: s.get("view", 0) - sum(s.get(k, 0) for k in inner)) * ms,
        "parse_ms": med(lambda s: s.get("parse", 0)) * ms,
        "validate_ms": med(lambda s: s.get("validate", 0)) * ms,
        "execute_ms": med(lambda s: s.get("execute", 0)) * ms,
        "serialise_ms": med(lambda s: s.get("encode_json", 0)) * ms,
        "sql_statements": med(lambda s: s.get("sql_statements", 0)),
        "sql_ms": med(lambda s: s.get("sql_ms", 0)) * ms,
        "loader_batches": med(lambda s: s.get("loader_batches", 0)),
        "loader_batches_ms": med(lambda s: s.get("loader_batches_ms", 0)) * ms,
    }


async def measure_cpu(first: int, requests: int, warmup: int, rounds: int) -> dict:
    """CPU time per request (this process, every thread: the loop and the database
    thread) in ``rounds`` rounds of ``requests`` listings, and Python function calls per
    request (one extra request under ``cProfile``). CPU time, not wall time: on a shared,
    loaded machine it is the figure that other processes disturb least; compare variants
    back to back and by the median of the rounds."""
    import cProfile
    import pstats

    from django.test import AsyncClient

    client = AsyncClient()
    body = json.dumps({"query": LISTING % first})
    for _ in range(warmup):
        await _request(client, "/graphql/", body)
    per_round = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(requests):
            await _request(client, "/graphql/", body)
        per_round.append((time.process_time() - started) * 1000 / requests)
    profiler = cProfile.Profile()
    profiler.enable()
    await _request(client, "/graphql/", body)
    profiler.disable()
    calls = pstats.Stats(profiler).total_calls
    return {
        "first": first,
        "cpu_ms_per_request": {"median": statistics.median(per_round), "rounds": [round(r, 3) for r in per_round]},
        "python_calls_per_request": calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--first", type=int, default=50)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--cpu", type=int, metavar="ROUNDS", help="CPU time per request in ROUNDS rounds, no profile")
    args = parser.parse_args()
    import django

    django.setup()
    if args.cpu:
        print(json.dumps(asyncio.run(measure_cpu(args.first, args.requests, args.warmup, args.cpu))))
        return
    print(json.dumps(asyncio.run(measure(args.first, args.requests, args.warmup))))


if __name__ == "__main__":
    main()
