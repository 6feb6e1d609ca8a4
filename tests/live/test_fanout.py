"""Many subscribers on one process, and one that never reads.

Given 200 clients subscribed to one product and one client watching 100 products with a
heavy selection that never reads a byte of what it is sent, when shoppers browse, then
every one of the 200 receives the totals a query returns, and a server stop still drains
the tracking queue and exits on its own once the stalled client is gone.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from graph.ids import global_id
from tests.factories import make_category, make_product, make_user
from tests.live.client import LiveSocket, post, total_views, track_view
from tests.live_server import STOP_TIMEOUT, start_server, stop_server

pytestmark = pytest.mark.django_db(transaction=True)

SUBSCRIBERS = 200
HEAVY = """subscription($ids: [ID!]!) { productMetricsUpdated(productIds: $ids) {
  product { id name description category { name } } metrics { totalImpressions totalViews } appliedAt } }"""
VIEWS_ONLY = "subscription($ids: [ID!]!) { productMetricsUpdated(productIds: $ids) { metrics { totalViews } } }"


def _frame(text: str) -> bytes:
    """One masked text frame, as a client must send it (RFC 6455 section 5.3)."""
    data = text.encode()
    mask = os.urandom(4)
    length = len(data)
    header = bytes([0x81]) + (bytes([0x80 | length]) if length < 126 else bytes([0x80 | 126]) + length.to_bytes(2))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def stalled_subscriber(host: str, port: int, ids: list[str]) -> socket.socket:
    """A websocket client that subscribes and then never reads again (a tiny receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    sock.sendall(
        (
            f"GET /graphql/ HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1024)
    assert b" 101 " in response.split(b"\r\n")[0], response
    sock.sendall(_frame(json.dumps({"type": "connection_init", "payload": {}})))
    subscribe = {"id": "s", "type": "subscribe", "payload": {"query": HEAVY, "variables": {"ids": ids}}}
    sock.sendall(_frame(json.dumps(subscribe)))
    return sock


def test_200_subscribers_get_the_update_and_a_stalled_one_delays_nobody():
    seller, category = make_user(), make_category()
    products = [make_product(seller=seller, category=category, description="x" * 4000) for _ in range(100)]
    ids = [global_id("Product", p.pk) for p in products]
    server = start_server({"WEBSOCKET_CONNECTIONS_PER_VISITOR": "1000", "TRACKING_RATE_LIMIT": "100000"})
    stalled = stalled_subscriber(server.host, server.port, ids)
    try:
        listing = "mutation($ids: [ID!]!) { trackListingView(productIds: $ids) { __typename } }"

        async def scenario():
            sockets = await asyncio.gather(*(LiveSocket.open(server.url) for _ in range(SUBSCRIBERS)))
            for n, client in enumerate(sockets):
                await client.subscribe(str(n), VIEWS_ONLY, {"ids": [ids[0]]})
            # Every subscription registered: each got an update of the listing's impressions.
            firsts = [asyncio.create_task(c.next_for(str(n), timeout=300)) for n, c in enumerate(sockets)]
            for _ in range(20):  # ~8 MB of updates for the stalled client: far past every buffer
                await asyncio.to_thread(post, server.url, listing, {"ids": ids})
            while waiting := [task for task in firsts if not task.done()]:
                await asyncio.to_thread(post, server.url, listing, {"ids": ids})
                await asyncio.wait(waiting, timeout=2)
            await asyncio.to_thread(track_view, server.url, ids[0])
            deadline = time.monotonic() + 30
            while await asyncio.to_thread(total_views, server.url, ids[0]) < 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            queried = await asyncio.to_thread(total_views, server.url, ids[0])

            async def last_views(client: LiveSocket, op_id: str) -> int:
                while True:
                    message = await client.next_for(op_id)
                    views = message["payload"]["data"]["productMetricsUpdated"]["metrics"]["totalViews"]
                    if views >= queried:
                        return views

            received = await asyncio.gather(*(last_views(c, str(n)) for n, c in enumerate(sockets)))
            await asyncio.gather(*(c.close() for c in sockets))
            return queried, received

        queried, received = asyncio.run(scenario())
        assert queried == 1
        assert received == [queried] * SUBSCRIBERS
        # A stop while the stalled client is still connected: uvicorn waits for its connection
        # (it holds megabytes the client never read) until the client goes; then the tracking
        # queue drains and the process exits on its own. (README: --timeout-graceful-shutdown.)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(2)
        stalled.close()
        try:
            server.process.wait(timeout=STOP_TIMEOUT + 30)
        except subprocess.TimeoutExpired:
            pytest.fail("the server did not stop once the stalled client went away")
        assert "queue drained" in server.log()
    finally:
        stop_server(server)
        stalled.close()
