"""How a batch leaves the executor's queue: the ``Applier`` contract and the in-process applier.

The executor (tracking.executor) gathers batches; an applier delivers one and owns
everything that can go wrong on the way: retries, waiting out an outage, isolating an
event the database refuses. Two exist, chosen in ``tracking.backends.build_applier`` and nowhere else:

- ``InProcessApplier`` writes the batch in this process (``apply_isolating``);
- ``tracking.celery_backend.CeleryApplier`` publishes it to the broker, wrapped in a
  ``tracking.handoff.HandoffConfirmer`` that watches until a worker applied it.

The in-process retry policy, by kind of fault (``tracking.outage`` tells them apart):
- the database is away (refused, closed connection, shutting down, locked past the
  busy timeout): the batch is kept and tried again with capped backoff until the
  database is back. The queue fills meanwhile; past its bound new events are refused
  at the door (``queue_full``), so nothing accepted is dropped later. Only a process
  that stops gives up, at its drain deadline.
- a transient fault of a database that is there (deadlock, serialization failure):
  ``max_retries`` retries with backoff, then the batch is counted failed.
- an event the database refuses for its data: isolated by ``apply_isolating`` (the batch
  is halved until the event stands alone and is dropped); the rest is counted once.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings
from django.db import DatabaseError, close_old_connections

from tracking.apply import BatchResult, apply_isolating
from tracking.events import TrackingEvent
from tracking.outage import backoff, close_connection, discard_broken_connection, is_outage

logger = logging.getLogger(__name__)

OUTAGE_MAX_WAIT = 2.0  # seconds between attempts during an outage: counters resume soon after it ends


@dataclass(frozen=True)
class Batch:
    """Events delivered together. The id stays the same across retries and copies, so that a
    delivery that reached the database (or the broker) before it failed counts once."""

    events: list[TrackingEvent]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    resend: bool = False  # a copy of a batch handed to the broker before (tracking.handoff)

    def __len__(self) -> int:
        return len(self.events)


@dataclass(frozen=True)
class DeliveryControl:
    """What an applier may ask of the executor while it delivers."""

    count_retry: Callable[[], None]  # one more attempt (the ``retried`` statistic)
    past_deadline: Callable[[], bool]  # the process is stopping and its drain deadline passed


@dataclass(frozen=True)
class HandoffCounts:
    """Appliers that hand batches to a broker: events not confirmed applied yet, events
    published again, events no longer watched."""

    unconfirmed: int = 0
    resent: int = 0
    released: int = 0


# A function that writes one batch, all or nothing and at most once per id.
Write = Callable[[list[TrackingEvent], str], BatchResult]


class Applier(Protocol):
    """Delivers batches for the executor. Only ``deliver`` is required; the other methods
    are for appliers with helpers of their own (the hand-off confirmer) and do nothing here."""

    def deliver(self, batch: Batch, control: DeliveryControl) -> BatchResult:
        """Deliver ``batch``, retrying as the applier's policy says; never raises. The
        result counts each event once: applied, discarded or failed."""
        ...

    def start(self, *, wake_workers: Callable[[], None], control: DeliveryControl) -> None:
        """Start helper threads (once per process); call ``wake_workers`` when ``take_resend`` has work."""

    def take_resend(self) -> Batch | None:
        """A batch to deliver again before new ones, if any."""
        return None

    def stop(self, deadline: float) -> None:
        """Finish helper work by ``deadline`` (monotonic); the workers have stopped already."""

    def counts(self) -> HandoffCounts:
        """The hand-off statistics (all zero for an applier that writes itself)."""
        return HandoffCounts()


class InProcessApplier(Applier):
    """Writes each batch in this process, through ``apply_isolating``."""

    def __init__(
        self,
        *,
        write: Write = apply_isolating,
        max_retries: int | None = None,
        retry_base_delay: float = 0.05,
        outage_max_wait: float = OUTAGE_MAX_WAIT,
    ) -> None:
        self.write = write
        self.max_retries = settings.TRACKING_MAX_RETRIES if max_retries is None else max_retries
        self.retry_base_delay = retry_base_delay
        self.outage_max_wait = outage_max_wait

    def deliver(self, batch: Batch, control: DeliveryControl) -> BatchResult:
        transient = outage = 0
        while True:
            try:
                close_old_connections()
                return self.write(batch.events, batch.id)
            except Exception as exc:
                if is_outage(exc):
                    close_connection()  # a broken connection would fail the next attempt too
                    outage += 1
                    if control.past_deadline():
                        logger.error("Tracking batch of %d events lost: database still away at shutdown", len(batch))
                        return BatchResult(0, 0, failed=len(batch))
                    if outage == 1:
                        logger.warning("Database unreachable, keeping a batch of %d events: %s", len(batch), exc)
                    control.count_retry()
                    time.sleep(backoff(outage, base=self.retry_base_delay, cap=self.outage_max_wait))
                    continue
                discard_broken_connection()
                if not isinstance(exc, DatabaseError):
                    logger.exception("Tracking batch of %d events failed (not retried)", len(batch))
                    return BatchResult(0, 0, failed=len(batch))
                transient += 1
                if transient > self.max_retries:
                    logger.error("Tracking batch of %d events failed after %d attempts: %s", len(batch), transient, exc)
                    return BatchResult(0, 0, failed=len(batch))
                control.count_retry()
                time.sleep(backoff(transient, base=self.retry_base_delay, cap=self.outage_max_wait))
