"""Across processes: a Celery worker applies the batch, a subscriber on another web process gets it.

Given a real Redis, a real Celery worker and two web processes in celery mode, when a
client subscribed on web process A watches a product and the views are sent to web
process B, then the worker's applied batch reaches the subscriber on A through the Redis
channel layer, with the totals a query returns.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from graph.ids import global_id
from tests.factories import make_product
from tests.live.client import PRODUCT_UPDATES, LiveSocket, total_views, track_view, until_live
from tests.scaleout.servers import start_redis, start_worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis():
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture
def worker(redis):
    celery_worker = start_worker(redis.url)
    yield celery_worker
    celery_worker.stop()
    print(celery_worker.log()[-2000:])


def test_a_workers_batch_reaches_a_subscriber_on_another_web_process(redis, worker, live_api_factory):
    celery_mode = {"TRACKING_BACKEND": "celery", "REDIS_URL": redis.url}
    web_a = live_api_factory(**celery_mode)
    web_b = live_api_factory(**celery_mode)
    pid, probe = global_id("Product", make_product().pk), global_id("Product", make_product().pk)

    async def scenario():
        socket = await LiveSocket.open(web_a.url)
        await socket.subscribe("1", PRODUCT_UPDATES, {"ids": [pid, probe]})
        await until_live(socket, "1", web_b.url, probe, timeout=120)  # registered, and A in the Redis group
        for _ in range(3):
            await asyncio.to_thread(track_view, web_b.url, pid)
        deadline = time.monotonic() + 30
        while (queried := await asyncio.to_thread(total_views, web_a.url, pid)) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        while True:
            message = await socket.next_for("1", timeout=30)
            update = message["payload"]["data"]["productMetricsUpdated"]
            if update["product"]["id"] == pid and update["metrics"]["totalViews"] >= queried:
                await socket.close()
                return queried, update

    queried, update = asyncio.run(scenario())
    assert queried == 3
    assert update["metrics"]["totalViews"] == queried
