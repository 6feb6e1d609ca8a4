"""A small closed-loop HTTP/1.1 load generator, run as its own process.

``python -m tests.benchmarks.loadgen < spec.json`` prints one JSON line. The spec::

    {"host": "127.0.0.1", "port": 8000, "method": "POST", "path": "/graphql/",
     "body": "...", "headers": {"Content-Type": "application/json"},
     "requests": 300, "concurrency": 4, "warmup": 8, "count_substring": "\\"accepted\\":true"}

``concurrency`` clients, each on its own keep-alive connection, send the next request as
soon as their previous answer is read, until ``requests`` measured requests were sent
(after ``warmup`` unmeasured ones). Latency is from the first byte written to the last
byte read. Plain asyncio streams, no HTTP library: the generator shares a 2-core machine
with the server, so it should spend as little CPU per request as it can.

The output has every latency (ms), the wall time of the measured part, status counts,
how many answers contained ``count_substring``, and the first answer's body.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path


class Client:
    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host, self.port, self.request = host, port, request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def send(self) -> tuple[int, bytes]:
        if self.writer is None:
            await self._connect()
        self.writer.write(self.request)
        status, headers = await self._read_head()
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = await self._read_chunked()
        else:
            body = await self.reader.readexactly(int(headers.get(b"content-length", b"0")))
        if headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return status, body

    async def _read_head(self) -> tuple[int, dict[bytes, bytes]]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if b":" in line:
                name, value = line.split(b":", 1)
                headers[name.strip().lower()] = value.strip()
        return status, headers

    async def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def build_request(spec: dict) -> bytes:
    body = spec.get("body", "").encode()
    lines = [f"{spec['method']} {spec['path']} HTTP/1.1", f"Host: {spec['host']}:{spec['port']}"]
    lines += [f"{name}: {value}" for name, value in spec.get("headers", {}).items()]
    if body or spec["method"] == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def run(spec: dict) -> dict:
    request = build_request(spec)
    concurrency = spec["concurrency"]
    clients = [Client(spec["host"], spec["port"], request) for _ in range(concurrency)]
    marker = spec.get("count_substring", "").encode()
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    matched = 0
    first_body: list[bytes] = []

    async def worker(client: Client, quota: list[int], measure: bool) -> None:
        nonlocal matched
        while quota[0] > 0:
            quota[0] -= 1
            started = time.perf_counter()
            status, body = await client.send()
            elapsed = time.perf_counter() - started
            statuses[status] = statuses.get(status, 0) + 1
            if marker and marker in body:
                matched += 1
            if not first_body:
                first_body.append(body)
            if measure:
                latencies.append(elapsed * 1000)

    warmup = [spec.get("warmup", 0)]
    await asyncio.gather(*(worker(c, warmup, False) for c in clients))
    quota = [spec["requests"]]
    started = time.perf_counter()
    await asyncio.gather(*(worker(c, quota, True) for c in clients))
    wall = time.perf_counter() - started
    for client in clients:
        await client.close()
    return {
        "latencies_ms": latencies,
        "wall_seconds": wall,
        "statuses": {str(k): v for k, v in statuses.items()},
        "matched": matched,
        "first_body": first_body[0].decode(errors="replace") if first_body else "",
    }


def run_in_child(spec: dict) -> dict:
    """Run the generator in its own process (so it does not share this one's CPU and GIL);
    its result, or RuntimeError with what it printed when it failed."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.loadgen"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def main() -> None:
    spec = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(run(spec))))


if __name__ == "__main__":
    main()
