"""The process's one listener on the live-metrics group, and each subscription's mailbox.

Fan-out happens twice, each time once: ``tracking.live`` sends one message per applied
batch to the channel layer group (Redis delivers it to each web process's listener, not
to each socket), and this listener offers the message's rows to the local subscriptions
interested in them. An offer never waits: a mailbox keeps only the newest totals per
product, so a client that reads slowly (or never) holds at most one pending update per
product it watches and delays neither the listener, nor the other clients, nor the
executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from datetime import datetime

from channels.layers import get_channel_layer

from tracking import live

logger = logging.getLogger(__name__)

REJOIN_EVERY = 600.0  # seconds: channels-redis forgets group members after a day by default


class Mailbox:
    """Pending updates of one subscription: ``{product_id: (row, applied_at)}``, newest wins."""

    def __init__(self) -> None:
        self.latest: dict[int, tuple[dict, datetime]] = {}
        self.ready = asyncio.Event()
        self.replaced = 0  # updates overwritten before the client took them

    def offer(self, row: dict, applied_at: datetime) -> None:
        if row["product_id"] in self.latest:
            self.replaced += 1
        self.latest[row["product_id"]] = (row, applied_at)
        self.ready.set()

    async def take(self) -> dict[int, tuple[dict, datetime]]:
        """Wait for at least one update; return all pending ones and empty the mailbox."""
        await self.ready.wait()
        self.ready.clear()
        taken, self.latest = self.latest, {}
        return taken


class LiveHub:
    def __init__(self) -> None:
        self.by_product: dict[int, set[Mailbox]] = defaultdict(set)
        self.by_seller: dict[int, set[Mailbox]] = defaultdict(set)
        self.messages = 0
        self._task: asyncio.Task | None = None
        self._joined: asyncio.Event | None = None

    async def start(self) -> None:
        """Join the group (once per event loop); returns when this process is a member."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._joined = asyncio.Event()
            self._task = loop.create_task(self._listen(self._joined), name="live-metrics-listener")
            live.serve_on(loop)
        await self._joined.wait()

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        live.serve_on(None)

    async def _listen(self, joined: asyncio.Event) -> None:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        loop = asyncio.get_running_loop()
        while True:
            try:
                await layer.group_add(live.GROUP, channel)
                joined.set()
                rejoin_at = loop.time() + REJOIN_EVERY
                while loop.time() < rejoin_at:
                    try:
                        message = await asyncio.wait_for(layer.receive(channel), REJOIN_EVERY)
                    except TimeoutError:
                        break
                    self.dispatch(message)
            except asyncio.CancelledError:
                raise
            except Exception:  # a Redis hiccup must not end live updates for the process
                logger.exception("Live metrics: the listener lost the channel layer; joining again in 1 s")
                await asyncio.sleep(1.0)

    def dispatch(self, message: dict) -> None:
        """Offer each row to the subscriptions that watch its product or its seller."""
        self.messages += 1
        applied_at = datetime.fromisoformat(message["applied_at"])
        for row in message.get("metrics", ()):
            if row["is_active"]:
                for mailbox in self.by_product.get(row["product_id"], ()):
                    mailbox.offer(row, applied_at)
            for mailbox in self.by_seller.get(row["seller_id"], ()):
                mailbox.offer(row, applied_at)

    @contextlib.asynccontextmanager
    async def subscription(
        self, *, product_ids: Iterable[int] = (), seller_id: int | None = None
    ) -> AsyncIterator[Mailbox]:
        """A mailbox registered for ``product_ids`` and/or ``seller_id`` while the block runs."""
        await self.start()
        mailbox = Mailbox()
        ids = list(product_ids)
        for product_id in ids:
            self.by_product[product_id].add(mailbox)
        if seller_id is not None:
            self.by_seller[seller_id].add(mailbox)
        try:
            yield mailbox
        finally:
            for product_id in ids:
                _discard(self.by_product, product_id, mailbox)
            if seller_id is not None:
                _discard(self.by_seller, seller_id, mailbox)

    def subscriber_count(self) -> int:
        return len({m for boxes in (*self.by_product.values(), *self.by_seller.values()) for m in boxes})


def _discard(index: dict[int, set[Mailbox]], key: int, mailbox: Mailbox) -> None:
    boxes = index.get(key)
    if boxes is not None:
        boxes.discard(mailbox)
        if not boxes:
            del index[key]


hub = LiveHub()
