"""The one place that chooses how tracking batches leave the process (``TRACKING_BACKEND``).

Kept apart from ``tracking.appliers`` because the celery applier builds on that module:
choosing here keeps the imports one way (backends -> celery_backend -> appliers), and
Celery and kombu load only in processes that publish to a broker.
"""

from __future__ import annotations

from django.conf import settings

from tracking.appliers import Applier, InProcessApplier


def build_applier() -> Applier:
    """The applier ``TRACKING_BACKEND`` selects: in-process by default, celery on request."""
    if settings.TRACKING_BACKEND == "celery":
        from tracking.celery_backend import celery_applier  # loads Celery only when used

        return celery_applier()
    return InProcessApplier()
