"""The in-process tracking executor: requests hand events over and return at once.

- A bounded buffer (``TRACKING_QUEUE_SIZE`` events). When full, an offer is
  refused and counted as dropped: the caller is never blocked and never raises.
- ``TRACKING_WORKERS`` threads drain it. A worker takes what is queued, up to
  ``TRACKING_BATCH_SIZE`` events or until ``TRACKING_BATCH_INTERVAL`` seconds
  passed since the batch's first event, and applies the batch in one short
  transaction (``tracking.apply``). 500 events / 200 ms: big enough that one
  transaction amortises its commit over hundreds of events (the commit, not the
  rows, dominates on SQLite), short enough that counters trail by well under a
  second, as PostHog's and Segment's clients do (100 events / 0.5-5 s).
- A failing batch is retried with exponential backoff (``TRACKING_MAX_RETRIES``),
  then counted failed and logged with its size; the worker goes on.
- Started lazily per process (after a fork, the child starts its own), stopped
  with a drain: ``shutdown()`` runs at interpreter exit, on the ASGI lifespan
  shutdown (see ``tracking.receivers``), and on SIGTERM for scripts.
- With an applier that hands batches to a broker (``send_batch``), a published batch
  is kept in a ``HandoffLedger`` until a worker has applied it, and published again
  when it looks lost (see ``tracking.handoff``); a ``tracking-confirm`` thread checks.
"""

from __future__ import annotations

import atexit
import inspect
import logging
import os
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, close_old_connections, connection

from tracking.apply import apply_events
from tracking.celery_backend import BrokerUnavailable, send_batch
from tracking.events import TrackingEvent
from tracking.handoff import HandoffLedger

logger = logging.getLogger(__name__)

# Called after every batch as observer(executor, batch_size, seconds), in the worker thread and
# outside the executor's lock (graph.observability registers one that feeds Prometheus).
# Observers must be quick; one that raises is logged and the worker goes on.
batch_observers: list[Callable[[EventExecutor, int, float], None]] = []


@dataclass
class TrackingStats:
    enqueued: int = 0
    processed: int = 0
    dropped: int = 0
    failed: int = 0
    retried: int = 0
    discarded: int = 0
    batches: int = 0
    rate_limited: int = 0
    queue_depth: int = 0
    oldest_pending_age: float = 0.0
    last_batch_duration: float = 0.0
    last_batch_size: int = 0
    workers_alive: int = 0
    # Broker hand-off (celery backend): events published but not yet applied by a worker,
    # events published again because their batch looked lost, events no longer watched.
    unconfirmed: int = 0
    resent: int = 0
    released: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


