"""The metadata watchdog against the real broker: an aiokafka client whose metadata
task died answers no metadata update ever again (the hang of issue 11); with the
watchdog the same pending update is answered and the group member commits.

How the task dies: a broker SIGKILLed resets its connections (RST, not FIN). The
reader then holds an exception instead of EOF, so aiokafka still counts the
connection as connected until its read task has run; under uvloop a write in that
window raises RuntimeError, which aiokafka's ``conn.send`` does not catch (only
OSError) and its metadata task does not either (only KafkaError and timeouts).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any

import pytest
import uvloop
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.integration.conftest import TopicFactory
from ticksmith.kafka.watchdog import connection, watch_metadata_tasks

pytestmark = [pytest.mark.kafka]


RESET = "unable to perform operation on <TCPTransport closed=True>; the handler is closed"


METADATA = 3  # the Kafka API key of a metadata request


def reset_for_metadata(client: Any) -> None:
    """Each open connection of `client` now fails a metadata request's write as
    uvloop's does after the peer reset it, while still counted as connected; other
    requests (fetches, heartbeats) go through."""
    for conn in connection(client)._conns.values():
        write = conn._writer.write

        def reset(data: bytes, write: Any = write) -> None:
            if struct.unpack(">h", data[4:6])[0] == METADATA:
                raise RuntimeError(RESET)
            write(data)

        conn._writer.write = reset


def restore(client: Any) -> None:
    for conn in connection(client)._conns.values():
        vars(conn._writer).pop("write", None)


async def test_uvloop_write_after_a_peer_reset_raises_runtime_error_not_oserror() -> None:
    """The premise above, on loopback: the reader is not at EOF, the write raises."""
    accepted: list[asyncio.StreamWriter] = []

    async def accept(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        accepted.append(w)

    async def scenario() -> tuple[bool, BaseException | None]:
        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while not accepted:
            await asyncio.sleep(0.01)
        sock = accepted[0].get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        accepted[0].transport.abort()  # closed with linger 0: an RST, as after SIGKILL
        while reader.exception() is None:
            await asyncio.sleep(0.01)
        at_eof = reader.at_eof()
        try:
            writer.write(b"x")
        except RuntimeError as exc:
            return at_eof, exc
        finally:
            server.close()
        return at_eof, None

    at_eof, raised = await asyncio.to_thread(uvloop.run, scenario())
    assert not at_eof  # aiokafka's connected() still says yes
    assert isinstance(raised, RuntimeError) and "handler is closed" in str(raised)


async def test_a_dead_metadata_task_is_started_again_and_the_member_commits(
    kafka_bootstrap: str, topic_factory: TopicFactory, caplog: pytest.LogCaptureFixture
) -> None:
    topic = await topic_factory("watchdog", 1)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=f"g-{topic}", enable_auto_commit=False
    )
    await consumer.start()
    revived: list[str] = []
    try:
        await consumer.getmany(timeout_ms=2000)  # joined: the partition is assigned
        assert consumer.assignment() == {TopicPartition(topic, 0)}
        inner = connection(consumer)
        reset_for_metadata(consumer)
        pending = inner.force_metadata_update()
        with pytest.raises(TimeoutError):  # without the watchdog: never answered
            await asyncio.wait_for(asyncio.shield(pending), 3)
        assert inner._sync_task.done() and isinstance(inner._sync_task.exception(), RuntimeError)
        restore(consumer)  # aiokafka's read task closes a reset connection soon after

        with caplog.at_level(logging.ERROR, logger="ticksmith.kafka.watchdog"):
            watchdog = asyncio.create_task(
                watch_metadata_tasks({"consumer": consumer}, revived.append, interval_s=0.1)
            )
            try:
                assert await asyncio.wait_for(pending, 10) is True
                await asyncio.wait_for(consumer.commit({TopicPartition(topic, 0): 0}), 10)
            finally:
                watchdog.cancel()
    finally:
        await consumer.stop()
    assert revived == ["consumer"]
    assert "consumer client's metadata task ended (RuntimeError(" in caplog.text
