"""A private PostgreSQL server for fault tests: its own data directory, port and socket.

Stopping the shared server would break every other test (and every other process using
it); a server of our own can be stopped and started at will. PostgreSQL refuses to run
as root, so under root its commands run as the ``postgres`` user (``runuser``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.live_server import require
from tests.scaleout.servers import free_port


def postgres_bin_dir() -> Path | None:
    """The newest PostgreSQL server binaries on this machine (Debian keeps them off the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PrivatePostgres:
    bin_dir: Path
    directory: Path  # data directory, socket and log live here
    port: int
    database: str = "outage"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-o", options, "-l", str(self.log_path), "-w", "start")

    def stop(self) -> None:
        """A fast shutdown, as an operator's restart or a failover does: sessions are cut off."""
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop")

    @property
    def log_path(self) -> Path:
        return self.directory / "postgres.log"

    def create_database(self) -> None:
        conn = psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            conn.close()

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_private_postgres() -> PrivatePostgres:
    """initdb into a temporary directory, start on a free port, create the database."""
    bin_dir = postgres_bin_dir()
    require(bin_dir is not None, "PostgreSQL server binaries are not installed (apt-get install postgresql)")
    assert bin_dir is not None
    directory = Path(tempfile.mkdtemp(prefix="private-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    server = PrivatePostgres(bin_dir=bin_dir, directory=directory, port=free_port())
    server._run("initdb", "-D", str(directory / "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8", timeout=120)
    server.start()
    server.create_database()
    return server
