"""A server stop: the last batch's update first, then the close frame.

Given a subscriber and views still queued in the tracking executor (a batch interval far
longer than the test), when uvicorn is sent SIGTERM, then the client receives the update
of the drained batch, with the totals a query would have returned, and only then a close
frame with 1012 ("service restart", the code the README documents), and the process exits.
"""

from __future__ import annotations

import asyncio
import signal

import pytest
import websockets

from graph.ids import global_id
from tests.factories import make_product
from tests.live.client import PRODUCT_UPDATES, LiveSocket, track_view, until_live
from tests.live_server import STOP_TIMEOUT, start_server, stop_server

pytestmark = pytest.mark.django_db(transaction=True)

VIEWS = 4


def test_a_stop_sends_the_drained_batch_before_closing_with_1012():
    product, probe = make_product(), make_product()
    pid, probe_gid = global_id("Product", product.pk), global_id("Product", probe.pk)
    # Batches close after 5 s: the views below are still queued when the signal arrives.
    server = start_server({"TRACKING_BATCH_INTERVAL": "5"})
    try:

        async def scenario():
            socket = await LiveSocket.open(server.url)
            await socket.subscribe("1", PRODUCT_UPDATES, {"ids": [pid, probe_gid]})
            await until_live(socket, "1", server.url, probe_gid)  # the subscription is registered
            received = []
            for _ in range(VIEWS):
                await asyncio.to_thread(track_view, server.url, pid)
            server.process.send_signal(signal.SIGTERM)
            try:
                while True:
                    received.append(await socket.receive(timeout=STOP_TIMEOUT))
            except websockets.ConnectionClosed:  # the close frame ends the stream
                pass
            return received, socket.ws.close_code

        received, close_code = asyncio.run(scenario())
        updates = [m["payload"]["data"]["productMetricsUpdated"] for m in received if m.get("type") == "next"]
        views = [u["metrics"]["totalViews"] for u in updates if u["product"]["id"] == pid]
        assert views and views[-1] == VIEWS, received  # the drained batch reached the client
        assert close_code == 1012
        server.process.wait(timeout=STOP_TIMEOUT)
        assert "queue drained" in server.log()
    finally:
        stop_server(server)
