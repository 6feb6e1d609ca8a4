"""Prometheus metrics: GraphQL operations, and the tracking executor's statistics.

Every process records into its own metric objects. With several worker processes
(``uvicorn --workers N``) set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory
before the server starts: prometheus-client then keeps each process's values in a
file there, and ``/metrics`` (whichever worker answers) adds them up. Without the
variable the default registry of this one process is exposed.

The executor's statistics are cumulative per process (``TrackingStats``), so they
are fed into Counters by difference since the last recording. Counters are what
Prometheus' ``rate()`` expects, and in multiprocess mode the library keeps a
finished worker's counts in the sum, so a restarted worker never makes a total go
backwards (a ``livesum`` Gauge would drop by the dead worker's share, which
``rate()`` mistakes for a reset). Queue depth, oldest pending age and live workers
are states, not counts: Gauges summed (or maxed) over the processes alive now.

A process records its statistics after each batch (``observe_tracking_batch``),
after a GraphQL operation at most once a second, and when it answers ``/metrics``;
another worker's figures are therefore at most about a second (or a batch) old.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import threading
import time
import weakref

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from strawberry.extensions import SchemaExtension

from tracking.executor import current_executor

logger = logging.getLogger(__name__)

OPERATION_NAME_MAX_LENGTH = 64
OPERATION_NAMES_MAX = 100  # distinct names per process; later ones count as "other"
TRACKING_STATS_MAX_AGE = 1.0  # seconds between recordings triggered by GraphQL operations

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

# TrackingStats field -> the Counter it feeds.
TRACKING_COUNTERS = {
    "enqueued": Counter("tracking_events_enqueued", "Tracking events accepted into the executor's queue."),
    "processed": Counter(
        "tracking_events_processed", "Tracking events applied (in-process) or handed to the broker (celery)."
    ),
    "dropped": Counter("tracking_events_dropped", "Tracking events refused because the queue was full."),
    "failed": Counter("tracking_events_failed", "Tracking events lost after their batch failed every retry."),
    "discarded": Counter("tracking_events_discarded", "Tracking events skipped, e.g. for a product that is gone."),
    "rate_limited": Counter("tracking_events_rate_limited", "Tracking events refused by the per-visitor rate limit."),
    "retried": Counter("tracking_batch_retries", "Retries of tracking batches after a transient error."),
    "resent": Counter(
        "tracking_events_resent", "Tracking events published to the broker again because no worker applied them."
    ),
    "released": Counter(
        "tracking_events_released", "Tracking events no longer watched for confirmation (too many unconfirmed)."
    ),
}
TRACKING_QUEUE_DEPTH = Gauge(
    "tracking_queue_depth", "Tracking events queued or in a batch being applied.", multiprocess_mode="livesum"
)
TRACKING_OLDEST_PENDING_AGE = Gauge(
    "tracking_oldest_pending_age_seconds",
    "Age of the oldest tracking event not yet applied.",
    multiprocess_mode="livemax",
)
TRACKING_UNCONFIRMED = Gauge(
    "tracking_events_unconfirmed",
    "Tracking events handed to the broker that no worker has applied yet.",
    multiprocess_mode="livesum",
)
TRACKING_WORKERS_ALIVE = Gauge(
    "tracking_workers_alive", "Tracking worker threads running.", multiprocess_mode="livesum"
)
TRACKING_BATCH_DURATION = Histogram(
    "tracking_batch_duration_seconds",
    "Time to apply one tracking batch, retries included (celery: to hand it to the broker).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
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


# --- tracking executor ----------------------------------------------------------


class _TrackingRecorder:
    """Turns one executor's cumulative statistics into Counter increments."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._source: weakref.ref | None = None
        self._pid = 0
        self._last: dict[str, int] = {}
        self.recorded_at = float("-inf")

    def record(self, executor) -> None:
        stats = executor.stats()
        with self._lock:
            if self._pid != os.getpid() or self._source is None or self._source() is not executor:
                # Another executor (swapped in, or this is a forked child): its counts start from zero.
                self._source, self._pid, self._last = weakref.ref(executor), os.getpid(), {}
            for field, counter in TRACKING_COUNTERS.items():
                value = getattr(stats, field)
                last = self._last.get(field, 0)
                increase = value - last if value >= last else value  # lower: the executor was reset
                if increase:
                    counter.inc(increase)
                self._last[field] = value
            TRACKING_QUEUE_DEPTH.set(stats.queue_depth)
            TRACKING_OLDEST_PENDING_AGE.set(stats.oldest_pending_age)
            TRACKING_WORKERS_ALIVE.set(stats.workers_alive)
            TRACKING_UNCONFIRMED.set(stats.unconfirmed)
            self.recorded_at = time.monotonic()


_recorder = _TrackingRecorder()


def record_tracking_stats(executor=None) -> None:
    """Bring the tracking metrics up to date with ``executor`` (default: this process's,
    if it has one). Any object with a ``stats() -> TrackingStats`` method will do."""
    executor = executor if executor is not None else current_executor()
    if executor is not None:
        _recorder.record(executor)


def refresh_tracking_stats(max_age: float = TRACKING_STATS_MAX_AGE) -> None:
    """``record_tracking_stats`` unless that happened less than ``max_age`` seconds ago:
    keeps a worker that applies no batch (stuck, or idle) from showing stale figures."""
    if time.monotonic() - _recorder.recorded_at >= max_age:
        record_tracking_stats()


def observe_tracking_batch(executor, size: int, duration: float) -> None:
    """The executor's batch observer: the batch's latency, then the statistics it changed."""
    TRACKING_BATCH_DURATION.observe(duration)
    record_tracking_stats(executor)


def install() -> None:
    """Register ``observe_tracking_batch`` with the executor (once; from ``GraphConfig.ready``)."""
    from tracking.executor import batch_observers

    if observe_tracking_batch not in batch_observers:
        batch_observers.append(observe_tracking_batch)


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
