"""Latency and throughput from ``hey`` (a native load generator, Debian's ``hey``
package), pinned to its own core with ``taskset`` so that it takes as little CPU from the
server as it can (the server is pinned to the other core, ``SERVER_CPU``).

``run(spec)`` takes the spec of ``tests.benchmarks.loadgen`` and returns the same result
shape; the Python generator stays for the runs that must read every answer
(``count_substring``), which ``hey`` cannot do.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import urllib.request

SERVER_CPU, CLIENT_CPU = "0", "1"


def available() -> bool:
    return shutil.which("hey") is not None


def pin(cmd: list[str], cpu: str) -> list[str]:
    """``cmd`` pinned to ``cpu`` when the machine has two cores or more and ``taskset``."""
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", cpu, *cmd]
    return cmd


def _hey(spec: dict, requests: int, *, csv_output: bool) -> str:
    url = f"http://{spec['host']}:{spec['port']}{spec['path']}"
    cmd = ["hey", "-n", str(requests), "-c", str(spec["concurrency"]), "-m", spec["method"]]
    for name, value in spec.get("headers", {}).items():
        if name.lower() == "content-type":
            cmd += ["-T", value]
        else:
            cmd += ["-H", f"{name}: {value}"]
    if spec.get("body"):
        cmd += ["-d", spec["body"]]
    if csv_output:
        cmd += ["-o", "csv"]
    done = subprocess.run(pin([*cmd, url], CLIENT_CPU), capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"hey failed ({done.returncode}): {done.stderr[-1500:]}")
    return done.stdout


def _first_body(spec: dict) -> str:
    url = f"http://{spec['host']}:{spec['port']}{spec['path']}"
    data = spec["body"].encode() if spec["method"] == "POST" else None
    request = urllib.request.Request(url, data=data, headers=spec.get("headers", {}), method=spec["method"])
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.read().decode(errors="replace")


def _rows(output: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(output)))


def run(spec: dict) -> dict:
    """Warm up, then one measured ``hey`` run: every latency (ms), wall time, statuses."""
    warmup = []
    if spec.get("warmup"):
        warmup = _rows(_hey(spec, max(spec["warmup"], spec["concurrency"]), csv_output=True))
    rows = _rows(_hey(spec, spec["requests"], csv_output=True))
    first_body = _first_body(spec)
    latencies = [float(row["response-time"]) * 1000 for row in rows]
    ends = [float(row["offset"]) + float(row["response-time"]) for row in rows]
    # every request sent counts (as the Python generator counts its warm-up): the seed's
    # design tracks in the request, and its lost updates are counted against all of them
    statuses: dict[str, int] = {"200": 1} if first_body.startswith("{") else {}
    for row in warmup + rows:
        statuses[row["status-code"]] = statuses.get(row["status-code"], 0) + 1
    return {
        "latencies_ms": latencies,
        "wall_seconds": max(ends) if ends else 0.0,
        "statuses": statuses,
        "matched": 0,
        "first_body": first_body,
        "client": "hey",
    }
