"""Activity rows through PostgreSQL's ``COPY ... FROM STDIN`` (psycopg 3's ``cursor.copy()``).

On PostgreSQL ``tracking.apply`` writes a batch's activity rows with one COPY instead of
a multi-row ``INSERT``: measured by ``tests/benchmarks/drain.py`` (``activity_writers``),
500 rows took about a fifth of the INSERT's time and a tenth of its CPU, because the
INSERT's 4,000 placeholders are quoted into the statement by the driver and parsed and
planned by the server, where COPY streams the values. SQLite has no COPY.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

from django.db import connection

from tracking.events import TrackingEvent
from tracking.models import ActivityEvent
from tracking.native_sql import run_wrapped

SOURCE_LENGTH = 64


def copy_supported() -> bool:
    return connection.vendor == "postgresql"


def copy_activity(events: list[TrackingEvent], columns: Sequence[str]) -> None:
    """One activity row per event, ``columns`` read from the event's attributes of the same
    names (``source`` cut to its column's length), in one COPY, in the caller's transaction.

    The statement goes through Django's ``execute_wrappers`` and, when queries are being
    logged (``DEBUG``, ``CaptureQueriesContext``), into the query log, like any other: a
    query counter sees it as the one statement it is."""
    if not events:
        return
    qn = connection.ops.quote_name
    sql = f"COPY {qn(ActivityEvent._meta.db_table)} ({', '.join(qn(c) for c in columns)}) FROM STDIN"
    read = [
        (lambda e, n=name: getattr(e, n)[:SOURCE_LENGTH]) if name == "source" else attrgetter(name) for name in columns
    ]

    def run(sql: str, params: object, many: bool, context: dict) -> None:
        connection.validate_no_broken_transaction()
        with connection.wrap_database_errors, context["cursor"].cursor.copy(sql) as copy:  # Django's errors
            for e in events:
                copy.write_row([value(e) for value in read])

    with connection.cursor() as cursor:
        run_wrapped(cursor, sql, None, run)  # execute cannot stream rows (tracking.native_sql)
