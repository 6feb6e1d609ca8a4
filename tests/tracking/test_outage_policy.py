"""The retry policy without a server: an outage is waited out, a data error is isolated,
a transient fault of a database that is there is retried a few times.

The faults are real driver errors (a refused connection, a SQLite file locked by another
connection, a check constraint), wrapped the way Django wraps them.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys

import psycopg
import pytest
from asgiref.sync import async_to_sync
from django.db import IntegrityError, InterfaceError, OperationalError, connection

from tests.factories import make_product
from tests.tracking.helpers import wait_for
from tracking import selectors
from tracking.appliers import Batch, DeliveryControl, InProcessApplier
from tracking.apply import apply_isolating
from tracking.events import TrackingEvent
from tracking.models import ActivityEvent, EventKind, ProductMetrics
from tracking.outage import is_outage
from tracking.selectors import ActivityUnknown, trackable_product_ids


def as_django(driver_error: Exception) -> Exception:
    """What Django raises for a driver's error: its own class, caused by the driver's."""
    wrapped = OperationalError(str(driver_error))
    wrapped.__cause__ = driver_error
    return wrapped


def refused_connection() -> Exception:
    """A real connection refusal: PostgreSQL on a port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        try:
            psycopg.connect(host="127.0.0.1", port=port, user="nobody", dbname="nothing", connect_timeout=2)
        except psycopg.OperationalError as exc:
            return as_django(exc)
    raise AssertionError("the connection was not refused")


def sqlite_locked(tmp_path) -> Exception:
    """A real "database is locked": another connection holds the write lock past the busy timeout."""
    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    writer = sqlite3.connect(path, timeout=0.01, isolation_level=None)
    try:
        writer.execute("INSERT INTO t VALUES (1)")
    except sqlite3.OperationalError as exc:
        return as_django(exc)
    finally:
        writer.close()
        holder.close()
    raise AssertionError("the write was not refused")


def test_an_unreachable_database_is_an_outage_and_a_refusal_or_a_conflict_is_not(tmp_path):
    assert is_outage(refused_connection())
    assert is_outage(sqlite_locked(tmp_path))
    assert is_outage(InterfaceError("connection already closed"))
    serialization = psycopg.errors.SerializationFailure("could not serialize access")
    assert not is_outage(as_django(serialization))
    assert not is_outage(IntegrityError("CHECK constraint failed"))
    assert not is_outage(OperationalError("raised by hand: nothing says the database is away"))


