"""GET /v1/symbols/{symbol}/forming over a real store and indicator worker: each
chosen interval's bar in progress with the values the worker peeks, as JSON and
as Arrow, and nothing changed by reading it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from ticksmith.api.openapi import ARROW
from ticksmith.api.server import make_app
from ticksmith.app import build_parts
from ticksmith.config import Settings
from ticksmith.pipeline.forming import FormingReader
from ticksmith.produce.market import Market, symbol_names, tick_batch

pytestmark = pytest.mark.timeout(60)
INTERVALS_MS = (1_000, 5_000)


async def nobody(_: str) -> None:
    return None


@pytest.fixture
async def parts() -> AsyncIterator[tuple[TestClient[Any, Any], FormingReader]]:
    registry = CollectorRegistry()
    settings = Settings(bars={"intervals_ms": INTERVALS_MS})
    _, store, worker, cache = build_parts(settings, registry)
    ticks = Market(symbol_names(2), seed=4, spacing_ns=50_000_000).chunk(400)
    n = len(ticks)
    batch = tick_batch(
        ticks["symbol"].to_numpy(object), ticks["ts"].to_numpy(np.int64),
        ticks["price"].to_numpy(np.float64), ticks["size"].to_numpy(np.float64),
        np.zeros(n, np.int8), np.zeros(n, np.int32), np.arange(n, dtype=np.int64),
    )  # fmt: skip
    result = store.apply(batch)
    worker.update(result.closed, result.evicted)
    forming = FormingReader(store, worker)
    app = make_app(
        registry, store, cache, INTERVALS_MS, lambda: True, nobody, bars_in_progress=forming
    )
    async with TestClient(TestServer(app)) as http:
        yield http, forming


async def test_each_interval_bar_in_progress_as_json_and_arrow(
    parts: tuple[TestClient[Any, Any], FormingReader],
) -> None:
    client, forming = parts
    want = forming.read("SYM0001", INTERVALS_MS)
    assert want is not None
    async with client.get("/v1/symbols/SYM0001/forming") as response:
        assert response.status == 200
        body = json.loads(await response.read())
    headers = {"Accept": ARROW}
    async with client.get("/v1/symbols/SYM0001/forming?bars=5000,1000", headers=headers) as r:
        table = pa.ipc.open_stream(await r.read()).read_all()
    rows = body["rows"]
    assert body["symbol"] == "SYM0001" and [r["interval_ms"] for r in rows] == [1_000, 5_000]
    assert table.column("interval_ms").to_pylist() == [5_000, 1_000]
    for row, ms in zip(rows, INTERVALS_MS, strict=True):
        closed = want[ms]
        assert row["start"] == closed.bars["start_ns"][0]
        assert row["close"] == closed.bars["close"][0]
        for column, values in closed.values.items():
            assert row[column] == (None if np.isnan(values[0]) else values[0])
        assert row["ready"] == {label: bool(flags[0]) for label, flags in closed.ready.items()}
    assert table.column("ready").to_pylist()[::-1] == [r["ready"] for r in rows]
    assert table.column("close").to_pylist()[::-1] == [r["close"] for r in rows]


async def test_a_symbol_not_held_is_a_404_and_a_bad_interval_a_400(
    parts: tuple[TestClient[Any, Any], FormingReader],
) -> None:
    client, _ = parts
    async with client.get("/v1/symbols/NOPE/forming") as response:
        assert response.status == 404
    async with client.get("/v1/symbols/SYM0001/forming?bars=1000,2000") as response:
        assert response.status == 400 and "bars" in json.loads(await response.read())["error"]
