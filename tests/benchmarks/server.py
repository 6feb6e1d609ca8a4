"""The real server in a subprocess: uvicorn (or gunicorn, granian), production-like settings."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.benchmarks.database import ROOT, SETTINGS_MODULE

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 60.0  # several workers on a busy 2-core machine
STOP_TIMEOUT = 20.0


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def get_json(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.loads(response.read())

    def post_json(self, path: str, payload: dict) -> dict:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def cpu_ms(self) -> float:
        """CPU time (user + system, every thread) the server process has used so far, in ms:
        unlike latency, it does not grow when the machine's other tenants take the core.
        One worker only (``--workers 1`` serves in this process)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
        return ticks * 1000 / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


SERVERS = ("uvicorn", "gunicorn", "granian")
"""The production commands the benchmark compares (``server_command``)."""


def server_command(kind: str, port: int, workers: int) -> list[str]:
    """The command line of ``kind`` serving the project on ``port`` with ``workers`` processes:
    ``uvicorn --workers``, gunicorn with uvicorn's worker class (``uvicorn-worker``), or
    granian's ASGI interface. Each answers the ASGI lifespan, so SIGTERM drains the tracking
    queue (``config.asgi``); no access log, warnings only."""
    address = ["--host", HOST, "--port", str(port)]
    if kind == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "config.asgi:application", *address, "--workers", str(workers),
                "--no-access-log", "--log-level", "warning"]  # fmt: skip
    if kind == "gunicorn":
        return [sys.executable, "-m", "gunicorn", "config.asgi:application", "--worker-class",
                "uvicorn_worker.UvicornWorker", "--workers", str(workers), "--bind", f"{HOST}:{port}",
                "--log-level", "warning"]  # fmt: skip
    if kind == "granian":
        return [sys.executable, "-m", "granian", "--interface", "asgi", "config.asgi:application", *address,
                "--workers", str(workers), "--no-access-log", "--log-level", "warning"]  # fmt: skip
    raise ValueError(f"unknown server {kind!r}: one of {', '.join(SERVERS)}")


def start(
    database_url: str, *, settings: str = SETTINGS_MODULE, workers: int = 1, pin: bool = True, kind: str = "uvicorn"
) -> Server:
    """One worker pinned to ``native.SERVER_CPU`` (the load generator gets the other core),
    or ``workers`` unpinned ones; ``kind`` is one of ``SERVERS``."""
    from tests.benchmarks import native

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings,
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": HOST,
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        # Every benchmark request comes from one address: a limit that never refuses keeps
        # the check on the path (its cost is measured) without turning events away.
        "TRACKING_RATE_LIMIT": "1000000000",
    }
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="bench-server-", suffix=".log", delete=False)  # noqa: SIM115
    cmd = server_command(kind, port, workers)
    if pin and workers == 1:
        cmd = native.pin(cmd, native.SERVER_CPU)
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    server = Server(process, port, Path(log.name))
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            server.get_json("/bench/queries")
            return server
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    tail = server.log_tail()  # before stop() removes the log
    stop(server)
    raise RuntimeError(f"the benchmark server did not start ({' '.join(cmd)}):\n{tail}")


def stop(server: Server) -> None:
    """SIGTERM (the tracking queue drains on the lifespan shutdown), SIGKILL if it hangs."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=5)
    server.log_path.unlink(missing_ok=True)
