"""The API's parameters and pages, over HTTP to the real app with an empty store.

No broker: nothing here crosses Kafka. The owner of an unknown symbol is a
fake that counts its calls; the store behind /v1/symbols is a sorted list.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from ticksmith.api import pages
from ticksmith.api.server import make_app
from ticksmith.app import build_parts
from ticksmith.config import Settings
from ticksmith.pipeline.forming import FormingReader

pytestmark = pytest.mark.timeout(60)
INTERVALS_MS = (1_000, 60_000)
SYMBOLS = [f"SYM{i:05d}" for i in range(2_345)]
FIVE_THOUSAND_DIGITS = "9" * 5_000
LONG_SYMBOL = "S" * 256
MALFORMED = [
    # every parameter of every endpoint that takes one, with the name the error must give
    ("/v1/symbols?limit=²", "limit"),
    ("/v1/symbols?limit=%D9%A3", "limit"),  # ARABIC-INDIC DIGIT THREE: int() takes it
    (f"/v1/symbols?limit={FIVE_THOUSAND_DIGITS}", "limit"),
    ("/v1/symbols?limit=-1", "limit"),
    ("/v1/symbols?limit=0", "limit"),
    (f"/v1/symbols?limit={pages.MAX_LIMIT + 1}", "limit"),
    ("/v1/symbols?limit=1e3", "limit"),
    ("/v1/symbols?limit=+5", "limit"),
    ("/v1/symbols?limit=%205", "limit"),
    ("/v1/symbols?limit=", "limit"),
    ("/v1/symbols?limit=0x10", "limit"),
    ("/v1/symbols?limit=5&limit=6", "limit"),
    ("/v1/symbols?after=", "after"),
    (f"/v1/symbols?after={LONG_SYMBOL}", "after"),
    (f"/v1/symbols?after={'é' * 128}", "after"),  # 128 characters, 256 bytes
    ("/v1/symbols?page=2", "page"),
    ("/v1/symbols/SYM00001/bars?limit=²", "limit"),
    (f"/v1/symbols/SYM00001/bars?limit={FIVE_THOUSAND_DIGITS}", "limit"),
    ("/v1/symbols/SYM00001/bars?limit=-3", "limit"),
    ("/v1/symbols/SYM00001/bars?limit=100001", "limit"),
    ("/v1/symbols/SYM00001/bars?limit=2.5", "limit"),
    ("/v1/symbols/SYM00001/bars?interval=7", "interval"),
    ("/v1/symbols/SYM00001/bars?interval=1s", "interval"),
    ("/v1/symbols/SYM00001/bars?interval=¹⁰⁰⁰", "interval"),
    (f"/v1/symbols/SYM00001/bars?interval={FIVE_THOUSAND_DIGITS}", "interval"),
    ("/v1/symbols/SYM00001/bars?interval=-1000", "interval"),
    ("/v1/symbols/SYM00001/bars?interval=1000&interval=60000", "interval"),
    ("/v1/symbols/SYM00001/bars?format=csv", "format"),
    (f"/v1/symbols/{LONG_SYMBOL}/bars", "symbol"),
    ("/v1/symbols/SYM00001/indicators?limit=²", "limit"),
    ("/v1/symbols/SYM00001/indicators?interval=%EF%BC%91000", "interval"),  # FULLWIDTH ONE
    (f"/v1/symbols/SYM00001/indicators?limit={FIVE_THOUSAND_DIGITS}", "limit"),
    ("/v1/symbols/SYM00001/indicators?window=5", "window"),
    (f"/v1/symbols/{LONG_SYMBOL}/indicators", "symbol"),
    ("/v1/symbols/SYM00001/forming?bars=7", "bars"),
    ("/v1/symbols/SYM00001/forming?bars=1000,7", "bars"),
    ("/v1/symbols/SYM00001/forming?bars=1000,", "bars"),
    ("/v1/symbols/SYM00001/forming?bars=", "bars"),
    ("/v1/symbols/SYM00001/forming?bars=1s", "bars"),
    ("/v1/symbols/SYM00001/forming?bars=%EF%BC%91000", "bars"),
    (f"/v1/symbols/SYM00001/forming?bars={FIVE_THOUSAND_DIGITS}", "bars"),
    ("/v1/symbols/SYM00001/forming?bars=1000&bars=60000", "bars"),
    ("/v1/symbols/SYM00001/forming?interval=1000", "interval"),
    (f"/v1/symbols/{LONG_SYMBOL}/forming", "symbol"),
]


class Listed:
    """The store as /v1/symbols sees it: its sorted symbols."""

    def __init__(self, symbols: list[str]) -> None:
        self._symbols = sorted(symbols)

    def symbols(self) -> list[str]:
        return list(self._symbols)


class CountingOwner:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, symbol: str) -> dict[str, Any] | None:
        self.calls += 1
        return None


@pytest.fixture
def owner() -> CountingOwner:
    return CountingOwner()


@pytest.fixture
async def client(owner: CountingOwner) -> AsyncIterator[TestClient[Any, Any]]:
    registry = CollectorRegistry()
    settings = Settings(bars={"intervals_ms": INTERVALS_MS})
    _, store, worker, cache = build_parts(settings, registry)
    forming = FormingReader(store, worker)
    app = make_app(
        registry,
        Listed(SYMBOLS),
        cache,
        INTERVALS_MS,
        lambda: True,
        owner,
        bars_in_progress=forming,
    )
    async with TestClient(TestServer(app)) as http:
        yield http


async def get_json(client: TestClient[Any, Any], path: str) -> tuple[int, Any]:
    async with client.get(path) as response:
        assert response.content_type == "application/json", await response.text()
        return response.status, json.loads(await response.read())


@pytest.mark.parametrize(("path", "name"), MALFORMED)
async def test_a_malformed_parameter_is_a_400_with_a_json_error_naming_it(
    client: TestClient[Any, Any], owner: CountingOwner, path: str, name: str
) -> None:
    status, body = await get_json(client, path)
    assert status == 400, body
    assert name in body["error"]
    assert len(body["error"]) < 200  # the value is quoted cut short, never echoed whole
    assert owner.calls == 0  # refused before any owner look-up


@pytest.mark.parametrize(
    "path",
    [
        "/v1/symbols/NOPE/bars?limit=00005&interval=60000",
        f"/v1/symbols/NOPE/indicators?limit={100_000}",
        f"/v1/symbols/{'é' * 127}/bars",  # 254 bytes: a symbol may be that long
    ],
)
async def test_good_parameters_reach_the_store(
    client: TestClient[Any, Any], owner: CountingOwner, path: str
) -> None:
    status, body = await get_json(client, path)
    assert status == 404 and body["error"].startswith("unknown symbol")
    assert owner.calls == 1


async def test_following_next_walks_every_symbol_once_in_pages_of_the_default_size(
    client: TestClient[Any, Any],
) -> None:
    seen, sizes, link = [], [], "/v1/symbols"
    while link is not None:
        status, body = await get_json(client, link)
        assert status == 200
        seen += body["symbols"]
        sizes.append(len(body["symbols"]))
        link = body["next"]
    assert seen == SYMBOLS
    assert sizes == [pages.DEFAULT_LIMIT, pages.DEFAULT_LIMIT, 345]


async def test_a_page_size_and_a_cursor_from_the_client(client: TestClient[Any, Any]) -> None:
    status, body = await get_json(client, "/v1/symbols?limit=3&after=SYM00010")
    assert status == 200
    assert body == {"symbols": SYMBOLS[11:14], "next": "/v1/symbols?limit=3&after=SYM00013"}
    _, last = await get_json(client, f"/v1/symbols?limit={pages.MAX_LIMIT}&after=SYM00010")
    assert last == {"symbols": SYMBOLS[11:], "next": None}
    _, beyond = await get_json(client, "/v1/symbols?after=ZZZ")
    assert beyond == {"symbols": [], "next": None}
