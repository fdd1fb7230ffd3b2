"""The dead-letter topic: every rejected record, as it came, plus why.

A dead letter must fit the producer's ``max_request_size``, or the send fails,
the member stops, and on restart it meets the same record again. A record near
the limit (or, on a topic that allows more, over it) plus our headers may not
fit: then its value is cut, and if even its key and headers leave no room, those
too; headers give the original sizes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from ticksmith.ingest.reasons import Reason
from ticksmith.metrics import Metrics

log = logging.getLogger(__name__)
Headers = list[tuple[str, bytes | None]]
_VARINT_MAX = 5  # bytes of a length prefix, at most, for a length under 2**31


@dataclass(frozen=True, slots=True)
class Letter:
    key: bytes | None
    value: bytes | None
    headers: Headers


def fit(
    key: bytes | None, value: bytes | None, headers: Headers, ours: Headers, limit: int
) -> Letter:
    """The dead letter of a record with `key`, `value` and `headers`, plus `ours`, in at
    most `limit` bytes as the producer counts them: whole if it fits, else with its
    value cut; if the key and headers alone are over, with neither value nor headers
    and the key cut."""
    if _size(key, value, [*headers, *ours]) <= limit:
        return Letter(key, value, [*headers, *ours])
    value = value or b""
    ours = [*ours, ("ticksmith.original.value_bytes", str(len(value)).encode())]
    room = limit - _size(key, b"", [*headers, *ours]) - _VARINT_MAX
    if room >= 0:
        return Letter(key, value[:room], [*headers, *ours])
    key = key or b""
    headers_bytes = sum(len(k.encode()) + len(v or b"") for k, v in headers)
    ours += [
        ("ticksmith.original.key_bytes", str(len(key)).encode()),
        ("ticksmith.original.headers_bytes", str(headers_bytes).encode()),
    ]
    room = limit - _size(b"", b"", ours) - 2 * _VARINT_MAX
    return Letter(key[: max(room, 0)], b"", ours)


def _size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """The producer's own estimate, which its max_request_size check uses."""
    return DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)  # type: ignore[no-any-return]


class DeadLetters:
    """Sends rejected records; :meth:`send` returns once the broker acknowledged them,
    so the caller may commit past them. `max_request_bytes` is the producer's
    ``max_request_size``."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        metrics: Metrics,
        *,
        max_request_bytes: int = 1024 * 1024,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._metrics = metrics
        self._max_request_bytes = max_request_bytes

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
        ours: Headers = [
            ("ticksmith.source.topic", record.topic.encode()),
            ("ticksmith.source.partition", str(record.partition).encode()),
            ("ticksmith.source.offset", str(record.offset).encode()),
            ("ticksmith.reason", reason.encode()),
            ("ticksmith.detail", detail.encode()[:1024]),
        ]
        letter = fit(record.key, record.value, list(record.headers), ours, self._max_request_bytes)
        if letter.value is not record.value:
            _log_cut(record, reason, letter, self._max_request_bytes)
        value = letter.value
        if value is None and letter.key is None:  # the client refuses a record with neither
            value = b""
        return await self._producer.send(  # type: ignore[no-any-return]
            self._topic, value=value, key=letter.key, headers=letter.headers
        )


def _log_cut(
    record: ConsumerRecord[bytes, bytes], reason: Reason, letter: Letter, limit: int
) -> None:
    log.warning(
        "dead letter of %s[%d]@%d (%s) cut to %d of its %d value bytes to fit"
        " the producer's max_request_size, %d bytes",
        record.topic, record.partition, record.offset, reason,
        len(letter.value or b""), len(record.value or b""), limit,
    )  # fmt: skip
