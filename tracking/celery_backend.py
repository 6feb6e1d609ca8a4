"""Hand a coalesced batch to Celery instead of applying it in the web process."""

from __future__ import annotations

from kombu.exceptions import EncodeError

from tracking.apply import BatchResult
from tracking.events import TrackingEvent
from tracking.serialization import dump_events


class BrokerUnavailable(Exception):
    """The broker could not take the batch; the executor keeps it and retries."""


def send_batch(events: list[TrackingEvent], batch_id: str) -> BatchResult:
    """Publish one task for the batch. The same ``batch_id`` on every retry, so a
    publish that reached Redis although it reported an error is applied only once."""
    from tracking.tasks import apply_tracking_batch

    payload = dump_events(events)  # a fault here is a bug, not an outage: it fails the batch
    try:
        apply_tracking_batch.apply_async(args=[batch_id, payload], task_id=batch_id, retry=False)
    except EncodeError:
        raise
    except Exception as exc:  # kombu/redis raise several types for an unreachable broker
        raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc
    return BatchResult(applied=len(events), discarded=0)


# Redis's reply means the batch reached the broker, not that a worker applied it: the
# executor keeps it until the batch id shows up in the database (tracking.handoff).
send_batch.confirms_handoff = True  # type: ignore[attr-defined]
