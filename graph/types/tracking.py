"""Types of the tracking API."""

from __future__ import annotations

import enum

import strawberry


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


@strawberry.type(description="The tracking executor of the process that answered.")
class TrackingStatus:
    enqueued: int
    processed: int
    dropped: int
    failed: int
    retried: int
    discarded: int = strawberry.field(description="Events of products deleted before their batch ran.")
    batches: int
    rate_limited: int
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