class Scripted:
    """A write that fails with the given errors first, then writes for real."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, events: list[TrackingEvent], batch_id: str):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return apply_isolating(events, batch_id)


class Control:
    def __init__(self, *, stopping: bool = False) -> None:
        self.retries = 0
        self.stopping = stopping

    def control(self) -> DeliveryControl:
        return DeliveryControl(count_retry=self.count, past_deadline=lambda: self.stopping)

    def count(self) -> None:
        self.retries += 1


def applier(write, max_retries: int = 1) -> InProcessApplier:
    return InProcessApplier(write=write, max_retries=max_retries, retry_base_delay=0.001, outage_max_wait=0.01)


@pytest.mark.django_db(transaction=True)
def test_a_batch_is_kept_through_an_outage_longer_than_any_retry_budget():
    # Given a database that refuses connections ten times in a row (the budget for faults is 1)
    product = make_product()
    write = Scripted(*[refused_connection() for _ in range(10)])
    control = Control()

    # When a batch of 3 views is delivered
    result = applier(write).deliver(Batch([TrackingEvent(EventKind.VIEW, product.pk)] * 3), control.control())

    # Then it waited the outage out and was applied once
    assert (result.applied, result.failed, write.calls, control.retries) == (3, 0, 11, 10)
    assert ProductMetrics.objects.get(product=product).total_views == 3


@pytest.mark.django_db(transaction=True)
def test_an_outage_gives_up_only_when_the_process_stops_past_its_deadline():
    product = make_product()
    write = Scripted(*[refused_connection() for _ in range(3)])

    batch = Batch([TrackingEvent(EventKind.VIEW, product.pk)])
    result = applier(write).deliver(batch, Control(stopping=True).control())

    assert (result.applied, result.failed, write.calls) == (0, 1, 1)


@pytest.mark.django_db(transaction=True)
def test_a_transient_fault_of_a_database_that_is_there_has_a_retry_budget():
    product = make_product()
    conflict = psycopg.errors.SerializationFailure("could not serialize access")
    write = Scripted(*[as_django(conflict) for _ in range(5)])
    control = Control()

    batch = Batch([TrackingEvent(EventKind.VIEW, product.pk)])
    result = applier(write, max_retries=2).deliver(batch, control.control())

    assert (result.applied, result.failed, write.calls, control.retries) == (0, 1, 3, 2)
    assert ProductMetrics.objects.get(product=product).total_views == 0


@pytest.mark.django_db(transaction=True)
def test_an_event_the_database_refuses_is_isolated_not_retried_and_not_waited_for():
    # Given 6 good views and a purchase of 0 units (a check constraint refuses it)
    product = make_product()
    events = [TrackingEvent(EventKind.VIEW, product.pk)] * 3
    events += [TrackingEvent(EventKind.PURCHASE, product.pk, quantity=0)]
    events += [TrackingEvent(EventKind.VIEW, product.pk)] * 3
    control = Control()

    result = applier(apply_isolating).deliver(Batch(events), control.control())

    # Then the good ones count once, the bad one alone fails, and nothing was retried
    assert (result.applied, result.failed, control.retries) == (6, 1, 0)
    assert ProductMetrics.objects.get(product=product).total_views == 6
    assert ActivityEvent.objects.filter(product=product).count() == 6


@pytest.mark.django_db(transaction=True)
def test_during_an_outage_a_product_seen_active_recently_is_trackable_and_an_unknown_one_is_not(monkeypatch):
    # Given a product confirmed active a moment ago, and one never checked
    seen, unseen = make_product(), make_product()
    assert async_to_sync(trackable_product_ids)([seen.pk]) == {seen.pk}
    monkeypatch.setattr(selectors, "_active_until", {pid: t - 60 for pid, t in selectors._active_until.items()})

    # When the database goes away
    async def unreachable(ids):
        raise refused_connection()

    monkeypatch.setattr(selectors, "_active_ids", unreachable)

    # Then the recently seen product is still trackable (its cache entry expired a minute ago)
    assert async_to_sync(trackable_product_ids)([seen.pk]) == {seen.pk}
    # and a product nobody can vouch for is refused as unknown, not as inactive or with a crash
    with pytest.raises(ActivityUnknown):
        async_to_sync(trackable_product_ids)([seen.pk, unseen.pk])
    # and a product seen longer ago than the grace period is unknown too
    monkeypatch.setattr(selectors, "_active_until", {seen.pk: 0.0})
    with pytest.raises(ActivityUnknown):
        async_to_sync(trackable_product_ids)([seen.pk])


@pytest.mark.django_db(transaction=True)
def test_a_data_error_in_the_active_check_is_not_mistaken_for_an_outage(monkeypatch):
    async def broken(ids):
        raise OperationalError("raised by hand")

    monkeypatch.setattr(selectors, "_active_ids", broken)
    with pytest.raises(OperationalError):
        async_to_sync(trackable_product_ids)([make_product().pk])


HOLD_WRITE_LOCK = """
import sqlite3, sys
holder = sqlite3.connect(sys.argv[1], isolation_level=None)
holder.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
holder.execute("ROLLBACK")
"""


@pytest.mark.django_db(transaction=True)
def test_sqlite_locked_by_another_process_past_the_busy_timeout_loses_no_accepted_event(install_executor, monkeypatch):
    """SQLite has no server to stop: its outage is another process holding the write lock (a
    backup, a migration, a stuck script) for longer than the busy timeout. (Making the file
    read-only proves nothing under root, and open connections keep writing anyway.)"""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only by design: the PostgreSQL outage has its own story (test_database_outage)")
    # Given 50 accepted views, and a busy timeout of 0.2 s for the workers' connections
    product = make_product()
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.2)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(connection.settings_dict["NAME"])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        executor = install_executor(workers=1, max_retries=3)
        for _ in range(10):
            assert executor.offer([TrackingEvent(EventKind.VIEW, product.pk)] * 5)

        # When another process keeps the write lock for many busy timeouts, past the retry budget
        assert wait_for(lambda: executor.stats().retried > 6, timeout=30)
        assert executor.stats().failed == 0
    finally:
        holder.communicate("release\n", timeout=10)

    # Then once it lets go, every accepted view is counted, once
    assert executor.flush(timeout=30)
    stats = executor.stats()
    assert (stats.processed, stats.failed) == (50, 0)
    assert ProductMetrics.objects.get(product=product).total_views == 50