class EventExecutor:
    def __init__(
        self,
        *,
        max_queue: int | None = None,
        workers: int | None = None,
        batch_size: int | None = None,
        batch_interval: float | None = None,
        max_retries: int | None = None,
        retry_base_delay: float = 0.05,
        apply=None,
        confirm_after: float | None = None,
        confirm_interval: float | None = None,
        max_unconfirmed: int | None = None,
    ) -> None:
        self.max_queue = max_queue or settings.TRACKING_QUEUE_SIZE
        self.worker_count = workers or settings.TRACKING_WORKERS
        self.batch_size = batch_size or settings.TRACKING_BATCH_SIZE
        self.batch_interval = batch_interval if batch_interval is not None else settings.TRACKING_BATCH_INTERVAL
        self.max_retries = max_retries if max_retries is not None else settings.TRACKING_MAX_RETRIES
        self.retry_base_delay = retry_base_delay
        self.apply = apply or default_apply()
        # Appliers that take a batch id get a fresh one per batch, kept across its
        # retries: with it a batch is applied at most once (see tracking.apply).
        self._apply_takes_id = "batch_id" in inspect.signature(self.apply).parameters
        self._confirms_handoff = getattr(self.apply, "confirms_handoff", False)
        self.confirm_after = confirm_after if confirm_after is not None else settings.TRACKING_CONFIRM_AFTER
        self.confirm_interval = confirm_interval if confirm_interval is not None else settings.TRACKING_CONFIRM_INTERVAL
        self.max_unconfirmed = max_unconfirmed or settings.TRACKING_UNCONFIRMED_LIMIT
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
        self._ledger = (
            HandoffLedger(confirm_after=self.confirm_after, max_events=self.max_unconfirmed)
            if self._confirms_handoff
            else None
        )
        self._resend: deque[tuple[str, list[TrackingEvent]]] = deque()  # batches to publish again
        self._confirmer: threading.Thread | None = None
        self._confirmer_stop = threading.Event()
        self._confirm_deadline = 0.0  # set by shutdown before it stops the confirmer

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
            if self._ledger is not None:
                self._confirmer = threading.Thread(target=self._confirm_loop, name="tracking-confirm", daemon=True)
                self._confirmer.start()
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
        with self._lock:
            self._stopping = True
            self._has_work.notify_all()
        deadline = time.monotonic() + timeout
        self._shutdown_deadline = deadline
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            left = len(self._buffer) + self._in_flight_events
        if left:
            logger.error("Tracking shutdown: %d events not applied within %.1f s", left, timeout)
        else:
            logger.info("Tracking shutdown: queue drained (%d events processed)", self._stats.processed)
        self._await_confirmations(deadline)
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
        if self._ledger is not None:
            stats.unconfirmed = self._ledger.unconfirmed
            stats.released = self._ledger.released
        return stats

    # --- workers ------------------------------------------------------------
    def _take_batch(self) -> list[TrackingEvent] | tuple[str, list[TrackingEvent]] | None:
        """Block for a first event, then gather more until full or the interval ends.
        A batch to publish again comes first, as ``(batch_id, events)``.
        None when stopping and nothing is left."""
        with self._lock:
            if self._resend:
                return self._resend.popleft()
            while not self._buffer:
                if self._resend:
                    return self._resend.popleft()
                if self._stopping:
                    return None
                self._has_work.wait(0.5)
            deadline = time.monotonic() + self.batch_interval
            while len(self._buffer) < self.batch_size and not self._stopping and not self._flushing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._has_work.wait(remaining)
            batch = [self._buffer.popleft() for _ in range(min(self.batch_size, len(self._buffer)))]
            if batch:
                self._in_flight[threading.get_ident()] = batch[0].enqueued_at
                self._in_flight_events += len(batch)
            return batch

    def _run(self) -> None:
        try:
            while True:
                batch = self._take_batch()
                if batch is None:
                    return
                if isinstance(batch, tuple):
                    self._publish_again(*batch)
                elif batch:
                    self._apply_with_retries(batch)
        finally:
            connection.close()

    def _apply_with_retries(self, batch: list[TrackingEvent]) -> None:
        started = time.monotonic()
        applied, discarded, failed = self._apply_resilient(batch)
        duration = time.monotonic() - started
        with self._lock:
            self._stats.batches += 1
            self._stats.processed += applied
            self._stats.discarded += discarded
            self._stats.failed += failed
            self._stats.last_batch_duration = round(duration, 4)
            self._stats.last_batch_size = len(batch)
            self._in_flight.pop(threading.get_ident(), None)
            self._in_flight_events -= len(batch)
            if not self._buffer and not self._in_flight_events:
                self._idle.notify_all()
        _notify_batch_observers(self, len(batch), duration)

    def _publish_again(self, batch_id: str, events: list[TrackingEvent]) -> None:
        applied, _, failed = self._apply_resilient(events, batch_id)
        with self._lock:
            self._stats.resent += applied
        if failed:
            assert self._ledger is not None
            self._ledger.resend_failed(batch_id)
            logger.error("Tracking batch %s (%d events) could not be published again", batch_id, failed)

    # --- hand-off confirmation (broker appliers) -----------------------------
    def _confirm_loop(self) -> None:
        """Check the hand-offs every ``confirm_interval`` and queue what is due for the workers.
        At shutdown (``_await_confirmations``) the workers are gone: publish here until the
        deadline. No thread is started at shutdown: at interpreter exit Python refuses to."""
        try:
            while not self._confirmer_stop.wait(self.confirm_interval):
                due = self._check_handoffs()
                if due:
                    with self._lock:
                        self._resend.extend(due)
                        self._has_work.notify_all()
            self._confirm_until(self._confirm_deadline)
        finally:
            connection.close()

    def _check_handoffs(self) -> list[tuple[str, list[TrackingEvent]]]:
        assert self._ledger is not None
        try:
            close_old_connections()
            due = self._ledger.check()
        except DatabaseError as exc:
            _discard_broken_connection()
            logger.warning("Tracking hand-off check failed, trying again: %s", exc)
            return []
        except Exception:  # the confirm thread must outlive any fault of one check
            logger.exception("Tracking hand-off check failed, trying again")
            return []
        for batch_id, events in due:
            logger.warning(
                "Tracking batch %s (%d events) not applied by a worker yet; publishing it again", batch_id, len(events)
            )
        return due

    def _await_confirmations(self, deadline: float) -> None:
        """At shutdown: wait for the workers to apply what this process handed over, publishing
        again what looks lost, until ``deadline``; what is left stays with the broker.
        The ``tracking-confirm`` thread does it, so that the caller's database connection is
        never touched."""
        if self._ledger is None:
            return
        self._confirm_deadline = deadline
        self._confirmer_stop.set()
        if self._confirmer is not None:
            self._confirmer.join(max(0.0, deadline - time.monotonic()) + 1.0)
        if self._ledger.unconfirmed:
            logger.warning(
                "Tracking shutdown: %d events handed to the broker are not confirmed applied yet; they stay there",
                self._ledger.unconfirmed,
            )

    def _confirm_until(self, deadline: float) -> None:
        assert self._ledger is not None
        with self._lock:
            queued, self._resend = list(self._resend), deque()
        for batch_id, events in queued:
            self._publish_again(batch_id, events)
        while self._ledger.unconfirmed and time.monotonic() < deadline:
            for batch_id, events in self._check_handoffs():
                self._publish_again(batch_id, events)
            if self._ledger.unconfirmed:
                time.sleep(max(0.0, min(self.confirm_interval, deadline - time.monotonic())))

    def _apply_resilient(self, batch: list[TrackingEvent], batch_id: str | None = None) -> tuple[int, int, int]:
        """Apply a batch; returns (applied, discarded, failed) event counts.

        A transient fault (lock timeout, lost connection) retries the whole batch with
        backoff. An event the database refuses (IntegrityError, DataError, or the
        driver's ValueError for a NUL character) would fail
        every retry, so the batch is split in halves instead, each its own
        transaction, until the bad event stands alone and is counted failed: one bad
        event never takes hundreds of good ones with it."""
        attempt = 0
        resend = batch_id is not None  # only a resend comes with its id
        batch_id = batch_id or uuid.uuid4().hex
        broker_attempt = 0
        while True:
            try:
                close_old_connections()
                result = self.apply(batch, batch_id=batch_id) if self._apply_takes_id else self.apply(batch)
                if self._ledger is not None:
                    self._ledger.record(batch_id, batch, resend=resend)
                return result.applied, result.discarded, 0
            except BrokerUnavailable as exc:
                # Keep the batch and retry until the broker is back: it was accepted.
                # Meanwhile the queue fills, and past its bound new events are dropped.
                broker_attempt += 1
                with self._lock:
                    self._stats.retried += 1
                if self._stopping and time.monotonic() > self._shutdown_deadline:
                    logger.error("Tracking batch of %d events lost: broker still unreachable at shutdown", len(batch))
                    return 0, 0, len(batch)
                if broker_attempt == 1:
                    logger.warning("Broker unreachable, keeping a batch of %d events: %s", len(batch), exc)
                time.sleep(min(5.0, self.retry_base_delay * 2 ** min(broker_attempt, 10)))
            except (IntegrityError, DataError, ValueError) as exc:  # ValueError: psycopg2 refuses NUL
                _discard_broken_connection()
                if len(batch) == 1:
                    logger.error("Tracking event refused by the database and dropped: %r (%s)", batch[0], exc)
                    return 0, 0, 1
                middle = len(batch) // 2
                halves = [self._apply_resilient(batch[:middle]), self._apply_resilient(batch[middle:])]
                return tuple(sum(counts) for counts in zip(*halves, strict=True))  # type: ignore[return-value]
            except DatabaseError as exc:
                attempt += 1
                _discard_broken_connection()
                if attempt > self.max_retries:
                    logger.error("Tracking batch of %d events failed after %d attempts: %s", len(batch), attempt, exc)
                    return 0, 0, len(batch)
                with self._lock:
                    self._stats.retried += 1
                time.sleep(self.retry_base_delay * 2 ** (attempt - 1))
            except Exception:
                logger.exception("Tracking batch of %d events failed (not retried)", len(batch))
                return 0, 0, len(batch)


def default_apply():
    """The applier the ``TRACKING_BACKEND`` setting selects."""
    return send_batch if settings.TRACKING_BACKEND == "celery" else apply_events


def _notify_batch_observers(executor: EventExecutor, size: int, duration: float) -> None:
    for observer in batch_observers:
        try:
            observer(executor, size, duration)
        except Exception:
            logger.exception("Tracking batch observer %r failed", observer)


def _discard_broken_connection() -> None:
    try:
        if connection.in_atomic_block or not connection.is_usable():
            connection.close()
    except Exception:
        connection.close()


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
