"""``make run`` serves the subscriptions too: the command it runs speaks graphql-transport-ws.

Given the server command ``make run`` prints (``make -n``: nothing installed or seeded here),
started on the test database, when a websocket client connects to ``/graphql/`` and
subscribes, then the server acknowledges the connection and pushes an update.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from graph.ids import global_id
from tests.config.test_make_run import dry_run
from tests.factories import make_product
from tests.live.client import PRODUCT_UPDATES, LiveSocket, until_live
from tests.live_server import STARTUP_TIMEOUT, STOP_TIMEOUT, _answers, database_url_for_tests

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_command_make_run_starts_serves_subscriptions():
    port = free_port()
    command = shlex.split(dry_run("run", "HOST=127.0.0.1", f"PORT={port}")[-1])
    assert command[1:4] == ["-m", "uvicorn", "config.asgi:application"], command
    command[0] = sys.executable  # this virtual environment: what `make run` installs is in it
    pid = global_id("Product", make_product().pk)
    env = {**os.environ, "DATABASE_URL": database_url_for_tests(), "DJANGO_SETTINGS_MODULE": "config.settings"}
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while not _answers(url, timeout=1):
                assert server.poll() is None and time.monotonic() < deadline, "the make run command did not start"
                time.sleep(0.1)

            async def scenario():
                client = await LiveSocket.open(url)  # connection_init answered with connection_ack
                await client.subscribe("1", PRODUCT_UPDATES, {"ids": [pid]})
                update = await until_live(client, "1", url, pid)
                await client.close()
                return update

            update = asyncio.run(scenario())
        finally:
            server.terminate()
            server.wait(STOP_TIMEOUT)
    assert update["payload"]["data"]["productMetricsUpdated"]["product"]["id"] == pid
