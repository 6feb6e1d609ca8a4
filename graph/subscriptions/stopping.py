"""A server stop closes the websockets AFTER the tracking drain, so the last batch still reaches them.

On SIGTERM (or Ctrl-C) uvicorn first closes every open connection, websockets with 1012
("service restart": clients such as graphql-ws reconnect, to another process), and only
then runs the application's lifespan shutdown, where the tracking queue drains
(``tracking.receivers``). The updates of that drain would find no socket left. So the ASGI
app calls ``drain_before_close`` at startup, which puts a handler in front of the server's:
on the first stop signal it flushes the tracking queue (in a thread: the loop goes on
serving), waits until the subscriptions sent what the flush published (at most
``DELIVERY_TIMEOUT``: a client that stopped reading cannot hold the stop up here), and only
then passes the signal on, so the server closes the sockets with 1012 and stops as before
(the lifespan drain then finds an empty queue). A second signal passes on at once, so a
second Ctrl-C still forces the exit. With a Celery worker applying the batches, the flush
hands them to the broker; their updates reach sockets only if the worker is that quick.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from types import FrameType

from django.conf import settings

from graph.subscriptions.hub import hub

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
DELIVERY_TIMEOUT = 5.0  # seconds the flushed batches' updates may take to reach the sockets


class _DrainFirst:
    def __init__(self, loop: asyncio.AbstractEventLoop, previous: dict[int, object]) -> None:
        self.loop = loop
        self.previous = previous
        self.stopping = False
        self.task: asyncio.Task | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping or self.loop.is_closed():
            self._pass_on(signum, frame)
            return
        self.stopping = True
        # A signal handler runs in the main thread between two bytecodes: hand over to the loop.
        self.loop.call_soon_threadsafe(self._start, signum)

    def _start(self, signum: int) -> None:
        self.task = self.loop.create_task(self._drain_then_pass_on(signum))

    async def _drain_then_pass_on(self, signum: int) -> None:
        try:
            drained = await asyncio.to_thread(_flush_tracking)
            delivered = await hub.delivered(DELIVERY_TIMEOUT)
            logger.info(
                "Stopping: tracking flushed (%s), live updates sent (%s); closing websockets", drained, delivered
            )
        except Exception:
            logger.exception("Stopping: the drain before closing websockets failed; closing them now")
        finally:
            self._pass_on(signum, None)

    def _pass_on(self, signum: int, frame: FrameType | None) -> None:
        handler = self.previous.get(signum)
        if callable(handler):
            handler(signum, frame)


def _flush_tracking() -> bool:
    from tracking.executor import current_executor

    executor = current_executor()
    return executor is None or executor.flush(settings.TRACKING_SHUTDOWN_TIMEOUT)


def drain_before_close() -> None:
    """Call from the ASGI lifespan startup (main thread, on the server's loop, after the server
    installed its signal handlers); does nothing where no server handles the stop signals."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    if not any(callable(handler) for handler in previous.values()):
        return
    handler = _DrainFirst(asyncio.get_running_loop(), previous)
    for sig, before in previous.items():
        if callable(before):
            signal.signal(sig, handler)
