"""The publish side, in one process: one message per applied batch, after commit only,
and mailboxes that keep the newest totals per product instead of a growing queue."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from graph.subscriptions.hub import Mailbox, hub
from tests.factories import make_product
from tracking import live
from tracking.apply import apply_events
from tracking.events import TrackingEvent
from tracking.live import TotalsRow
from tracking.models import EventKind

pytestmark = pytest.mark.django_db(transaction=True)


def row(product_id: int, *, views: int) -> TotalsRow:
    return TotalsRow(product_id, 0, views, 0, 0, 0, 0, 0, 0, datetime.now(UTC), seller_id=1, is_active=True)


def views(product, n: int) -> list[TrackingEvent]:
    return [TrackingEvent(EventKind.VIEW, product.pk) for _ in range(n)]


def test_a_batch_of_many_events_is_one_message_with_each_products_totals():
    first, second = make_product(), make_product()

    async def scenario():
        async with hub.subscription(product_ids=[first.pk, second.pk]) as mailbox:
            before = hub.messages
            await sync_to_async(apply_events)(views(first, 50) + views(second, 30))
            taken = await asyncio.wait_for(mailbox.take(), 20)
            return hub.messages - before, taken

    messages, taken = asyncio.run(scenario())
    assert messages == 1
    assert {pid: row.total_views for pid, (row, _) in taken.items()} == {first.pk: 50, second.pk: 30}


def test_a_rolled_back_batch_publishes_nothing():
    rolled_back, committed = make_product(), make_product()

    def write():
        with pytest.raises(RuntimeError), transaction.atomic():
            apply_events(views(rolled_back, 5))
            raise RuntimeError("the caller's transaction fails")
        apply_events(views(committed, 2))

    async def scenario():
        async with hub.subscription(product_ids=[rolled_back.pk, committed.pk]) as mailbox:
            await sync_to_async(write)()
            return await asyncio.wait_for(mailbox.take(), 20)

    taken = asyncio.run(scenario())
    assert list(taken) == [committed.pk]  # the first message already carries only the committed batch


def test_a_mailbox_keeps_only_the_newest_totals_per_product():
    mailbox = Mailbox()
    at = datetime.now(UTC)
    for views_so_far in range(1, 1001):
        mailbox.offer(row(7, views=views_so_far), at)
    mailbox.offer(row(8, views=1), at)

    taken = asyncio.run(mailbox.take())
    assert {pid: row.total_views for pid, (row, _) in taken.items()} == {7: 1000, 8: 1}
    assert mailbox.replaced == 999
    assert mailbox.latest == {}


def test_a_batch_is_read_once_for_all_subscribers(monkeypatch):
    """Fan-out costs one totals query per batch in a process, whatever the number of subscribers."""
    products = [make_product() for _ in range(3)]
    queries = []
    real_totals = live.totals

    def counted(*args, **kwargs):
        rows = real_totals(*args, **kwargs)
        queries.append(len(rows))
        return rows

    monkeypatch.setattr(live, "totals", counted)

    async def scenario():
        async with contextlib.AsyncExitStack() as stack:
            boxes = [
                await stack.enter_async_context(hub.subscription(product_ids=[p.pk for p in products]))
                for _ in range(50)
            ]
            await sync_to_async(apply_events)([e for p in products for e in views(p, 2)])
            return [await asyncio.wait_for(box.take(), 20) for box in boxes]

    taken = asyncio.run(scenario())
    assert queries == [3]  # one query, the three products' rows
    assert all({pid: row.total_views for pid, (row, _) in box.items()} == {p.pk: 2 for p in products} for box in taken)
