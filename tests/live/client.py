"""A small graphql-transport-ws client on the ``websockets`` library, for tests and the benchmark.

Deliberately thin: it speaks the protocol message by message, so that tests can also send
what a correct client never would (malformed JSON, subscribe before init, a bad token).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from dataclasses import dataclass, field

import websockets

PROTOCOL = "graphql-transport-ws"
TIMEOUT = 20.0  # seconds a test waits for a message before it fails

PRODUCT_UPDATES = """
subscription Live($ids: [ID!]!) {
  productMetricsUpdated(productIds: $ids) {
    product { id name }
    metrics { totalViews totalSales totalRevenue }
    appliedAt
  }
}"""

SELLER_UPDATES = """
subscription { sellerMetricsUpdated { product { id } metrics { totalViews totalRevenue } appliedAt } }"""


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1) + "/graphql/"


@dataclass
class LiveSocket:
    ws: websockets.ClientConnection
    held: dict = field(default_factory=dict)  # messages received while waiting for another operation's

    @classmethod
    async def open(cls, base_url: str, *, payload: dict | None = None, init: bool = True, **kwargs) -> LiveSocket:
        ws = await websockets.connect(ws_url(base_url), subprotocols=[PROTOCOL], open_timeout=TIMEOUT, **kwargs)
        socket = cls(ws)
        if init:
            await socket.send({"type": "connection_init", "payload": payload or {}})
            ack = await socket.receive()
            assert ack["type"] == "connection_ack", ack
        return socket

    async def send(self, message: dict) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, timeout: float = TIMEOUT) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def subscribe(self, op_id: str, query: str, variables: dict | None = None) -> None:
        await self.send({"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}})

    async def next_for(self, op_id: str, timeout: float = TIMEOUT) -> dict:
        """The next message of operation ``op_id`` (those of other operations wait their turn)."""
        if self.held.get(op_id):
            return self.held[op_id].pop(0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = await self.receive(max(deadline - loop.time(), 0.01))
            if message.get("id") == op_id:
                return message
            self.held.setdefault(message.get("id"), []).append(message)

    async def settle(self) -> None:
        """A ping answered: every message sent before it has been read by the server."""
        await self.send({"type": "ping"})
        while (await self.receive())["type"] != "pong":
            pass

    async def close_code(self, timeout: float = TIMEOUT) -> int | None:
        """Wait for the server to close the socket; its close code."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None

    async def close(self) -> None:
        await self.ws.close()


def post(
    base_url: str, query: str, variables: dict | None = None, token: str | None = None, timeout: float = TIMEOUT
) -> dict:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(base_url + "/graphql/", data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def track_view(base_url: str, product_id: str, timeout: float = TIMEOUT) -> None:
    mutation = "mutation($id: ID!) { trackProductView(productId: $id) { __typename } }"
    result = post(base_url, mutation, {"id": product_id}, timeout=timeout)
    assert "errors" not in result, result


def total_views(base_url: str, product_id: str, timeout: float = TIMEOUT) -> int:
    query = "query($id: ID!) { product(id: $id) { metrics { totalViews } } }"
    result = post(base_url, query, {"id": product_id}, timeout=timeout)
    return result["data"]["product"]["metrics"]["totalViews"]


async def until_live(socket: LiveSocket, op_id: str, base_url: str, probe_gid: str, timeout: float = 60.0) -> dict:
    """View ``probe_gid`` until subscription ``op_id`` reports it: from then on the subscription is
    registered on the server (it registers asynchronously after ``subscribe``, so a batch applied
    just before would be missed). Returns that first update message."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        await asyncio.to_thread(track_view, base_url, probe_gid)
        try:
            return await socket.next_for(op_id, timeout=1.0)
        except TimeoutError:
            if loop.time() > deadline:
                raise
