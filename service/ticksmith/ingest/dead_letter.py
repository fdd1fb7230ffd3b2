"""The dead-letter topic: every rejected record, as it came, plus why."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer, ConsumerRecord

from ticksmith.ingest.reasons import Reason
from ticksmith.monitor.metrics import Metrics


class DeadLetters:
    """Sends rejected records; :meth:`send` returns once the broker acknowledged them,
    so the caller may commit past them."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, metrics: Metrics) -> None:
        self._producer = producer
        self._topic = topic
        self._metrics = metrics

    async def send(
        self, rejects: Sequence[tuple[ConsumerRecord[bytes, bytes], Reason, str]]
    ) -> None:
        await (await self.enqueue(rejects))

    async def enqueue(
        self, rejects: Sequence[tuple[ConsumerRecord[bytes, bytes], Reason, str]]
    ) -> asyncio.Future[None]:
        """Hand the rejects to the producer; the returned future is done once the
        broker acknowledged them all (and they are counted)."""
        futures = [await self._send_one(r, reason, detail) for r, reason, detail in rejects]
        return asyncio.ensure_future(self._acked(futures, [reason for _, reason, _ in rejects]))

    async def _acked(self, futures: list[asyncio.Future[object]], reasons: list[Reason]) -> None:
        await asyncio.gather(*futures)
        for reason in reasons:
            self._metrics.dead_letters.labels(reason).inc()

    async def _send_one(
        self, record: ConsumerRecord[bytes, bytes], reason: Reason, detail: str
    ) -> asyncio.Future[object]:
        headers = [
            *record.headers,
            ("ticksmith.source.topic", record.topic.encode()),
            ("ticksmith.source.partition", str(record.partition).encode()),
            ("ticksmith.source.offset", str(record.offset).encode()),
            ("ticksmith.reason", reason.encode()),
            ("ticksmith.detail", detail.encode()[:1024]),
        ]
        return await self._producer.send(  # type: ignore[no-any-return]
            self._topic, value=record.value, key=record.key, headers=headers
        )
