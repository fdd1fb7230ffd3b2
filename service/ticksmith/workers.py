"""`ticksmith run --workers N`: N member processes of one consumer group on one machine.

Each worker is a full `ticksmith run` with its own HTTP port (http.port + i, so
metrics are per worker: scrape each port) and client id (`<client_id>-<i>`).
SIGINT/SIGTERM are forwarded to every worker; if one exits on its own, the
others are stopped too and the supervisor exits non-zero, leaving restarts to
whatever supervises it (systemd, Kubernetes).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ticksmith.config import Settings

PARENT_ENV = "TICKSMITH_SUPERVISOR_PID"


def worker_env(settings: Settings, index: int) -> dict[str, str]:
    port = settings.http.port + index if settings.http.port else 0
    return {
        **os.environ,
        "TICKSMITH_HTTP__PORT": str(port),
        "TICKSMITH_KAFKA__CLIENT_ID": f"{settings.kafka.client_id}-{index}",
        PARENT_ENV: str(os.getpid()),
    }


async def stop_when_orphaned(stop: asyncio.Event, period_s: float = 1.0) -> None:
    """In a worker: stop cleanly if the supervisor died without telling us (SIGKILL)."""
    parent = os.environ.get(PARENT_ENV)
    while parent and not stop.is_set():
        if os.getppid() != int(parent):
            stop.set()
        await asyncio.sleep(period_s)


def supervise(settings: Settings, workers: int, config: Path | None, summary: bool) -> int:
    base = [sys.executable, "-m", "ticksmith"] + (["--config", str(config)] if config else [])
    procs = [
        subprocess.Popen(
            [*base, "run", *(["--summary"] if summary and i == 0 else [])],
            env=worker_env(settings, i),
        )
        for i in range(workers)
    ]
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while not stopping and all(proc.poll() is None for proc in procs):
        time.sleep(0.2)
    if not stopping:  # a worker died on its own: stop the rest
        forward(signal.SIGTERM, None)
    codes = [proc.wait() for proc in procs]
    return 0 if stopping and all(code == 0 for code in codes) else 1
