"""Live metrics: after a batch commits, its products' new totals go out on a channel layer.

``batch_applied`` is the hook ``tracking.apply.apply_events`` calls inside its transaction.
It registers an ``on_commit`` callback that only adds the product ids to a pending set and
wakes the publisher thread: the executor's worker (or the Celery task, or the checkout that
wrote the sale) never waits on the channel layer. A rolled-back batch publishes nothing.

The publisher thread reads the committed totals of all pending products in one query and
sends ONE message to the ``GROUP`` of the channel layer (``CHANNEL_LAYERS["default"]``:
in memory in a single process, Redis across processes). Batches that commit while a publish
is under way merge into the next one; since each publish reads the totals afresh, merging
loses nothing (the newest totals win). A send that takes longer than
``LIVE_PUBLISH_TIMEOUT`` is abandoned and logged; pending ids are capped at
``MAX_PENDING`` (beyond that, the oldest wait for the next batch that touches them).

Who listens is ``graph.subscriptions.hub`` (one listener per web process). The in-memory
layer is an asyncio structure of the process's event loop, so the listener announces that
loop with ``serve_on`` and the publisher sends on it; a process without a listener (a
Celery worker with the in-memory layer) has nobody to tell, and publishes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from tracking.models import COUNTER_FIELDS, ProductMetrics

logger = logging.getLogger(__name__)

GROUP = "live-metrics"  # the channel layer group every web process's listener joins
MESSAGE_TYPE = "metrics.batch"
MAX_PENDING = 50_000  # product ids waiting to be published
PRODUCTS_PER_MESSAGE = 1000  # a huge batch goes out in a few messages, not one giant one

_lock = threading.Lock()
_wake = threading.Condition(_lock)
_pending: set[int] = set()
_thread: threading.Thread | None = None
_receiver_loop: asyncio.AbstractEventLoop | None = None
published_messages = 0  # for tests and the benchmark: how many group sends went out


def batch_applied(product_ids: Iterable[int]) -> None:
    """Publish the totals of ``product_ids`` once the current transaction commits."""
    ids = list(product_ids)
    if ids:
        transaction.on_commit(lambda: _enqueue(ids))


def serve_on(loop: asyncio.AbstractEventLoop | None) -> None:
    """The listener's event loop (graph.subscriptions.hub): the in-memory layer lives there."""
    global _receiver_loop
    _receiver_loop = loop


def _enqueue(ids: list[int]) -> None:
    global _thread
    with _lock:
        room = MAX_PENDING - len(_pending)
        _pending.update(ids[: max(room, 0)])
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="live-metrics-publisher", daemon=True)
            _thread.start()
        _wake.notify()


def _run() -> None:
    loop = asyncio.new_event_loop()  # the Redis layer's connections belong to this loop
    while True:
        with _lock:
            while not _pending:
                _wake.wait()
            ids = sorted(_pending)
            _pending.clear()
        try:
            publish_totals(ids, loop=loop)
        except Exception:  # the publisher must outlive any one failure
            logger.exception("Live metrics: could not publish the totals of %d products", len(ids))


def publish_totals(ids: list[int], *, loop: asyncio.AbstractEventLoop) -> None:
    """Read the committed totals of ``ids`` and send them in one group message (per 1,000)."""
    if settings.LIVE_CHANNEL_LAYER == "memory" and (_receiver_loop is None or _receiver_loop.is_closed()):
        return  # no listener in this process: nobody to tell, nothing to read
    close_old_connections()
    applied_at = timezone.now()
    try:
        for start in range(0, len(ids), PRODUCTS_PER_MESSAGE):
            rows = totals(ids[start : start + PRODUCTS_PER_MESSAGE])
            if rows:
                _send({"type": MESSAGE_TYPE, "applied_at": applied_at.isoformat(), "metrics": rows}, loop)
    finally:
        connection.close()  # a thread that sleeps between batches holds no connection


def totals(ids: list[int]) -> list[dict]:
    """Each product's counters, plus who sells it and whether it is active (for routing)."""
    fields = ["product_id", *COUNTER_FIELDS, "updated_at", "product__seller_id", "product__is_active"]
    rows = []
    for row in ProductMetrics.objects.filter(product_id__in=ids).values(*fields):
        row["seller_id"] = row.pop("product__seller_id")
        row["is_active"] = row.pop("product__is_active")
        row["total_revenue"] = str(row["total_revenue"])
        row["updated_at"] = row["updated_at"].isoformat()
        rows.append(row)
    return rows


def _send(message: dict, loop: asyncio.AbstractEventLoop) -> None:
    global published_messages
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    timeout = settings.LIVE_PUBLISH_TIMEOUT
    try:
        if settings.LIVE_CHANNEL_LAYER == "memory":
            receiver = _receiver_loop
            if receiver is None or receiver.is_closed():
                return  # no listener in this process: nobody to tell
            future = asyncio.run_coroutine_threadsafe(layer.group_send(GROUP, message), receiver)
            future.result(timeout=timeout)
        else:
            loop.run_until_complete(asyncio.wait_for(layer.group_send(GROUP, message), timeout))
        published_messages += 1
    except TimeoutError:
        logger.warning("Live metrics: a publish took over %.1f s and was dropped", timeout)
