"""Keeps each aiokafka client's metadata task alive.

Every aiokafka client runs one background task, ``AIOKafkaClient._md_synchronizer``,
that answers ``force_metadata_update()``. If that task ends (aiokafka 0.14 does not
catch every exception in it, and keeps the dead task without logging it), each
later ``force_metadata_update()`` waits forever. The group coordinator looks itself
up with it while holding its lookup lock, so after a SIGKILLed broker came back a
member could stop heartbeating and committing for good, logging nothing (issue 11).

The watchdog looks at the task once a second. A task that ended is logged at ERROR
with its exception and started again, so the pending update is answered (the new
task resolves the future the old one left) and the member carries on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaProducer

log = logging.getLogger(__name__)


def connection(client: Any) -> Any:
    """The AIOKafkaClient inside a producer, consumer or admin client."""
    if isinstance(client, AIOKafkaProducer):
        return client.client
    return client._client


def revive(name: str, client: Any) -> bool:
    """Start `client`'s metadata task again if it ended; True if it had."""
    inner = connection(client)
    task: asyncio.Task[None] | None = inner._sync_task  # None before start and after stop
    if task is None or not task.done():
        return False
    why = "cancelled" if task.cancelled() else repr(task.exception())
    log.error("kafka: the %s client's metadata task ended (%s); starting it again", name, why)
    inner._sync_task = asyncio.create_task(inner._md_synchronizer(), name=f"{name}-metadata")
    return True


async def watch_metadata_tasks(
    clients: Mapping[str, Any], on_revived: Callable[[str], None], interval_s: float = 1.0
) -> None:
    """Until cancelled: revive any client's ended metadata task, counting it by name.
    Cancel this before the clients stop (their stop ends the task on purpose)."""
    while True:
        await asyncio.sleep(interval_s)
        for name, client in clients.items():
            if revive(name, client):
                on_revived(name)
