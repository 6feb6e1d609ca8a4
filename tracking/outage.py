"""Tell "the database is away" from "the database refuses this", and recover from the first.

An accepted tracking event must be counted once the database is back, however long it
was away: an outage is waited out (tracking.appliers). A transient fault of a healthy
database (a deadlock, a serialization failure, a lock timeout) is retried a few times,
and an event the database refuses for its data is isolated (tracking.apply). Which of
the three an exception is, is decided here and nowhere else.

What counts as an outage:
- ``InterfaceError``: the driver's connection is already closed.
- PostgreSQL: an ``OperationalError`` with no SQLSTATE (psycopg raises those for the
  client side of a connection: refused, reset, "server closed the connection
  unexpectedly") or with one of class 08 (connection exception), 57P (the server is
  shutting down, crashed, not accepting connections yet) or 53 (too many connections,
  disk full: nothing can be written until an operator acts).
- SQLite: busy past the busy timeout (another process holds the write lock), a
  read-only, unopenable, full or failing file.
A serialization failure (40001) or deadlock (40P01) is an ``OperationalError`` too, but
the database is there: those are transient, not outages.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

_OUTAGE_SQLSTATE_PREFIXES = ("08", "57P", "53")
# psycopg's classes for SQLSTATE class 40 (serialization failure, deadlock): by class as
# well as by code, since only errors from the server carry their code.
_CONFLICT_CLASSES = {"TransactionRollbackError", "TransactionRollback"}
# SQLite primary result codes (extended codes carry them in the low byte).
_SQLITE_OUTAGE_CODES = {
    5,  # SQLITE_BUSY: the write lock stayed taken past the busy timeout
    8,  # SQLITE_READONLY: the file (or its directory) cannot be written now
    10,  # SQLITE_IOERR
    13,  # SQLITE_FULL
    14,  # SQLITE_CANTOPEN
    15,  # SQLITE_PROTOCOL
}


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` says the database cannot be reached or written at all right now
    (so waiting helps and giving up would lose accepted events), False otherwise."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if cause is None:
        return False  # raised by hand, not by a driver: nothing says the database is away
    sqlite_code = getattr(cause, "sqlite_errorcode", None)
    if sqlite_code is not None:
        return (sqlite_code & 0xFF) in _SQLITE_OUTAGE_CODES
    module = type(cause).__module__ or ""
    if module.startswith(("psycopg2", "psycopg")):
        if any(cls.__name__ in _CONFLICT_CLASSES for cls in type(cause).__mro__):
            return False
        sqlstate = getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)
        return not sqlstate or sqlstate.startswith(_OUTAGE_SQLSTATE_PREFIXES)
    return False


def discard_broken_connection() -> None:
    """Close this thread's connection when it cannot be used any more (or is stuck in a
    failed transaction), so that the next attempt opens a fresh one. Django keeps
    connections across requests (``CONN_MAX_AGE``): a broken one would fail every later
    attempt in this thread even after the database is back."""
    try:
        if connection.in_atomic_block or not connection.is_usable():
            connection.close()
    except Exception:
        close_connection()


def open_connection_pool() -> None:
    """Open the database's connection pool (PostgreSQL with ``OPTIONS["pool"]``) if it is not
    open yet. The pool starts worker threads when it opens, and at interpreter exit Python
    refuses new threads: a script that queued events without touching the database would
    otherwise fail to drain or confirm them in its ``atexit`` handler. Does not wait for a
    connection (``open(wait=False)``), so an unreachable server does not block the caller."""
    pool = getattr(connection, "pool", None)
    if pool is not None:
        try:
            pool.open()
        except Exception as exc:  # a pool that cannot open now opens on first use, as before
            logger.warning("Could not open the database connection pool early: %s", exc)


def close_connection() -> None:
    """Drop this thread's connection, whatever state it is in (a dead socket may raise)."""
    try:
        connection.close()
    except Exception as exc:  # the server is gone; Django has let go of the connection anyway
        logger.debug("Closing a broken database connection failed: %s", exc)


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to wait before attempt ``attempt + 1``: doubling from ``base``, at most ``cap``."""
    return min(cap, base * 2 ** min(attempt - 1, 20))
