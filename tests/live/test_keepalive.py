"""Idle sockets: the server pings every socket and closes the one whose client stopped answering.

The pings are uvicorn's (``--ws-ping-interval`` / ``--ws-ping-timeout``, 20 s each by default,
here set through uvicorn's ``UVICORN_`` environment variables). A real client library answers
pings by itself, so this client speaks the websocket protocol by hand over a plain socket: it
opens the connection, is acknowledged, and then never answers.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

PING, CLOSE, TEXT = 0x9, 0x8, 0x1


def handshake(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /graphql/ HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, f"the server closed during the handshake: {head!r}"
        head += chunk
    assert head.split(b"\r\n", 1)[0].split()[1] == b"101", head
    return sock


def send_text(sock: socket.socket, message: dict) -> None:
    payload = json.dumps(message).encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x80 | TEXT, 0x80 | len(payload)]) + mask + masked)


def read_frame(sock: socket.socket) -> tuple[int, bytes] | None:
    """(opcode, payload) of the next frame, or None when the server closed the connection."""
    head = _read(sock, 2)
    if head is None:
        return None
    opcode, length = head[0] & 0x0F, head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", _read(sock, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", _read(sock, 8))[0]
    return opcode, _read(sock, length) or b""


def _read(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def test_a_client_that_stops_answering_pings_is_closed(live_api_factory):
    # Given a server that pings every half second and waits half a second for the pong
    server = live_api_factory(UVICORN_WS_PING_INTERVAL="0.5", UVICORN_WS_PING_TIMEOUT="0.5")
    url = urlsplit(server.url)

    # and a client acknowledged by the protocol, which then answers nothing
    sock = handshake(url.hostname, url.port)
    send_text(sock, {"type": "connection_init"})
    opcode, payload = read_frame(sock)
    assert opcode == TEXT and json.loads(payload)["type"] == "connection_ack"

    # When it stays silent, then the server pings it and, without a pong, closes the connection
    opcodes, started = [], time.monotonic()
    while (frame := read_frame(sock)) is not None and time.monotonic() - started < 20:
        opcodes.append(frame[0])
        if frame[0] == CLOSE:
            break
    sock.close()
    assert PING in opcodes
    assert frame is None or frame[0] == CLOSE, opcodes
    assert time.monotonic() - started < 20
