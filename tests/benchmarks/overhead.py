"""The fixed cost of a request, and how throughput grows with worker processes.

Three servers, one after the other, on the same database:

- no middleware (``tests.benchmarks.settings_bare``): a bare async view returning a
  constant JSON body, the floor;
- the product's settings: the same bare view behind the middleware stack, and
  ``{ __typename }`` (strawberry's per-request work before any field runs);
- the production command with 1 then 2 worker processes (unpinned), for each server installed
  (``uvicorn --workers``, gunicorn with uvicorn workers, granian): the 10-item listing at c=16,
  requests per second; the one with the most at two workers is reported as the pick.

Each latency figure is the p50 at c=1 of one run; each ratio is taken between runs of the
same repeat on the same server, and the median of those ratios is reported.
"""

from __future__ import annotations

import json
import statistics

from tests.benchmarks import server as server_control
from tests.benchmarks.profile_listing import LISTING

REQUESTS = 200
THROUGHPUT_REQUESTS = 320
THROUGHPUT_CONCURRENCY = 16
BARE = {"method": "GET", "path": "/bench/bare/", "body": ""}
TYPENAME = {"method": "POST", "path": "/graphql/", "body": json.dumps({"query": "{ __typename }"})}
LISTING_10 = {"method": "POST", "path": "/graphql/", "body": json.dumps({"query": LISTING % 10})}


def available_servers() -> list[str]:
    """The servers of ``server_control.SERVERS`` installed here (gunicorn, uvicorn-worker and
    granian come with the ``bench`` extra)."""
    import importlib.util

    needs = {"uvicorn": ["uvicorn"], "gunicorn": ["gunicorn", "uvicorn_worker"], "granian": ["granian"]}
    return [kind for kind in server_control.SERVERS if all(importlib.util.find_spec(m) for m in needs[kind])]


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _p50s(database_url: str, load, requests: dict, repeats: int, **server_options) -> dict[str, list[float]]:
    server = server_control.start(database_url, **server_options)
    try:
        out: dict[str, list[float]] = {name: [] for name in requests}
        for repeat in range(repeats):
            names = list(requests) if repeat % 2 == 0 else list(reversed(requests))
            for name in names:
                out[name].append(load(server, requests[name], requests=REQUESTS, concurrency=1)["p50_ms"])
        return out
    finally:
        server_control.stop(server)


def _throughput(database_url: str, load, workers: int, repeats: int, kind: str = "uvicorn") -> list[float]:
    server = server_control.start(database_url, workers=workers, pin=False, kind=kind)
    try:
        return [
            load(server, LISTING_10, requests=THROUGHPUT_REQUESTS, concurrency=THROUGHPUT_CONCURRENCY)[
                "requests_per_second"
            ]
            for _ in range(repeats)
        ]
    finally:
        server_control.stop(server)


def measure(database_url: str, load, log, *, repeats: int) -> dict:
    bare = _p50s(database_url, load, {"bare": BARE}, repeats, settings="tests.benchmarks.settings_bare")
    stack = _p50s(database_url, load, {"bare": BARE, "typename": TYPENAME}, repeats)
    log(
        f"  p50 c=1: bare view {_median(bare['bare']):.2f} ms, behind the middleware {_median(stack['bare']):.2f} ms, "
        f"{{ __typename }} {_median(stack['typename']):.2f} ms"
    )
    servers = {}
    for kind in available_servers():
        throughput = {workers: _throughput(database_url, load, workers, repeats, kind) for workers in (1, 2)}
        servers[kind] = {
            "requests_per_second": {str(w): _median(v) for w, v in throughput.items()},
            "workers_ratio": _median([two / one for one, two in zip(throughput[1], throughput[2], strict=True)]),
            "command": " ".join(server_control.server_command(kind, 8000, 2)[2:]).replace("127.0.0.1", "0.0.0.0"),
        }
        log(
            f"  {kind}, listing first=10 at c={THROUGHPUT_CONCURRENCY}: "
            + ", ".join(f"{w} worker(s) {_median(v):.0f} req/s" for w, v in throughput.items())
            + f" (x{servers[kind]['workers_ratio']:.2f})"
        )
    # The production pick: the most requests per second with two workers, on this machine.
    chosen = max(servers, key=lambda kind: servers[kind]["requests_per_second"]["2"])
    # Servers differ between the bare floor and the stack, so that ratio pairs repeats by index.
    return {
        "p50_ms": {
            "bare_without_middleware": _median(bare["bare"]),
            "bare_with_middleware": _median(stack["bare"]),
            "typename_with_middleware": _median(stack["typename"]),
        },
        "middleware_ratio": _median([s / b for s, b in zip(stack["bare"], bare["bare"], strict=True)]),
        "typename_ratio": _median([t / b for t, b in zip(stack["typename"], stack["bare"], strict=True)]),
        "requests_per_second": servers[chosen]["requests_per_second"],
        "workers_ratio": servers[chosen]["workers_ratio"],
        "server": chosen,
        "command": servers[chosen]["command"],
        "servers": servers,
        "client": "hey, pinned to its own core (taskset); the single-worker server pinned to the other",
    }
