"""The executor's statistics: what ``trackingStatus``, the load test and Prometheus report."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class TrackingStats:
    enqueued: int = 0
    processed: int = 0
    dropped: int = 0  # refused at the door: the queue was full (or the executor stopping)
    failed: int = 0
    retried: int = 0
    discarded: int = 0
    batches: int = 0
    rate_limited: int = 0
    bot_events: int = 0  # tracking calls from known crawlers: answered, never counted
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
