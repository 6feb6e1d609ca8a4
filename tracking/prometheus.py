"""Prometheus metrics of the tracking executor, fed from its statistics.

The executor's statistics are cumulative per process (``TrackingStats``), so they
are fed into Counters by difference since the last recording. Counters are what
Prometheus' ``rate()`` expects, and in multiprocess mode the library keeps a
finished worker's counts in the sum, so a restarted worker never makes a total go
backwards (a ``livesum`` Gauge would drop by the dead worker's share, which
``rate()`` mistakes for a reset). Queue depth, oldest pending age and live workers
are states, not counts: Gauges summed (or maxed) over the processes alive now.

A process records its statistics after each batch (``observe_tracking_batch``, which
``TrackingConfig.ready`` registers with the executor), after a GraphQL operation at
most once a second (``refresh_tracking_stats``), and when it answers ``/metrics``;
another worker's figures are therefore at most about a second (or a batch) old.
Exposition (and multiprocess mode) is the GraphQL layer's business.
"""

from __future__ import annotations

import os
import threading
import time
import weakref

from prometheus_client import Counter, Gauge, Histogram

from tracking.executor import batch_observers, current_executor

TRACKING_STATS_MAX_AGE = 1.0  # seconds between recordings triggered by GraphQL operations

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
    "bot_events": Counter("tracking_bot_events", "Tracking events from known crawlers, answered but never counted."),
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
    """Register ``observe_tracking_batch`` with the executor (once; from ``TrackingConfig.ready``)."""
    if observe_tracking_batch not in batch_observers:
        batch_observers.append(observe_tracking_batch)
