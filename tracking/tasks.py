"""Celery tasks (``TRACKING_BACKEND=celery``): a worker applies each batch exactly once.

Celery delivers at least once (late acknowledgement: a worker that dies after
applying and before acknowledging gets the task redelivered); ``apply_events``
records the batch id in the same transaction as its increments, so the second
delivery changes nothing. An event the database refuses is isolated and dropped
(``apply_isolating``) instead of failing the whole batch on every retry.
"""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from tracking.apply import apply_isolating
from tracking.serialization import load_events


@shared_task(
    name="tracking.apply_batch",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=20,
)
def apply_tracking_batch(batch_id: str, events: list[list]) -> dict:
    result = apply_isolating(load_events(events), batch_id)
    return {
        "applied": result.applied,
        "discarded": result.discarded,
        "failed": result.failed,
        "duplicate": result.duplicate,
    }
