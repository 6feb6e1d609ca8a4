"""The live server with extra environment variables.

``tests.live_server.live_api`` starts the server with a fixed environment; these tests need
rate limits off (the fuzzer sends hundreds of tracking and login mutations from one address)
and production mode (what a hostile client meets). They start the server through
``tests.live_server.start_server(env_overrides=...)``, the function ``live_api`` uses, and
request ``transactional_db`` themselves, as ``live_api`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.live_server import LiveServer, start_server, stop_server

# Rate limits at 0 are off (config/settings.py): the fuzzer is one visitor at one
# address sending hundreds of tracking and login mutations a minute.
NO_RATE_LIMITS = {
    "TRACKING_RATE_LIMIT": "0",
    "LOGIN_RATE_LIMIT": "0",
    "LOGIN_ADDRESS_RATE_LIMIT": "0",
    "REGISTER_RATE_LIMIT": "0",
}

# What production runs: DEBUG off (resolver faults masked, no debug pages), a real secret.
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "hostile-input-tests-" + "x" * 40,
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "LOG_LEVEL": "WARNING",
}


@contextmanager
def serving(env: dict[str, str]) -> Iterator[LiveServer]:
    """uvicorn on the test database with ``env`` on top of live_api's environment."""
    server = start_server(env_overrides=env)
    try:
        yield server
    finally:
        stop_server(server)
