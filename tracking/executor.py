"""The tracking executor: requests hand events over and return at once.

This module is the queue and its workers; how a batch leaves is the applier's business
(``tracking.appliers``: in-process writes, or the broker hand-off with its confirmer in
``tracking.handoff``), as PostHog's client splits its queue, consumer and transport.

- A bounded buffer (``TRACKING_QUEUE_SIZE`` events). When full, an offer is refused at
  once and counted as dropped: the caller is never blocked and never raises, and an
  event once accepted is never dropped for lack of room later.
- ``TRACKING_WORKERS`` threads drain it. A worker takes what is queued, up to
  ``TRACKING_BATCH_SIZE`` events or until ``TRACKING_BATCH_INTERVAL`` seconds passed
  since the batch's first event, and hands the batch to the applier. 500 events / 200 ms:
  big enough that one transaction amortises its commit over hundreds of events, short
  enough that counters trail by well under a second (PostHog's and Segment's clients:
  100 events / 0.5-5 s).
- The applier retries as its policy says (a database outage is waited out) and answers
  how many events were applied, discarded or failed; the worker counts and goes on.
- Started lazily per process (after a fork, the child starts its own), stopped with a
  drain: ``shutdown()`` runs at interpreter exit, on the ASGI lifespan shutdown (see
  ``tracking.receivers``), and on SIGTERM for scripts.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable

from django.conf import settings
from django.db import connection

from tracking.appliers import Applier, Batch, DeliveryControl
from tracking.apply import BatchResult
from tracking.backends import build_applier
from tracking.events import TrackingEvent
from tracking.outage import open_connection_pool
from tracking.stats import TrackingStats

logger = logging.getLogger(__name__)

__all__ = ["EventExecutor", "TrackingStats", "batch_observers", "current_executor", "get_executor", "set_executor"]

# Called after every batch as observer(executor, batch_size, seconds), in the worker thread and
# outside the executor's lock (tracking.prometheus registers one). Observers must be quick;
# one that raises is logged and the worker goes on.
batch_observers: list[Callable[[EventExecutor, int, float], None]] = []


class EventExecutor:
    def __init__(
        self,
        *,
        applier: Applier | None = None,
        max_queue: int | None = None,
        workers: int | None = None,
        batch_size: int | None = None,
        batch_interval: float | None = None,
    ) -> None:
        self.applier = applier if applier is not None else build_applier()
        self.max_queue = max_queue or settings.TRACKING_QUEUE_SIZE
        self.worker_count = workers or settings.TRACKING_WORKERS
        self.batch_size = batch_size or settings.TRACKING_BATCH_SIZE
        self.batch_interval = batch_interval if batch_interval is not None else settings.TRACKING_BATCH_INTERVAL
        self._control = DeliveryControl(count_retry=self._count_retry, past_deadline=self._past_deadline)
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._has_work = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._buffer: deque[TrackingEvent] = deque()
        self._in_flight: dict[int, float] = {}  # worker ident -> oldest enqueued_at of its batch
        self._in_flight_events = 0
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._shutdown_deadline = float("inf")
        self._flushing = 0  # callers waiting in flush(): workers take what is queued without waiting
        self._stats = TrackingStats()

    # --- producers ----------------------------------------------------------
    def offer(self, events: list[TrackingEvent]) -> bool:
        """Queue ``events`` all together, or none of them when they do not fit."""
        if not events:
            return True
        self._ensure_started()
        with self._lock:
            if self._stopping or len(self._buffer) + len(events) > self.max_queue:
                self._stats.dropped += len(events)
                return False
            self._buffer.extend(events)
            self._stats.enqueued += len(events)
            self._has_work.notify()
        return True

    def count_rate_limited(self, n: int = 1) -> None:
        with self._lock:
            self._stats.rate_limited += n

    def count_bot_events(self, n: int = 1) -> None:
        """Events of a known crawler, left out of every counter (tracking.crawlers)."""
        with self._lock:
            self._stats.bot_events += n

    # --- lifecycle ----------------------------------------------------------
    def start(self) -> None:
        """Start the workers now (otherwise the first offer does). Call it from the main
        thread of a script so that SIGTERM drains the queue there too."""
        self._ensure_started()

    def _ensure_started(self) -> None:
        if self._pid != os.getpid():  # forked: the parent's threads did not come along
            self._reset()
        if self._threads or self._stopping:
            return
        with self._lock:
            if self._threads or self._stopping:
                return
            for i in range(self.worker_count):
                thread = threading.Thread(target=self._run, name=f"tracking-worker-{i}", daemon=True)
                thread.start()
                self._threads.append(thread)
            self.applier.start(wake_workers=self._wake_workers, control=self._control)
        open_connection_pool()  # now, while threads can start: the drain at exit may need it
        atexit.register(self.shutdown)
        _install_sigterm_drain(self)

    def flush(self, timeout: float = 10.0) -> bool:
        """Apply what is queued now, without waiting out the batch interval, and wait until every
        queued event is applied (or failed); True if it got there in time."""
        deadline = time.monotonic() + timeout
        with self._lock:
            # Flushing means now: a worker gathering a batch stops waiting for the interval.
            self._flushing += 1
            self._has_work.notify_all()
            try:
                while self._buffer or self._in_flight_events:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not any(t.is_alive() for t in self._threads):
                        return False
                    self._idle.wait(remaining)
            finally:
                self._flushing -= 1
        return True

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop taking events, apply what is queued within ``timeout``, stop the workers."""
        timeout = settings.TRACKING_SHUTDOWN_TIMEOUT if timeout is None else timeout
        if self._pid != os.getpid():
            return True
        atexit.unregister(self.shutdown)  # once is enough (and logging is gone at exit)
        if self._stopping and not any(t.is_alive() for t in self._threads):
            return not self._buffer
        deadline = time.monotonic() + timeout
        with self._lock:
            self._stopping = True
            self._shutdown_deadline = deadline
            self._has_work.notify_all()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            left = len(self._buffer) + self._in_flight_events
        if left:
            logger.error("Tracking shutdown: %d events not applied within %.1f s", left, timeout)
        else:
            logger.info("Tracking shutdown: queue drained (%d events processed)", self._stats.processed)
        self.applier.stop(deadline)
        return left == 0

    # --- statistics ---------------------------------------------------------
    def stats(self) -> TrackingStats:
        now = time.monotonic()
        with self._lock:
            stats = TrackingStats(**self._stats.as_dict())
            stats.queue_depth = len(self._buffer) + self._in_flight_events
            oldest = [*self._in_flight.values(), *([self._buffer[0].enqueued_at] if self._buffer else [])]
            stats.oldest_pending_age = round(now - min(oldest), 4) if oldest else 0.0
            stats.workers_alive = sum(t.is_alive() for t in self._threads)
        handoff = self.applier.counts()
        stats.unconfirmed, stats.resent, stats.released = handoff.unconfirmed, handoff.resent, handoff.released
        return stats

    def _count_retry(self) -> None:
        with self._lock:
            self._stats.retried += 1

    def _past_deadline(self) -> bool:
        return self._stopping and time.monotonic() > self._shutdown_deadline

    def _wake_workers(self) -> None:
        with self._lock:
            self._has_work.notify_all()

    # --- workers ------------------------------------------------------------
    def _take_batch(self) -> Batch | None:
        """Block for a first event, then gather more until full or the interval ends.
        A batch the applier wants delivered again comes first. None when stopping and
        nothing is left."""
        with self._lock:
            while True:
                again = self.applier.take_resend()
                if again is not None:
                    return again
                if not self._buffer:
                    if self._stopping:
                        return None
                    self._has_work.wait(0.5)
                    continue
                deadline = time.monotonic() + self.batch_interval
                while len(self._buffer) < self.batch_size and not self._stopping and not self._flushing:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._has_work.wait(remaining)
                if not self._buffer:
                    continue  # another worker took them while this one waited
                events = [self._buffer.popleft() for _ in range(min(self.batch_size, len(self._buffer)))]
                self._in_flight[threading.get_ident()] = events[0].enqueued_at
                self._in_flight_events += len(events)
                return Batch(events)

    def _run(self) -> None:
        try:
            while (batch := self._take_batch()) is not None:
                started = time.monotonic()
                result = self.applier.deliver(batch, self._control)
                if not batch.resend:
                    self._finish(batch, result, time.monotonic() - started)
        finally:
            connection.close()

    def _finish(self, batch: Batch, result: BatchResult, duration: float) -> None:
        # A duplicate is a batch whose earlier attempt committed although its answer was
        # lost (the connection dropped during COMMIT): applied, once, by that attempt.
        applied = len(batch) - result.failed if result.duplicate else result.applied
        with self._lock:
            self._stats.batches += 1
            self._stats.processed += applied
            self._stats.discarded += 0 if result.duplicate else result.discarded
            self._stats.failed += result.failed
            self._stats.last_batch_duration = round(duration, 4)
            self._stats.last_batch_size = len(batch)
            self._in_flight.pop(threading.get_ident(), None)
            self._in_flight_events -= len(batch)
            if not self._buffer and not self._in_flight_events:
                self._idle.notify_all()
        _notify_batch_observers(self, len(batch), duration)


def _notify_batch_observers(executor: EventExecutor, size: int, duration: float) -> None:
    for observer in batch_observers:
        try:
            observer(executor, size, duration)
        except Exception:
            logger.exception("Tracking batch observer %r failed", observer)


def _install_sigterm_drain(executor: EventExecutor) -> None:
    """Scripts die on SIGTERM without running atexit; make them exit cleanly instead.
    Servers (uvicorn, gunicorn) install their own handler first and are left alone."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def drain_and_exit(signum, frame):
        raise SystemExit(128 + signum)  # atexit then runs shutdown()

    signal.signal(signal.SIGTERM, drain_and_exit)


_executor: EventExecutor | None = None
_executor_lock = threading.Lock()


def get_executor() -> EventExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = EventExecutor()
    return _executor


def set_executor(executor: EventExecutor | None) -> EventExecutor | None:
    """Swap the process executor (tests, benchmarks); returns the previous one."""
    global _executor
    with _executor_lock:
        previous, _executor = _executor, executor
    return previous


def current_executor() -> EventExecutor | None:
    """The process executor if one was created (never creates one)."""
    return _executor
