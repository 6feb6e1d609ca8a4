"""Run the batch writers' large statements through Django's wrappers with our own executor.

Two writers need more than ``cursor.execute`` offers:

- PostgreSQL's ``COPY ... FROM STDIN`` streams rows, which ``execute`` cannot
  (``tracking.activity_copy``);
- on SQLite, Django's cursor rewrites every ``%s`` placeholder into ``?`` with a regular
  expression on every call. A batch's multi-row ``VALUES`` lists carry 2,000-6,000
  placeholders per statement, and the rewrite measured 1.4 ms of a 500-row activity insert's
  11.8 ms, for each of the five such statements of a batch. Written in SQLite's own ``?``
  style (``placeholder``, ``values_list``) and run by ``execute_native``, they skip it.

Either way the statement still passes through ``connection.execute_wrappers`` and, when
queries are logged (``DEBUG``, ``CaptureQueriesContext``), into the query log, so a query
counter sees it as the one statement it is. The log shows the statement without its
parameters: Django's SQLite ``last_executed_query`` would format them into ``%s``.
PostgreSQL keeps ``%s``, which psycopg converts itself (the batch's PostgreSQL path sends
its rows by COPY and as arrays, so few of its statements are long).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from django.db import connection

Executor = Callable[[str, object, bool, dict], object]


def placeholder() -> str:
    """The parameter marker that ``execute_native`` passes to the driver unchanged."""
    return "?" if connection.vendor == "sqlite" else "%s"


def values_list(width: int, rows: int) -> str:
    """``(?, ?), (?, ?)``: a ``VALUES`` list of ``rows`` rows of ``width`` parameters."""
    row = "(" + ", ".join([placeholder()] * width) + ")"
    return ", ".join([row] * rows)


def execute_native(cursor, sql: str, params: Sequence) -> None:
    """Execute ``sql``, written with ``placeholder()``, on a cursor of ``connection``."""
    if connection.vendor != "sqlite":
        cursor.execute(sql, params)
        return

    def run(sql: str, params: object, many: bool, context: dict) -> object:
        connection.validate_no_broken_transaction()
        with connection.wrap_database_errors:  # Django's errors, as from execute
            # sqlite3's own execute: Django's SQLiteCursorWrapper.execute is the rewrite.
            return sqlite3.Cursor.execute(context["cursor"].cursor, sql, params)

    run_wrapped(cursor, sql, params, run)


def run_wrapped(cursor, sql: str, params: object, executor: Executor) -> object:
    """Run ``executor`` as Django's ``execute`` runs its own: inside the connection's
    ``execute_wrappers`` and, on a debug cursor, timed into the query log."""
    # The same two steps as CursorWrapper.execute and CursorDebugWrapper.execute.
    if hasattr(cursor, "debug_sql"):
        with cursor.debug_sql(sql):
            return cursor._execute_with_wrappers(sql, params, many=False, executor=executor)  # noqa: SLF001
    return cursor._execute_with_wrappers(sql, params, many=False, executor=executor)  # noqa: SLF001
