"""Count the SQL statements a live server runs, in whatever thread runs them.

``CaptureQueriesContext`` in the load process cannot see the server's queries, and
inside the server it sees only its own thread's connection. Here every new database
connection (``connection_created``) gets an ``execute_wrapper`` that bumps one
process-wide counter; ``GET /bench/queries`` returns the count and resets it.
``GET /bench/tracking-stats`` returns the server's tracking executor statistics (the
product's ``trackingStatus`` query is for staff only).
"""

from __future__ import annotations

import threading

from django.db.backends.signals import connection_created
from django.http import HttpRequest, JsonResponse

_lock = threading.Lock()
_count = 0


def _counter(execute, sql, params, many, context):
    global _count
    with _lock:
        _count += 1
    return execute(sql, params, many, context)


def _on_connection_created(sender, connection, **kwargs) -> None:
    if _counter not in connection.execute_wrappers:
        connection.execute_wrappers.append(_counter)


def install() -> None:
    connection_created.connect(_on_connection_created, dispatch_uid="benchmarks.querycount")


def take() -> int:
    """The number of statements since the last call; resets the counter."""
    global _count
    with _lock:
        value, _count = _count, 0
    return value


def queries_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"queries": take()})


def tracking_stats_view(request: HttpRequest) -> JsonResponse:
    from tracking.executor import current_executor

    executor = current_executor()
    return JsonResponse(executor.stats().as_dict() if executor else {})
