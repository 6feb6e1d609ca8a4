"""The fixed cost of a request, and how throughput grows with worker processes.

Three servers, one after the other, on the same database:

- no middleware (``tests.benchmarks.settings_bare``): a bare async view returning a
  constant JSON body, the floor;
- the product's settings: the same bare view behind the middleware stack, and
  ``{ __typename }`` (strawberry's per-request work before any field runs);
- the production command, ``uvicorn --workers 1`` then ``--workers 2`` (unpinned): the
  10-item listing at c=16, requests per second.

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


def _throughput(database_url: str, load, workers: int, repeats: int) -> list[float]:
    server = server_control.start(database_url, workers=workers, pin=False)
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
    throughput = {workers: _throughput(database_url, load, workers, repeats) for workers in (1, 2)}
    log(
        f"  uvicorn, listing first=10 at c={THROUGHPUT_CONCURRENCY}: "
        + ", ".join(f"{w} worker(s) {_median(v):.0f} req/s" for w, v in throughput.items())
    )
    # Servers differ between the bare floor and the stack, so that ratio pairs repeats by index.
    return {
        "p50_ms": {
            "bare_without_middleware": _median(bare["bare"]),
            "bare_with_middleware": _median(stack["bare"]),
            "typename_with_middleware": _median(stack["typename"]),
        },
        "middleware_ratio": _median([s / b for s, b in zip(stack["bare"], bare["bare"], strict=True)]),
        "typename_ratio": _median([t / b for t, b in zip(stack["typename"], stack["bare"], strict=True)]),
        "requests_per_second": {str(w): _median(v) for w, v in throughput.items()},
        "workers_ratio": _median([two / one for one, two in zip(throughput[1], throughput[2], strict=True)]),
        "command": "uvicorn config.asgi:application --workers N",
        "client": "hey, pinned to its own core (taskset); the single-worker server pinned to the other",
    }
