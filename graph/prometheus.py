"""Prometheus metrics: GraphQL operations, and the exposition of every metric (the tracking
executor's own live in ``tracking.prometheus``).

Every process records into its own metric objects. With several worker processes
(``uvicorn --workers N``) set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory
before the server starts: prometheus-client then keeps each process's values in a
file there, and ``/metrics`` (whichever worker answers) adds them up. Without the
variable the default registry of this one process is exposed.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import threading
import time

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from strawberry.extensions import SchemaExtension

from tracking.prometheus import observe_tracking_batch, record_tracking_stats, refresh_tracking_stats  # noqa: F401

logger = logging.getLogger(__name__)

OPERATION_NAME_MAX_LENGTH = 64
OPERATION_NAMES_MAX = 100  # distinct names per process; later ones count as "other"

GRAPHQL_REQUESTS = Counter(
    "graphql_requests",
    "GraphQL operations run, by operation name and type.",
    ["operation", "type"],
)
GRAPHQL_REQUEST_DURATION = Histogram(
    "graphql_request_duration_seconds",
    "Time from receiving a GraphQL document to having its result (parse, validate, execute).",
    ["operation", "type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


# --- GraphQL operations ---------------------------------------------------------


class OperationNames:
    """Bounded label values: clients choose operation names, and every distinct value
    is a new time series. The first ``limit`` names (truncated) are kept, later ones
    become "other"; a missing name is "anonymous"."""

    def __init__(self, limit: int = OPERATION_NAMES_MAX, max_length: int = OPERATION_NAME_MAX_LENGTH) -> None:
        self.limit = limit
        self.max_length = max_length
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str | None) -> str:
        if not name:
            return "anonymous"
        name = name[: self.max_length]
        if name in self._seen:
            return name
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(name)
                return name
        return "other"


operation_names = OperationNames()


_series: dict[tuple[str, str], tuple] = {}  # labels -> (counter, histogram): .labels() costs more than the update


def record_operation(*, name: str | None, operation_type: str, duration: float) -> None:
    """Count one GraphQL operation and its duration under a bounded ``operation`` label."""
    labels = (operation_names.label(name), operation_type)
    series = _series.get(labels)
    if series is None:
        series = _series[labels] = (GRAPHQL_REQUESTS.labels(*labels), GRAPHQL_REQUEST_DURATION.labels(*labels))
    series[0].inc()
    series[1].observe(duration)


def _operation_type(execution_context) -> str:
    try:
        return execution_context.operation_type.value
    except Exception:  # no document (a syntax error) or no operation by the requested name
        return "unknown"


class OperationMetrics(SchemaExtension):
    """Times each operation as a whole: one hook per operation, none per field.
    List it first among the schema's extensions, so that documents a limit refuses
    are counted too."""

    def on_operation(self):
        started = time.perf_counter()
        try:
            yield
        finally:
            ctx = self.execution_context
            try:
                record_operation(
                    name=ctx.operation_name, operation_type=_operation_type(ctx), duration=time.perf_counter() - started
                )
                refresh_tracking_stats()
            except Exception:  # e.g. the multiprocess directory is full: the request must not fail for it
                logger.exception("Recording GraphQL metrics failed")


# --- exposition -----------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(accept: str | None) -> tuple[bytes, str]:
    """The metrics in the format ``accept`` asks for (Prometheus text by default), and its
    content type: all processes' sum in multiprocess mode, this process's otherwise."""
    path = multiprocess_dir()
    if path:
        _forget_dead_processes(path)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)
    else:
        registry = REGISTRY
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


def _forget_dead_processes(path: str) -> None:
    """Drop the live gauges of processes that are gone: uvicorn, unlike gunicorn, has no
    hook to call ``mark_process_dead`` when a worker exits, and a killed worker's queue
    depth must not count. (Their counters stay, as counters should.)"""
    pids = {
        filename.rsplit("_", 1)[-1].removesuffix(".db")
        for filename in glob.glob(os.path.join(path, "gauge_live*_*.db"))
    }
    for pid in pids:
        if pid.isdigit() and not _process_exists(int(pid)):
            with contextlib.suppress(FileNotFoundError):  # another worker's scrape removed it first
                mark_process_dead(int(pid), path)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
