"""Range reads over HTTP to the real app, from a cache holding known rows: bars
as the DataFrame the bar source builds, indicators as a fed GrowingFrame.

No broker: the sources are fakes that hand the cache the frames built here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from ticksmith.api.openapi import ARROW
from ticksmith.api.server import make_app
from ticksmith.cache.frames import GrowingFrame, bars_to_frame
from ticksmith.cache.proxy_cache import Key, ProxyCache, Source
from ticksmith.metrics import Metrics
from ticksmith.store.bars import BAR_DTYPE, Bars

pytestmark = pytest.mark.timeout(60)
SECOND = 1_000_000_000
T0 = 1_732_459_200 * SECOND  # 2024-11-24T14:40:00Z
N = 50  # bars at T0, T0 + 1 s, ...
STARTS = [T0 + i * SECOND for i in range(N)]


def closed_bars() -> Bars:
    bars = np.zeros(N, dtype=BAR_DTYPE)
    bars["start_ns"] = STARTS
    bars["close"] = np.arange(N) + 100.0
    bars["volume"] = bars["count"] = 1
    bars["notional"] = bars["close"]
    return bars


class NoSymbols:
    def symbols(self) -> list[str]:
        return []

    def read(self, symbol: str, intervals_ms: Sequence[int]) -> None:
        return None


class Held:
    """A source whose value is built once and kept alive by the test."""

    def __init__(self, value: Any, version: int) -> None:
        self.value, self._version = value, version

    def version(self, key: Key) -> int:
        return self._version

    def compute(self, key: Key) -> Any:
        return self.value


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    registry = CollectorRegistry()
    frame = GrowingFrame(("sma_2",), keep=1_000)
    frame.append(closed_bars(), {"sma_2": np.arange(N, dtype=np.float64) + 0.5})
    sources: dict[str, Source] = {
        "bars": Held(bars_to_frame(closed_bars()), 0),
        "indicators": Held(frame, N),
    }
    cache = ProxyCache(1 << 30, sources, Metrics(registry))

    async def nobody(_: str) -> None:
        return None

    app = make_app(
        registry, NoSymbols(), cache, (1_000,), lambda: True, nobody, bars_in_progress=NoSymbols()
    )
    async with TestClient(TestServer(app)) as http:
        yield http


async def rows(client: TestClient[Any, Any], kind: str, query: str) -> dict[str, Any]:
    async with client.get(f"/v1/symbols/S/{kind}?{query}") as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = json.loads(await response.read())
        assert response.headers.get("Link") == (
            f'<{body["next"]}>; rel="next"' if body.get("next") else None
        )
        return body


@pytest.mark.parametrize("kind", ["bars", "indicators"])
@pytest.mark.parametrize(
    ("query", "chosen"),
    [
        (f"from={STARTS[10]}&to={STARTS[13]}", range(10, 13)),  # to is exclusive
        (f"from={STARTS[10] + 1}&to={STARTS[13] + 1}", range(11, 14)),
        (f"from={STARTS[10]}&to={STARTS[10]}", range(0)),
        (f"to={STARTS[0]}", range(0)),  # before every bar
        (f"from={STARTS[-1] + 1}", range(0)),  # after every bar
        ("from=0", range(N)),
        ("from=2024-11-24T14:40:05Z&to=2024-11-24T14:40:07Z", range(5, 7)),
        ("from=2024-11-24T09:40:05-05:00&to=2024-11-24T20:10:07%2B05:30", range(5, 7)),
        ("from=2024-11-24T14:40:05.000000001Z&to=2024-11-24T14:40:07.5Z", range(6, 8)),
    ],
)
async def test_a_range_serves_exactly_its_bars(
    client: TestClient[Any, Any], kind: str, query: str, chosen: range
) -> None:
    body = await rows(client, kind, query)
    assert [row["start"] for row in body["rows"]] == [STARTS[i] for i in chosen]
    assert [row["close"] for row in body["rows"]] == [100.0 + i for i in chosen]
    assert body["next"] is None


@pytest.mark.parametrize("kind", ["bars", "indicators"])
async def test_the_limit_cuts_a_range_and_next_links_to_the_rest(
    client: TestClient[Any, Any], kind: str
) -> None:
    body = await rows(client, kind, f"from={STARTS[3]}&to=2024-11-24T14:40:30Z&limit=10")
    seen = [row["start"] for row in body["rows"]]
    while body["next"] is not None:
        assert body["next"].startswith(f"/v1/symbols/S/{kind}?")
        body = await rows(client, kind, body["next"].partition("?")[2])
        seen += [row["start"] for row in body["rows"]]
    assert seen == STARTS[3:30]


@pytest.mark.parametrize("kind", ["bars", "indicators"])
async def test_without_a_range_the_newest_rows_and_no_next(
    client: TestClient[Any, Any], kind: str
) -> None:
    body = await rows(client, kind, "limit=3")
    assert [row["start"] for row in body["rows"]] == STARTS[-3:]
    assert set(body) == {"symbol", "interval_ms", "rows"}


@pytest.mark.parametrize("kind", ["bars", "indicators"])
async def test_arrow_serves_the_same_rows_with_next_in_the_link_header(
    client: TestClient[Any, Any], kind: str
) -> None:
    query = f"from={STARTS[5]}&to={STARTS[20]}&limit=4"
    async with client.get(f"/v1/symbols/S/{kind}?{query}", headers={"Accept": ARROW}) as r:
        assert r.status == 200 and r.content_type == ARROW
        table = pa.ipc.open_stream(await r.read()).read_all()
        link = r.headers["Link"]
    assert table.column("start").to_pylist() == STARTS[5:9]
    assert table.column("close").to_pylist() == [105.0, 106.0, 107.0, 108.0]
    assert link == f'</v1/symbols/S/{kind}?from={STARTS[9]}&to={STARTS[20]}&limit=4>; rel="next"'
    json_body = await rows(client, kind, query)
    assert table.to_pylist() == json_body["rows"]


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("from=2024-11-24T14:40:00", "from"),
        ("to=2024-11-24T14:40:00.5", "to"),
        ("from=%D9%A3", "from"),
        ("to=²", "to"),
        ("from=yesterday", "from"),
        (f"from={STARTS[2]}&to={STARTS[1]}", "from"),
        ("from=2024-11-24T14:40:01Z&to=2024-11-24T14:40:00Z", "after to"),
        ("from=1&from=2", "from"),
    ],
)
async def test_a_malformed_instant_or_a_backwards_range_is_a_400_naming_it(
    client: TestClient[Any, Any], query: str, name: str
) -> None:
    async with client.get(f"/v1/symbols/S/bars?{query}") as response:
        body = json.loads(await response.read())
    assert response.status == 400 and name in body["error"], body
