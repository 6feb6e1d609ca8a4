"""Types of the tracking API."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from tracking.process_stats import DeploymentStats


@strawberry.enum(description="Why a tracking event was refused; each is worth sending again later.")
class TrackingRefusalReason(enum.Enum):
    QUEUE_FULL = strawberry.enum_value("queue_full", description="The executor's queue is full (a burst).")
    RATE_LIMITED = strawberry.enum_value("rate_limited", description="This visitor sent too many events this minute.")
    DATABASE_UNAVAILABLE = strawberry.enum_value(
        "database_unavailable", description="The database could not say whether the product is active."
    )


@strawberry.type(description="What happened to a tracking event.")
class TrackingReceipt:
    accepted: bool = strawberry.field(description="False when the event was refused; `reason` says why.")
    queued: int = strawberry.field(description="Events queued by this call (a listing view queues one per product).")
    reason: TrackingRefusalReason | None = strawberry.field(
        default=None, description="Why it was refused (null when accepted): try again later."
    )
    duplicate: bool = strawberry.field(
        default=False,
        description="True when an event with this `eventId` from this visitor was counted already: "
        "nothing was queued, and nothing needs to be sent again.",
    )


@strawberry.interface(description="Tracking executor statistics (cumulative counts since a process started).")
class TrackingFigures:
    enqueued: int
    processed: int
    dropped: int
    failed: int
    retried: int
    discarded: int = strawberry.field(description="Events of products deleted before their batch ran.")
    batches: int
    rate_limited: int
    bot_events: int = strawberry.field(
        description="Tracking events from known crawlers (by User-Agent): answered, never counted."
    )
    queue_depth: int
    oldest_pending_age: float = strawberry.field(description="Seconds the oldest unapplied event has waited.")
    last_batch_duration: float = strawberry.field(description="Seconds.")
    last_batch_size: int
    workers_alive: int
    unconfirmed: int = strawberry.field(
        description="Celery backend: events handed to the broker that no worker has applied yet."
    )
    resent: int = strawberry.field(
        description="Celery backend: events published again because no worker had applied their batch."
    )
    released: int = strawberry.field(
        description="Celery backend: events no longer watched for confirmation (too many unconfirmed)."
    )


@strawberry.type(description="One server process's tracking executor, as it last published its figures.")
class TrackingProcess(TrackingFigures):
    host: str
    pid: int
    started_at: datetime
    updated_at: datetime = strawberry.field(
        description="When these figures were published (now, for the process that answered)."
    )


@strawberry.type(
    description=(
        "Tracking statistics of the whole deployment: the sum over every process that published its figures "
        "within TRACKING_STATS_STALE_AFTER seconds (the process that answered always counts, with its live "
        "figures). Oldest pending age and last batch figures are the largest of any process."
    )
)
class TrackingStatus(TrackingFigures):
    processes: list[TrackingProcess] = strawberry.field(description="Each process, the one that answered first.")

    @classmethod
    def from_deployment(cls, deployment: DeploymentStats) -> TrackingStatus:
        return cls(
            **deployment.totals.as_dict(),
            processes=[
                TrackingProcess(
                    host=p.host, pid=p.pid, started_at=p.started_at, updated_at=p.updated_at, **p.stats.as_dict()
                )
                for p in deployment.processes
            ],
        )
