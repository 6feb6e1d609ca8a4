"""Tracking statistics of every process of the deployment, shared through the database.

Each executor counts in its own memory (``TrackingStats``), so one process alone cannot say
how the deployment is doing. A server process therefore *publishes* its figures: a daemon
thread upserts one ``ProcessStats`` row (host, pid) every ``TRACKING_STATS_INTERVAL`` seconds,
started on the ASGI lifespan startup and stopped (its row deleted) on shutdown. Readers
(``trackingStatus``, ``test_async_tracking --status``) sum the rows updated within
``TRACKING_STATS_STALE_AFTER`` seconds: a process killed without a clean shutdown drops out
once its row is that old.

Why the database and not the configured cache: the default cache is in-process memory
(``LocMemCache``), which the other processes cannot read, and Redis exists only with the
Celery backend; the database is the one store every process of every deployment shares, and
one small upsert per process every few seconds costs it nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from tracking.executor import current_executor
from tracking.models import ProcessStats
from tracking.stats import TrackingStats

logger = logging.getLogger(__name__)

STAT_FIELDS = [f.name for f in fields(TrackingStats)]
# Figures that describe a moment rather than count events: summing last-batch figures over
# processes means nothing, so the aggregate keeps the largest.
MAX_FIELDS = {"oldest_pending_age", "last_batch_duration", "last_batch_size"}
PRUNE_AFTER = timedelta(hours=1)  # rows this old are deleted by any publisher


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    pid: int
    started_at: datetime


@dataclass
class ProcessFigures:
    """One process's statistics as of ``updated_at``."""

    host: str
    pid: int
    started_at: datetime
    updated_at: datetime
    stats: TrackingStats


@dataclass
class DeploymentStats:
    """The sum over the processes that reported recently, and each of them."""

    totals: TrackingStats
    processes: list[ProcessFigures] = field(default_factory=list)


_started_at = timezone.now()
_started_pid = os.getpid()


def this_process() -> ProcessIdentity:
    """This process's identity (a forked child gets its own start time)."""
    global _started_at, _started_pid
    if _started_pid != os.getpid():
        _started_at, _started_pid = timezone.now(), os.getpid()
    return ProcessIdentity(host=socket.gethostname(), pid=os.getpid(), started_at=_started_at)


def publish(stats: TrackingStats, identity: ProcessIdentity | None = None) -> None:
    """Upsert one process's row (this process's by default) in one statement."""
    identity = identity or this_process()
    now = timezone.now()
    row = ProcessStats(
        host=identity.host, pid=identity.pid, started_at=identity.started_at, updated_at=now, **stats.as_dict()
    )
    ProcessStats.objects.bulk_create(
        [row],
        update_conflicts=True,
        unique_fields=["host", "pid"],
        update_fields=["started_at", "updated_at", *STAT_FIELDS],
    )
    ProcessStats.objects.filter(updated_at__lt=now - PRUNE_AFTER).delete()


def withdraw(identity: ProcessIdentity | None = None) -> None:
    """Delete a process's row: it stopped, its figures no longer describe a live process."""
    identity = identity or this_process()
    ProcessStats.objects.filter(host=identity.host, pid=identity.pid).delete()


def deployment_stats(*, own: TrackingStats | None = None, stale_after: float | None = None) -> DeploymentStats:
    """Every process that published within ``stale_after`` seconds, summed.

    ``own`` is the calling process's live figures: they replace its (older) published row,
    and count even when this process does not publish (a script, a test client)."""
    stale_after = settings.TRACKING_STATS_STALE_AFTER if stale_after is None else stale_after
    now = timezone.now()
    me = this_process()
    processes = [
        ProcessFigures(
            host=row.host,
            pid=row.pid,
            started_at=row.started_at,
            updated_at=row.updated_at,
            stats=TrackingStats(**{name: getattr(row, name) for name in STAT_FIELDS}),
        )
        for row in ProcessStats.objects.filter(updated_at__gte=now - timedelta(seconds=stale_after)).order_by(
            "host", "pid"
        )
        if own is None or (row.host, row.pid) != (me.host, me.pid)
    ]
    if own is not None:
        processes.insert(0, ProcessFigures(me.host, me.pid, me.started_at, now, own))
    return DeploymentStats(totals=sum_stats([p.stats for p in processes]), processes=processes)


def sum_stats(all_stats: list[TrackingStats]) -> TrackingStats:
    total = TrackingStats()
    for stats in all_stats:
        for name in STAT_FIELDS:
            value, so_far = getattr(stats, name), getattr(total, name)
            setattr(total, name, max(so_far, value) if name in MAX_FIELDS else so_far + value)
    return total


def current_stats() -> TrackingStats:
    """This process's executor statistics; zeros when it has none (it tracked nothing yet)."""
    executor = current_executor()
    return executor.stats() if executor is not None else TrackingStats()


def tracking_deployment_stats() -> DeploymentStats:
    """The deployment's figures as this process sees them now (a selector: reads only)."""
    return deployment_stats(own=current_stats())


class StatsPublisher:
    """The daemon thread that publishes this process's figures every ``interval`` seconds."""

    def __init__(self, interval: float | None = None) -> None:
        self.interval = settings.TRACKING_STATS_INTERVAL if interval is None else interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and self.interval > 0:
            self._thread = threading.Thread(target=self._run, name="tracking-stats-publisher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop publishing and withdraw this process's row."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout)
        self._thread = None
        try:
            withdraw()
        except Exception:
            logger.exception("Could not withdraw this process's tracking statistics")
        finally:
            connection.close()

    def _run(self) -> None:
        try:
            while True:
                close_old_connections()
                try:
                    publish(current_stats())
                except Exception:  # a database outage: try again next time
                    logger.warning("Could not publish tracking statistics", exc_info=True)
                    connection.close()
                if self._stop.wait(self.interval):
                    return
        finally:
            connection.close()


_publisher: StatsPublisher | None = None
_publisher_lock = threading.Lock()


def start_publishing() -> None:
    """Publish this process's statistics until ``stop_publishing`` (idempotent)."""
    global _publisher
    with _publisher_lock:
        if _publisher is None:
            _publisher = StatsPublisher()
            _publisher.start()


def stop_publishing() -> None:
    global _publisher
    with _publisher_lock:
        publisher, _publisher = _publisher, None
    if publisher is not None:
        publisher.stop()
