"""Hand batches to Celery instead of applying them in the web process (``TRACKING_BACKEND=celery``)."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from kombu.exceptions import EncodeError

from tracking.appliers import Applier, Batch, DeliveryControl
from tracking.apply import BatchResult
from tracking.events import TrackingEvent
from tracking.handoff import HandoffConfirmer
from tracking.outage import backoff
from tracking.serialization import dump_events

logger = logging.getLogger(__name__)

BROKER_MAX_WAIT = 5.0  # seconds between attempts while the broker is unreachable


class BrokerUnavailable(Exception):
    """The broker could not take the batch; the applier keeps it and retries."""


def send_batch(events: list[TrackingEvent], batch_id: str) -> BatchResult:
    """Publish one task for the batch. The same ``batch_id`` on every retry, so a
    publish that reached Redis although it reported an error is applied only once."""
    from tracking.tasks import apply_tracking_batch  # the task module imports the Celery app

    payload = dump_events(events)  # a fault here is a bug, not an outage: it fails the batch
    try:
        apply_tracking_batch.apply_async(args=[batch_id, payload], task_id=batch_id, retry=False)
    except EncodeError:
        raise
    except Exception as exc:  # kombu/redis raise several types for an unreachable broker
        raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc
    return BatchResult(applied=len(events), discarded=0)


class CeleryApplier(Applier):
    """Publishes each batch as one task. While the broker is unreachable the batch is kept
    and published again with capped backoff (it was accepted); meanwhile the queue fills,
    and past its bound new events are refused. Redis's reply means the batch reached the
    broker, not that a worker applied it: wrap it in a ``HandoffConfirmer`` (as
    ``celery_applier`` does) to watch for that."""

    def __init__(self, *, retry_base_delay: float = 0.05, max_wait: float = BROKER_MAX_WAIT) -> None:
        self.retry_base_delay = retry_base_delay
        self.max_wait = max_wait

    def deliver(self, batch: Batch, control: DeliveryControl) -> BatchResult:
        attempt = 0
        while True:
            try:
                return send_batch(batch.events, batch.id)
            except BrokerUnavailable as exc:
                attempt += 1
                control.count_retry()
                if control.past_deadline():
                    logger.error("Tracking batch of %d events lost: broker still unreachable at shutdown", len(batch))
                    return BatchResult(0, 0, failed=len(batch))
                if attempt == 1:
                    logger.warning("Broker unreachable, keeping a batch of %d events: %s", len(batch), exc)
                time.sleep(backoff(attempt + 1, base=self.retry_base_delay, cap=self.max_wait))
            except Exception:
                logger.exception("Tracking batch of %d events could not be published (not retried)", len(batch))
                return BatchResult(0, 0, failed=len(batch))


def celery_applier(
    *,
    retry_base_delay: float = 0.05,
    confirm_after: float | None = None,
    confirm_interval: float | None = None,
    max_unconfirmed: int | None = None,
) -> HandoffConfirmer:
    """The celery backend's applier: publish, then confirm (settings fill what is not given)."""
    return HandoffConfirmer(
        CeleryApplier(retry_base_delay=retry_base_delay),
        confirm_after=settings.TRACKING_CONFIRM_AFTER if confirm_after is None else confirm_after,
        confirm_interval=settings.TRACKING_CONFIRM_INTERVAL if confirm_interval is None else confirm_interval,
        max_unconfirmed=max_unconfirmed or settings.TRACKING_UNCONFIRMED_LIMIT,
    )
