"""The real server in a subprocess, for tests that talk to it over HTTP (a browser, node scripts).

``live_api`` starts ``python -m uvicorn config.asgi:application`` on a free port of
127.0.0.1, pointed at the *test* database, and stops it after the test. It uses
``transactional_db``: rows the test creates are committed, so the server process sees
them, and the tables are emptied after the test (the server is stopped first, so it
holds no connection or lock while pytest-django flushes).

Load it with ``pytest_plugins = ["tests.live_server"]`` in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

STARTUP_TIMEOUT = float(os.environ.get("LIVE_SERVER_STARTUP_TIMEOUT", 20))  # seconds until the server must answer
STOP_TIMEOUT = 15.0  # seconds between SIGTERM and SIGKILL (the tracking queue flushes on shutdown)
PORT_ATTEMPTS = 3  # a free port can be taken by someone else before uvicorn binds it


@dataclass
class LiveServer:
    url: str  # base URL without a trailing slash, e.g. http://127.0.0.1:54321
    process: subprocess.Popen
    log_path: Path
    host: str = "127.0.0.1"
    port: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql/"

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    def log(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(server log unreadable: {exc})"


def database_url_for_tests() -> str:
    """A DATABASE_URL naming the database this test run uses (the test database, not the dev one)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(s["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            raise RuntimeError(f"the SQLite test database {name!r} is in memory: a second process cannot open it")
        return f"sqlite:///{Path(name).resolve()}"
    if connection.vendor == "postgresql":
        user = quote(s.get("USER") or "", safe="")
        password = quote(s.get("PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = s.get("HOST") or "localhost"
        if host.startswith("/"):
            host = quote(host, safe="")  # a Unix socket directory, percent-encoded as dj-database-url reads it
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"  # IPv6 literal
        port = f":{s['PORT']}" if s.get("PORT") else ""
        return f"postgres://{auth}{host}{port}/{quote(s['NAME'], safe='')}"
    raise RuntimeError(f"live_api does not know how to share a {connection.vendor} database with a subprocess")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _answers(url: str, timeout: float) -> bool:
    """True once the server answers HTTP at all (any status: it is up).

    Before uvicorn listens the connection is refused at once; once it listens, the first request
    can take seconds on a loaded machine (it imports the URLconf and builds the schema), so the
    probe waits for it rather than hanging up and asking again.
    """
    request = urllib.request.Request(
        f"{url}/graphql/?query={quote('{__typename}')}", headers={"Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=max(timeout, 0.5)):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def start_server(env_overrides: dict[str, str] | None = None, host: str = "127.0.0.1") -> LiveServer:
    """Start uvicorn on a free port and wait until it answers; raise with its output if it does not."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_tests(),
        "DEBUG": "1",
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **(env_overrides or {}),
    }
    failures: list[str] = []
    for _attempt in range(PORT_ATTEMPTS):
        port = _free_port(host)
        log_file = tempfile.NamedTemporaryFile(prefix=f"live-server-{port}-", suffix=".log", delete=False)  # noqa: SIM115
        log_path = Path(log_file.name)
        cmd = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", host, "--port", str(port)]
        # A file, not a PIPE: nobody reads the server's output while the test runs, and a full
        # pipe would block the server on its next log line.
        process = subprocess.Popen(
            cmd, cwd=settings.BASE_DIR, env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log_file.close()  # the child has its own descriptor
        server = LiveServer(url=f"http://{host}:{port}", process=process, log_path=log_path, host=host, port=port)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if _answers(server.url, timeout=deadline - time.monotonic()):
                return server
            time.sleep(0.1)
        exited = process.poll() is not None
        _stop(process)
        output = server.log()
        log_path.unlink(missing_ok=True)
        if "address already in use" in output.lower():
            failures.append(f"port {port} was taken before uvicorn could bind it")
            continue
        reason = (
            f"exited with status {process.returncode}" if exited else f"did not answer within {STARTUP_TIMEOUT:.0f} s"
        )
        raise RuntimeError(f"the live server ({' '.join(cmd)}) {reason}. Its output:\n{_tail(output)}")
    raise RuntimeError("could not start the live server: " + "; ".join(failures))


def stop_server(server: LiveServer) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT; print the log tail (pytest shows it when the test failed)."""
    _stop(server.process)
    output = server.log()
    server.log_path.unlink(missing_ok=True)
    print(f"--- live server {server.url} exited with {server.process.returncode}; last lines of its log:")
    print(_tail(output))


@pytest.fixture
def live_api(transactional_db):
    """The ASGI app served by uvicorn in a subprocess, on the test database. Yields a LiveServer."""
    server = start_server()
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def live_api_factory(transactional_db):
    """Start servers with extra environment (``start(DEBUG="0", TRACKING_RATE_LIMIT="0")``);
    all are stopped after the test."""
    servers: list[LiveServer] = []

    def start(**env: str) -> LiveServer:
        server = start_server(env_overrides=env)
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        stop_server(server)


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def require(condition: bool, reason: str) -> None:
    """Skip the test when a tool it needs is missing, but fail under CI=true, where it must be there."""
    if condition:
        return
    if running_in_ci():
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)
