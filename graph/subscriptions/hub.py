"""The process's live-metrics listener, and each subscription's mailbox.

Fan-out happens twice, each time once. ``tracking.live`` hands each committed batch's
product ids over (straight onto this loop with one process, through the channel layer
group with Redis: each web process's listener, not each socket, gets the message). The
listener then reads the new totals of the products its subscribers follow in ONE query
per batch, in its own reader thread, and offers the rows to the matching mailboxes on the
event loop. Batches that arrive while a read is under way merge into the next read (the
newest totals win). An offer never waits: a mailbox keeps only the newest totals per
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
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections

from tracking import live

logger = logging.getLogger(__name__)

REJOIN_EVERY = 600.0  # seconds: channels-redis forgets group members after a day by default
REDIS_ROUND_TRIP = 0.2  # seconds a stop allows a published batch to come back from Redis
IDS_PER_READ = 2000  # a merge of many batches is read in a few queries (SQLite's parameter limit)


class Mailbox:
    """Pending updates of one subscription: ``{product_id: (TotalsRow, applied_at)}``, newest wins."""

    def __init__(self) -> None:
        self.latest: dict[int, tuple[live.TotalsRow, datetime]] = {}
        self.ready = asyncio.Event()
        self.replaced = 0  # updates overwritten before the client took them
        self.waiting = False  # its subscription sent everything it took and waits for more

    def offer(self, row: live.TotalsRow, applied_at: datetime) -> None:
        if row.product_id in self.latest:
            self.replaced += 1
        self.latest[row.product_id] = (row, applied_at)
        self.ready.set()

    async def take(self) -> dict[int, tuple[dict, datetime]]:
        """Wait for at least one update; return all pending ones and empty the mailbox."""
        self.waiting = True
        try:
            await self.ready.wait()
        finally:
            self.waiting = False
        self.ready.clear()
        taken, self.latest = self.latest, {}
        return taken


class LiveHub:
    def __init__(self) -> None:
        self.by_product: dict[int, set[Mailbox]] = defaultdict(set)
        self.by_seller: dict[int, set[Mailbox]] = defaultdict(set)
        self.messages = 0  # batches handed over to this process
        self.reads = 0  # queries that read totals (at most one per batch)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._joined: asyncio.Event | None = None
        self._changed: set[int] = set()
        self._changed_at = 0.0
        self._reading: asyncio.Task | None = None
        self._reader: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        """Listen (once per event loop); returns when this process receives batches."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._changed, self._reading = loop, set(), None
            self._joined = asyncio.Event()
            if settings.LIVE_CHANNEL_LAYER == "memory":
                live.serve_on(loop, self.batch_committed)
                self._joined.set()
            else:
                self._task = loop.create_task(self._listen(self._joined), name="live-metrics-listener")
        await self._joined.wait()

    async def stop(self) -> None:
        live.serve_on(None)
        for task in (self._task, self._reading):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._loop = self._task = self._reading = None

    async def _listen(self, joined: asyncio.Event) -> None:
        """The Redis layer: one group member per process, whatever the number of sockets."""
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
                    self.batch_committed(message["ids"], message["at"])
            except asyncio.CancelledError:
                raise
            except Exception:  # a Redis hiccup must not end live updates for the process
                logger.exception("Live metrics: the listener lost the channel layer; joining again in 1 s")
                await asyncio.sleep(1.0)

    def batch_committed(self, product_ids: list[int], committed_at: float) -> None:
        """On the loop: note what a batch changed; one read at a time fans it out."""
        self.messages += 1
        self._changed.update(product_ids)
        self._changed_at = max(self._changed_at, committed_at)
        if self._reading is None or self._reading.done():
            self._reading = asyncio.get_running_loop().create_task(self._read_and_dispatch())

    async def _read_and_dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while self._changed:
            changed, committed_at, self._changed = self._changed, self._changed_at, set()
            watched = [pid for pid in changed if pid in self.by_product]
            sellers = list(self.by_seller)
            if not watched and not sellers:
                continue  # nobody here follows these products: no query at all
            if self._reader is None:
                self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-metrics-reader")
            try:
                rows = await loop.run_in_executor(self._reader, _read_totals, sorted(changed), watched, sellers)
            except Exception:
                logger.exception("Live metrics: could not read the totals of %d products", len(changed))
                continue
            self.reads += 1
            self.dispatch(rows, datetime.fromtimestamp(committed_at, UTC))

    def dispatch(self, rows: list[live.TotalsRow], applied_at: datetime) -> None:
        """Offer each row to the subscriptions that watch its product or its seller. The inner
        loop is inlined (no method call, one wake-up per mailbox per batch): it runs once per
        (row, subscription) pair, on the loop thread that shares the GIL with the executor."""
        touched: set[Mailbox] = set()
        for row in rows:
            entry = (row, applied_at)
            product_id = row.product_id
            for index, key in (
                (self.by_product, product_id if row.is_active else None),
                (self.by_seller, row.seller_id),
            ):
                boxes = index.get(key) if key is not None else None
                if not boxes:
                    continue
                for mailbox in boxes:
                    latest = mailbox.latest
                    if product_id in latest:
                        mailbox.replaced += 1
                    latest[product_id] = entry
                touched.update(boxes)
        for mailbox in touched:
            mailbox.ready.set()

    async def delivered(self, timeout: float) -> bool:
        """Wait until every batch handed over so far reached the sockets: nothing left to read,
        and every subscription sent what it took (a stalled one counts after ``timeout``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if settings.LIVE_CHANNEL_LAYER != "memory":  # sent by this process's publisher, then back through Redis
            while live.publishing() and loop.time() < deadline:
                await asyncio.sleep(0.01)
            await asyncio.sleep(min(REDIS_ROUND_TRIP, max(deadline - loop.time(), 0)))
        while loop.time() < deadline:
            boxes = {m for index in (self.by_product, self.by_seller) for group in index.values() for m in group}
            reading = self._reading is not None and not self._reading.done()
            if not reading and not self._changed and all(m.waiting and not m.latest for m in boxes):
                return True
            await asyncio.sleep(0.01)
        return False

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


def _read_totals(changed: list[int], watched: list[int], sellers: list[int]) -> list[live.TotalsRow]:
    """In the reader thread: ``tracking.live.totals``, in chunks only for a huge merge."""
    close_old_connections()
    try:
        rows: list[live.TotalsRow] = []
        wanted = set(watched)
        for start in range(0, len(changed), IDS_PER_READ):
            chunk = changed[start : start + IDS_PER_READ]
            rows += live.totals(chunk, watched=[pid for pid in chunk if pid in wanted], sellers=sellers)
        return rows
    finally:
        close_old_connections()  # with a pool (PostgreSQL), the connection goes back between batches


def _discard(index: dict[int, set[Mailbox]], key: int, mailbox: Mailbox) -> None:
    boxes = index.get(key)
    if boxes is not None:
        boxes.discard(mailbox)
        if not boxes:
            del index[key]


hub = LiveHub()
