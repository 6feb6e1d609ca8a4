"""Confirm hand-offs to the broker (``TRACKING_BACKEND=celery``): a batch Redis accepted is
kept until a worker's transaction has recorded its id, and published again when it looks lost.

Two parts: the ``HandoffLedger`` (what was published, what is due again) and the
``HandoffConfirmer``, an applier that wraps the publishing one (``CeleryApplier``),
records each publication in the ledger, and runs the ``tracking-confirm`` thread that
checks the ledger and queues the batches due for the executor's workers to publish again.

Why the web process cannot trust Redis's reply alone: with Redis as Celery's broker, a
worker takes a message with ``BRPOP`` and only then records it as unacknowledged, in a
second command. If Redis stops between the two, the message is gone from the queue and
from the unacknowledged set (kombu 5.7, ``Channel._brpop_read`` then ``QoS.append``). A
message recorded but not acknowledged when the connection drops comes back only after
the visibility timeout (minutes). CI lost 17 of 5,346 events to these windows during a
10 s Redis outage.

So the executor records every published batch here. Every ``TRACKING_CONFIRM_INTERVAL`` a
thread asks the database which of the recorded batch ids are in ``tracking_appliedbatch``
(one query per 500 ids) and forgets those. A batch still unconfirmed after
``TRACKING_CONFIRM_AFTER`` seconds is published again, with the same id, when a batch sent
after it is already confirmed (the queue is first in, first out: it was overtaken, so it is
lost or stranded) or when it is the newest batch (nothing can overtake it). A batch handed
out for a resend is not handed out again until that copy reached Redis. A second copy
is harmless: ``apply_events`` skips an id it has recorded. Each further attempt waits twice
as long (at most ``MAX_RESEND_WAIT``), so a stopped worker fleet does not make the web
processes flood Redis with copies.

A batch published ``MAX_SENDS`` times and never applied is released (logged, counted):
the workers fail on it, and more copies would not help. Memory is bounded: past
``TRACKING_UNCONFIRMED_LIMIT`` events the oldest batches are released unconfirmed
(counted and logged; they remain in Redis, as they would have without this ledger).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, close_old_connections, connection

from tracking.appliers import Applier, Batch, DeliveryControl, HandoffCounts
from tracking.apply import BatchResult
from tracking.events import TrackingEvent
from tracking.models import AppliedBatch
from tracking.outage import discard_broken_connection

logger = logging.getLogger(__name__)

MAX_RESEND_WAIT = 300.0  # seconds; the broker's visibility timeout, after which Redis redelivers anyway
# A batch published this often and never applied is one the workers cannot apply (a task
# failing on every delivery): stop copying it, log it, count it released (~8 minutes at 15 s).
MAX_SENDS = 6
IDS_PER_QUERY = 500


@dataclass
class _Published:
    events: list[TrackingEvent]
    first_sent_at: float  # its place in the queue: what "overtaken" compares
    sent_at: float  # the last copy: what the wait counts from
    sends: int = 1
    due: bool = False  # handed out for a resend that has not reached the broker yet


class HandoffLedger:
    def __init__(self, *, confirm_after: float, max_events: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.confirm_after = confirm_after
        self.max_events = max_events
        self._clock = clock
        self._lock = threading.Lock()
        self._published: OrderedDict[str, _Published] = OrderedDict()  # oldest first send first
        self._events = 0
        self._confirmed_through = float("-inf")  # latest first send of a confirmed batch
        self.released = 0  # events forgotten unconfirmed because the ledger was full

    def record(self, batch_id: str, events: list[TrackingEvent], *, resend: bool = False) -> None:
        """Remember a batch the broker has just accepted. A ``resend`` only updates a batch
        still watched: one confirmed or released meanwhile stays forgotten."""
        now = self._clock()
        with self._lock:
            entry = self._published.get(batch_id)
            if entry is not None:  # a copy: the batch keeps its place in the order of first sends
                entry.sent_at, entry.sends, entry.due = now, entry.sends + 1, False
                return
            if resend:
                return
            self._published[batch_id] = _Published(events, now, now)
            self._events += len(events)
            while self._events > self.max_events and len(self._published) > 1:
                old_id, old = self._published.popitem(last=False)
                self._events -= len(old.events)
                self.released += len(old.events)
                logger.warning(
                    "Tracking batch %s (%d events) released unconfirmed: more than %d events await confirmation",
                    old_id,
                    len(old.events),
                    self.max_events,
                )

    def resend_failed(self, batch_id: str) -> None:
        """The resend of ``batch_id`` did not reach the broker: hand it out again after a wait."""
        with self._lock:
            entry = self._published.get(batch_id)
            if entry is not None:
                entry.sent_at, entry.sends, entry.due = self._clock(), entry.sends + 1, False

    @property
    def unconfirmed(self) -> int:
        """Events handed to the broker that no worker has applied yet."""
        with self._lock:
            return self._events

    def check(self) -> list[tuple[str, list[TrackingEvent]]]:
        """Forget the batches a worker has applied; return those to publish again."""
        with self._lock:
            ids = list(self._published)
        if not ids:
            return []
        applied: set[str] = set()
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[start : start + IDS_PER_QUERY]
            applied.update(AppliedBatch.objects.filter(batch_id__in=chunk).values_list("batch_id", flat=True))
        now = self._clock()
        due = []
        with self._lock:
            for batch_id in applied:
                entry = self._published.pop(batch_id, None)
                if entry is not None:
                    self._events -= len(entry.events)
                    self._confirmed_through = max(self._confirmed_through, entry.first_sent_at)
            newest = next(reversed(self._published), None)
            given_up = []
            for batch_id, entry in self._published.items():
                if entry.due:  # its resend is still on its way (e.g. the broker is down)
                    continue
                wait = min(MAX_RESEND_WAIT, self.confirm_after * 2 ** (entry.sends - 1))
                overtaken = entry.first_sent_at < self._confirmed_through
                if now - entry.sent_at >= wait and (overtaken or batch_id == newest):
                    if entry.sends >= MAX_SENDS:
                        given_up.append(batch_id)
                        continue
                    entry.due = True
                    due.append((batch_id, entry.events))
            for batch_id in given_up:
                entry = self._published.pop(batch_id)
                self._events -= len(entry.events)
                self.released += len(entry.events)
                logger.error(
                    "Tracking batch %s (%d events) not applied after %d publications; no longer watched "
                    "(see the workers' logs; it may still be in the broker)",
                    batch_id,
                    len(entry.events),
                    entry.sends,
                )
        return due


class HandoffConfirmer(Applier):
    """Wraps the applier that hands batches to the broker: every batch it publishes is
    watched in a ``HandoffLedger`` until a worker applied it, and published again (by the
    executor's workers, through ``take_resend``) when it looks lost."""

    def __init__(self, inner: Applier, *, confirm_after: float, confirm_interval: float, max_unconfirmed: int) -> None:
        self.inner = inner
        self.confirm_after = confirm_after
        self.confirm_interval = confirm_interval
        self.max_unconfirmed = max_unconfirmed
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self.ledger = HandoffLedger(confirm_after=self.confirm_after, max_events=self.max_unconfirmed)
        self._lock = threading.Lock()
        self._resend: deque[Batch] = deque()  # batches due again, taken by the executor's workers
        self._resent = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._deadline = 0.0
        self._wake_workers: Callable[[], None] = lambda: None
        self._control = DeliveryControl(count_retry=lambda: None, past_deadline=lambda: False)

    # --- the Applier contract -------------------------------------------------
    def start(self, *, wake_workers: Callable[[], None], control: DeliveryControl) -> None:
        if self._pid != os.getpid():  # forked: the parent's hand-offs are the parent's to watch
            self._reset()
        self._wake_workers, self._control = wake_workers, control
        self._thread = threading.Thread(target=self._confirm_loop, name="tracking-confirm", daemon=True)
        self._thread.start()

    def deliver(self, batch: Batch, control: DeliveryControl) -> BatchResult:
        result = self.inner.deliver(batch, control)
        if not result.failed:
            self.ledger.record(batch.id, batch.events, resend=batch.resend)
            if batch.resend:
                with self._lock:
                    self._resent += result.applied
        elif batch.resend:
            self.ledger.resend_failed(batch.id)
            logger.error("Tracking batch %s (%d events) could not be published again", batch.id, len(batch))
        return result

    def take_resend(self) -> Batch | None:
        with self._lock:
            return self._resend.popleft() if self._resend else None

    def counts(self) -> HandoffCounts:
        with self._lock:
            resent = self._resent
        return HandoffCounts(unconfirmed=self.ledger.unconfirmed, resent=resent, released=self.ledger.released)

    def stop(self, deadline: float) -> None:
        """At shutdown: wait for the workers to apply what this process handed over, publishing
        again what looks lost, until ``deadline``; what is left stays with the broker. The
        ``tracking-confirm`` thread does it, so that the caller's database connection is
        never touched."""
        self._deadline = deadline
        self._stop.set()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()) + 1.0)
        if self.ledger.unconfirmed:
            logger.warning(
                "Tracking shutdown: %d events handed to the broker are not confirmed applied yet; they stay there",
                self.ledger.unconfirmed,
            )

    # --- the confirm thread ---------------------------------------------------
    def _confirm_loop(self) -> None:
        """Check the hand-offs every ``confirm_interval`` and queue what is due for the workers.
        At shutdown the workers are gone: publish here until the deadline. No thread is
        started at shutdown: at interpreter exit Python refuses to."""
        try:
            while not self._stop.wait(self.confirm_interval):
                due = self._check()
                if due:
                    with self._lock:
                        self._resend.extend(due)
                    self._wake_workers()
            self._confirm_until(self._deadline)
        finally:
            connection.close()

    def _check(self) -> list[Batch]:
        try:
            close_old_connections()
            due = self.ledger.check()
        except DatabaseError as exc:
            discard_broken_connection()
            logger.warning("Tracking hand-off check failed, trying again: %s", exc)
            return []
        except Exception:  # the confirm thread must outlive any fault of one check
            logger.exception("Tracking hand-off check failed, trying again")
            return []
        for batch_id, events in due:
            logger.warning(
                "Tracking batch %s (%d events) not applied by a worker yet; publishing it again", batch_id, len(events)
            )
        return [Batch(events, id=batch_id, resend=True) for batch_id, events in due]

    def _confirm_until(self, deadline: float) -> None:
        with self._lock:
            queued, self._resend = list(self._resend), deque()
        for batch in queued:
            self.deliver(batch, self._control)
        while self.ledger.unconfirmed and time.monotonic() < deadline:
            for batch in self._check():
                self.deliver(batch, self._control)
            if self.ledger.unconfirmed:
                time.sleep(max(0.0, min(self.confirm_interval, deadline - time.monotonic())))
